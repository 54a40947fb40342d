//! Run-chart rules as health-care QI teams are taught to read them
//! (`../shared/reference/reporting.md`): the median as centre line; a
//! **shift** — six or more consecutive points on one side of the median
//! (Perla, Provost & Murray, BMJ Qual Saf 2011; points on the median
//! neither break nor extend it); too few **crossings** of the median —
//! fewer than the 5th percentile of Binomial(n − 1, ½) (Anhøj & Olesen,
//! PLoS ONE 2014, as R's qicharts2 computes it); an unusually **long run**
//! — longer than round(log2(n) + 3) (Anhøj); and **astronomical** points.
//!
//! Perla et al. leave "astronomical" to judgment; here a point is
//! astronomical when it lies more than 3 robust standard deviations
//! (1.4826 × the median absolute deviation) from the median — a stated,
//! testable stand-in for "blatantly different", never a control limit.
//!
//! Rules need independent points: charts are of monthly rates (the
//! trailing-12 figures programs take share 11 of 12 months), and fewer than
//! 10 useful points make no signal.

/// The fewest useful points before any rule signals.
pub const MIN_POINTS: usize = 10;
/// Consecutive points on one side of the median that make a shift.
pub const SHIFT: usize = 6;

/// What a series of rates shows. Indices are into the points given.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The centre line (None without points).
    pub median: Option<f64>,
    /// Points (not on the median) the rules count.
    pub useful: usize,
    /// Points in a run of [`SHIFT`] or more on one side of the median.
    pub shift: Vec<usize>,
    /// The longest run on one side, and the longest expected by chance.
    pub longest_run: usize,
    pub longest_run_max: usize,
    /// Crossings of the median, and the fewest expected by chance.
    pub crossings: usize,
    pub crossings_min: usize,
    /// Points blatantly different from the rest.
    pub astronomical: Vec<usize>,
}

impl Analysis {
    /// Whether the rules apply (enough useful points).
    pub fn enough(&self) -> bool {
        self.useful >= MIN_POINTS
    }
    /// A non-random pattern: a long run or too few crossings (Anhøj).
    pub fn non_random(&self) -> bool {
        self.enough()
            && (self.longest_run > self.longest_run_max || self.crossings < self.crossings_min)
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The 5th percentile of Binomial(n, ½): the smallest k with P(X ≤ k) ≥ 0.05
/// (R's `qbinom(0.05, n, 0.5)`).
pub fn crossings_min(useful: usize) -> usize {
    if useful < 2 {
        return 0;
    }
    let n = useful - 1;
    // P(X = k) in log space, summed until the CDF reaches 5%.
    let ln_choose =
        |k: usize| -> f64 { (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum() };
    let half = (0.5f64).ln() * n as f64;
    let mut cdf = 0.0;
    for k in 0..=n {
        cdf += (ln_choose(k) + half).exp();
        if cdf >= 0.05 - 1e-12 {
            return k;
        }
    }
    n
}

/// The longest run expected by chance in `useful` points: round(log2(n) + 3).
pub fn longest_run_max(useful: usize) -> usize {
    if useful == 0 {
        return 0;
    }
    ((useful as f64).log2() + 3.0).round() as usize
}

/// Reads a series; `None` points (no denominator that month) are skipped.
pub fn analyse(points: &[Option<f64>]) -> Analysis {
    let present: Vec<(usize, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|v| (i, v)))
        .collect();
    let mut values: Vec<f64> = present.iter().map(|(_, v)| *v).collect();
    let Some(m) = median(&mut values) else {
        return Analysis {
            median: None,
            useful: 0,
            shift: Vec::new(),
            longest_run: 0,
            longest_run_max: 0,
            crossings: 0,
            crossings_min: 0,
            astronomical: Vec::new(),
        };
    };
    // Sides of the useful points: +1 above, -1 below; on the median: skipped.
    let sides: Vec<(usize, i8)> = present
        .iter()
        .filter(|(_, v)| *v != m)
        .map(|(i, v)| (*i, if *v > m { 1 } else { -1 }))
        .collect();
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut last = 0i8;
    for (i, side) in &sides {
        if *side == last {
            runs.last_mut().expect("a run is open").push(*i);
        } else {
            runs.push(vec![*i]);
            last = *side;
        }
    }
    let useful = sides.len();
    let shift = runs
        .iter()
        .filter(|r| r.len() >= SHIFT)
        .flatten()
        .copied()
        .collect();
    let mut deviations: Vec<f64> = present.iter().map(|(_, v)| (v - m).abs()).collect();
    let mad = median(&mut deviations).unwrap_or(0.0) * 1.4826;
    let astronomical = if mad > 0.0 {
        present
            .iter()
            .filter(|(_, v)| (v - m).abs() > 3.0 * mad)
            .map(|(i, _)| *i)
            .collect()
    } else {
        Vec::new()
    };
    Analysis {
        median: Some(m),
        useful,
        shift,
        longest_run: runs.iter().map(Vec::len).max().unwrap_or(0),
        longest_run_max: longest_run_max(useful),
        crossings: runs.len().saturating_sub(1),
        crossings_min: crossings_min(useful),
        astronomical,
    }
}

#[cfg(test)]
mod tests;
