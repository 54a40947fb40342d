//! The screening capability: results, safety alerts (Flag, Task, practice
//! notification through the outbox) and the behavioral-health care plan,
//! computed inside the write transaction from the Observations and
//! QuestionnaireResponses a unit of work wrote, before it commits
//! ([`ScreeningHook`], registered in `service::hooks`).
//!
//! The clinical reading itself is pure (`crate::rules`); this module reads what
//! it needs through the same transaction (panel members, the patient's sex and
//! birth date, stored Questionnaires, earlier results), and writes the outputs
//! with ids derived from their source, so the same input never derives twice.

mod apply;
mod build;
mod extract;
mod panel;
mod plan;
mod questionnaire;
mod record;
pub mod status;

use std::collections::BTreeSet;
use std::sync::Arc;

use aho_corasick::AhoCorasick;

use crate::fhir::outcome::Issue;
use crate::rules::screening::ScreeningConfig;
use crate::rules::screening::catalog::{self, Instrument};
use crate::rules::screening::safety::SafetyItems;
use crate::rules::screening::value::{self, ValueScreen};
use crate::service::ServiceError;
use crate::service::WriteResult;
use crate::service::fhir_api::bundle_entry::EntryResult;
use crate::service::hooks::{HookCx, PostWriteHook};

const LOINC: &str = "http://loinc.org";

pub use build::{DERIVED_TAG, INSTRUMENT_TAG};
pub use record::{Recording, Written};

/// The derivation engine: the instrument catalog and the program's choices.
pub struct Deriver {
    pub instruments: Vec<Instrument>,
    pub values: Vec<ValueScreen>,
    pub config: ScreeningConfig,
    /// PHQ-9 item 9 and EPDS item 10, read for on every response and panel.
    pub safety: SafetyItems,
    /// Finds Observations that mention an instrument code before parsing them:
    /// most ingested Observations (labs, vitals) never need a second look.
    triggers: AhoCorasick,
}

impl Deriver {
    pub fn new(config: ScreeningConfig) -> Deriver {
        let instruments = catalog::builtin();
        let values = value::screens();
        let mut codes: Vec<String> = Vec::new();
        for i in &instruments {
            codes.push(format!("\"{}\"", i.total.code));
            codes.extend(i.panel.iter().map(|p| format!("\"{}\"", p.code)));
        }
        codes.extend(values.iter().map(|v| format!("\"{}\"", v.code.code)));
        let safety = SafetyItems::of(&instruments, &config);
        codes.extend(safety.codes().map(|c| format!("\"{c}\"")));
        let triggers = AhoCorasick::new(&codes).expect("instrument codes form a valid automaton");
        Deriver {
            instruments,
            values,
            config,
            safety,
            triggers,
        }
    }

    /// The instrument whose canonical is `url` (without `|version`): Tandem's
    /// own, or a LOINC form canonical of the instrument's panel code
    /// (`http://loinc.org/q/{panel}` as NLM's LHC-Forms publish them, or
    /// `http://loinc.org/{panel}`).
    pub fn by_url(&self, url: &str) -> Option<usize> {
        let url = url.split('|').next().unwrap_or(url);
        if let Some(i) = self.instruments.iter().position(|i| i.url == url) {
            return Some(i);
        }
        let panel = [
            "http://loinc.org/q/",
            "https://loinc.org/q/",
            "http://loinc.org/",
            "https://loinc.org/",
        ]
        .iter()
        .find_map(|p| url.strip_prefix(p))?
        .trim_end_matches('/');
        self.by_panel(&[(Some(LOINC.to_string()), panel.to_string())])
    }

    pub fn by_panel(&self, codes: &[(Option<String>, String)]) -> Option<usize> {
        self.instruments.iter().position(|i| {
            i.panel.as_ref().is_some_and(|p| {
                codes
                    .iter()
                    .any(|(s, c)| *c == p.code && s.as_deref().is_none_or(|s| s == p.system))
            })
        })
    }

    pub fn by_total(&self, codes: &[(Option<String>, String)]) -> Option<usize> {
        self.instruments.iter().position(|i| {
            codes.iter().any(|(s, c)| {
                *c == i.total.code && s.as_deref().is_none_or(|s| s == i.total.system)
            })
        })
    }

    pub fn value_screen(&self, codes: &[(Option<String>, String)]) -> Option<usize> {
        self.values.iter().position(|v| {
            codes
                .iter()
                .any(|(s, c)| *c == v.code.code && s.as_deref().is_none_or(|s| s == v.code.system))
        })
    }

    /// Cheap test before parsing: can this written resource concern screening?
    fn may_concern(&self, w: &Written) -> bool {
        w.deleted || w.resource_type == "QuestionnaireResponse" || self.triggers.is_match(&w.body)
    }
}

/// Warnings about derivations, keyed by the `Type/id` of the source.
#[derive(Debug, Default)]
pub struct Notes(pub Vec<(String, Issue)>);

impl Notes {
    pub fn for_source(&self, reference: &str) -> Vec<Issue> {
        self.0
            .iter()
            .filter(|(r, _)| r == reference)
            .map(|(_, i)| i.clone())
            .collect()
    }

    /// Adds the warnings about the written resource to the write's outcome.
    pub fn attach(&self, r: &mut WriteResult) {
        if let Some(s) = &r.resource {
            r.issues
                .extend(self.for_source(&format!("{}/{}", s.resource_type, s.id)));
        }
    }

    /// Adds each entry's warnings to its `response.outcome`.
    pub fn attach_entries(&self, entries: &mut [EntryResult]) {
        if self.0.is_empty() {
            return;
        }
        for e in entries {
            let Some(loc) = &e.location else { continue };
            let reference: String = loc.split('/').take(2).collect::<Vec<_>>().join("/");
            let issues = self.for_source(&reference);
            if !issues.is_empty() {
                e.add_issues(&issues);
            }
        }
    }
}

/// The screening capability's post-write hook: results, safety alerts and
/// the behavioral-health care plan from what a unit of work wrote. Its
/// positive, complete screens are handed to later hooks (referrals).
pub struct ScreeningHook(pub Arc<Deriver>);

impl PostWriteHook for ScreeningHook {
    fn name(&self) -> &'static str {
        "screening"
    }

    fn after_write(&self, cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError> {
        let d = &self.0;
        let mut inputs = Vec::new();
        let screening_input = |w: &&Written| {
            matches!(
                w.resource_type.as_str(),
                "Observation" | "QuestionnaireResponse" | "Procedure"
            ) && d.may_concern(w)
        };
        for w in written.iter().filter(screening_input) {
            if let Some(input) = extract::classify(d, cx.tx, cx.st, w)? {
                inputs.push(input);
            }
        }
        if inputs.is_empty() {
            return Ok(());
        }
        inputs.sort_by_key(extract::Input::phase);
        let mut pass = apply::Pass {
            d,
            tx: cx.tx,
            st: cx.st,
            tenant: cx.tenant,
            notes: Notes::default(),
            patients: BTreeSet::new(),
            positives: Vec::new(),
        };
        for input in inputs {
            pass.apply(input)?;
        }
        let patients = std::mem::take(&mut pass.patients);
        for p in patients {
            plan::refresh(&mut pass, &p)?;
        }
        cx.notes.0.append(&mut pass.notes.0);
        cx.positives.append(&mut pass.positives);
        Ok(())
    }
}
