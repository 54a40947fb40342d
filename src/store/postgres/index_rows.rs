//! The search index rows of a resource's current version, written as one
//! array insert per table (`unnest`), sent in one pipeline with the
//! statement that writes the version (`tx.rs`): a new version with thirty
//! index rows costs one round trip, not thirty-two. The index statements
//! find their resource row by the history seq the version statement drew,
//! so they need not wait for its answer. An update deletes the resource's
//! rows and inserts the new ones (PostgreSQL's MVCC rewrites a row on any
//! change anyway, so SQLite's keep-the-unchanged-rows diff would save
//! little here).

use futures::future::BoxFuture;
use tokio_postgres::types::ToSql;

use super::conn::Conn;
use crate::fhir::index::IndexValue;
use crate::store::{NewVersion, StoreError};

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

/// The resource row the statement just before wrote: its `hseq` is the
/// history seq that statement drew (`currval` is per connection). When that
/// statement wrote nothing (a stale version), this is no row, and the index
/// statements pipelined after it change nothing.
macro_rules! written {
    () => {
        "(SELECT rid FROM resources WHERE tenant = $1 AND type = $2 AND id = $3 \
         AND hseq = currval('history_seq_seq')) AS r"
    };
}

/// A statement's result, pipelined with the others of one version.
pub type Pending<'a> = BoxFuture<'a, Result<u64, StoreError>>;

/// The statements that make the index rows of the resource row just
/// written those of `v`: for an update the old rows go first; a deletion
/// keeps none. Queued in `out` in the order they must run.
pub fn statements<'a>(
    c: &'a Conn<'a>,
    tenant: &'a str,
    v: &'a NewVersion,
    out: &mut Vec<Pending<'a>>,
) {
    let (rt, id) = (v.resource_type.as_str(), v.id.as_str());
    if v.version > 1 {
        for sql in DELETES {
            out.push(Box::pin(async move {
                c.execute(sql, &[&tenant, &rt, &id]).await
            }));
        }
    }
    if v.deleted {
        return;
    }
    let a = gather(v);
    let mut push = |sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send + 'a>>| {
        out.push(Box::pin(async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
            c.execute(sql, &refs).await
        }));
    };
    let head = |tenant: &'a str| -> Vec<Box<dyn ToSql + Sync + Send + 'a>> {
        vec![Box::new(tenant), Box::new(rt), Box::new(id)]
    };
    if !a.token.0.is_empty() {
        let mut p = head(tenant);
        p.push(Box::new(a.token.0));
        p.push(Box::new(a.token.1));
        p.push(Box::new(a.token.2));
        p.push(Box::new(a.token.3));
        push(INSERT_TOKEN, p);
    }
    if !a.string.0.is_empty() {
        let mut p = head(tenant);
        p.push(Box::new(a.string.0));
        p.push(Box::new(a.string.1));
        p.push(Box::new(a.string.2));
        push(INSERT_STRING, p);
    }
    if !a.date.0.is_empty() {
        let mut p = head(tenant);
        p.push(Box::new(a.date.0));
        p.push(Box::new(a.date.1));
        p.push(Box::new(a.date.2));
        push(INSERT_DATE, p);
    }
    if !a.reference.0.is_empty() {
        let mut p = head(tenant);
        p.push(Box::new(a.reference.0));
        p.push(Box::new(a.reference.1));
        p.push(Box::new(a.reference.2));
        p.push(Box::new(a.reference.3));
        push(INSERT_REF, p);
    }
    if !a.quantity.0.is_empty() {
        let mut p = head(tenant);
        p.push(Box::new(a.quantity.0));
        p.push(Box::new(a.quantity.1));
        p.push(Box::new(a.quantity.2));
        p.push(Box::new(a.quantity.3));
        push(INSERT_QUANTITY, p);
    }
}

const INSERT_TOKEN: &str = concat!(
    "INSERT INTO idx_token (tenant, rtype, param, system, code, text, rid) \
         SELECT $1, $2, u.p, u.s, u.c, u.t, r.rid \
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS u(p, s, c, t), ",
    written!()
);

const INSERT_STRING: &str = concat!(
    "INSERT INTO idx_string (tenant, rtype, param, norm, exact, rid) \
         SELECT $1, $2, u.p, u.n, u.e, r.rid \
         FROM unnest($4::text[], $5::text[], $6::text[]) AS u(p, n, e), ",
    written!()
);

const INSERT_DATE: &str = concat!(
    "INSERT INTO idx_date (tenant, rtype, param, start, \"end\", rid) \
         SELECT $1, $2, u.p, u.s, u.e, r.rid \
         FROM unnest($4::text[], $5::int8[], $6::int8[]) AS u(p, s, e), ",
    written!()
);

const INSERT_REF: &str = concat!(
    "INSERT INTO idx_ref (tenant, rtype, param, target_type, target_id, url, rid) \
         SELECT $1, $2, u.p, u.t, u.i, u.u, r.rid \
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS u(p, t, i, u), ",
    written!()
);

const INSERT_QUANTITY: &str = concat!(
    "INSERT INTO idx_quantity (tenant, rtype, param, value, system, code, rid) \
         SELECT $1, $2, u.p, u.v, u.s, u.c, r.rid \
         FROM unnest($4::text[], $5::float8[], $6::text[], $7::text[]) AS u(p, v, s, c), ",
    written!()
);

/// An update's old rows of each table, for the row just written.
const DELETES: [&str; 5] = [
    concat!(
        "DELETE FROM idx_token WHERE tenant = $1 AND rid = (SELECT r.rid FROM ",
        written!(),
        ")"
    ),
    concat!(
        "DELETE FROM idx_string WHERE tenant = $1 AND rid = (SELECT r.rid FROM ",
        written!(),
        ")"
    ),
    concat!(
        "DELETE FROM idx_date WHERE tenant = $1 AND rid = (SELECT r.rid FROM ",
        written!(),
        ")"
    ),
    concat!(
        "DELETE FROM idx_ref WHERE tenant = $1 AND rid = (SELECT r.rid FROM ",
        written!(),
        ")"
    ),
    concat!(
        "DELETE FROM idx_quantity WHERE tenant = $1 AND rid = (SELECT r.rid FROM ",
        written!(),
        ")"
    ),
];

/// Every statement [`statements`] may send, to prepare ahead.
pub fn sql_for(v: &NewVersion) -> impl Iterator<Item = &'static str> {
    let deletes = if v.version > 1 { &DELETES[..] } else { &[] };
    let inserts = if v.deleted {
        &[][..]
    } else {
        &[
            INSERT_TOKEN,
            INSERT_STRING,
            INSERT_DATE,
            INSERT_REF,
            INSERT_QUANTITY,
        ][..]
    };
    deletes.iter().chain(inserts).copied()
}
