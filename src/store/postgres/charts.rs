//! [`ChartStore`] on PostgreSQL: derived monthly rates, PDSA notes and the
//! pages' kept summaries.

use async_trait::async_trait;

use super::PgStore;
use super::conn::Conn;
use crate::store::StoreError;
use crate::store::charts::{ChartStore, Note, RatePoint};

#[async_trait]
impl ChartStore for PgStore {
    async fn put_rate_points(
        &self,
        tenant: &str,
        points: Vec<RatePoint>,
        computed_ms: i64,
    ) -> Result<(), StoreError> {
        let (mut series, mut months, mut nums, mut dens) = (vec![], vec![], vec![], vec![]);
        for p in points {
            series.push(p.series);
            months.push(p.month);
            nums.push(p.numerator);
            dens.push(p.denominator);
        }
        let c = self.client().await?;
        Conn::Client(&c)
            .execute(
                "INSERT INTO rate_points (tenant, series, month, numerator, denominator, computed)
                 SELECT $1, u.s, u.m, u.n, u.d, $2
                 FROM unnest($3::text[], $4::text[], $5::int8[], $6::int8[]) AS u(s, m, n, d)
                 ON CONFLICT (tenant, series, month) DO UPDATE SET numerator = excluded.numerator,
                    denominator = excluded.denominator, computed = excluded.computed",
                &[&tenant, &computed_ms, &series, &months, &nums, &dens],
            )
            .await?;
        Ok(())
    }

    async fn rate_points(&self, tenant: &str) -> Result<(Vec<RatePoint>, Option<i64>), StoreError> {
        let c = self.client().await?;
        let rows = Conn::Client(&c)
            .query(
                "SELECT series, month, numerator, denominator, computed FROM rate_points
                 WHERE tenant = $1 ORDER BY series, month",
                &[&tenant],
            )
            .await?;
        let last = rows.iter().map(|r| r.get::<_, i64>(4)).max();
        let points = rows
            .iter()
            .map(|r| RatePoint {
                series: r.get(0),
                month: r.get(1),
                numerator: r.get(2),
                denominator: r.get(3),
            })
            .collect();
        Ok((points, last))
    }

    async fn add_note(&self, tenant: &str, note: Note) -> Result<i64, StoreError> {
        let c = self.client().await?;
        Conn::Client(&c)
            .query_opt(
                "INSERT INTO pdsa_notes (tenant, series, month, author, text, created)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &tenant,
                    &note.series,
                    &note.month,
                    &note.author,
                    &note.text,
                    &note.created_ms,
                ],
            )
            .await?
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError::Backend("a note insert returned no id".into()))
    }

    async fn notes(&self, tenant: &str) -> Result<Vec<Note>, StoreError> {
        let c = self.client().await?;
        let rows = Conn::Client(&c)
            .query(
                "SELECT id, series, month, author, text, created FROM pdsa_notes
                 WHERE tenant = $1 ORDER BY id",
                &[&tenant],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Note {
                id: r.get(0),
                series: r.get(1),
                month: r.get(2),
                author: r.get(3),
                text: r.get(4),
                created_ms: r.get(5),
            })
            .collect())
    }

    async fn put_summary(
        &self,
        tenant: &str,
        kind: &str,
        doc: &str,
        computed_ms: i64,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        Conn::Client(&c)
            .execute(
                "INSERT INTO page_summaries (tenant, kind, doc, computed) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, kind) DO UPDATE SET doc = excluded.doc, computed = excluded.computed",
                &[&tenant, &kind, &doc, &computed_ms],
            )
            .await?;
        Ok(())
    }

    async fn summary(&self, tenant: &str, kind: &str) -> Result<Option<(String, i64)>, StoreError> {
        let c = self.client().await?;
        Ok(Conn::Client(&c)
            .query_opt(
                "SELECT doc, computed FROM page_summaries WHERE tenant = $1 AND kind = $2",
                &[&tenant, &kind],
            )
            .await?
            .map(|r| (r.get(0), r.get(1))))
    }
}
