//! FHIR date, dateTime and instant values as half-open millisecond ranges.
//!
//! Search on dates compares *ranges*, not points: `2024` means the whole year and
//! `2024-03-01T10:00` the whole minute. Every stored or searched value is turned
//! into `[start, end)` in UTC milliseconds. A value without a timezone is read as
//! UTC (FHIR leaves this to the server; we write the choice down here).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// A half-open interval `[start, end)` in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub start: i64,
    pub end: i64,
}

/// The lowest and highest representable instants, used for open period ends.
pub const MIN_MS: i64 = i64::MIN / 2;
pub const MAX_MS: i64 = i64::MAX / 2;

impl DateRange {
    /// The open range used for a Period without `start` or `end`.
    pub fn open(start: Option<i64>, end: Option<i64>) -> Self {
        DateRange {
            start: start.unwrap_or(MIN_MS),
            end: end.unwrap_or(MAX_MS),
        }
    }
}

/// Parses a FHIR date, dateTime or instant (any precision FHIR allows, plus
/// minute precision as search values use) into the range it covers.
pub fn parse_range(text: &str) -> Option<DateRange> {
    let text = text.trim();
    // An unencoded `+` of a timezone offset arrives as a space in a query string.
    let owned;
    let text = if text.contains(' ') {
        owned = text.replace(' ', "+");
        owned.as_str()
    } else {
        text
    };
    if text.len() < 4 || !text.is_char_boundary(4) {
        return None;
    }
    if let Some(pos) = text.find('T') {
        return parse_datetime(&text[..pos], &text[pos + 1..]);
    }
    parse_date_only(text)
}

fn parse_date_only(text: &str) -> Option<DateRange> {
    let parts: Vec<&str> = text.split('-').collect();
    let year: i32 = digits(parts.first()?, 4)?;
    match parts.len() {
        1 => range_of(
            NaiveDate::from_ymd_opt(year, 1, 1)?,
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
        ),
        2 => {
            let month: u32 = digits(parts[1], 2)?;
            let start = NaiveDate::from_ymd_opt(year, month, 1)?;
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)?
            };
            range_of(start, next)
        }
        3 => {
            let day = NaiveDate::from_ymd_opt(year, digits(parts[1], 2)?, digits(parts[2], 2)?)?;
            range_of(day, day.succ_opt()?)
        }
        _ => None,
    }
}

fn range_of(start: NaiveDate, end: NaiveDate) -> Option<DateRange> {
    let ms = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN))
            .timestamp_millis()
    };
    Some(DateRange {
        start: ms(start),
        end: ms(end),
    })
}

fn parse_datetime(date: &str, rest: &str) -> Option<DateRange> {
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3 {
        return None;
    }
    let day = NaiveDate::from_ymd_opt(
        digits(parts[0], 4)?,
        digits(parts[1], 2)?,
        digits(parts[2], 2)?,
    )?;
    let (time, offset_secs) = split_zone(rest)?;
    let (naive_time, precision) = parse_time(time)?;
    let local = NaiveDateTime::new(day, naive_time);
    let utc = local - Duration::seconds(offset_secs);
    let start = Utc.from_utc_datetime(&utc).timestamp_millis();
    Some(DateRange {
        start,
        end: start + precision,
    })
}

/// Splits `hh:mm[:ss[.fff]]` from its zone suffix; returns the offset in seconds.
fn split_zone(rest: &str) -> Option<(&str, i64)> {
    if let Some(t) = rest.strip_suffix('Z') {
        return Some((t, 0));
    }
    if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, zone) = rest.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let hm: Vec<&str> = zone[1..].split(':').collect();
        if hm.len() != 2 {
            return None;
        }
        let hours: i64 = digits(hm[0], 2)?;
        let minutes: i64 = digits(hm[1], 2)?;
        if hours > 14 || minutes > 59 {
            return None;
        }
        return Some((t, sign * (hours * 3600 + minutes * 60)));
    }
    Some((rest, 0))
}

/// Parses a time and returns it with the length of its precision in ms.
fn parse_time(time: &str) -> Option<(NaiveTime, i64)> {
    let (main, frac) = match time.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (time, None),
    };
    let hms: Vec<&str> = main.split(':').collect();
    let hour: u32 = digits(hms.first()?, 2)?;
    let minute: u32 = digits(hms.get(1)?, 2)?;
    let (second, mut precision) = match hms.get(2) {
        Some(s) => (digits::<u32>(s, 2)?, 1000),
        None => (0, 60_000),
    };
    if hms.len() > 3 {
        return None;
    }
    let mut millis = 0;
    if let Some(frac) = frac {
        if hms.len() != 3 || frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let padded: String = frac.chars().chain(std::iter::repeat('0')).take(3).collect();
        millis = padded.parse::<u32>().ok()?;
        precision = if frac.len() >= 3 {
            1
        } else {
            10_i64.pow(3 - frac.len() as u32)
        };
    }
    let second = second.min(59); // leap second 60 is clamped
    Some((
        NaiveTime::from_hms_milli_opt(hour, minute, second, millis)?,
        precision,
    ))
}

fn digits<T: std::str::FromStr>(text: &str, len: usize) -> Option<T> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Formats a UTC timestamp the way `meta.lastUpdated` carries it (instant, ms).
pub fn format_instant(ts: chrono::DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// [`format_instant`] of epoch milliseconds (out-of-range values give the epoch).
pub fn format_instant_ms(ms: i64) -> String {
    format_instant(chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

/// The calendar date a FHIR date or dateTime is written on (its own offset,
/// not converted to UTC): what day-based rules compare.
pub fn date_written(text: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Midnight UTC of a day, in epoch milliseconds.
pub fn day_start_ms(d: chrono::NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_millis()
}

/// The UTC date of epoch milliseconds (out-of-range values give the epoch).
pub fn utc_date(ms: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive()
}

/// The current year, used by `ap` (approximate) searches relative to now.
pub fn year_of(ms: i64) -> i32 {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|d| d.year())
        .unwrap_or(1970)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn partial_dates_cover_their_whole_span() {
        let y = parse_range("2024").unwrap();
        assert_eq!(
            (y.start, y.end),
            (ms("2024-01-01T00:00:00Z"), ms("2025-01-01T00:00:00Z"))
        );
        let m = parse_range("2024-02").unwrap();
        assert_eq!(m.end, ms("2024-03-01T00:00:00Z"));
        let d = parse_range("2024-12-31").unwrap();
        assert_eq!(d.end, ms("2025-01-01T00:00:00Z"));
    }

    #[test]
    fn datetimes_honour_timezones_and_precision() {
        let r = parse_range("2024-03-01T10:00:00+02:00").unwrap();
        assert_eq!(r.start, ms("2024-03-01T08:00:00Z"));
        assert_eq!(r.end - r.start, 1000);
        let minute = parse_range("2024-03-01T10:00Z").unwrap();
        assert_eq!(minute.end - minute.start, 60_000);
        let plus = parse_range("2024-03-01T10:00:00 02:00").unwrap();
        assert_eq!(
            plus.start,
            ms("2024-03-01T08:00:00Z"),
            "a decoded '+' (space) is read as '+'"
        );
        let frac = parse_range("2024-03-01T10:00:00.5-05:00").unwrap();
        assert_eq!(frac.start, ms("2024-03-01T15:00:00.500Z"));
        assert_eq!(frac.end - frac.start, 100);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "notadate",
            "2024-13",
            "2024-02-30",
            "20240101",
            "2024-01-01T25:00",
            "",
            "2024-01-01T10:00+1",
        ] {
            assert!(parse_range(bad).is_none(), "{bad}");
        }
    }
}
