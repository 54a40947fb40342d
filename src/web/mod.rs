//! The web app's pages for people (facilitators, practice QI teams,
//! program staff): HTML rendered on the server from view data, with charts
//! drawn as inline SVG. Pure functions of what they are given — the HTTP
//! layer (`http::app`) gathers the data through `service` and owns sessions.
//!
//! Why server-rendered: the pages work without JavaScript and without a
//! build step (the README's two commands build everything), nothing is
//! fetched from a CDN, markup is escaped by construction (maud), and a
//! screen reader gets plain tables and labelled forms. The one stylesheet
//! is embedded in the binary.

pub mod attestation;
pub mod charts;
pub mod drill;
pub mod layout;
pub mod milestones;
pub mod providers;
pub mod registries;
pub mod sign_in;
pub mod submissions;

/// The app's stylesheet, served at `/app/assets/app.css`.
pub const CSS: &str = include_str!("assets/app.css");
