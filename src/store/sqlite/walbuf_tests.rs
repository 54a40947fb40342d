//! The log layer against SQLite itself: a buffered connection beside plain
//! ones on the same file, as the store runs them.

use std::cell::Cell;

use rusqlite::{Connection, OpenFlags};

use super::*;

thread_local! {
    /// Flushes of buffered frames to the default VFS on this thread (each in
    /// pieces of at most 64 KiB).
    pub(super) static WRITES: Cell<usize> = const { Cell::new(0) };
}

fn buffered(path: &std::path::Path) -> Connection {
    register().unwrap();
    let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c
}

fn plain(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "busy_timeout", 5000).unwrap();
    c
}

/// A new database file with tables `t` and `u`, and a buffered connection to it.
fn fresh() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let a = buffered(&path);
    a.execute_batch("CREATE TABLE t (tag TEXT, body BLOB); CREATE TABLE u (tag TEXT, body BLOB)")
        .unwrap();
    (dir, path, a)
}

fn tags(c: &Connection, table: &str) -> Vec<String> {
    let mut s = c
        .prepare(&format!("SELECT tag FROM {table} ORDER BY rowid"))
        .unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn integrity(c: &Connection) -> String {
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// 2 KiB of bytes that do not compress into fewer pages.
fn blob(i: usize) -> Vec<u8> {
    (0..2048)
        .map(|j| ((i * 7919 + j * 104_729) % 251) as u8)
        .collect()
}

#[test]
fn a_commit_is_one_write_and_other_connections_read_it_at_once() {
    let (_dir, path, a) = fresh();
    let b = plain(&path);
    for i in 0..50 {
        let before = WRITES.get();
        a.execute_batch("BEGIN").unwrap();
        for k in 0..10 {
            a.execute(
                "INSERT INTO t VALUES (?, ?)",
                (format!("{i}-{k}"), blob(i * 10 + k)),
            )
            .unwrap();
        }
        a.execute_batch("COMMIT").unwrap();
        // Six or more frames, handed over in one write.
        assert_eq!(WRITES.get() - before, 1, "commit {i}");
        let seen = tags(&b, "t");
        assert_eq!(seen.len(), (i + 1) * 10);
        assert_eq!(seen.last().unwrap(), &format!("{i}-9"));
    }
    assert_eq!(integrity(&b), "ok");
}

#[test]
fn a_spilled_transaction_rolled_back_never_overwrites_a_later_commit() {
    let (_dir, path, a) = fresh();
    // A page cache of 10 pages: the transaction below spills frames into the
    // log before it ends, then rolls back.
    a.pragma_update(None, "cache_size", 10).unwrap();
    a.execute_batch("BEGIN").unwrap();
    for i in 0..300 {
        a.execute("INSERT INTO t VALUES ('gone', ?)", [blob(i)])
            .unwrap();
    }
    a.execute_batch("ROLLBACK").unwrap();
    // Another connection commits into the same stretch of the log, to pages
    // the buffered connection does not write again ...
    let b = plain(&path);
    b.execute("INSERT INTO u VALUES ('b', ?)", [blob(1)])
        .unwrap();
    // ... and the buffered connection's next commit must not bring the
    // rolled-back frames back over that commit.
    a.execute("INSERT INTO t VALUES ('a', ?)", [blob(2)])
        .unwrap();
    let c = plain(&path);
    assert_eq!(tags(&c, "u"), ["b"]);
    assert_eq!(tags(&c, "t"), ["a"]);
    assert_eq!(integrity(&c), "ok");
}

#[test]
fn a_large_transaction_survives_a_crash_after_commit() {
    let (dir, path, a) = fresh();
    // ~10 MiB: more than one buffer's worth of frames before the commit.
    a.execute_batch("BEGIN").unwrap();
    for i in 0..5_000 {
        a.execute("INSERT INTO t VALUES (?, ?)", (i.to_string(), blob(i)))
            .unwrap();
    }
    a.execute_batch("COMMIT").unwrap();
    // The files as a crash right now would leave them (the connection still
    // open, nothing checkpointed): the copy recovers every row from the log.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(dir.path().join("t.db-wal"), dir.path().join("copy.db-wal")).unwrap();
    let c = plain(&copy);
    let got = tags(&c, "t");
    assert_eq!(got.len(), 5_000);
    assert_eq!(got[4_999], "4999");
    assert_eq!(integrity(&c), "ok");
    drop(a);
}
