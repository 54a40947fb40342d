//! The FHIR REST API as use-cases: create/read/update/delete and their
//! conditional forms, search, history, transaction and batch Bundles, and the
//! CapabilityStatement generated from what is registered. Every write runs the
//! capabilities' post-write hooks (`service::hooks`) inside its transaction.

pub(crate) mod bundle;
pub(crate) mod bundle_entry;
mod bundle_fast;
mod bundle_refs;
pub(crate) mod capability;
pub(crate) mod crud;
mod history;
mod read;
pub(crate) mod resource;
pub(crate) mod search;
mod search_scope;
