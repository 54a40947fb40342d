//! Run charts drawn as inline SVG on the server: one point per month, the
//! median as centre line, the program's goal lines, and the signals of
//! `rules::runchart` marked by shape and named in words (colour is never
//! the only signal). Each chart is followed by its numbers as a table —
//! what a screen reader reads — with small denominators flagged and the
//! PDSA notes beside their month.

use maud::{Markup, html};

use crate::rules::runchart::{self, Analysis};
use crate::service::charts::Series;

/// Denominators below this are flagged (reporting.md: commonly 11).
pub const SMALL_N: i64 = 11;

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 36.0;

fn rate(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The series' rates, in month order (`None`: no denominator that month).
pub fn rates(s: &Series) -> Vec<Option<f64>> {
    s.points
        .iter()
        .map(|p| rate(p.numerator, p.denominator))
        .collect()
}

fn y(v: f64) -> f64 {
    TOP + (1.0 - v.clamp(0.0, 1.0)) * (H - TOP - BOTTOM)
}

fn x(i: usize, n: usize) -> f64 {
    let span = W - LEFT - RIGHT;
    if n <= 1 {
        LEFT + span / 2.0
    } else {
        LEFT + span * i as f64 / (n - 1) as f64
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// What the rules found, in words.
pub fn signals(a: &Analysis) -> Vec<String> {
    let mut out = Vec::new();
    if !a.enough() {
        out.push(format!(
            "{} useful points: the run-chart rules need at least {}.",
            a.useful,
            runchart::MIN_POINTS
        ));
        return out;
    }
    if !a.shift.is_empty() {
        out.push(format!(
            "Shift: {} points in runs of {} or more on one side of the median.",
            a.shift.len(),
            runchart::SHIFT
        ));
    }
    if a.longest_run > a.longest_run_max {
        out.push(format!(
            "Longest run {} (more than {} expected by chance).",
            a.longest_run, a.longest_run_max
        ));
    }
    if a.crossings < a.crossings_min {
        out.push(format!(
            "Only {} crossings of the median (at least {} expected by chance).",
            a.crossings, a.crossings_min
        ));
    }
    if !a.astronomical.is_empty() {
        out.push(format!("{} astronomical point(s).", a.astronomical.len()));
    }
    if out.is_empty() {
        out.push("No signal: the variation looks random.".into());
    }
    out
}

/// The chart itself. Inside `<svg>` the HTML parser needs every element
/// closed (`<line …></line>`): maud's `;` would leave `<line …>` open and
/// swallow what follows, so SVG elements are written with `{}`.
fn svg(s: &Series, a: &Analysis, id: &str) -> Markup {
    let r = rates(s);
    let n = r.len();
    let label = |i: usize| s.points[i].month.clone();
    let line: Vec<String> = r
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i, n), y(v))))
        .collect();
    html! {
        svg.runchart width=(W) height=(H) viewBox={ "0 0 " (W) " " (H) } role="img"
            aria-labelledby={ (id) "-title" } {
            title id={ (id) "-title" } { (s.title) ": monthly rate, median and goals" }
            // Axes and 0/50/100% gridlines.
            @for g in [0.0, 0.5, 1.0] {
                line.grid x1=(LEFT) x2=(W - RIGHT) y1=(y(g)) y2=(y(g)) stroke="#ccc" {}
                text x=(LEFT - 6.0) y=(y(g) + 4.0) text-anchor="end" font-size="11" { (pct(g)) }
            }
            @for (i, m) in s.points.iter().enumerate() {
                @if i % 3 == 0 || i + 1 == n {
                    text x=(x(i, n)) y=(H - 14.0) text-anchor="middle" font-size="11" { (m.month) }
                }
            }
            @for (goal, t) in &s.goals {
                line.goal x1=(LEFT) x2=(W - RIGHT) y1=(y(*t)) y2=(y(*t)) stroke="#7a4a00"
                    stroke-dasharray="2 4" data-goal=(t) {}
                text x=(W - RIGHT + 4.0) y=(y(*t) + 4.0) font-size="11" fill="#7a4a00" { "goal " (pct(*t)) " (" (goal) ")" }
            }
            @if let Some(m) = a.median {
                line.median x1=(LEFT) x2=(W - RIGHT) y1=(y(m)) y2=(y(m)) stroke="#555"
                    stroke-dasharray="8 4" data-value=(m) {}
                text x=(LEFT + 4.0) y=(y(m) - 4.0) font-size="11" fill="#333" { "median " (pct(m)) }
            }
            polyline points=(line.join(" ")) fill="none" stroke="#0b57a4" stroke-width="1.5" {}
            @for (i, v) in r.iter().enumerate() {
                @if let Some(v) = v {
                    @let p = &s.points[i];
                    @let shift = a.shift.contains(&i);
                    @let astro = a.astronomical.contains(&i);
                    @let small = p.denominator < SMALL_N;
                    @let cls = if shift { "point shift" } else if astro { "point astronomical" } else { "point" };
                    @if shift {
                        // A square: part of a shift.
                        rect class=(cls) x=(x(i, n) - 5.0) y=(y(*v) - 5.0) width="10" height="10"
                            fill="#a3161a" data-month=(label(i)) data-rate=(v) data-n=(p.denominator) {
                            title { (label(i)) ": " (pct(*v)) ", part of a shift" }
                        }
                    } @else if astro {
                        polygon class=(cls) points={ (x(i, n)) "," (y(*v) - 7.0) " " (x(i, n) - 6.0) "," (y(*v) + 5.0) " " (x(i, n) + 6.0) "," (y(*v) + 5.0) }
                            fill="#a3161a" data-month=(label(i)) data-rate=(v) data-n=(p.denominator) {
                            title { (label(i)) ": " (pct(*v)) ", astronomical" }
                        }
                    } @else {
                        circle class=(cls) cx=(x(i, n)) cy=(y(*v)) r="4"
                            fill=(if small { "#fff" } else { "#0b57a4" }) stroke="#0b57a4"
                            data-month=(label(i)) data-rate=(v) data-n=(p.denominator) {
                            title { (label(i)) ": " (pct(*v)) @if small { ", small denominator" } }
                        }
                    }
                    @if s.notes.iter().any(|note| note.month == p.month) {
                        text.note-mark x=(x(i, n)) y=(y(*v) - 10.0) text-anchor="middle" font-size="11" { "✎" }
                    }
                }
            }
        }
    }
}

/// One run chart with its signals, numbers, notes and the note form.
pub fn chart(s: &Series, org: &str, csrf: &str) -> Markup {
    let a = runchart::analyse(&rates(s));
    let id = format!("chart-{}", s.computation);
    html! {
        figure.chart id=(id) {
            figcaption { (s.title) @if s.inverse { " — lower is better" } }
            (submitted(s))
            @if s.points.is_empty() {
                p.muted { "No monthly rates yet: they are computed by the chart refresh." }
            } @else {
                (svg(s, &a, &id))
                ul.signals { @for line in signals(&a) { li { (line) } } }
                p.muted { "Key: circle = month; hollow circle = fewer than " (SMALL_N)
                    " in the denominator; square = part of a shift; triangle = astronomical; ✎ = PDSA note." }
                details {
                    summary { "Numbers and notes for " (s.title) }
                    table {
                        thead { tr { th scope="col" { "Month" } th scope="col" { "Numerator" }
                            th scope="col" { "Denominator" } th scope="col" { "Rate" } th scope="col" { "Notes" } } }
                        tbody {
                            @for (i, p) in s.points.iter().enumerate() {
                                tr data-month=(p.month) data-n=(p.numerator) data-d=(p.denominator) {
                                    th scope="row" { (p.month) }
                                    td.num { @match s.drill.get(i).cloned().flatten() {
                                        Some(d) => a href={ "/app/practice/" (org) "/milestone/" (d.measure)
                                            "?periodStart=" (d.start) "&periodEnd=" (d.end) "&group=" (d.group) }
                                            aria-label={ (p.numerator) " in the numerator, " (p.month) ": the patients" } { (p.numerator) },
                                        None => (p.numerator),
                                    } }
                                    td.num { (p.denominator) @if p.denominator < SMALL_N { " " span.small-n { "(small)" } } }
                                    td.num { @if let Some(r) = rate(p.numerator, p.denominator) { (pct(r)) } @else { "—" } }
                                    td { @for note in s.notes.iter().filter(|n| n.month == p.month) {
                                        p { (note.text) " — " span.muted { (note.author) } }
                                    } }
                                }
                            }
                        }
                    }
                }
                form.note method="post" action={ "/app/practice/" (org) "/notes" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="series" value=(s.computation);
                    label for={ (id) "-month" } { "PDSA note for month" }
                    select id={ (id) "-month" } name="month" {
                        @for p in s.points.iter().rev() { option value=(p.month) { (p.month) } }
                    }
                    label for={ (id) "-text" } { "Note" }
                    input id={ (id) "-text" } name="text" type="text" maxlength="2000" required;
                    button type="submit" { "Add note" }
                }
            }
        }
    }
}

/// The figure last submitted for the series, beside its chart.
fn submitted(s: &Series) -> Markup {
    html! {
        @if let Some(f) = &s.submitted {
            p.submitted data-quarter=(f.quarter) data-n=(f.numerator) data-d=(f.denominator) {
                "Submitted for " (f.quarter) " (" (f.period_start) " to " (f.period_end) "): "
                strong { @match rate(f.numerator, f.denominator) {
                    Some(r) => (pct(r)),
                    None => "no denominator",
                } }
                " (" (f.numerator) " of " (f.denominator) "), " (f.state) "."
            }
        } @else {
            p.submitted.muted { "Nothing submitted for it yet." }
        }
    }
}

/// When the rates were computed, and a button to recompute them now.
pub fn refresh_form(org: &str, csrf: &str, computed_ms: Option<i64>) -> Markup {
    html! {
        form.refresh method="post" action={ "/app/practice/" (org) "/refresh-charts" } {
            input type="hidden" name="csrf" value=(csrf);
            @match computed_ms {
                Some(ms) => span.muted { "Monthly rates computed "
                    (crate::fhir::datetime::format_instant_ms(ms)) ". " },
                None => span.muted { "Monthly rates not computed yet. " },
            }
            button type="submit" { "Recompute now" }
            span.muted { " (runs in the background; reload the page to see it)" }
        }
    }
}
