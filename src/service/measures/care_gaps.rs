//! `GET Measure/$care-gaps`: each patient's open (or closed) gaps as a DEQM
//! gaps-in-care document — a Bundle of type `document` whose Composition
//! (LOINC 96315-7) has one section per measure, its `focus` the patient's
//! individual MeasureReport and its `entry` the gap's DetectedIssue — with
//! the Patient, the DetectedIssues and the MeasureReports in the Bundle.
//! [`measure_gaps`] is the one reading of a gap, shared with the care-gap
//! registry.

use serde_json::{Value, json};

use crate::fhir::outcome::Issue;
use crate::measure::GroupResult;
use crate::measure::catalog::{Catalog, MeasureDef};
use crate::measure::record::Record;
use crate::measure::run::{MeasureTally, Period, report_groups};
use crate::service::measures::evaluate::{measure_def, report_base, run};
use crate::service::measures::operations::selection;
use crate::service::report::param as get;
use crate::service::{FhirService, ServiceError};

const GAP_STATUS_EXT: &str =
    "http://hl7.org/fhir/us/davinci-deqm/StructureDefinition/extension-gapStatus";
const GAP_STATUS_CS: &str = "http://hl7.org/fhir/us/davinci-deqm/CodeSystem/gaps-status";

/// The DEQM gap-status modifier extension.
pub(crate) fn gap_status(closed: bool) -> Value {
    json!([{
        "url": GAP_STATUS_EXT,
        "valueCodeableConcept": {"coding": [{"system": GAP_STATUS_CS, "code": if closed { "closed-gap" } else { "open-gap" }}]}
    }])
}

/// `CAREGAP` (v3 ActCode), the DetectedIssue code of a care gap.
pub(crate) fn caregap_code() -> Value {
    json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "CAREGAP", "display": "Care Gaps"}]})
}

/// The measure groups in which a patient counted (in the denominator, not
/// excluded or excepted) has a gap (`closed`: has closed it).
pub(crate) fn measure_gaps<'a>(
    defs: &[&'static MeasureDef],
    results: &'a [Vec<GroupResult>],
    closed: bool,
) -> Vec<(&'static MeasureDef, &'a GroupResult)> {
    defs.iter()
        .zip(results)
        .flat_map(|(d, groups)| groups.iter().map(move |g| (*d, g)))
        .filter(|(d, g)| {
            let p = &g.populations;
            let counted = p.denominator && !p.denominator_exclusion && !p.denominator_exception;
            counted && (p.gap(d.inverse) != closed)
        })
        .collect()
}

impl FhirService {
    /// `GET Measure/$care-gaps`: open (or closed) gaps per patient.
    pub async fn care_gaps(
        &self,
        ctx: &crate::store::AccessContext,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let period = self.checked_period(ctx, pairs)?;
        if crate::service::milestones::numbers_only(ctx) {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Care gaps are patient-level: program staff and facilitators see summary reports only.",
            )));
        }
        let closed = match get(pairs, "status").unwrap_or("open-gap") {
            "open-gap" => false,
            "closed-gap" => true,
            other => {
                return Err(ServiceError::bad(Issue::error(
                    "invalid",
                    format!("status '{other}' is not open-gap or closed-gap."),
                )));
            }
        };
        let defs = gap_measures(pairs, period)?;
        let sel = selection(pairs)?;
        let tallies: Vec<MeasureTally> = defs.iter().map(|d| MeasureTally::new(d, false)).collect();
        let now = self.now_text();
        let org = format!("Organization/{}", ctx.tenant);
        let mut bundles = Vec::new();
        run(
            &self.store,
            ctx,
            period,
            &sel,
            tallies,
            |record, results| {
                let gaps = measure_gaps(&defs, results, closed);
                if !gaps.is_empty() {
                    let at = Doc {
                        period,
                        now: &now,
                        closed,
                        org: &org,
                    };
                    bundles.push(at.bundle(record, &gaps));
                }
            },
            |_| {},
        )
        .await?;
        let parameter: Vec<Value> = bundles
            .into_iter()
            .map(|b| json!({"name": "return", "resource": b}))
            .collect();
        Ok(json!({"resourceType": "Parameters", "parameter": parameter}))
    }
}

/// `measureId` parameters (repeatable), or every measure for the period.
pub(crate) fn gap_measures(
    pairs: &[(String, String)],
    period: Period,
) -> Result<Vec<&'static MeasureDef>, ServiceError> {
    let asked: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "measureId")
        .map(|(_, v)| v.as_str())
        .collect();
    if asked.is_empty() {
        return Ok(Catalog::get().all_for_period(period.first));
    }
    asked
        .into_iter()
        .map(|id| measure_def(id, period))
        .collect()
}

/// What every gaps document of one request shares.
struct Doc<'a> {
    period: Period,
    now: &'a str,
    closed: bool,
    org: &'a str,
}

fn urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

impl Doc<'_> {
    /// One patient's gaps document.
    fn bundle(&self, record: &Record, gaps: &[(&'static MeasureDef, &GroupResult)]) -> Value {
        let patient = record.id();
        let patient_url = urn();
        let mut sections = Vec::new();
        let mut entry = vec![json!({"fullUrl": patient_url, "resource": record.patient})];
        for (def, group) in gaps {
            let (report_url, issue_url) = (urn(), urn());
            let mut tally = MeasureTally::new(def, false);
            tally.add(patient, std::slice::from_ref(*group));
            let mut report = report_base(def, "individual", self.period, self.now);
            report["subject"] = json!({"reference": format!("Patient/{patient}")});
            report["group"] = json!(report_groups(Catalog::get().measure(def), &tally, false).0);
            let detail = if self.closed {
                "measure met"
            } else {
                "in the denominator, numerator not met"
            };
            let issue = json!({
                "resourceType": "DetectedIssue",
                "meta": {"profile": ["http://hl7.org/fhir/us/davinci-deqm/StructureDefinition/gaps-detectedissue-deqm"]},
                "modifierExtension": gap_status(self.closed),
                "status": "final",
                "code": caregap_code(),
                "patient": {"reference": format!("Patient/{patient}")},
                "identifiedPeriod": {"start": self.period.first.to_string(), "end": self.period.last.to_string()},
                "evidence": [{"detail": [{"reference": report_url}]}],
                "detail": format!("{}: {detail}", def.cms),
            });
            sections.push(json!({
                "title": def.cms,
                "focus": {"reference": report_url},
                "entry": [{"reference": issue_url}],
            }));
            entry.push(json!({"fullUrl": issue_url, "resource": issue}));
            entry.push(json!({"fullUrl": report_url, "resource": report}));
        }
        let composition = json!({
            "resourceType": "Composition",
            "meta": {"profile": ["http://hl7.org/fhir/us/davinci-deqm/StructureDefinition/gaps-composition-deqm"]},
            "status": "final",
            "type": {"coding": [{"system": "http://loinc.org", "code": "96315-7", "display": "Gaps in care report"}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "date": self.now,
            "author": [{"reference": self.org}],
            "title": format!("Care gaps report for Patient/{patient}, {} to {}", self.period.first, self.period.last),
            "section": sections,
        });
        entry.insert(0, json!({"fullUrl": urn(), "resource": composition}));
        json!({
            "resourceType": "Bundle",
            "meta": {"profile": ["http://hl7.org/fhir/us/davinci-deqm/StructureDefinition/gaps-bundle-deqm"]},
            "identifier": {"system": "urn:ietf:rfc:3986", "value": urn()},
            "type": "document",
            "timestamp": self.now,
            "entry": entry,
        })
    }
}
