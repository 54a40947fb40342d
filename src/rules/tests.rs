//! Care-plan goals and screening due dates, case by case.

use chrono::NaiveDate;

use super::careplan::{GoalKind, Point, plan};
use super::schedule::next_due;
use super::screening::Domain;

const DAY: i64 = 86_400_000;

fn pt(id: &str, key: &str, domain: Domain, total: f64, positive: bool, day: i64) -> Point {
    Point {
        id: id.into(),
        key: key.into(),
        domain,
        total: Some(total),
        positive: Some(positive),
        effective_ms: day * DAY,
    }
}

fn status(p: &super::careplan::PlanState, k: GoalKind) -> &'static str {
    p.goals.iter().find(|g| g.kind == k).unwrap().achievement
}

#[test]
fn no_plan_without_a_positive_behavioral_screen() {
    assert!(plan(&[pt("a", "phq-9", Domain::Depression, 4.0, false, 0)]).is_none());
    assert!(plan(&[pt("b", "bmi", Domain::Weight, 31.0, true, 0)]).is_none());
}

#[test]
fn depression_response_and_remission() {
    let base = pt("a", "phq-9", Domain::Depression, 16.0, true, 0);
    let p = plan(std::slice::from_ref(&base)).unwrap();
    assert!(p.active);
    assert_eq!(status(&p, GoalKind::DepressionResponse), "in-progress");
    assert_eq!(p.goals[0].baseline, Some(16.0));
    // 9 is above half of 16: improving, not yet a response.
    let p = plan(&[
        base.clone(),
        pt("b", "phq-9", Domain::Depression, 9.0, false, 40),
    ])
    .unwrap();
    assert_eq!(status(&p, GoalKind::DepressionResponse), "improving");
    // 8 is half of 16: response; remission still pending (not at 12 months).
    let p = plan(&[
        base.clone(),
        pt("b", "phq-9", Domain::Depression, 8.0, false, 40),
    ])
    .unwrap();
    assert_eq!(status(&p, GoalKind::DepressionResponse), "achieved");
    assert_ne!(status(&p, GoalKind::DepressionRemission), "achieved");
    // PHQ-9 < 5 at day 300 is outside 12 months ± 60 days (305..425); at day 305 it counts.
    let early = plan(&[
        base.clone(),
        pt("c", "phq-9", Domain::Depression, 4.0, false, 300),
    ])
    .unwrap();
    assert_ne!(status(&early, GoalKind::DepressionRemission), "achieved");
    let on_time = plan(&[
        base.clone(),
        pt("c", "phq-9", Domain::Depression, 4.0, false, 305),
    ])
    .unwrap();
    assert_eq!(status(&on_time, GoalKind::DepressionRemission), "achieved");
    assert!(!on_time.active, "all goals achieved closes the plan");
    // Worsening.
    let p = plan(&[
        base.clone(),
        pt("d", "phq-9", Domain::Depression, 14.0, true, 30),
        pt("e", "phq-9", Domain::Depression, 18.0, true, 60),
    ])
    .unwrap();
    assert_eq!(status(&p, GoalKind::DepressionResponse), "worsening");
    // Missed the window entirely.
    let p = plan(&[base, pt("f", "phq-9", Domain::Depression, 12.0, true, 430)]).unwrap();
    assert_eq!(status(&p, GoalKind::DepressionRemission), "not-achieved");
}

#[test]
fn a_new_positive_after_resolution_opens_a_new_episode() {
    let p = plan(&[
        pt("a", "gad-7", Domain::Anxiety, 12.0, true, 0),
        pt("b", "gad-7", Domain::Anxiety, 3.0, false, 50),
        pt("c", "gad-7", Domain::Anxiety, 11.0, true, 200),
    ])
    .unwrap();
    let g = &p.goals[0];
    assert_eq!((g.index_id.as_str(), g.achievement), ("c", "in-progress"));
    let resolved = plan(&[
        pt("a", "gad-7", Domain::Anxiety, 12.0, true, 0),
        pt("b", "gad-7", Domain::Anxiety, 3.0, false, 50),
    ])
    .unwrap();
    assert_eq!(resolved.goals[0].achievement, "achieved");
}

#[test]
fn substance_use_goal_is_a_negative_repeat_screen() {
    let p = plan(&[
        pt("a", "audit-c", Domain::Alcohol, 6.0, true, 0),
        pt("b", "audit-c", Domain::Alcohol, 2.0, false, 60),
    ])
    .unwrap();
    assert_eq!(status(&p, GoalKind::AlcoholNegative), "achieved");
    let p = plan(&[
        pt("a", "dast-10", Domain::Drug, 5.0, true, 0),
        pt("b", "dast-10", Domain::Drug, 4.0, true, 60),
    ])
    .unwrap();
    assert_eq!(status(&p, GoalKind::DrugNegative), "improving");
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn annual_screens_and_age_gates() {
    let today = d("2026-11-23");
    let adult = Some(d("1980-01-01"));
    let due = next_due(Domain::Depression, adult, &[d("2026-01-10")], today).unwrap();
    assert_eq!(due.due, d("2027-01-10"));
    assert_eq!(
        next_due(Domain::Depression, adult, &[], today).unwrap().due,
        today
    );
    assert_eq!(
        next_due(Domain::Alcohol, Some(d("2012-01-01")), &[], today),
        None,
        "alcohol from 18"
    );
    assert_eq!(
        next_due(Domain::Falls, adult, &[], today),
        None,
        "falls from 65"
    );
    assert!(next_due(Domain::Falls, Some(d("1950-01-01")), &[], today).is_some());
}

#[test]
fn developmental_and_maternal_milestones() {
    let birth = Some(d("2025-01-15"));
    let today = d("2026-11-23");
    // Nothing done: the 9-month visit (2025-10-15) is due (overdue).
    assert_eq!(
        next_due(Domain::Development, birth, &[], today)
            .unwrap()
            .due,
        d("2025-10-15")
    );
    // Screened at 10 months: next is 18 months; the same screen cannot count twice.
    assert_eq!(
        next_due(Domain::Development, birth, &[d("2025-11-20")], today)
            .unwrap()
            .due,
        d("2026-07-15")
    );
    assert_eq!(
        next_due(
            Domain::Development,
            birth,
            &[d("2025-11-20"), d("2026-07-20")],
            today
        )
        .unwrap()
        .due,
        d("2027-07-15")
    );
    assert_eq!(
        next_due(Domain::Development, Some(d("2020-01-01")), &[], today),
        None,
        "over 3 years"
    );
    // Maternal depression at the 1, 2, 4 and 6 month visits.
    let infant = Some(d("2026-09-01"));
    assert_eq!(
        next_due(
            Domain::MaternalDepression,
            infant,
            &[d("2026-10-01")],
            today
        )
        .unwrap()
        .due,
        d("2026-11-01")
    );
    assert_eq!(
        next_due(
            Domain::MaternalDepression,
            Some(d("2025-01-01")),
            &[],
            today
        ),
        None
    );
}
