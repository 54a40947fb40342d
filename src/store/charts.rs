//! Monthly rates behind the web app's run charts, the PDSA notes people
//! pin to them, and the current milestone summaries the pages show. Rates are derived data, kept so a page reads a few hundred
//! rows instead of recomputing two years of milestones per view; they are
//! rewritten by the chart refresh (`service::charts`), never edited.

use async_trait::async_trait;

use super::StoreError;

/// One month of one series: numerator over denominator.
#[derive(Debug, Clone, PartialEq)]
pub struct RatePoint {
    /// The milestone computation charted (`bh-screening`, …).
    pub series: String,
    /// `2026-03`.
    pub month: String,
    pub numerator: i64,
    pub denominator: i64,
}

/// A PDSA note on one point of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub id: i64,
    pub series: String,
    pub month: String,
    /// The person who wrote it.
    pub author: String,
    pub text: String,
    pub created_ms: i64,
}

#[async_trait]
pub trait ChartStore: Send + Sync + 'static {
    /// Replaces the tenant's points of the months given (one transaction).
    async fn put_rate_points(
        &self,
        tenant: &str,
        points: Vec<RatePoint>,
        computed_ms: i64,
    ) -> Result<(), StoreError>;
    /// Every point of the tenant, by series then month; with when they were
    /// last computed.
    async fn rate_points(&self, tenant: &str) -> Result<(Vec<RatePoint>, Option<i64>), StoreError>;
    /// Adds a note; returns its id.
    async fn add_note(&self, tenant: &str, note: Note) -> Result<i64, StoreError>;
    /// The tenant's notes, oldest first.
    async fn notes(&self, tenant: &str) -> Result<Vec<Note>, StoreError>;
    /// Keeps a derived document for the pages (`kind`: `milestones`,
    /// `standing`), replacing the previous one.
    async fn put_summary(
        &self,
        tenant: &str,
        kind: &str,
        doc: &str,
        computed_ms: i64,
    ) -> Result<(), StoreError>;
    /// The kept document of `kind` and when it was computed.
    async fn summary(&self, tenant: &str, kind: &str) -> Result<Option<(String, i64)>, StoreError>;
}
