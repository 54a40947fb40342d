//! SQLite's process-wide memory settings, applied once before the first
//! connection opens (SQLite accepts them only before it initializes).
//!
//! Why: the writer runs every unit of a group commit in its own SAVEPOINT, and
//! SQLite copies each page a unit changes into an in-memory statement journal
//! built of 1 KiB chunks, freed again when the savepoint is released. That is
//! hundreds of allocations per request, and glibc's allocator served them on
//! its slow paths (the chunks are too many for its per-thread cache): in
//! profiles of the notification benchmark they were a tenth of the writer's
//! time. mimalloc serves them from thread-local free lists. Memory statistics
//! are switched off too: SQLite otherwise takes a global mutex on every
//! allocation to count it, and nothing reads the counts.

use std::os::raw::{c_int, c_void};
use std::sync::Once;

use rusqlite::ffi;

/// Applies the settings once, if SQLite has not initialized yet.
pub fn configure_process() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: runs once, before any connection of this process opened
        // (SqliteStore::open calls it first; had one opened, SQLite would
        // refuse with SQLITE_MISUSE and change nothing). SQLite copies
        // `METHODS` and keeps only the function pointers.
        let ok = unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) == ffi::SQLITE_OK
                && ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const METHODS.0)
                    == ffi::SQLITE_OK
        };
        if !ok {
            tracing::debug!("SQLite was initialized before its memory settings could apply");
        }
    });
}

/// The allocator routines handed to SQLite (it copies them).
struct Methods(ffi::sqlite3_mem_methods);
// SAFETY: only function pointers and a null `pAppData`, never written.
unsafe impl Sync for Methods {}

static METHODS: Methods = Methods(ffi::sqlite3_mem_methods {
    xMalloc: Some(x_malloc),
    xFree: Some(x_free),
    xRealloc: Some(x_realloc),
    xSize: Some(x_size),
    xRoundup: Some(x_roundup),
    xInit: Some(x_init),
    xShutdown: Some(x_shutdown),
    pAppData: std::ptr::null_mut(),
});

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    // SAFETY: plain allocation; SQLite never asks for a negative size.
    unsafe { libmimalloc_sys::mi_malloc(n.max(0) as usize) }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    // SAFETY: `p` came from `x_malloc`/`x_realloc` (SQLite frees only its own).
    unsafe { libmimalloc_sys::mi_free(p) }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    // SAFETY: as for `x_free`; SQLite passes a positive size.
    unsafe { libmimalloc_sys::mi_realloc(p, n.max(0) as usize) }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    // SAFETY: `p` is a live allocation of ours (or null, which answers 0).
    unsafe { libmimalloc_sys::mi_usable_size(p) as c_int }
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    // SAFETY: a pure size computation.
    unsafe { libmimalloc_sys::mi_good_size(n.max(0) as usize) as c_int }
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}
