//! Builds SQL for a [`SearchQuery`] over the generic index tables.
//!
//! Every clause becomes `alias.rid IN (SELECT rid FROM idx_* WHERE ...)`, always
//! constrained by tenant, resource type and parameter, so one builder serves
//! every SearchParameter in `conformance/` without per-parameter SQL.

use super::{Builder, Dialect};
use crate::fhir::datetime::DateRange;
use crate::fhir::params::ParamType;
use crate::fhir::query::{Clause, Modifier, Prefix, SearchQuery, SystemMatch, Target, Term};

fn table(kind: ParamType) -> &'static str {
    match kind {
        ParamType::Token | ParamType::Uri => "idx_token",
        ParamType::String => "idx_string",
        ParamType::Date => "idx_date",
        ParamType::Reference => "idx_ref",
        ParamType::Quantity | ParamType::Number => "idx_quantity",
    }
}

/// Appends the WHERE conditions selecting live resources of `q` in `tenant`.
///
/// Without statistics SQLite would scan every resource of the type and test
/// each parameter's `IN` list. Instead the first positive parameter clause
/// drives the query (its index rows give the candidate rids; the base
/// conditions are written `+col` so the type index is not preferred), and the
/// other parameter clauses are checked per candidate through their rid index.
pub fn where_clause(b: &mut Builder, tenant: &str, q: &SearchQuery, alias: &str) {
    let driver = q.clauses.iter().position(drives);
    // SQLite's `+col` keeps a column's index out of the plan; PostgreSQL
    // plans from statistics and has no such hint.
    let plus = if driver.is_some() && b.dialect == Dialect::Sqlite {
        "+"
    } else {
        ""
    };
    b.push(&format!("{plus}{alias}.tenant = "));
    b.arg(tenant.to_string());
    b.push(&format!(" AND {plus}{alias}.type = "));
    b.arg(q.resource_type.clone());
    b.push(" AND ");
    b.live(alias);
    for (i, clause) in q.clauses.iter().enumerate() {
        b.push(" AND ");
        let per_row = driver.is_some_and(|d| d != i) && drives(clause);
        clause_sql_as(b, tenant, &q.resource_type, alias, clause, per_row);
    }
}

/// A parameter clause that selects by its index rows (no :not, no :missing).
fn drives(c: &Clause) -> bool {
    matches!(c.target, Target::Param(_))
        && !matches!(c.modifier, Modifier::Missing(_) | Modifier::Not)
}

fn base_conditions(b: &mut Builder, tenant: &str, rt: &str, alias: &str) {
    b.push(&format!("{alias}.tenant = "));
    b.arg(tenant.to_string());
    b.push(&format!(" AND {alias}.type = "));
    b.arg(rt.to_string());
    b.push(" AND ");
    b.live(alias);
}

fn clause_sql(b: &mut Builder, tenant: &str, rt: &str, alias: &str, c: &Clause) {
    clause_sql_as(b, tenant, rt, alias, c, false)
}

/// `per_row`: test the clause for the current row through the table's rid
/// index (`EXISTS`), rather than as a list of matching rids.
fn clause_sql_as(b: &mut Builder, tenant: &str, rt: &str, alias: &str, c: &Clause, per_row: bool) {
    match &c.target {
        Target::Id => {
            let not = if c.modifier == Modifier::Not {
                "NOT "
            } else {
                ""
            };
            b.push(&format!("{alias}.id {not}IN ("));
            for (i, t) in c.terms.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                let code = match t {
                    Term::Token {
                        code: Some(code), ..
                    } => code.clone(),
                    _ => String::new(),
                };
                b.arg(code);
            }
            b.push(")");
        }
        Target::LastUpdated => {
            b.push("(");
            for (i, t) in c.terms.iter().enumerate() {
                if i > 0 {
                    b.push(" OR ");
                }
                if let Term::Date(p, r) = t {
                    let (start, end) = (
                        format!("{alias}.last_updated"),
                        format!("({alias}.last_updated + 1)"),
                    );
                    date_cond(b, &start, &end, *p, r);
                }
            }
            b.push(")");
        }
        Target::Param(p) => {
            let tbl = table(p.kind);
            match c.modifier {
                Modifier::Missing(missing) => {
                    let not = if missing { "NOT " } else { "" };
                    b.push(&format!(
                        "{alias}.rid {not}IN (SELECT rid FROM {tbl} WHERE "
                    ));
                    index_scope(b, tenant, rt, &p.code);
                    b.push(")");
                }
                _ => {
                    let not = if c.modifier == Modifier::Not {
                        "NOT "
                    } else {
                        ""
                    };
                    if per_row {
                        let hint = match b.dialect {
                            Dialect::Sqlite => format!(" INDEXED BY {tbl}_rid"),
                            Dialect::Postgres => String::new(),
                        };
                        b.push(&format!(
                            "EXISTS (SELECT 1 FROM {tbl} x{hint} WHERE x.rid = {alias}.rid AND "
                        ));
                    } else {
                        b.push(&format!(
                            "{alias}.rid {not}IN (SELECT rid FROM {tbl} x WHERE "
                        ));
                    }
                    index_scope(b, tenant, rt, &p.code);
                    b.push(" AND (");
                    for (i, t) in c.terms.iter().enumerate() {
                        if i > 0 {
                            b.push(" OR ");
                        }
                        term_cond(b, &c.modifier, t);
                    }
                    b.push("))");
                }
            }
        }
        Target::Chain { param, links } => {
            b.push(&format!("{alias}.rid IN (SELECT rid FROM idx_ref x WHERE "));
            index_scope(b, tenant, rt, &param.code);
            b.push(" AND (");
            for (i, (target, inner)) in links.iter().enumerate() {
                if i > 0 {
                    b.push(" OR ");
                }
                let inner_alias = format!("{alias}c");
                b.push("(x.target_type = ");
                b.arg(target.clone());
                b.push(&format!(" AND x.target_id IN (SELECT {inner_alias}.id FROM resources {inner_alias} WHERE "));
                base_conditions(b, tenant, target, &inner_alias);
                b.push(" AND ");
                clause_sql(b, tenant, target, &inner_alias, inner);
                b.push("))");
            }
            b.push("))");
        }
        Target::Has {
            source_type,
            ref_param,
            inner,
        } => {
            let h = format!("{alias}h");
            b.push(&format!(
                "{alias}.id IN (SELECT x.target_id FROM idx_ref x WHERE "
            ));
            index_scope(b, tenant, source_type, &ref_param.code);
            b.push(" AND x.target_type = ");
            b.arg(rt.to_string());
            b.push(&format!(
                " AND x.rid IN (SELECT {h}.rid FROM resources {h} WHERE "
            ));
            base_conditions(b, tenant, source_type, &h);
            b.push(" AND ");
            clause_sql(b, tenant, source_type, &h, inner);
            b.push("))");
        }
    }
}

fn index_scope(b: &mut Builder, tenant: &str, rt: &str, param: &str) {
    b.push("tenant = ");
    b.arg(tenant.to_string());
    b.push(" AND rtype = ");
    b.arg(rt.to_string());
    b.push(" AND param = ");
    b.arg(param.to_string());
}

fn term_cond(b: &mut Builder, modifier: &Modifier, t: &Term) {
    match t {
        Term::Token { system, code } => {
            b.push("(1=1");
            if let Some(code) = code {
                b.push(" AND x.code = ");
                b.arg(code.clone());
            }
            match system {
                SystemMatch::Any => {}
                SystemMatch::NoSystem => b.push(" AND x.system IS NULL"),
                SystemMatch::Is(s) => {
                    b.push(" AND x.system = ");
                    b.arg(s.clone());
                }
            }
            b.push(")");
        }
        Term::Text(text) => {
            b.push(&format!("x.text {} ", like(b.dialect)));
            b.arg(format!("%{}%", escape_like(text)));
            b.push(" ESCAPE '\\'");
        }
        Term::String { norm, raw } => match modifier {
            Modifier::Exact => {
                b.push("x.exact = ");
                b.arg(raw.clone());
            }
            Modifier::Contains => {
                b.push(&format!("x.norm {} ", like(b.dialect)));
                b.arg(format!("%{}%", escape_like(norm)));
                b.push(" ESCAPE '\\'");
            }
            _ => {
                b.push("(x.norm >= ");
                b.arg(norm.clone());
                b.push(" AND x.norm < ");
                b.arg(format!("{norm}\u{10FFFF}"));
                b.push(")");
            }
        },
        Term::Date(p, r) => date_cond(b, "x.start", "x.\"end\"", *p, r),
        Term::Number {
            prefix,
            value,
            lo,
            hi,
            system,
            code,
        } => {
            b.push("(");
            number_cond(b, *prefix, *value, *lo, *hi);
            if let Some(code) = code {
                b.push(" AND x.code = ");
                b.arg(code.clone());
            }
            if let Some(system) = system {
                b.push(" AND x.system = ");
                b.arg(system.clone());
            }
            b.push(")");
        }
        Term::Reference { ty, id, url } => {
            b.push("(1=1");
            if let Some(ty) = ty {
                b.push(" AND x.target_type = ");
                b.arg(ty.clone());
            }
            if let Some(id) = id {
                b.push(" AND x.target_id = ");
                b.arg(id.clone());
            }
            if let Some(url) = url {
                b.push(" AND x.url = ");
                b.arg(url.clone());
            }
            b.push(")");
        }
    }
}

/// Range semantics of R4 search prefixes: target `[s,e)` against search `[a,b)`.
fn date_cond(b: &mut Builder, s: &str, e: &str, p: Prefix, r: &DateRange) {
    let (a, z) = (r.start, r.end);
    let within = |b: &mut Builder| {
        b.push(&format!("({s} >= "));
        b.arg(a);
        b.push(&format!(" AND {e} <= "));
        b.arg(z);
        b.push(")");
    };
    match p {
        Prefix::Eq => within(b),
        Prefix::Ne => {
            b.push("NOT ");
            within(b);
        }
        Prefix::Gt | Prefix::Ge => {
            b.push(&format!("({e} > "));
            b.arg(z);
            if p == Prefix::Ge {
                b.push(" OR ");
                within(b);
            }
            b.push(")");
        }
        Prefix::Lt | Prefix::Le => {
            b.push(&format!("({s} < "));
            b.arg(a);
            if p == Prefix::Le {
                b.push(" OR ");
                within(b);
            }
            b.push(")");
        }
        Prefix::Sa => {
            b.push(&format!("{s} >= "));
            b.arg(z);
        }
        Prefix::Eb => {
            b.push(&format!("{e} <= "));
            b.arg(a);
        }
        Prefix::Ap => {
            // Approximately: overlap with the value widened by 10% of its distance from now.
            let now = chrono::Utc::now().timestamp_millis();
            let w = ((now - a).abs() / 10).max(86_400_000);
            b.push(&format!("({s} < "));
            b.arg(z + w);
            b.push(&format!(" AND {e} > "));
            b.arg(a - w);
            b.push(")");
        }
    }
}

fn number_cond(b: &mut Builder, p: Prefix, v: f64, lo: f64, hi: f64) {
    let op = |b: &mut Builder, op: &str, x: f64| {
        b.push(&format!("x.value {op} "));
        b.arg(x);
    };
    match p {
        Prefix::Eq => {
            op(b, ">=", lo);
            b.push(" AND ");
            op(b, "<", hi);
        }
        Prefix::Ne => {
            b.push("NOT (");
            op(b, ">=", lo);
            b.push(" AND ");
            op(b, "<", hi);
            b.push(")");
        }
        Prefix::Gt | Prefix::Sa => op(b, ">", v),
        Prefix::Lt | Prefix::Eb => op(b, "<", v),
        Prefix::Ge => op(b, ">=", v),
        Prefix::Le => op(b, "<=", v),
        Prefix::Ap => {
            let w = (v * 0.1).abs();
            op(b, ">=", v - w);
            b.push(" AND ");
            op(b, "<=", v + w);
        }
    }
}

/// SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE under the "C"
/// collation Tandem's text columns use does the same.
fn like(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "LIKE",
        Dialect::Postgres => "ILIKE",
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
