//! Milestone status and good standing. A milestone's status comes from its
//! evidence (a computed value against its threshold, configuration and
//! activity, or an attestation); good standing for a project year is every
//! milestone of that year met in each required building block, plus
//! `any_others` further blocks fully met. Anything not yet computable keeps
//! its block out of standing, with the reason — never counted as met.

use std::collections::BTreeMap;

use super::catalog::Milestone;
use super::program::StandingRule;

/// Where a milestone stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Met,
    NotMet,
    /// Not met yet, and the period it is judged over has not ended.
    InProgress,
    /// Tandem lacks the inputs or the computation (the reason says which).
    NotComputable,
    /// Does not apply to this practice (e.g. an adult milestone, pediatric
    /// cohort).
    NotApplicable,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "not-met",
            Status::InProgress => "in-progress",
            Status::NotComputable => "not-computable",
            Status::NotApplicable => "not-applicable",
        }
    }
}

/// What a computation found for one milestone.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// A proportion with the patients behind it.
    Ratio {
        numerator: Vec<String>,
        denominator: Vec<String>,
        /// A further condition of the milestone (e.g. at least two
        /// instruments in use) and whether it holds.
        also: Option<(String, bool)>,
    },
    /// A count of evidence (referrals made, partners configured, …).
    Count {
        count: u64,
        what: String,
    },
    /// Cannot be computed yet, and why.
    Missing(String),
    /// Waiting on people: an attestation not (yet) recorded as completed.
    Unattested(String),
    /// Attested as under way (just beginning, actively addressing).
    Underway(String),
    Attested,
}

/// A milestone with its status for one practice and period.
#[derive(Debug, Clone)]
pub struct Assessment<'a> {
    pub milestone: &'a Milestone,
    pub status: Status,
    pub finding: Finding,
    pub reason: Option<String>,
}

/// The share a ratio reaches, if it has a denominator.
pub fn share(numerator: usize, denominator: usize) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Judges one finding against the milestone's threshold. `open`: the period
/// has not ended, so a shortfall is still in progress.
pub fn assess<'a>(m: &'a Milestone, finding: Finding, open: bool) -> Assessment<'a> {
    let short = if open {
        Status::InProgress
    } else {
        Status::NotMet
    };
    let (status, reason) = match &finding {
        Finding::Ratio {
            numerator,
            denominator,
            also,
        } => match (share(numerator.len(), denominator.len()), m.threshold) {
            (None, _) => (short, Some("nothing in the denominator".to_string())),
            (Some(s), Some(t)) if m.lower_is_better && s > t => (
                short,
                Some(format!(
                    "{:.1}% is above the {:.0}% ceiling",
                    s * 100.0,
                    t * 100.0
                )),
            ),
            (Some(_), _) if m.lower_is_better => (Status::Met, None),
            (Some(s), Some(t)) if s < t => (
                short,
                Some(format!(
                    "{:.1}% is below the {:.0}% threshold",
                    s * 100.0,
                    t * 100.0
                )),
            ),
            (Some(_), None) if numerator.is_empty() => {
                (short, Some("no patient in the numerator".to_string()))
            }
            _ => match also {
                Some((what, false)) => (short, Some(what.clone())),
                _ => (Status::Met, None),
            },
        },
        Finding::Count { count, what } => {
            let needed = m.threshold.unwrap_or(1.0);
            if (*count as f64) < needed {
                (short, Some(format!("{count} {what}; {needed} needed")))
            } else {
                (Status::Met, None)
            }
        }
        Finding::Missing(why) => (Status::NotComputable, Some(why.clone())),
        Finding::Unattested(why) => (short, Some(why.clone())),
        Finding::Underway(what) => (Status::InProgress, Some(what.clone())),
        Finding::Attested => (Status::Met, None),
    };
    Assessment {
        milestone: m,
        status,
        finding,
        reason,
    }
}

/// One building block's standing.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockStanding {
    pub block: u8,
    pub required: bool,
    pub in_standing: bool,
    /// Why not: each milestone not met, with its status and reason.
    pub reasons: Vec<String>,
}

/// Good standing for one project year.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub year: u8,
    pub in_standing: bool,
    pub blocks: Vec<BlockStanding>,
    pub reasons: Vec<String>,
}

/// Good standing under `rule`, from the assessments of that year's milestones.
pub fn good_standing(rule: &StandingRule, assessed: &[Assessment]) -> Standing {
    let mut by_block: BTreeMap<u8, Vec<&Assessment>> = BTreeMap::new();
    for a in assessed.iter().filter(|a| a.milestone.year == rule.year) {
        by_block.entry(a.milestone.block).or_default().push(a);
    }
    let blocks: Vec<BlockStanding> = by_block
        .iter()
        .map(|(b, list)| {
            let applicable: Vec<&&Assessment> = list
                .iter()
                .filter(|a| a.status != Status::NotApplicable)
                .collect();
            let reasons: Vec<String> = applicable
                .iter()
                .filter(|a| a.status != Status::Met)
                .map(|a| {
                    format!(
                        "{} {}{}",
                        a.milestone.id,
                        a.status.code(),
                        a.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            BlockStanding {
                block: *b,
                required: rule.blocks.contains(b),
                in_standing: !applicable.is_empty() && reasons.is_empty(),
                reasons,
            }
        })
        .collect();
    let mut reasons = Vec::new();
    for b in &rule.blocks {
        match blocks.iter().find(|s| s.block == *b) {
            Some(s) if s.in_standing => {}
            Some(_) => reasons.push(format!("building block {b} is not met")),
            None => reasons.push(format!(
                "building block {b} has no year-{} milestones",
                rule.year
            )),
        }
    }
    let others = blocks
        .iter()
        .filter(|s| !s.required && s.in_standing)
        .count();
    if others < usize::from(rule.any_others) {
        reasons.push(format!(
            "{others} building block(s) met beyond the required ones; {} needed",
            rule.any_others
        ));
    }
    Standing {
        year: rule.year,
        in_standing: reasons.is_empty(),
        blocks,
        reasons,
    }
}
