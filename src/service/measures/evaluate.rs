//! Measure evaluation over the store: `Measure/{id}/$evaluate-measure`,
//! `Measure/$care-gaps`, and the whole-practice run `tandem measure` uses.
//!
//! One pass (`service::population`): patients stream from the store a page
//! at a time, every requested measure is evaluated on each patient's record
//! while it is in memory, and only tallies are kept. Evaluation (CPU) runs
//! on the blocking pool, never on the async runtime.

use serde_json::{Value, json};

use crate::auth::Role;
use crate::auth::policy::Interaction;
use crate::caller::scopes::Allowance;
use crate::fhir::outcome::Issue;
use crate::measure::GroupResult;
use crate::measure::attribution::attributed;
use crate::measure::catalog::{Catalog, MeasureDef};
use crate::measure::record::Record;
use crate::measure::run::{MeasureTally, Period};
use crate::service::{FhirService, ServiceError};
use std::sync::Arc;

use crate::service::population::{Reading, fold_records};
use crate::store::{AccessContext, Store, StoreError};

/// Resource types a measure can read, gathered by their `patient` parameter.
pub const COMPARTMENT_TYPES: &[&str] = &[
    "Encounter",
    "Condition",
    "Observation",
    "Procedure",
    "MedicationRequest",
    "MedicationDispense",
    "ServiceRequest",
    "DeviceRequest",
    "Coverage",
    "Immunization",
];

/// Which patients a run covers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only this patient (`subject=Patient/x`).
    pub patient: Option<String>,
    /// Only patients attributed to this practitioner (`practitioner=Practitioner/x`),
    /// each measure by its own attribution rule (panel or encounter performer).
    pub practitioner: Option<String>,
}

impl Selection {
    fn admits(&self, record: &Record, def: &MeasureDef, period: Period) -> bool {
        self.practitioner
            .as_deref()
            .is_none_or(|p| attributed(record, def.attribution, p, period.first, period.last))
    }
}

/// Streams the tenant's patients through `tallies`. `each` sees every
/// admitted patient's results (for care gaps and individual reports);
/// `progress` is told how many patients have been read.
pub async fn run(
    store: &Arc<dyn Store>,
    ctx: &AccessContext,
    period: Period,
    selection: &Selection,
    tallies: Vec<MeasureTally>,
    mut each: impl FnMut(&Record, &[Vec<GroupResult>]) + Send,
    mut progress: impl FnMut(u64) + Send,
) -> Result<Vec<MeasureTally>, StoreError> {
    type Evaluated = Vec<(Record, Vec<Vec<GroupResult>>)>;
    let sel = selection.clone();
    let evaluate = move |(tallies, evaluated): &mut (Vec<MeasureTally>, Evaluated),
                         record: Record| {
        let admitted: Vec<bool> = tallies
            .iter()
            .map(|t| sel.admits(&record, t.def, period))
            .collect();
        if !admitted.contains(&true) {
            return;
        }
        // A measure the patient is not attributed to for this practitioner
        // has no result (no groups) for them.
        let catalog = Catalog::get();
        let results: Vec<Vec<GroupResult>> = tallies
            .iter_mut()
            .zip(admitted)
            .map(|(t, yes)| {
                if yes {
                    t.feed(catalog, &record, period)
                } else {
                    Vec::new()
                }
            })
            .collect();
        evaluated.push((record, results));
    };
    let (tallies, _) = fold_records(
        store,
        ctx,
        Reading::of(COMPARTMENT_TYPES).only(selection.patient.clone().map(|p| vec![p])),
        (tallies, Vec::new()),
        evaluate,
        |(_, evaluated), seen| {
            for (record, results) in evaluated.drain(..) {
                each(&record, &results);
            }
            progress(seen);
        },
    )
    .await?;
    Ok(tallies)
}

/// The period of a request: `periodStart`+`periodEnd`, or `period=2026` /
/// `period=2026Q3` (the twelve months ending with that quarter).
pub fn period_of(pairs: &[(String, String)]) -> Result<Period, ServiceError> {
    let get = |k: &str| crate::service::report::param(pairs, k);
    let bad = |m: String| ServiceError::bad(Issue::error("invalid", m));
    match (get("periodStart"), get("periodEnd"), get("period")) {
        (Some(s), Some(e), None) => Period::from_bounds(s, e).map_err(bad),
        (None, None, Some(p)) => Period::parse_sim(p).map_err(bad),
        _ => Err(bad(
            "Give periodStart and periodEnd (dates), or period=YYYY or period=YYYYQn.".into(),
        )),
    }
}

/// `CMS122-2026`, or `CMS122` (the version for the period's year).
pub fn measure_def(id: &str, period: Period) -> Result<&'static MeasureDef, ServiceError> {
    let catalog = Catalog::get();
    catalog
        .by_id(id)
        .or_else(|| catalog.for_period(id, period.first))
        .ok_or_else(|| {
            ServiceError::NotFound(Issue::error(
                "not-found",
                format!(
                    "Measure/{id} is not evaluated here; known: {}.",
                    catalog.measure_names().join(", ")
                ),
            ))
        })
}

impl FhirService {
    /// Who may evaluate measures: a run reads every patient of the practice,
    /// so only practice-wide roles (EHR, reporting, admin) of that very
    /// practice, with unrestricted MeasureReport read. Partners and HIEs see
    /// slices of a practice's data and are refused, whatever their scopes.
    pub(crate) fn measure_scope(&self, ctx: &AccessContext) -> Result<(), ServiceError> {
        let allowance = self.allow(ctx, "MeasureReport", Interaction::Read)?;
        let practice_wide = matches!(
            ctx.grant.role,
            Role::Ehr | Role::Reporting | Role::Admin | Role::Operator
        );
        if ctx.guest || !practice_wide || allowance != Allowance::All {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Measures are evaluated by a practice's own EHR, reporting or admin clients only.",
            )));
        }
        Ok(())
    }

    pub(crate) fn checked_period(
        &self,
        ctx: &AccessContext,
        pairs: &[(String, String)],
    ) -> Result<Period, ServiceError> {
        self.measure_scope(ctx)?;
        period_of(pairs)
    }
}

/// A reference parameter's id (`Patient/x` or `x`).
pub fn subject_id(value: &str, rt: &str) -> Result<String, ServiceError> {
    let id = value.strip_prefix(&format!("{rt}/")).unwrap_or(value);
    if id.is_empty() || id.contains('/') {
        return Err(ServiceError::bad(Issue::error(
            "invalid",
            format!("'{value}' must be a {rt} reference ({rt}/[id])."),
        )));
    }
    Ok(id.to_string())
}

/// The MeasureReport skeleton every report type shares.
pub fn report_base(def: &MeasureDef, kind: &str, period: Period, now: &str) -> Value {
    let measure = Catalog::get().measure(def);
    // FHIR JSON has no nulls: elements the Measure lacks are left out.
    let mut report = json!({
        "resourceType": "MeasureReport",
        "meta": {"profile": [format!("http://hl7.org/fhir/us/davinci-deqm/StructureDefinition/{}", match kind {
            "individual" => "indv-measurereport-deqm",
            "subject-list" => "subjectlist-measurereport-deqm",
            _ => "summary-measurereport-deqm",
        })]},
        "status": "complete",
        "type": kind,
        "measure": measure["url"].as_str().map(|u| match measure["version"].as_str() {
            Some(v) => format!("{u}|{v}"),
            None => u.to_string(),
        }),
        "date": now,
        "period": {"start": period.first.to_string(), "end": period.last.to_string()},
        "improvementNotation": measure["improvementNotation"],
    });
    if let Some(o) = report.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    report
}
