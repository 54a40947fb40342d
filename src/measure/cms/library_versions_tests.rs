//! Each measure reads the shared-library versions its bundle includes:
//! CMS155-2026 and CMS69-2026 include Status 1.13.000 and Hospice 6.15.000
//! (an `in-progress` encounter is performed; an unverified hospice diagnosis
//! counts), CMS122-2026 and CMS165-2026 Status 1.15.000 and Hospice 6.18.000
//! (`finished` only; `verified()` diagnoses only). Each difference is tested
//! both ways on one measure by evaluating it with the other version too.

use serde_json::{Value, json};

use super::testkit::{SNOMED, eval_with};
use crate::measure::Populations;
use crate::measure::catalog::{Catalog, libs_of};
use crate::measure::qicore::{Libs, StatusLib, Ver};

fn child() -> Value {
    json!({"resourceType": "Patient", "id": "p", "birthDate": "2016-05-01", "gender": "female"})
}

/// An office visit (Office Visit value set) in 2026 with `status`.
fn visit(status: &str) -> Value {
    json!({"resourceType": "Encounter", "status": status,
        "type": [{"coding": [{"system": SNOMED, "code": "185349003"}]}],
        "period": {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T09:30:00Z"}})
}

/// CMS155-2026's first group for the child with `resources`, evaluated
/// with `libs` (`None`: the measure's own versions).
fn populations(libs: Option<Libs>, resources: Vec<Value>) -> Populations {
    eval_with(
        "CMS155-2026",
        libs,
        child(),
        resources,
        "2026-01-01",
        "2026-12-31",
    )[0]
    .populations
}

fn initial(libs: Option<Libs>, resources: Vec<Value>) -> bool {
    populations(libs, resources).initial
}

fn excluded(libs: Option<Libs>, resources: Vec<Value>) -> bool {
    populations(libs, resources).denominator_exclusion
}

#[test]
fn the_catalog_reads_each_measures_own_versions() {
    let c = Catalog::get();
    let libs = |id: &str| c.libs(c.by_id(id).unwrap());
    for id in ["CMS155-2026", "CMS69-2026"] {
        assert_eq!(libs(id).status, StatusLib::Broad, "{id}: Status 1.13.000");
        assert!(!libs(id).hospice_verified, "{id}: Hospice 6.15.000");
    }
    assert!(
        !libs("CMS69-2026").palliative_verified,
        "PalliativeCare 1.15.000"
    );
    for id in ["CMS122-2026", "CMS165-2026"] {
        assert_eq!(
            libs(id).status,
            StatusLib::FinishedOnly,
            "{id}: Status 1.15.000"
        );
        assert!(
            libs(id).hospice_verified && libs(id).palliative_verified,
            "{id}"
        );
    }
}

#[test]
fn a_library_version_tandem_does_not_implement_is_refused() {
    let measure = |status: &str| {
        json!({"resourceType": "Measure", "contained": [{"resourceType": "Library",
            "relatedArtifact": [
                {"type": "depends-on", "resource": "https://madie.cms.gov/Library/FHIRHelpers|4.4.000"},
                {"type": "depends-on", "resource": format!("https://madie.cms.gov/Library/Status|{status}")}]}]})
    };
    let ok = libs_of("X", Ver::Qi600, &measure("1.13.000")).unwrap();
    assert_eq!(ok.status, StatusLib::Broad);
    let err = libs_of("X", Ver::Qi600, &measure("1.99.000")).unwrap_err();
    assert!(err.contains("Status version 1.99.000"), "{err}");
}

#[test]
fn status_1_13_counts_an_in_progress_encounter_and_1_15_does_not() {
    assert!(
        initial(None, vec![visit("in-progress")]),
        "CMS155-2026: Status 1.13.000"
    );
    assert!(initial(None, vec![visit("finished")]));
    assert!(!initial(None, vec![visit("cancelled")]));
    let v1_15 = Libs {
        status: StatusLib::FinishedOnly,
        ..Libs::of(Ver::Qi600)
    };
    assert!(
        !initial(Some(v1_15), vec![visit("in-progress")]),
        "Status 1.15.000"
    );
    assert!(initial(Some(v1_15), vec![visit("finished")]));
}

#[test]
fn hospice_6_15_counts_an_unverified_diagnosis_and_6_18_does_not() {
    let refuted = json!({"resourceType": "Condition",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]},
        "code": {"coding": [{"system": SNOMED, "code": "170935008"}]},
        "subject": {"reference": "Patient/p"}, "onsetDateTime": "2026-02-01"});
    let resources = vec![visit("finished"), refuted];
    assert!(
        excluded(None, resources.clone()),
        "CMS155-2026: Hospice 6.15.000"
    );
    let v6_18 = Libs {
        hospice_verified: true,
        ..Catalog::get().libs(Catalog::get().by_id("CMS155-2026").unwrap())
    };
    assert!(
        !excluded(Some(v6_18), resources),
        "Hospice 6.18.000: verified() only"
    );
}
