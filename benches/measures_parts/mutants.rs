//! Mutants of the measure authors' test cases for the differential run
//! against fqm-execution (`cargo bench --bench measures -- --mutants`).
//! Each mutant is one case with one change: a date or time moved across a
//! window edge — the measurement period's first and last instant, by one
//! second, one minute and one day, or onto (and one second either side of)
//! another timestamp of the same case — written at second or at day
//! precision (FHIR's dateTime has no minute precision); a birth date moved
//! by a day; or one status, intent, clinical or verification status
//! changed. Both engines evaluate every mutant; each disagreement is listed
//! with the change that caused it, for tracing to the CQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;
use tandem::measure::catalog::Catalog;

use super::fqm;

/// One mutated case.
struct Mutant {
    case: String,
    what: String,
    patient: String,
    resources: Vec<Value>,
}

/// One change: the resource's index, a JSON pointer into it, the new value
/// and how to describe it.
struct Change {
    resource: usize,
    pointer: String,
    value: Value,
    what: String,
}

/// Status-like elements and the values each may take (R4 value sets).
#[rustfmt::skip]
const STATUSES: &[(&str, &str, &[&str])] = &[
    ("Encounter", "/status", &["planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown"]),
    ("Observation", "/status", &["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"]),
    ("Procedure", "/status", &["preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"]),
    ("ServiceRequest", "/status", &["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]),
    ("ServiceRequest", "/intent", &["proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"]),
    ("MedicationRequest", "/status", &["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"]),
    ("MedicationRequest", "/intent", &["proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"]),
    ("DiagnosticReport", "/status", &["registered", "partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled", "entered-in-error", "unknown"]),
    ("Immunization", "/status", &["completed", "entered-in-error", "not-done"]),
    ("Condition", "/clinicalStatus/coding/0/code", &["active", "recurrence", "relapse", "inactive", "remission", "resolved"]),
    ("Condition", "/verificationStatus/coding/0/code", &["unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"]),
];

fn is_date_or_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && (b.len() == 10 || b[10] == b'T')
}

/// Every date or dateTime string in `v` (not under `meta`), as JSON pointers.
fn time_fields(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                if k != "meta" && k != "birthDate" {
                    time_fields(c, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                time_fields(c, &format!("{at}/{i}"), out);
            }
        }
        Value::String(s) if is_date_or_time(s) => out.push((at.to_string(), s.clone())),
        _ => {}
    }
}

fn second(t: DateTime<Utc>) -> Value {
    Value::String(t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

fn day(t: DateTime<Utc>) -> Value {
    Value::String(t.format("%Y-%m-%d").to_string())
}

/// Every change this harness can make to a case.
fn changes(resources: &[Value], first: NaiveDate, last: NaiveDate) -> Vec<Change> {
    let start = first.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let end = last.and_hms_opt(23, 59, 59).unwrap().and_utc();
    let (s1, m1, d1) = (
        Duration::seconds(1),
        Duration::minutes(1),
        Duration::days(1),
    );
    let edges: Vec<(DateTime<Utc>, &str)> = vec![
        (start - d1, "MP start - 1 day"),
        (start - m1, "MP start - 1 min"),
        (start - s1, "MP start - 1 s"),
        (start, "MP start"),
        (end, "MP end (23:59:59)"),
        (end + s1, "MP end + 1 s"),
        (end + m1, "MP end + 1 min"),
        (end + d1, "MP end + 1 day"),
    ];
    let mut fields = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if r["resourceType"] != "Patient" {
            let mut f = Vec::new();
            time_fields(r, "", &mut f);
            fields.extend(f.into_iter().map(|(p, v)| (i, p, v)));
        }
    }
    // The case's own instants, anchors for "onto another timestamp".
    let anchors: Vec<DateTime<Utc>> = fields
        .iter()
        .filter_map(|(_, _, v)| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
        .collect();
    let name = |i: usize, p: &str| {
        let r = &resources[i];
        format!("{}{p}", r["resourceType"].as_str().unwrap_or("?"))
    };
    let mut out = Vec::new();
    for (i, p, old) in &fields {
        let instant = p.ends_with("/issued");
        let mut add = |value: Value, what: String| {
            if value != Value::String(old.clone()) {
                out.push(Change {
                    resource: *i,
                    pointer: p.clone(),
                    value,
                    what,
                });
            }
        };
        for (t, label) in &edges {
            add(second(*t), format!("{} = {label}", name(*i, p)));
            if !instant && (label.ends_with("day") || *label == "MP start") {
                add(day(*t), format!("{} = {label}, day precision", name(*i, p)));
            }
        }
        if !instant {
            add(day(end), format!("{} = MP end, day precision", name(*i, p)));
        }
        for a in &anchors {
            for (d, label) in [(-s1, "- 1 s"), (Duration::zero(), ""), (s1, "+ 1 s")] {
                add(
                    second(*a + d),
                    format!("{} = {} {label}", name(*i, p), second(*a)),
                );
            }
        }
    }
    for (i, r) in resources.iter().enumerate() {
        if let Some(b) = r["birthDate"].as_str()
            && let Ok(d) = NaiveDate::parse_from_str(b, "%Y-%m-%d")
        {
            for (delta, label) in [(-1, "- 1 day"), (1, "+ 1 day")] {
                let moved = d + Duration::days(delta);
                out.push(Change {
                    resource: i,
                    pointer: "/birthDate".into(),
                    value: Value::String(moved.to_string()),
                    what: format!("Patient.birthDate {label}"),
                });
            }
        }
        for (rt, pointer, values) in STATUSES {
            if r["resourceType"] != *rt {
                continue;
            }
            let Some(old) = r.pointer(pointer).and_then(Value::as_str) else {
                continue;
            };
            for v in values.iter().filter(|v| **v != old) {
                out.push(Change {
                    resource: i,
                    pointer: pointer.to_string(),
                    value: Value::String(v.to_string()),
                    what: format!("{rt}{pointer} {old} -> {v}"),
                });
            }
        }
    }
    out
}

/// Does every Period-like object (`start` and `end`) in `v` end no earlier
/// than it starts? Compared as instants, a date as its whole day.
fn periods_valid(v: &Value) -> bool {
    let instant = |s: &str, end: bool| -> Option<DateTime<Utc>> {
        if s.len() == 10 {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            let t = if end {
                d.and_hms_opt(23, 59, 59)?
            } else {
                d.and_hms_opt(0, 0, 0)?
            };
            return Some(t.and_utc());
        }
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    match v {
        Value::Object(o) => {
            let bad = match (
                o.get("start").and_then(Value::as_str),
                o.get("end").and_then(Value::as_str),
            ) {
                (Some(a), Some(b)) => match (instant(a, false), instant(b, true)) {
                    (Some(a), Some(b)) => a > b,
                    _ => false,
                },
                _ => false,
            };
            !bad && o.values().all(periods_valid)
        }
        Value::Array(a) => a.iter().all(periods_valid),
        _ => true,
    }
}

/// A deterministic sample of `n` of `items`, seeded by `seed`.
fn sample<T>(mut items: Vec<T>, n: usize, seed: &str) -> Vec<T> {
    let mut x = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut out = Vec::new();
    while out.len() < n && !items.is_empty() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(items.swap_remove((x % items.len() as u64) as usize));
    }
    out
}

/// The case's resources (without the expected report) and its period.
fn read_case(path: &Path) -> (Vec<Value>, NaiveDate, NaiveDate) {
    let b: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let all: Vec<Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect();
    let report = all
        .iter()
        .find(|r| r["resourceType"] == "MeasureReport")
        .unwrap();
    let date =
        |v: &Value| NaiveDate::parse_from_str(&v.as_str().unwrap()[..10], "%Y-%m-%d").unwrap();
    let (first, last) = (
        date(&report["period"]["start"]),
        date(&report["period"]["end"]),
    );
    let resources = all
        .into_iter()
        .filter(|r| r["resourceType"] != "MeasureReport" && r["resourceType"] != "Bundle")
        .collect();
    (resources, first, last)
}

/// The mutants of one case: the case itself first, then `per_case` changes.
fn mutate(path: &Path, per_case: usize) -> (Vec<Mutant>, NaiveDate, NaiveDate) {
    let (resources, first, last) = read_case(path);
    let case = path.file_name().unwrap().to_string_lossy().into_owned();
    let id = resources
        .iter()
        .find(|r| r["resourceType"] == "Patient")
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_string();
    let text = serde_json::to_string(&resources).unwrap();
    let mut out = Vec::new();
    let picked = sample(changes(&resources, first, last), per_case, &case);
    let originals = std::iter::once(None).chain(picked.into_iter().map(Some));
    for (k, change) in originals.enumerate() {
        let patient = format!("{id}-m{k}");
        let mut rs: Vec<Value> = serde_json::from_str(&text.replace(&id, &patient)).unwrap();
        let what = match change {
            None => "unchanged".to_string(),
            Some(c) => {
                *rs[c.resource].pointer_mut(&c.pointer).unwrap() = c.value;
                // FHIR's per-1: a Period ends no earlier than it starts. A
                // mutant breaking it is invalid data, not a test.
                if !periods_valid(&rs[c.resource]) {
                    continue;
                }
                c.what
            }
        };
        out.push(Mutant {
            case: case.clone(),
            what,
            patient,
            resources: rs,
        });
    }
    (out, first, last)
}

/// Runs both engines over every mutant of every published measure version
/// and writes the disagreements to `out`.
pub fn run(shared: &Path, per_case: usize, only: Option<&str>, out: &Path) {
    let Some(modules) = fqm::node_modules() else {
        println!("fqm-execution unavailable (node/npm missing): mutants skipped");
        return;
    };
    let catalog = Catalog::get();
    let mut lines = Vec::new();
    println!(
        "fqm-execution 1.8.6 vs Tandem on mutants of the authors' cases ({per_case} per case, plus the case):"
    );
    println!(
        "{:<12} {:>8} {:>12} {:>10}",
        "measure", "mutants", "populations", "disagree"
    );
    let (mut all_mutants, mut all_disagreeing) = (0, 0);
    for (set, year) in [("qicore-2024", 2025), ("qicore-2025", 2026)] {
        for def in catalog
            .defs
            .iter()
            .filter(|d| d.published_cql && d.year == year)
            .filter(|d| only.is_none_or(|o| o == d.id))
        {
            let dir = shared.join(set).join(def.cms).join("tests");
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            // Grouped by period: one fqm-execution run each.
            let mut by_period: BTreeMap<(NaiveDate, NaiveDate), Vec<Mutant>> = BTreeMap::new();
            for f in &files {
                let (ms, first, last) = mutate(f, per_case);
                by_period.entry((first, last)).or_default().extend(ms);
            }
            let (mut count, mut compared, mut disagreeing) = (0, 0, BTreeMap::new());
            for ((first, last), mutants) in &by_period {
                let patient = |i: usize| mutants[i].resources.clone();
                let run = fqm::Run {
                    patient: &patient,
                    count: mutants.len(),
                    first: *first,
                    last: *last,
                    trust_meta: true,
                };
                let written = fqm::write_patients(&run);
                let Some(a) = fqm::agree(&modules, written.path(), &run, def, shared) else {
                    continue;
                };
                count += mutants.len();
                compared += a.compared;
                let by_patient: BTreeMap<&str, &Mutant> =
                    mutants.iter().map(|m| (m.patient.as_str(), m)).collect();
                for (p, d) in a.disagreements {
                    let m = by_patient[p.as_str()];
                    disagreeing
                        .entry((m.case.clone(), m.what.clone()))
                        .or_insert_with(Vec::new)
                        .push(d);
                }
            }
            println!(
                "{:<12} {:>8} {:>12} {:>10}",
                def.id,
                count,
                compared,
                disagreeing.len()
            );
            all_mutants += count;
            all_disagreeing += disagreeing.len();
            for ((case, what), diffs) in disagreeing {
                lines.push(format!("{} {case}: {what}: {}", def.id, diffs.join("; ")));
            }
        }
    }
    println!(
        "  {all_mutants} mutants, {all_disagreeing} disagree; listed in {}",
        out.display()
    );
    for l in lines.iter().take(20) {
        println!("    {l}");
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(out, lines.join("\n") + "\n").unwrap();
}
