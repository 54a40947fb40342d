use super::*;

/// The limits qicharts2 uses (Anhøj & Olesen 2014): round(log2(n) + 3) and
/// R's qbinom(0.05, n − 1, 0.5). The expected values were computed apart
/// from this code, with exact binomial sums in Python (`math.comb`).
#[test]
fn limits_match_the_published_table() {
    let table = [
        (10, 6, 2),
        (11, 6, 2),
        (12, 7, 3),
        (13, 7, 3),
        (14, 7, 4),
        (15, 7, 4),
        (16, 7, 4),
        (17, 7, 5),
        (18, 7, 5),
        (19, 7, 6),
        (20, 7, 6),
        (24, 8, 8),
        (30, 8, 10),
        (40, 8, 14),
        (50, 9, 19),
        (60, 9, 23),
        (100, 10, 41),
    ];
    for (n, run, cross) in table {
        assert_eq!(
            (longest_run_max(n), crossings_min(n)),
            (run, cross),
            "n = {n}"
        );
    }
}

#[test]
fn a_shift_is_six_points_on_one_side_and_the_median_does_not_break_it() {
    // Twelve months: six low, then an improvement after a PDSA.
    let low = [0.20, 0.22, 0.18, 0.21, 0.19, 0.20];
    let high = [0.40, 0.45, 0.42, 0.44, 0.41, 0.43];
    let points: Vec<Option<f64>> = low.iter().chain(&high).map(|v| Some(*v)).collect();
    let a = analyse(&points);
    assert_eq!(a.median, Some((0.22 + 0.40) / 2.0));
    assert_eq!(a.shift, (0..12).collect::<Vec<_>>());
    assert_eq!((a.longest_run, a.crossings), (6, 1));
    assert!(a.non_random(), "one crossing in 12 points: fewer than 3");

    // Five on one side, one on the median, then a sixth: still a run of
    // six useful points (the median point neither breaks nor adds).
    let m = 0.5;
    let series = [
        0.6, 0.7, 0.6, 0.7, 0.6, 0.5, 0.8, 0.3, 0.2, 0.3, 0.4, 0.2, 0.3,
    ];
    let mut s: Vec<Option<f64>> = series.iter().map(|v| Some(*v)).collect();
    let a = analyse(&s);
    assert_eq!(a.median, Some(m));
    assert_eq!(a.shift, vec![0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]);
    // Five above, one on the median, then below: no shift.
    let series = [
        0.6, 0.7, 0.6, 0.7, 0.6, 0.5, 0.3, 0.2, 0.3, 0.8, 0.2, 0.3, 0.4,
    ];
    s = series.iter().map(|v| Some(*v)).collect();
    let a = analyse(&s);
    assert_eq!((a.median, a.longest_run), (Some(0.5), 5));
    assert!(a.shift.is_empty());
}

#[test]
fn random_variation_signals_nothing_and_gaps_are_skipped() {
    let zigzag: Vec<Option<f64>> = (0..14)
        .map(|i| Some(if i % 2 == 0 { 0.3 } else { 0.5 }))
        .collect();
    let a = analyse(&zigzag);
    assert!(a.shift.is_empty() && !a.non_random(), "{a:?}");
    assert_eq!(a.crossings, 13);
    let mut gappy = zigzag.clone();
    gappy[3] = None;
    gappy[4] = None;
    let a = analyse(&gappy);
    assert_eq!((a.median, a.useful, a.crossings), (Some(0.4), 12, 11));
    // Fewer than ten points: the rules do not apply.
    assert!(!analyse(&zigzag[..8]).enough());
}

#[test]
fn an_astronomical_point_stands_far_from_the_rest() {
    let mut s: Vec<Option<f64>> = [0.30, 0.32, 0.31, 0.29, 0.30, 0.33, 0.28, 0.31, 0.30, 0.32]
        .iter()
        .map(|v| Some(*v))
        .collect();
    assert!(analyse(&s).astronomical.is_empty());
    s.push(Some(0.95));
    assert_eq!(analyse(&s).astronomical, vec![10]);
}
