//! Online backup and restore of the SQLite database with SQLite's own
//! backup API: a consistent copy taken page by page while the server keeps
//! serving (WAL readers do not block the writer), checked with
//! `PRAGMA integrity_check`, written under a temporary name and renamed
//! into place only once complete and synced — so a crash never leaves a
//! half-written file under the name asked for. PostgreSQL deployments use
//! PostgreSQL's own tools (docs/operations.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Pages copied per step: small enough that the server's writer is never
/// held up for long.
const PAGES_PER_STEP: std::os::raw::c_int = 4096;

fn temp_beside(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    out.with_file_name(name)
}

/// Copies `from` into a new file `to` through the backup API; `to` must not
/// exist. Returns the number of pages copied.
fn copy(from: &Path, to: &Path) -> Result<i32, String> {
    if to.exists() {
        return Err(format!(
            "{} already exists: name a new file (nothing is overwritten)",
            to.display()
        ));
    }
    let src = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("{}: {e}", from.display()))?;
    let temp = temp_beside(to);
    let _ = std::fs::remove_file(&temp);
    let result = (|| -> Result<i32, String> {
        let mut dst = Connection::open(&temp).map_err(|e| format!("{}: {e}", temp.display()))?;
        {
            let b = rusqlite::backup::Backup::new(&src, &mut dst).map_err(|e| e.to_string())?;
            b.run_to_completion(PAGES_PER_STEP, Duration::from_millis(5), None)
                .map_err(|e| format!("backup: {e}"))?;
        }
        let ok: String = dst
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if ok != "ok" {
            return Err(format!("the copy failed its integrity check: {ok}"));
        }
        let pages: i32 = dst
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        dst.close().map_err(|(_, e)| e.to_string())?;
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| e.to_string())?;
        Ok(pages)
    })();
    match result {
        Ok(pages) => {
            std::fs::rename(&temp, to).map_err(|e| format!("{}: {e}", to.display()))?;
            if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(pages)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// `tandem backup --out FILE`: a consistent copy of the live database.
pub fn backup(database: &Path, out: &Path) -> Result<i32, String> {
    if !database.exists() {
        return Err(format!("{} does not exist", database.display()));
    }
    copy(database, out)
}

/// `tandem restore FILE`: the backup, checked, becomes the database; the
/// database must not exist (stop the server and move the old one away
/// first — a restore never overwrites).
pub fn restore(backup_file: &Path, database: &Path) -> Result<i32, String> {
    // A stale write-ahead log beside the new file would be replayed into it.
    for suffix in ["-wal", "-shm"] {
        let mut side = database.as_os_str().to_os_string();
        side.push(suffix);
        if Path::new(&side).exists() {
            return Err(format!(
                "{} exists: move the old database's files away first",
                Path::new(&side).display()
            ));
        }
    }
    copy(backup_file, database)
}
