//! Seeded randomness. Every patient draws from its own generator, seeded
//! from the run's seed and the patient's number, so output is identical for
//! the same seed whatever order (or how many threads) patients are made in.

use chrono::{Duration, NaiveDate};

pub struct Dice(fastrand::Rng);

/// SplitMix64: spreads (seed, stream) into a well-mixed 64-bit seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Dice {
    /// The generator of stream `stream` of run `seed`.
    pub fn new(seed: u64, stream: u64) -> Dice {
        Dice(fastrand::Rng::with_seed(mix(seed ^ mix(stream))))
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.0.f64() < p
    }

    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        self.0.u32(lo..=hi)
    }

    pub fn index(&mut self, len: usize) -> usize {
        self.0.usize(..len)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// An index drawn with the given weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.0.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Normal(mean, sd), Box–Muller.
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = self.0.f64().max(f64::MIN_POSITIVE);
        let u2 = self.0.f64();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A day in `from..=to` (`from` when the range is empty).
    pub fn day(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let span = (to - from).num_days().max(0) as u64;
        from + Duration::days(self.0.u64(0..=span) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |seed, stream| {
            let mut d = Dice::new(seed, stream);
            (0..8).map(|_| d.int(0, 1_000_000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 3), draw(7, 3));
        assert_ne!(draw(7, 3), draw(7, 4));
        assert_ne!(draw(7, 3), draw(8, 3));
        let mut d = Dice::new(1, 1);
        let mean = (0..20_000).map(|_| d.normal(10.0, 2.0)).sum::<f64>() / 20_000.0;
        assert!((mean - 10.0).abs() < 0.1, "{mean}");
    }
}
