//! The measure authors' test cases over the path users take: each case is
//! loaded into a running server by the transaction its authors ship, then
//! `$evaluate-measure?reportType=subject` answers for its patient. Prints
//! one table (cases matched in memory and over HTTP, per measure version)
//! and asserts that the two paths differ only where a FHIR server must
//! differ from a bundle read as it is, with the arguments below.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::Value;
use tandem::auth::Role;
use tandem::measure::catalog::Catalog;
use tandem::measure::record::Record;

use crate::common::{reports, spawn_app};
use crate::ecqm_cases::{
    Case, Counts, DISAGREEMENTS, SETS, case_files, differences, in_memory, in_memory_over, load,
};

/// Cases whose answer over HTTP differs from the in-memory one, and why.
///
/// Each names a hospice order (`ServiceRequest`, intent `order`) whose
/// `subject` is `http://GoodHealthcare.com/fhir/Patient/46464646` — a
/// patient on another server, not the case's patient. In memory the case's
/// bundle is the record, so the order is in it; the authors' expected
/// denominator exclusion relies on that. A server evaluates a patient's
/// compartment: the resources whose `patient` search parameter names *that*
/// patient here. The order names someone else, so it is in no compartment,
/// and the patient is not excluded (QI-Core's `[ServiceRequest]` retrieve in
/// a Patient context is the compartment). Tandem warns on the write (see
/// `fhir::compartment`). Two more cases carry such an order without
/// depending on it (a do-not-perform order, and one whose expected result
/// has no exclusion), so they match on both paths: 6 cases name a foreign
/// subject, 4 change.
const FOREIGN_SUBJECT: &[(&str, &str)] = &[
    (
        "CMS159-2025",
        "tests-491f554e-e897-40c5-ad2b-0983923df4e8-bundle.json",
    ),
    (
        "CMS159-2025",
        "tests-96b6579c-1cee-423f-9433-a72db6fb8a0a-bundle.json",
    ),
    (
        "CMS159-2026",
        "CMS159FHIR-v0.3.000-DENEXPopStrat1Pass-HospAmbInMP1.json",
    ),
    (
        "CMS159-2026",
        "CMS159FHIR-v0.3.000-DENEXPopStrat2Pass-HospAmbInMP2.json",
    ),
];

/// Does this resource name, as its patient, a Patient on another server?
/// (Written here from the compartment definition, not from Tandem's code.)
fn names_foreign_patient(r: &Value) -> bool {
    ["subject", "patient", "beneficiary"].iter().any(|k| {
        r[*k]["reference"]
            .as_str()
            .is_some_and(|s| s.contains("://") && s.contains("/Patient/"))
    })
}

/// What a FHIR server holds of the case, written here from the R4 rules
/// rather than from Tandem's code: a transaction resolves every reference
/// to an entry's fullUrl — relative ones against the base of the fullUrl
/// (Bundle §3.3.1.4.1), so `Encounter/Encounter-7-1` in an entry under
/// `https://madie.cms.gov/` names the entry whose fullUrl is
/// `https://madie.cms.gov/Encounter/Encounter-7-1` — to the id it is stored
/// under; and the patient's compartment leaves out foreign-subject resources.
fn as_stored(case: &Case) -> Record {
    let entries = case.bundle["entry"].as_array().unwrap();
    let mut ids = BTreeMap::new();
    for e in entries {
        let (Some(full), r) = (e["fullUrl"].as_str(), &e["resource"]) else {
            continue;
        };
        let rt = r["resourceType"].as_str().unwrap();
        let local = format!("{rt}/{}", r["id"].as_str().unwrap());
        if let Some((_, tail)) = full.rsplit_once(&format!("/{rt}/")) {
            ids.insert(format!("{rt}/{tail}"), local.clone());
        }
        ids.insert(full.to_string(), local);
    }
    fn resolve(v: &mut Value, ids: &BTreeMap<String, String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get_mut("reference")
                    && let Some(local) = ids.get(r.as_str())
                {
                    *r = local.clone();
                }
                o.values_mut().for_each(|c| resolve(c, ids));
            }
            Value::Array(a) => a.iter_mut().for_each(|c| resolve(c, ids)),
            _ => {}
        }
    }
    Record::new(
        entries
            .iter()
            .map(|e| {
                let mut r = e["resource"].clone();
                resolve(&mut r, &ids);
                r
            })
            .filter(|r| !names_foreign_patient(r)),
    )
    .unwrap()
}

/// The case as a transaction: as shipped, or (CMS155's cases are
/// collections) each entry PUT under its id, fullUrls kept.
fn as_transaction(bundle: &Value) -> Value {
    let mut tx = bundle.clone();
    if tx["type"] != "transaction" {
        tx["type"] = "transaction".into();
        for e in tx["entry"].as_array_mut().unwrap() {
            let r = &e["resource"];
            let url = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            );
            e["request"] = serde_json::json!({"method": "PUT", "url": url});
        }
    }
    tx
}

/// The counts of a subject report, `(group, code) -> count`.
fn report_counts(report: &Value, case: &Case) -> Counts {
    let mut out = Counts::new();
    for (g, code, _) in &case.expected {
        let group = &report["group"][*g];
        out.insert((*g, code.clone()), reports::count(group, code));
    }
    out
}

#[tokio::test]
async fn every_madie_case_over_http_matches_the_in_memory_path_where_a_server_must() {
    let app = spawn_app().await;
    let catalog = Catalog::get();
    println!(
        "{:<12} {:>6} {:>10} {:>8} {:>9}",
        "measure", "cases", "in memory", "HTTP", "warnings"
    );
    let (mut total, mut warned_cases) = (0, 0);
    let mut http_only: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut per_measure: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for (set, year) in SETS {
        for def in catalog
            .defs
            .iter()
            .filter(|d| d.published_cql && d.year == *year)
        {
            // One practice per measure version: the cases of different
            // versions reuse ids.
            let tenant = def.id.to_lowercase();
            let ehr = app
                .client_for(
                    &format!("ehr-{tenant}"),
                    Role::Ehr,
                    &tenant,
                    "system/*.cruds",
                )
                .await;
            let reporting = app
                .client_for(
                    &format!("quality-{tenant}"),
                    Role::Reporting,
                    &tenant,
                    "system/*.rs",
                )
                .await;
            let (mut mem_ok, mut http_ok, mut warnings) = (0, 0, 0);
            let files = case_files(set, def);
            for f in &files {
                let case = load(f);
                let resp = ehr
                    .post(app.url(""))
                    .json(&as_transaction(&case.bundle))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let body: Value = resp.json().await.unwrap();
                assert_eq!(status, StatusCode::OK, "{} {}: {body}", def.id, case.name);
                // The write warns exactly where a resource names a foreign patient.
                let warned = body["entry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| {
                        e["response"]["outcome"]
                            .to_string()
                            .contains("another server")
                    })
                    .count();
                let foreign = case.bundle["entry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| names_foreign_patient(&e["resource"]))
                    .count();
                assert_eq!(warned, foreign, "{} {}: {body}", def.id, case.name);
                warnings += warned;
                warned_cases += usize::from(warned > 0);

                let path = format!(
                    "Measure/{}/$evaluate-measure?periodStart={}&periodEnd={}\
                     &reportType=subject&subject=Patient/{}",
                    def.id, case.first, case.last, case.patient
                );
                let report = app.json_as(&reporting, &path).await;
                assert_eq!(report["type"], "individual", "{path}: {report}");
                let over_http = report_counts(&report, &case);
                let memory = in_memory(def, &case);
                // Over HTTP, Tandem evaluates what it stored of the patient:
                // the same answer as in memory over exactly that.
                assert_eq!(
                    over_http,
                    in_memory_over(def, &case, &as_stored(&case)),
                    "{} {}",
                    def.id,
                    case.name
                );
                mem_ok += usize::from(differences(&case.expected, &memory).is_empty());
                let http_diffs = differences(&case.expected, &over_http);
                http_ok += usize::from(http_diffs.is_empty());
                if over_http != memory {
                    http_only.push((def.id.to_string(), case.name.clone(), http_diffs));
                }
            }
            println!(
                "{:<12} {:>6} {:>10} {:>8} {:>9}",
                def.id,
                files.len(),
                mem_ok,
                http_ok,
                warnings
            );
            total += files.len();
            per_measure.insert(def.id.to_string(), (files.len(), mem_ok, http_ok));
        }
    }
    let (mem, http): (usize, usize) = per_measure
        .values()
        .fold((0, 0), |(m, h), (_, a, b)| (m + a, h + b));
    println!(
        "{total} cases: {mem} match the authors in memory, {http} over HTTP; \
         {warned_cases} writes warned of a foreign subject"
    );
    for (id, name, diffs) in &http_only {
        println!(
            "  HTTP differs from memory: {id} {name}: {}",
            diffs.join("; ")
        );
    }
    // Where the paths differ: the four foreign subjects (HTTP loses the
    // authors' exclusion), and the cases argued in `ecqm_cases` as dangling
    // references, which the transaction resolves by fullUrl (HTTP matches
    // the authors; the in-memory bundle, like fqm-execution, does not).
    let (foreign, resolved): (Vec<_>, Vec<_>) = http_only
        .iter()
        .partition(|(id, name, _)| FOREIGN_SUBJECT.contains(&(id.as_str(), name.as_str())));
    assert_eq!(foreign.len(), FOREIGN_SUBJECT.len(), "{foreign:?}");
    for (id, name, http_diffs) in &resolved {
        assert!(http_diffs.is_empty(), "{id} {name}: {http_diffs:?}");
        assert!(
            DISAGREEMENTS
                .iter()
                .any(|(i, f, why)| i == id && f == name && why.contains("fullUrl")),
            "{id} {name} differs over HTTP without an argument"
        );
    }
    assert_eq!(resolved.len(), 6, "CMS165 one, CMS137 five");
    assert_eq!(http, mem + resolved.len() - foreign.len());
    assert_eq!(warned_cases, 6, "six cases name a foreign subject");
    app.stop().await;
}
