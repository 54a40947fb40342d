//! Which of a patient's resources the method reads, decided from their
//! stored JSON text by a partial parse: most of a record is vital signs,
//! labs and office visits the method never looks at, and building each as a
//! full JSON tree was most of a pass. The test keeps a superset of what
//! `RiskFacts::of` reads (it reads through the same constants), and keeps
//! anything it cannot read, so the full parse decides.

use crate::fhir::partial::{Encounter, Tagged};

use super::facts::{ED_CLASSES, INSTRUMENT_CS, SCORED_INSTRUMENTS, SDOH, STAY_CLASSES};

/// Whether the method reads this resource: an Observation that is one of
/// Tandem's scored-instrument results or a social-needs screen, an
/// Encounter that is an ED visit or a stay; every resource of other types.
pub fn reads(resource_type: &str, json: &str) -> bool {
    match resource_type {
        "Observation" => serde_json::from_str::<Tagged>(json).map_or(true, |o| {
            o.has_tag(INSTRUMENT_CS, Some(&SCORED_INSTRUMENTS))
                || o.category
                    .iter()
                    .flat_map(|c| &c.coding)
                    .any(|c| c.code.as_deref() == Some(SDOH))
        }),
        "Encounter" => serde_json::from_str::<Encounter>(json).map_or(true, |e| {
            e.class.and_then(|c| c.code).is_some_and(|c| {
                ED_CLASSES.contains(&c.as_ref()) || STAY_CLASSES.contains(&c.as_ref())
            })
        }),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_the_method_reads_and_what_it_cannot_tell() {
        let phq = r#"{"resourceType":"Observation","meta":{"tag":[{"system":"http://tandem.health/fhir/CodeSystem/instrument","code":"phq-9"}]},"valueQuantity":{"value":12}}"#;
        assert!(reads("Observation", phq));
        // An escaped letter is the same code.
        let escaped = r#"{"meta":{"tag":[{"system":"http://tandem.health/fhir/CodeSystem/instrument","code":"g\u0061d-7"}]}}"#;
        assert!(reads("Observation", escaped));
        let other_instrument = r#"{"meta":{"tag":[{"system":"http://tandem.health/fhir/CodeSystem/instrument","code":"phq-2"}]}}"#;
        assert!(!reads("Observation", other_instrument));
        let sdoh = r#"{"category":[{"coding":[{"system":"http://hl7.org/fhir/us/core/CodeSystem/us-core-category","code":"sdoh"}]}]}"#;
        assert!(reads("Observation", sdoh));
        let vital = r#"{"resourceType":"Observation","category":[{"coding":[{"code":"vital-signs"}]}],"code":{"coding":[{"code":"8480-6"}]}}"#;
        assert!(!reads("Observation", vital));
        // A shape the partial parse cannot read is kept for the full parse.
        assert!(reads(
            "Observation",
            r#"{"category":{"coding":[{"code":"sdoh"}]}}"#
        ));
        assert!(reads("Observation", "not json"));
        assert!(reads("Encounter", r#"{"class":{"code":"EMER"}}"#));
        assert!(reads("Encounter", r#"{"class":{"code":"IMP"}}"#));
        assert!(!reads("Encounter", r#"{"class":{"code":"AMB"}}"#));
        assert!(!reads("Encounter", r#"{"status":"finished"}"#));
        assert!(reads("Condition", r#"{"anything":1}"#));
    }
}
