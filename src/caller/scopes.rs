//! SMART scopes (App Launch 2.x v2 syntax, with v1 `.read`/`.write`/`.*`
//! accepted and normalised): parsing, granting at the token endpoint and the
//! per-interaction check. Pure code; no I/O.

use std::fmt;

/// The permission letters of a v2 scope, as a bit set in `cruds` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perms(u8);

impl Perms {
    pub const C: Perms = Perms(1);
    pub const R: Perms = Perms(2);
    pub const U: Perms = Perms(4);
    pub const D: Perms = Perms(8);
    pub const S: Perms = Perms(16);
    const LETTERS: [(char, Perms); 5] = [
        ('c', Perms::C),
        ('r', Perms::R),
        ('u', Perms::U),
        ('d', Perms::D),
        ('s', Perms::S),
    ];

    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn and(self, other: Perms) -> Perms {
        Perms(self.0 & other.0)
    }

    /// `cruds` letters in order, or the v1 words; anything else is refused
    /// (the spec lets servers reject out-of-order suffixes such as `.dus`).
    fn parse(s: &str) -> Option<Perms> {
        match s {
            "read" => return Some(Perms(Perms::R.0 | Perms::S.0)),
            "write" => return Some(Perms(Perms::C.0 | Perms::U.0 | Perms::D.0)),
            "*" => return Some(Perms(31)),
            _ => {}
        }
        let mut bits = 0u8;
        let mut next = 0;
        for ch in s.chars() {
            let pos = Perms::LETTERS[next..].iter().position(|(c, _)| *c == ch)?;
            bits |= Perms::LETTERS[next + pos].1.0;
            next += pos + 1;
        }
        (bits != 0).then_some(Perms(bits))
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (c, p) in Perms::LETTERS {
            if self.contains(p) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One scope, e.g. `system/Observation.rs?category=...|survey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `system`, `user` or `patient`; Tandem grants only `system`.
    pub context: String,
    /// `None` for `*`.
    pub resource_type: Option<String>,
    pub perms: Perms,
    /// `?param=value` restrictions, all of which must hold.
    pub restriction: Vec<(String, String)>,
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, String> {
        let (head, query) = match s.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (s, None),
        };
        let (context, rest) = head
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not a SMART scope (context/Type.perms)"))?;
        if !matches!(context, "system" | "user" | "patient") {
            return Err(format!("'{s}': context must be system, user or patient"));
        }
        let (rt, perms) = rest
            .rsplit_once('.')
            .ok_or_else(|| format!("'{s}' has no permissions suffix"))?;
        let perms = Perms::parse(perms).ok_or_else(|| {
            format!("'{s}': permissions must be cruds letters in order, or read/write/*")
        })?;
        let resource_type = match rt {
            "*" => None,
            t if crate::fhir::resource_types::is_known(t) => Some(t.to_string()),
            t => return Err(format!("'{s}': '{t}' is not an R4 resource type")),
        };
        let restriction = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Ok(Scope {
            context: context.to_string(),
            resource_type,
            perms,
            restriction,
        })
    }

    fn covers_type(&self, rt: &str) -> bool {
        self.resource_type.as_deref().is_none_or(|t| t == rt)
    }

    /// The part of `requested` this (pre-authorised) scope allows, if any.
    fn grant(&self, requested: &Scope) -> Option<Scope> {
        if self.context != requested.context {
            return None;
        }
        let rt_ok = match (&self.resource_type, &requested.resource_type) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        // An allowed restriction must be kept by the requested scope.
        let restriction_ok = self
            .restriction
            .iter()
            .all(|p| requested.restriction.contains(p));
        let perms = self.perms.and(requested.perms);
        (rt_ok && restriction_ok && !perms.is_empty()).then(|| Scope {
            perms,
            ..requested.clone()
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rt = self.resource_type.as_deref().unwrap_or("*");
        write!(f, "{}/{rt}.{}", self.context, self.perms)?;
        if !self.restriction.is_empty() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.restriction {
                q.append_pair(k, v);
            }
            write!(f, "?{}", q.finish())?;
        }
        Ok(())
    }
}

/// What a set of scopes allows for one interaction on one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    Denied,
    /// Allowed for every resource of the type.
    All,
    /// Allowed only for resources matching one of these restrictions.
    Matching(Vec<Vec<(String, String)>>),
}

/// A granted scope set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    /// Parses a space-separated list; unknown scopes are returned separately
    /// (OAuth lets a server ignore scopes it does not know, e.g. `openid`).
    pub fn parse_list(s: &str) -> (Scopes, Vec<String>) {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for part in s.split_whitespace() {
            match Scope::parse(part) {
                Ok(sc) => ok.push(sc),
                Err(_) => bad.push(part.to_string()),
            }
        }
        (Scopes(ok), bad)
    }

    /// The requested scopes narrowed to what `self` (the client's allowed
    /// scopes) permits. Nothing beyond the allowed scopes can ever be granted.
    pub fn grant(&self, requested: &Scopes) -> Scopes {
        let mut out: Vec<Scope> = Vec::new();
        for req in &requested.0 {
            for allowed in &self.0 {
                if let Some(g) = allowed.grant(req)
                    && !out.contains(&g)
                {
                    out.push(g);
                }
            }
        }
        Scopes(out)
    }

    pub fn allowance(&self, rt: &str, perm: Perms) -> Allowance {
        let mut restricted = Vec::new();
        // A token holds system scopes (a backend client) or user scopes (an
        // app acting for a person), never both; patient scopes are not issued.
        for s in self.0.iter().filter(|s| s.context != "patient") {
            if s.covers_type(rt) && s.perms.contains(perm) {
                if s.restriction.is_empty() {
                    return Allowance::All;
                }
                restricted.push(s.restriction.clone());
            }
        }
        if restricted.is_empty() {
            Allowance::Denied
        } else {
            Allowance::Matching(restricted)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> Scopes {
        let (sc, bad) = Scopes::parse_list(s);
        assert!(bad.is_empty(), "{bad:?}");
        sc
    }

    #[test]
    fn v1_words_map_to_v2_letters() {
        assert_eq!(
            scopes("system/Patient.read").to_string(),
            "system/Patient.rs"
        );
        assert_eq!(
            scopes("system/Patient.write").to_string(),
            "system/Patient.cud"
        );
        assert_eq!(scopes("system/*.*").to_string(), "system/*.cruds");
    }

    #[test]
    fn out_of_order_and_unknown_letters_are_refused() {
        assert!(Scope::parse("system/Patient.dus").is_err());
        assert!(Scope::parse("system/Patient.rx").is_err());
        assert!(Scope::parse("system/Nope.rs").is_err());
        assert!(Scope::parse("launch/patient").is_err());
        assert!(Scope::parse("system/Patient.").is_err());
    }

    #[test]
    fn allowance_per_letter_and_type() {
        let s = scopes("system/Observation.cs system/*.r");
        assert_eq!(s.allowance("Observation", Perms::C), Allowance::All);
        assert_eq!(s.allowance("Observation", Perms::S), Allowance::All);
        assert_eq!(s.allowance("Patient", Perms::R), Allowance::All);
        assert_eq!(s.allowance("Patient", Perms::S), Allowance::Denied);
        assert_eq!(s.allowance("Patient", Perms::U), Allowance::Denied);
        assert_eq!(s.allowance("Observation", Perms::D), Allowance::Denied);
    }

    #[test]
    fn restricted_scopes_allow_only_matching() {
        let s = scopes("system/Observation.rs?category=survey");
        assert_eq!(
            s.allowance("Observation", Perms::R),
            Allowance::Matching(vec![vec![("category".into(), "survey".into())]])
        );
        let s = scopes("system/Observation.rs?category=survey system/Observation.r");
        assert_eq!(s.allowance("Observation", Perms::R), Allowance::All);
    }

    #[test]
    fn grant_never_exceeds_allowed() {
        let allowed = scopes("system/Patient.rs system/Observation.crs");
        let got = allowed.grant(&scopes(
            "system/Patient.cruds system/Observation.rs system/Task.rs",
        ));
        assert_eq!(got.to_string(), "system/Patient.rs system/Observation.rs");
        let wildcard = scopes("system/*.rs");
        assert_eq!(
            wildcard.grant(&scopes("system/*.cruds")).to_string(),
            "system/*.rs"
        );
        // A type-specific allowance cannot be widened to `*`.
        assert!(allowed.grant(&scopes("system/*.rs")).is_empty());
        // An allowed restriction is kept; asking without it gets nothing.
        let r = scopes("system/Observation.rs?category=survey");
        assert!(r.grant(&scopes("system/Observation.rs")).is_empty());
        assert_eq!(
            r.grant(&scopes("system/Observation.r?category=survey"))
                .to_string(),
            "system/Observation.r?category=survey"
        );
    }
}
