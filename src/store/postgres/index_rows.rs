//! The search index rows of a resource's current version, written as one
//! array insert per table (`unnest`), the five sent together in one
//! pipeline: a resource with thirty index rows costs one round trip, not
//! thirty. An update deletes the resource's rows and inserts the new ones
//! (PostgreSQL's MVCC rewrites a row on any change anyway, so SQLite's
//! keep-the-unchanged-rows diff would save little here).

use futures::future::try_join_all;
use tokio_postgres::types::ToSql;

use super::conn::Conn;
use crate::fhir::index::IndexValue;
use crate::store::{NewVersion, StoreError};

const TABLES: [&str; 5] = [
    "idx_token",
    "idx_string",
    "idx_date",
    "idx_ref",
    "idx_quantity",
];

/// Text columns that may be empty.
type Texts = Vec<Option<String>>;

/// Columns of the five tables, gathered as arrays (parameter codes first).
#[derive(Default)]
struct Arrays {
    token: (Vec<String>, Texts, Texts, Texts),
    string: (Vec<String>, Vec<String>, Vec<String>),
    date: (Vec<String>, Vec<i64>, Vec<i64>),
    reference: (Vec<String>, Texts, Texts, Texts),
    quantity: (Vec<String>, Vec<f64>, Texts, Texts),
}

/// PostgreSQL text cannot hold NUL; a value carrying one (escaped in the
/// JSON, which is stored as sent) is indexed without it.
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_string()
    }
}

fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(clean)
}

fn gather(v: &NewVersion) -> Arrays {
    let mut a = Arrays::default();
    for e in &v.index {
        let p = clean(&e.param);
        match &e.value {
            IndexValue::Token { system, code, text } => {
                a.token.0.push(p);
                a.token.1.push(opt(system));
                a.token.2.push(opt(code));
                a.token.3.push(opt(text));
            }
            IndexValue::String { norm, exact } => {
                a.string.0.push(p);
                a.string.1.push(clean(norm));
                a.string.2.push(clean(exact));
            }
            IndexValue::Date(r) => {
                a.date.0.push(p);
                a.date.1.push(r.start);
                a.date.2.push(r.end);
            }
            IndexValue::Reference {
                target_type,
                target_id,
                url,
            } => {
                a.reference.0.push(p);
                a.reference.1.push(opt(target_type));
                a.reference.2.push(opt(target_id));
                a.reference.3.push(opt(url));
            }
            IndexValue::Quantity {
                value,
                system,
                code,
            } => {
                a.quantity.0.push(p);
                a.quantity.1.push(*value);
                a.quantity.2.push(opt(system));
                a.quantity.3.push(opt(code));
            }
        }
    }
    a
}

/// Inserts every index row of `v` for resource row `rid`.
pub async fn insert_all(
    c: &Conn<'_>,
    tenant: &str,
    v: &NewVersion,
    rid: i64,
) -> Result<(), StoreError> {
    let a = gather(v);
    let rt = v.resource_type.as_str();
    let mut inserts = Vec::new();
    if !a.token.0.is_empty() {
        inserts.push(insert(
            c,
            "INSERT INTO idx_token (tenant, rtype, param, system, code, text, rid) \
             SELECT $1, $2, u.p, u.s, u.c, u.t, $3 FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS u(p, s, c, t)",
            vec![&tenant, &rt, &rid, &a.token.0, &a.token.1, &a.token.2, &a.token.3],
        ));
    }
    if !a.string.0.is_empty() {
        inserts.push(insert(
            c,
            "INSERT INTO idx_string (tenant, rtype, param, norm, exact, rid) \
             SELECT $1, $2, u.p, u.n, u.e, $3 FROM unnest($4::text[], $5::text[], $6::text[]) AS u(p, n, e)",
            vec![&tenant, &rt, &rid, &a.string.0, &a.string.1, &a.string.2],
        ));
    }
    if !a.date.0.is_empty() {
        inserts.push(insert(
            c,
            "INSERT INTO idx_date (tenant, rtype, param, start, \"end\", rid) \
             SELECT $1, $2, u.p, u.s, u.e, $3 FROM unnest($4::text[], $5::int8[], $6::int8[]) AS u(p, s, e)",
            vec![&tenant, &rt, &rid, &a.date.0, &a.date.1, &a.date.2],
        ));
    }
    if !a.reference.0.is_empty() {
        inserts.push(insert(
            c,
            "INSERT INTO idx_ref (tenant, rtype, param, target_type, target_id, url, rid) \
             SELECT $1, $2, u.p, u.t, u.i, u.u, $3 FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS u(p, t, i, u)",
            vec![
                &tenant,
                &rt,
                &rid,
                &a.reference.0,
                &a.reference.1,
                &a.reference.2,
                &a.reference.3,
            ],
        ));
    }
    if !a.quantity.0.is_empty() {
        inserts.push(insert(
            c,
            "INSERT INTO idx_quantity (tenant, rtype, param, value, system, code, rid) \
             SELECT $1, $2, u.p, u.v, u.s, u.c, $3 FROM unnest($4::text[], $5::float8[], $6::text[], $7::text[]) AS u(p, v, s, c)",
            vec![
                &tenant,
                &rt,
                &rid,
                &a.quantity.0,
                &a.quantity.1,
                &a.quantity.2,
                &a.quantity.3,
            ],
        ));
    }
    try_join_all(inserts).await?;
    Ok(())
}

async fn insert(
    c: &Conn<'_>,
    sql: &'static str,
    params: Vec<&(dyn ToSql + Sync)>,
) -> Result<u64, StoreError> {
    c.execute(sql, &params).await
}

/// Makes `rid`'s index rows those of `v` (none for a deletion).
pub async fn replace(
    c: &Conn<'_>,
    tenant: &str,
    v: &NewVersion,
    rid: i64,
) -> Result<(), StoreError> {
    let deletes = TABLES.map(|t| {
        let sql = format!("DELETE FROM {t} WHERE tenant = $1 AND rid = $2");
        async move { c.execute(&sql, &[&tenant, &rid]).await }
    });
    try_join_all(deletes).await?;
    if v.deleted {
        return Ok(());
    }
    insert_all(c, tenant, v, rid).await
}
