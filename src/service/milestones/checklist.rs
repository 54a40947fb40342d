//! The attestation checklist as people work it in the web app: each
//! attested item of the practice's program with its latest answer in the
//! current checklist period and the facilitator's review, and a practice
//! member's answer to one item (a QuestionnaireResponse on the program's
//! checklist, written like any other, so the milestones hook records its
//! Provenance and guards closed periods), with the evidence attached to
//! each item (`uploads`) and its history.

use chrono::NaiveDate;
use serde_json::json;

use crate::measure::milestone::attestation::{self, ItemState, REVIEW_CS, SCALE};
use crate::measure::milestone::catalog::Milestone;
use crate::service::fhir_api::crud::WriteRequest;
use crate::service::milestones::Enrolled;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// One checklist item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    /// The milestone's statement: the anchor of a 4 (Completed).
    pub title: String,
    pub state: Option<ItemState>,
    /// Evidence attached to the item, newest first.
    pub evidence: Vec<super::EvidenceFile>,
    /// Answers, reviews and evidence in the period, newest first.
    pub history: Vec<attestation::Event>,
}

/// The current checklist period and its items.
#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    pub period: (NaiveDate, NaiveDate),
    pub items: Vec<Item>,
}

impl FhirService {
    /// The practice's checklist now, for whoever may read its milestones.
    pub async fn checklist(
        &self,
        ctx: &AccessContext,
        org: &str,
    ) -> Result<Checklist, ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        // Overseers read numbers, not resources: the answers are read as
        // Tandem, for the checklist only.
        let internal = AccessContext::internal(org, &ctx.request_id);
        let url = attestation::questionnaire_url(&e.program.id);
        let responses = self
            .find_values(
                &internal,
                "QuestionnaireResponse",
                &[("questionnaire", url)],
            )
            .await?;
        let reviews = self
            .find_values(
                &internal,
                "Task",
                &[("code", format!("{REVIEW_CS}|review"))],
            )
            .await?;
        let today = self.today();
        let period = attestation::checklist_period(
            e.program.years[0],
            e.program.reporting.attestation_months,
            today,
        );
        let state = attestation::items(&responses, &reviews, period.0, today);
        let files = self.evidence_files(ctx, org).await?;
        let items = e
            .catalog
            .milestones
            .iter()
            .filter(|m| m.on_checklist())
            .map(|m| {
                let evidence: Vec<super::EvidenceFile> =
                    files.iter().filter(|f| f.item == m.id).cloned().collect();
                let mut history =
                    attestation::history(&responses, &reviews, &m.id, period.0, today);
                history.extend(evidence.iter().map(|f| attestation::Event {
                    at: f.date.clone(),
                    what: format!("Evidence attached: {}", f.title),
                    who: f.author.clone(),
                }));
                history.sort_by(|a, b| b.at.cmp(&a.at));
                Item {
                    id: m.id.clone(),
                    title: m.title.clone(),
                    state: state.get(&m.id).cloned(),
                    evidence,
                    history,
                }
            })
            .collect();
        Ok(Checklist { period, items })
    }

    /// A practice member's answer to one item (0-4 on the program's scale).
    pub async fn attest_item(
        &self,
        ctx: &AccessContext,
        org: &str,
        item: &str,
        score: &str,
    ) -> Result<(), ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        let bad = |m: String| ServiceError::bad(crate::fhir::outcome::Issue::error("invalid", m));
        let milestone = checklist_item(&e, item)?;
        let (code, display) = SCALE
            .iter()
            .find(|(c, _)| *c == score)
            .ok_or_else(|| bad(format!("score '{score}' must be 0-4.")))?;
        let qr = json!({
            "resourceType": "QuestionnaireResponse",
            "questionnaire": attestation::questionnaire_url(&e.program.id),
            "status": "completed",
            "subject": { "reference": format!("Organization/{org}") },
            "authored": crate::fhir::datetime::format_instant_ms(self.clock.now_ms()),
            "item": [{
                "linkId": milestone.id,
                "text": milestone.title,
                "answer": [{ "valueCoding": { "system": attestation::SCALE_CS, "code": code, "display": display } }],
            }],
        });
        self.create(ctx, "QuestionnaireResponse", qr, WriteRequest::default())
            .await?;
        Ok(())
    }
}

/// The checklist item `item` of the practice's program, or a 400 naming it.
pub(super) fn checklist_item<'a>(
    e: &Enrolled<'a>,
    item: &str,
) -> Result<&'a Milestone, ServiceError> {
    e.catalog
        .milestones
        .iter()
        .find(|m| m.id == item && m.on_checklist())
        .ok_or_else(|| {
            ServiceError::bad(crate::fhir::outcome::Issue::error(
                "invalid",
                format!("'{item}' is not an item of the checklist."),
            ))
        })
}
