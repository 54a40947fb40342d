//! Screening inputs shared by tests: Tandem's PHQ-9 Questionnaire items and
//! LOINC answer codes, and a QuestionnaireResponse built from answers.

use serde_json::{Value, json};

pub const PHQ: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
pub const PHQ9_ITEMS: [&str; 9] = [
    "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    "44260-8",
];

/// A PHQ-9 response on Tandem's Questionnaire; `None` leaves an item unanswered.
pub fn phq9(pid: &str, answers: [Option<usize>; 9]) -> Value {
    let items: Vec<Value> = PHQ9_ITEMS
        .iter()
        .zip(answers)
        .filter_map(|(code, a)| a.map(|a| json!({"linkId": code, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": PHQ[a]}}]})))
        .collect();
    json!({
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://tandem.health/fhir/Questionnaire/phq-9",
        "status": "completed",
        "subject": {"reference": format!("Patient/{pid}")},
        "authored": "2026-03-02T10:00:00Z",
        "item": items,
    })
}
