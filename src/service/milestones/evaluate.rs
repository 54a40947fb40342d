//! `Measure/{id}/$evaluate-measure` for a milestone Measure: the same
//! evidence `$milestones` judges, as a DEQM summary MeasureReport (counts,
//! score, the threshold and status) or a subject-list one whose populations
//! point at contained Lists of the patients behind each count.

use serde_json::{Value, json};

use super::evidence::Scope;
use super::{Enrolled, numbers_only};
use crate::fhir::outcome::Issue;
use crate::measure::milestone::catalog::Milestone;
use crate::measure::milestone::standing::{Assessment, Finding, share};
use crate::measure::run::population_json;
use crate::service::report::param as get;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// Extensions on a milestone MeasureReport: status, threshold, reason.
pub const STATUS_EXT: &str = "http://tandem.health/fhir/StructureDefinition/milestone-status";
pub const THRESHOLD_EXT: &str = "http://tandem.health/fhir/StructureDefinition/milestone-threshold";
pub const REASON_EXT: &str = "http://tandem.health/fhir/StructureDefinition/milestone-reason";

fn population(code: &str, patients: &[String], list: bool) -> (Value, Option<Value>) {
    let mut p = population_json(code, patients.len() as u64);
    if !list {
        return (p, None);
    }
    p["subjectResults"] = json!({ "reference": format!("#{code}") });
    // Subjects are patients, patient-months (`Patient/x 2026-03`, BB3.Y2.2)
    // or quarters and months (BB2.Y1.1, BB3.Y1.2).
    (p, Some(subject_list(code, patients)))
}

/// The contained List of a population's subjects: patients, patient-months
/// (`Patient/x 2026-03`, the month as the entry's flag) or periods.
pub(crate) fn subject_list(code: &str, patients: &[String]) -> Value {
    let entries: Vec<Value> = patients
        .iter()
        .map(|r| match r.split_once(' ') {
            _ if !r.starts_with("Patient/") => json!({ "item": { "display": r } }),
            Some((p, month)) => json!({ "item": { "reference": p }, "flag": { "text": month } }),
            None => json!({ "item": { "reference": r } }),
        })
        .collect();
    json!({ "resourceType": "List", "id": code, "status": "current", "mode": "snapshot",
            "title": format!("Patients in the {code}"), "entry": entries })
}

impl FhirService {
    /// The milestone `id` names in the caller's tenant's program, if any.
    pub(crate) fn milestone_measure<'a>(
        &'a self,
        ctx: &AccessContext,
        id: &str,
    ) -> Option<(Enrolled<'a>, &'a Milestone)> {
        let e = self.settings.programs.enrolled(&ctx.tenant)?;
        let m = e.catalog.milestones.iter().find(|m| m.measure_id == id)?;
        Some((e, m))
    }

    /// Evaluates a milestone Measure for the caller's practice.
    pub(crate) async fn evaluate_milestone(
        &self,
        ctx: &AccessContext,
        id: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let e = self.milestone_access(ctx, &ctx.tenant)?;
        let m = e
            .catalog
            .milestones
            .iter()
            .find(|m| m.measure_id == id)
            .ok_or_else(|| ServiceError::Internal("milestone vanished".into()))?;
        let list = match get(pairs, "reportType") {
            None | Some("summary") | Some("population") => false,
            Some("subject-list") if numbers_only(ctx) => {
                return Err(ServiceError::Forbidden(Issue::error(
                    "forbidden",
                    "Program staff and facilitators see milestone numbers, not patient lists; ask the practice.",
                )));
            }
            Some("subject-list") => true,
            Some(other) => {
                return Err(ServiceError::bad(Issue::error(
                    "invalid",
                    format!(
                        "reportType '{other}' is not one of summary, subject-list for a milestone."
                    ),
                )));
            }
        };
        let mut one = pairs.to_vec();
        one.retain(|(k, _)| k != "projectYear");
        let (scope, _, _) = self.milestone_scope(&e, &one)?;
        let a = self
            .assess_milestones(ctx, &[m], &scope)
            .await?
            .pop()
            .ok_or_else(|| ServiceError::Internal("no assessment".into()))?;
        match &a.finding {
            Finding::Missing(why) => {
                return Err(ServiceError::Unprocessable(vec![Issue::error(
                    "not-supported",
                    format!("{} is not yet computable: {why}.", m.id),
                )]));
            }
            Finding::Unattested(_) | Finding::Attested => {
                return Err(ServiceError::Unprocessable(vec![Issue::error(
                    "not-supported",
                    format!(
                        "{} is evidenced by attestation, not evaluated; see $milestones.",
                        m.id
                    ),
                )]));
            }
            _ => {}
        }
        Ok(self.milestone_report(&a, &scope, &ctx.tenant, list))
    }

    /// A milestone's MeasureReport: counts and score where it has them,
    /// always its status (and threshold) as extensions; subject Lists with
    /// `list`.
    pub(crate) fn milestone_report(
        &self,
        a: &Assessment,
        scope: &Scope,
        tenant: &str,
        list: bool,
    ) -> Value {
        let m = a.milestone;
        let mut groups = Vec::new();
        let mut contained = Vec::new();
        let mut score = None;
        match &a.finding {
            Finding::Ratio {
                numerator,
                denominator,
                ..
            } => {
                for (code, patients) in [
                    ("initial-population", denominator),
                    ("denominator", denominator),
                    ("numerator", numerator),
                ] {
                    let (p, l) = population(code, patients, list);
                    groups.push(p);
                    contained.extend(l);
                }
                score = share(numerator.len(), denominator.len());
            }
            Finding::Count { count, .. } => {
                groups.push(population_json("initial-population", *count))
            }
            _ => {}
        }
        let profile = if list {
            "subjectlist-measurereport-deqm"
        } else {
            "summary-measurereport-deqm"
        };
        let mut group = json!({ "population": groups });
        if let Some(s) = score {
            group["measureScore"] = json!({ "value": (s * 10000.0).round() / 10000.0 });
        }
        let mut ext = vec![json!({ "url": STATUS_EXT, "valueCode": a.status.code() })];
        if let Some(t) = m.threshold {
            ext.push(json!({ "url": THRESHOLD_EXT, "valueDecimal": t }));
        }
        if let Some(r) = &a.reason {
            ext.push(json!({ "url": REASON_EXT, "valueString": r }));
        }
        let mut report = json!({
            "resourceType": "MeasureReport",
            "meta": { "profile": [format!("http://hl7.org/fhir/us/davinci-deqm/StructureDefinition/{profile}")] },
            "extension": ext,
            "status": "complete",
            "type": if list { "subject-list" } else { "summary" },
            "measure": format!("{}|{}", m.measure["url"].as_str().unwrap_or_default(), m.measure["version"].as_str().unwrap_or_default()),
            "date": self.now_text(),
            "reporter": { "reference": format!("Organization/{tenant}") },
            "period": { "start": scope.window.first.to_string(), "end": scope.window.last.to_string() },
            "group": [group],
        });
        if !contained.is_empty() {
            report["contained"] = Value::Array(contained);
        }
        report
    }
}
