//! Tandem: an HL7 FHIR R4 gateway for integrated primary and behavioral health care.
//!
//! Layers, outermost first: `http` (axum) → `service` (use-cases grouped by
//! capability, one write = one transaction) → `store` (the only SQL). `fhir`,
//! `rules` and `measure` are pure; `caller` is who is asking, carried on every
//! call; `auth` turns tokens into it and decides access. The README's
//! architecture section is the map. Modules stay `pub` where the integration
//! tests and benchmarks (separate crates) need them.

pub mod admin;
pub mod admin_users;
pub mod app;
pub mod auth;
pub mod caller;
pub mod cli;
pub mod config;
pub mod copy_cli;
pub(crate) mod deadline;
pub mod demo;
pub mod exchange;
pub mod fhir;
pub mod generate;
pub(crate) mod http;
pub mod import;
pub mod measure;
pub mod measure_cli;
pub mod report_cli;
pub mod rules;
pub mod service;
pub mod store;
pub mod web;
