//! Search execution on PostgreSQL: the plan and paging of `store::sql`
//! rendered for this dialect, then bodies, totals and includes.

use tokio_postgres::types::{ToSql, Type};

use super::conn::Conn;
use super::rows::{COLUMNS, by_keys, resource};
use crate::fhir::query::{Include, SearchQuery, Summary};
use crate::store::sql::page::{
    SortKind, count_query, cut, decode_cursor, encode_cursor, find_query, keys_query, kind,
};
use crate::store::sql::{Arg, Builder, Dialect};
use crate::store::{SearchPage, StoreError, StoredResource};

/// The builder's arguments as driver parameters with their types. SQLite's
/// BLOB sentinel cannot come from a PostgreSQL page, so a cursor holding it
/// is refused.
fn bound(b: &Builder) -> Result<Vec<Typed>, StoreError> {
    b.args
        .iter()
        .map(|a| -> Result<Typed, StoreError> {
            Ok(match a {
                Arg::Int(i) => (Box::new(*i), Type::INT8),
                Arg::Real(f) => (Box::new(*f), Type::FLOAT8),
                Arg::Text(t) => (Box::new(t.clone()), Type::TEXT),
                Arg::Null => (Box::new(None::<String>), Type::TEXT),
                Arg::Max => return Err(StoreError::BadCursor),
            })
        })
        .collect()
}

/// A bound value and its PostgreSQL type.
type Typed = (Box<dyn ToSql + Sync + Send>, Type);

fn typed(args: &[Typed]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    args.iter()
        .map(|(a, t)| (a.as_ref() as _, t.clone()))
        .collect()
}

/// Live resources matching the filters of `q` (no paging), at most `limit`.
pub async fn find(
    c: &Conn<'_>,
    tenant: &str,
    q: &SearchQuery,
    limit: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let b = find_query(Dialect::Postgres, tenant, q, COLUMNS, limit);
    let args = bound(&b)?;
    let rows = c.query_planned(&b.sql, &typed(&args)).await?;
    Ok(rows.iter().map(resource).collect())
}

/// One page of results for `q`.
pub async fn search(c: &Conn<'_>, tenant: &str, q: &SearchQuery) -> Result<SearchPage, StoreError> {
    let total = if q.total || q.summary == Summary::Count {
        let b = count_query(Dialect::Postgres, tenant, q);
        let args = bound(&b)?;
        let n: i64 = c
            .query_planned(&b.sql, &typed(&args))
            .await?
            .first()
            .map_or(0, |r| r.get(0));
        Some(n as u64)
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
        Some(cur) => Some(decode_cursor(cur, sorts)?),
        None => None,
    };
    let b = keys_query(Dialect::Postgres, tenant, q, cursor);
    let args = bound(&b)?;
    let rows = c.query_planned(&b.sql, &typed(&args)).await?;
    let mut keys: Vec<Vec<Arg>> = rows
        .iter()
        .map(|r| {
            let mut key = vec![Arg::Int(r.get(0)), Arg::Int(r.get(1))];
            for (i, s) in sorts.iter().enumerate() {
                key.push(match kind(s) {
                    SortKind::Int => Arg::Int(r.get(i + 2)),
                    SortKind::Real => Arg::Real(r.get(i + 2)),
                    SortKind::Text => Arg::Text(r.get(i + 2)),
                });
            }
            key
        })
        .collect();
    let next_cursor = cut(&mut keys, q.count).map(|k| encode_cursor(k));
    let int = |a: &Arg| match a {
        Arg::Int(i) => *i,
        _ => 0,
    };
    let hseqs: Vec<i64> = keys.iter().map(|k| int(&k[1])).collect();
    let rids: Vec<i64> = keys.iter().map(|k| int(&k[0])).collect();
    let matches = by_hseq(c, tenant, &hseqs).await?;
    let included = includes(c, tenant, q, &matches, &rids).await?;
    Ok(SearchPage {
        matches,
        included,
        total,
        next_cursor,
    })
}

/// The versions with these history numbers, in the order given.
async fn by_hseq(
    c: &Conn<'_>,
    tenant: &str,
    hseqs: &[i64],
) -> Result<Vec<StoredResource>, StoreError> {
    if hseqs.is_empty() {
        return Ok(Vec::new());
    }
    let sql =
        format!("SELECT {COLUMNS}, h.seq FROM history h WHERE h.seq = ANY($1) AND h.tenant = $2");
    let rows = c.query(&sql, &[&hseqs, &tenant]).await?;
    let mut found: std::collections::HashMap<i64, StoredResource> = rows
        .iter()
        .map(|r| (r.get::<_, i64>(7), resource(r)))
        .collect();
    Ok(hseqs.iter().filter_map(|s| found.remove(s)).collect())
}

async fn includes(
    c: &Conn<'_>,
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
        let targets = include_targets(c, tenant, inc, rids).await?;
        out.extend(by_keys(c, tenant, &targets).await?);
    }
    for rev in &q.revinclude {
        out.extend(revinclude(c, tenant, q, rev, matches).await?);
    }
    let mut seen: std::collections::HashSet<(String, String)> = matches
        .iter()
        .map(|m| (m.resource_type.clone(), m.id.clone()))
        .collect();
    out.retain(|r| seen.insert((r.resource_type.clone(), r.id.clone())));
    Ok(out)
}

async fn include_targets(
    c: &Conn<'_>,
    tenant: &str,
    inc: &Include,
    rids: &[i64],
) -> Result<Vec<(String, String)>, StoreError> {
    let mut out = Vec::new();
    for rid in rids {
        let rows = c
            .query(
                "SELECT target_type, target_id FROM idx_ref WHERE tenant = $1 AND rid = $2 \
                 AND param = $3 AND target_id IS NOT NULL",
                &[&tenant, rid, &inc.param],
            )
            .await?;
        for row in rows {
            let (ty, id): (String, String) = (row.get(0), row.get(1));
            if inc.target_type.as_ref().is_none_or(|t| *t == ty) {
                out.push((ty, id));
            }
        }
    }
    Ok(out)
}

async fn revinclude(
    c: &Conn<'_>,
    tenant: &str,
    q: &SearchQuery,
    rev: &Include,
    matches: &[StoredResource],
) -> Result<Vec<StoredResource>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM idx_ref x JOIN resources r ON r.rid = x.rid JOIN history h ON h.seq = r.hseq \
         WHERE x.tenant = $1 AND x.rtype = $2 AND x.param = $3 AND x.target_id = $4 \
         AND x.target_type = $5 AND NOT r.deleted"
    );
    let mut out = Vec::new();
    for m in matches {
        let rows = c
            .query(
                &sql,
                &[
                    &tenant,
                    &rev.source_type,
                    &rev.param,
                    &m.id,
                    &q.resource_type,
                ],
            )
            .await?;
        out.extend(rows.iter().map(resource));
    }
    Ok(out)
}
