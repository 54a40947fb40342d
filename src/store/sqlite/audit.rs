//! [`AuditStore`] on SQLite: rows in `audit` (+ `audit_patient`), appended by
//! the writer thread, read through the reader pool.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::store::audit::{AuditPage, AuditQuery, AuditRow, AuditStore};
use crate::store::{AccessContext, StoreError};

/// Inserts one audit row; used inside any unit of work.
pub fn insert(conn: &Connection, r: &AuditRow) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO audit (id, recorded, tenant, client, outcome, type_code, subtype, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")?
        .execute(params![r.id, r.recorded_ms, r.tenant, r.client, r.outcome, r.type_code, r.subtype, r.facts])?;
    let seq = conn.last_insert_rowid();
    for p in &r.patients {
        conn.prepare_cached(
            "INSERT INTO audit_patient (patient, seq) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )?
        .execute(params![p, seq])?;
    }
    Ok(())
}

fn search(conn: &Connection, q: &AuditQuery) -> Result<AuditPage, StoreError> {
    let mut sql = String::from("SELECT a.seq, a.id, a.facts FROM audit a");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(p) = &q.patient {
        sql.push_str(" JOIN audit_patient ap ON ap.seq = a.seq AND ap.patient = ?");
        args.push(p.clone().into());
    }
    sql.push_str(" WHERE 1 = 1");
    let mut filter = |col: &str, v: &Option<String>| {
        if let Some(v) = v {
            sql.push_str(&format!(" AND a.{col} = ?"));
            args.push(v.clone().into());
        }
    };
    filter("tenant", &q.tenant);
    filter("client", &q.client);
    filter("outcome", &q.outcome);
    filter("type_code", &q.type_code);
    filter("subtype", &q.subtype);
    for (op, v) in [(">=", q.from_ms), ("<", q.to_ms)] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND a.recorded {op} ?"));
            args.push(v.into());
        }
    }
    if let Some(b) = q.before_seq {
        sql.push_str(" AND a.seq < ?");
        args.push(b.into());
    }
    sql.push_str(" ORDER BY a.seq DESC LIMIT ?");
    args.push(((q.count + 1) as i64).into());
    let mut st = conn.prepare(&sql)?;
    let mut rows: Vec<(i64, String, String)> = st
        .query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let next_before_seq = crate::store::sql::page::cut(&mut rows, q.count).map(|r| r.0);
    Ok(AuditPage {
        next_before_seq,
        rows: rows.into_iter().map(|r| (r.1, r.2)).collect(),
    })
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, rows: Vec<AuditRow>) -> Result<(), StoreError> {
        use crate::store::Store;
        let ctx = AccessContext::internal(crate::store::AUDIT_TENANT, "audit");
        self.write(
            &ctx,
            Box::new(move |tx| rows.into_iter().try_for_each(|r| tx.audit(r))),
        )
        .await
    }

    async fn audit_search(&self, q: AuditQuery) -> Result<AuditPage, StoreError> {
        let tenant = q.tenant.clone().unwrap_or_default();
        self.with_client_reader(&tenant, move |c| search(c, &q))
            .await
    }

    async fn audit_read(
        &self,
        id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let id = id.to_string();
        let tenant = tenant.map(str::to_string);
        let share = tenant.clone().unwrap_or_default();
        self.with_reader(&share, move |c| {
            Ok(c.query_row(
                "SELECT facts FROM audit WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)",
                params![id, tenant],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}
