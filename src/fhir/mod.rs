//! Pure FHIR model helpers: ids, references, dates, OperationOutcome, search
//! parameters and their parsing, index extraction, validation and profiles,
//! patient compartments.
//! Nothing in here does I/O.

pub mod bundle;
pub mod choice;
pub mod compartment;
pub mod datetime;
pub mod fhirpath;
pub mod id;
pub mod index;
pub mod message;
pub mod name;
pub mod outcome;
pub mod params;
pub mod partial;
pub mod profile;
pub mod query;
mod query_links;
pub mod reference;
pub mod resource_types;
pub mod search_terms;
pub mod summary;
pub mod typed;
pub mod validate;
