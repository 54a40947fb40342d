//! The milestone answers: per patient and period, whether the patient is
//! active, empaneled, seen at a screening age and screened for behavioral
//! health, and its hospital discharges with those followed by a visit
//! within 7 days (BB9.Y2.1) — worked out from the generator's model with a plain reading of
//! the definitions in docs/milestones.md, never through `measure/` — and
//! per practice the counts, written to `milestones.json`. Also the program
//! configuration (`program.toml`) that enrols the generated practices.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Months, NaiveDate};
use serde_json::{Value, json};

use super::answers::expected_total;
use super::instruments::def;
use super::model::{Chart, Instrument, Practice, Reading};
use super::people::age_on;

/// Months of look-back that make a patient active.
pub const LOOKBACK_MONTHS: u32 = 24;

/// The periods answered: the year's quarters and the year itself.
pub fn periods(year: i32) -> Vec<(String, NaiveDate, NaiveDate)> {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("a date");
    let mut v: Vec<(String, NaiveDate, NaiveDate)> = (1..=4)
        .map(|q| {
            let first = d(year, 3 * q - 2, 1);
            let last = first + Months::new(3) - chrono::Days::new(1);
            (format!("{year}Q{q}"), first, last)
        })
        .collect();
    v.push((year.to_string(), d(year, 1, 1), d(year, 12, 31)));
    v
}

/// The screening domain of an instrument (behavioral health only).
fn domain(i: Instrument) -> Option<&'static str> {
    match i {
        Instrument::Phq2 | Instrument::Phq9 => Some("depression"),
        Instrument::Gad7 => Some("anxiety"),
        Instrument::AuditC => Some("alcohol"),
        Instrument::Dast10 => Some("drug"),
        Instrument::Epds => Some("maternal-depression"),
        Instrument::Steadi => None,
    }
}

/// The age bands a domain screens: 12+ for depression, anxiety, alcohol
/// and drugs; infants under 6 months for maternal depression; under 3 for
/// development.
fn band(domain: &str) -> &'static str {
    match domain {
        "maternal-depression" => "infant",
        "development" => "under3",
        _ => "12plus",
    }
}

/// One patient's facts for one period.
fn facts(c: &Chart, first: NaiveDate, last: NaiveDate) -> Value {
    let mut days: Vec<NaiveDate> = c.visits.iter().map(|v| v.day).collect();
    // The hospice admission is a finished home-health encounter: a visit.
    days.extend(c.hospice.iter().map(|(_, d)| *d));
    let from = last.succ_opt().expect("a day") - Months::new(LOOKBACK_MONTHS);
    let active = days.iter().any(|d| from <= *d && *d <= last);
    let birth = c.person.birth;
    let mut bands = BTreeSet::new();
    for d in days
        .iter()
        .filter(|d| first <= **d && **d <= last && birth <= **d)
    {
        let age = age_on(birth, *d);
        if age >= 12 {
            bands.insert("12plus");
        }
        if age < 3 {
            bands.insert("under3");
        }
        if *d < birth + Months::new(6) {
            bands.insert("infant");
        }
    }
    let mut screened: BTreeSet<(String, &str)> = BTreeSet::new();
    for a in &c.administrations {
        if let (Some(dom), Some(_)) = (domain(a.instrument), expected_total(a))
            && first <= a.day
            && a.day <= last
        {
            screened.insert((def(a.instrument).key.to_string(), dom));
        }
    }
    for r in &c.value_screens {
        if matches!(r.reading, Reading::Development { .. }) && first <= r.day && r.day <= last {
            screened.insert(("developmental".to_string(), "development"));
        }
    }
    // BB9.Y2.1: stays discharged in the period, and of them those followed
    // by a visit (office, telephone, virtual, home) from the discharge
    // through 7 days after it.
    let visits: Vec<chrono::NaiveDateTime> = c
        .visits
        .iter()
        .map(|v| v.day.and_hms_opt(9, 0, 0).expect("a time"))
        .chain(
            c.hospice
                .iter()
                .map(|(_, d)| d.and_hms_opt(10, 0, 0).expect("a time")),
        )
        .collect();
    let discharged: Vec<chrono::NaiveDateTime> = c
        .stays
        .iter()
        .map(|s| s.discharged)
        .filter(|t| first <= t.date() && t.date() <= last)
        .collect();
    let contacted = discharged
        .iter()
        .filter(|t| {
            visits
                .iter()
                .any(|v| *t <= v && *v <= **t + chrono::Duration::days(7))
        })
        .count();
    json!({
        "discharges": discharged.len(),
        "contacted": contacted,
        "active": active,
        "empaneled": c.person.pcp.is_some(),
        "bands": bands,
        "screened": screened.iter().map(|(i, d)| json!([i, d])).collect::<Vec<_>>(),
    })
}

/// The per-period facts of a patient's answers line.
pub fn patient(c: &Chart, year: i32) -> Value {
    let mut out = serde_json::Map::new();
    for (name, first, last) in periods(year) {
        out.insert(name, facts(c, first, last));
    }
    Value::Object(out)
}

/// One practice's period, added up.
#[derive(Default)]
struct Sums {
    active: u64,
    empaneled: u64,
    /// Patients seen, by their bands and whether screened.
    seen: BTreeMap<(Vec<String>, bool), u64>,
    instruments: BTreeSet<String>,
    domains: BTreeSet<String>,
    discharges: u64,
    contacted: u64,
}

/// Per practice and period sums, accumulated as patients are written.
#[derive(Default)]
pub struct Totals(BTreeMap<(String, String), Sums>);

impl Totals {
    pub fn add(&mut self, practice: &str, line: &Value) {
        let Some(periods) = line.as_object() else {
            return;
        };
        for (period, f) in periods {
            let s = self
                .0
                .entry((practice.to_string(), period.clone()))
                .or_default();
            let active = f["active"] == true;
            s.active += u64::from(active);
            s.empaneled += u64::from(active && f["empaneled"] == true);
            s.discharges += f["discharges"].as_u64().unwrap_or(0);
            s.contacted += f["contacted"].as_u64().unwrap_or(0);
            let screened: Vec<&Value> = f["screened"].as_array().into_iter().flatten().collect();
            for pair in &screened {
                s.instruments
                    .insert(pair[0].as_str().unwrap_or_default().into());
                s.domains
                    .insert(pair[1].as_str().unwrap_or_default().into());
            }
            let bands: Vec<String> = f["bands"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b.as_str().map(String::from))
                .collect();
            if !bands.is_empty() {
                *s.seen.entry((bands, !screened.is_empty())).or_default() += 1;
            }
        }
    }

    /// `milestones.json`: per practice and period, the counts.
    pub fn render(&self) -> Value {
        let mut out = serde_json::Map::new();
        for ((practice, period), s) in &self.0 {
            let in_use: BTreeSet<&str> = s.domains.iter().map(|d| band(d)).collect();
            let (mut den, mut num) = (0u64, 0u64);
            for ((bands, screened), n) in &s.seen {
                if bands.iter().any(|b| in_use.contains(b.as_str())) {
                    den += n;
                    if *screened {
                        num += n;
                    }
                }
            }
            let entry = out.entry(practice.clone()).or_insert_with(|| json!({}));
            entry[period] = json!({
                "activePatients": s.active, "empaneledPatients": s.empaneled,
                "screeningDenominator": den, "screeningNumerator": num,
                "instrumentsInUse": s.instruments, "bandsScreened": in_use,
                "contactDenominator": s.discharges, "contactNumerator": s.contacted,
            });
        }
        Value::Object(out)
    }
}

/// The program and enrolment configuration for the generated practices:
/// Colorado SIM, SIM-only adult track, project years starting with the
/// answered year.
pub fn program_toml(practices: &[Practice], year: i32) -> String {
    let mut s = format!(
        r#"# Written by `tandem generate`: the generated practices enrolled in the
# Colorado SIM program (SIM-only, adult), project years from {year}.
# Serve with `tandem serve --config <this file>`, or merge into yours.

[[programs]]
id = "colorado-sim"
name = "Colorado State Innovation Model (generated)"
catalog = "colorado-sim"
years = ["{year}-01-01", "{next}-01-01"]

[programs.reporting]
active_lookback_months = {LOOKBACK_MONTHS}

[[programs.tracks]]
id = "sim-only"
cqm_counts = {{ adult = [3, 4, 5, 6], pediatric = [2, 3, 4] }}
cqms = {{ adult = ["CMS2", "CMS122", "CMS165", "CMS159", "CMS138", "CMS137", "CMS139"], pediatric = ["CMS2", "CMS155"] }}
standing = [
  {{ year = 1, blocks = [1, 2, 3, 4, 7] }},
  {{ year = 2, blocks = [1, 2, 3, 4, 7], any_others = 2 }},
]

[[programs.tracks]]
id = "sim-cpc-plus"
cqm_counts = {{ adult = [3, 4, 5] }}
standing = [
  {{ year = 1, blocks = [1, 2, 3, 4, 7, 8, 9, 10] }},
  {{ year = 2, blocks = [1, 2, 3, 4, 7, 8, 9, 10] }},
]
"#,
        next = year + 1
    );
    for p in practices {
        s.push_str(&format!(
            "\n[[enrolments]]\npractice = \"{}\"\nprogram = \"colorado-sim\"\ntrack = \"sim-only\"\ncohort = \"adult\"\nstart = \"{year}-01-01\"\nfacilitator = \"facilitator-1\"\n",
            p.id
        ));
    }
    s
}
