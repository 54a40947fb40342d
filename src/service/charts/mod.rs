//! Run charts for the web app: monthly rates of the integration milestones
//! a practice is coached on (screening, connection to BH resources, 7-day
//! contact after discharge, two-way exchange, empanelment), each computed by
//! the milestone engine over one calendar month — the same definitions as
//! `$milestones`, so a chart point and the API never disagree — and kept in
//! the store so a page reads them instead of recomputing two years.
//!
//! Refreshed by the scheduler (`[app] charts_refresh_secs`) and on demand
//! (`POST Organization/{id}/$refresh-charts`). PDSA notes are kept beside
//! the points, written by the people who read the charts.

use chrono::{Datelike, Months, NaiveDate};
use serde_json::{Value, json};

use crate::auth::policy::Interaction;
use crate::fhir::datetime::{day_start_ms, utc_date};
use crate::fhir::outcome::Issue;
use crate::measure::milestone::population::Window;
use crate::measure::milestone::standing::Finding;
use crate::service::milestones::evidence::Scope;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;
use crate::store::charts::{Note, RatePoint};

mod cqm;
mod kept;
mod submitted;

pub use cqm::{CqmSeries, ProviderRow, Providers, cqm_series};
pub use submitted::Submitted;

/// The computations charted, with their titles.
pub const CHARTED: &[(&str, &str)] = &[
    ("bh-screening", "Behavioral health screening"),
    ("bh-connected", "Positive screens connected to BH resources"),
    ("discharge-contact", "Contact within 7 days of a discharge"),
    (
        "two-way-exchange",
        "Two-way exchange with BH partners within 7 days",
    ),
    ("empanelment", "Active patients empaneled"),
];

/// Months charted back from the current one.
pub const MONTHS: u32 = 24;
/// Longest PDSA note.
const NOTE_LIMIT: usize = 2000;

/// One chart: a series of monthly points with its goals and notes.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub computation: String,
    pub title: String,
    /// (milestone id, threshold share) of every milestone on this computation.
    pub goals: Vec<(String, f64)>,
    pub points: Vec<RatePoint>,
    pub notes: Vec<Note>,
    /// Lower is better (an inverse CQM): goals and shifts read downwards.
    pub inverse: bool,
    /// The figure last submitted to the program for this series.
    pub submitted: Option<Submitted>,
    /// Per point, the evaluation behind it (for the drill-down).
    pub drill: Vec<Option<Drill>>,
}

/// The Measure and period whose subject list is behind a count.
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    /// Tandem's Measure id (`colorado-sim-BB7.Y1.2`, `CMS2-2026`).
    pub measure: String,
    /// `YYYY-MM-DD`, inclusive.
    pub start: String,
    pub end: String,
    /// The measure's group, 1-based.
    pub group: usize,
}

/// The calendar month `2026-03` as its first and last day.
fn month_bounds(month: &str) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    Some((first, (first + Months::new(1)).pred_opt()?))
}

impl Series {
    /// A CQM's rolling rate (rather than a milestone's monthly one).
    pub fn is_cqm(&self) -> bool {
        self.computation.starts_with(cqm::PREFIX)
    }
}

/// A practice's charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Charts {
    pub practice: String,
    pub series: Vec<Series>,
    /// When the points were last computed.
    pub computed_ms: Option<i64>,
}

/// The months ending with the one holding `today`, at most [`MONTHS`],
/// none before `from`: (first day, last day).
pub fn months(from: NaiveDate, today: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let this = today.with_day(1).expect("day 1 exists");
    let first = from.with_day(1).expect("day 1 exists");
    let mut out = Vec::new();
    for back in (0..MONTHS).rev() {
        let start = this - Months::new(back);
        if start < first {
            continue;
        }
        let end = (start + Months::new(1)).pred_opt().expect("a day before");
        out.push((start, end));
    }
    out
}

impl FhirService {
    /// Recomputes a practice's monthly points; returns how many.
    pub async fn refresh_charts(&self, practice: &str) -> Result<usize, ServiceError> {
        let Some(e) = self.settings.programs.enrolled(practice) else {
            return Ok(0);
        };
        let ctx = AccessContext::internal(practice, "refresh-charts");
        let picked: Vec<_> = CHARTED
            .iter()
            .filter_map(|(c, _)| {
                e.catalog
                    .milestones
                    .iter()
                    .find(|m| m.computation.as_deref() == Some(*c))
            })
            .collect();
        let from = e
            .program
            .years
            .first()
            .copied()
            .unwrap_or(e.enrolment.start);
        let now = self.clock.now_ms();
        let today = utc_date(now);
        let span = months(from, today);
        let mut points = Vec::new();
        for &(first, last) in &span {
            let end = day_start_ms(last) + 86_400_000;
            let scope = Scope {
                start_ms: day_start_ms(first),
                end_ms: end,
                window: Window::new(first, last, e.program.reporting.active_lookback_months),
                open: now < end,
            };
            for a in self.assess_milestones(&ctx, &picked, &scope).await? {
                if let Finding::Ratio {
                    numerator,
                    denominator,
                    ..
                } = &a.finding
                {
                    points.push(RatePoint {
                        series: a.milestone.computation.clone().unwrap_or_default(),
                        month: first.format("%Y-%m").to_string(),
                        numerator: numerator.len() as i64,
                        denominator: denominator.len() as i64,
                    });
                }
            }
        }
        let (cqm_points, providers) = self.cqm_pass(&ctx, &e, &span, today).await?;
        points.extend(cqm_points);
        let n = points.len();
        let providers = serde_json::to_string(&providers).expect("plain data serializes");
        self.store
            .put_summary(practice, "providers", &providers, now)
            .await?;
        // The pages' milestone grid and good standing for the year running;
        // the rates last, so their time says everything is kept.
        if let Some(year) = self.current_year(practice) {
            let pairs = vec![("projectYear".to_string(), year.to_string())];
            let (report, lists) = self.milestones_with_lists(&ctx, practice, &pairs).await?;
            self.store
                .put_summary(practice, "milestones", &report.to_string(), now)
                .await?;
            self.store
                .put_summary(practice, "lists", &lists.to_string(), now)
                .await?;
            if let Ok(standing) = self.good_standing_report(&ctx, practice, &pairs).await {
                self.store
                    .put_summary(practice, "standing", &standing.to_string(), now)
                    .await?;
            }
        }
        self.store.put_rate_points(practice, points, now).await?;
        Ok(n)
    }

    /// The project year running today for a practice (the last once the
    /// program has ended, the first before it starts).
    pub fn current_year(&self, practice: &str) -> Option<u8> {
        let e = self.settings.programs.enrolled(practice)?;
        let today = utc_date(self.clock.now_ms());
        e.program.year_of(today).or_else(|| {
            let started = e.program.years.first().is_some_and(|f| today >= *f);
            Some(if started {
                e.program.years.len() as u8
            } else {
                1
            })
        })
    }

    /// A kept page summary (`milestones`, `standing`) of the current year,
    /// for whoever may read the practice's milestones.
    pub async fn page_summary(
        &self,
        ctx: &AccessContext,
        org: &str,
        kind: &str,
    ) -> Result<Option<(Value, i64)>, ServiceError> {
        self.milestone_access(ctx, org)?;
        Ok(self
            .store
            .summary(org, kind)
            .await?
            .and_then(|(doc, at)| serde_json::from_str(&doc).ok().map(|v| (v, at))))
    }

    /// The kept per-provider CQM view, for whoever may read the practice's
    /// milestones (numbers only: no patient is named).
    pub async fn providers(
        &self,
        ctx: &AccessContext,
        org: &str,
    ) -> Result<Option<(Providers, i64)>, ServiceError> {
        Ok(self
            .page_summary(ctx, org, "providers")
            .await?
            .and_then(|(v, at)| serde_json::from_value(v).ok().map(|p| (p, at))))
    }

    /// Refreshes every enrolled practice (the scheduler's job).
    pub async fn refresh_all_charts(&self) {
        for practice in self.settings.programs.practices() {
            if let Err(e) = self.refresh_charts(&practice).await {
                tracing::error!(error = %e, "chart refresh failed for a practice");
            }
        }
    }

    /// A practice's charts, for whoever may read its milestones.
    pub async fn charts(&self, ctx: &AccessContext, org: &str) -> Result<Charts, ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        let (points, computed_ms) = self.store.rate_points(org).await?;
        let notes = self.store.notes(org).await?;
        let ledger = self.last_submission(org, e.program).await?;
        let mut series: Vec<Series> = CHARTED
            .iter()
            .filter(|(c, _)| {
                e.catalog
                    .milestones
                    .iter()
                    .any(|m| m.computation.as_deref() == Some(*c))
            })
            .map(|(c, title)| Series {
                computation: c.to_string(),
                title: title.to_string(),
                goals: e
                    .catalog
                    .milestones
                    .iter()
                    .filter(|m| m.computation.as_deref() == Some(*c))
                    .filter_map(|m| m.threshold.map(|t| (m.id.clone(), t)))
                    .collect(),
                points: points.iter().filter(|p| p.series == *c).cloned().collect(),
                notes: notes.iter().filter(|n| n.series == *c).cloned().collect(),
                inverse: false,
                submitted: ledger.as_ref().and_then(|l| l.milestone(&e, c)),
                drill: Vec::new(),
            })
            .collect();
        // A month's milestone point is the milestone over that month.
        for s in &mut series {
            let measure = e
                .catalog
                .milestones
                .iter()
                .find(|m| m.computation.as_deref() == Some(s.computation.as_str()))
                .map(|m| m.measure_id.clone());
            s.drill = s
                .points
                .iter()
                .map(|p| {
                    let (first, last) = month_bounds(&p.month)?;
                    Some(Drill {
                        measure: measure.clone()?,
                        start: first.to_string(),
                        end: last.to_string(),
                        group: 1,
                    })
                })
                .collect();
        }
        let today = utc_date(self.clock.now_ms());
        series.extend(cqm_series(&e, today).into_iter().map(|s| {
            let points: Vec<RatePoint> = points
                .iter()
                .filter(|p| p.series == s.key)
                .cloned()
                .collect();
            Series {
                drill: points
                    .iter()
                    .map(|p| cqm::drill(&e, &s, month_bounds(&p.month)?.1))
                    .collect(),
                points,
                notes: notes
                    .iter()
                    .filter(|n| n.series == s.key)
                    .cloned()
                    .collect(),
                goals: Vec::new(),
                inverse: s.inverse,
                submitted: ledger.as_ref().and_then(|l| l.cqm(&s)),
                computation: s.key,
                title: s.title,
            }
        }));
        Ok(Charts {
            practice: org.to_string(),
            series,
            computed_ms,
        })
    }

    /// Adds a PDSA note to a chart's point; the author is the signed-in
    /// person (or the client).
    pub async fn add_pdsa_note(
        &self,
        ctx: &AccessContext,
        org: &str,
        series: &str,
        month: &str,
        text: &str,
    ) -> Result<i64, ServiceError> {
        self.allow(ctx, "MeasureReport", Interaction::Read)?;
        let bad = |m: String| ServiceError::bad(Issue::error("invalid", m));
        let e = self.milestone_access(ctx, org)?;
        let cqm = cqm_series(&e, utc_date(self.clock.now_ms()));
        if !CHARTED.iter().any(|(c, _)| *c == series) && !cqm.iter().any(|s| s.key == series) {
            return Err(bad(format!("'{series}' is not a charted series.")));
        }
        if month_bounds(month).is_none() {
            return Err(bad(format!("month '{month}' must be YYYY-MM.")));
        }
        let text = text.trim();
        if text.is_empty() || text.chars().count() > NOTE_LIMIT {
            return Err(bad(format!("A note is 1-{NOTE_LIMIT} characters.")));
        }
        let author = ctx
            .grant
            .person
            .as_ref()
            .map_or(ctx.client_id.clone(), |p| p.name.clone());
        let note = Note {
            id: 0,
            series: series.to_string(),
            month: month.to_string(),
            author,
            text: text.to_string(),
            created_ms: self.clock.now_ms(),
        };
        Ok(self.store.add_note(org, note).await?)
    }

    /// Whether `ctx` may recompute the practice's charts: its own users.
    pub fn may_refresh_charts(&self, ctx: &AccessContext, org: &str) -> Result<(), ServiceError> {
        self.practice_user(
            ctx,
            org,
            ("MeasureReport", Interaction::Read),
            "A practice's charts are refreshed",
        )?;
        self.milestone_access(ctx, org)?;
        Ok(())
    }

    /// `POST Organization/{id}/$refresh-charts`: the practice's own users.
    pub async fn refresh_charts_op(
        &self,
        ctx: &AccessContext,
        org: &str,
    ) -> Result<Value, ServiceError> {
        self.may_refresh_charts(ctx, org)?;
        let n = self.refresh_charts(org).await?;
        Ok(json!({ "resourceType": "Parameters",
                   "parameter": [{ "name": "points", "valueInteger": n }] }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn months_run_back_to_the_start_and_at_most_two_years() {
        let m = months(d("2026-01-15"), d("2026-03-02"));
        assert_eq!(
            m,
            vec![
                (d("2026-01-01"), d("2026-01-31")),
                (d("2026-02-01"), d("2026-02-28")),
                (d("2026-03-01"), d("2026-03-31")),
            ]
        );
        let long = months(d("2020-01-01"), d("2026-12-03"));
        assert_eq!(long.len(), 24);
        assert_eq!(long[0].0, d("2025-01-01"));
        assert_eq!(long[23].1, d("2026-12-31"));
    }
}
