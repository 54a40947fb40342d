//! Audit records and their stored rows: the facts of one access (who, what,
//! which patients, which labels), the row a record is stored as (compact
//! facts plus the columns audit searches filter on), the BALP AuditEvent a
//! row renders as when read, and [`AuditUnit`], the record of a write
//! completed inside the write's own unit of work.

use serde_json::{Value, json};

use crate::auth::audit::{Event, Record, audit_event};
use crate::fhir::id::new_id;
use crate::store::audit::AuditRow;
use crate::store::{AccessContext, StoreError, StoredResource, WriteTx};

/// The stored form of a record: its facts (compact JSON, rendered as a BALP
/// AuditEvent only when read) and the columns audit searches filter on.
/// Building the full AuditEvent on every read request would cost more than the
/// read itself.
pub(crate) fn row(rec: &Record, tenant: &str) -> AuditRow {
    let (type_code, subtype) = match &rec.event {
        Event::Rest(i) => ("rest", i.code()),
        Event::Token => ("110114", "110122"),
        Event::Consent { .. } => ("110113", "AuthZ-Consent"),
        Event::Disclosure { .. } => ("110106", "disclose"),
    };
    AuditRow {
        id: new_id(),
        recorded_ms: rec.now_ms,
        tenant: tenant.to_string(),
        client: rec.client_id.clone(),
        outcome: rec.outcome.clone(),
        type_code: type_code.into(),
        subtype: subtype.into(),
        patients: rec.patients.clone(),
        facts: serde_json::to_string(rec).expect("records serialise"),
    }
}

/// The AuditEvent resource of a stored row.
pub(crate) fn render_row(id: &str, facts: &str) -> Option<String> {
    let rec: Record = serde_json::from_str(facts).ok()?;
    let mut body = audit_event(&rec);
    body["id"] = json!(id);
    body["meta"] = json!({"versionId": "1", "lastUpdated": body["recorded"].clone()});
    Some(body.to_string())
}

/// The audit record of a write, completed inside its unit of work.
#[derive(Clone)]
pub(crate) struct AuditUnit {
    pub(super) record: Record,
    pub(super) tenant: String,
}

impl AuditUnit {
    /// Appends the AuditEvent naming `written` to the transaction.
    pub fn commit<'a>(
        &self,
        tx: &mut dyn WriteTx,
        written: impl IntoIterator<Item = &'a StoredResource>,
    ) -> Result<(), StoreError> {
        let mut rec = self.record.clone();
        for r in written {
            add_entity(&mut rec, r);
        }
        tx.audit(row(&rec, &self.tenant))
    }

    /// Appends an AuditEvent naming one resource by `Type/id` and the
    /// patient it concerns, for writes whose body says nothing about the
    /// patient (a received message Bundle) and is too large to re-read.
    pub fn commit_named(
        &self,
        tx: &mut dyn WriteTx,
        entity: String,
        patient: Option<String>,
    ) -> Result<(), StoreError> {
        let mut rec = self.record.clone();
        rec.entities.push((entity, Vec::new()));
        rec.patients.extend(patient);
        tx.audit(row(&rec, &self.tenant))
    }

    /// Appends an AuditEvent naming the `Type/id` each Bundle entry wrote.
    pub fn commit_entries<'a>(
        &self,
        tx: &mut dyn WriteTx,
        entries: impl IntoIterator<Item = &'a crate::service::fhir_api::bundle_entry::EntryResult>,
    ) -> Result<(), StoreError> {
        let mut rec = self.record.clone();
        for e in entries {
            if let Some(what) = &e.full_url
                && e.status.starts_with('2')
            {
                rec.entities.push((what.clone(), Vec::new()));
            }
        }
        tx.audit(row(&rec, &self.tenant))
    }
}

/// A record of something Tandem itself did (a disclosure in a referral
/// package, a consent decision while building it), inside a unit of work.
pub(crate) fn system_record(event: Event, now_ms: i64) -> Record {
    record(&AccessContext::internal("", "tandem"), event, now_ms)
}

/// The audit facts common to every record of a request.
pub(crate) fn record(ctx: &AccessContext, event: Event, now_ms: i64) -> Record {
    Record {
        event,
        outcome: "0".into(),
        outcome_desc: None,
        client_id: ctx.client_id.clone(),
        user: ctx.grant.person.as_ref().map(|p| p.name.clone()),
        client_address: ctx.address.clone(),
        resource_type: None,
        entities: Vec::new(),
        patients: Vec::new(),
        query: None,
        request_id: ctx.request_id.clone(),
        token_id: ctx.grant.token_id.clone(),
        now_ms,
    }
}

/// The few elements of a resource an audit entity needs; deserialising into
/// this skips everything else, much cheaper than a full `Value`.
#[derive(serde::Deserialize, Default)]
struct Peek {
    #[serde(default)]
    meta: Option<PeekMeta>,
    subject: Option<PeekRef>,
    patient: Option<PeekRef>,
    #[serde(rename = "for")]
    for_: Option<PeekRef>,
}

#[derive(serde::Deserialize, Default)]
struct PeekMeta {
    #[serde(default)]
    security: Vec<Value>,
}

#[derive(serde::Deserialize)]
struct PeekRef {
    reference: Option<String>,
}

/// Adds a returned or written resource to an audit record: its reference, its
/// security labels and the patient it is about.
pub(crate) fn add_entity(rec: &mut Record, r: &StoredResource) {
    let peek: Peek = if r.deleted {
        Peek::default()
    } else {
        serde_json::from_str(&r.body).unwrap_or_default()
    };
    let mut patients: Vec<String> = [&peek.subject, &peek.patient, &peek.for_]
        .into_iter()
        .flatten()
        .filter_map(|p| p.reference.clone())
        .filter(|p| p.starts_with("Patient/"))
        .collect();
    if r.resource_type == "Patient" {
        patients.push(format!("Patient/{}", r.id));
    }
    for p in patients {
        if !rec.patients.contains(&p) {
            rec.patients.push(p);
        }
    }
    let labels = peek.meta.map(|m| m.security).unwrap_or_default();
    rec.entities
        .push((format!("{}/{}", r.resource_type, r.id), labels));
}
