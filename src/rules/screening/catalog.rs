//! The instrument catalog: Questionnaires from `profiles/questionnaires/`
//! read into item lists with answer weights.
//!
//! Instruments are data. Adding one means adding its Questionnaire (LOINC or
//! Tandem item codes, answer options with weights) and a row in
//! [`super::rules`]; no plumbing changes. Weights are read from both the SDC 3
//! `ordinalValue` and the SDC 4 `itemWeight` extensions, on the answerOption or
//! on its Coding, because senders' Questionnaires use either.

use serde_json::Value;

/// `ordinalValue` (R4 / SDC 3).
pub const ORDINAL_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
/// `itemWeight` (SDC 4).
pub const ITEM_WEIGHT: &str = "http://hl7.org/fhir/StructureDefinition/itemWeight";
/// Base of Tandem's own canonicals.
pub const TANDEM_BASE: &str = "http://tandem.health/fhir";

/// The Questionnaires shipped in `profiles/questionnaires/`, embedded at build time.
pub const QUESTIONNAIRE_SOURCES: &[&str] = &[
    include_str!("../../../profiles/questionnaires/Questionnaire-phq-2.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-phq-9.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-gad-7.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-epds.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-audit-c.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-audit.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-dast-10.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-morse-fall-scale.json"),
    include_str!("../../../profiles/questionnaires/Questionnaire-steadi-key-questions.json"),
];

/// A coded concept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub system: String,
    pub code: String,
    pub display: String,
}

impl Code {
    pub fn new(system: &str, code: &str, display: &str) -> Code {
        Code {
            system: system.into(),
            code: code.into(),
            display: display.into(),
        }
    }

    fn from_coding(c: &Value) -> Option<Code> {
        Some(Code {
            system: c.get("system")?.as_str()?.to_string(),
            code: c.get("code")?.as_str()?.to_string(),
            display: c
                .get("display")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }
}

/// One permitted answer and its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerOption {
    pub code: Code,
    pub weight: f64,
}

/// One scored question.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub link_id: String,
    /// Codes identifying the question (LOINC where one exists).
    pub codes: Vec<String>,
    pub text: String,
    pub answers: Vec<AnswerOption>,
}

impl Item {
    /// The weight of an answer code, if it is one of this item's options.
    pub fn weight_of(&self, system: Option<&str>, code: &str) -> Option<f64> {
        self.answers
            .iter()
            .find(|a| a.code.code == code && system.is_none_or(|s| s == a.code.system))
            .map(|a| a.weight)
    }

    pub fn max_weight(&self) -> f64 {
        self.answers.iter().map(|a| a.weight).fold(0.0, f64::max)
    }

    /// True when `n` is the weight of one of the options (a numeric answer).
    pub fn accepts_number(&self, n: f64) -> bool {
        self.answers.iter().any(|a| (a.weight - n).abs() < 1e-9)
    }

    /// True when `key` (a linkId or an item code, with or without a leading
    /// `/` as US Core's linkIds have) names this item.
    pub fn is_named(&self, key: &str) -> bool {
        let key = key.trim_start_matches('/');
        self.link_id == key || self.codes.iter().any(|c| c == key)
    }
}

/// A scored instrument read from its Questionnaire.
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    /// The Questionnaire id, e.g. `phq-9`; the key of its rule.
    pub key: String,
    pub title: String,
    pub url: String,
    /// The panel code (Questionnaire.code), when one exists.
    pub panel: Option<Code>,
    /// The total-score code (the readOnly calculated item's code).
    pub total: Code,
    pub items: Vec<Item>,
}

impl Instrument {
    /// Reads a Questionnaire: every item with answer options is a scored item;
    /// the readOnly item with a code is the total.
    pub fn from_questionnaire(q: &Value) -> Result<Instrument, String> {
        let key = str_at(q, "id")?;
        let mut items = Vec::new();
        let mut total = None;
        for it in q
            .get("item")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let codes: Vec<Code> = it
                .get("code")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Code::from_coding)
                .collect();
            if it.get("readOnly").and_then(Value::as_bool) == Some(true) {
                total = codes.into_iter().next();
                continue;
            }
            let answers = answer_options(it)?;
            if answers.is_empty() {
                continue;
            }
            items.push(Item {
                link_id: str_at(it, "linkId")?,
                codes: codes.into_iter().map(|c| c.code).collect(),
                text: it
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                answers,
            });
        }
        Ok(Instrument {
            title: str_at(q, "title")?,
            url: str_at(q, "url")?,
            panel: q.pointer("/code/0").and_then(Code::from_coding),
            total: total
                .ok_or_else(|| format!("Questionnaire {key} has no readOnly total item"))?,
            items,
            key,
        })
    }

    pub fn item(&self, key: &str) -> Option<(usize, &Item)> {
        self.items.iter().enumerate().find(|(_, i)| i.is_named(key))
    }

    /// The highest possible total.
    pub fn max_total(&self) -> f64 {
        self.items.iter().map(Item::max_weight).sum()
    }
}

/// The answer options of a Questionnaire item with their weights. An option
/// without a weight makes the item unscored (e.g. PHQ-9's difficulty question).
pub fn answer_options(item: &Value) -> Result<Vec<AnswerOption>, String> {
    let mut out = Vec::new();
    for opt in item
        .get("answerOption")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(coding) = opt.get("valueCoding") else {
            continue;
        };
        let Some(code) = Code::from_coding(coding) else {
            continue;
        };
        match weight(opt).or_else(|| weight(coding)) {
            Some(w) => out.push(AnswerOption { code, weight: w }),
            None => return Ok(Vec::new()),
        }
    }
    Ok(out)
}

/// The weight on an element: `itemWeight` first (SDC 4), then `ordinalValue`.
pub fn weight(element: &Value) -> Option<f64> {
    let exts = element.get("extension")?.as_array()?;
    [ITEM_WEIGHT, ORDINAL_VALUE].iter().find_map(|url| {
        exts.iter()
            .find(|e| e.get("url").and_then(Value::as_str) == Some(url))
            .and_then(|e| e.get("valueDecimal").or_else(|| e.get("valueInteger")))
            .and_then(Value::as_f64)
    })
}

fn str_at(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| format!("Questionnaire element '{key}' is missing"))
}

/// Every shipped instrument.
pub fn builtin() -> Vec<Instrument> {
    QUESTIONNAIRE_SOURCES
        .iter()
        .map(|s| {
            let v: Value =
                serde_json::from_str(s).expect("profiles/questionnaires hold valid JSON");
            Instrument::from_questionnaire(&v).expect("shipped Questionnaires are well-formed")
        })
        .collect()
}
