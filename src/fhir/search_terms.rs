//! The values of search parameters: prefixes, tokens, numbers, quantities, references.

use super::datetime::DateRange;
use super::index::normalize;
use super::params::ParamType;
use super::query::{Modifier, QueryError, date_value, reference_term, text_term};

/// Comparison prefixes for ordered values (R4 search §3.1.1.4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// How a token value constrains the system.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemMatch {
    Any,
    /// `|code`: the value has no system.
    NoSystem,
    Is(String),
}

/// One OR-ed search value.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Token {
        system: SystemMatch,
        code: Option<String>,
    },
    Text(String),
    /// Normalized for prefix/contains search; raw for `:exact`.
    String {
        norm: String,
        raw: String,
    },
    Date(Prefix, DateRange),
    /// `lo`/`hi` are the bounds implied by the value's precision.
    Number {
        prefix: Prefix,
        value: f64,
        lo: f64,
        hi: f64,
        system: Option<String>,
        code: Option<String>,
    },
    Reference {
        ty: Option<String>,
        id: Option<String>,
        url: Option<String>,
    },
}

/// Splits on `sep` where it is not escaped with a backslash, and unescapes.
pub fn split_escaped(v: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n != sep {
                        out.last_mut().unwrap().push('\\');
                    }
                    out.last_mut().unwrap().push(n);
                }
            }
            c if c == sep => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

pub(super) fn parse_terms(
    kind: ParamType,
    modifier: &Modifier,
    type_filter: Option<&str>,
    base: &str,
    key: &str,
    value: &str,
) -> Result<Vec<Term>, QueryError> {
    let mut out = Vec::new();
    for v in split_escaped(value, ',') {
        if v.is_empty() {
            return Err(QueryError(format!("{key}: empty value")));
        }
        out.push(match kind {
            ParamType::Token | ParamType::Uri if *modifier == Modifier::Text => text_term(&v),
            ParamType::Token | ParamType::Uri => token_term(&v),
            ParamType::String => Term::String {
                norm: normalize(&v),
                raw: v.clone(),
            },
            ParamType::Date => {
                let (prefix, rest) = split_prefix(&v);
                Term::Date(prefix, date_value(key, rest)?)
            }
            ParamType::Number | ParamType::Quantity => number_term(key, &v)?,
            ParamType::Reference => reference_term(base, type_filter, &v),
        });
    }
    Ok(out)
}

fn token_term(v: &str) -> Term {
    let parts = split_escaped(v, '|');
    match parts.as_slice() {
        [code] => Term::Token {
            system: SystemMatch::Any,
            code: Some(code.clone()),
        },
        [sys, code] => {
            let system = if sys.is_empty() {
                SystemMatch::NoSystem
            } else {
                SystemMatch::Is(sys.clone())
            };
            let code = if code.is_empty() {
                None
            } else {
                Some(code.clone())
            };
            Term::Token { system, code }
        }
        _ => Term::Token {
            system: SystemMatch::Any,
            code: Some(v.to_string()),
        },
    }
}

fn split_prefix(v: &str) -> (Prefix, &str) {
    let prefixes = [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
        ("sa", Prefix::Sa),
        ("eb", Prefix::Eb),
        ("ap", Prefix::Ap),
    ];
    for (p, prefix) in prefixes {
        if let Some(rest) = v.strip_prefix(p)
            && rest.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
        {
            return (prefix, rest);
        }
    }
    (Prefix::Eq, v)
}

fn number_term(key: &str, v: &str) -> Result<Term, QueryError> {
    let parts = split_escaped(v, '|');
    let (prefix, num) = split_prefix(&parts[0]);
    let value: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| QueryError(format!("{key}: '{num}' is not a number")))?;
    // Precision: half a unit of the last significant decimal place.
    let mantissa = num.split(['e', 'E']).next().unwrap_or(num);
    let decimals = mantissa.split_once('.').map(|(_, f)| f.len()).unwrap_or(0) as i32;
    let half = 0.5 * 10f64.powi(-decimals);
    let opt = |i: usize| parts.get(i).filter(|s| !s.is_empty()).cloned();
    if parts.len() > 3 {
        return Err(QueryError(format!(
            "{key}: expected [prefix]number|system|code"
        )));
    }
    Ok(Term::Number {
        prefix,
        value,
        lo: value - half,
        hi: value + half,
        system: opt(1),
        code: opt(2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_tokens() {
        assert_eq!(split_escaped(r"a\,b,c", ','), vec!["a,b", "c"]);
        assert_eq!(
            token_term("http://loinc.org|1234-5"),
            Term::Token {
                system: SystemMatch::Is("http://loinc.org".into()),
                code: Some("1234-5".into())
            }
        );
        assert_eq!(
            token_term("|x"),
            Term::Token {
                system: SystemMatch::NoSystem,
                code: Some("x".into())
            }
        );
        assert_eq!(
            token_term("sys|"),
            Term::Token {
                system: SystemMatch::Is("sys".into()),
                code: None
            }
        );
    }

    #[test]
    fn numbers_carry_their_precision() {
        let Term::Number {
            prefix,
            lo,
            hi,
            system,
            code,
            ..
        } = number_term("v", "ge5.40|http://unitsofmeasure.org|mg").unwrap()
        else {
            panic!()
        };
        assert_eq!(prefix, Prefix::Ge);
        assert!((lo - 5.395).abs() < 1e-9 && (hi - 5.405).abs() < 1e-9);
        assert_eq!(
            (system.as_deref(), code.as_deref()),
            (Some("http://unitsofmeasure.org"), Some("mg"))
        );
        assert!(number_term("v", "abc").is_err());
    }

    #[test]
    fn date_prefixes() {
        let t = parse_terms(
            ParamType::Date,
            &Modifier::None,
            None,
            "",
            "date",
            "ge2024-01-01,lt2023",
        )
        .unwrap();
        assert!(matches!(t[0], Term::Date(Prefix::Ge, _)));
        assert!(matches!(t[1], Term::Date(Prefix::Lt, _)));
        assert!(
            parse_terms(
                ParamType::Date,
                &Modifier::None,
                None,
                "",
                "date",
                "notadate"
            )
            .is_err()
        );
    }
}
