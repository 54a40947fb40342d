//! CQL date/time semantics, as far as the eCQMs use them.
//!
//! Decisions, following the CQL 1.5 specification (§ Date/Time operators):
//! - A value keeps the precision it was sent with. Comparing at a precision
//!   ("same day as", "during day of") compares component by component down to
//!   the coarser of the two values and that precision; if they are equal there
//!   but one value stops short of the asked precision, the answer is unknown
//!   (`None`), exactly as CQL's `SameAs`/`SameOrBefore` do.
//! - Values with an offset are normalised to UTC before comparison; values
//!   without one (dates, zone-less dateTimes) are read in UTC. The evaluation
//!   timezone is therefore UTC; the measurement period is
//!   `[start 00:00:00.000, end 23:59:59.999]` in UTC.
//! - Intervals are closed after construction: an open bound becomes the
//!   successor / predecessor at its own precision. A null closed low bound is
//!   the beginning of time, a null closed high bound the end of time; a null
//!   *open* bound is unknown — anywhere between the other bound and infinity —
//!   and comparisons with it are true or false only when every possible
//!   position agrees.
//! - Three-valued logic is `Option<bool>` (`None` = CQL null); a `where` keeps
//!   only `Some(true)`.

use chrono::{DateTime, Datelike, Months, NaiveDate, Timelike, Utc};
use std::cmp::Ordering;

use crate::fhir::datetime::parse_range;

/// CQL null-aware boolean.
pub type Tri = Option<bool>;

/// Kleene `and`.
pub fn and3(a: Tri, b: Tri) -> Tri {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// Kleene `or`.
pub fn or3(a: Tri, b: Tri) -> Tri {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// Precision of a date/time value, coarsest first; as the precision of a
/// comparison, also [`Prec::Unstated`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prec {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Milli,
    /// The CQL names no precision (`during`, `before`, `overlaps`, `<`, `=`
    /// on DateTimes): compare to the finest precision *both* values carry;
    /// unknown only when they are equal up to the coarser one and their
    /// precisions differ. Never a value's own precision.
    Unstated,
}

/// A CQL DateTime: the first UTC millisecond it denotes, and its precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dt {
    pub ms: i64,
    pub prec: Prec,
}

const DAY_MS: i64 = 86_400_000;

impl Dt {
    /// Reads a FHIR date, dateTime or instant.
    pub fn parse(text: &str) -> Option<Dt> {
        let r = parse_range(text)?;
        let width = r.end - r.start;
        let prec = match width {
            w if w < 1000 => Prec::Milli,
            1000 => Prec::Second,
            60_000 => Prec::Minute,
            3_600_000 => Prec::Hour,
            DAY_MS => Prec::Day,
            w if w <= 31 * DAY_MS => Prec::Month,
            _ => Prec::Year,
        };
        Some(Dt { ms: r.start, prec })
    }

    /// A whole day, as CQL `Date` values are used.
    pub fn date(y: i32, m: u32, d: u32) -> Option<Dt> {
        let nd = NaiveDate::from_ymd_opt(y, m, d)?;
        Some(Dt {
            ms: nd.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
            prec: Prec::Day,
        })
    }

    /// A millisecond-precision instant.
    pub fn at_ms(ms: i64) -> Dt {
        Dt {
            ms,
            prec: Prec::Milli,
        }
    }

    fn utc(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.ms).unwrap_or_default()
    }

    /// Calendar date (UTC) of the value's first instant.
    pub fn naive_date(&self) -> NaiveDate {
        self.utc().date_naive()
    }

    /// Components truncated to `p`, for ordering.
    fn key(&self, p: Prec) -> [i64; 7] {
        let t = self.utc();
        let all = [
            t.year() as i64,
            t.month() as i64,
            t.day() as i64,
            t.hour() as i64,
            t.minute() as i64,
            t.second() as i64,
            (t.nanosecond() / 1_000_000) as i64,
        ];
        let keep = p as usize + 1;
        let mut k = [0; 7];
        k[..keep].copy_from_slice(&all[..keep]);
        k
    }

    /// CQL comparison at precision `p` (`None` when unknown): component by
    /// component from the year down to `p`; a component only one value
    /// carries makes the answer unknown, and with [`Prec::Unstated`] the
    /// comparison stops, equal, where neither value carries one. Seconds and
    /// milliseconds are one precision, a decimal (CQL 1.5 Equal, Less: "for
    /// the purposes of comparison, seconds and milliseconds are combined as
    /// a single precision using a decimal"): `08:00:00` equals
    /// `08:00:00.000` and is before `23:59:59.999`'s last second only by the
    /// decimal — so a second-precision value on the measurement period's
    /// last second is inside it. Named `second` precision ignores the
    /// milliseconds.
    pub fn cmp_at(&self, other: &Dt, p: Prec) -> Option<Ordering> {
        let want = match p {
            Prec::Unstated => self.prec.max(other.prec),
            p => p,
        };
        let fold = |x: Prec| x.min(Prec::Second);
        let q = fold(want).min(fold(self.prec)).min(fold(other.prec));
        // Reaching the seconds with milliseconds wanted: compare the decimal
        // (a value without milliseconds has .000).
        let key = if q == Prec::Second && want == Prec::Milli {
            Prec::Milli
        } else {
            q
        };
        match self.key(key).cmp(&other.key(key)) {
            Ordering::Equal if q < fold(want) => None,
            o => Some(o),
        }
    }

    /// CQL `date from`: the value cut to day precision.
    pub fn date_part(&self) -> Dt {
        let prec = self.prec.min(Prec::Day);
        let d = self.naive_date();
        let ms = d
            .and_hms_opt(0, 0, 0)
            .map(|x| x.and_utc().timestamp_millis());
        Dt {
            ms: ms.unwrap_or(self.ms),
            prec,
        }
    }

    /// Adds calendar months (negative to subtract); the day is clamped to the
    /// month's end as CQL does (`2024-02-29 + 1 year = 2025-02-28`).
    pub fn add_months(&self, months: i32) -> Dt {
        let t = self.utc();
        let moved = if months >= 0 {
            t.checked_add_months(Months::new(months as u32))
        } else {
            t.checked_sub_months(Months::new((-months) as u32))
        };
        Dt {
            ms: moved.map(|m| m.timestamp_millis()).unwrap_or(self.ms),
            prec: self.prec,
        }
    }

    pub fn add_years(&self, years: i32) -> Dt {
        self.add_months(years * 12)
    }

    /// Adds whole days (negative to subtract).
    pub fn add_days(&self, days: i64) -> Dt {
        Dt {
            ms: self.ms + days * DAY_MS,
            prec: self.prec,
        }
    }

    /// The next value at this value's precision (for open low bounds).
    fn successor(&self) -> Dt {
        self.step(1)
    }

    /// The previous value at this value's precision (for open high bounds).
    fn predecessor(&self) -> Dt {
        self.step(-1)
    }

    fn step(&self, n: i32) -> Dt {
        let ms = match self.prec {
            Prec::Year => return self.add_months(12 * n),
            Prec::Month => return self.add_months(n),
            Prec::Day => DAY_MS,
            Prec::Hour => 3_600_000,
            Prec::Minute => 60_000,
            Prec::Second => 1000,
            // A value's precision is never Unstated (see `Prec`).
            Prec::Milli | Prec::Unstated => 1,
        };
        Dt {
            ms: self.ms + ms * n as i64,
            prec: self.prec,
        }
    }

    /// Whole calendar days from `self` to `other` (UTC dates).
    pub fn days_until(&self, other: &Dt) -> i64 {
        (other.naive_date() - self.naive_date()).num_days()
    }
}

/// Whole years between two dates, as CQL `years between` / `AgeInYearsAt`.
pub fn years_between(from: NaiveDate, to: NaiveDate) -> i32 {
    let mut years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

/// CQL `AgeInYearsAt(asOf)` for a DateTime `asOf`: `years between` the
/// day-precision birth date and `at`, as the lowest and highest possible
/// ages. On a birthday, when `at` carries a time of day, the unknown time of
/// birth leaves it uncertain (`(n - 1, n)`): CQL's duration between values of
/// different precision is an uncertainty.
pub fn age_at_datetime(birth: NaiveDate, at: &Dt) -> (i32, i32) {
    let on = at.naive_date();
    let years = years_between(birth, on);
    let birthday = (on.month(), on.day()) == (birth.month(), birth.day());
    if birthday && at.prec > Prec::Day && on != birth {
        (years - 1, years)
    } else {
        (years, years)
    }
}

/// `age >= n` for an uncertain age (see [`age_at_datetime`]).
pub fn at_least(age: (i32, i32), n: i32) -> Tri {
    if age.0 >= n {
        Some(true)
    } else if age.1 < n {
        Some(false)
    } else {
        None
    }
}

/// Whole months between two dates, as CQL `months between`.
pub fn months_between(from: NaiveDate, to: NaiveDate) -> i32 {
    let mut months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    if to.day() < from.day() {
        months -= 1;
    }
    months
}

/// One end of an interval, after construction.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    NegInf,
    At(Dt),
    PosInf,
}

/// A bound that may be uncertain: its true position lies in `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    min: End,
    max: End,
}

impl Bound {
    fn exact(e: End) -> Bound {
        Bound { min: e, max: e }
    }

    pub fn at(d: Dt) -> Bound {
        Bound::exact(End::At(d))
    }

    /// The value when the bound is known to one point.
    pub fn value(&self) -> Option<Dt> {
        match (self.min, self.max) {
            (End::At(a), End::At(b)) if a == b => Some(a),
            _ => None,
        }
    }
}

fn le_end(a: End, b: End, p: Prec) -> Tri {
    match (a, b) {
        (End::NegInf, _) | (_, End::PosInf) => Some(true),
        (End::PosInf, _) | (_, End::NegInf) => Some(false),
        (End::At(x), End::At(y)) => x.cmp_at(&y, p).map(|o| o != Ordering::Greater),
    }
}

/// `a <= b` at precision `p`, allowing for uncertain bounds.
pub fn le(a: Bound, b: Bound, p: Prec) -> Tri {
    if le_end(a.max, b.min, p) == Some(true) {
        Some(true)
    } else if le_end(a.min, b.max, p) == Some(false) {
        Some(false)
    } else {
        None
    }
}

/// A closed interval of DateTimes (see the module notes on null bounds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iv {
    pub lo: Bound,
    pub hi: Bound,
}

impl Iv {
    /// Builds `Interval[lo, hi]` with CQL's boundary rules.
    pub fn new(lo: Option<Dt>, lo_closed: bool, hi: Option<Dt>, hi_closed: bool) -> Iv {
        let lo_end = match (lo, lo_closed) {
            (Some(d), true) => Some(End::At(d)),
            (Some(d), false) => Some(End::At(d.successor())),
            (None, true) => Some(End::NegInf),
            (None, false) => None,
        };
        let hi_end = match (hi, hi_closed) {
            (Some(d), true) => Some(End::At(d)),
            (Some(d), false) => Some(End::At(d.predecessor())),
            (None, true) => Some(End::PosInf),
            (None, false) => None,
        };
        let lo = match lo_end {
            Some(e) => Bound::exact(e),
            None => Bound {
                min: End::NegInf,
                max: hi_end.unwrap_or(End::PosInf),
            },
        };
        let hi = match hi_end {
            Some(e) => Bound::exact(e),
            None => Bound {
                min: lo.min,
                max: End::PosInf,
            },
        };
        Iv { lo, hi }
    }

    /// CQL's null interval. Its bounds may be anywhere, so every comparison
    /// with them — and so every operator here — answers unknown, as CQL's
    /// operators on a null interval answer null.
    pub fn null() -> Iv {
        let anywhere = Bound {
            min: End::NegInf,
            max: End::PosInf,
        };
        Iv {
            lo: anywhere,
            hi: anywhere,
        }
    }

    /// `Interval[d, d]`.
    pub fn point(d: Dt) -> Iv {
        Iv::new(Some(d), true, Some(d), true)
    }

    /// `Interval[lo, hi]` with both ends known.
    pub fn closed(lo: Dt, hi: Dt) -> Iv {
        Iv::new(Some(lo), true, Some(hi), true)
    }

    /// A calendar measurement period: first day 00:00:00.000 to last day 23:59:59.999 UTC.
    pub fn period(first: NaiveDate, last: NaiveDate) -> Iv {
        let lo = first
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
        let hi = last
            .and_hms_milli_opt(23, 59, 59, 999)
            .map(|t| t.and_utc().timestamp_millis());
        Iv::closed(
            Dt::at_ms(lo.unwrap_or_default()),
            Dt::at_ms(hi.unwrap_or_default()),
        )
    }

    /// `start of` (None when unknown or infinite).
    pub fn start(&self) -> Option<Dt> {
        self.lo.value()
    }

    /// `end of` (None when unknown or infinite).
    pub fn end(&self) -> Option<Dt> {
        self.hi.value()
    }

    /// Point `x` in this interval at precision `p` (`x during p of self`).
    pub fn contains(&self, x: Bound, p: Prec) -> Tri {
        and3(le(self.lo, x, p), le(x, self.hi, p))
    }

    /// `self during p of other` (included in).
    pub fn during(&self, other: &Iv, p: Prec) -> Tri {
        and3(le(other.lo, self.lo, p), le(self.hi, other.hi, p))
    }

    /// `self overlaps p of other`.
    pub fn overlaps(&self, other: &Iv, p: Prec) -> Tri {
        and3(le(self.lo, other.hi, p), le(other.lo, self.hi, p))
    }

    /// `self starts during p of other`.
    pub fn starts_during(&self, other: &Iv, p: Prec) -> Tri {
        other.contains(self.lo, p)
    }

    /// `self ends during p of other`.
    pub fn ends_during(&self, other: &Iv, p: Prec) -> Tri {
        other.contains(self.hi, p)
    }
}

#[cfg(test)]
mod tests;
