//! Reads of single resources, versions and history pages.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{HistoryPage, HistoryQuery, HistoryScope, StoreError, StoredResource};

/// The history columns every resource read selects, in `row_to_resource` order.
pub const COLUMNS: &str = "h.type, h.id, h.version, h.last_updated, h.deleted, h.method, h.body";

pub fn row_to_resource(row: &Row<'_>) -> rusqlite::Result<StoredResource> {
    Ok(StoredResource {
        resource_type: row.get(0)?,
        id: row.get(1)?,
        version: row.get(2)?,
        last_updated_ms: row.get(3)?,
        deleted: row.get::<_, i64>(4)? != 0,
        method: row.get(5)?,
        body: super::body::column(row, 6)?,
    })
}

/// The current version of `type/id` in `tenant`, deleted or not.
pub fn current(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources r JOIN history h ON h.seq = r.hseq WHERE r.tenant = ? AND r.type = ? AND r.id = ?"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![tenant, rt, id], row_to_resource)
        .optional()?)
}

pub fn version(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
    v: i64,
) -> Result<Option<StoredResource>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources r JOIN history h ON h.rid = r.rid AND h.version = ? \
         WHERE r.tenant = ? AND r.type = ? AND r.id = ?"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![v, tenant, rt, id], row_to_resource)
        .optional()?)
}

/// Live resources by `(type, id)`, skipping missing and deleted ones.
pub fn by_keys(
    conn: &Connection,
    tenant: &str,
    keys: &[(String, String)],
) -> Result<Vec<StoredResource>, StoreError> {
    let mut out = Vec::new();
    for (ty, id) in keys {
        if let Some(r) = current(conn, tenant, ty, id)?.filter(|r| !r.deleted) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Up to `limit` versions of `tenant` written after history seq `after`,
/// oldest first, each with its seq.
pub fn changes(
    conn: &Connection,
    tenant: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, StoredResource)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, h.seq FROM history h WHERE h.tenant = ? AND h.seq > ? ORDER BY h.seq LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![tenant, after, limit as i64], |row| {
        Ok((row.get::<_, i64>(7)?, row_to_resource(row)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A page of history, newest first.
pub fn history(
    conn: &Connection,
    tenant: &str,
    q: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let mut cond = String::from("h.tenant = ?1");
    let mut args: Vec<rusqlite::types::Value> = vec![tenant.to_string().into()];
    match &q.scope {
        HistoryScope::System => {}
        HistoryScope::Type(t) => {
            args.push(t.clone().into());
            cond.push_str(&format!(" AND h.type = ?{}", args.len()));
        }
        HistoryScope::Instance(t, id) => {
            args.push(t.clone().into());
            args.push(id.clone().into());
            cond.push_str(&format!(
                " AND h.rid = (SELECT rid FROM resources WHERE tenant = ?1 AND type = ?{} AND id = ?{})",
                args.len() - 1,
                args.len()
            ));
        }
    }
    if let Some(since) = q.since_ms {
        args.push(since.into());
        cond.push_str(&format!(" AND h.last_updated >= ?{}", args.len()));
    }
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM history h WHERE {cond}"))?
        .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
    if let Some(before) = q.before_seq {
        args.push(before.into());
        cond.push_str(&format!(" AND h.seq < ?{}", args.len()));
    }
    let sql = format!(
        "SELECT {COLUMNS}, h.seq FROM history h WHERE {cond} ORDER BY h.seq DESC LIMIT {}",
        q.count + 1
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |row| {
        Ok((row_to_resource(row)?, row.get::<_, i64>(7)?))
    })?;
    let mut entries: Vec<(StoredResource, i64)> = rows.collect::<Result<_, _>>()?;
    let next_before_seq = crate::store::sql::page::cut(&mut entries, q.count).map(|(_, seq)| *seq);
    Ok(HistoryPage {
        entries: entries.into_iter().map(|(r, _)| r).collect(),
        total: total as u64,
        next_before_seq,
    })
}
