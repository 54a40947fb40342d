//! The behavioral-health care plan of one patient, computed from that
//! patient's screening results (oldest first).
//!
//! A positive depression, anxiety, maternal-depression or substance-use screen
//! opens an episode in its domain; the episode's goals are judged by the later
//! results of the same domain:
//! - depression: response = PHQ-9 at most half the baseline PHQ-9; remission =
//!   PHQ-9 < 5 measured 12 months ± 60 days after the baseline (CMS159's window);
//! - anxiety: GAD-7 < 5;
//! - maternal depression: an EPDS below the program's cut-off;
//! - alcohol and drug use: a negative repeat screen of the same domain.
//!
//! An achieved goal stays achieved until a new positive screen opens a new
//! episode. The plan is complete when every goal is achieved. Goals are keyed
//! by [`GoalKind`], so physical-health goals (HbA1c, blood pressure) can join
//! the same plan without changing its shape.

use serde::Serialize;

use crate::rules::screening::Domain;

const DAY_MS: i64 = 86_400_000;

/// One screening result as the plan sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: String,
    pub key: String,
    pub domain: Domain,
    pub total: Option<f64>,
    pub positive: Option<bool>,
    pub effective_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GoalKind {
    DepressionResponse,
    DepressionRemission,
    AnxietyRemission,
    MaternalDepressionNegative,
    AlcoholNegative,
    DrugNegative,
}

impl GoalKind {
    pub fn code(self) -> &'static str {
        match self {
            GoalKind::DepressionResponse => "depression-response",
            GoalKind::DepressionRemission => "depression-remission",
            GoalKind::AnxietyRemission => "anxiety-remission",
            GoalKind::MaternalDepressionNegative => "maternal-depression-negative",
            GoalKind::AlcoholNegative => "alcohol-negative-screen",
            GoalKind::DrugNegative => "drug-negative-screen",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            GoalKind::DepressionResponse => {
                "Depression response: PHQ-9 reduced by at least 50% from baseline"
            }
            GoalKind::DepressionRemission => {
                "Depression remission: PHQ-9 below 5 at 12 months (± 60 days)"
            }
            GoalKind::AnxietyRemission => "Anxiety remission: GAD-7 below 5",
            GoalKind::MaternalDepressionNegative => {
                "Maternal depression: EPDS below the positive cut-off"
            }
            GoalKind::AlcoholNegative => "Reduced alcohol use: negative repeat alcohol screen",
            GoalKind::DrugNegative => "Reduced drug use: negative repeat drug screen",
        }
    }

    fn of(domain: Domain) -> &'static [GoalKind] {
        match domain {
            Domain::Depression => &[GoalKind::DepressionResponse, GoalKind::DepressionRemission],
            Domain::Anxiety => &[GoalKind::AnxietyRemission],
            Domain::MaternalDepression => &[GoalKind::MaternalDepressionNegative],
            Domain::Alcohol => &[GoalKind::AlcoholNegative],
            Domain::Drug => &[GoalKind::DrugNegative],
            _ => &[],
        }
    }
}

/// A goal and how it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalState {
    pub kind: GoalKind,
    pub domain: Domain,
    /// The positive result that opened the episode.
    pub index_id: String,
    pub index_ms: i64,
    /// The baseline score the goal is measured against (PHQ-9 for depression).
    pub baseline: Option<f64>,
    /// goal-achievement code: in-progress, improving, worsening, no-change, achieved, not-achieved.
    pub achievement: &'static str,
    pub due_ms: Option<i64>,
    /// Results that informed the judgement (index first).
    pub evidence: Vec<String>,
}

/// The plan: goals and whether it is still active.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanState {
    pub active: bool,
    pub goals: Vec<GoalState>,
}

/// Computes the plan from every result of the patient; `None` when no
/// behavioral-health screen has been positive.
pub fn plan(points: &[Point]) -> Option<PlanState> {
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by_key(|p| p.effective_ms);
    let mut goals = Vec::new();
    for domain in [
        Domain::Depression,
        Domain::Anxiety,
        Domain::MaternalDepression,
        Domain::Alcohol,
        Domain::Drug,
    ] {
        let series: Vec<&Point> = sorted
            .iter()
            .copied()
            .filter(|p| p.domain == domain)
            .collect();
        let Some(start) = episode_start(&series, domain) else {
            continue;
        };
        for kind in GoalKind::of(domain) {
            goals.push(judge(*kind, &series[start..]));
        }
    }
    if goals.is_empty() {
        return None;
    }
    let active = goals.iter().any(|g| g.achievement != "achieved");
    Some(PlanState { active, goals })
}

/// The index of the positive result opening the latest episode. An episode
/// stays the current one after a result resolves it (its goals then show as
/// achieved); only a positive screen after the resolution opens a new one.
fn episode_start(series: &[&Point], domain: Domain) -> Option<usize> {
    let (mut start, mut resolved) = (None, false);
    for (i, p) in series.iter().enumerate() {
        match start {
            Some(_) if !resolved => resolved = resolves(domain, series[start.unwrap_or(i)], p),
            _ if p.positive == Some(true) => (start, resolved) = (Some(i), false),
            _ => {}
        }
    }
    start
}

/// True when `p` closes the episode opened by `index` (all goals achieved).
fn resolves(domain: Domain, index: &Point, p: &Point) -> bool {
    match domain {
        Domain::Depression => {
            p.key == "phq-9"
                && p.total.is_some_and(|t| t < 5.0)
                && p.effective_ms > index.effective_ms
        }
        Domain::Anxiety => p.total.is_some_and(|t| t < 5.0),
        _ => p.positive == Some(false),
    }
}

fn judge(kind: GoalKind, episode: &[&Point]) -> GoalState {
    let index = episode[0];
    let relevant: Vec<&Point> = episode
        .iter()
        .copied()
        .filter(|p| match kind {
            GoalKind::DepressionResponse | GoalKind::DepressionRemission => p.key == "phq-9",
            _ => true,
        })
        .filter(|p| p.total.is_some() || p.positive.is_some())
        .collect();
    // The baseline: the episode's first measurement of the goal's instrument
    // (for depression, a PHQ-9 that may follow a positive PHQ-2).
    let baseline_point = relevant.first().copied();
    let baseline = baseline_point.and_then(|p| p.total);
    let base_ms = baseline_point.map_or(index.effective_ms, |p| p.effective_ms);
    let follow: Vec<&Point> = relevant
        .iter()
        .copied()
        .filter(|p| p.effective_ms > base_ms)
        .collect();
    let due_ms = match kind {
        GoalKind::DepressionRemission => Some(base_ms + 365 * DAY_MS),
        _ => None,
    };
    let achievement = match follow.last() {
        None => "in-progress",
        Some(last) => achievement(kind, baseline, base_ms, &relevant, last),
    };
    let mut evidence = vec![index.id.clone()];
    evidence.extend(follow.iter().map(|p| p.id.clone()));
    GoalState {
        kind,
        domain: index.domain,
        index_id: index.id.clone(),
        index_ms: index.effective_ms,
        baseline,
        achievement,
        due_ms,
        evidence,
    }
}

fn achievement(
    kind: GoalKind,
    baseline: Option<f64>,
    base_ms: i64,
    relevant: &[&Point],
    last: &Point,
) -> &'static str {
    let achieved = match kind {
        GoalKind::DepressionResponse => {
            matches!((baseline, last.total), (Some(b), Some(t)) if t <= b * 0.5)
        }
        GoalKind::DepressionRemission => {
            let (lo, hi) = (base_ms + 305 * DAY_MS, base_ms + 425 * DAY_MS);
            relevant
                .iter()
                .any(|p| p.total.is_some_and(|t| t < 5.0) && (lo..=hi).contains(&p.effective_ms))
        }
        GoalKind::AnxietyRemission => last.total.is_some_and(|t| t < 5.0),
        _ => last.positive == Some(false),
    };
    if achieved {
        return "achieved";
    }
    if kind == GoalKind::DepressionRemission && last.effective_ms > base_ms + 425 * DAY_MS {
        return "not-achieved";
    }
    let prev = relevant.iter().rev().nth(1).and_then(|p| p.total);
    match (prev, last.total) {
        (Some(p), Some(t)) if t < p => "improving",
        (Some(p), Some(t)) if t > p => "worsening",
        (Some(_), Some(_)) => "no-change",
        _ => "in-progress",
    }
}
