//! The measure authors' own test cases (MADiE exports in
//! `../shared/data/ecqm/`): every case's expected population counts must
//! equal Tandem's. Prints one table row per measure version, and every
//! differing population.

use chrono::NaiveDate;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tandem::measure::catalog::{Catalog, MeasureDef, libs_of};
use tandem::measure::record::Record;

pub(crate) fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ecqm")
}

/// Content folder → performance year.
pub(crate) const SETS: &[(&str, i32)] = &[("qicore-2024", 2025), ("qicore-2025", 2026)];

pub(crate) struct Case {
    pub name: String,
    /// The case as its authors ship it (a transaction), without the
    /// expected MeasureReport.
    pub bundle: Value,
    pub patient: String,
    pub record: Record,
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Expected `(group index, population code, count)`.
    pub expected: Vec<(usize, String, u64)>,
}

pub(crate) fn load(path: &Path) -> Case {
    let mut bundle: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let resources: Vec<Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect();
    let report = resources
        .iter()
        .find(|r| r["resourceType"] == "MeasureReport")
        .expect("a test case has its expected MeasureReport")
        .clone();
    let date =
        |s: &Value| NaiveDate::parse_from_str(&s.as_str().unwrap()[..10], "%Y-%m-%d").unwrap();
    let mut expected = Vec::new();
    for (g, group) in report["group"].as_array().unwrap().iter().enumerate() {
        for p in group["population"].as_array().unwrap() {
            let code = p["code"]["coding"][0]["code"].as_str().unwrap().to_string();
            expected.push((g, code, p["count"].as_u64().unwrap_or(0)));
        }
    }
    let patient = resources
        .iter()
        .find(|r| r["resourceType"] == "Patient")
        .and_then(|p| p["id"].as_str())
        .expect("a test case has its Patient")
        .to_string();
    let record = Record::new(
        resources
            .into_iter()
            .filter(|r| r["resourceType"] != "MeasureReport"),
    )
    .unwrap();
    bundle["entry"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["resource"]["resourceType"] != "MeasureReport");
    Case {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        bundle,
        patient,
        record,
        first: date(&report["period"]["start"]),
        last: date(&report["period"]["end"]),
        expected,
    }
}

/// A measure version's case files, sorted.
pub(crate) fn case_files(set: &str, def: &MeasureDef) -> Vec<PathBuf> {
    let dir = shared().join(set).join(def.cms).join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Population counts per group, as `(group, code) -> count`.
pub(crate) type Counts = BTreeMap<(usize, String), u64>;

/// Tandem's counts for a case, evaluated in memory over the case's record.
pub(crate) fn in_memory(def: &MeasureDef, case: &Case) -> Counts {
    in_memory_over(def, case, &case.record)
}

/// [`in_memory`] over another record of the same case.
pub(crate) fn in_memory_over(def: &MeasureDef, case: &Case, record: &Record) -> Counts {
    let catalog = Catalog::get();
    let ctx = catalog.context(def, record, case.first, case.last);
    let mut out = Counts::new();
    for (g, r) in (def.evaluate)(&ctx).iter().enumerate() {
        for (code, _) in case
            .expected
            .iter()
            .filter(|(eg, _, _)| *eg == g)
            .map(|(_, c, n)| (c, n))
        {
            if let Some(n) = r.populations.get(code) {
                out.insert((g, code.clone()), n as u64);
            }
        }
    }
    out
}

/// Where `got` differs from the authors' expected counts, one line each.
pub(crate) fn differences(expected: &[(usize, String, u64)], got: &Counts) -> Vec<String> {
    expected
        .iter()
        .filter_map(|(g, code, want)| {
            let have = *got.get(&(*g, code.clone()))?;
            (have != *want).then(|| format!("group {g} {code}: expected {want} got {have}"))
        })
        .collect()
}

/// The argument shared by the CMS137 cases below.
const DANGLING_DIAGNOSIS: &str = "The telehealth/office encounter's `diagnosis.condition` is \
    `Condition/Condition-1` (or -11), but no Condition has that id (theirs are UUIDs). CQMCommon \
    `encounterDiagnosis()` resolves `[Condition] C where C.id = D.condition.reference.getId()`, \
    finds nothing, so the encounter carries no SUD diagnosis and does not count. (Loaded into a \
    server by transaction, the reference resolves against its entry's fullUrl, \
    `https://madie.cms.gov/Condition/Condition-1`, and the case matches: `ecqm_http`.)";

/// Cases where Tandem follows the CQL and the authors' expectation does not,
/// each with the argument. fqm-execution 1.8.6 disagrees with the authors on
/// the same cases (`fqm-execution-1.8.6-agreement.txt`).
pub(crate) const DISAGREEMENTS: &[(&str, &str, &str)] = &[
    (
        "CMS122-2025",
        "tests-6630d394-c81d-42f5-a218-40b73a2a4949-bundle.json",
        "The GMI result is a valueCodeableConcept ('Yes'), not a Quantity. `\"Lowest…\".value > 9 '%'` \
         compares a Concept with a Quantity (null), and `.value is null` is false because a value exists, \
         so no numerator criterion is true. The description ('greater than 9%') is not what the data says.",
    ),
    (
        "CMS122-2025",
        "tests-8956ebb5-d3c0-4112-a34a-200961713efd-bundle.json",
        "Same as above for an HbA1c test: the value is a CodeableConcept, so neither \
         'without result' nor '> 9 %' holds.",
    ),
    (
        "CMS165-2025",
        "tests-6885264d-efbf-4e48-99a2-2e8ce29d61ba-bundle.json",
        "The reading's encounter reference is `Encounter/Encounter-7-1`, but the ED encounter's id is \
         1197015d-…; `getEncounter()` matches on id (`E.id = reference.reference.getId()`), finds \
         nothing, so the class test is not true and 139/89 qualifies: numerator 1. (Over HTTP \
         the transaction resolves it against the entry's fullUrl and the case matches: `ecqm_http`.)",
    ),
    (
        "CMS137-2025",
        "tests-488f3b7f-c5a8-4491-8135-11a50bcf1ffe-bundle.json",
        DANGLING_DIAGNOSIS,
    ),
    (
        "CMS137-2025",
        "tests-5b0061aa-777e-4b38-bde2-a1c10152e555-bundle.json",
        DANGLING_DIAGNOSIS,
    ),
    (
        "CMS137-2025",
        "tests-95e62e34-9b8a-4076-9d09-5eb5e35fdc6a-bundle.json",
        DANGLING_DIAGNOSIS,
    ),
    (
        "CMS137-2025",
        "tests-bba6dd6e-c6da-4684-bb74-b650dee77b64-bundle.json",
        DANGLING_DIAGNOSIS,
    ),
    (
        "CMS137-2025",
        "tests-f1308c5a-8dcc-41ae-8e32-5cf33b54c8e6-bundle.json",
        "Engagement (group 1 numerator) needs two treatments within 34 days after initiation \
         (2025-11-15). The G2067 procedure of 2025-11-27 is both a psychosocial visit and a \
         short-acting administration, but `\"Psychosocial Visit\" union [Procedure: …]` holds \
         it once; the 2025-11-20 telehealth visit would be the second, but its \
         `diagnosis.condition` is `Condition/Condition-11`, which no Condition has as id, so \
         it has no SUD diagnosis and is no psychosocial visit (fqm-execution agrees). Over \
         HTTP the transaction resolves that reference against its fullUrl, \
         `https://madie.cms.gov/Condition/Condition-11`, and the case matches: `ecqm_http`.",
    ),
];

#[test]
fn every_madie_test_case_matches_its_expected_populations() {
    let catalog = Catalog::get();
    let mut failures = Vec::new();
    let mut total = 0;
    println!(
        "{:<14} {:>6} {:>6} {:>6}",
        "measure", "cases", "passed", "failed"
    );
    for (set, year) in SETS {
        for def in catalog
            .defs
            .iter()
            .filter(|d| d.published_cql && d.year == *year)
        {
            let files = case_files(set, def);
            let (mut passed, mut failed) = (0, 0);
            for f in &files {
                let case = load(f);
                let diffs = differences(&case.expected, &in_memory(def, &case));
                if diffs.is_empty() {
                    passed += 1;
                } else {
                    failed += 1;
                    failures.push(format!("{} {}: {}", def.id, case.name, diffs.join("; ")));
                }
            }
            total += files.len();
            println!(
                "{:<14} {:>6} {:>6} {:>6}",
                def.id,
                files.len(),
                passed,
                failed
            );
        }
    }
    for f in &failures {
        println!("  {f}");
    }
    assert!(total > 0, "no test cases found");
    let unexplained: Vec<&String> = failures
        .iter()
        .filter(|f| {
            !DISAGREEMENTS
                .iter()
                .any(|(id, file, _)| f.starts_with(&format!("{id} {file}")))
        })
        .collect();
    let explained = failures.len() - unexplained.len();
    println!(
        "{total} cases: {} pass, {explained} differ with a written argument",
        total - failures.len()
    );
    assert!(
        unexplained.is_empty(),
        "{} of {total} cases differ without an argument",
        unexplained.len()
    );
    // An argued case that starts to pass means the argument is stale.
    assert_eq!(
        explained,
        DISAGREEMENTS.len(),
        "an argued disagreement now passes: update DISAGREEMENTS"
    );
}

/// The library versions the catalog uses for each published measure are the
/// ones its published bundle's main Library depends on. Tandem's shipped
/// 2025 bundles carry no dependency list (they fall back to the QI-Core
/// 4.1.1 generation's versions), so this reads the authors' bundles.
#[test]
fn each_measure_reads_the_library_versions_its_published_bundle_includes() {
    let catalog = Catalog::get();
    let mut checked = 0;
    for (set, year) in SETS {
        for def in catalog
            .defs
            .iter()
            .filter(|d| d.published_cql && d.year == *year)
        {
            let path = shared().join(set).join(def.cms).join("measure-bundle.json");
            let bundle: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let resources: Vec<&Value> = bundle["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| &e["resource"])
                .collect();
            let measure = resources
                .iter()
                .find(|r| r["resourceType"] == "Measure")
                .unwrap();
            // The main Library's includes, and theirs (CMS69 includes Status
            // only through Hospice), as `url|version`.
            let library = |canonical: &str| {
                let (url, version) = canonical.split_once('|').unwrap_or((canonical, ""));
                resources.iter().copied().find(|r| {
                    r["resourceType"] == "Library"
                        && r["url"] == url
                        && (version.is_empty() || r["version"] == version)
                })
            };
            let mut todo = vec![measure["library"][0].as_str().unwrap().to_string()];
            let mut deps: Vec<Value> = Vec::new();
            while let Some(canonical) = todo.pop() {
                let lib = library(&canonical)
                    .unwrap_or_else(|| panic!("{}: Library {canonical}", def.id));
                for ra in lib["relatedArtifact"].as_array().into_iter().flatten() {
                    let Some(r) = ra["resource"].as_str() else {
                        continue;
                    };
                    if ra["type"] == "depends-on" && r.contains("/Library/") && !deps.contains(ra) {
                        deps.push(ra.clone());
                        todo.push(r.to_string());
                    }
                }
            }
            // The same shape as a MADiE export's contained data requirements.
            let as_measure = serde_json::json!({"contained": [{"relatedArtifact": deps}]});
            let published =
                libs_of(def.id, def.ver, &as_measure).unwrap_or_else(|e| panic!("{}: {e}", def.id));
            assert_eq!(catalog.libs(def), published, "{}", def.id);
            checked += 1;
        }
    }
    assert_eq!(checked, 15, "every published measure version was checked");
}
