//! Clinical quality measures, evaluated natively (no CQL engine at run time).
//!
//! Each measure is a Rust transcription of the CQL its authors published, one
//! file per measure under `cms/`, with the CQL `define` each function mirrors
//! named in its doc comment. The shared libraries (`Status`, `QICoreCommon`,
//! `Hospice`, `PalliativeCare`, `AdvancedIllnessandFrailty`, CMD) live beside
//! them. Value sets are data (`valueset`), loaded from the measure bundles in
//! `conformance/measures/`. Everything here is pure: a patient `Record`, the
//! value sets and a period go in, population membership comes out.

pub mod attribution;
pub mod catalog;
pub mod cms;
pub mod exclusions;
pub mod medication;
pub mod milestone;
pub mod qicore;
pub mod record;
pub mod run;
pub mod time;
pub mod valueset;

use qicore::Ctx;

/// Membership of one patient in the populations of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Populations {
    pub initial: bool,
    pub denominator: bool,
    pub denominator_exclusion: bool,
    pub numerator: bool,
    pub numerator_exclusion: bool,
    pub denominator_exception: bool,
}

impl Populations {
    /// A patient-based proportion measure, with the DEQM population rules
    /// applied: the denominator is within the initial population, exclusions
    /// and the numerator within the denominator, the numerator only when not
    /// excluded, the exception only when neither excluded nor in the
    /// numerator. Later criteria are evaluated only when they can matter.
    pub fn proportion(
        initial: bool,
        exclusion: impl FnOnce() -> bool,
        numerator: impl FnOnce() -> bool,
        exception: impl FnOnce() -> bool,
    ) -> Populations {
        Populations::proportion_within(initial, || true, exclusion, numerator, exception)
    }

    /// As `proportion`, for a group whose denominator narrows the initial
    /// population (`denominator` is evaluated only inside it).
    pub fn proportion_within(
        initial: bool,
        denominator: impl FnOnce() -> bool,
        exclusion: impl FnOnce() -> bool,
        numerator: impl FnOnce() -> bool,
        exception: impl FnOnce() -> bool,
    ) -> Populations {
        let mut p = Populations {
            initial,
            ..Default::default()
        };
        p.denominator = initial && denominator();
        if !p.denominator {
            return p;
        }
        p.denominator_exclusion = exclusion();
        if p.denominator_exclusion {
            return p;
        }
        p.numerator = numerator();
        if !p.numerator {
            p.denominator_exception = exception();
        }
        p
    }

    /// The count reported for a population code (`initial-population`, …).
    pub fn get(&self, code: &str) -> Option<bool> {
        Some(match code {
            "initial-population" => self.initial,
            "denominator" => self.denominator,
            "denominator-exclusion" => self.denominator_exclusion,
            "numerator" => self.numerator,
            "numerator-exclusion" => self.numerator_exclusion,
            "denominator-exception" => self.denominator_exception,
            _ => return None,
        })
    }

    /// Open care gap: in the denominator, not excluded, not excepted, and
    /// not met — for an inverse measure (lower is better), in the numerator.
    pub fn gap(&self, inverse: bool) -> bool {
        self.denominator
            && !self.denominator_exclusion
            && !self.denominator_exception
            && self.numerator == inverse
            && !self.numerator_exclusion
    }
}

/// One group's result for one patient, with its stratifier memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupResult {
    pub populations: Populations,
    /// `(stratifier code, patient is in the stratum)`, in Measure order.
    pub strata: Vec<(&'static str, bool)>,
}

impl GroupResult {
    pub fn plain(populations: Populations) -> GroupResult {
        GroupResult {
            populations,
            strata: Vec::new(),
        }
    }
}

/// Evaluates one measure for one patient.
pub type Evaluate = fn(&Ctx) -> Vec<GroupResult>;

/// Strict helper: a CQL `where` keeps only definite truth.
pub fn yes(t: time::Tri) -> bool {
    t == Some(true)
}
