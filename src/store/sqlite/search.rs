//! Search execution: filtering, keyset paging, totals and `_include`/`_revinclude`.
//!
//! Pages are cut by keyset (the last row's sort values plus its row id), never by
//! OFFSET, so a `next` link stays correct while writes happen: rows that were
//! already there are neither skipped nor repeated.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params_from_iter};
use serde_json::{Value, json};

use super::rows::{COLUMNS, by_keys, row_to_resource};
use super::search_sql::{Builder, where_clause};
use crate::fhir::params::ParamType;
use crate::fhir::query::{Include, SearchQuery, Sort, SortKey, Summary};
use crate::store::{SearchPage, StoreError, StoredResource};

/// Live resources matching the filters of `q` (no paging), at most `limit`.
pub fn find(
    conn: &Connection,
    tenant: &str,
    q: &SearchQuery,
    limit: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let mut b = Builder::default();
    b.sql.push_str(&format!(
        "SELECT {COLUMNS} FROM resources r JOIN history h ON h.seq = r.hseq WHERE "
    ));
    where_clause(&mut b, tenant, q, "r");
    b.sql.push_str(&format!(" ORDER BY r.rid LIMIT {limit}"));
    query_resources(conn, &b)
}

/// One page of results for `q`.
pub fn search(conn: &Connection, tenant: &str, q: &SearchQuery) -> Result<SearchPage, StoreError> {
    let total = if q.total || q.summary == Summary::Count {
        Some(count(conn, tenant, q)?)
    } else {
        None
    };
    if q.summary == Summary::Count || q.count == 0 {
        return Ok(SearchPage {
            total,
            ..Default::default()
        });
    }
    let sorts = &q.sort;
    let mut b = Builder::default();
    b.sql
        .push_str("SELECT k.* FROM (SELECT r.rid AS rid, r.hseq AS hseq");
    for (i, s) in sorts.iter().enumerate() {
        b.sql.push_str(", ");
        sort_expr(&mut b, s);
        b.sql.push_str(&format!(" AS s{i}"));
    }
    b.sql.push_str(" FROM resources r WHERE ");
    where_clause(&mut b, tenant, q, "r");
    b.sql.push_str(") k");
    if let Some(cursor) = &q.cursor {
        let values = decode_cursor(cursor, sorts.len())?;
        b.sql.push_str(" WHERE ");
        cursor_cond(&mut b, sorts, values);
    }
    b.sql.push_str(" ORDER BY ");
    for (i, s) in sorts.iter().enumerate() {
        b.sql.push_str(&format!(
            "s{i} {}, ",
            if s.descending { "DESC" } else { "ASC" }
        ));
    }
    b.sql.push_str(&format!("rid ASC LIMIT {}", q.count + 1));
    let mut keys: Vec<Vec<Sql>> = {
        let mut stmt = conn.prepare_cached(&b.sql)?;
        let rows = stmt.query_map(params_from_iter(b.args.iter()), |row| {
            (0..sorts.len() + 2)
                .map(|i| row.get::<_, Sql>(i))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let next_cursor = if keys.len() > q.count {
        keys.truncate(q.count);
        keys.last().map(|k| encode_cursor(k))
    } else {
        None
    };
    let hseqs: Vec<i64> = keys.iter().map(|k| as_i64(&k[1])).collect();
    let matches = by_hseq(conn, &hseqs)?;
    let included = includes(
        conn,
        tenant,
        q,
        &matches,
        &keys.iter().map(|k| as_i64(&k[0])).collect::<Vec<_>>(),
    )?;
    Ok(SearchPage {
        matches,
        included,
        total,
        next_cursor,
    })
}

fn count(conn: &Connection, tenant: &str, q: &SearchQuery) -> Result<u64, StoreError> {
    let mut b = Builder::default();
    b.sql.push_str("SELECT COUNT(*) FROM resources r WHERE ");
    where_clause(&mut b, tenant, q, "r");
    let mut stmt = conn.prepare_cached(&b.sql)?;
    Ok(stmt.query_row(params_from_iter(b.args.iter()), |r| r.get::<_, i64>(0))? as u64)
}

fn sort_expr(b: &mut Builder, s: &Sort) {
    let sentinel = if s.descending {
        "-9223372036854775807"
    } else {
        "X'FF'"
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
            format!(
                "(SELECT {agg}({col}) FROM {table} WHERE rid = r.rid AND param = '{}')",
                p.code.replace('\'', "''")
            )
        }
    };
    b.sql.push_str(&format!("COALESCE({inner}, {sentinel})"));
}

/// `(s0, s1, ..., rid)` strictly after the cursor in the page order.
fn cursor_cond(b: &mut Builder, sorts: &[Sort], values: Vec<Sql>) {
    let n = sorts.len();
    b.sql.push('(');
    for i in 0..=n {
        if i > 0 {
            b.sql.push_str(" OR ");
        }
        b.sql.push('(');
        for (j, v) in values.iter().enumerate().take(i) {
            b.sql.push_str(&format!("s{j} = ? AND "));
            b.args.push(v.clone());
        }
        if i < n {
            let op = if sorts[i].descending { "<" } else { ">" };
            b.sql.push_str(&format!("s{i} {op} ?"));
        } else {
            b.sql.push_str("rid > ?");
        }
        b.args.push(values[i].clone());
        b.sql.push(')');
    }
    b.sql.push(')');
}

fn encode_cursor(key: &[Sql]) -> String {
    // key = [rid, hseq, s0..]; the cursor carries [s0.., rid].
    let mut vals: Vec<Value> = key[2..].iter().map(sql_to_json).collect();
    vals.push(sql_to_json(&key[0]));
    URL_SAFE_NO_PAD.encode(Value::Array(vals).to_string())
}

fn decode_cursor(cursor: &str, sorts: usize) -> Result<Vec<Sql>, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    let vals: Vec<Value> = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    if vals.len() != sorts + 1 {
        return Err(StoreError::BadCursor);
    }
    vals.iter().map(json_to_sql).collect()
}

fn sql_to_json(v: &Sql) -> Value {
    match v {
        Sql::Integer(i) => json!(i),
        Sql::Real(f) => json!({"r": f}),
        Sql::Text(t) => json!(t),
        Sql::Blob(_) => json!({"max": true}),
        Sql::Null => Value::Null,
    }
}

fn json_to_sql(v: &Value) -> Result<Sql, StoreError> {
    Ok(match v {
        Value::Number(n) => Sql::Integer(n.as_i64().ok_or(StoreError::BadCursor)?),
        Value::String(s) => Sql::Text(s.clone()),
        Value::Object(o) if o.contains_key("r") => {
            Sql::Real(o["r"].as_f64().ok_or(StoreError::BadCursor)?)
        }
        Value::Object(o) if o.contains_key("max") => Sql::Blob(vec![0xFF]),
        _ => return Err(StoreError::BadCursor),
    })
}

fn as_i64(v: &Sql) -> i64 {
    match v {
        Sql::Integer(i) => *i,
        _ => 0,
    }
}

fn by_hseq(conn: &Connection, hseqs: &[i64]) -> Result<Vec<StoredResource>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM history h WHERE h.seq = ?"))?;
    hseqs
        .iter()
        .map(|s| Ok(stmt.query_row([s], row_to_resource)?))
        .collect()
}

fn query_resources(conn: &Connection, b: &Builder) -> Result<Vec<StoredResource>, StoreError> {
    let mut stmt = conn.prepare_cached(&b.sql)?;
    let rows = stmt.query_map(params_from_iter(b.args.iter()), row_to_resource)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn includes(
    conn: &Connection,
    tenant: &str,
    q: &SearchQuery,
    matches: &[StoredResource],
    rids: &[i64],
) -> Result<Vec<StoredResource>, StoreError> {
    let mut out: Vec<StoredResource> = Vec::new();
    for inc in q
        .include
        .iter()
        .filter(|i| i.source_type == q.resource_type)
    {
        let targets = include_targets(conn, inc, rids)?;
        out.extend(by_keys(conn, tenant, &targets)?);
    }
    for rev in &q.revinclude {
        out.extend(revinclude(conn, tenant, q, rev, matches)?);
    }
    let mut seen: std::collections::HashSet<(String, String)> = matches
        .iter()
        .map(|m| (m.resource_type.clone(), m.id.clone()))
        .collect();
    out.retain(|r| seen.insert((r.resource_type.clone(), r.id.clone())));
    Ok(out)
}

fn include_targets(
    conn: &Connection,
    inc: &Include,
    rids: &[i64],
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT target_type, target_id FROM idx_ref WHERE rid = ? AND param = ? AND target_id IS NOT NULL")?;
    let mut out = Vec::new();
    for rid in rids {
        let rows = stmt.query_map(rusqlite::params![rid, inc.param], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (ty, id) = row?;
            if inc.target_type.as_ref().is_none_or(|t| *t == ty) {
                out.push((ty, id));
            }
        }
    }
    Ok(out)
}

fn revinclude(
    conn: &Connection,
    tenant: &str,
    q: &SearchQuery,
    rev: &Include,
    matches: &[StoredResource],
) -> Result<Vec<StoredResource>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM idx_ref x JOIN resources r ON r.rid = x.rid JOIN history h ON h.seq = r.hseq \
         WHERE x.tenant = ? AND x.rtype = ? AND x.param = ? AND x.target_id = ? AND x.target_type = ? AND r.deleted = 0"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = Vec::new();
    for m in matches {
        let rows = stmt.query_map(
            rusqlite::params![tenant, rev.source_type, rev.param, m.id, q.resource_type],
            row_to_resource,
        )?;
        for r in rows {
            out.push(r?);
        }
    }
    Ok(out)
}
