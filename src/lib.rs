//! Tandem: an HL7 FHIR R4 gateway for integrated primary and behavioral health care.
//!
//! Layers, outermost first: `http` (axum) → `service` (use-cases, one write =
//! one transaction) → `store` (the only SQL). `fhir` holds pure FHIR helpers used
//! by all of them; `auth` builds the access context of each request.

pub mod admin;
pub mod app;
pub mod auth;
pub mod caller;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod exchange;
pub mod fhir;
pub mod generate;
pub mod http;
pub mod import;
pub mod measure;
pub mod measure_cli;
pub mod rules;
pub mod service;
pub mod store;
