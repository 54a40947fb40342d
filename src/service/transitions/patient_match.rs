//! Matching a received message's Patient to one of the practice's patients:
//! by a trusted identifier (practice MRN systems, Medicaid ID), then, if
//! configured, by exact demographics. Name alone never matches, and a search
//! that finds more than one patient decides nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fhir::query::parse as parse_query;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// `[transitions]`: how a message's Patient is matched to the practice's
/// patients, and how often open follow-up Tasks are checked for being overdue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TransitionRules {
    /// The transitions-of-care hook and sweep: held notifications filed when
    /// their Patient arrives, follow-up Tasks completed by their evidence and
    /// marked overdue. `$process-message` itself always runs.
    pub enabled: bool,
    /// Identifier systems trusted to identify a patient (practice MRNs, Medicaid ID).
    pub trusted_identifier_systems: Vec<String>,
    /// Also match on family name + given name + birth date + gender, all exact
    /// and all present, when exactly one patient has them (never name alone).
    pub demographic_match: bool,
    /// Seconds between sweeps that mark follow-up Tasks past their due point
    /// as overdue (`businessStatus`); 0 turns the sweep off.
    pub overdue_sweep_secs: u64,
}

impl Default for TransitionRules {
    fn default() -> Self {
        TransitionRules {
            enabled: true,
            trusted_identifier_systems: Vec::new(),
            demographic_match: false,
            overdue_sweep_secs: 60,
        }
    }
}

/// A Patient search as (parameter, value) pairs.
pub type PatientQuery = Vec<(String, String)>;

impl TransitionRules {
    /// The searches to try, in order; the first that finds exactly one patient decides.
    pub fn queries(&self, p: &Value) -> Vec<PatientQuery> {
        let mut out: Vec<PatientQuery> = p["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| Some((i["system"].as_str()?, i["value"].as_str()?)))
            .filter(|(sys, _)| self.trusted_identifier_systems.iter().any(|t| t == sys))
            .map(|(sys, val)| vec![("identifier".to_string(), format!("{sys}|{val}"))])
            .collect();
        if self.demographic_match
            && let Some(q) = demographics(p)
        {
            out.push(q);
        }
        out
    }
}

/// The demographic rule (`rules::identity`) as a Patient search.
fn demographics(p: &Value) -> Option<PatientQuery> {
    let [family, given, birth, gender] = crate::rules::identity::demographics(p)?;
    Some(vec![
        ("family:exact".into(), family),
        ("given:exact".into(), given),
        ("birthdate".into(), birth),
        ("gender".into(), gender),
    ])
}

/// The id of the only patient found, if exactly one was.
pub fn the_one(found: &[Value]) -> Option<String> {
    match found {
        [one] => one["id"].as_str().map(String::from),
        _ => None,
    }
}

impl FhirService {
    /// Matches against the last committed state, before the write transaction,
    /// so the single writer does not spend its time searching. The writer only
    /// confirms the patient still exists (and searches itself when this finds none).
    pub(crate) async fn prematch(
        &self,
        ctx: &AccessContext,
        p: &Value,
    ) -> Result<Option<String>, ServiceError> {
        for pairs in self.settings.transitions.queries(p) {
            let q = parse_query(&self.registry, &self.settings.base_url, "Patient", &pairs)
                .map_err(|e| ServiceError::Internal(e.0))?;
            let found: Vec<Value> = self
                .store
                .find(ctx, q, 2)
                .await?
                .iter()
                .filter_map(|r| serde_json::from_str(&r.body).ok())
                .collect();
            if let Some(id) = the_one(&found) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_of_trusted_systems_first_then_demographics() {
        let rules = TransitionRules {
            trusted_identifier_systems: vec!["urn:mrn".into()],
            demographic_match: true,
            ..Default::default()
        };
        let p = json!({"identifier": [{"system": "urn:other", "value": "1"}, {"system": "urn:mrn", "value": "7"}],
            "name": [{"family": "Doe", "given": ["Jo"]}], "birthDate": "1990-01-02", "gender": "female"});
        let q = rules.queries(&p);
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[0],
            vec![("identifier".to_string(), "urn:mrn|7".to_string())]
        );
        assert_eq!(q[1][0], ("family:exact".to_string(), "Doe".to_string()));
    }

    #[test]
    fn name_alone_or_untrusted_identifiers_give_no_search() {
        let rules = TransitionRules {
            trusted_identifier_systems: vec!["urn:mrn".into()],
            demographic_match: true,
            ..Default::default()
        };
        let p = json!({"identifier": [{"system": "urn:other", "value": "1"}], "name": [{"family": "Doe", "given": ["Jo"]}]});
        assert!(rules.queries(&p).is_empty());
        let off = TransitionRules {
            demographic_match: false,
            ..rules
        };
        let full = json!({"name": [{"family": "Doe", "given": ["Jo"]}], "birthDate": "1990-01-02", "gender": "female"});
        assert!(off.queries(&full).is_empty());
    }

    #[test]
    fn only_a_single_hit_decides() {
        assert_eq!(the_one(&[json!({"id": "a"})]), Some("a".into()));
        assert_eq!(the_one(&[json!({"id": "a"}), json!({"id": "b"})]), None);
        assert_eq!(the_one(&[]), None);
    }
}
