//! Care compacts: a partner, what it accepts and how referrals reach it.
//! These structs are the `[[partners]]` configuration itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `auto` refers at once; `propose` leaves a draft Task the practice confirms.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Auto,
    #[default]
    Propose,
}

/// One screen a partner accepts: the instrument, and a minimum total or
/// simply "positive" (the instrument's own cut-off).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Accepts {
    /// The instrument key (Questionnaire id): `phq-9`, `gad-7`, `audit-c`, `dast-10`, `epds`, …
    pub instrument: String,
    #[serde(default)]
    pub min_score: Option<f64>,
}

/// A behavioral-health partner (or, in the reverse direction, a primary-care
/// practice) and its compact with the practices in `tenants`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// The partner's Organization id; its clients act for this organization.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The practices (tenants) holding a compact with this partner.
    pub tenants: Vec<String>,
    /// The partner's FHIR base for push delivery; none means pull-only.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Tandem's client id at the partner (SMART Backend Services).
    #[serde(default)]
    pub client_id: Option<String>,
    /// PEM file with the private key of that client (the path, never the key).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The partner's token endpoint; default `{endpoint}/auth/token`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Scope to ask the partner for.
    #[serde(default)]
    pub scope: Option<String>,
    /// Sent as `X-Tandem-Tenant` when the partner is itself a Tandem (the
    /// tenant the package goes to there).
    #[serde(default)]
    pub remote_tenant: Option<String>,
    #[serde(default)]
    pub accepts: Vec<Accepts>,
    #[serde(default)]
    pub min_age: Option<u32>,
    #[serde(default)]
    pub max_age: Option<u32>,
    /// Payer Organization ids of the patient's Coverage; empty: any payer.
    #[serde(default)]
    pub payers: Vec<String>,
    /// States or postal-code prefixes of the patient's address; empty: anywhere.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Agreed days from referral to first visit.
    #[serde(default = "default_days")]
    pub days_to_first_visit: u32,
    #[serde(default)]
    pub mode: Mode,
}

fn default_days() -> u32 {
    14
}

/// What the compact needs to know about a positive screen and its patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Screen<'a> {
    pub instrument: &'a str,
    pub total: Option<f64>,
    pub positive: bool,
    pub age_years: Option<f64>,
    pub payers: &'a [String],
    /// The patient's address states and postal codes.
    pub places: &'a [String],
}

impl Partner {
    /// Whether this partner takes referrals from `tenant` for `screen`.
    pub fn accepts(&self, tenant: &str, s: &Screen) -> bool {
        self.tenants.iter().any(|t| t == tenant)
            && self.accepts.iter().any(|a| a.takes(s))
            && self.age_fits(s.age_years)
            && (self.payers.is_empty() || s.payers.iter().any(|p| self.payers.contains(p)))
            && (self.regions.is_empty()
                || s.places
                    .iter()
                    .any(|p| self.regions.iter().any(|r| p.starts_with(r.as_str()))))
    }

    fn age_fits(&self, age: Option<f64>) -> bool {
        match (age, self.min_age, self.max_age) {
            (_, None, None) => true,
            (None, _, _) => false,
            (Some(a), min, max) => {
                min.is_none_or(|m| a >= f64::from(m)) && max.is_none_or(|m| a < f64::from(m) + 1.0)
            }
        }
    }

    pub fn pushes(&self) -> bool {
        self.endpoint.is_some()
    }
}

impl Partner {
    /// A pull-only partner of `tenants` taking `accepts` in `mode`, with no
    /// age, payer or region limits and the default agreed days; set any
    /// other field with struct update syntax.
    pub fn new(id: &str, tenants: Vec<String>, accepts: Vec<Accepts>, mode: Mode) -> Partner {
        Partner {
            id: id.into(),
            name: None,
            tenants,
            endpoint: None,
            client_id: None,
            key_file: None,
            token_url: None,
            scope: None,
            remote_tenant: None,
            accepts,
            min_age: None,
            max_age: None,
            payers: Vec::new(),
            regions: Vec::new(),
            days_to_first_visit: default_days(),
            mode,
        }
    }
}

impl Accepts {
    /// `instrument` with a total of at least `min`.
    pub fn at_least(instrument: &str, min: f64) -> Accepts {
        Accepts {
            instrument: instrument.into(),
            min_score: Some(min),
        }
    }

    /// `instrument` when positive at its own cut-off.
    pub fn positive(instrument: &str) -> Accepts {
        Accepts {
            instrument: instrument.into(),
            min_score: None,
        }
    }

    fn takes(&self, s: &Screen) -> bool {
        self.instrument.eq_ignore_ascii_case(s.instrument)
            && match self.min_score {
                Some(min) => s.total.is_some_and(|t| t >= min),
                None => s.positive,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner() -> Partner {
        let accepts = vec![
            Accepts::at_least("phq-9", 10.0),
            Accepts::positive("audit-c"),
        ];
        Partner {
            min_age: Some(18),
            max_age: Some(64),
            payers: vec!["medicaid".into()],
            regions: vec!["ME".into(), "040".into()],
            ..Partner::new("cmhc", vec!["practice".into()], accepts, Mode::Auto)
        }
    }

    fn screen<'a>(
        instrument: &'a str,
        total: f64,
        positive: bool,
        payers: &'a [String],
        places: &'a [String],
    ) -> Screen<'a> {
        Screen {
            instrument,
            total: Some(total),
            positive,
            age_years: Some(30.0),
            payers,
            places,
        }
    }

    #[test]
    fn thresholds_positivity_tenant_age_payer_and_region_all_apply() {
        let p = partner();
        let (payers, places) = (
            vec!["medicaid".to_string()],
            vec!["ME".to_string(), "04101".to_string()],
        );
        assert!(p.accepts("practice", &screen("phq-9", 10.0, true, &payers, &places)));
        assert!(
            !p.accepts("practice", &screen("phq-9", 9.0, false, &payers, &places)),
            "below 10"
        );
        assert!(
            !p.accepts("other", &screen("phq-9", 15.0, true, &payers, &places)),
            "no compact"
        );
        assert!(p.accepts("practice", &screen("audit-c", 4.0, true, &payers, &places)));
        assert!(
            !p.accepts("practice", &screen("audit-c", 4.0, false, &payers, &places)),
            "negative"
        );
        assert!(
            !p.accepts("practice", &screen("gad-7", 21.0, true, &payers, &places)),
            "not accepted"
        );
        let other_payer = vec!["commercial".to_string()];
        assert!(!p.accepts(
            "practice",
            &screen("phq-9", 20.0, true, &other_payer, &places)
        ));
        let elsewhere = vec!["NH".to_string(), "03101".to_string()];
        assert!(!p.accepts(
            "practice",
            &screen("phq-9", 20.0, true, &payers, &elsewhere)
        ));
        let zip_only = vec!["04011".to_string()];
        assert!(p.accepts("practice", &screen("phq-9", 20.0, true, &payers, &zip_only)));
    }

    #[test]
    fn age_bounds_are_whole_years_inclusive_and_unknown_age_fails_them() {
        let p = partner();
        let (payers, places) = (vec!["medicaid".to_string()], vec!["ME".to_string()]);
        let at = |age: Option<f64>| Screen {
            age_years: age,
            ..screen("phq-9", 12.0, true, &payers, &places)
        };
        assert!(!p.accepts("practice", &at(Some(17.99))));
        assert!(p.accepts("practice", &at(Some(18.0))));
        assert!(p.accepts("practice", &at(Some(64.9))), "still 64");
        assert!(!p.accepts("practice", &at(Some(65.0))));
        assert!(!p.accepts("practice", &at(None)));
        let open = Partner {
            min_age: None,
            max_age: None,
            ..partner()
        };
        assert!(open.accepts("practice", &at(None)));
    }
}
