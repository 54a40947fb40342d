//! Parsing of FHIR reference strings (`Type/id`, versioned, absolute, conditional).

use super::id::is_valid_id;
use super::resource_types::is_known;

/// A reference string split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref<'a> {
    /// `Type/id` or `Type/id/_history/v`, relative or under this server's base.
    Local {
        resource_type: &'a str,
        id: &'a str,
        version: Option<&'a str>,
    },
    /// `Type?search` — resolved by search inside a transaction.
    Conditional {
        resource_type: &'a str,
        query: &'a str,
    },
    /// `#id` into `contained`.
    Contained(&'a str),
    /// `urn:uuid:` / `urn:oid:` placeholders used inside Bundles.
    Urn(&'a str),
    /// Anything else: an absolute URL to another server, a canonical, ...
    External(&'a str),
}

/// Parses `reference`; `base` is this server's base URL (without trailing slash).
pub fn parse<'a>(reference: &'a str, base: &str) -> Ref<'a> {
    if let Some(id) = reference.strip_prefix('#') {
        return Ref::Contained(id);
    }
    if reference.starts_with("urn:") {
        return Ref::Urn(reference);
    }
    if let Some((ty, query)) = reference.split_once('?')
        && is_known(ty)
    {
        return Ref::Conditional {
            resource_type: ty,
            query,
        };
    }
    let relative = match reference
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(rest) if !base.is_empty() => rest,
        _ if reference.contains("://") => return Ref::External(reference),
        _ => reference,
    };
    if let Some((ty, query)) = relative.split_once('?') {
        if is_known(ty) {
            return Ref::Conditional {
                resource_type: ty,
                query,
            };
        }
        return Ref::External(reference);
    }
    let parts: Vec<&str> = relative.split('/').collect();
    match parts.as_slice() {
        [ty, id] if is_known(ty) && is_valid_id(id) => Ref::Local {
            resource_type: ty,
            id,
            version: None,
        },
        [ty, id, "_history", v] if is_known(ty) && is_valid_id(id) => Ref::Local {
            resource_type: ty,
            id,
            version: Some(v),
        },
        _ => Ref::External(reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let base = "http://localhost:8080";
        assert_eq!(
            parse("Patient/1", base),
            Ref::Local {
                resource_type: "Patient",
                id: "1",
                version: None
            }
        );
        assert_eq!(
            parse("http://localhost:8080/Patient/1/_history/2", base),
            Ref::Local {
                resource_type: "Patient",
                id: "1",
                version: Some("2")
            }
        );
        assert_eq!(
            parse("http://other/fhir/Patient/1", base),
            Ref::External("http://other/fhir/Patient/1")
        );
        assert_eq!(
            parse("Organization?identifier=a|b", base),
            Ref::Conditional {
                resource_type: "Organization",
                query: "identifier=a|b"
            }
        );
        assert_eq!(
            parse(
                "Organization?identifier=https://github.com/synthetichealth/synthea|1",
                base
            ),
            Ref::Conditional {
                resource_type: "Organization",
                query: "identifier=https://github.com/synthetichealth/synthea|1"
            }
        );
        assert_eq!(parse("#c1", base), Ref::Contained("c1"));
        assert_eq!(parse("urn:uuid:1234", base), Ref::Urn("urn:uuid:1234"));
        assert_eq!(parse("Nope/1", base), Ref::External("Nope/1"));
    }
}
