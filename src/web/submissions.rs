//! The submissions page: a practice's ledger of quarterly submissions to
//! its program as `$submissions` reports it — period, version, state,
//! pre-send check results, receipt, who released it — with a sign-off
//! button on a held entry for those who may release it.

use maud::{Markup, html};
use serde_json::Value;

/// One ledger entry's fields, by name (a `check` may repeat).
fn fields(entry: &Value) -> Vec<(String, String)> {
    entry["part"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            let value = ["valueString", "valueCode", "valueInteger", "valueInstant"]
                .iter()
                .find_map(|k| match &p[*k] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    v => Some(v.to_string()),
                })
                .unwrap_or_default();
            (name, value)
        })
        .collect()
}

fn one<'a>(f: &'a [(String, String)], name: &str) -> &'a str {
    f.iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The ledger, newest first; `can_sign` shows the sign-off button on held entries.
pub fn ledger(report: &Value, org: &str, csrf: &str, can_sign: bool) -> Markup {
    let mut entries: Vec<Vec<(String, String)>> = report["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .map(fields)
        .collect();
    entries.reverse();
    html! {
        @if entries.is_empty() {
            p { "Nothing has been submitted yet: the feed builds each quarter's submission when it is due." }
        } @else {
            table #submissions {
                caption { "Submissions to the program" }
                thead { tr {
                    th scope="col" { "Entry" } th scope="col" { "Period" } th scope="col" { "Version" }
                    th scope="col" { "State" } th scope="col" { "Created" } th scope="col" { "Pre-send checks" }
                    th scope="col" { "Receipt / released by" } th scope="col" { "Action" }
                } }
                tbody {
                    @for f in &entries {
                        @let state = one(f, "state");
                        tr data-state=(state) {
                            th scope="row" { (one(f, "seq")) }
                            td { (one(f, "period")) }
                            td.num { (one(f, "version")) }
                            td class=(match state { "accepted" => "met", "failed" | "held" => "not-met", _ => "in-progress" }) { (state) }
                            td { (one(f, "created")) br; span.muted { "by " (one(f, "createdBy")) } }
                            td {
                                @let checks: Vec<&str> = f.iter().filter(|(n, _)| n == "check").map(|(_, v)| v.as_str()).collect();
                                @if checks.is_empty() { "all passed" } @else {
                                    ul { @for c in checks { li { (c) } } }
                                }
                            }
                            td {
                                @if !one(f, "receipt").is_empty() { "receipt: " (one(f, "receipt")) br; }
                                @if !one(f, "releasedBy").is_empty() { "released by " (one(f, "releasedBy")) }
                            }
                            td {
                                @if state == "held" && can_sign {
                                    form method="post" action={ "/app/practice/" (org) "/sign-off" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="submission" value=(one(f, "seq"));
                                        button type="submit" { "Sign off and send entry " (one(f, "seq")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
