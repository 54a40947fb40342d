//! Partial parses of stored JSON: a pass over a practice that needs only a
//! resource's tags or categories decides from these — borrowed strings, the
//! rest of the text skipped without building a tree — whether to parse the
//! resource at all. Most of a patient's record is vital signs and labs a
//! pass never looks at, and building each as a JSON tree was most of a
//! pass's time. A text these cannot read is left to the full parse.

use std::borrow::Cow;

use serde::Deserialize;

#[derive(Deserialize)]
pub struct Coding<'a> {
    #[serde(borrow, default)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct Concept<'a> {
    #[serde(borrow, default)]
    pub coding: Vec<Coding<'a>>,
}

#[derive(Deserialize, Default)]
pub struct Meta<'a> {
    #[serde(borrow, default)]
    pub tag: Vec<Coding<'a>>,
}

/// A resource's tags and categories (an Observation's), the rest skipped.
#[derive(Deserialize)]
pub struct Tagged<'a> {
    #[serde(borrow, default)]
    pub meta: Meta<'a>,
    #[serde(borrow, default)]
    pub category: Vec<Concept<'a>>,
}

impl Tagged<'_> {
    /// Whether a tag of `system` is on the resource (with `code` when given).
    pub fn has_tag(&self, system: &str, code: Option<&[&str]>) -> bool {
        self.meta.tag.iter().any(|t| {
            t.system.as_deref() == Some(system)
                && code.is_none_or(|codes| t.code.as_deref().is_some_and(|c| codes.contains(&c)))
        })
    }
}

/// An Encounter's class, the rest skipped.
#[derive(Deserialize)]
pub struct Encounter<'a> {
    #[serde(borrow, default)]
    pub class: Option<Coding<'a>>,
}
