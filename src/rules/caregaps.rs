//! The care-gap registry's bookkeeping (building block 6, BB6.Y2.3), pure:
//! which gap episodes a pass opens and closes, and a period's numbers.
//!
//! A gap is a patient and a key — `measure:CMS122` (counted in the
//! measure's denominator this calendar year, numerator not met; for inverse
//! measures, met; the same key across years, so a gap that outlasts a
//! year is one episode) or `screening:depression` (due by today). An episode opens the day a
//! pass first finds the gap and closes the day a pass no longer does; a gap
//! found again later opens a new episode. Outreach is what the care team
//! records about an episode (a Communication about it, or a Task focused on
//! it); a gap closed on or after its first outreach was closed after
//! outreach.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// A gap: (`Patient/…`, key).
pub type Key = (String, String);

/// The gaps a pass finds, with what each is and what shows it.
pub type Found = BTreeMap<Key, Finding>;

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub detail: String,
    /// References behind the gap (the Measure, the last screen).
    pub evidence: Vec<String>,
}

/// One recorded episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub id: String,
    pub patient: String,
    pub key: String,
    pub opened: NaiveDate,
    pub closed: Option<NaiveDate>,
    /// The first day outreach about it was recorded.
    pub outreach: Option<NaiveDate>,
}

/// What a pass changes: the gaps to open, the open episodes (ids) to close.
pub fn changes<'a>(
    found: &'a Found,
    recorded: &[Episode],
) -> (Vec<(&'a Key, &'a Finding)>, Vec<String>) {
    let open: BTreeMap<(&str, &str), &str> = recorded
        .iter()
        .filter(|e| e.closed.is_none())
        .map(|e| ((e.patient.as_str(), e.key.as_str()), e.id.as_str()))
        .collect();
    let to_open = found
        .iter()
        .filter(|((p, k), _)| !open.contains_key(&(p.as_str(), k.as_str())))
        .collect();
    let to_close = open
        .iter()
        .filter(|((p, k), _)| !found.contains_key(&(p.to_string(), k.to_string())))
        .map(|(_, id)| id.to_string())
        .collect();
    (to_open, to_close)
}

/// A period's numbers, each a list of episode ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Numbers {
    /// Open on some day of the period.
    pub open: Vec<String>,
    pub opened: Vec<String>,
    pub closed: Vec<String>,
    pub closed_after_outreach: Vec<String>,
    /// Open in the period with outreach recorded by its end.
    pub outreached: Vec<String>,
}

pub fn numbers(episodes: &[Episode], first: NaiveDate, last: NaiveDate) -> Numbers {
    let mut n = Numbers::default();
    for e in episodes {
        let within = |d: NaiveDate| first <= d && d <= last;
        if e.opened > last || e.closed.is_some_and(|c| c < first) {
            continue;
        }
        n.open.push(e.id.clone());
        if within(e.opened) {
            n.opened.push(e.id.clone());
        }
        if e.outreach.is_some_and(|o| o <= last) {
            n.outreached.push(e.id.clone());
        }
        if let Some(c) = e.closed.filter(|c| within(*c)) {
            n.closed.push(e.id.clone());
            if e.outreach.is_some_and(|o| o <= c) {
                n.closed_after_outreach.push(e.id.clone());
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn ep(
        id: &str,
        key: &str,
        opened: &str,
        closed: Option<&str>,
        outreach: Option<&str>,
    ) -> Episode {
        Episode {
            id: id.into(),
            patient: "Patient/p".into(),
            key: key.into(),
            opened: d(opened),
            closed: closed.map(d),
            outreach: outreach.map(d),
        }
    }

    #[test]
    fn a_pass_opens_new_gaps_and_closes_the_ones_no_longer_found() {
        let finding = Finding {
            detail: "x".into(),
            evidence: vec![],
        };
        let found: Found = [
            (
                ("Patient/p".to_string(), "measure:A".to_string()),
                finding.clone(),
            ),
            (
                ("Patient/p".to_string(), "screening:depression".to_string()),
                finding,
            ),
        ]
        .into_iter()
        .collect();
        let recorded = vec![
            ep("1", "measure:A", "2026-01-01", None, None),
            ep("2", "screening:alcohol", "2026-01-01", None, None),
            // Closed before: found again, a new episode opens.
            ep(
                "3",
                "screening:depression",
                "2025-01-01",
                Some("2025-02-01"),
                None,
            ),
        ];
        let (open, close) = changes(&found, &recorded);
        let keys: Vec<&str> = open.iter().map(|((_, k), _)| k.as_str()).collect();
        assert_eq!(keys, vec!["screening:depression"]);
        assert_eq!(close, vec!["2".to_string()]);
    }

    #[test]
    fn a_periods_numbers_count_each_episode_where_its_days_fall() {
        let eps = vec![
            // Opened before, closed inside after outreach.
            ep(
                "a",
                "k",
                "2025-12-01",
                Some("2026-02-10"),
                Some("2026-01-15"),
            ),
            // Opened inside, still open, outreach after the period.
            ep("b", "k", "2026-02-01", None, Some("2026-04-02")),
            // Closed inside, outreach only after it closed.
            ep(
                "c",
                "k",
                "2026-01-05",
                Some("2026-01-20"),
                Some("2026-01-21"),
            ),
            // Closed before the period; opened after it.
            ep("d", "k", "2025-01-01", Some("2025-12-31"), None),
            ep("e", "k", "2026-04-01", None, None),
            // Closed on the first day; outreach the same day.
            ep(
                "f",
                "k",
                "2025-11-01",
                Some("2026-01-01"),
                Some("2026-01-01"),
            ),
        ];
        let n = numbers(&eps, d("2026-01-01"), d("2026-03-31"));
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(n.open, v(&["a", "b", "c", "f"]));
        assert_eq!(n.opened, v(&["b", "c"]));
        assert_eq!(n.closed, v(&["a", "c", "f"]));
        assert_eq!(n.closed_after_outreach, v(&["a", "f"]));
        assert_eq!(n.outreached, v(&["a", "c", "f"]));
    }
}
