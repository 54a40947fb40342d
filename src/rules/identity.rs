//! The demographic rule that identifies a patient when no trusted
//! identifier does: the first name's family and first given name, the
//! birth date and the gender, all present and compared exactly — never the
//! name alone. `$process-message` searches with it (when `[transitions]
//! demographic_match` is on) and attribution lists fall back to it with the
//! same switch, so a patient is "the same person" by one rule everywhere.
//! The caller decides only when exactly one patient has the demographics.

use serde_json::Value;

/// The four demographics, in the order family, given, birth date, gender;
/// None when any is missing.
pub fn demographics(p: &Value) -> Option<[String; 4]> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
    Some([
        text(p.pointer("/name/0/family"))?,
        text(p.pointer("/name/0/given/0"))?,
        text(p.get("birthDate"))?,
        text(p.get("gender"))?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_four_or_nothing() {
        let p = json!({"name": [{"family": "Rivera", "given": ["Ana", "M"]}],
                       "birthDate": "1980-02-03", "gender": "female"});
        assert_eq!(
            demographics(&p),
            Some(["Rivera", "Ana", "1980-02-03", "female"].map(String::from))
        );
        for missing in ["/name", "/birthDate", "/gender"] {
            let mut q = p.clone();
            let (parent, key) = missing.rsplit_once('/').unwrap();
            q.pointer_mut(if parent.is_empty() { "" } else { parent })
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key);
            assert_eq!(demographics(&q), None, "{missing}");
        }
    }
}
