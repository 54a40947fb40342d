//! The Milestone Attestation Checklist (Colorado guide, Appendix F) as a
//! FHIR Questionnaire: one item per milestone people must attest, with the
//! program's 0–4 scale and the milestone statement as its anchor, and a
//! repeating item for evidence documents (DocumentReference). Practices
//! answer with QuestionnaireResponses; a facilitator may accept or return an
//! item. Pure: the Questionnaire, the checklist periods, and each item's
//! finding from the answers and reviews.

use std::collections::HashMap;

use chrono::{Months, NaiveDate};
use serde_json::{Value, json};

use super::catalog::MilestoneCatalog;
use super::standing::Finding;

/// The attestation scale's code system.
pub const SCALE_CS: &str = "http://tandem.health/fhir/CodeSystem/attestation-scale";
/// Tags a facilitator's review Task.
pub const REVIEW_CS: &str = "http://tandem.health/fhir/CodeSystem/attestation-review";

/// The program's scale (guide, Appendix F).
pub const SCALE: [(&str, &str); 5] = [
    ("0", "Not Possible"),
    ("1", "Not Started"),
    ("2", "Just Beginning"),
    ("3", "Actively Addressing"),
    ("4", "Completed"),
];

/// The checklist Questionnaire's canonical URL for a program.
pub fn questionnaire_url(program: &str) -> String {
    format!("http://tandem.health/fhir/Questionnaire/{program}-attestation")
}

/// The checklist of a program's catalog.
pub fn questionnaire(program: &str, name: &str, catalog: &MilestoneCatalog) -> Value {
    let options: Vec<Value> = SCALE
        .iter()
        .map(|(c, d)| json!({ "valueCoding": { "system": SCALE_CS, "code": c, "display": d } }))
        .collect();
    let items: Vec<Value> = catalog
        .milestones
        .iter()
        .filter(|m| m.on_checklist())
        .map(|m| {
            json!({
                "linkId": m.id,
                "prefix": m.id,
                "text": m.title,
                "type": "choice",
                "answerOption": options,
                "item": [{
                    "linkId": format!("{}.evidence", m.id),
                    "text": "Evidence (minutes, budgets, job descriptions, agreements)",
                    "type": "reference",
                    "repeats": true,
                }],
            })
        })
        .collect();
    json!({
        "resourceType": "Questionnaire",
        "id": format!("{program}-attestation"),
        "url": questionnaire_url(program),
        "version": catalog.milestones.first().and_then(|m| m.measure["version"].as_str()).unwrap_or("1"),
        "name": format!("{}_attestation", program.replace('-', "_")),
        "title": format!("{name}: Milestone Attestation Checklist"),
        "status": "active",
        "subjectType": ["Organization"],
        "description": "Each milestone's statement is its anchor: attest 4 (Completed) when the practice has fully accomplished it as described. A new checklist period opens every few months; earlier answers are kept.",
        "item": items,
    })
}

/// The checklist period (`[start, end)`) a day falls in: periods of
/// `months` from the program's first day.
pub fn checklist_period(
    program_start: NaiveDate,
    months: u32,
    day: NaiveDate,
) -> (NaiveDate, NaiveDate) {
    let mut start = program_start;
    loop {
        let end = start + Months::new(months.max(1));
        if day < end || start > day {
            return (start, end);
        }
        start = end;
    }
}

/// Whether the checklist period holding `authored` (a date as written) has
/// ended by `today`: its answers are then the record and stay as they were.
pub fn closed(
    program_start: NaiveDate,
    months: u32,
    authored: NaiveDate,
    today: NaiveDate,
) -> bool {
    checklist_period(program_start, months, authored).1 <= today
}

/// One attested item: its latest answer and any review after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemState {
    pub score: u8,
    /// When it was answered (`authored`).
    pub authored: String,
    /// The QuestionnaireResponse it came from (`QuestionnaireResponse/{id}`).
    pub response: String,
    /// The latest review after the answer: (accepted, comment).
    pub review: Option<(bool, String)>,
}

/// The latest answer per item among `responses` authored in `[from, to]`
/// (dates as written), with the latest later review from `reviews` (Tasks
/// whose `input` names the item).
pub fn items(
    responses: &[Value],
    reviews: &[Value],
    from: NaiveDate,
    to: NaiveDate,
) -> HashMap<String, ItemState> {
    let day = crate::fhir::datetime::date_written;
    let mut out: HashMap<String, ItemState> = HashMap::new();
    for qr in responses {
        let (Some(authored), Some(id)) = (qr["authored"].as_str(), qr["id"].as_str()) else {
            continue;
        };
        if qr["status"] != "completed" && qr["status"] != "amended" {
            continue;
        }
        if !day(authored).is_some_and(|d| from <= d && d <= to) {
            continue;
        }
        for item in qr["item"].as_array().into_iter().flatten() {
            let (Some(link), Some(code)) = (
                item["linkId"].as_str(),
                item["answer"][0]["valueCoding"]["code"].as_str(),
            ) else {
                continue;
            };
            let Ok(score) = code.parse::<u8>() else {
                continue;
            };
            if score > 4
                || out
                    .get(link)
                    .is_some_and(|s| s.authored.as_str() > authored)
            {
                continue;
            }
            out.insert(
                link.to_string(),
                ItemState {
                    score,
                    authored: authored.to_string(),
                    response: format!("QuestionnaireResponse/{id}"),
                    review: None,
                },
            );
        }
    }
    let mut latest: HashMap<String, String> = HashMap::new();
    for t in reviews {
        let (Some(link), Some(at)) = (
            t["input"][0]["valueString"].as_str(),
            t["authoredOn"].as_str(),
        ) else {
            continue;
        };
        let Some(state) = out.get_mut(link) else {
            continue;
        };
        if at < state.authored.as_str() || latest.get(link).is_some_and(|l| l.as_str() > at) {
            continue;
        }
        latest.insert(link.to_string(), at.to_string());
        let accepted = t["businessStatus"]["coding"][0]["code"] == "accepted";
        let comment = t["note"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        state.review = Some((accepted, comment));
    }
    out
}

/// One event in an item's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When, as written.
    pub at: String,
    /// What happened, in words.
    pub what: String,
    /// Who (a reviewer's name; empty for answers, whose Provenance names them).
    pub who: String,
}

/// Every answer to `item` in `responses` and every review of it in
/// `reviews`, dated in `[from, to]`, newest first.
pub fn history(
    responses: &[Value],
    reviews: &[Value],
    item: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Event> {
    let day = crate::fhir::datetime::date_written;
    let within = |at: &str| day(at).is_some_and(|d| from <= d && d <= to);
    let mut out = Vec::new();
    for qr in responses {
        let Some(at) = qr["authored"].as_str().filter(|a| within(a)) else {
            continue;
        };
        for i in qr["item"].as_array().into_iter().flatten() {
            let code = i["answer"][0]["valueCoding"]["code"].as_str();
            let label = code
                .and_then(|c| c.parse::<usize>().ok())
                .and_then(|n| SCALE.get(n));
            if i["linkId"] == item
                && let Some((code, label)) = label
            {
                out.push(Event {
                    at: at.to_string(),
                    what: format!("Answered {code} {label}"),
                    who: String::new(),
                });
            }
        }
    }
    for t in reviews {
        let Some(at) = t["authoredOn"].as_str().filter(|a| within(a)) else {
            continue;
        };
        if t["input"][0]["valueString"] != item {
            continue;
        }
        let accepted = t["businessStatus"]["coding"][0]["code"] == "accepted";
        let comment = t["note"][0]["text"].as_str().unwrap_or_default();
        let verb = if accepted { "Accepted" } else { "Returned" };
        out.push(Event {
            at: at.to_string(),
            what: if comment.is_empty() {
                verb.to_string()
            } else {
                format!("{verb}: {comment}")
            },
            who: t["requester"]["display"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }
    out.sort_by(|a, b| b.at.cmp(&a.at));
    out
}

/// What an item's state means for its milestone.
pub fn finding(state: Option<&ItemState>) -> Finding {
    let Some(s) = state else {
        return Finding::Unattested("no attestation recorded for this checklist period".into());
    };
    let label = SCALE[usize::from(s.score)].1;
    match (&s.review, s.score) {
        (Some((false, comment)), _) => Finding::Unattested(format!(
            "returned by the facilitator: {}",
            if comment.is_empty() {
                "no comment"
            } else {
                comment
            }
        )),
        (_, 4) => Finding::Attested,
        (_, 2 | 3) => Finding::Underway(format!("attested {} ({label})", s.score)),
        _ => Finding::Unattested(format!("attested {} ({label})", s.score)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn qr(id: &str, authored: &str, link: &str, code: &str) -> Value {
        json!({"resourceType": "QuestionnaireResponse", "id": id, "status": "completed", "authored": authored,
               "item": [{"linkId": link, "answer": [{"valueCoding": {"system": SCALE_CS, "code": code}}]}]})
    }

    fn review(link: &str, at: &str, code: &str, note: &str) -> Value {
        json!({"resourceType": "Task", "authoredOn": at, "input": [{"type": {"text": "item"}, "valueString": link}],
               "businessStatus": {"coding": [{"system": REVIEW_CS, "code": code}]}, "note": [{"text": note}]})
    }

    #[test]
    fn the_checklist_lists_every_attested_milestone_with_the_scale() {
        let c = MilestoneCatalog::load("colorado-sim").unwrap();
        let q = questionnaire("colorado-sim", "Colorado SIM", &c);
        let items = q["item"].as_array().unwrap();
        let attested = c.milestones.iter().filter(|m| m.on_checklist()).count();
        assert_eq!(items.len(), attested);
        assert!(
            items.iter().any(|i| i["linkId"] == "BB8.Y2.1"),
            "system + attested too"
        );
        assert!(
            !items.iter().any(|i| i["linkId"] == "BB7.Y1.2"),
            "computed ones are not attested"
        );
        assert_eq!(
            items[0]["answerOption"][4]["valueCoding"]["display"],
            "Completed"
        );
    }

    #[test]
    fn the_latest_answer_in_the_period_counts_and_a_return_undoes_it() {
        let (from, to) = (d("2026-01-01"), d("2026-06-30"));
        let responses = vec![
            qr("a", "2026-02-01T10:00:00Z", "BB1.Y1.2", "2"),
            qr("b", "2026-03-01T10:00:00Z", "BB1.Y1.2", "4"),
            qr("c", "2025-12-31T10:00:00Z", "BB1.Y1.3", "4"),
        ];
        let s = items(&responses, &[], from, to);
        assert_eq!(s["BB1.Y1.2"].score, 4);
        assert_eq!(s["BB1.Y1.2"].response, "QuestionnaireResponse/b");
        assert!(!s.contains_key("BB1.Y1.3"), "answered in an earlier period");
        assert_eq!(finding(s.get("BB1.Y1.2")), Finding::Attested);
        assert!(matches!(finding(None), Finding::Unattested(_)));
        assert!(matches!(
            finding(items(&responses[..1], &[], from, to).get("BB1.Y1.2")),
            Finding::Underway(_)
        ));
        // Returned after the answer: not met, with the comment.
        let r = vec![review(
            "BB1.Y1.2",
            "2026-03-02T09:00:00Z",
            "returned",
            "minutes missing",
        )];
        let s = items(&responses, &r, from, to);
        assert_eq!(
            finding(s.get("BB1.Y1.2")),
            Finding::Unattested("returned by the facilitator: minutes missing".into())
        );
        // A review before the answer does not apply to it.
        let early = vec![review("BB1.Y1.2", "2026-02-15T09:00:00Z", "returned", "x")];
        assert_eq!(
            finding(items(&responses, &early, from, to).get("BB1.Y1.2")),
            Finding::Attested
        );
    }

    #[test]
    fn checklist_periods_are_six_months_from_the_program_start() {
        let start = d("2026-01-01");
        assert_eq!(
            checklist_period(start, 6, d("2026-06-30")),
            (d("2026-01-01"), d("2026-07-01"))
        );
        assert_eq!(
            checklist_period(start, 6, d("2026-07-01")),
            (d("2026-07-01"), d("2027-01-01"))
        );
        assert_eq!(
            checklist_period(start, 6, d("2027-03-04")),
            (d("2027-01-01"), d("2027-07-01"))
        );
    }
    #[test]
    fn a_checklist_period_closes_on_its_last_day_plus_one() {
        let start = d("2026-01-01");
        assert!(!closed(start, 6, d("2026-06-30"), d("2026-06-30")));
        assert!(closed(start, 6, d("2026-06-30"), d("2026-07-01")));
        assert!(!closed(start, 6, d("2026-07-01"), d("2026-07-01")));
        assert!(closed(start, 6, d("2026-01-01"), d("2026-12-31")));
    }

    #[test]
    fn an_items_history_is_every_answer_and_review_newest_first() {
        let qr = |id: &str, at: &str, code: &str| {
            serde_json::json!({"resourceType": "QuestionnaireResponse", "id": id, "authored": at,
                "status": "completed", "item": [{"linkId": "BB1.Y1.2",
                "answer": [{"valueCoding": {"code": code}}]}]})
        };
        let review = |at: &str, code: &str, note: &str| {
            serde_json::json!({"resourceType": "Task", "authoredOn": at,
                "requester": {"display": "fran"},
                "businessStatus": {"coding": [{"code": code}]},
                "input": [{"valueString": "BB1.Y1.2"}], "note": [{"text": note}]})
        };
        let responses = [
            qr("a", "2026-07-02T10:00:00Z", "3"),
            qr("b", "2026-07-09T10:00:00Z", "4"),
            qr("old", "2026-06-30T10:00:00Z", "1"),
        ];
        let reviews = [
            review("2026-07-05T10:00:00Z", "returned", "Send the minutes."),
            review("2026-07-10T10:00:00Z", "accepted", ""),
        ];
        let from = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let h = history(&responses, &reviews, "BB1.Y1.2", from, to);
        let words: Vec<&str> = h.iter().map(|e| e.what.as_str()).collect();
        assert_eq!(
            words,
            [
                "Accepted",
                "Answered 4 Completed",
                "Returned: Send the minutes.",
                "Answered 3 Actively Addressing"
            ]
        );
        assert_eq!(h[0].who, "fran");
        assert!(history(&responses, &reviews, "BB1.Y1.3", from, to).is_empty());
    }
}
