//! Good standing on hand-built practices on each side of every rule, the
//! thresholds and the reporting calendar (patient-level facts are in
//! `population_tests`). The rules are the Colorado guide's (Cohort 2, p. 9;
//! Appendix C), typed here from the guide, not from the configuration under
//! test.

use chrono::NaiveDate;

use super::catalog::{Milestone, MilestoneCatalog};
use super::program::{Enrolment, Program, Reporting, StandingRule, Track};
use super::standing::{Assessment, Finding, Status, assess, good_standing};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn catalog() -> MilestoneCatalog {
    MilestoneCatalog::load("colorado-sim").unwrap()
}

/// Every milestone of the catalog met (or attested), except those named.
fn assessments<'a>(c: &'a MilestoneCatalog, failing: &[&str]) -> Vec<Assessment<'a>> {
    c.milestones
        .iter()
        .map(|m| {
            let f = if failing.contains(&m.id.as_str()) {
                Finding::Unattested("not attested".into())
            } else {
                Finding::Attested
            };
            assess(m, f, false)
        })
        .collect()
}

fn sim_only(year: u8) -> StandingRule {
    match year {
        1 => StandingRule {
            year: 1,
            blocks: vec![1, 2, 3, 4, 7],
            any_others: 0,
        },
        _ => StandingRule {
            year: 2,
            blocks: vec![1, 2, 3, 4, 7],
            any_others: 2,
        },
    }
}

fn cpc(year: u8) -> StandingRule {
    StandingRule {
        year,
        blocks: vec![1, 2, 3, 4, 7, 8, 9, 10],
        any_others: 0,
    }
}

#[test]
fn year_one_sim_only_needs_blocks_1_2_3_4_7_and_nothing_else() {
    let c = catalog();
    let all = assessments(&c, &[]);
    assert!(good_standing(&sim_only(1), &all).in_standing);
    // A year-1 milestone outside the required blocks does not matter…
    let bb9 = assessments(&c, &["BB9.Y1.2", "BB6.Y1.1"]);
    assert!(good_standing(&sim_only(1), &bb9).in_standing);
    // …one inside does, and the reason names it.
    let s = good_standing(&sim_only(1), &assessments(&c, &["BB3.Y1.2"]));
    assert!(!s.in_standing);
    assert_eq!(s.reasons, ["building block 3 is not met"]);
    let b3 = s.blocks.iter().find(|b| b.block == 3).unwrap();
    assert_eq!(b3.reasons, ["BB3.Y1.2 not-met: not attested"]);
    // A year-2 milestone does not count in year 1.
    assert!(good_standing(&sim_only(1), &assessments(&c, &["BB3.Y2.1"])).in_standing);
}

#[test]
fn year_two_sim_only_needs_any_two_other_blocks() {
    let c = catalog();
    // Blocks beyond 1,2,3,4,7 with year-2 milestones: 5, 6, 8, 9, 10.
    let fail_blocks = |keep: &[u8]| -> Vec<String> {
        c.milestones
            .iter()
            .filter(|m| m.year == 2 && ![1, 2, 3, 4, 7].contains(&m.block))
            .filter(|m| !keep.contains(&m.block))
            .map(|m| m.id.clone())
            .collect()
    };
    let two = fail_blocks(&[5, 9]);
    let two: Vec<&str> = two.iter().map(String::as_str).collect();
    assert!(good_standing(&sim_only(2), &assessments(&c, &two)).in_standing);
    let one = fail_blocks(&[8]);
    let one: Vec<&str> = one.iter().map(String::as_str).collect();
    let s = good_standing(&sim_only(2), &assessments(&c, &one));
    assert!(!s.in_standing);
    assert_eq!(
        s.reasons,
        ["1 building block(s) met beyond the required ones; 2 needed"]
    );
    // One milestone short in an "other" block leaves that block out.
    let mut partial = fail_blocks(&[5, 9]);
    partial.retain(|id| !id.starts_with("BB8"));
    partial.retain(|id| id != "BB5.Y2.4");
    partial.push("BB9.Y2.3".into());
    let partial: Vec<&str> = partial.iter().map(String::as_str).collect();
    // 5 and 8 met now, 9 not: still two.
    assert!(good_standing(&sim_only(2), &assessments(&c, &partial)).in_standing);
}

#[test]
fn sim_and_cpc_plus_need_blocks_8_9_10_in_both_years() {
    let c = catalog();
    for year in [1, 2] {
        let all = assessments(&c, &[]);
        assert!(good_standing(&cpc(year), &all).in_standing);
        let id = if year == 1 { "BB10.Y1.3" } else { "BB9.Y2.1" };
        let s = good_standing(&cpc(year), &assessments(&c, &[id]));
        assert!(!s.in_standing, "{id}");
        // The same shortfall is no obstacle for SIM-only in year 1.
        if year == 1 {
            assert!(good_standing(&sim_only(1), &assessments(&c, &[id])).in_standing);
        }
    }
}

fn milestone(c: &MilestoneCatalog, id: &str) -> Milestone {
    c.by_id(id).unwrap().clone()
}

fn ratio(n: usize, d: usize) -> Finding {
    Finding::Ratio {
        numerator: (0..n).map(|i| format!("Patient/{i}")).collect(),
        denominator: (0..d).map(|i| format!("Patient/{i}")).collect(),
        also: None,
    }
}

#[test]
fn readmissions_are_lower_is_better_and_met_when_tracked() {
    let me = MilestoneCatalog::load("maine-health-homes").unwrap();
    let mut readmit = milestone(&me, "HH.READMIT");
    assert!(readmit.lower_is_better && readmit.threshold.is_none());
    // Tracked: any share with stays to count is met, none readmitted too.
    assert_eq!(assess(&readmit, ratio(0, 40), false).status, Status::Met);
    assert_eq!(assess(&readmit, ratio(9, 40), false).status, Status::Met);
    assert_eq!(assess(&readmit, ratio(0, 0), false).status, Status::NotMet);
    // With a ceiling, a higher share is not met, the ceiling itself is.
    readmit.threshold = Some(0.15);
    assert_eq!(assess(&readmit, ratio(6, 40), false).status, Status::Met);
    let over = assess(&readmit, ratio(7, 40), false);
    assert_eq!(over.status, Status::NotMet);
    assert_eq!(
        over.reason.as_deref(),
        Some("17.5% is above the 15% ceiling")
    );
    assert!(milestone(&me, "HH.READMIT-MH").lower_is_better);
    assert!(!milestone(&me, "HH.SCREEN").lower_is_better);
}

#[test]
fn thresholds_are_met_at_the_share_and_not_below() {
    let c = catalog();
    let bb7 = milestone(&c, "BB7.Y1.2");
    assert_eq!(assess(&bb7, ratio(25, 100), false).status, Status::Met);
    assert_eq!(assess(&bb7, ratio(24, 100), false).status, Status::NotMet);
    assert_eq!(
        assess(&bb7, ratio(24, 100), true).status,
        Status::InProgress
    );
    let a = assess(&bb7, ratio(24, 100), false);
    assert_eq!(
        a.reason.as_deref(),
        Some("24.0% is below the 25% threshold")
    );
    let bb3 = milestone(&c, "BB3.Y1.1");
    assert_eq!(assess(&bb3, ratio(75, 100), false).status, Status::Met);
    assert_eq!(assess(&bb3, ratio(749, 1000), false).status, Status::NotMet);
    let goal = milestone(&c, "BB7.GOAL");
    assert_eq!(assess(&goal, ratio(9, 10), false).status, Status::Met);
    assert_eq!(assess(&goal, ratio(8, 10), false).status, Status::NotMet);
    // An empty denominator is never met.
    assert_eq!(assess(&bb3, ratio(0, 0), false).status, Status::NotMet);
    // A second condition (two instruments in use) must hold too.
    let two = Finding::Ratio {
        numerator: vec!["Patient/a".into()],
        denominator: vec!["Patient/a".into()],
        also: Some(("1 BH instrument in use; 2 needed".into(), false)),
    };
    assert_eq!(assess(&bb7, two, false).status, Status::NotMet);
    // BB1.Y1.1: at least 150 attributed lives.
    let bb1 = milestone(&c, "BB1.Y1.1");
    let count = |n| Finding::Count {
        count: n,
        what: "attributed lives".into(),
    };
    assert_eq!(assess(&bb1, count(150), false).status, Status::Met);
    assert_eq!(assess(&bb1, count(149), false).status, Status::NotMet);
    // Not yet computable is never met, and keeps its block out of standing.
    let missing = assess(&bb1, Finding::Missing("no attribution lists".into()), false);
    assert_eq!(missing.status, Status::NotComputable);
    let mut all = assessments(&c, &[]);
    let i = all
        .iter()
        .position(|a| a.milestone.id == "BB1.Y1.1")
        .unwrap();
    all[i] = assess(
        all[i].milestone,
        Finding::Missing("no attribution lists".into()),
        false,
    );
    let s = good_standing(&sim_only(1), &all);
    assert!(!s.in_standing);
    assert_eq!(
        s.blocks[0].reasons,
        ["BB1.Y1.1 not-computable: no attribution lists"]
    );
}

fn colorado() -> Program {
    Program {
        id: "colorado-sim".into(),
        name: "Colorado SIM".into(),
        catalog: "colorado-sim".into(),
        years: vec![d("2017-07-01"), d("2018-07-01")],
        reporting: Reporting::default(),
        tracks: vec![Track {
            id: "sim-only".into(),
            cqm_counts: [
                ("adult".to_string(), vec![3, 4, 5, 6]),
                ("pediatric".to_string(), vec![2, 3, 4]),
            ]
            .into(),
            cqms: Default::default(),
            standing: vec![sim_only(1), sim_only(2)],
        }],
        submission: None,
    }
}

#[test]
fn the_calendar_phases_in_cqms_and_dates_the_submissions() {
    let p = colorado();
    p.check(&catalog()).unwrap();
    let e = Enrolment {
        practice: "p1".into(),
        program: p.id.clone(),
        track: "sim-only".into(),
        cohort: "adult".into(),
        start: d("2017-07-01"),
        facilitator: None,
        preference_sensitive: Vec::new(),
    };
    e.check(std::slice::from_ref(&p)).unwrap();
    let t = &p.tracks[0];
    // Appendix C, adult SIM-only: 3, 4, 5, then 6 from the fourth quarter on.
    let quarter_ends = [
        "2017-10-01",
        "2018-01-01",
        "2018-04-01",
        "2018-07-01",
        "2019-01-01",
    ];
    let counts: Vec<u32> = quarter_ends
        .iter()
        .map(|q| e.required_cqms(t, d(q)))
        .collect();
    assert_eq!(counts, [3, 4, 5, 6, 6]);
    let ped = Enrolment {
        cohort: "pediatric".into(),
        ..e.clone()
    };
    assert_eq!(ped.required_cqms(t, d("2018-07-01")), 4);
    // Due one month after the quarter ends.
    assert_eq!(p.due_date(d("2017-10-01")), Some(d("2017-11-01")));
    // Maine publishes its dates: the first on or after the quarter's end.
    let mut maine = p.clone();
    maine.reporting.due_dates = vec![
        d("2016-01-29"),
        d("2016-04-29"),
        d("2016-07-29"),
        d("2016-09-30"),
    ];
    assert_eq!(maine.due_date(d("2016-04-01")), Some(d("2016-04-29")));
    assert_eq!(maine.due_date(d("2016-07-01")), Some(d("2016-07-29")));
    // Project years.
    assert_eq!(p.year_of(d("2018-06-30")), Some(1));
    assert_eq!(p.year_of(d("2018-07-01")), Some(2));
    assert_eq!(p.year_of(d("2019-07-01")), None);
    // Bad configuration names its key.
    let wrong = Enrolment {
        cohort: "geriatric".into(),
        ..e
    };
    let err = wrong.check(std::slice::from_ref(&p)).unwrap_err();
    assert!(err.contains("enrolments.p1.cohort"), "{err}");
    let mut bad = p;
    bad.tracks[0].standing[0].blocks.push(11);
    let err = bad.check(&catalog()).unwrap_err();
    assert!(
        err.contains("programs.colorado-sim.tracks.sim-only.standing"),
        "{err}"
    );
}

#[test]
fn quarters_fall_due_after_the_lag_and_catch_up_after_downtime() {
    let p = colorado();
    let e = Enrolment {
        practice: "p1".into(),
        program: p.id.clone(),
        track: "sim-only".into(),
        cohort: "adult".into(),
        start: d("2017-08-15"),
        facilitator: None,
        preference_sensitive: Vec::new(),
    };
    let names = |today: &str| -> Vec<String> {
        p.quarters_due(&e, d(today))
            .into_iter()
            .map(|q| q.name)
            .collect()
    };
    // 2017Q3 ended 2017-09-30; due for building 7 days later.
    assert!(names("2017-10-07").is_empty());
    assert_eq!(names("2017-10-08"), ["2017Q3"]);
    // After months down, every missed quarter, in order.
    assert_eq!(
        names("2018-07-09"),
        ["2017Q3", "2017Q4", "2018Q1", "2018Q2"]
    );
    // Nothing after the program's last project year (ends 2019-06-30).
    assert_eq!(
        names("2030-01-01").last().map(String::as_str),
        Some("2019Q2")
    );
    let q = super::program::Quarter::of(d("2018-02-28"));
    assert_eq!(
        (q.name.as_str(), q.first, q.last),
        ("2018Q1", d("2018-01-01"), d("2018-03-31"))
    );
    assert_eq!(q.previous().name, "2017Q4");
}
