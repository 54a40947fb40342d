//! PostgreSQL schema and migrations, applied in order under an advisory
//! lock and recorded in `tandem_migrations`.
//!
//! Several nodes may start at once against a new database: the session-level
//! advisory lock makes the second wait while the first migrates, then find
//! nothing left to do. Every migration runs in its own transaction with its
//! version row, so a crash leaves the schema at a whole version.
//!
//! Design rules (the issue's): every index leads with the tenant (the row id
//! primary keys are the only exceptions); no foreign keys from index rows (a
//! write never waits on another table's locks); text columns use the "C"
//! collation so ordering and prefix ranges are bytewise, as in SQLite; the
//! growing tables (history, audit, outbox) have a time column and an
//! identity key, ready for range partitioning by time when they need it.
//!
//! The index tables' lookup indexes end with the row id, so "does resource
//! r have this value" is one index probe whatever plan PostgreSQL picks.
//! That matters before statistics exist (a freshly loaded practice, until
//! autovacuum's first ANALYZE): every equality then looks selective, the
//! planner nests loops, and without `rid` in the index each inner probe
//! read every row with the value — a count over a few thousand screening
//! results took 3.5 s instead of milliseconds.

use super::conn::Conn;
use crate::store::StoreError;

/// Advisory lock key pair (classid, objid) guarding migrations.
pub const MIGRATION_LOCK: (i32, i32) = (7300, 0);

/// Each entry is one migration; never edit a released one, append a new one.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE resources (
    rid          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant       TEXT COLLATE "C" NOT NULL,
    type         TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    deleted      BOOLEAN NOT NULL,
    hseq         BIGINT NOT NULL,
    UNIQUE (tenant, type, id)
);
CREATE INDEX resources_updated ON resources (tenant, type, last_updated);

CREATE TABLE history (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rid          BIGINT NOT NULL,
    tenant       TEXT COLLATE "C" NOT NULL,
    type         TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    deleted      BOOLEAN NOT NULL,
    method       TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE UNIQUE INDEX history_rid_version ON history (tenant, rid, version);
CREATE INDEX history_tenant_seq ON history (tenant, seq);
CREATE INDEX history_type_seq ON history (tenant, type, seq);

CREATE TABLE idx_token (tenant TEXT COLLATE "C" NOT NULL, rtype TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL, system TEXT COLLATE "C", code TEXT COLLATE "C",
    text TEXT COLLATE "C", rid BIGINT NOT NULL);
CREATE INDEX idx_token_code ON idx_token (tenant, rtype, param, code, system, rid);
CREATE INDEX idx_token_rid ON idx_token (tenant, rid);

CREATE TABLE idx_string (tenant TEXT COLLATE "C" NOT NULL, rtype TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL, norm TEXT COLLATE "C" NOT NULL,
    exact TEXT COLLATE "C" NOT NULL, rid BIGINT NOT NULL);
CREATE INDEX idx_string_norm ON idx_string (tenant, rtype, param, norm, rid);
CREATE INDEX idx_string_rid ON idx_string (tenant, rid);

CREATE TABLE idx_date (tenant TEXT COLLATE "C" NOT NULL, rtype TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL, start BIGINT NOT NULL, "end" BIGINT NOT NULL,
    rid BIGINT NOT NULL);
CREATE INDEX idx_date_start ON idx_date (tenant, rtype, param, start, rid);
CREATE INDEX idx_date_rid ON idx_date (tenant, rid);

CREATE TABLE idx_ref (tenant TEXT COLLATE "C" NOT NULL, rtype TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL, target_type TEXT COLLATE "C", target_id TEXT COLLATE "C",
    url TEXT COLLATE "C", rid BIGINT NOT NULL);
CREATE INDEX idx_ref_target ON idx_ref (tenant, rtype, param, target_id, target_type, rid);
CREATE INDEX idx_ref_url ON idx_ref (tenant, rtype, param, url) WHERE url IS NOT NULL;
CREATE INDEX idx_ref_rid ON idx_ref (tenant, rid);

CREATE TABLE idx_quantity (tenant TEXT COLLATE "C" NOT NULL, rtype TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL, value DOUBLE PRECISION NOT NULL, system TEXT COLLATE "C",
    code TEXT COLLATE "C", rid BIGINT NOT NULL);
CREATE INDEX idx_quantity_value ON idx_quantity (tenant, rtype, param, value, rid);
CREATE INDEX idx_quantity_rid ON idx_quantity (tenant, rid);

CREATE TABLE authors (tenant TEXT COLLATE "C" NOT NULL, type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL, author TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, author, type, id));

CREATE TABLE clients (client_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE signing_keys (kid TEXT COLLATE "C" PRIMARY KEY, pkcs8 BYTEA NOT NULL,
    created BIGINT NOT NULL, retired BIGINT);
CREATE TABLE used_jti (iss TEXT COLLATE "C" NOT NULL, jti TEXT COLLATE "C" NOT NULL,
    exp BIGINT NOT NULL, PRIMARY KEY (iss, jti));
CREATE INDEX used_jti_exp ON used_jti (exp);
CREATE TABLE users (name TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE sign_in_failures (name TEXT COLLATE "C" PRIMARY KEY, count BIGINT NOT NULL,
    last BIGINT NOT NULL);
CREATE TABLE auth_codes (digest TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL,
    expires BIGINT NOT NULL);
CREATE TABLE refresh_tokens (digest TEXT COLLATE "C" PRIMARY KEY,
    family TEXT COLLATE "C" NOT NULL, doc TEXT NOT NULL, expires BIGINT NOT NULL, used BIGINT);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

CREATE TABLE audit (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT COLLATE "C" NOT NULL UNIQUE, recorded BIGINT NOT NULL,
    tenant TEXT COLLATE "C" NOT NULL, client TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL, type_code TEXT COLLATE "C" NOT NULL,
    subtype TEXT COLLATE "C" NOT NULL, facts TEXT NOT NULL);
CREATE INDEX audit_tenant_seq ON audit (tenant, seq);
CREATE INDEX audit_tenant_recorded ON audit (tenant, recorded);
CREATE INDEX audit_client ON audit (client, seq);
CREATE INDEX audit_recorded ON audit (recorded);
CREATE TABLE audit_patient (patient TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (patient, seq));

CREATE TABLE outbox (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL, topic TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL, destination TEXT, payload TEXT NOT NULL,
    created BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, next_attempt BIGINT NOT NULL,
    delivered BIGINT, dead BIGINT, last_error TEXT, receipt TEXT,
    claimed_until BIGINT, claim BIGINT NOT NULL DEFAULT 0,
    UNIQUE (tenant, topic, key));
CREATE SEQUENCE outbox_claims;
CREATE INDEX outbox_due ON outbox (next_attempt, seq) WHERE delivered IS NULL AND dead IS NULL;
CREATE INDEX outbox_tenant ON outbox (tenant, seq);

CREATE TABLE submissions (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant          TEXT COLLATE "C" NOT NULL,
    program         TEXT COLLATE "C" NOT NULL,
    period          TEXT COLLATE "C" NOT NULL,
    version         BIGINT NOT NULL,
    supersedes      BIGINT,
    reason          TEXT,
    content_hash    TEXT NOT NULL,
    body            TEXT NOT NULL,
    destination     TEXT,
    checks          TEXT NOT NULL,
    held            BOOLEAN NOT NULL,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    created         BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    released_by     TEXT,
    released        BIGINT
);
CREATE UNIQUE INDEX submissions_key ON submissions (tenant, program, period, version);
CREATE INDEX submissions_supersedes ON submissions (tenant, supersedes);

CREATE TABLE rate_points (tenant TEXT COLLATE "C" NOT NULL, series TEXT COLLATE "C" NOT NULL,
    month TEXT COLLATE "C" NOT NULL, numerator BIGINT NOT NULL, denominator BIGINT NOT NULL,
    computed BIGINT NOT NULL, PRIMARY KEY (tenant, series, month));
CREATE TABLE pdsa_notes (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL, series TEXT NOT NULL, month TEXT NOT NULL,
    author TEXT NOT NULL, text TEXT NOT NULL, created BIGINT NOT NULL);
CREATE INDEX pdsa_notes_tenant ON pdsa_notes (tenant, id);
CREATE TABLE page_summaries (tenant TEXT COLLATE "C" NOT NULL, kind TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL, computed BIGINT NOT NULL, PRIMARY KEY (tenant, kind));
"#,
    // Scheduled jobs' leases (store/jobs.rs): the slot each job last ran
    // in, the run under way and its fencing token.
    r#"
CREATE TABLE jobs (job TEXT COLLATE "C" PRIMARY KEY, slot BIGINT NOT NULL,
    leased_until BIGINT NOT NULL, token BIGINT NOT NULL);
CREATE SEQUENCE job_tokens;
"#,
    // Index rows' columns are correlated (a code belongs to one parameter
    // of one resource type): planning from per-column statistics multiplies
    // their selectivities, takes a common code (Encounter status
    // "finished") for a rare one and drives a lookup from it instead of
    // from the patient. Multivariate statistics let ANALYZE see them
    // together.
    r#"
CREATE STATISTICS idx_token_stats (mcv, dependencies) ON tenant, rtype, param, code FROM idx_token;
CREATE STATISTICS idx_ref_stats (mcv, dependencies) ON tenant, rtype, param, target_type FROM idx_ref;
CREATE STATISTICS idx_date_stats (mcv, dependencies) ON tenant, rtype, param FROM idx_date;
CREATE STATISTICS idx_string_stats (mcv, dependencies) ON tenant, rtype, param FROM idx_string;
CREATE STATISTICS idx_quantity_stats (mcv, dependencies) ON tenant, rtype, param FROM idx_quantity;
CREATE STATISTICS resources_stats (mcv, dependencies) ON tenant, type FROM resources;
"#,
];

/// Applies every migration the database lacks; returns how many ran.
/// Holds the migration lock for the whole run (session-level, so it is
/// released when the connection ends even if this process dies).
pub async fn migrate(c: &Conn<'_>) -> Result<usize, StoreError> {
    if version(c).await? as usize == MIGRATIONS.len() {
        return Ok(0);
    }
    c.batch(
        "CREATE TABLE IF NOT EXISTS tandem_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)",
    )
    .await
    .or_else(|e| match e {
        // Two nodes creating the bookkeeping table at the same moment: the
        // loser's catalog insert fails; the table exists either way.
        StoreError::Backend(m) if m.starts_with("23505") || m.starts_with("42P07") => Ok(()),
        e => Err(e),
    })?;
    let (class, obj) = MIGRATION_LOCK;
    c.execute("SELECT pg_advisory_lock($1, $2)", &[&class, &obj])
        .await?;
    let result = apply(c).await;
    let unlocked = c
        .execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &obj])
        .await;
    let ran = result?;
    unlocked?;
    Ok(ran)
}

async fn apply(c: &Conn<'_>) -> Result<usize, StoreError> {
    let row = c
        .query_opt(
            "SELECT COALESCE(MAX(version), 0) FROM tandem_migrations",
            &[],
        )
        .await?;
    let current = row.map_or(0, |r| r.get::<_, i64>(0)) as usize;
    let now = chrono::Utc::now().timestamp_millis();
    let mut ran = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = (i + 1) as i64;
        let step = c
            .batch(&format!(
                "BEGIN; {sql}; INSERT INTO tandem_migrations (version, applied) VALUES ({version}, {now}); COMMIT;"
            ))
            .await;
        if let Err(e) = step {
            let _ = c.batch("ROLLBACK").await;
            return Err(StoreError::Backend(format!(
                "migration {version} failed: {e}"
            )));
        }
        ran += 1;
    }
    Ok(ran)
}

/// The schema version a database is at (0: none applied).
pub async fn version(c: &Conn<'_>) -> Result<i64, StoreError> {
    let exists = c
        .query_opt("SELECT to_regclass('tandem_migrations') IS NOT NULL", &[])
        .await?
        .is_some_and(|r| r.get::<_, bool>(0));
    if !exists {
        return Ok(0);
    }
    Ok(c.query_opt(
        "SELECT COALESCE(MAX(version), 0) FROM tandem_migrations",
        &[],
    )
    .await?
    .map_or(0, |r| r.get(0)))
}

/// A short digest of every migration's text: names a template database
/// (tests) that is valid for exactly this schema.
pub fn fingerprint() -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, MIGRATIONS.concat().as_bytes());
    d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect()
}
