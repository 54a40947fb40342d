//! Security: SMART Backend Services tokens, scopes, tenancy and roles,
//! sensitive-data policy (42 CFR Part 2 consent) and the audit trail.
//!
//! The HTTP layer turns a bearer token into a [`crate::caller::AccessContext`]
//! (see `http::access`); the service layer asks [`policy`] before every
//! interaction and records each one through [`audit`]. Everything here except
//! the token endpoint and JWKS fetching is pure code.

pub mod apps;
pub mod assertion;
pub mod audit;
pub mod backend;
pub mod clients;
pub mod consent;
pub mod grants;
pub mod jwks;
pub mod keys;
pub mod launch;
pub mod policy;
pub mod tokens;
pub mod users;

pub use crate::caller::{Grant, Role};
