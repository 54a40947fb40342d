//! Shared pieces of the report operations (`$transitions`, `$referrals`):
//! the reporting period from the query, and a ratio rendered with its
//! numerator and denominator patients.

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use super::{FhirService, ServiceError};
use crate::auth::policy::Interaction;
use crate::fhir::outcome::Issue;
use crate::rules::toc_numbers::Ratio;
use crate::store::AccessContext;

impl FhirService {
    /// Who may ask for a practice's numbers (MeasureReport readers of that
    /// very practice, never a guest), and the period asked for.
    pub(crate) fn report_scope(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<(i64, i64), ServiceError> {
        self.allow(ctx, "MeasureReport", Interaction::Read)?;
        if org != ctx.tenant || ctx.guest {
            return Err(ServiceError::NotFound(Issue::error(
                "not-found",
                format!("Organization/{org} is not a practice this client reports on."),
            )));
        }
        period(pairs)
    }
}

/// A query parameter's first value.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

pub(crate) fn ratio(name: &str, r: &Ratio) -> Value {
    let mut part = vec![
        json!({ "name": "numerator", "valueInteger": r.numerator.len() }),
        json!({ "name": "denominator", "valueInteger": r.denominator.len() }),
    ];
    if let Some(p) = r.percent() {
        part.push(json!({ "name": "percent", "valueDecimal": (p * 10.0).round() / 10.0 }));
    }
    part.extend(
        r.numerator
            .iter()
            .map(|p| json!({ "name": "numeratorPatient", "valueReference": { "reference": p } })),
    );
    part.extend(
        r.denominator
            .iter()
            .map(|p| json!({ "name": "denominatorPatient", "valueReference": { "reference": p } })),
    );
    json!({ "name": name, "part": part })
}

/// `[start, end)` in ms from `period=YYYYQn` or `periodStart`/`periodEnd` (dates, end inclusive).
pub(crate) fn period(pairs: &[(String, String)]) -> Result<(i64, i64), ServiceError> {
    let get = |k: &str| param(pairs, k);
    let bad = |m: String| ServiceError::bad(Issue::error("invalid", m));
    let day = crate::fhir::datetime::day_start_ms;
    if let Some(p) = get("period") {
        let (y, q) = p
            .split_once('Q')
            .ok_or_else(|| bad(format!("period '{p}' must look like 2026Q3.")))?;
        let (y, q): (i32, u32) = (
            y.parse()
                .map_err(|_| bad(format!("period '{p}': bad year.")))?,
            q.parse()
                .map_err(|_| bad(format!("period '{p}': bad quarter.")))?,
        );
        let first = NaiveDate::from_ymd_opt(y, 3 * q.clamp(1, 4) - 2, 1)
            .filter(|_| (1..=4).contains(&q))
            .ok_or_else(|| bad(format!("period '{p}': quarter must be 1-4.")))?;
        let next = if q == 4 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(first.year(), first.month() + 3, 1)
        };
        return Ok((day(first), day(next.unwrap_or(first))));
    }
    let date = |k: &str| -> Result<NaiveDate, ServiceError> {
        let v = get(k).ok_or_else(|| {
            bad("Give period=YYYYQn, or periodStart and periodEnd (YYYY-MM-DD).".into())
        })?;
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| bad(format!("{k} '{v}' is not a date (YYYY-MM-DD).")))
    };
    Ok((
        day(date("periodStart")?),
        day(date("periodEnd")?.succ_opt().unwrap_or_default()),
    ))
}
