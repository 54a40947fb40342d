//! The paging half of a search: sort keys, the keyset condition and the
//! opaque cursor, for both dialects.
//!
//! Pages are cut by keyset (the last row's sort values plus its row id), never
//! by OFFSET, so a `next` link stays correct while writes happen: rows that
//! were already there are neither skipped nor repeated.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::filter::where_clause;
use super::{Arg, Builder, Dialect};
use crate::fhir::params::ParamType;
use crate::fhir::query::{SearchQuery, Sort, SortKey};
use crate::store::StoreError;

/// The SQL type of a sort key's values (how a store reads them back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKind {
    Int,
    Real,
    Text,
}

pub fn kind(s: &Sort) -> SortKind {
    match &s.key {
        SortKey::LastUpdated => SortKind::Int,
        SortKey::Id => SortKind::Text,
        SortKey::Param(p) => match p.kind {
            ParamType::Date => SortKind::Int,
            ParamType::Number | ParamType::Quantity => SortKind::Real,
            _ => SortKind::Text,
        },
    }
}

/// `SELECT rid, hseq, s0.. ` of one page of `q`'s matches in page order,
/// one row more than the page to tell whether another follows. `cursor`
/// holds the decoded values of the previous page's last row.
pub fn keys_query(
    dialect: Dialect,
    tenant: &str,
    q: &SearchQuery,
    cursor: Option<Vec<Arg>>,
) -> Builder {
    let sorts = &q.sort;
    let mut b = Builder::new(dialect);
    b.push("SELECT k.* FROM (SELECT r.rid AS rid, r.hseq AS hseq");
    for (i, s) in sorts.iter().enumerate() {
        b.push(", ");
        sort_expr(&mut b, s);
        b.push(&format!(" AS s{i}"));
    }
    b.push(" FROM resources r WHERE ");
    where_clause(&mut b, tenant, q, "r");
    b.push(") k");
    if let Some(values) = cursor {
        b.push(" WHERE ");
        cursor_cond(&mut b, sorts, values);
    }
    b.push(" ORDER BY ");
    for (i, s) in sorts.iter().enumerate() {
        b.push(&format!(
            "s{i} {}, ",
            if s.descending { "DESC" } else { "ASC" }
        ));
    }
    b.push(&format!("rid ASC LIMIT {}", q.count + 1));
    b
}

/// `SELECT COUNT(*)` of `q`'s matches.
pub fn count_query(dialect: Dialect, tenant: &str, q: &SearchQuery) -> Builder {
    let mut b = Builder::new(dialect);
    b.push("SELECT COUNT(*) FROM resources r WHERE ");
    where_clause(&mut b, tenant, q, "r");
    b
}

/// The resources (`columns`, over `resources r JOIN history h`) matching
/// the filters of `q`, at most `limit`, in row order.
pub fn find_query(
    dialect: Dialect,
    tenant: &str,
    q: &SearchQuery,
    columns: &str,
    limit: usize,
) -> Builder {
    let mut b = Builder::new(dialect);
    b.push(&format!(
        "SELECT {columns} FROM resources r JOIN history h ON h.seq = r.hseq WHERE "
    ));
    where_clause(&mut b, tenant, q, "r");
    // PostgreSQL would walk the primary key in rid order and test every
    // resource of the tenant against the filters until `limit` matched (a
    // hook's lookup of one patient's Encounter: 15.7 ms); `rid + 0` makes it
    // gather the matches through their indexes and sort those.
    let order = match dialect {
        Dialect::Sqlite => "r.rid",
        Dialect::Postgres => "r.rid + 0",
    };
    b.push(&format!(" ORDER BY {order} LIMIT {limit}"));
    b
}

/// A resource's sort value; one with none sorts last either way, through a
/// sentinel beyond every real value of the key's type.
fn sort_expr(b: &mut Builder, s: &Sort) {
    let sentinel = match (b.dialect, kind(s), s.descending) {
        (Dialect::Sqlite, _, true) => "-9223372036854775807",
        (Dialect::Sqlite, _, false) => "X'FF'",
        (Dialect::Postgres, SortKind::Int, true) => "-9223372036854775807",
        (Dialect::Postgres, SortKind::Int, false) => "9223372036854775807",
        (Dialect::Postgres, SortKind::Real, true) => "-1.7976931348623157e308::float8",
        (Dialect::Postgres, SortKind::Real, false) => "1.7976931348623157e308::float8",
        // Text columns use the "C" collation: '' is the least value and
        // U+10FFFF's UTF-8 bytes follow every other character's.
        (Dialect::Postgres, SortKind::Text, true) => "''",
        (Dialect::Postgres, SortKind::Text, false) => "U&'\\+10FFFF'",
    };
    let inner = match &s.key {
        SortKey::LastUpdated => "r.last_updated".to_string(),
        SortKey::Id => "r.id".to_string(),
        SortKey::Param(p) => {
            let (agg, col, table) = match p.kind {
                ParamType::Date if s.descending => ("MAX", "\"end\"", "idx_date"),
                ParamType::Date => ("MIN", "start", "idx_date"),
                ParamType::String => (
                    if s.descending { "MAX" } else { "MIN" },
                    "norm",
                    "idx_string",
                ),
                ParamType::Number | ParamType::Quantity => (
                    if s.descending { "MAX" } else { "MIN" },
                    "value",
                    "idx_quantity",
                ),
                _ => (
                    if s.descending { "MAX" } else { "MIN" },
                    "code",
                    "idx_token",
                ),
            };
            // PostgreSQL's rid indexes lead with the tenant, like all of its indexes.
            let tenant = match b.dialect {
                Dialect::Sqlite => "",
                Dialect::Postgres => "tenant = r.tenant AND ",
            };
            format!(
                "(SELECT {agg}({col}) FROM {table} WHERE {tenant}rid = r.rid AND param = '{}')",
                p.code.replace('\'', "''")
            )
        }
    };
    b.push(&format!("COALESCE({inner}, {sentinel})"));
}

/// `(s0, s1, ..., rid)` strictly after the cursor in the page order.
fn cursor_cond(b: &mut Builder, sorts: &[Sort], values: Vec<Arg>) {
    let n = sorts.len();
    b.push("(");
    for i in 0..=n {
        if i > 0 {
            b.push(" OR ");
        }
        b.push("(");
        for (j, v) in values.iter().enumerate().take(i) {
            b.push(&format!("s{j} = "));
            b.arg(v.clone());
            b.push(" AND ");
        }
        if i < n {
            let op = if sorts[i].descending { "<" } else { ">" };
            b.push(&format!("s{i} {op} "));
        } else {
            b.push("rid > ");
        }
        b.arg(values[i].clone());
        b.push(")");
    }
    b.push(")");
}

/// Keeps the first `count` of `rows`, which were asked for one more than a
/// page; returns the last row kept when another followed (where the next
/// page starts), `None` on the last page. Every paged read (searches,
/// history, audit) cuts its pages here.
pub fn cut<T>(rows: &mut Vec<T>, count: usize) -> Option<&T> {
    if rows.len() > count {
        rows.truncate(count);
        rows.last()
    } else {
        None
    }
}

/// The cursor after a page whose last row's key is `[rid, hseq, s0..]`.
pub fn encode_cursor(key: &[Arg]) -> String {
    // The cursor carries [s0.., rid].
    let mut vals: Vec<Value> = key[2..].iter().map(arg_to_json).collect();
    vals.push(arg_to_json(&key[0]));
    URL_SAFE_NO_PAD.encode(Value::Array(vals).to_string())
}

/// The values `[s0.., rid]` a cursor carries, checked against the query's
/// sort keys (a cursor from another search is refused, not misread).
pub fn decode_cursor(cursor: &str, sorts: &[Sort]) -> Result<Vec<Arg>, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    let vals: Vec<Value> = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    if vals.len() != sorts.len() + 1 {
        return Err(StoreError::BadCursor);
    }
    vals.iter().map(json_to_arg).collect()
}

fn arg_to_json(v: &Arg) -> Value {
    match v {
        Arg::Int(i) => json!(i),
        Arg::Real(f) => json!({"r": f}),
        Arg::Text(t) => json!(t),
        Arg::Max => json!({"max": true}),
        Arg::Null => Value::Null,
    }
}

fn json_to_arg(v: &Value) -> Result<Arg, StoreError> {
    Ok(match v {
        Value::Number(n) => Arg::Int(n.as_i64().ok_or(StoreError::BadCursor)?),
        Value::String(s) => Arg::Text(s.clone()),
        Value::Object(o) if o.contains_key("r") => {
            Arg::Real(o["r"].as_f64().ok_or(StoreError::BadCursor)?)
        }
        Value::Object(o) if o.contains_key("max") => Arg::Max,
        _ => return Err(StoreError::BadCursor),
    })
}
