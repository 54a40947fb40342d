//! Safety items read on their own, whatever instrument an administration was
//! identified as.
//!
//! A self-harm answer (PHQ-9 item 9, EPDS item 10) must reach a clinician even
//! when the administration around it cannot be scored: the response names an
//! unknown Questionnaire, another of its answers is invalid, or its items were
//! identified as a smaller instrument. So every answered item of every response
//! and panel is checked against every instrument's safety item, before and
//! independently of identification and scoring.
//!
//! An answer to a safety item that cannot be read as a score (a code outside
//! the answer list without a weight, see [`Answer::unreadable`]) counts as a
//! hit: a clinician reads it, rather than Tandem guessing it was "not at all".

use super::SafetyHit;
use super::catalog::{Instrument, Item};
use super::rules::{ScreeningConfig, rule};
use super::score::{Answer, Response};

/// The safety items of the catalog with the title of their instrument, read
/// once from the rule table (the derivation engine keeps them).
#[derive(Debug, Clone)]
pub struct SafetyItems(Vec<(String, Item)>);

impl SafetyItems {
    pub fn of(instruments: &[Instrument], cfg: &ScreeningConfig) -> SafetyItems {
        SafetyItems(
            instruments
                .iter()
                .filter_map(|inst| {
                    let key = rule(&inst.key, cfg)?.safety_item?;
                    inst.item(key)
                        .map(|(_, item)| (inst.title.clone(), item.clone()))
                })
                .collect(),
        )
    }

    /// Every code naming a safety item.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .flat_map(|(_, it)| it.codes.iter().map(String::as_str))
    }

    /// True when a code (an Observation's or an item's) names a safety item.
    pub fn names(&self, key: &str) -> bool {
        self.0.iter().any(|(_, it)| it.is_named(key))
    }

    /// Every safety item answered above zero (or unreadably) among
    /// `responses`, one hit per item, with the title of its instrument.
    pub fn scan(&self, responses: &[Response]) -> Vec<(String, SafetyHit)> {
        let mut hits: Vec<(String, SafetyHit)> = Vec::new();
        for (title, item) in &self.0 {
            for r in responses.iter().filter(|r| item.is_named(&r.key)) {
                let weight = match &r.answer {
                    Answer::Coded {
                        system,
                        code,
                        weight,
                    } => item.weight_of(system.as_deref(), code).or(*weight),
                    Answer::Number(n) => Some(*n),
                };
                if weight.is_some_and(|w| w <= 0.0) {
                    continue;
                }
                if hits.iter().any(|(_, h)| h.item == item.link_id) {
                    continue;
                }
                hits.push((
                    title.clone(),
                    SafetyHit {
                        item: item.link_id.clone(),
                        text: item.text.clone(),
                        weight,
                    },
                ));
            }
        }
        hits
    }
}
