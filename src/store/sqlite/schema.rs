//! SQLite schema and migrations, applied in order and recorded in `user_version`.

use rusqlite::Connection;

/// Each entry is one migration; never edit a released one, append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE history (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    type         TEXT NOT NULL,
    id           TEXT NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    method       TEXT NOT NULL,
    body         TEXT NOT NULL,
    UNIQUE (tenant, type, id, version)
);
CREATE INDEX history_tenant_seq ON history (tenant, seq);
CREATE INDEX history_type_seq ON history (tenant, type, seq);

CREATE TABLE resources (
    rid          INTEGER PRIMARY KEY,
    tenant       TEXT NOT NULL,
    type         TEXT NOT NULL,
    id           TEXT NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    hseq         INTEGER NOT NULL,
    UNIQUE (tenant, type, id)
);
CREATE INDEX resources_updated ON resources (tenant, type, last_updated);

CREATE TABLE idx_token (tenant TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT, code TEXT, text TEXT, rid INTEGER NOT NULL);
CREATE INDEX idx_token_code ON idx_token (tenant, rtype, param, code, system);
CREATE INDEX idx_token_rid ON idx_token (rid);

CREATE TABLE idx_string (tenant TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    norm TEXT NOT NULL, exact TEXT NOT NULL, rid INTEGER NOT NULL);
CREATE INDEX idx_string_norm ON idx_string (tenant, rtype, param, norm);
CREATE INDEX idx_string_rid ON idx_string (rid);

CREATE TABLE idx_date (tenant TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, rid INTEGER NOT NULL);
CREATE INDEX idx_date_start ON idx_date (tenant, rtype, param, start);
CREATE INDEX idx_date_rid ON idx_date (rid);

CREATE TABLE idx_ref (tenant TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    target_type TEXT, target_id TEXT, url TEXT, rid INTEGER NOT NULL);
CREATE INDEX idx_ref_target ON idx_ref (tenant, rtype, param, target_id, target_type);
CREATE INDEX idx_ref_url ON idx_ref (tenant, rtype, param, url) WHERE url IS NOT NULL;
CREATE INDEX idx_ref_rid ON idx_ref (rid);

CREATE TABLE idx_quantity (tenant TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    value REAL NOT NULL, system TEXT, code TEXT, rid INTEGER NOT NULL);
CREATE INDEX idx_quantity_value ON idx_quantity (tenant, rtype, param, value);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid);
"#,
    r#"
CREATE TABLE clients (client_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, pkcs8 BLOB NOT NULL,
    created INTEGER NOT NULL, retired INTEGER);
CREATE TABLE used_jti (iss TEXT NOT NULL, jti TEXT NOT NULL, exp INTEGER NOT NULL,
    PRIMARY KEY (iss, jti));
CREATE INDEX used_jti_exp ON used_jti (exp);
CREATE TABLE authors (tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
    author TEXT NOT NULL, PRIMARY KEY (tenant, author, type, id));
"#,
    r#"
CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    recorded INTEGER NOT NULL, tenant TEXT NOT NULL, client TEXT NOT NULL,
    outcome TEXT NOT NULL, type_code TEXT NOT NULL, subtype TEXT NOT NULL, facts TEXT NOT NULL);
CREATE INDEX audit_recorded ON audit (recorded);
CREATE INDEX audit_client ON audit (client, seq);
CREATE TABLE audit_patient (patient TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (patient, seq)) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL,
    topic TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, created INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL, delivered INTEGER,
    last_error TEXT, UNIQUE (tenant, topic, key));
CREATE INDEX outbox_due ON outbox (next_attempt) WHERE delivered IS NULL;
"#,
    r#"
ALTER TABLE outbox ADD COLUMN destination TEXT;
ALTER TABLE outbox ADD COLUMN dead INTEGER;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt, seq) WHERE delivered IS NULL AND dead IS NULL;
CREATE INDEX outbox_tenant ON outbox (tenant, seq);
"#,
    // History keyed by the resource's row id instead of its id: derived ids
    // are hashes, so UNIQUE (tenant, type, id, version) put every new version
    // on a random leaf page (three WAL frames per HIE message), while row ids
    // only grow. Every history row has its resources row (deletions keep it).
    r#"
CREATE TABLE history_v2 (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    rid          INTEGER NOT NULL,
    tenant       TEXT NOT NULL,
    type         TEXT NOT NULL,
    id           TEXT NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    method       TEXT NOT NULL,
    body         TEXT NOT NULL
);
INSERT INTO history_v2 (seq, rid, tenant, type, id, version, last_updated, deleted, method, body)
    SELECT h.seq, r.rid, h.tenant, h.type, h.id, h.version, h.last_updated, h.deleted, h.method, h.body
    FROM history h JOIN resources r ON r.tenant = h.tenant AND r.type = h.type AND r.id = h.id
    ORDER BY h.seq;
DROP TABLE history;
ALTER TABLE history_v2 RENAME TO history;
CREATE UNIQUE INDEX history_rid_version ON history (rid, version);
CREATE INDEX history_tenant_seq ON history (tenant, seq);
CREATE INDEX history_type_seq ON history (tenant, type, seq);
"#,
    // Audit reads are filtered by tenant: a practice's trail, newest first.
    r#"
CREATE INDEX audit_tenant_seq ON audit (tenant, seq);
"#,
    // The submission ledger (store/ledger.rs): rows are inserted, never
    // rewritten, apart from the one-time release of a held entry. The
    // program's receipt is kept with the delivery.
    r#"
CREATE TABLE submissions (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant          TEXT NOT NULL,
    program         TEXT NOT NULL,
    period          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    supersedes      INTEGER,
    reason          TEXT,
    content_hash    TEXT NOT NULL,
    body            TEXT NOT NULL,
    destination     TEXT,
    checks          TEXT NOT NULL,
    held            INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    created         INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    released_by     TEXT,
    released        INTEGER
);
CREATE UNIQUE INDEX submissions_key ON submissions (tenant, program, period, version);
ALTER TABLE outbox ADD COLUMN receipt TEXT;
"#,
    // `authors` now lists what a guest created (version 1), not every
    // resource it ever wrote: writing to a practice's resource must not keep
    // it visible to the partner. Rows for resources with later versions may
    // be updates of the practice's own records, so they go (a partner loses
    // sight of its own resources it changed since; it never gains any).
    r#"
DELETE FROM authors WHERE EXISTS (SELECT 1 FROM resources r WHERE r.tenant = authors.tenant
    AND r.type = authors.type AND r.id = authors.id AND r.version > 1);
"#,
    // People's accounts (auth/users.rs) and their failed sign-ins in a row
    // (the lockout), apart so a failure never rewrites the account.
    r#"
CREATE TABLE users (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE sign_in_failures (name TEXT PRIMARY KEY, count INTEGER NOT NULL, last INTEGER NOT NULL);
"#,
    // SMART App Launch (auth/grants.rs): one-time authorization codes and
    // rotating refresh tokens, each kept by its SHA-256 only. A family is
    // one sign-in; reusing a token revokes it. Rows live for hours.
    r#"
CREATE TABLE auth_codes (digest TEXT PRIMARY KEY, doc TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE refresh_tokens (digest TEXT PRIMARY KEY, family TEXT NOT NULL, doc TEXT NOT NULL,
    expires INTEGER NOT NULL, used INTEGER);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
"#,
    // The web app's run charts (store/charts.rs): monthly rates derived by
    // the chart refresh, and the PDSA notes people add to a point.
    r#"
CREATE TABLE rate_points (tenant TEXT NOT NULL, series TEXT NOT NULL, month TEXT NOT NULL,
    numerator INTEGER NOT NULL, denominator INTEGER NOT NULL, computed INTEGER NOT NULL,
    PRIMARY KEY (tenant, series, month));
CREATE TABLE pdsa_notes (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, series TEXT NOT NULL,
    month TEXT NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL, created INTEGER NOT NULL);
CREATE INDEX pdsa_notes_tenant ON pdsa_notes (tenant, id);
CREATE TABLE page_summaries (tenant TEXT NOT NULL, kind TEXT NOT NULL, doc TEXT NOT NULL,
    computed INTEGER NOT NULL, PRIMARY KEY (tenant, kind));
"#,
    // Scheduled jobs' leases (store/jobs.rs): the slot each job last ran
    // in, and the run under way.
    r#"
CREATE TABLE jobs (job TEXT PRIMARY KEY, slot INTEGER NOT NULL, leased_until INTEGER NOT NULL,
    token INTEGER NOT NULL);
"#,
];

/// Applies every migration newer than the database's `user_version`.
/// Each step takes the write lock before reading the version, so two
/// processes opening a new database at once (a CLI command beside a starting
/// server) never both apply the same migration.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > i {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Prepared statements kept per connection.
pub const STATEMENT_CACHE: usize = 256;

/// Connection settings. `synchronous=FULL` in WAL mode syncs the log on every
/// commit, so an acknowledged write survives a power cut; group commit in the
/// writer keeps that from costing one fsync per resource.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // The writer runs a few dozen distinct statements per request (index rows
    // per table, searches, outbox, audit); rusqlite's default cache of 16
    // made it re-parse some of them on every request.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The busy timeout first: switching to WAL needs a lock that another
    // process opening the same new file (a CLI command, a test registering a
    // client) may hold for a moment, and without a timeout that fails at once.
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 16 MiB of page cache for the writer: pages it only reads come through
    // the memory map below, so the cache mostly holds pages it changed. A
    // bigger one costs on every commit: when a B-tree split swaps two pages,
    // SQLite parks one at a far page number, and the commit then walks the
    // cache's whole hash table to drop pages past the end of the file. The
    // table grows with the cache and never shrinks; at 256 MiB that walk was
    // about 7% of the writer's time under notification load, and the
    // notification benchmark ran ~10% faster at 16 MiB (4 of 4 alternating
    // pairs) with Synthea ingest unchanged.
    conn.pragma_update(None, "cache_size", -16_384)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "mmap_size", 268_435_456)?;
    // A background thread checkpoints every 200 ms (see `spawn_checkpointer`), so the
    // writer's own automatic checkpoint, kept as a bound on the WAL under constant
    // load, only has the last few frames left to copy.
    conn.pragma_update(None, "wal_autocheckpoint", 8000)?;
    conn.pragma_update(None, "journal_size_limit", 67_108_864)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before history was keyed by row id keeps every
    /// version, readable by id and version, and new versions continue its
    /// sequence.
    #[test]
    fn history_moves_to_row_ids_without_losing_versions() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS[..5].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", i + 1).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO history (tenant, type, id, version, last_updated, deleted, method, body) VALUES
                ('t', 'Patient', 'a', 1, 10, 0, 'POST', '{\"v\":1}'),
                ('t', 'Patient', 'b', 1, 11, 0, 'POST', '{\"b\":1}'),
                ('t', 'Patient', 'a', 2, 12, 1, 'DELETE', '{\"v\":2}');
             INSERT INTO resources (tenant, type, id, version, last_updated, deleted, hseq) VALUES
                ('t', 'Patient', 'b', 1, 11, 0, 2),
                ('t', 'Patient', 'a', 2, 12, 1, 3);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();

        let rows: Vec<(i64, String, i64, i64, String)> = conn
            .prepare(
                "SELECT h.seq, h.id, h.version, r.hseq, h.body FROM history h \
                 JOIN resources r ON r.rid = h.rid ORDER BY h.seq",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (1, "a".into(), 1, 3, "{\"v\":1}".into()),
                (2, "b".into(), 1, 2, "{\"b\":1}".into()),
                (3, "a".into(), 2, 3, "{\"v\":2}".into()),
            ]
        );
        let v1 = super::super::rows::version(&conn, "t", "Patient", "a", 1).unwrap();
        assert_eq!(v1.unwrap().body, "{\"v\":1}");
        conn.execute(
            "INSERT INTO history (rid, tenant, type, id, version, last_updated, deleted, method, body) \
             VALUES ((SELECT rid FROM resources WHERE id = 'b'), 't', 'Patient', 'b', 2, 13, 0, 'PUT', '{}')",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 4);
        let twice = conn.execute(
            "INSERT INTO history (rid, tenant, type, id, version, last_updated, deleted, method, body) \
             VALUES ((SELECT rid FROM resources WHERE id = 'b'), 't', 'Patient', 'b', 2, 14, 0, 'PUT', '{}')",
            [],
        );
        assert!(twice.is_err(), "one row per resource and version");
    }
}
