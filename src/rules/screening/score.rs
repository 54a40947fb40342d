//! Scoring one administration: answers → total, band, positivity, safety.
//!
//! Every input shape (QuestionnaireResponse, panel members, components, a sent
//! total) is first reduced by the service layer to [`Response`]s and an optional
//! sent total; this function then applies the instrument's answer list and the
//! rule. It refuses (with a reason a sender can act on) rather than guess: an
//! answer outside the list, a number that is no option's weight, an item
//! answered twice, or a total outside the instrument's range.

use super::catalog::Instrument;
use super::rules::{Cutoff, Missing, Rule, band_of};
use super::{Outcome, Rejection, SafetyHit, Sex};

/// An answer as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A coded answer; `weight` is the sender's own weight (from its
    /// Questionnaire), used only when the code is not in Tandem's answer list.
    Coded {
        system: Option<String>,
        code: String,
        weight: Option<f64>,
    },
    /// A numeric answer (the item's score).
    Number(f64),
}

impl Answer {
    /// An answer that could not be read (no code, no number): it scores
    /// nothing, and on a safety item it raises the alert (see `safety`).
    pub fn unreadable() -> Answer {
        Answer::Coded {
            system: None,
            code: String::new(),
            weight: None,
        }
    }
}

/// One answered question: `key` is a linkId or an item code.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub key: String,
    pub answer: Answer,
}

/// Scores an administration of `inst` under `rule`.
pub fn score(
    inst: &Instrument,
    rule: &Rule,
    responses: &[Response],
    sent_total: Option<f64>,
    sex: Sex,
) -> Result<Outcome, Rejection> {
    let weights = item_weights(inst, responses)?;
    let max = inst.max_total();
    if let Some(t) = sent_total
        && (t < 0.0 || t > max || t.fract() != 0.0)
    {
        return Err(Rejection(format!(
            "The {} total {t} is outside the instrument's range 0-{max}.",
            inst.title
        )));
    }
    let answered: Vec<f64> = weights.iter().flatten().copied().collect();
    if answered.is_empty() && sent_total.is_none() {
        return Err(Rejection(format!(
            "The {} administration carries neither answers nor a total.",
            inst.title
        )));
    }
    let expected = inst.items.len();
    let missing = expected - answered.len();
    let sum: f64 = answered.iter().sum();
    let mut out = Outcome {
        answered: answered.len(),
        expected,
        sent_total,
        ..Outcome::default()
    };
    out.item_total = match (missing, rule.missing) {
        _ if answered.is_empty() => None,
        (0, _) => Some(sum),
        (m, Missing::Prorate { max_missing }) if m <= max_missing => {
            out.prorated = true;
            Some((sum * expected as f64 / answered.len() as f64).round())
        }
        _ => None,
    };
    out.total = out.item_total.or(sent_total);
    if let (Some(i), Some(s)) = (out.item_total, sent_total)
        && (i - s).abs() > 1e-9
    {
        out.notes.push(format!(
            "The sent {} total {s} disagrees with the total of its items ({i}); the result uses the item total.",
            inst.title
        ));
    }
    if out.total.is_none() {
        out.notes.push(format!(
            "Incomplete {}: {} of {expected} items answered; {}.",
            inst.title,
            answered.len(),
            match rule.missing {
                Missing::Prorate { max_missing } =>
                    format!("at most {max_missing} may be missing for a prorated total"),
                Missing::AllRequired => "every item is required".to_string(),
            }
        ));
    }
    out.complete = out.total.is_some();
    if let Some(t) = out.total {
        out.band = band_of(&rule.bands, t).map(|b| b.code.clone());
        out.positive = Some(t >= threshold(rule.cutoff, sex, &mut out.notes));
    }
    out.safety = safety(inst, rule, &weights);
    Ok(out)
}

/// Each item's weight (None when unanswered), in the instrument's item order.
fn item_weights(inst: &Instrument, responses: &[Response]) -> Result<Vec<Option<f64>>, Rejection> {
    let mut weights: Vec<Option<f64>> = vec![None; inst.items.len()];
    for r in responses {
        let Some((idx, item)) = inst.item(&r.key) else {
            continue; // unscored questions (e.g. PHQ-9 difficulty) are not part of the total
        };
        if weights[idx].is_some() {
            return Err(Rejection(format!(
                "{} item '{}' is answered more than once.",
                inst.title, item.link_id
            )));
        }
        let w = match &r.answer {
            Answer::Coded {
                system,
                code,
                weight,
            } => item
                .weight_of(system.as_deref(), code)
                .or(weight.filter(|w| item.accepts_number(*w)))
                .ok_or_else(|| {
                    Rejection(format!(
                        "Answer code '{code}' is not in the answer list of {} item '{}'.",
                        inst.title, item.link_id
                    ))
                })?,
            Answer::Number(n) if item.accepts_number(*n) => *n,
            Answer::Number(n) => {
                let allowed: Vec<String> =
                    item.answers.iter().map(|a| a.weight.to_string()).collect();
                return Err(Rejection(format!(
                    "{n} is not a valid score for {} item '{}' (allowed: {}).",
                    inst.title,
                    item.link_id,
                    allowed.join(", ")
                )));
            }
        };
        weights[idx] = Some(w);
    }
    Ok(weights)
}

fn threshold(cutoff: Cutoff, sex: Sex, notes: &mut Vec<String>) -> f64 {
    match (cutoff, sex) {
        (Cutoff::AtLeast(t), _) => t,
        (Cutoff::BySex { male, .. }, Sex::Male) => male,
        (Cutoff::BySex { female, .. }, Sex::Female) => female,
        (Cutoff::BySex { female, .. }, Sex::Unknown) => {
            notes.push(format!(
                "The patient's sex is not recorded as male or female; the lower cut-off ({female}) was applied."
            ));
            female
        }
    }
}

fn safety(inst: &Instrument, rule: &Rule, weights: &[Option<f64>]) -> Option<SafetyHit> {
    let (idx, item) = inst.item(rule.safety_item?)?;
    let w = weights[idx]?;
    (w > 0.0).then(|| SafetyHit {
        item: item.link_id.clone(),
        text: item.text.clone(),
        weight: Some(w),
    })
}
