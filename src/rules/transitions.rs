//! Transitions of care, pure: what an admit/discharge/transfer event means for
//! the stored Encounter, which follow-up work a discharge creates, and when an
//! admission is a readmission (Colorado SIM building block 9).
//!
//! - Order tolerance: every notification carries its event time (the message
//!   timestamp); the stored Encounter remembers the latest one it reflects, and
//!   an older event never overwrites a newer state (a discharge that arrived
//!   before its admit stays a discharge).
//! - Follow-up: an inpatient (IMP, ACUTE, NONAC) or emergency (EMER) discharge
//!   needs patient contact within 7 days; an inpatient stay also needs
//!   medication reconciliation within 72 hours (BB9.Y2.1, BB9.Y2.3b).
//! - Readmission: an admission within 30 days after a prior hospital or ED
//!   discharge (`HOSPITAL_CLASSES`; an office visit is not a discharge).

use serde_json::{Value, json};

use crate::fhir::datetime::parse_range;

/// Extension on a stored Encounter: the time of the latest event it reflects.
pub const LAST_EVENT: &str =
    "http://tandem.health/fhir/StructureDefinition/last-notification-event";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Admit,
    Discharge,
    Transfer,
}

impl Event {
    pub fn from_code(code: &str) -> Option<Event> {
        match code {
            "notification-admit" => Some(Event::Admit),
            "notification-discharge" => Some(Event::Discharge),
            "notification-transfer" => Some(Event::Transfer),
            _ => None,
        }
    }
}

/// The follow-up work a discharge creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// Contact the patient (office, telephone or virtual visit, or a message).
    Contact,
    /// Reconcile the patient's medications.
    MedicationReconciliation,
}

impl FollowUp {
    pub fn code(self) -> &'static str {
        match self {
            FollowUp::Contact => "toc-contact",
            FollowUp::MedicationReconciliation => "toc-medication-reconciliation",
        }
    }
}

fn ms(text: &str) -> Option<i64> {
    parse_range(text).map(|r| r.start)
}

/// The Encounter to store for an event at `event_time`, or `None` when the
/// stored one already reflects a later event (it stays as it is). At the
/// same time, an admit never undoes a discharge: an ED visit that ends as
/// it starts has both messages stamped alike, and the discharge must stand
/// whichever arrives last.
pub fn merge(stored: Option<&Value>, mut incoming: Value, event_time: &str) -> Option<Value> {
    let at = ms(event_time)?;
    let seen = stored.and_then(|s| {
        s["extension"]
            .as_array()?
            .iter()
            .find(|e| e["url"] == LAST_EVENT)?["valueInstant"]
            .as_str()
            .and_then(ms)
    });
    let ends = |v: &Value| v["period"]["end"].is_string();
    let undoes_discharge = stored.is_some_and(|s| ends(s) && !ends(&incoming));
    if seen.is_some_and(|s| s > at || (s == at && undoes_discharge)) {
        return None;
    }
    let mut ext = match incoming["extension"].take() {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    ext.retain(|x| x["url"] != LAST_EVENT);
    ext.push(json!({ "url": LAST_EVENT, "valueInstant": event_time }));
    incoming["extension"] = Value::Array(ext);
    Some(incoming)
}

/// Follow-up due points of a discharge: `(kind, due ms)`.
pub fn follow_ups(class_code: &str, discharged_ms: i64) -> Vec<(FollowUp, i64)> {
    match class_code {
        "IMP" | "ACUTE" | "NONAC" => vec![
            (FollowUp::Contact, discharged_ms + 7 * DAY_MS),
            (
                FollowUp::MedicationReconciliation,
                discharged_ms + 72 * HOUR_MS,
            ),
        ],
        "EMER" => vec![(FollowUp::Contact, discharged_ms + 7 * DAY_MS)],
        _ => Vec::new(),
    }
}

/// Encounter classes (v3 ActCode) that end in a hospital discharge:
/// inpatient, acute, non-acute, emergency, observation, short stay. An
/// office or virtual visit is never the discharge a readmission follows.
pub const HOSPITAL_CLASSES: [&str; 6] = ["IMP", "ACUTE", "NONAC", "EMER", "OBSENC", "SS"];

/// An admission within 30 days after a discharge.
pub fn is_readmission(prior_discharge_ms: i64, admit_ms: i64) -> bool {
    admit_ms > prior_discharge_ms && admit_ms - prior_discharge_ms <= READMISSION_DAYS * DAY_MS
}

const READMISSION_DAYS: i64 = 30;

/// The earliest discharge that can make an admission at `admit_ms` a
/// readmission: a search for prior stays need not look at any ending before it.
pub fn readmission_window_start(admit_ms: i64) -> i64 {
    admit_ms - READMISSION_DAYS * DAY_MS
}

/// Open states of a follow-up Task.
const OPEN: [&str; 4] = ["requested", "received", "accepted", "in-progress"];

/// Whether a follow-up Task is past its due point (`restriction.period.end`)
/// at `now_ms` while still open and not yet marked overdue.
pub fn newly_overdue(task: &Value, overdue_code: &str, now_ms: i64) -> bool {
    let open = task["status"].as_str().is_some_and(|s| OPEN.contains(&s));
    let marked = task
        .pointer("/businessStatus/coding/0/code")
        .and_then(Value::as_str)
        == Some(overdue_code);
    let due = task
        .pointer("/restriction/period/end")
        .and_then(Value::as_str)
        .and_then(parse_range);
    open && !marked && due.is_some_and(|d| d.start < now_ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn overdue_only_when_open_past_due_and_not_yet_marked() {
        use super::newly_overdue;
        let due = "2026-01-08T10:00:00Z";
        let at_due = 1_767_866_400_000; // 2026-01-08T10:00:00Z
        let t = |status: &str, mark: Option<&str>| {
            let mut t = json!({"status": status, "restriction": {"period": {"end": due}}});
            if let Some(c) = mark {
                t["businessStatus"] = json!({"coding": [{"code": c}]});
            }
            t
        };
        assert!(!newly_overdue(&t("requested", None), "overdue", at_due));
        assert!(newly_overdue(&t("requested", None), "overdue", at_due + 1));
        assert!(newly_overdue(
            &t("in-progress", None),
            "overdue",
            at_due + 1
        ));
        assert!(!newly_overdue(&t("completed", None), "overdue", at_due + 1));
        assert!(!newly_overdue(&t("cancelled", None), "overdue", at_due + 1));
        assert!(!newly_overdue(
            &t("requested", Some("overdue")),
            "overdue",
            at_due + 1
        ));
        assert!(!newly_overdue(
            &json!({"status": "requested"}),
            "overdue",
            at_due + 1
        ));
    }

    use super::*;

    fn enc(status: &str) -> Value {
        json!({"resourceType": "Encounter", "status": status, "period": {"start": "2026-03-01T10:00:00Z"}})
    }

    #[test]
    fn latest_event_wins_whatever_the_arrival_order() {
        let discharge = merge(None, enc("finished"), "2026-03-04T10:00:00Z").unwrap();
        assert_eq!(
            merge(Some(&discharge), enc("in-progress"), "2026-03-01T10:00:00Z"),
            None,
            "an older admit does not reopen it"
        );
        let corrected = merge(Some(&discharge), enc("finished"), "2026-03-04T10:00:00Z").unwrap();
        assert_eq!(
            corrected["status"], "finished",
            "the same time replaces (corrected content)"
        );
        assert_eq!(corrected["extension"].as_array().unwrap().len(), 1);
        // An ED visit that ends as it starts: admit and discharge stamped
        // alike; the discharge stands whichever arrives last.
        let mut ended = enc("finished");
        ended["period"]["end"] = json!("2026-03-01T10:00:00Z");
        let at = "2026-03-01T10:20:00Z";
        let discharged = merge(None, ended.clone(), at).unwrap();
        assert_eq!(merge(Some(&discharged), enc("in-progress"), at), None);
        let admitted = merge(None, enc("in-progress"), at).unwrap();
        let then = merge(Some(&admitted), ended, at).unwrap();
        assert_eq!(then["status"], "finished");
    }

    #[test]
    fn discharges_create_the_published_due_points() {
        let t = ms("2026-03-04T10:00:00Z").unwrap();
        assert_eq!(
            follow_ups("IMP", t),
            vec![
                (FollowUp::Contact, t + 7 * DAY_MS),
                (FollowUp::MedicationReconciliation, t + 72 * HOUR_MS)
            ]
        );
        assert_eq!(
            follow_ups("EMER", t),
            vec![(FollowUp::Contact, t + 7 * DAY_MS)]
        );
        assert!(follow_ups("AMB", t).is_empty());
    }

    #[test]
    fn readmission_window_is_thirty_days() {
        let d = ms("2026-03-04T10:00:00Z").unwrap();
        assert!(is_readmission(d, d + 30 * DAY_MS));
        assert!(!is_readmission(d, d + 30 * DAY_MS + 1));
        assert!(!is_readmission(d, d - 1));
        // The search window starts at the earliest qualifying discharge.
        let admit = d + 30 * DAY_MS;
        assert!(is_readmission(readmission_window_start(admit), admit));
        assert!(!is_readmission(readmission_window_start(admit) - 1, admit));
    }
}
