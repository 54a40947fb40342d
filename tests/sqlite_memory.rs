//! SQLite's process-wide memory settings (`store::sqlite::memory`): applied
//! first, as `main` does, SQLite then allocates through mimalloc and keeps no
//! memory statistics. Its own test binary, so no other test opens SQLite first.

use rusqlite::ffi;
use tandem::store::sqlite::SqliteStore;

#[test]
fn sqlite_allocates_through_mimalloc_without_statistics() {
    tandem::store::sqlite::configure_process().expect("applied before SQLite initialized");
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("m.db")).unwrap();
    // SAFETY: plain SQLite allocator calls; the block is freed before returning.
    unsafe {
        // With statistics on, the open store's caches and schema would count here.
        assert_eq!(ffi::sqlite3_memory_used(), 0, "memory statistics are off");
        let p = ffi::sqlite3_malloc(1000);
        assert!(!p.is_null());
        assert!(
            libmimalloc_sys::mi_is_in_heap_region(p.cast()),
            "SQLite's allocation comes from mimalloc's heap"
        );
        assert!(ffi::sqlite3_msize(p) >= 1000);
        ffi::sqlite3_free(p);
    }
    drop(store);
}
