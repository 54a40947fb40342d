//! BB5.Y2.1–Y2.3, pure: which patients the practice's chosen
//! preference-sensitive conditions make eligible for decision aids or
//! self-management support (a standing Condition coded with one of the
//! enrolment's `preference_sensitive` codes: an ICD-10-CM category such as
//! `M17`, matching its subcodes, or a SNOMED CT code), and whether an
//! active CarePlan records such a tool (an activity coded `decision-aid` or
//! `self-management-support` in Tandem's care-management code system).

use serde_json::Value;

use crate::measure::qicore::{ICD10, SNOMED};
use crate::measure::record::{as_list, codings, condition_stands};

pub const CARE_CS: &str = "http://tandem.health/fhir/CodeSystem/care-management";
pub const TOOLS: [&str; 2] = ["decision-aid", "self-management-support"];

/// Whether the Condition stands and is one of `wanted`.
pub fn names_condition(c: &Value, wanted: &[String]) -> bool {
    condition_stands(c)
        && codings(&c["code"]).any(|(system, code)| {
            wanted.iter().any(|w| match system {
                ICD10 => code.starts_with(w.as_str()),
                SNOMED => code == w,
                _ => false,
            })
        })
}

/// Whether an active CarePlan records a decision aid or self-management
/// support tool among its activities.
pub fn records_tool(plan: &Value) -> bool {
    plan["status"] == "active"
        && as_list(&plan["activity"]).any(|a| {
            as_list(&a["detail"]["code"]["coding"]).any(|c| {
                c["system"] == CARE_CS && c["code"].as_str().is_some_and(|k| TOOLS.contains(&k))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_category_matches_its_subcodes_and_only_standing_conditions_count() {
        let wanted = vec!["M17".to_string(), "239873007".to_string()];
        let c = |system: &str, code: &str, status: &str| {
            json!({"clinicalStatus": {"coding": [{"code": status}]},
                "code": {"coding": [{"system": system, "code": code}]}})
        };
        assert!(names_condition(&c(ICD10, "M17.11", "active"), &wanted));
        assert!(names_condition(&c(SNOMED, "239873007", "relapse"), &wanted));
        assert!(!names_condition(&c(ICD10, "M16.0", "active"), &wanted));
        assert!(!names_condition(&c(ICD10, "M17.11", "resolved"), &wanted));
        // A SNOMED code is matched whole, never as a prefix.
        assert!(!names_condition(
            &c(SNOMED, "2398730071", "active"),
            &wanted
        ));
    }

    #[test]
    fn only_an_active_plan_with_a_tool_activity_records_one() {
        let plan = |status: &str, code: &str| {
            json!({"status": status, "activity": [
                {"detail": {"code": {"coding": [{"system": CARE_CS, "code": code}]}}}]})
        };
        assert!(records_tool(&plan("active", "decision-aid")));
        assert!(records_tool(&plan("active", "self-management-support")));
        assert!(!records_tool(&plan("completed", "decision-aid")));
        assert!(!records_tool(&plan("active", "outreach")));
    }
}
