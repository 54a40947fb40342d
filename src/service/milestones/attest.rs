//! Attestations in the service: the milestones capability's post-write hook
//! records who attested and when (a Provenance per checklist answer
//! version) and keeps a closed checklist period's answers as they were (no
//! update, delete or backdated answer once the period has ended: the
//! program's record must not move under an auditor), and `POST Organization/{id}/$review-attestation` lets the
//! practice's facilitator (or program staff) accept or return an item, kept
//! as a review Task. Earlier answers stay in the history; nothing is
//! overwritten.

use serde_json::{Value, json};

use super::overseer;
use crate::fhir::outcome::Issue;
use crate::measure::milestone::attestation::{self, REVIEW_CS};
use crate::service::hooks::{HookCx, PostWriteHook};
use crate::service::managed::create_once;
use crate::service::report::param as get;
use crate::service::screening::Written;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, transact};

/// Checklist answers (`Questionnaire/{program}-attestation`) get a
/// Provenance; the enrolled practices' programs say when periods close.
pub struct MilestonesHook(pub std::sync::Arc<super::Programs>);

impl MilestonesHook {
    /// Refuses a write that would change an answer of a closed checklist
    /// period: `previous` is the answer replaced (or deleted), `qr` the new
    /// one (None for a delete).
    fn check_open(
        &self,
        cx: &HookCx<'_>,
        previous: Option<&Value>,
        qr: Option<&Value>,
    ) -> Result<(), ServiceError> {
        let Some(e) = self.0.enrolled(cx.tenant) else {
            return Ok(());
        };
        let today = crate::fhir::datetime::utc_date(cx.st.now_ms);
        let months = e.program.reporting.attestation_months;
        let period_of = |r: &Value| {
            let day = crate::fhir::datetime::date_written(r["authored"].as_str()?)?;
            attestation::closed(e.program.years[0], months, day, today)
                .then(|| attestation::checklist_period(e.program.years[0], months, day))
        };
        let refuse = |(start, end): (chrono::NaiveDate, chrono::NaiveDate), what: &str| {
            Err(ServiceError::Conflict(Issue::error(
                "business-rule",
                format!(
                    "{what} the checklist period {start} to {} closed on {end}; its answers \
                     are kept as they were. Answer in a new QuestionnaireResponse authored \
                     in the current period.",
                    end.pred_opt().unwrap_or(end)
                ),
            )))
        };
        if let Some(p) = previous.filter(|p| is_checklist(p)).and_then(period_of) {
            return refuse(p, "This answer belongs to");
        }
        if let Some(p) = qr.filter(|q| is_checklist(q)).and_then(period_of) {
            return refuse(p, "Its authored date falls in");
        }
        Ok(())
    }
}

fn is_checklist(qr: &Value) -> bool {
    qr["questionnaire"].as_str().is_some_and(|q| {
        q.starts_with("http://tandem.health/fhir/Questionnaire/")
            && q.split('|')
                .next()
                .is_some_and(|u| u.ends_with("-attestation"))
    })
}

impl PostWriteHook for MilestonesHook {
    fn name(&self) -> &'static str {
        "milestones"
    }

    fn after_write(&self, cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError> {
        for w in written
            .iter()
            .filter(|w| w.resource_type == "QuestionnaireResponse")
        {
            let previous = w
                .previous
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok());
            let qr = (!w.deleted)
                .then(|| serde_json::from_str::<Value>(&w.body).ok())
                .flatten();
            self.check_open(cx, previous.as_ref(), qr.as_ref())?;
            let Some(qr) = qr else {
                continue;
            };
            if !is_checklist(&qr) {
                continue;
            }
            let Some(current) = cx.tx.current("QuestionnaireResponse", &w.id)? else {
                continue;
            };
            let target = format!(
                "QuestionnaireResponse/{}/_history/{}",
                w.id, current.version
            );
            let id = crate::fhir::id::derived("attestation", &target);
            let provenance = json!({
                "resourceType": "Provenance",
                "id": id,
                "target": [{ "reference": target }],
                "recorded": crate::fhir::datetime::format_instant_ms(cx.st.now_ms),
                "activity": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                    "code": if current.version == 1 { "CREATE" } else { "UPDATE" } }] },
                "agent": [{
                    "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author" }] },
                    "who": { "reference": format!("Organization/{}", cx.writer.org),
                             "display": cx.writer.person.as_deref().unwrap_or(&cx.writer.client) },
                }],
            });
            create_once(cx.tx, cx.st, "Provenance", &id, provenance)?;
        }
        Ok(())
    }
}

/// Who reviewed: the signed-in person (by name), else the overseeing
/// client's Organization.
fn requester(ctx: &AccessContext) -> Value {
    match &ctx.grant.person {
        Some(p) => json!({ "display": p.name }),
        None => {
            json!({ "reference": format!("Organization/{}", ctx.grant.org), "display": ctx.client_id })
        }
    }
}

impl FhirService {
    /// `POST Organization/{id}/$review-attestation?item=BB1.Y1.2&decision=accept|return&comment=…`.
    pub async fn review_attestation(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        if !(overseer(ctx) || ctx.grant.role == crate::auth::Role::Operator) {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Attestations are reviewed by the practice's facilitator or its program, not by the practice.",
            )));
        }
        let bad = |m: &str| ServiceError::bad(Issue::error("required", m));
        let item = get(pairs, "item").ok_or_else(|| bad("Give item=<milestone id>."))?;
        let accepted = match get(pairs, "decision") {
            Some("accept") => true,
            Some("return") => false,
            _ => return Err(bad("Give decision=accept or decision=return.")),
        };
        let comment = get(pairs, "comment").unwrap_or_default().to_string();
        if !accepted && comment.is_empty() {
            return Err(bad(
                "A returned item needs comment=… saying what is missing.",
            ));
        }
        let url = attestation::questionnaire_url(&e.program.id);
        let responses = self
            .find_values(ctx, "QuestionnaireResponse", &[("questionnaire", url)])
            .await?;
        let today = self.today();
        let (start, _) = attestation::checklist_period(
            e.program.years[0],
            e.program.reporting.attestation_months,
            today,
        );
        let state = attestation::items(&responses, &[], start, today);
        let answered = state.get(item).ok_or_else(|| {
            ServiceError::NotFound(Issue::error(
                "not-found",
                format!("Nothing is attested for {item} in the checklist period starting {start}."),
            ))
        })?;
        let now = crate::fhir::datetime::format_instant_ms(self.clock.now_ms());
        let id = uuid::Uuid::new_v4().to_string();
        let task = json!({
            "resourceType": "Task", "id": id, "status": "completed", "intent": "order",
            "code": { "coding": [{ "system": REVIEW_CS, "code": "review", "display": "Attestation review" }] },
            "focus": { "reference": answered.response },
            "for": { "reference": format!("Organization/{org}") },
            "authoredOn": now,
            "requester": requester(ctx),
            "businessStatus": { "coding": [{ "system": REVIEW_CS, "code": if accepted { "accepted" } else { "returned" } }] },
            "input": [{ "type": { "text": "item" }, "valueString": item }],
            "note": [{ "text": comment }],
        });
        let st = self.stamper();
        let internal = AccessContext::internal(org, &ctx.request_id);
        let written = task.clone();
        transact(self.store.as_ref(), &internal, move |tx| {
            create_once(tx, &st, "Task", &id, written)?;
            Ok::<_, ServiceError>(())
        })
        .await?;
        Ok(task)
    }
}
