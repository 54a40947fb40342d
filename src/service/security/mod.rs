//! Access decisions and the audit trail inside the service: every
//! interaction is authorised against the caller's grant (`access`), every
//! resource leaving Tandem is screened, and every access is recorded as an
//! AuditEvent (`audit_record` builds it, `audit_log` queues and writes it) that admins can read back (`audit_query`).

pub(crate) mod access;
pub(crate) mod audit_log;
mod audit_query;
pub(crate) mod audit_record;
