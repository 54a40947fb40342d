//! The screening instruments the generator administers, read from the
//! published Questionnaires Tandem ships (`profiles/questionnaires/`): item
//! link ids and answer options with their published weights. Total and panel
//! LOINC codes are the instruments' own (specs.md section 6).

use serde_json::Value;
use std::sync::OnceLock;

use super::model::Instrument;

pub struct Item {
    pub link_id: String,
    /// Answer codings with their weights, in the Questionnaire's order.
    pub options: Vec<(Value, f64)>,
}

pub struct Def {
    pub key: &'static str,
    pub url: String,
    pub items: Vec<Item>,
    /// LOINC of the total score.
    pub total: &'static str,
    /// LOINC of the panel, when the items are LOINC-coded too.
    pub panel: Option<&'static str>,
}

fn load(key: &'static str, text: &str, total: &'static str, panel: Option<&'static str>) -> Def {
    let q: Value = serde_json::from_str(text).expect("a shipped Questionnaire");
    let items = q["item"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "choice")
        .map(|i| Item {
            link_id: i["linkId"].as_str().unwrap_or_default().to_string(),
            options: i["answerOption"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    let weight = o["extension"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find_map(|e| e["valueDecimal"].as_f64())
                        .unwrap_or(0.0);
                    (o["valueCoding"].clone(), weight)
                })
                .collect(),
        })
        .collect();
    Def {
        key,
        url: q["url"].as_str().unwrap_or_default().to_string(),
        items,
        total,
        panel,
    }
}

macro_rules! questionnaire {
    ($name:literal) => {
        include_str!(concat!(
            "../../profiles/questionnaires/Questionnaire-",
            $name,
            ".json"
        ))
    };
}

/// The definition of an instrument.
pub fn def(i: Instrument) -> &'static Def {
    static DEFS: OnceLock<Vec<Def>> = OnceLock::new();
    let defs = DEFS.get_or_init(|| {
        vec![
            load("phq-2", questionnaire!("phq-2"), "55758-7", Some("55757-9")),
            load("phq-9", questionnaire!("phq-9"), "44261-6", Some("44249-1")),
            load("gad-7", questionnaire!("gad-7"), "70274-6", Some("69737-5")),
            load(
                "audit-c",
                questionnaire!("audit-c"),
                "75626-2",
                Some("72109-2"),
            ),
            load("epds", questionnaire!("epds"), "99046-5", None),
            load("dast-10", questionnaire!("dast-10"), "82667-7", None),
            // No verified LOINC total (specs.md): sent only as responses.
            load(
                "steadi-key-questions",
                questionnaire!("steadi-key-questions"),
                "",
                None,
            ),
        ]
    });
    &defs[match i {
        Instrument::Phq2 => 0,
        Instrument::Phq9 => 1,
        Instrument::Gad7 => 2,
        Instrument::AuditC => 3,
        Instrument::Epds => 4,
        Instrument::Dast10 => 5,
        Instrument::Steadi => 6,
    }]
}

/// The weight of each answer given (`None`: unanswered).
pub fn weights(i: Instrument, answers: &[Option<usize>]) -> Vec<Option<f64>> {
    let d = def(i);
    answers
        .iter()
        .zip(&d.items)
        .map(|(a, item)| a.map(|k| item.options[k].1))
        .collect()
}

/// The sum of the answered items' weights.
pub fn answered_sum(a: &super::model::Administration) -> f64 {
    weights(a.instrument, &a.answers).iter().flatten().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruments_have_their_published_shape() {
        let phq9 = def(Instrument::Phq9);
        assert_eq!(phq9.items.len(), 9);
        assert_eq!(phq9.items[8].link_id, "44260-8");
        let top: f64 = phq9.items.iter().map(|i| i.options.last().unwrap().1).sum();
        assert_eq!(top, 27.0);
        assert_eq!(def(Instrument::Epds).items.len(), 10);
        assert_eq!(def(Instrument::AuditC).items.len(), 3);
        assert_eq!(def(Instrument::Gad7).items.len(), 7);
    }
}
