//! The per-provider CQM view: for the last complete quarter's submission
//! period, each practitioner's numerator, denominator and rate on every
//! required CQM, with the practice's own figure above for comparison.
//! Numbers only — no patient is named — so overseers see it as members do.

use maud::{Markup, html};

use crate::service::charts::Providers;

fn cell(n: i64, d: i64) -> Markup {
    html! {
        @if d > 0 {
            (format!("{:.1}%", n as f64 * 100.0 / d as f64)) br;
            span.muted { (n) " / " (d) }
            @if d < super::charts::SMALL_N { " " span.small-n { "(small)" } }
        } @else {
            span.muted { "—" }
        }
    }
}

/// The table (or why there is none yet).
pub fn page(view: Option<&Providers>) -> Markup {
    let Some(v) = view else {
        return html! { p.muted { "Not computed yet: the chart refresh computes it." } };
    };
    html! {
        p { "CQMs over " (v.period_start) " to " (v.period_end) " (the period submitted for "
            (v.quarter) "), each patient counted for the practitioner the measure attributes them to: "
            "the performer of a qualifying encounter, or the patient's primary care provider for "
            "measures without one. A patient may count for several practitioners." }
        table #providers {
            caption { "CQM rates by provider" }
            thead { tr {
                th scope="col" { "Provider" }
                @for (key, title) in &v.columns { th scope="col" data-series=(key) { (title) } }
            } }
            tbody {
                tr.practice {
                    th scope="row" { "Whole practice" }
                    @for (n, d) in &v.practice { td.num data-n=(n) data-d=(d) { (cell(*n, *d)) } }
                }
                @for r in &v.rows {
                    tr data-provider=(r.reference) {
                        th scope="row" { (r.name) }
                        @for (n, d) in &r.figures { td.num data-n=(n) data-d=(d) { (cell(*n, *d)) } }
                    }
                }
            }
        }
        @if v.rows.is_empty() { p.muted { "No patient is attributed to a practitioner in this period." } }
    }
}
