//! Measure evaluation over the store: `Measure/{id}/$evaluate-measure`,
//! `Measure/$care-gaps`, and the whole-practice run `tandem measure` uses.
//!
//! One pass: patients stream from the store a page at a time, every
//! requested measure is evaluated on each patient's record while it is in
//! memory, and only tallies are kept. Evaluation (CPU) runs on the blocking
//! pool, never on the async runtime.

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
use crate::store::{AccessContext, PatientPage, PatientRecord, Store, StoreError};

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

/// Patients per store page.
const PAGE: usize = 250;

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

fn record_of(p: PatientRecord) -> Option<Record> {
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    let patient = parse(&p.patient.body)?;
    Record::new(std::iter::once(patient).chain(p.resources.iter().filter_map(|r| parse(&r.body))))
}

/// Folds the tenant's patients (with the resources of `types` pointing at
/// each) into `state`, a page at a time: `work` takes each record on the
/// blocking pool while the next page is read (a reader thread and a
/// blocking-pool thread at once); `after_page` then sees the state on the
/// caller's side with the number of patients read so far.
pub(crate) async fn fold_records<S, W>(
    store: &dyn Store,
    ctx: &AccessContext,
    types: &[&str],
    only: Option<Vec<String>>,
    mut state: S,
    work: W,
    mut after_page: impl FnMut(&mut S, u64) + Send,
) -> Result<S, StoreError>
where
    S: Send + 'static,
    W: Fn(&mut S, Record) + Send + Sync + 'static,
{
    let work = std::sync::Arc::new(work);
    let fetch = |after: Option<String>| {
        let page = PatientPage {
            types: types.iter().map(|t| t.to_string()).collect(),
            after,
            only: only.clone(),
            limit: PAGE,
        };
        store.patient_records(ctx, page)
    };
    let mut seen = 0u64;
    let mut rows = fetch(None).await?;
    while let Some(last) = rows.last() {
        let next = fetch(Some(last.patient.id.clone()));
        seen += rows.len() as u64;
        let w = work.clone();
        let page = tokio::task::spawn_blocking(move || {
            for record in rows.into_iter().filter_map(record_of) {
                w(&mut state, record);
            }
            state
        });
        let (worked, fetched) = tokio::join!(page, next);
        state = worked.map_err(|e| StoreError::Backend(format!("evaluation task failed: {e}")))?;
        rows = fetched?;
        after_page(&mut state, seen);
    }
    Ok(state)
}

/// Streams the tenant's patients through `tallies`. `each` sees every
/// admitted patient's results (for care gaps and individual reports);
/// `progress` is told how many patients have been read.
pub async fn run(
    store: &dyn Store,
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
        COMPARTMENT_TYPES,
        selection.patient.clone().map(|p| vec![p]),
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
