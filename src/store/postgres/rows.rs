//! Reads of single resources, versions and history pages.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::conn::Conn;
use crate::store::{HistoryPage, HistoryQuery, HistoryScope, StoreError, StoredResource};

/// The history columns every resource read selects, in [`resource`] order.
pub const COLUMNS: &str = "h.type, h.id, h.version, h.last_updated, h.deleted, h.method, h.body";

pub fn resource(row: &Row) -> StoredResource {
    StoredResource {
        resource_type: row.get(0),
        id: row.get(1),
        version: row.get(2),
        last_updated_ms: row.get(3),
        deleted: row.get(4),
        method: row.get(5),
        body: row.get(6),
    }
}

/// The current version of `type/id` in `tenant`, deleted or not.
pub async fn current(
    c: &Conn<'_>,
    tenant: &str,
    rt: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    const SQL: &str = "SELECT h.type, h.id, h.version, h.last_updated, h.deleted, h.method, h.body \
         FROM resources r JOIN history h ON h.seq = r.hseq \
         WHERE r.tenant = $1 AND r.type = $2 AND r.id = $3";
    Ok(c.query_opt(SQL, &[&tenant, &rt, &id])
        .await?
        .map(|r| resource(&r)))
}

pub async fn version(
    c: &Conn<'_>,
    tenant: &str,
    rt: &str,
    id: &str,
    v: i64,
) -> Result<Option<StoredResource>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources r JOIN history h \
         ON h.tenant = r.tenant AND h.rid = r.rid AND h.version = $1 \
         WHERE r.tenant = $2 AND r.type = $3 AND r.id = $4"
    );
    Ok(c.query_opt(&sql, &[&v, &tenant, &rt, &id])
        .await?
        .map(|r| resource(&r)))
}

/// Live resources by `(type, id)`, skipping missing and deleted ones, in
/// the order asked.
pub async fn by_keys(
    c: &Conn<'_>,
    tenant: &str,
    keys: &[(String, String)],
) -> Result<Vec<StoredResource>, StoreError> {
    let mut out = Vec::new();
    for (ty, id) in keys {
        if let Some(r) = current(c, tenant, ty, id).await?.filter(|r| !r.deleted) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Up to `limit` versions of `tenant` written after history seq `after`,
/// oldest first, each with its seq.
pub async fn changes(
    c: &Conn<'_>,
    tenant: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, StoredResource)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, h.seq FROM history h WHERE h.tenant = $1 AND h.seq > $2 ORDER BY h.seq LIMIT $3"
    );
    let rows = c.query(&sql, &[&tenant, &after, &(limit as i64)]).await?;
    Ok(rows.iter().map(|r| (r.get(7), resource(r))).collect())
}

/// A page of history, newest first.
pub async fn history(
    c: &Conn<'_>,
    tenant: &str,
    q: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let mut cond = String::from("h.tenant = $1");
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(tenant.to_string())];
    match &q.scope {
        HistoryScope::System => {}
        HistoryScope::Type(t) => {
            args.push(Box::new(t.clone()));
            cond.push_str(&format!(" AND h.type = ${}", args.len()));
        }
        HistoryScope::Instance(t, id) => {
            args.push(Box::new(t.clone()));
            args.push(Box::new(id.clone()));
            cond.push_str(&format!(
                " AND h.rid = (SELECT rid FROM resources WHERE tenant = $1 AND type = ${} AND id = ${})",
                args.len() - 1,
                args.len()
            ));
        }
    }
    if let Some(since) = q.since_ms {
        args.push(Box::new(since));
        cond.push_str(&format!(" AND h.last_updated >= ${}", args.len()));
    }
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
    let total: i64 = c
        .query_opt(
            &format!("SELECT COUNT(*) FROM history h WHERE {cond}"),
            &params,
        )
        .await?
        .map_or(0, |r| r.get(0));
    if let Some(before) = q.before_seq {
        args.push(Box::new(before));
        cond.push_str(&format!(" AND h.seq < ${}", args.len()));
    }
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
    let sql = format!(
        "SELECT {COLUMNS}, h.seq FROM history h WHERE {cond} ORDER BY h.seq DESC LIMIT {}",
        q.count + 1
    );
    let rows = c.query(&sql, &params).await?;
    let mut entries: Vec<(StoredResource, i64)> =
        rows.iter().map(|r| (resource(r), r.get(7))).collect();
    let next_before_seq = crate::store::sql::page::cut(&mut entries, q.count).map(|(_, seq)| *seq);
    Ok(HistoryPage {
        entries: entries.into_iter().map(|(r, _)| r).collect(),
        total: total as u64,
        next_before_seq,
    })
}
