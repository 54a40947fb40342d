//! Search execution on SQLite: the plan and paging of `store::sql`
//! (keyset pages, see `sql/page.rs`) rendered for this dialect, then
//! bodies, totals and `_include`/`_revinclude`.

use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use rusqlite::{Connection, params_from_iter};

use super::rows::{COLUMNS, by_keys, row_to_resource};
use crate::fhir::query::{Include, SearchQuery, Summary};
use crate::store::sql::page::{
    count_query, cut, decode_cursor, encode_cursor, find_query, keys_query,
};
use crate::store::sql::{Arg, Builder, Dialect};
use crate::store::{SearchPage, StoreError, StoredResource};

/// Live resources matching the filters of `q` (no paging), at most `limit`.
pub fn find(
    conn: &Connection,
    tenant: &str,
    q: &SearchQuery,
    limit: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let b = find_query(Dialect::Sqlite, tenant, q, COLUMNS, limit);
    let mut stmt = conn.prepare_cached(&b.sql)?;
    let rows = stmt.query_map(params_from_iter(bound(&b)), row_to_resource)?;
    Ok(rows.collect::<Result<_, _>>()?)
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
    let cursor = match &q.cursor {
        Some(c) => Some(decode_cursor(c, sorts)?),
        None => None,
    };
    let b = keys_query(Dialect::Sqlite, tenant, q, cursor);
    let mut keys: Vec<Vec<Arg>> = {
        let mut stmt = conn.prepare_cached(&b.sql)?;
        let rows = stmt.query_map(params_from_iter(bound(&b)), |row| {
            (0..sorts.len() + 2)
                .map(|i| row.get::<_, Sql>(i).map(arg))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let next_cursor = cut(&mut keys, q.count).map(|k| encode_cursor(k));
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
    let b = count_query(Dialect::Sqlite, tenant, q);
    let mut stmt = conn.prepare_cached(&b.sql)?;
    Ok(stmt.query_row(params_from_iter(bound(&b)), |r| r.get::<_, i64>(0))? as u64)
}

/// The builder's arguments as SQLite values.
fn bound(b: &Builder) -> impl Iterator<Item = ToSqlOutput<'_>> {
    b.args.iter().map(|a| {
        ToSqlOutput::Borrowed(match a {
            Arg::Int(i) => ValueRef::Integer(*i),
            Arg::Real(f) => ValueRef::Real(*f),
            Arg::Text(t) => ValueRef::Text(t.as_bytes()),
            Arg::Null => ValueRef::Null,
            Arg::Max => ValueRef::Blob(&[0xFF]),
        })
    })
}

/// A key column read back (the sentinel BLOB is the only BLOB a key holds).
fn arg(v: Sql) -> Arg {
    match v {
        Sql::Integer(i) => Arg::Int(i),
        Sql::Real(f) => Arg::Real(f),
        Sql::Text(t) => Arg::Text(t),
        Sql::Blob(_) => Arg::Max,
        Sql::Null => Arg::Null,
    }
}

fn as_i64(v: &Arg) -> i64 {
    match v {
        Arg::Int(i) => *i,
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
