//! Programs and enrolment, as configured (`[[programs]]`, `[[enrolments]]`):
//! project years, the reporting calendar, required CQM counts per track and
//! cohort, good-standing rules, and which practice is in which program.
//! Checked once at start-up; an invalid value stops Tandem naming its key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::catalog::MilestoneCatalog;

/// One reporting program (Colorado SIM, Maine Health Homes, …).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub id: String,
    pub name: String,
    /// The milestone catalog: a built-in name or a Bundle file (`.json`).
    pub catalog: String,
    /// Start dates of project years 1, 2, …; each runs to the next start
    /// (the last for twelve months).
    pub years: Vec<NaiveDate>,
    #[serde(default)]
    pub reporting: Reporting,
    pub tracks: Vec<Track>,
    /// Where the quarterly feed is delivered (none: kept in the ledger only).
    #[serde(default)]
    pub submission: Option<Submission>,
}

/// When and over what the program takes numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Reporting {
    /// CQMs cover this many months ending with the quarter (trailing).
    pub cqm_months: u32,
    /// A quarter's submission is due this many months after it ends…
    pub due_after_months: u32,
    /// …unless the program publishes its own dates (Maine: Jan 29, Apr 29,
    /// Jul 29, Sep 30); each is the due date of the latest quarter ended
    /// before it.
    pub due_dates: Vec<NaiveDate>,
    /// The attestation checklist opens a new period this often.
    pub attestation_months: u32,
    /// A patient is active with a finished visit this many months before
    /// the period end (at least 18).
    pub active_lookback_months: u32,
    /// The quarterly feed builds a quarter's submission this many days after
    /// it ends (late data settles), before its due date.
    pub build_after_days: u32,
    /// What a failed pre-send check does: `hold` for the practice's
    /// sign-off, or `send` with the failures listed as warnings.
    pub on_failed_checks: OnFailedChecks,
    /// A denominator that moved more than this share since the previous
    /// quarter fails the pre-send checks.
    pub max_denominator_shift: f64,
    /// No HIE notification or screening result received in this many days
    /// fails the pre-send checks.
    pub stale_days: u32,
}

/// What a failed pre-send check does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFailedChecks {
    Hold,
    Send,
}

impl Default for Reporting {
    fn default() -> Self {
        Reporting {
            cqm_months: 12,
            due_after_months: 1,
            due_dates: Vec::new(),
            attestation_months: 6,
            active_lookback_months: 24,
            build_after_days: 7,
            on_failed_checks: OnFailedChecks::Hold,
            max_denominator_shift: 0.25,
            stale_days: 30,
        }
    }
}

/// A participation track (SIM-only, SIM + CPC+).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub id: String,
    /// Per cohort (`adult`, `pediatric`): CQMs required in the 1st, 2nd, …
    /// reporting quarter; the last number holds from then on.
    pub cqm_counts: BTreeMap<String, Vec<u32>>,
    /// Per cohort: the CQMs (Tandem Measure names, e.g. `CMS2`) that count.
    #[serde(default)]
    pub cqms: BTreeMap<String, Vec<String>>,
    /// Good standing per project year.
    pub standing: Vec<StandingRule>,
}

/// Good standing in one project year: every milestone of that year in each
/// required building block is met, and in `any_others` further blocks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StandingRule {
    pub year: u8,
    pub blocks: Vec<u8>,
    #[serde(default)]
    pub any_others: u8,
}

/// The program's endpoint and Tandem's client registration there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub endpoint: String,
    /// SMART Backend Services token endpoint; none: no authentication.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Private key (PEM) Tandem signs its client assertions with; kept
    /// outside the repository.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// A practice (tenant) in a program.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    pub practice: String,
    pub program: String,
    pub track: String,
    /// `adult` or `pediatric`: which CQM set the practice reports.
    pub cohort: String,
    pub start: NaiveDate,
    /// The facilitator coaching the practice (an Organization or user id).
    #[serde(default)]
    pub facilitator: Option<String>,
    /// The preference-sensitive conditions the practice chose for decision
    /// aids and self-management support (BB5.Y1.1): ICD-10-CM categories
    /// (`M17`) or SNOMED CT codes. BB5.Y2.1–Y2.3 are computed from them.
    #[serde(default)]
    pub preference_sensitive: Vec<String>,
}

/// A calendar quarter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarter {
    /// `2026Q3`.
    pub name: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Quarter {
    /// The quarter a day falls in.
    pub fn of(day: NaiveDate) -> Quarter {
        let q = (day.month() - 1) / 3;
        let first = NaiveDate::from_ymd_opt(day.year(), 3 * q + 1, 1).expect("a quarter start");
        let last = first + Months::new(3) - chrono::Days::new(1);
        Quarter {
            name: format!("{}Q{}", day.year(), q + 1),
            first,
            last,
        }
    }

    /// The day after it ends.
    pub fn end(&self) -> NaiveDate {
        self.last.succ_opt().expect("a day after")
    }

    pub fn previous(&self) -> Quarter {
        Quarter::of(self.first.pred_opt().expect("a day before"))
    }
}

impl Program {
    /// The quarters an enrolment owes a submission for by `today`: from the
    /// one it started in, each once `build_after_days` have passed since it
    /// ended (all of them after downtime), while the program runs.
    pub fn quarters_due(&self, e: &Enrolment, today: NaiveDate) -> Vec<Quarter> {
        let program_end = self
            .year_bounds(self.years.len() as u8)
            .map_or(NaiveDate::MAX, |(_, end)| end);
        let lag = chrono::Days::new(u64::from(self.reporting.build_after_days));
        let mut out = Vec::new();
        let mut q = Quarter::of(e.start);
        while q.end() + lag <= today && q.first < program_end {
            let next = Quarter::of(q.end());
            out.push(q);
            q = next;
        }
        out
    }

    /// Project year `n` (1-based) as `[first day, next year's first day)`.
    pub fn year_bounds(&self, n: u8) -> Option<(NaiveDate, NaiveDate)> {
        let i = usize::from(n).checked_sub(1)?;
        let start = *self.years.get(i)?;
        let end = match self.years.get(i + 1) {
            Some(d) => *d,
            None => start.checked_add_months(Months::new(12))?,
        };
        Some((start, end))
    }

    /// The project year a day falls in.
    pub fn year_of(&self, day: NaiveDate) -> Option<u8> {
        (1..=self.years.len() as u8).find(|n| {
            self.year_bounds(*n)
                .is_some_and(|(s, e)| s <= day && day < e)
        })
    }

    pub fn track(&self, id: &str) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// When the submission for the quarter ending the day before `quarter_end`
    /// is due.
    pub fn due_date(&self, quarter_end: NaiveDate) -> Option<NaiveDate> {
        if self.reporting.due_dates.is_empty() {
            return quarter_end.checked_add_months(Months::new(self.reporting.due_after_months));
        }
        self.reporting
            .due_dates
            .iter()
            .copied()
            .filter(|d| *d >= quarter_end)
            .min()
    }

    /// Checks the program against its catalog; the error names the key.
    pub fn check(&self, catalog: &MilestoneCatalog) -> Result<(), String> {
        let key = |k: &str| format!("invalid configuration: key 'programs.{}.{k}'", self.id);
        if !crate::fhir::id::is_valid_id(&self.id) {
            return Err(format!(
                "invalid configuration: key 'programs.id': '{}' is not a valid FHIR id",
                self.id
            ));
        }
        if self.years.is_empty() || self.years.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "{}: give the project years' start dates, ascending",
                key("years")
            ));
        }
        if self.reporting.active_lookback_months < 18 || self.reporting.cqm_months == 0 {
            return Err(format!(
                "{}: active_lookback_months must be at least 18 and cqm_months at least 1",
                key("reporting")
            ));
        }
        if self.reporting.max_denominator_shift.is_nan()
            || self.reporting.max_denominator_shift <= 0.0
        {
            return Err(format!(
                "{}: max_denominator_shift must be a share above 0 (0.25 = 25%)",
                key("reporting")
            ));
        }
        if self.tracks.is_empty() {
            return Err(format!("{}: at least one track", key("tracks")));
        }
        let blocks = catalog.blocks();
        for t in &self.tracks {
            if t.cqm_counts.values().any(Vec::is_empty) || t.cqm_counts.is_empty() {
                return Err(format!(
                    "{}: each cohort needs its CQM counts per quarter",
                    key(&format!("tracks.{}.cqm_counts", t.id))
                ));
            }
            for r in &t.standing {
                if let Some(b) = r.blocks.iter().find(|b| !blocks.contains(b)) {
                    return Err(format!(
                        "{}: building block {b} has no milestones in catalog '{}'",
                        key(&format!("tracks.{}.standing", t.id)),
                        catalog.name
                    ));
                }
                if r.year == 0 || usize::from(r.year) > self.years.len() {
                    return Err(format!(
                        "{}: year {} is not a project year of the program",
                        key(&format!("tracks.{}.standing", t.id)),
                        r.year
                    ));
                }
            }
        }
        if let Some(s) = &self.submission {
            let urls = [Some(s.endpoint.as_str()), s.token_url.as_deref()];
            if urls
                .into_iter()
                .flatten()
                .any(|u| !crate::auth::jwks::url_allowed(u))
            {
                return Err(format!(
                    "{}: endpoint and token_url must be https (http only to localhost)",
                    key("submission")
                ));
            }
            if s.token_url.is_some() && (s.client_id.is_none() || s.key_file.is_none()) {
                return Err(format!(
                    "{}: a token_url needs client_id and key_file",
                    key("submission")
                ));
            }
        }
        Ok(())
    }
}

impl Enrolment {
    /// Checks the enrolment against the configured programs.
    pub fn check(&self, programs: &[Program]) -> Result<(), String> {
        let key = |k: &str| {
            format!(
                "invalid configuration: key 'enrolments.{}.{k}'",
                self.practice
            )
        };
        if !crate::fhir::id::is_valid_id(&self.practice) {
            return Err(format!(
                "{}: '{}' is not a valid FHIR id",
                key("practice"),
                self.practice
            ));
        }
        let p = programs
            .iter()
            .find(|p| p.id == self.program)
            .ok_or_else(|| format!("{}: no program '{}'", key("program"), self.program))?;
        let t = p.track(&self.track).ok_or_else(|| {
            format!(
                "{}: program '{}' has no track '{}'",
                key("track"),
                p.id,
                self.track
            )
        })?;
        if !t.cqm_counts.contains_key(&self.cohort) {
            return Err(format!(
                "{}: track '{}' has no cohort '{}' (has: {})",
                key("cohort"),
                t.id,
                self.cohort,
                t.cqm_counts.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(())
    }

    /// CQMs required in the reporting quarter ending the day before
    /// `quarter_end`: the track's count for the enrolment's n-th quarter.
    pub fn required_cqms(&self, track: &Track, quarter_end: NaiveDate) -> u32 {
        let counts = &track.cqm_counts[&self.cohort];
        let months = (quarter_end.year() - self.start.year()) * 12 + quarter_end.month() as i32
            - self.start.month() as i32;
        let n = (months.max(1) as usize).div_ceil(3).max(1);
        counts[(n - 1).min(counts.len() - 1)]
    }
}
