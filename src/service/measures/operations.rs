//! The measure operations' request handling and DEQM output:
//! `$evaluate-measure` (individual, subject-list and summary MeasureReports),
//! and reads of the Measure resources Tandem evaluates (`$care-gaps` is
//! `care_gaps`).

use serde_json::{Value, json};

use crate::fhir::outcome::Issue;
use crate::measure::catalog::{Catalog, MeasureDef};
use crate::measure::run::{MeasureTally, Period, report_groups};
use crate::service::measures::evaluate::{Selection, measure_def, report_base, run, subject_id};
use crate::service::{FhirService, ServiceError};

use crate::service::report::param as get;

pub(crate) fn selection(pairs: &[(String, String)]) -> Result<Selection, ServiceError> {
    Ok(Selection {
        patient: get(pairs, "subject")
            .map(|s| subject_id(s, "Patient"))
            .transpose()?,
        practitioner: get(pairs, "practitioner")
            .map(|p| subject_id(p, "Practitioner").map(|id| format!("Practitioner/{id}")))
            .transpose()?,
    })
}

/// A Measure resource as served: the published one under Tandem's id.
pub fn measure_resource(def: &MeasureDef) -> Value {
    let mut m = Catalog::get().measure(def).clone();
    m["id"] = json!(def.id);
    m
}

/// A Measure Tandem evaluates, as a stored resource, for reads of
/// `Measure/{id}` that the store does not hold (the catalog is read-only
/// conformance content; clients may still store Measures of their own).
pub(crate) fn catalog_measure(id: &str) -> Option<crate::store::StoredResource> {
    let def = Catalog::get().by_id(id)?;
    Some(crate::store::StoredResource {
        resource_type: "Measure".into(),
        id: def.id.into(),
        version: 1,
        last_updated_ms: 0,
        deleted: false,
        method: "PUT".into(),
        body: measure_resource(def).to_string(),
    })
}

impl FhirService {
    pub(crate) fn now_text(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.clock.now_ms())
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// `GET Measure/{id}/$evaluate-measure`.
    pub async fn evaluate_measure(
        &self,
        ctx: &crate::store::AccessContext,
        id: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        if self.milestone_measure(ctx, id).is_some() {
            self.measure_scope(ctx)?;
            return self.evaluate_milestone(ctx, id, pairs).await;
        }
        let period = self.checked_period(ctx, pairs)?;
        let def = measure_def(id, period)?;
        let sel = selection(pairs)?;
        let kind = match (get(pairs, "reportType"), &sel.patient) {
            (Some("subject"), Some(_)) | (None, Some(_)) => "individual",
            (Some("subject"), None) => {
                return Err(ServiceError::bad(Issue::error(
                    "required",
                    "reportType=subject needs subject=Patient/[id].",
                )));
            }
            (Some("subject-list"), _) => "subject-list",
            (Some("population"), _) | (None, None) => "summary",
            (Some(other), _) => {
                return Err(ServiceError::bad(Issue::error(
                    "invalid",
                    format!(
                        "reportType '{other}' is not one of subject, subject-list, population."
                    ),
                )));
            }
        };
        if kind != "summary" && crate::service::milestones::numbers_only(ctx) {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Program staff and facilitators see summary reports, not patient-level ones.",
            )));
        }
        let mut evaluated: Vec<Value> = Vec::new();
        let tallies = vec![MeasureTally::new(def, kind == "subject-list")];
        let tallies = run(
            &self.store,
            ctx,
            period,
            &sel,
            tallies,
            |record, _| {
                if kind == "individual" {
                    evaluated = evaluated_refs(record);
                }
            },
            |_| {},
        )
        .await?;
        let tally = &tallies[0];
        if kind == "individual" && tally.patients == 0 {
            return Err(ServiceError::NotFound(Issue::error(
                "not-found",
                "The subject is not a patient of this practice (or not of this practitioner).",
            )));
        }
        Ok(self.report(def, tally, kind, period, &sel, evaluated))
    }

    fn report(
        &self,
        def: &MeasureDef,
        tally: &MeasureTally,
        kind: &str,
        period: Period,
        sel: &Selection,
        evaluated: Vec<Value>,
    ) -> Value {
        let mut report = report_base(def, kind, period, &self.now_text());
        let measure = Catalog::get().measure(def);
        let (groups, contained) = report_groups(measure, tally, kind == "subject-list");
        report["group"] = json!(groups);
        if !contained.is_empty() {
            report["contained"] = json!(contained);
        }
        if let Some(p) = &sel.patient {
            report["subject"] = json!({"reference": format!("Patient/{p}")});
        } else if let Some(p) = &sel.practitioner {
            report["subject"] = json!({"reference": p});
        }
        if kind == "individual" {
            report["evaluatedResource"] = json!(evaluated);
        }
        report
    }

    /// Summary (or subject-list) reports of several measures from one pass
    /// over the practice (`tandem measure`); `progress` gets patients read.
    pub async fn measure_reports(
        &self,
        ctx: &crate::store::AccessContext,
        period: Period,
        defs: &[&'static MeasureDef],
        subject_list: bool,
        progress: impl FnMut(u64) + Send,
    ) -> Result<Vec<Value>, ServiceError> {
        self.measure_scope(ctx)?;
        let tallies = defs
            .iter()
            .map(|d| MeasureTally::new(d, subject_list))
            .collect();
        let tallies = run(
            &self.store,
            ctx,
            period,
            &Selection::default(),
            tallies,
            |_, _| {},
            progress,
        )
        .await?;
        let kind = if subject_list {
            "subject-list"
        } else {
            "summary"
        };
        Ok(tallies
            .iter()
            .map(|t| {
                let mut r = self.report(t.def, t, kind, period, &Selection::default(), Vec::new());
                r["id"] = json!(format!("{}-{}-{}", t.def.id, period.first, period.last));
                r
            })
            .collect())
    }
}

fn evaluated_refs(record: &crate::measure::record::Record) -> Vec<Value> {
    let mut refs = vec![json!({"reference": format!("Patient/{}", record.id())})];
    for ty in crate::service::measures::evaluate::COMPARTMENT_TYPES {
        for r in record.all(ty) {
            refs.push(
                json!({"reference": format!("{ty}/{}", r["id"].as_str().unwrap_or_default())}),
            );
        }
    }
    refs
}
