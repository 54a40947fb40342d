//! The drill-down from a milestone's count to its patients: every subject
//! of the denominator, whether the numerator counts it (and so whether it
//! is a gap), from the subject-list MeasureReport the API returns; and the
//! same list as CSV.

use std::collections::{HashMap, HashSet};

use maud::{Markup, html};
use serde_json::Value;

/// One subject of the denominator.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `Patient/id`, or a period's name for counts of months or quarters.
    pub subject: String,
    /// The month a patient-month subject stands for.
    pub month: Option<String>,
    pub in_numerator: bool,
    pub name: String,
    pub birth_date: String,
}

/// The subjects of a subject-list MeasureReport: `(subject, month)` per
/// population code, from its contained Lists.
pub fn subjects(report: &Value) -> HashMap<String, Vec<(String, Option<String>)>> {
    let mut out = HashMap::new();
    for list in report["contained"].as_array().into_iter().flatten() {
        let code = list["id"].as_str().unwrap_or_default().to_string();
        let entries = list["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let subject = e["item"]["reference"]
                    .as_str()
                    .or(e["item"]["display"].as_str())
                    .unwrap_or_default()
                    .to_string();
                (subject, e["flag"]["text"].as_str().map(str::to_string))
            })
            .collect();
        out.insert(code, entries);
    }
    out
}

/// The rows: the denominator's subjects (or the numerator's alone, for a
/// count), each marked in or out of the numerator, with the patients'
/// names and birth dates where `patients` (`Patient/id` → (name, birth)) has them.
/// A CQM's lists are per group (`{group}-{code}`): its denominator less
/// exclusions and exceptions, its numerator less numerator exclusions — the
/// proportion its rate is.
pub fn rows(
    report: &Value,
    patients: &HashMap<String, (String, String)>,
    group: usize,
) -> Vec<Row> {
    let s = subjects(report);
    let list = |code: &str| {
        s.get(&format!("{group}-{code}"))
            .or(s.get(code))
            .cloned()
            .unwrap_or_default()
    };
    let less = |a: Vec<(String, Option<String>)>, out: &[&str]| {
        let gone: HashSet<(String, Option<String>)> =
            out.iter().flat_map(|code| list(code)).collect();
        a.into_iter()
            .filter(|x| !gone.contains(x))
            .collect::<Vec<_>>()
    };
    let counted = less(list("numerator"), &["numerator-exclusion"]);
    let numerator: HashSet<&(String, Option<String>)> = counted.iter().collect();
    let has_denominator =
        s.contains_key("denominator") || s.contains_key(&format!("{group}-denominator"));
    let base = if has_denominator {
        less(
            list("denominator"),
            &["denominator-exclusion", "denominator-exception"],
        )
    } else {
        counted.clone()
    };
    let mut rows: Vec<Row> = base
        .into_iter()
        .map(|(subject, month)| {
            let in_numerator = numerator.contains(&(subject.clone(), month.clone()));
            let (name, birth_date) = patients.get(&subject).cloned().unwrap_or_default();
            Row {
                subject,
                month,
                in_numerator,
                name,
                birth_date,
            }
        })
        .collect();
    // Gaps first: they are what a QI team works on.
    rows.sort_by(|a, b| (a.in_numerator, &a.subject).cmp(&(b.in_numerator, &b.subject)));
    rows
}

/// Rows shown per page.
pub const PAGE: usize = 100;

/// Where the page's links go.
pub struct Links {
    pub csv: String,
    pub back: String,
    /// The page's own address, ending in `page=`.
    pub page: String,
}

/// The drill-down page body: the counts of all rows, the `shown` slice.
pub fn page(title: &str, rows: &[Row], shown: std::ops::Range<usize>, links: &Links) -> Markup {
    let gaps = rows.iter().filter(|r| !r.in_numerator).count();
    let number = shown.start / PAGE;
    html! {
        p { (title) }
        p { (rows.len()) " in the denominator; " (rows.len() - gaps) " in the numerator; "
            (gaps) " not (gaps). " a href=(links.csv) { "Download CSV" } " · " a href=(links.back) { "Back to milestones" } }
        @if rows.len() > PAGE {
            nav aria-label="Pages" {
                "Showing " (shown.start + 1) "–" (shown.end) " of " (rows.len()) ". "
                @if number > 0 { a href={ (links.page) (number - 1) } { "Previous" } " " }
                @if shown.end < rows.len() { a href={ (links.page) (number + 1) } { "Next" } }
            }
        }
        table #patients {
            caption { "Patients behind the count (gaps first)" }
            thead { tr {
                th scope="col" { "Patient" }
                th scope="col" { "Name" }
                th scope="col" { "Birth date" }
                th scope="col" { "Month" }
                th scope="col" { "Where" }
            } }
            tbody {
                @for r in &rows[shown] {
                    tr {
                        td { (r.subject) }
                        td { (r.name) }
                        td { (r.birth_date) }
                        td { (r.month.as_deref().unwrap_or("")) }
                        @if r.in_numerator {
                            td.met { "Numerator: counted" }
                        } @else {
                            td.not-met { "Denominator only: a gap" }
                        }
                    }
                }
            }
        }
    }
}

/// A cell a spreadsheet will not run as a formula (OWASP CSV injection).
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// The rows as CSV (RFC 4180), with a header line.
pub fn csv(rows: &[Row]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["patient", "name", "birthDate", "month", "inNumerator"])?;
    for r in rows {
        w.write_record([
            cell(&r.subject).as_str(),
            &cell(&r.name),
            &cell(&r.birth_date),
            &cell(r.month.as_deref().unwrap_or("")),
            if r.in_numerator { "true" } else { "false" },
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
