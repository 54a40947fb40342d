//! A person's name for display (Patient, Practitioner): the first
//! `HumanName`'s `text`, else its given names and family joined.

use serde_json::Value;

/// The display form of `resource.name[0]`; empty when there is none.
pub fn display(resource: &Value) -> String {
    let n = &resource["name"][0];
    if let Some(text) = n["text"].as_str().filter(|t| !t.trim().is_empty()) {
        return text.trim().to_string();
    }
    let mut parts: Vec<&str> = n["prefix"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(n["given"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    parts.extend(n["family"].as_str());
    parts.join(" ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_wins_else_prefix_given_family() {
        let both = json!({"name": [{"text": "Dr. Ana Ruiz", "family": "Ruiz"}]});
        assert_eq!(display(&both), "Dr. Ana Ruiz");
        let parts = json!({"name": [{"prefix": ["Dr."], "given": ["Ana", "M"], "family": "Ruiz"}]});
        assert_eq!(display(&parts), "Dr. Ana M Ruiz");
        assert_eq!(display(&json!({"id": "x"})), "");
    }
}
