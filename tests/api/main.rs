//! Tandem's integration tests: one binary, one harness. Each module tests
//! one capability over real HTTP against a real server — in process through
//! `common::spawn_app` (the harness binds port 0 and hands the listener to
//! the server), or as a separate `tandem` process through `common::process`
//! where a test needs to kill, signal or restart it.
//!
//! `tests/sqlite_memory.rs` stays a binary of its own: it applies SQLite's
//! process-wide settings, which must happen before any other test opens SQLite.

mod common;

mod app_auth;
mod app_browser;
mod app_charts;
mod app_cqm;
mod app_evidence;
mod app_pages;
mod attestation;
mod attribution;
mod attribution_generated;
mod bad_input;
mod bundles;
mod care_gap_registry;
mod cli;
mod cli_auth;
mod cli_backup;
mod cli_users;
mod concurrency;
mod copy;
mod crash;
mod crud;
mod ecqm_cases;
mod ecqm_http;
mod feed;
mod fidelity;
mod generated;
mod generated_referrals;
mod import;
mod measures_api;
mod measures_specified;
mod metadata;
mod milestones;
mod milestones_hand_built;
mod nodes;
mod nodes_crash;
mod notifications;
mod outbox_dead_letters;
mod outbox_durability;
mod panel;
mod referrals;
mod referrals_exchange;
mod risk;
mod risk_override;
mod risk_plans;
mod robustness;
mod screening;
mod screening_identification;
mod screening_inputs;
mod search;
mod security_audit;
mod security_guest;
mod security_partner;
mod security_scopes;
mod security_tenancy;
mod security_tokens;
mod store_contract;
mod switches;
mod synthea;
mod transitions;
mod transitions_generated;
mod transitions_tasks;
