//! [`AuditStore`] on PostgreSQL: rows in `audit` (+ `audit_patient`).

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::PgStore;
use super::conn::Conn;
use crate::store::audit::{AuditPage, AuditQuery, AuditRow, AuditStore};
use crate::store::{AccessContext, Store, StoreError};

/// Inserts one audit row; used inside any unit of work.
pub async fn insert(c: &Conn<'_>, r: &AuditRow) -> Result<(), StoreError> {
    let seq: i64 = c
        .query_opt(
            "INSERT INTO audit (id, recorded, tenant, client, outcome, type_code, subtype, facts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
            &[
                &r.id,
                &r.recorded_ms,
                &r.tenant,
                &r.client,
                &r.outcome,
                &r.type_code,
                &r.subtype,
                &r.facts,
            ],
        )
        .await?
        .map_or(0, |row| row.get(0));
    if !r.patients.is_empty() {
        c.execute(
            "INSERT INTO audit_patient (patient, seq) SELECT p, $2 FROM unnest($1::text[]) AS p \
             ON CONFLICT DO NOTHING",
            &[&r.patients, &seq],
        )
        .await?;
    }
    Ok(())
}

async fn search(c: &Conn<'_>, q: &AuditQuery) -> Result<AuditPage, StoreError> {
    let mut sql = String::from("SELECT a.seq, a.id, a.facts FROM audit a");
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    if let Some(p) = &q.patient {
        args.push(Box::new(p.clone()));
        sql.push_str(&format!(
            " JOIN audit_patient ap ON ap.seq = a.seq AND ap.patient = ${}",
            args.len()
        ));
    }
    sql.push_str(" WHERE TRUE");
    for (col, v) in [
        ("tenant", &q.tenant),
        ("client", &q.client),
        ("outcome", &q.outcome),
        ("type_code", &q.type_code),
        ("subtype", &q.subtype),
    ] {
        if let Some(v) = v {
            args.push(Box::new(v.clone()));
            sql.push_str(&format!(" AND a.{col} = ${}", args.len()));
        }
    }
    for (op, v) in [(">=", q.from_ms), ("<", q.to_ms)] {
        if let Some(v) = v {
            args.push(Box::new(v));
            sql.push_str(&format!(" AND a.recorded {op} ${}", args.len()));
        }
    }
    if let Some(b) = q.before_seq {
        args.push(Box::new(b));
        sql.push_str(&format!(" AND a.seq < ${}", args.len()));
    }
    sql.push_str(&format!(" ORDER BY a.seq DESC LIMIT {}", q.count + 1));
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
    let mut rows: Vec<(i64, String, String)> = c
        .query(&sql, &params)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let next_before_seq = crate::store::sql::page::cut(&mut rows, q.count).map(|r| r.0);
    Ok(AuditPage {
        next_before_seq,
        rows: rows.into_iter().map(|r| (r.1, r.2)).collect(),
    })
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, rows: Vec<AuditRow>) -> Result<(), StoreError> {
        let ctx = AccessContext::internal(crate::store::AUDIT_TENANT, "audit");
        self.write(
            &ctx,
            Box::new(move |tx| rows.into_iter().try_for_each(|r| tx.audit(r))),
        )
        .await
    }

    async fn audit_search(&self, q: AuditQuery) -> Result<AuditPage, StoreError> {
        let c = self.reader().await?;
        search(&Conn::Client(&c), &q).await
    }

    async fn audit_read(
        &self,
        id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        Ok(Conn::Client(&c)
            .query_opt(
                "SELECT facts FROM audit WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)",
                &[&id, &tenant],
            )
            .await?
            .map(|r| r.get(0)))
    }
}
