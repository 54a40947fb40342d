//! Scoring against the published tables: every band boundary, each
//! missing-answer rule, AUDIT-C by sex, EPDS reverse scoring through answer
//! weights, and the refusals. Expected numbers are written out from the
//! sources (specs.md §6.2, LOINC answer lists), not computed by the code.

use super::catalog::{Instrument, builtin};
use super::rules::{ScreeningConfig, rule};
use super::score::{Answer, Response, score};
use super::{Outcome, Sex};

fn inst(key: &str) -> Instrument {
    builtin().into_iter().find(|i| i.key == key).unwrap()
}

fn coded(key: &str, code: &str) -> Response {
    Response {
        key: key.into(),
        answer: Answer::Coded {
            system: None,
            code: code.into(),
            weight: None,
        },
    }
}

/// PHQ answers (LL358-3): 0 LA6568-5, 1 LA6569-3, 2 LA6570-1, 3 LA6571-9.
fn phq(items: &[&str], scores: &[usize]) -> Vec<Response> {
    const LA: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
    items
        .iter()
        .zip(scores)
        .map(|(i, s)| coded(i, LA[*s]))
        .collect()
}

const PHQ9: [&str; 9] = [
    "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    "44260-8",
];
const GAD7: [&str; 7] = [
    "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
];

/// Item scores (each 0..=max) summing to `total`, filled left to right.
fn spread(total: usize, n: usize, max: usize) -> Vec<usize> {
    let mut left = total;
    (0..n)
        .map(|_| {
            let s = left.min(max);
            left -= s;
            s
        })
        .collect()
}

fn run(
    key: &str,
    responses: &[Response],
    sent: Option<f64>,
    sex: Sex,
    cfg: &ScreeningConfig,
) -> Outcome {
    let i = inst(key);
    score(&i, &rule(key, cfg).unwrap(), responses, sent, sex).unwrap()
}

fn band(o: &Outcome) -> &str {
    &o.band.as_ref().unwrap().code
}

#[test]
fn phq9_every_total_has_the_published_band_and_cutoff() {
    let cfg = ScreeningConfig::default();
    for total in 0..=27 {
        // Item 9 kept at 0 so only the total matters.
        let mut s = spread(total, 8, 3);
        s.push(0);
        let o = run("phq-9", &phq(&PHQ9, &s), None, Sex::Unknown, &cfg);
        let want = match total {
            0..=4 => "LA6708-7",
            5..=9 => "LA6709-5",
            10..=14 => "LA6710-3",
            15..=19 => "LA6711-1",
            _ => "LA6712-9",
        };
        if total <= 24 {
            assert_eq!(o.total, Some(total as f64));
            assert_eq!(band(&o), want, "total {total}");
            assert_eq!(o.positive, Some(total >= 10), "total {total}");
            assert!(o.safety.is_none());
        }
    }
    // 25-27 need item 9: they are severe and raise the safety alert.
    for total in 25..=27 {
        let s = spread(total, 9, 3);
        let o = run("phq-9", &phq(&PHQ9, &s), None, Sex::Unknown, &cfg);
        assert_eq!((o.total, band(&o)), (Some(total as f64), "LA6712-9"));
        assert_eq!(o.safety.as_ref().unwrap().item, "44260-8");
    }
}

#[test]
fn phq9_item9_alerts_whatever_the_total() {
    let o = run(
        "phq-9",
        &phq(&PHQ9, &[0, 0, 0, 0, 0, 0, 0, 0, 1]),
        None,
        Sex::Unknown,
        &ScreeningConfig::default(),
    );
    assert_eq!((o.total, o.positive), (Some(1.0), Some(false)));
    assert_eq!(o.safety.unwrap().weight, Some(1.0));
}

#[test]
fn phq9_missing_answers_prorate_up_to_two_then_incomplete() {
    let cfg = ScreeningConfig::default();
    // 7 answered, sum 10: 10 * 9 / 7 = 12.86 -> 13 (PHQ manual proration).
    let o = run(
        "phq-9",
        &phq(&PHQ9[..7], &[2, 2, 2, 1, 1, 1, 1]),
        None,
        Sex::Unknown,
        &cfg,
    );
    assert_eq!(
        (o.total, o.prorated, o.positive),
        (Some(13.0), true, Some(true))
    );
    // 8 answered, sum 8: 8 * 9 / 8 = 9.
    let o = run("phq-9", &phq(&PHQ9[..8], &[1; 8]), None, Sex::Unknown, &cfg);
    assert_eq!((o.total, o.positive), (Some(9.0), Some(false)));
    // 3 missing: incomplete, not counted.
    let o = run("phq-9", &phq(&PHQ9[..6], &[3; 6]), None, Sex::Unknown, &cfg);
    assert_eq!((o.total, o.positive, o.band.is_none()), (None, None, true));
    assert!(o.notes[0].contains("6 of 9"), "{:?}", o.notes);
}

#[test]
fn phq2_cutoff_is_configurable() {
    let items = &PHQ9[..2];
    let std = ScreeningConfig::default();
    let low = ScreeningConfig {
        phq2_cutoff: 2.0,
        ..ScreeningConfig::default()
    };
    assert_eq!(
        run("phq-2", &phq(items, &[1, 1]), None, Sex::Unknown, &std).positive,
        Some(false)
    );
    assert_eq!(
        run("phq-2", &phq(items, &[2, 1]), None, Sex::Unknown, &std).positive,
        Some(true)
    );
    assert_eq!(
        run("phq-2", &phq(items, &[1, 1]), None, Sex::Unknown, &low).positive,
        Some(true)
    );
    // No proration for the PHQ-2.
    assert_eq!(
        run("phq-2", &phq(&items[..1], &[3]), None, Sex::Unknown, &std).total,
        None
    );
}

#[test]
fn gad7_bands_and_no_proration() {
    let cfg = ScreeningConfig::default();
    for (total, want, pos) in [
        (0, "minimal", false),
        (4, "minimal", false),
        (5, "mild", false),
        (9, "mild", false),
        (10, "moderate", true),
        (14, "moderate", true),
        (15, "severe", true),
        (21, "severe", true),
    ] {
        let o = run(
            "gad-7",
            &phq(&GAD7, &spread(total, 7, 3)),
            None,
            Sex::Unknown,
            &cfg,
        );
        assert_eq!((band(&o), o.positive), (want, Some(pos)), "GAD-7 {total}");
    }
    assert_eq!(
        run("gad-7", &phq(&GAD7[..6], &[3; 6]), None, Sex::Unknown, &cfg).total,
        None
    );
}

#[test]
fn epds_reverse_scored_items_follow_the_paper_form() {
    // The first printed option of each item: items 1, 2, 4 score 0; items 3 and 5-10 score 3.
    let first: Vec<Response> = (1..=10)
        .map(|n| coded(&format!("epds-{n}"), &format!("epds-{n}-0")))
        .collect();
    let o = run(
        "epds",
        &first,
        None,
        Sex::Female,
        &ScreeningConfig::default(),
    );
    assert_eq!(o.total, Some(21.0));
    assert_eq!(o.safety.as_ref().unwrap().item, "epds-10");
    // The last printed option: items 1, 2, 4 score 3; the reversed ones 0.
    let last: Vec<Response> = (1..=10)
        .map(|n| coded(&format!("epds-{n}"), &format!("epds-{n}-3")))
        .collect();
    let o = run(
        "epds",
        &last,
        None,
        Sex::Female,
        &ScreeningConfig::default(),
    );
    assert_eq!((o.total, o.safety.is_none()), (Some(9.0), true));
}

#[test]
fn epds_cutoff_ten_or_thirteen() {
    let thirteen = ScreeningConfig {
        epds_cutoff: 13.0,
        ..ScreeningConfig::default()
    };
    // Items 1,2,4 at "3" (9) plus item 3 "Not very often" (1) + item 5 "No, not much" (1) = 11.
    let mut r: Vec<Response> = (1..=10)
        .map(|n| coded(&format!("epds-{n}"), &format!("epds-{n}-3")))
        .collect();
    r[2] = coded("epds-3", "epds-3-2");
    r[4] = coded("epds-5", "epds-5-2");
    let o10 = run("epds", &r, None, Sex::Female, &ScreeningConfig::default());
    let o13 = run("epds", &r, None, Sex::Female, &thirteen);
    assert_eq!(
        (o10.total, o10.positive, o13.positive),
        (Some(11.0), Some(true), Some(false))
    );
    assert_eq!(band(&o10), "possible-depression");
}

#[test]
fn audit_c_cutoff_depends_on_sex() {
    // Monthly or less (1) + 3 or 4 drinks (1) + less than monthly (1) = 3.
    let three = [
        coded("68518-0", "LA18926-8"),
        coded("68519-8", "LA15695-2"),
        coded("68520-6", "LA18933-4"),
    ];
    let cfg = ScreeningConfig::default();
    assert_eq!(
        run("audit-c", &three, None, Sex::Female, &cfg).positive,
        Some(true)
    );
    assert_eq!(
        run("audit-c", &three, None, Sex::Male, &cfg).positive,
        Some(false)
    );
    let unknown = run("audit-c", &three, None, Sex::Unknown, &cfg);
    assert_eq!(unknown.positive, Some(true));
    assert!(unknown.notes[0].contains("lower cut-off"));
    // 2-4 times a month (2) + 3 or 4 (1) + less than monthly (1) = 4: positive for both.
    let four = [
        coded("68518-0", "LA18927-6"),
        coded("68519-8", "LA15695-2"),
        coded("68520-6", "LA18933-4"),
    ];
    assert_eq!(
        run("audit-c", &four, None, Sex::Male, &cfg).positive,
        Some(true)
    );
    assert!(rule("audit-c", &cfg).unwrap().sensitive);
}

#[test]
fn audit_zones_dast_bands_and_morse_levels() {
    let cfg = ScreeningConfig::default();
    let audit = inst("audit");
    for (total, zone, pos) in [
        (7.0, "zone-1", false),
        (8.0, "zone-2", true),
        (15.0, "zone-2", true),
        (16.0, "zone-3", true),
        (19.0, "zone-3", true),
        (20.0, "zone-4", true),
        (40.0, "zone-4", true),
    ] {
        let o = score(
            &audit,
            &rule("audit", &cfg).unwrap(),
            &[],
            Some(total),
            Sex::Male,
        )
        .unwrap();
        assert_eq!((band(&o), o.positive), (zone, Some(pos)), "AUDIT {total}");
    }
    // DAST-10: every "No" scores 1 (item 3 is reversed).
    let no: Vec<Response> = (1..=10)
        .map(|n| coded(&format!("dast-{n}"), "LA32-8"))
        .collect();
    let o = run("dast-10", &no, None, Sex::Male, &cfg);
    assert_eq!(
        (o.total, band(&o), o.positive),
        (Some(1.0), "low", Some(false))
    );
    let dast = inst("dast-10");
    for (total, b) in [
        (0.0, "none"),
        (2.0, "low"),
        (3.0, "moderate"),
        (5.0, "moderate"),
        (6.0, "substantial"),
        (8.0, "substantial"),
        (9.0, "severe"),
        (10.0, "severe"),
    ] {
        let o = score(
            &dast,
            &rule("dast-10", &cfg).unwrap(),
            &[],
            Some(total),
            Sex::Male,
        )
        .unwrap();
        assert_eq!(band(&o), b, "DAST {total}");
        assert_eq!(o.positive, Some(total >= 3.0));
    }
    let morse = inst("morse-fall-scale");
    for (cfg, total, b) in [
        (&cfg, 24.0, "LA13038-7"),
        (&cfg, 25.0, "LA13039-5"),
        (&cfg, 45.0, "LA13039-5"),
        (&cfg, 46.0, "LA13040-3"),
        (
            &ScreeningConfig {
                morse_high_from: 50.0,
                ..cfg.clone()
            },
            49.0,
            "LA13039-5",
        ),
    ] {
        let o = score(
            &morse,
            &rule("morse-fall-scale", cfg).unwrap(),
            &[],
            Some(total),
            Sex::Male,
        )
        .unwrap();
        assert_eq!(band(&o), b, "Morse {total}");
    }
    let one_yes = [
        coded("steadi-1", "LA32-8"),
        coded("steadi-2", "LA33-6"),
        coded("steadi-3", "LA32-8"),
    ];
    assert_eq!(
        run("steadi-key-questions", &one_yes, None, Sex::Female, &cfg).positive,
        Some(true)
    );
}

#[test]
fn sent_totals_are_checked_and_disagreements_reported() {
    let cfg = ScreeningConfig::default();
    let i = inst("phq-9");
    let r = rule("phq-9", &cfg).unwrap();
    let items = phq(&PHQ9, &[2, 2, 2, 2, 2, 2, 2, 0, 0]);
    let o = score(&i, &r, &items, Some(12.0), Sex::Unknown).unwrap();
    assert_eq!((o.total, o.sent_total), (Some(14.0), Some(12.0)));
    assert!(o.notes[0].contains("disagrees"));
    assert!(
        score(&i, &r, &[], Some(28.0), Sex::Unknown)
            .unwrap_err()
            .0
            .contains("outside")
    );
    assert!(score(&i, &r, &[], Some(9.5), Sex::Unknown).is_err());
    assert!(score(&i, &r, &[], None, Sex::Unknown).is_err());
}

#[test]
fn refusals_name_the_problem() {
    let cfg = ScreeningConfig::default();
    let i = inst("phq-9");
    let r = rule("phq-9", &cfg).unwrap();
    let mut dup = phq(&PHQ9, &[0; 9]);
    dup.push(coded("44250-9", "LA6568-5"));
    assert!(
        score(&i, &r, &dup, None, Sex::Unknown)
            .unwrap_err()
            .0
            .contains("more than once")
    );
    let bad = [coded("44250-9", "LA9999-9")];
    assert!(
        score(&i, &r, &bad, None, Sex::Unknown)
            .unwrap_err()
            .0
            .contains("answer list")
    );
    let four = [Response {
        key: "44250-9".into(),
        answer: Answer::Number(4.0),
    }];
    assert!(
        score(&i, &r, &four, None, Sex::Unknown)
            .unwrap_err()
            .0
            .contains("allowed: 0, 1, 2, 3")
    );
    // A numeric answer equal to an option's weight is accepted; US Core linkIds ("/44250-9") name items.
    let ok: Vec<Response> = PHQ9
        .iter()
        .map(|c| Response {
            key: format!("/{c}"),
            answer: Answer::Number(1.0),
        })
        .collect();
    assert_eq!(
        score(&i, &r, &ok, None, Sex::Unknown).unwrap().total,
        Some(9.0)
    );
}
