//! [`ChartStore`] on SQLite, on the small auxiliary connection (a refresh
//! writes a few hundred rows per practice; notes are typed by people).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::charts::{ChartStore, Note, RatePoint};

#[async_trait]
impl ChartStore for SqliteStore {
    async fn put_rate_points(
        &self,
        tenant: &str,
        points: Vec<RatePoint>,
        computed_ms: i64,
    ) -> Result<(), StoreError> {
        let tenant = tenant.to_string();
        self.aux(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO rate_points (tenant, series, month, numerator, denominator, computed)
                     VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (tenant, series, month) DO UPDATE SET numerator = excluded.numerator,
                        denominator = excluded.denominator, computed = excluded.computed",
                )?;
                for p in &points {
                    st.execute(params![
                        tenant,
                        p.series,
                        p.month,
                        p.numerator,
                        p.denominator,
                        computed_ms
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn rate_points(&self, tenant: &str) -> Result<(Vec<RatePoint>, Option<i64>), StoreError> {
        let tenant = tenant.to_string();
        self.aux(move |c| {
            let mut st = c.prepare_cached(
                "SELECT series, month, numerator, denominator, computed FROM rate_points
                 WHERE tenant = ? ORDER BY series, month",
            )?;
            let mut last: Option<i64> = None;
            let rows = st.query_map([&tenant], |r| {
                Ok((
                    RatePoint {
                        series: r.get(0)?,
                        month: r.get(1)?,
                        numerator: r.get(2)?,
                        denominator: r.get(3)?,
                    },
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (p, computed) = row?;
                last = Some(last.map_or(computed, |l: i64| l.max(computed)));
                out.push(p);
            }
            Ok((out, last))
        })
        .await
    }

    async fn add_note(&self, tenant: &str, note: Note) -> Result<i64, StoreError> {
        let tenant = tenant.to_string();
        self.aux(move |c| {
            c.execute(
                "INSERT INTO pdsa_notes (tenant, series, month, author, text, created)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    tenant,
                    note.series,
                    note.month,
                    note.author,
                    note.text,
                    note.created_ms
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn notes(&self, tenant: &str) -> Result<Vec<Note>, StoreError> {
        let tenant = tenant.to_string();
        self.aux(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, series, month, author, text, created FROM pdsa_notes
                 WHERE tenant = ? ORDER BY id",
            )?;
            let rows = st.query_map([&tenant], |r| {
                Ok(Note {
                    id: r.get(0)?,
                    series: r.get(1)?,
                    month: r.get(2)?,
                    author: r.get(3)?,
                    text: r.get(4)?,
                    created_ms: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn put_summary(
        &self,
        tenant: &str,
        kind: &str,
        doc: &str,
        computed_ms: i64,
    ) -> Result<(), StoreError> {
        let (tenant, kind, doc) = (tenant.to_string(), kind.to_string(), doc.to_string());
        self.aux(move |c| {
            c.execute(
                "INSERT INTO page_summaries (tenant, kind, doc, computed) VALUES (?, ?, ?, ?)
                 ON CONFLICT (tenant, kind) DO UPDATE SET doc = excluded.doc, computed = excluded.computed",
                params![tenant, kind, doc, computed_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn summary(&self, tenant: &str, kind: &str) -> Result<Option<(String, i64)>, StoreError> {
        let (tenant, kind) = (tenant.to_string(), kind.to_string());
        self.aux(move |c| {
            Ok(c.query_row(
                "SELECT doc, computed FROM page_summaries WHERE tenant = ? AND kind = ?",
                params![tenant, kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
        .await
    }
}
