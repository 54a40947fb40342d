//! A [`WriteTx`] wrapper that notes which screening inputs a unit of work
//! wrote, so derivations run over them before the same transaction commits.

use crate::fhir::query::SearchQuery;
use crate::store::audit::AuditRow;
use crate::store::outbox::OutboxMessage;
use crate::store::{NewVersion, StoreError, StoredResource, WriteTx};

/// One written version of a resource type derivations read.
#[derive(Debug, Clone)]
pub struct Written {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub deleted: bool,
    pub body: String,
    /// The version this write replaced (referral Tasks and ServiceRequests,
    /// whose checks compare old and new; Patients and CareTeams, whose PCP
    /// assignment changes are recorded; QuestionnaireResponses, as a closed
    /// checklist period's answers stay as they were; RiskAssessments, as
    /// the ones Tandem keeps are not the care team's to change).
    pub previous: Option<String>,
}

/// Resource types whose writes can trigger derivations (screening inputs,
/// follow-up evidence, patients that held notifications were waiting for).
pub fn is_input(rt: &str) -> bool {
    matches!(
        rt,
        "Observation"
            | "QuestionnaireResponse"
            | "Procedure"
            | "Encounter"
            | "Communication"
            | "Patient"
            | "Task"
            | "ServiceRequest"
            | "DocumentReference"
            | "CarePlan"
            | "Appointment"
    )
}

pub struct Recording<'a> {
    pub inner: &'a mut dyn WriteTx,
    pub written: Vec<Written>,
    /// Note every write, not only the derivations' inputs: a guest's
    /// (partner's, payer's) writes are all checked, whatever their type.
    pub all: bool,
}

impl WriteTx for Recording<'_> {
    fn current(&mut self, rt: &str, id: &str) -> Result<Option<StoredResource>, StoreError> {
        self.inner.current(rt, id)
    }

    fn find(&mut self, q: &SearchQuery, limit: usize) -> Result<Vec<StoredResource>, StoreError> {
        self.inner.find(q, limit)
    }

    fn write(&mut self, v: NewVersion) -> Result<(), StoreError> {
        let previous = if matches!(
            v.resource_type.as_str(),
            "Task"
                | "ServiceRequest"
                | "Patient"
                | "CareTeam"
                | "QuestionnaireResponse"
                | "RiskAssessment"
        ) && v.version > 1
        {
            self.inner
                .current(&v.resource_type, &v.id)?
                .filter(|c| !c.deleted)
                .map(|c| c.body)
        } else {
            None
        };
        let noted = (self.all
            || is_input(&v.resource_type)
            || matches!(
                v.resource_type.as_str(),
                "Group" | "CareTeam" | "RiskAssessment"
            ))
        .then(|| Written {
            resource_type: v.resource_type.clone(),
            id: v.id.clone(),
            version: v.version,
            deleted: v.deleted,
            body: v.body.clone(),
            previous,
        });
        self.inner.write(v)?;
        self.written.extend(noted);
        Ok(())
    }

    fn audit(&mut self, event: AuditRow) -> Result<(), StoreError> {
        self.inner.audit(event)
    }

    fn enqueue(&mut self, m: OutboxMessage) -> Result<bool, StoreError> {
        self.inner.enqueue(m)
    }

    fn record_submission(
        &mut self,
        s: crate::store::ledger::NewSubmission,
    ) -> Result<Option<i64>, StoreError> {
        self.inner.record_submission(s)
    }

    fn release_submission(&mut self, seq: i64, by: &str, at_ms: i64) -> Result<bool, StoreError> {
        self.inner.release_submission(seq, by, at_ms)
    }

    /// Writes inside a savepoint are noted only when the savepoint is kept.
    fn nested(
        &mut self,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut kept = Vec::new();
        let all = self.all;
        let result = self.inner.nested(&mut |tx| {
            let mut r = Recording {
                inner: tx,
                written: Vec::new(),
                all,
            };
            let out = work(&mut r);
            if out.is_ok() {
                kept = r.written;
            }
            out
        });
        self.written.extend(kept);
        result
    }
}
