//! The referral Task state machine (Gravity SDOHCC Task for Referral
//! Management, harmonised with BSeR business statuses), and who may make
//! each move: the owner (the referral's recipient) moves a Task forward, the
//! requester (the referring practice) sends, cancels or withdraws it.
//!
//! ```text
//! (new) -> draft | requested                       requester
//! draft -> requested | cancelled                   requester
//! requested -> accepted | rejected                 owner
//! accepted -> in-progress | on-hold | completed | failed   owner
//! in-progress -> on-hold | completed | failed      owner
//! on-hold -> in-progress | completed | failed      owner
//! requested | accepted | in-progress | on-hold -> cancelled   requester
//! any -> entered-in-error                          requester
//! ```
//! An update that keeps the status (a business status, an output, a note) is
//! open to both parties until the Task is entered-in-error. Rejected,
//! cancelled and failed need a `statusReason` (Gravity: SHOULD; here required,
//! so the other side always learns why); so does on-hold.

/// Who is changing the Task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Requester,
    Owner,
}

/// Why a change is refused: a conflict with the Task's state (409) or a
/// content rule (422).
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Conflict(String),
    Invalid(String),
}

/// The BSeR business status codes (TaskBusinessStatusCS).
pub const BUSINESS_STATUSES: [(&str, &str); 10] = [
    ("2.0", "Service Request Created"),
    ("3.0", "Service Request Accepted"),
    ("4.0", "Service Request Declined"),
    ("5.1.1", "Service Request Event Scheduled"),
    ("5.1.2", "Scheduled Service Request Event Unattended"),
    ("5.1.3", "Scheduled Service Request Event Cancelled"),
    ("5.1.4", "Service Request Event Completed"),
    ("5.2", "Service Request Cancellation Requested"),
    ("6.0", "Service Request Fulfillment Cancelled"),
    ("7.0", "Service Request Fulfillment Completed"),
];

/// Statuses a referral Task is open in (shared with the partner).
pub const OPEN: [&str; 5] = ["draft", "requested", "accepted", "in-progress", "on-hold"];

fn who_may(from: Option<&str>, to: &str) -> Option<Actor> {
    use Actor::*;
    Some(match (from, to) {
        (None, "draft" | "requested") => Requester,
        (Some("draft"), "requested") => Requester,
        (Some("requested"), "accepted" | "rejected") => Owner,
        (Some("accepted"), "in-progress" | "on-hold" | "completed" | "failed") => Owner,
        (Some("in-progress"), "on-hold" | "completed" | "failed") => Owner,
        (Some("on-hold"), "in-progress" | "completed" | "failed") => Owner,
        (Some("draft" | "requested" | "accepted" | "in-progress" | "on-hold"), "cancelled") => {
            Requester
        }
        (Some(f), "entered-in-error") if f != "entered-in-error" => Requester,
        _ => return None,
    })
}

/// Checks one change of a referral Task from `from` (None: it is new) to `to`.
pub fn check(
    from: Option<&str>,
    to: &str,
    actor: Actor,
    has_reason: bool,
    business: Option<(&str, &str)>,
) -> Result<(), Refusal> {
    if let Some((system, code)) = business
        && system == super::BUSINESS_STATUS_CS
        && !BUSINESS_STATUSES.iter().any(|(c, _)| *c == code)
    {
        return Err(Refusal::Invalid(format!(
            "businessStatus {code} is not a BSeR TaskBusinessStatusCS code (2.0, 3.0, 4.0, 5.1.1, 5.1.2, 5.1.3, 5.1.4, 5.2, 6.0, 7.0)."
        )));
    }
    if from == Some(to) {
        return match to {
            "entered-in-error" => Err(Refusal::Conflict(
                "The referral Task was entered in error and can no longer change.".into(),
            )),
            _ => Ok(()),
        };
    }
    let Some(allowed) = who_may(from, to) else {
        return Err(Refusal::Conflict(match from {
            None => format!("A referral Task starts as draft or requested, not {to}."),
            Some(f) => format!("A referral Task cannot go from {f} to {to}."),
        }));
    };
    if allowed != actor {
        return Err(Refusal::Conflict(format!(
            "Only the {} may move a referral Task {}to {to}.",
            match allowed {
                Actor::Owner => "owner (the referral's recipient)",
                Actor::Requester => "requester (the referring organization)",
            },
            from.map(|f| format!("from {f} ")).unwrap_or_default()
        )));
    }
    if matches!(to, "rejected" | "cancelled" | "failed" | "on-hold") && !has_reason {
        return Err(Refusal::Invalid(format!(
            "A referral Task set to {to} needs statusReason.text saying why."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Actor::*;
    use super::*;

    fn ok(from: Option<&str>, to: &str, a: Actor) -> bool {
        check(from, to, a, true, None).is_ok()
    }

    #[test]
    fn the_happy_path_alternates_requester_and_owner() {
        assert!(ok(None, "draft", Requester));
        assert!(ok(Some("draft"), "requested", Requester));
        assert!(ok(Some("requested"), "accepted", Owner));
        assert!(ok(Some("accepted"), "in-progress", Owner));
        assert!(ok(Some("in-progress"), "on-hold", Owner));
        assert!(ok(Some("on-hold"), "in-progress", Owner));
        assert!(ok(Some("in-progress"), "completed", Owner));
    }

    #[test]
    fn each_move_belongs_to_one_party() {
        assert!(
            !ok(Some("requested"), "accepted", Requester),
            "the practice cannot accept for the partner"
        );
        assert!(!ok(Some("accepted"), "completed", Requester));
        assert!(
            !ok(Some("requested"), "cancelled", Owner),
            "only the requester cancels"
        );
        assert!(ok(Some("in-progress"), "cancelled", Requester));
        assert!(!ok(None, "requested", Owner));
        assert!(ok(Some("completed"), "entered-in-error", Requester));
        assert!(!ok(Some("completed"), "entered-in-error", Owner));
    }

    #[test]
    fn jumps_and_moves_out_of_terminal_states_are_conflicts() {
        for (from, to) in [
            (Some("requested"), "completed"),
            (Some("requested"), "in-progress"),
            (Some("draft"), "accepted"),
            (Some("completed"), "in-progress"),
            (Some("rejected"), "accepted"),
            (Some("cancelled"), "requested"),
            (None, "accepted"),
        ] {
            for a in [Requester, Owner] {
                assert!(
                    matches!(check(from, to, a, true, None), Err(Refusal::Conflict(_))),
                    "{from:?} -> {to} by {a:?}"
                );
            }
        }
        assert!(matches!(
            check(
                Some("entered-in-error"),
                "entered-in-error",
                Requester,
                true,
                None
            ),
            Err(Refusal::Conflict(_))
        ));
    }

    #[test]
    fn same_status_updates_are_open_to_both() {
        assert!(ok(Some("in-progress"), "in-progress", Owner));
        assert!(
            ok(Some("completed"), "completed", Owner),
            "outputs added after completion"
        );
        assert!(ok(Some("requested"), "requested", Requester));
    }

    #[test]
    fn reasons_and_business_status_codes_are_checked() {
        assert!(matches!(
            check(Some("requested"), "rejected", Owner, false, None),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            check(Some("accepted"), "cancelled", Requester, false, None),
            Err(Refusal::Invalid(_))
        ));
        assert!(check(Some("requested"), "rejected", Owner, true, None).is_ok());
        let bser = super::super::BUSINESS_STATUS_CS;
        assert!(
            check(
                Some("accepted"),
                "in-progress",
                Owner,
                false,
                Some((bser, "5.1.1"))
            )
            .is_ok()
        );
        assert!(
            matches!(
                check(
                    Some("accepted"),
                    "in-progress",
                    Owner,
                    false,
                    Some((bser, "5.1"))
                ),
                Err(Refusal::Invalid(_))
            ),
            "5.1 is not in the CodeSystem"
        );
        assert!(
            check(
                Some("accepted"),
                "in-progress",
                Owner,
                false,
                Some(("urn:local", "x"))
            )
            .is_ok()
        );
    }
}
