//! The milestone pages: the portfolio (one row per practice, one cell per
//! building block) and a practice's milestone grid with links to the
//! patients behind each count. The data is `Organization/{id}/$milestones`'s
//! Parameters, read here into a view: the app shows exactly what the API
//! answers.

use maud::{Markup, html};
use serde_json::Value;

/// One milestone of a practice, as `$milestones` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestone {
    pub id: String,
    pub title: String,
    pub block: i64,
    pub evidence: String,
    pub status: String,
    pub reason: Option<String>,
    pub threshold: Option<f64>,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    pub score: Option<f64>,
    pub count: Option<i64>,
    /// The milestone Measure's id, where patients stand behind the numbers.
    pub measure: Option<String>,
}

/// A practice's milestones over one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Practice {
    pub id: String,
    pub program: String,
    pub track: String,
    pub period: (String, String),
    pub year: Option<i64>,
    pub milestones: Vec<Milestone>,
}

fn part<'a>(parts: &'a [Value], name: &str) -> Option<&'a Value> {
    parts.iter().find(|p| p["name"] == name)
}

fn text(v: Option<&Value>, key: &str) -> Option<String> {
    v.and_then(|p| p[key].as_str()).map(str::to_string)
}

impl Practice {
    /// Reads `$milestones`' Parameters.
    pub fn from_parameters(id: &str, p: &Value) -> Practice {
        let params = p["parameter"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let period = part(params, "period");
        let milestones = params
            .iter()
            .filter(|x| x["name"] == "milestone")
            .map(|m| {
                let parts = m["part"].as_array().map(Vec::as_slice).unwrap_or_default();
                let int = |k: &str| part(parts, k).and_then(|v| v["valueInteger"].as_i64());
                let dec = |k: &str| part(parts, k).and_then(|v| v["valueDecimal"].as_f64());
                // `Measure/{id}/$evaluate-measure?…`
                let measure = text(part(parts, "evidence-report"), "valueString")
                    .and_then(|r| r.split('/').nth(1).map(str::to_string));
                Milestone {
                    id: text(part(parts, "id"), "valueString").unwrap_or_default(),
                    title: text(part(parts, "title"), "valueString").unwrap_or_default(),
                    block: int("buildingBlock").unwrap_or_default(),
                    evidence: text(part(parts, "evidence"), "valueCode").unwrap_or_default(),
                    status: text(part(parts, "status"), "valueCode").unwrap_or_default(),
                    reason: text(part(parts, "reason"), "valueString"),
                    threshold: dec("threshold"),
                    numerator: int("numerator"),
                    denominator: int("denominator"),
                    score: dec("score"),
                    count: int("count"),
                    measure,
                }
            })
            .collect();
        Practice {
            id: id.to_string(),
            program: text(part(params, "program"), "valueString").unwrap_or_default(),
            track: text(part(params, "track"), "valueString").unwrap_or_default(),
            period: (
                period
                    .and_then(|v| v["valuePeriod"]["start"].as_str())
                    .unwrap_or_default()
                    .into(),
                period
                    .and_then(|v| v["valuePeriod"]["end"].as_str())
                    .unwrap_or_default()
                    .into(),
            ),
            year: part(params, "projectYear").and_then(|v| v["valueInteger"].as_i64()),
            milestones,
        }
    }

    /// The building blocks with milestones, in order.
    pub fn blocks(&self) -> Vec<i64> {
        let mut b: Vec<i64> = self.milestones.iter().map(|m| m.block).collect();
        b.sort_unstable();
        b.dedup();
        b
    }

    /// A building block's state: met when every milestone is; otherwise the
    /// most telling of not met, not yet computable and in progress.
    pub fn block_status(&self, block: i64) -> &'static str {
        let of: Vec<&str> = self
            .milestones
            .iter()
            .filter(|m| m.block == block && m.status != "not-applicable")
            .map(|m| m.status.as_str())
            .collect();
        if of.is_empty() {
            "not-applicable"
        } else if of.iter().all(|s| *s == "met") {
            "met"
        } else if of.contains(&"not-met") {
            "not-met"
        } else if of.contains(&"not-computable") {
            "not-computable"
        } else {
            "in-progress"
        }
    }
}

/// The words for a status (colour is never the only signal).
pub fn status_label(code: &str) -> &'static str {
    match code {
        "met" => "Met",
        "not-met" => "Not met",
        "in-progress" => "In progress",
        "not-computable" => "Not yet computable",
        "not-applicable" => "Not applicable",
        _ => "Unknown",
    }
}

fn status_class(code: &str) -> &'static str {
    match code {
        "met" => "met",
        "not-met" => "not-met",
        "in-progress" => "in-progress",
        _ => "unknown",
    }
}

fn status_cell(code: &str) -> Markup {
    html! { td class=(status_class(code)) { (status_label(code)) } }
}

/// Good standing for the year, if judged: (in standing, reasons).
pub type Standing = Option<(bool, Vec<String>)>;

/// One practice's row of the portfolio.
pub struct Row {
    pub practice: Practice,
    pub standing: Standing,
    pub next: Option<crate::service::feed::NextSubmission>,
}

impl Practice {
    /// The milestone furthest short of its threshold among those still
    /// open (in progress or not met, with a computed share): (id, share,
    /// threshold). The portfolio ranks practices by it — the likeliest to
    /// miss their next milestone first.
    pub fn furthest_short(&self) -> Option<(&str, f64, f64)> {
        self.milestones
            .iter()
            .filter(|m| matches!(m.status.as_str(), "in-progress" | "not-met"))
            .filter_map(|m| Some((m.id.as_str(), m.score?, m.threshold?)))
            .filter(|(_, s, t)| *t <= 1.0 && s < t)
            .max_by(|a, b| (a.2 - a.1).total_cmp(&(b.2 - b.1)))
    }
}

/// The portfolio: each practice with its building blocks, ranked by the
/// furthest shortfall against a milestone's threshold.
pub fn portfolio(rows: &mut [Row], unavailable: &[(String, String)]) -> Markup {
    let gap = |r: &Row| r.practice.furthest_short().map_or(0.0, |(_, s, t)| t - s);
    rows.sort_by(|a, b| {
        gap(b)
            .total_cmp(&gap(a))
            .then(a.practice.id.cmp(&b.practice.id))
    });
    let mut blocks: Vec<i64> = rows.iter().flat_map(|r| r.practice.blocks()).collect();
    blocks.sort_unstable();
    blocks.dedup();
    html! {
        @if rows.is_empty() && unavailable.is_empty() {
            p { "No practices are assigned to you." }
        }
        @if !rows.is_empty() {
            table #portfolio {
                caption { "Milestone status by building block, current project year" }
                thead { tr {
                    th scope="col" { "Practice" }
                    th scope="col" { "Program (track)" }
                    th scope="col" { "Good standing" }
                    th scope="col" { "Furthest short" }
                    th scope="col" { "Next submission" }
                    @for b in &blocks { th scope="col" { "BB" (b) } }
                } }
                tbody {
                    @for r in rows.iter() {
                        @let p = &r.practice;
                        tr data-practice=(p.id) {
                            th scope="row" { a href={ "/app/practice/" (p.id) } { (p.id) } }
                            td { (p.program) " (" (p.track) ")" }
                            @match &r.standing {
                                Some((true, _)) => td.met { "In good standing" },
                                Some((false, why)) => td.not-met title=(why.join("; ")) { "Not in good standing" },
                                None => td.unknown { "Not judged" },
                            }
                            td {
                                @match p.furthest_short() {
                                    Some((id, score, t)) => { (id) ": " (percent(score)) " of " (percent(t)) },
                                    None => span.muted { "none open" },
                                }
                            }
                            td {
                                @match &r.next {
                                    Some(n) => { (n.period) ", due " (n.due) ": "
                                        span class=(match n.state.as_str() { "accepted" => "met", "missing" | "failed" | "held" => "not-met", _ => "in-progress" }) { (n.state) } },
                                    None => span.muted { "none" },
                                }
                            }
                            @for b in &blocks { (status_cell(p.block_status(*b))) }
                        }
                    }
                }
            }
        }
        @for (id, why) in unavailable {
            p.muted { (id) ": " (why) }
        }
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A practice's milestone grid.
pub fn practice(p: &Practice) -> Markup {
    html! {
        p { "Program " (p.program) ", track " (p.track)
            @if let Some(y) = p.year { ", project year " (y) }
            ", " (p.period.0) " to " (p.period.1) "." }
        table #milestones {
            caption { "Milestones" }
            thead { tr {
                th scope="col" { "Milestone" }
                th scope="col" { "Building block" }
                th scope="col" { "Status" }
                th scope="col" { "Value" }
                th scope="col" { "Threshold" }
                th scope="col" { "Evidence" }
            } }
            tbody {
                @for m in &p.milestones {
                    tr {
                        th scope="row" { (m.id) br; span.muted { (m.title) } }
                        td.num { (m.block) }
                        td class=(status_class(&m.status)) {
                            (status_label(&m.status))
                            @if let Some(r) = &m.reason { br; span.muted { (r) } }
                        }
                        td.num {
                            @match (m.numerator, m.denominator) {
                                (Some(n), Some(d)) => {
                                    (n) " / " (d)
                                    @if let Some(s) = m.score { " (" (percent(s)) ")" }
                                    @if d < 11 { br; span.small-n { "small denominator (< 11)" } }
                                },
                                _ => @if let Some(c) = m.count { (c) } @else { "—" },
                            }
                        }
                        td.num {
                            // A proportion's threshold is a share; a count's is a number.
                            @match (m.threshold, m.denominator) {
                                (Some(t), Some(_)) => (percent(t)),
                                (Some(t), None) => (t),
                                (None, _) => "—",
                            }
                        }
                        td {
                            @if let Some(measure) = &m.measure {
                                a href={ "/app/practice/" (p.id) "/milestone/" (measure)
                                         "?periodStart=" (p.period.0) "&periodEnd=" (p.period.1) } {
                                    "Patients" span.visually-hidden { " behind " (m.id) }
                                }
                            } @else { (m.evidence) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, status: &str, score: Option<f64>, threshold: Option<f64>) -> Milestone {
        Milestone {
            id: id.into(),
            title: String::new(),
            block: 7,
            evidence: "computed".into(),
            status: status.into(),
            reason: None,
            threshold,
            numerator: None,
            denominator: None,
            score,
            count: None,
            measure: None,
        }
    }

    fn practice(id: &str, milestones: Vec<Milestone>) -> Row {
        Row {
            practice: Practice {
                id: id.into(),
                program: "p".into(),
                track: "t".into(),
                period: (String::new(), String::new()),
                year: Some(1),
                milestones,
            },
            standing: None,
            next: None,
        }
    }

    #[test]
    fn practices_furthest_short_of_an_open_milestone_come_first() {
        let near = practice(
            "near",
            vec![m("BB7.Y1.2", "in-progress", Some(0.22), Some(0.25))],
        );
        let far = practice(
            "far",
            vec![
                m("BB7.Y1.2", "in-progress", Some(0.30), Some(0.25)),
                m("BB3.Y1.1", "not-met", Some(0.40), Some(0.75)),
                // Met or without a share: not a shortfall.
                m("BB9.Y2.1", "met", Some(0.10), Some(0.50)),
                m("BB1.Y1.1", "in-progress", None, Some(150.0)),
            ],
        );
        let clear = practice("clear", vec![m("BB7.Y1.2", "met", Some(0.9), Some(0.25))]);
        assert_eq!(
            far.practice.furthest_short(),
            Some(("BB3.Y1.1", 0.40, 0.75))
        );
        assert_eq!(clear.practice.furthest_short(), None);
        let mut rows = vec![clear, near, far];
        let html = portfolio(&mut rows, &[]).into_string();
        let order: Vec<&str> = rows.iter().map(|r| r.practice.id.as_str()).collect();
        assert_eq!(order, ["far", "near", "clear"]);
        assert!(html.contains("BB3.Y1.1: 40.0% of 75.0%"));
    }
}
