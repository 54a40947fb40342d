//! CQL date/time semantics, tested against the specification: unit cases
//! at mixed precisions for each operator, and a property test comparing
//! `Dt::cmp_at` with a reference written directly from the CQL 1.5
//! definitions of Equal, Less and Same As (§ Date/Time operators).

use super::*;

fn dt(s: &str) -> Dt {
    Dt::parse(s).unwrap()
}

#[test]
fn precision_is_kept_and_comparisons_can_be_unknown() {
    assert_eq!(dt("2026").prec, Prec::Year);
    assert_eq!(dt("2026-02").prec, Prec::Month);
    assert_eq!(dt("2026-02-03").prec, Prec::Day);
    assert_eq!(dt("2026-02-03T10:00:00Z").prec, Prec::Second);
    assert_eq!(dt("2026-02-03T10:00:00.000Z").prec, Prec::Milli);
    // 2026-01-01 vs 2026-01-01T00:00:00.000 at millisecond precision: unknown.
    let mp = Iv::period(
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    );
    let jan1 = Bound::at(dt("2026-01-01"));
    assert_eq!(mp.contains(jan1, Prec::Milli), None);
    assert_eq!(mp.contains(jan1, Prec::Day), Some(true));
    // A year-only value is unknown against "day of", a different year is not.
    assert_eq!(mp.contains(Bound::at(dt("2026")), Prec::Day), None);
    assert_eq!(mp.contains(Bound::at(dt("2025")), Prec::Day), Some(false));
}

#[test]
fn offsets_are_normalised_to_utc() {
    let late = dt("2025-12-31T22:00:00-05:00"); // 2026-01-01T03:00Z
    let mp = Iv::period(
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    );
    assert_eq!(mp.contains(Bound::at(late), Prec::Day), Some(true));
}

#[test]
fn open_and_null_bounds_follow_cql() {
    let mp = Iv::closed(dt("2026-01-01"), dt("2026-12-31"));
    // Interval[2025-03-01, null] is ongoing: it overlaps.
    let ongoing = Iv::new(Some(dt("2025-03-01")), true, None, true);
    assert_eq!(ongoing.overlaps(&mp, Prec::Day), Some(true));
    // Interval[2025-03-01, null): the end is unknown, so overlap is unknown.
    let unknown = Iv::new(Some(dt("2025-03-01")), true, None, false);
    assert_eq!(unknown.overlaps(&mp, Prec::Day), None);
    // ...but it certainly overlaps a period that contains its start.
    let wide = Iv::closed(dt("2025-01-01"), dt("2026-12-31"));
    assert_eq!(unknown.overlaps(&wide, Prec::Day), Some(true));
    // Interval[a, 2026-01-01) ends on 2025-12-31 at day precision.
    let open = Iv::new(Some(dt("2025-06-01")), true, Some(dt("2026-01-01")), false);
    assert_eq!(open.overlaps(&mp, Prec::Day), Some(false));
}

#[test]
fn calendar_arithmetic_clamps_to_month_end() {
    assert_eq!(
        dt("2024-02-29").add_years(1).naive_date(),
        NaiveDate::from_ymd_opt(2025, 2, 28).unwrap()
    );
    let born = NaiveDate::from_ymd_opt(2008, 2, 29).unwrap();
    assert_eq!(
        years_between(born, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()),
        17
    );
    assert_eq!(
        years_between(born, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
        18
    );
    assert_eq!(
        months_between(born, NaiveDate::from_ymd_opt(2008, 3, 28).unwrap()),
        0
    );
}

/// Second-precision timestamps, as EHR feeds send them, compare as equal
/// when no precision is named (CMS137's diagnosis starting during the
/// encounter, CMS2's observation issued during the encounter).
#[test]
fn unstated_precision_compares_to_the_finest_both_values_carry() {
    let a = dt("2025-10-11T08:00:00Z");
    let b = dt("2025-10-11T08:00:00Z");
    assert_eq!(a.cmp_at(&b, Prec::Unstated), Some(Ordering::Equal));
    // Seconds and milliseconds are one decimal precision: .000 is equal.
    let c = dt("2025-10-11T08:00:00.000Z");
    assert_eq!(a.cmp_at(&c, Prec::Unstated), Some(Ordering::Equal));
    assert_eq!(a.cmp_at(&c, Prec::Milli), Some(Ordering::Equal));
    assert_eq!(
        a.cmp_at(&dt("2025-10-11T08:00:00.001Z"), Prec::Unstated),
        Some(Ordering::Less)
    );
    // Named second precision ignores the milliseconds.
    assert_eq!(
        a.cmp_at(&dt("2025-10-11T08:00:00.999Z"), Prec::Second),
        Some(Ordering::Equal)
    );
    // Different precisions above the seconds, equal up to the coarser: unknown.
    assert_eq!(dt("2025-10-11").cmp_at(&a, Prec::Unstated), None);
    assert_eq!(dt("2025-10-11T08:00").cmp_at(&a, Prec::Unstated), None);
    // Different at a precision both carry: known.
    let d = dt("2025-10-11T08:00:01.500Z");
    assert_eq!(a.cmp_at(&d, Prec::Unstated), Some(Ordering::Less));
    assert_eq!(
        dt("2025-10-10").cmp_at(&a, Prec::Unstated),
        Some(Ordering::Less)
    );
    // Offsets are instants: 10:00+02:00 is 08:00Z.
    let e = dt("2025-10-11T10:00:00+02:00");
    assert_eq!(a.cmp_at(&e, Prec::Unstated), Some(Ordering::Equal));

    // An encounter's period and a diagnosis onset on its first second.
    let enc = Iv::closed(dt("2025-10-11T08:00:00Z"), dt("2025-10-11T09:30:00Z"));
    let onset = Bound::at(dt("2025-10-11T08:00:00Z"));
    assert_eq!(enc.contains(onset, Prec::Unstated), Some(true));
    let after = Bound::at(dt("2025-10-11T09:30:01Z"));
    assert_eq!(enc.contains(after, Prec::Unstated), Some(false));
    let inner = Iv::closed(dt("2025-10-11T08:00:00Z"), dt("2025-10-11T09:30:00Z"));
    assert_eq!(inner.during(&enc, Prec::Unstated), Some(true));
    assert_eq!(inner.overlaps(&enc, Prec::Unstated), Some(true));
    let before = Iv::closed(dt("2025-10-11T07:00:00Z"), dt("2025-10-11T07:59:59Z"));
    assert_eq!(before.overlaps(&enc, Prec::Unstated), Some(false));
    assert_eq!(before.starts_during(&enc, Prec::Unstated), Some(false));
    assert_eq!(inner.ends_during(&enc, Prec::Unstated), Some(true));

    // The measurement period ends at 23:59:59.999: a second-precision value
    // on its last second is 59.000 seconds, inside; so is the first second.
    let mp = Iv::period(
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
    );
    let last = Bound::at(dt("2025-12-31T23:59:59Z"));
    assert_eq!(mp.contains(last, Prec::Unstated), Some(true));
    assert_eq!(mp.contains(last, Prec::Day), Some(true));
    let first = Bound::at(dt("2025-01-01T00:00:00Z"));
    assert_eq!(mp.contains(first, Prec::Unstated), Some(true));
    let after = Bound::at(dt("2026-01-01T00:00:00Z"));
    assert_eq!(mp.contains(after, Prec::Unstated), Some(false));
    // A minute-precision value on the last minute is still unknown.
    let minute = Bound::at(dt("2025-12-31T23:59"));
    assert_eq!(mp.contains(minute, Prec::Unstated), None);
    assert_eq!(
        mp.contains(Bound::at(dt("2025-06-01T00:00:00Z")), Prec::Unstated),
        Some(true)
    );
}

/// The components a value carries, year first (UTC).
fn components(ms: i64, prec: Prec) -> Vec<i64> {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let all = [
        i64::from(t.year()),
        i64::from(t.month()),
        i64::from(t.day()),
        i64::from(t.hour()),
        i64::from(t.minute()),
        i64::from(t.second()),
        i64::from(t.timestamp_subsec_millis()),
    ];
    all[..prec as usize + 1].to_vec()
}

/// CQL 1.5, Equal / Less / Same As for DateTime, transcribed: compare
/// precision by precision from years; a difference decides; a precision
/// only one value has gives null; a precision neither has ends the
/// comparison — equal when no precision was named, null when the named
/// precision has not been reached; reaching the named (or last) precision
/// ends it equal. Seconds and milliseconds are one precision, compared as a
/// decimal (a missing millisecond is .000) — except that a named `second`
/// precision compares whole seconds.
fn reference(a: &[i64], b: &[i64], named: Option<usize>) -> Option<Ordering> {
    let whole_seconds = named == Some(5);
    let fold = |c: &[i64]| -> Vec<i64> {
        let mut v = c[..c.len().min(5)].to_vec();
        if let Some(s) = c.get(5) {
            let ms = if whole_seconds {
                0
            } else {
                c.get(6).copied().unwrap_or(0)
            };
            v.push(s * 1000 + ms);
        }
        v
    };
    let (a, b) = (fold(a), fold(b));
    let named = named.map(|n| n.min(5));
    let last = named.unwrap_or(a.len().max(b.len()) - 1);
    for i in 0..=last {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x != y => return Some(x.cmp(y)),
            (Some(_), Some(_)) => {}
            (None, None) => {
                return if named.is_none() {
                    Some(Ordering::Equal)
                } else {
                    None
                };
            }
            _ => return None,
        }
    }
    Some(Ordering::Equal)
}

const PRECS: [Prec; 7] = [
    Prec::Year,
    Prec::Month,
    Prec::Day,
    Prec::Hour,
    Prec::Minute,
    Prec::Second,
    Prec::Milli,
];

/// A value at a random precision, its components drawn from few choices so
/// that equal prefixes are common.
fn value() -> impl proptest::strategy::Strategy<Value = Dt> {
    use proptest::prelude::*;
    (
        2024i32..2026,
        prop::sample::select(vec![1u32, 2, 12]),
        prop::sample::select(vec![1u32, 28]),
        prop::sample::select(vec![0u32, 23]),
        prop::sample::select(vec![0u32, 59]),
        prop::sample::select(vec![0u32, 59]),
        prop::sample::select(vec![0u32, 999]),
        0usize..7,
    )
        .prop_map(|(y, mo, d, h, mi, s, ms, p)| {
            let prec = PRECS[p];
            let keep = |i: usize, v: u32, zero: u32| if i <= p { v } else { zero };
            let t = NaiveDate::from_ymd_opt(y, keep(1, mo, 1), keep(2, d, 1))
                .unwrap()
                .and_hms_milli_opt(keep(3, h, 0), keep(4, mi, 0), keep(5, s, 0), keep(6, ms, 0))
                .unwrap();
            Dt {
                ms: t.and_utc().timestamp_millis(),
                prec,
            }
        })
}

proptest::proptest! {
    #[test]
    fn cmp_at_agrees_with_the_cql_reference(a in value(), b in value(), named in 0usize..8) {
        let (ca, cb) = (components(a.ms, a.prec), components(b.ms, b.prec));
        let (p, named) = if named == 7 { (Prec::Unstated, None) } else { (PRECS[named], Some(named)) };
        proptest::prop_assert_eq!(a.cmp_at(&b, p), reference(&ca, &cb, named), "{:?} {:?} at {:?}", a, b, p);
    }
}

/// `AgeInYearsAt` a DateTime: on the birthday itself the unknown time of
/// birth makes the age uncertain; a day earlier or later it is known.
#[test]
fn age_at_a_datetime_is_uncertain_on_the_birthday() {
    let born = NaiveDate::from_ymd_opt(2012, 6, 25).unwrap();
    let on = dt("2024-06-25T14:35:00Z");
    assert_eq!(age_at_datetime(born, &on), (11, 12));
    assert_eq!(at_least(age_at_datetime(born, &on), 12), None);
    assert_eq!(at_least(age_at_datetime(born, &on), 11), Some(true));
    let after = dt("2024-06-26T00:00:00Z");
    assert_eq!(at_least(age_at_datetime(born, &after), 12), Some(true));
    let before = dt("2024-06-24T23:59:59Z");
    assert_eq!(at_least(age_at_datetime(born, &before), 12), Some(false));
    // A day-precision as-of is a date: no uncertainty.
    assert_eq!(age_at_datetime(born, &dt("2024-06-25")), (12, 12));
}
