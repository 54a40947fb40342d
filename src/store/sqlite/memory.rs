//! SQLite's process-wide memory settings, applied once in `main` before the
//! first connection opens (SQLite accepts them only before it initializes).
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
use std::sync::OnceLock;

use rusqlite::ffi;

/// Applies the settings; called first in `main`, before any thread or
/// connection exists. Fails when SQLite already initialized (it then refuses
/// process settings with SQLITE_MISUSE), so a change that opens a connection
/// earlier is noticed instead of silently running without them. Later calls
/// return the first call's outcome.
pub fn configure_process() -> Result<(), String> {
    static OUTCOME: OnceLock<Result<(), String>> = OnceLock::new();
    OUTCOME.get_or_init(apply).clone()
}

fn apply() -> Result<(), String> {
    // SAFETY: sqlite3_config is only valid before SQLite initializes; after
    // that it returns SQLITE_MISUSE and changes nothing, which is reported.
    // SQLite copies `METHODS` and keeps only the function pointers.
    let (memstatus, malloc) = unsafe {
        (
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const METHODS.0),
        )
    };
    if memstatus == ffi::SQLITE_OK && malloc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(format!(
            "SQLite's process settings could not be applied (codes {memstatus}, {malloc}): SQLite was initialized before them"
        ))
    }
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

#[cfg(test)]
mod tests {
    /// Settings after SQLite initialized are refused loudly, not ignored.
    #[test]
    fn settings_after_initialization_fail_loudly() {
        let _c = rusqlite::Connection::open_in_memory().unwrap();
        let err = super::apply().unwrap_err();
        assert!(err.contains("initialized before"), "{err}");
    }
}
