//! The small FHIRPath subset that R4 SearchParameter expressions use.
//!
//! Search indexing is driven by the SearchParameter resources in `conformance/`,
//! so their `expression`s must be evaluated. Almost all of them are unions of
//! simple paths with `as`/`ofType` type filters and `where(resolve() is T)`;
//! that is what this module supports. An expression outside the subset compiles
//! to `None` and the parameter is reported as unsupported at start-up rather
//! than indexed wrongly.

use serde_json::Value;

/// One step of a compiled path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    /// `as T` / `as(T)` / `ofType(T)`: keep values of choice type T.
    As(String),
    /// `where(resolve() is T)`: keep references that point at type T.
    ResolvesTo(String),
    /// `where(field = 'literal')`.
    FieldEquals(String, String),
}

/// A compiled expression: the union of its branches that start at a resource type.
#[derive(Debug, Clone, Default)]
pub struct CompiledPath {
    branches: Vec<(String, Vec<Step>)>,
}

/// A value reached by a path, with the choice-type suffix when it came from `x[x]`.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub value: &'a Value,
    pub choice_type: Option<&'a str>,
}

impl CompiledPath {
    /// Compiles `expr`; `None` when it uses something outside the supported subset.
    pub fn compile(expr: &str) -> Option<CompiledPath> {
        let mut branches = Vec::new();
        for branch in split_top(expr, '|') {
            branches.push(compile_branch(branch.trim())?);
        }
        Some(CompiledPath { branches })
    }

    /// The resource types this expression has a branch for.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.branches.iter().map(|(t, _)| t.as_str())
    }

    /// Evaluates the branches for `resource_type` against `resource`.
    pub fn evaluate<'a>(&self, resource_type: &str, resource: &'a Value) -> Vec<Node<'a>> {
        let mut out = Vec::new();
        for (ty, steps) in &self.branches {
            if ty == resource_type || ty == "Resource" || ty == "DomainResource" {
                let mut nodes = vec![Node {
                    value: resource,
                    choice_type: None,
                }];
                for step in steps {
                    nodes = apply(step, nodes);
                }
                out.extend(nodes);
            }
        }
        out
    }
}

fn compile_branch(mut text: &str) -> Option<(String, Vec<Step>)> {
    let mut trailing_as = None;
    if text.starts_with('(') && text.ends_with(')') {
        text = text[1..text.len() - 1].trim();
    }
    if let Some((path, ty)) = text.rsplit_once(" as ") {
        trailing_as = Some(ty.trim().to_string());
        text = path.trim();
    }
    let mut parts = split_top(text, '.').into_iter();
    let root = parts.next()?.trim().to_string();
    if root.is_empty() || !root.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut steps = Vec::new();
    for part in parts {
        steps.push(compile_step(part.trim())?);
    }
    if let Some(ty) = trailing_as {
        steps.push(Step::As(ty));
    }
    Some((root, steps))
}

fn compile_step(part: &str) -> Option<Step> {
    if let Some(arg) = call_arg(part, "as").or_else(|| call_arg(part, "ofType")) {
        return Some(Step::As(arg.to_string()));
    }
    if let Some(arg) = call_arg(part, "where") {
        if let Some(ty) = arg.strip_prefix("resolve() is ") {
            return Some(Step::ResolvesTo(ty.trim().to_string()));
        }
        let (field, literal) = arg.split_once('=')?;
        let literal = literal.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        let field = field.trim();
        if !field.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        return Some(Step::FieldEquals(field.to_string(), literal.to_string()));
    }
    if !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Some(Step::Field(part.to_string()));
    }
    None
}

fn call_arg<'a>(part: &'a str, name: &str) -> Option<&'a str> {
    part.strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

/// Splits on `sep` outside parentheses and quotes.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut out = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn apply<'a>(step: &Step, nodes: Vec<Node<'a>>) -> Vec<Node<'a>> {
    let mut out = Vec::new();
    for node in nodes {
        match step {
            Step::Field(name) => field(node.value, name, &mut out),
            Step::As(ty) => {
                if node.choice_type.is_some_and(|c| c.eq_ignore_ascii_case(ty)) {
                    out.push(node);
                }
            }
            Step::ResolvesTo(ty) => {
                if reference_type(node.value).is_some_and(|t| t == ty) {
                    out.push(node);
                }
            }
            Step::FieldEquals(f, lit) => {
                if node.value.get(f).and_then(Value::as_str) == Some(lit.as_str()) {
                    out.push(node);
                }
            }
        }
    }
    out
}

fn field<'a>(value: &'a Value, name: &str, out: &mut Vec<Node<'a>>) {
    let Some(obj) = value.as_object() else { return };
    if let Some(v) = obj.get(name) {
        push_flat(v, None, out);
        return;
    }
    for (key, v) in obj {
        if let Some(suffix) = key.strip_prefix(name)
            && suffix.starts_with(|c: char| c.is_ascii_uppercase())
        {
            push_flat(v, Some(suffix), out);
        }
    }
}

fn push_flat<'a>(v: &'a Value, choice_type: Option<&'a str>, out: &mut Vec<Node<'a>>) {
    match v {
        Value::Array(items) => out.extend(
            items
                .iter()
                .filter(|i| !i.is_null())
                .map(|value| Node { value, choice_type }),
        ),
        Value::Null => {}
        value => out.push(Node { value, choice_type }),
    }
}

/// The resource type a Reference points at, read from its `reference` or `type`.
pub fn reference_type(value: &Value) -> Option<&str> {
    if let Some(r) = value.get("reference").and_then(Value::as_str) {
        let parts: Vec<&str> = r.split('?').next()?.split('/').collect();
        // `Type/id`, `Type/id/_history/n`, or absolute `.../Type/id`.
        let n = parts.len();
        if let Some(pos) = parts.iter().rposition(|p| *p == "_history") {
            return pos.checked_sub(2).map(|i| parts[i]);
        }
        if n >= 2 {
            return Some(parts[n - 2]);
        }
        if r.contains('?') {
            return r.split('?').next();
        }
    }
    value.get("type").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn union_choice_and_resolve() {
        let p = CompiledPath::compile(
            "Condition.subject.where(resolve() is Patient) | Observation.subject.where(resolve() is Patient)",
        )
        .unwrap();
        let obs = json!({"subject": {"reference": "Patient/1"}});
        assert_eq!(p.evaluate("Observation", &obs).len(), 1);
        let grp = json!({"subject": {"reference": "Group/1"}});
        assert!(p.evaluate("Observation", &grp).is_empty());

        let q = CompiledPath::compile(
            "(Observation.value as Quantity) | (Observation.value as SampledData)",
        )
        .unwrap();
        let o = json!({"valueQuantity": {"value": 1}});
        assert_eq!(q.evaluate("Observation", &o).len(), 1);
        let s = json!({"valueString": "x"});
        assert!(q.evaluate("Observation", &s).is_empty());
    }

    #[test]
    fn arrays_flatten_and_where_equals_filters() {
        let p = CompiledPath::compile("Patient.telecom.where(system='email')").unwrap();
        let pat = json!({"telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}]});
        let nodes = p.evaluate("Patient", &pat);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].value["value"], "a@b");
        assert!(CompiledPath::compile("Patient.name.exists()").is_none());
    }
}
