//! CQM run charts and the per-provider CQM view. A CQM is defined over a
//! measurement period of twelve months, so its monthly point is the rate
//! over the program's trailing reporting months (`cqm_months`) ending with
//! that month — the rolling figure a quarterly submission reports: the
//! point of a quarter's last month is the number the feed sends for it.
//! The per-provider view is the last complete quarter's submission period
//! sliced by the practitioner each patient is attributed to, by the
//! measure's own rule (as `$evaluate-measure?practitioner=` slices it).
//!
//! One pass over the practice evaluates every month and every provider:
//! records are read once, which is most of a pass's cost.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::measure::attribution::practitioners;
use crate::measure::catalog::{Catalog, MeasureDef};
use crate::measure::milestone::program::Quarter;
use crate::measure::run::{MeasureTally, Period};
use crate::service::feed::cqm_period;
use crate::service::measures::evaluate::COMPARTMENT_TYPES;
use crate::service::milestones::Enrolled;
use crate::service::population::{Reading, fold_records};
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;
use crate::store::charts::RatePoint;

/// Series keys of CQMs start with this.
pub const PREFIX: &str = "cqm-";

/// One charted CQM group: the series key, its measure and group.
#[derive(Debug, Clone, PartialEq)]
pub struct CqmSeries {
    /// `cqm-CMS2-1`: the track's measure name and the 1-based group.
    pub key: String,
    pub name: String,
    /// 0-based group of the measure.
    pub group: usize,
    pub title: String,
    /// Lower is better (the numerator is the gap).
    pub inverse: bool,
}

/// The series of the CQMs an enrolment's track and cohort report, in the
/// versions of the period ending `last`.
pub fn cqm_series(e: &Enrolled, last: NaiveDate) -> Vec<CqmSeries> {
    let catalog = Catalog::get();
    let mut out = Vec::new();
    for name in e.track.cqms.get(&e.enrolment.cohort).into_iter().flatten() {
        let Some(def) = catalog.for_period(name, cqm_period(e, last).first) else {
            continue;
        };
        let measure = catalog.measure(def);
        let groups = measure["group"].as_array().map_or(1, |g| g.len().max(1));
        let title = measure["title"].as_str().unwrap_or(def.id);
        for group in 0..groups {
            let part = if groups > 1 {
                format!(" (group {} of {groups})", group + 1)
            } else {
                String::new()
            };
            out.push(CqmSeries {
                key: format!("{PREFIX}{name}-{}", group + 1),
                name: name.clone(),
                group,
                title: format!("{name}: {title}{part}"),
                inverse: def.inverse,
            });
        }
    }
    out
}

/// The evaluation behind a CQM's point for the month ending `last`: the
/// measure version of its rolling period, over that period.
pub fn drill(e: &Enrolled, s: &CqmSeries, last: NaiveDate) -> Option<super::Drill> {
    let p = cqm_period(e, last);
    let def = Catalog::get().for_period(&s.name, p.first)?;
    Some(super::Drill {
        measure: def.id.to_string(),
        start: p.first.to_string(),
        end: p.last.to_string(),
        group: s.group + 1,
    })
}

/// A measure group's counts as a rate: numerator less its exclusions over
/// the denominator less exclusions and exceptions (the DEQM proportion).
pub fn rate_counts(c: &[u64; 6]) -> (i64, i64) {
    let den = c[1].saturating_sub(c[2]).saturating_sub(c[3]);
    (c[4].saturating_sub(c[5]) as i64, den as i64)
}

/// The per-provider view: each provider's figures for the required CQMs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Providers {
    /// The submission quarter whose period this is (`2026Q3`).
    pub quarter: String,
    pub period_start: String,
    pub period_end: String,
    /// Column headings: (series key, title).
    pub columns: Vec<(String, String)>,
    /// The whole practice's figures, one per column.
    pub practice: Vec<(i64, i64)>,
    pub rows: Vec<ProviderRow>,
}

/// One provider's figures, one (numerator, denominator) per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRow {
    /// `Practitioner/x`.
    pub reference: String,
    pub name: String,
    pub figures: Vec<(i64, i64)>,
}

/// The state of one pass: per month its tallies, and per provider theirs.
struct Pass {
    months: Vec<(String, Period, Vec<MeasureTally>)>,
    quarter: Period,
    defs: Vec<&'static MeasureDef>,
    /// The whole practice over the quarter's period.
    whole: Vec<MeasureTally>,
    providers: BTreeMap<String, Vec<MeasureTally>>,
}

impl FhirService {
    /// The monthly rolling points of the required CQMs over `months`, and
    /// the per-provider view of the last complete quarter, from one pass.
    pub(super) async fn cqm_pass(
        &self,
        ctx: &AccessContext,
        e: &Enrolled<'_>,
        months: &[(NaiveDate, NaiveDate)],
        today: NaiveDate,
    ) -> Result<(Vec<RatePoint>, Providers), ServiceError> {
        let catalog = Catalog::get();
        let names: Vec<String> = e
            .track
            .cqms
            .get(&e.enrolment.cohort)
            .cloned()
            .unwrap_or_default();
        if names.is_empty() {
            return Ok((Vec::new(), Providers::default()));
        }
        let for_period = |p: Period| -> Vec<&'static MeasureDef> {
            names
                .iter()
                .filter_map(|n| catalog.for_period(n, p.first))
                .collect()
        };
        let month_tallies = months
            .iter()
            .map(|(first, last)| {
                let p = cqm_period(e, *last);
                let tallies = for_period(p)
                    .into_iter()
                    .map(|d| MeasureTally::new(d, false))
                    .collect();
                (first.format("%Y-%m").to_string(), p, tallies)
            })
            .collect();
        let q = Quarter::of(today).previous();
        let quarter = cqm_period(e, q.last);
        let defs = for_period(quarter);
        let pass = Pass {
            months: month_tallies,
            quarter,
            whole: defs.iter().map(|d| MeasureTally::new(d, false)).collect(),
            defs,
            providers: BTreeMap::new(),
        };
        let pass = fold_records(
            &self.store,
            ctx,
            Reading::of(COMPARTMENT_TYPES),
            pass,
            |pass: &mut Pass, record| {
                let catalog = Catalog::get();
                for (_, period, tallies) in &mut pass.months {
                    for t in tallies {
                        t.feed(catalog, &record, *period);
                    }
                }
                let (first, last) = (pass.quarter.first, pass.quarter.last);
                for (i, def) in pass.defs.iter().enumerate() {
                    let results = pass.whole[i].feed(catalog, &record, pass.quarter);
                    for p in practitioners(&record, def.attribution, first, last) {
                        let tallies = pass.providers.entry(p).or_insert_with(|| {
                            pass.defs
                                .iter()
                                .map(|d| MeasureTally::new(d, false))
                                .collect()
                        });
                        tallies[i].add(record.id(), &results);
                    }
                }
            },
            |_, _| {},
        )
        .await?;
        let series = cqm_series(e, today);
        let mut points = Vec::new();
        for (month, _, tallies) in &pass.months {
            for s in &series {
                let Some(t) = tallies
                    .iter()
                    .find(|t| t.def.cms.eq_ignore_ascii_case(&s.name))
                else {
                    continue;
                };
                let counts = t.groups.get(s.group).map(|g| g.counts).unwrap_or_default();
                let (numerator, denominator) = rate_counts(&counts);
                points.push(RatePoint {
                    series: s.key.clone(),
                    month: month.clone(),
                    numerator,
                    denominator,
                });
            }
        }
        let figures = |tallies: &[MeasureTally]| -> Vec<(i64, i64)> {
            series
                .iter()
                .map(|s| {
                    tallies
                        .iter()
                        .find(|t| t.def.cms.eq_ignore_ascii_case(&s.name))
                        .and_then(|t| t.groups.get(s.group))
                        .map_or((0, 0), |g| rate_counts(&g.counts))
                })
                .collect()
        };
        let mut rows = Vec::new();
        for (reference, tallies) in &pass.providers {
            let figures = figures(tallies);
            let id = reference.trim_start_matches("Practitioner/");
            let name = self
                .store
                .read(ctx, "Practitioner", id)
                .await?
                .filter(|r| !r.deleted)
                .and_then(|r| serde_json::from_str(&r.body).ok())
                .map(|p| crate::fhir::name::display(&p))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| reference.clone());
            rows.push(ProviderRow {
                reference: reference.clone(),
                name,
                figures,
            });
        }
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        let providers = Providers {
            quarter: q.name,
            period_start: quarter.first.to_string(),
            period_end: quarter.last.to_string(),
            columns: series
                .iter()
                .map(|s| (s.key.clone(), s.title.clone()))
                .collect(),
            practice: figures(&pass.whole),
            rows,
        };
        Ok((points, providers))
    }
}
