//! A thin layer over SQLite's default VFS, used by the writer's connection:
//! it gathers the frames a transaction appends to the write-ahead log and
//! hands them to the kernel in one write, just before the commit's sync.
//!
//! Why: SQLite writes each log frame with two system calls (its 24-byte
//! header, then the page), and a frame is 4,120 bytes, so every page straddles
//! two pages of the OS cache: three page-cache updates per frame. A group
//! commit of the notification benchmark appends ~270 frames (~25 per message),
//! and those writes were 16% of the writer thread's time. One write per commit
//! updates each cache page once.
//!
//! Why it is safe: buffered frames reach the file before anything could depend
//! on them. The log's sync writes them first (every commit syncs: `synchronous
//! = FULL`), and so does every read, size query, truncation, file control and
//! close of the log. On the database file, every shared-memory lock and barrier
//! writes them too: a barrier is how SQLite publishes a commit to readers, and
//! releasing the write lock ends a write transaction. So no reader, other
//! connection or recovery ever sees a frame that is not in the file, and
//! nothing buffered outlives the write lock: frames of a transaction that
//! spilled and then rolled back are written (harmlessly, past the log's end)
//! before another connection may reuse those offsets. A crash loses only
//! frames of commits that never synced, which recovery ignores anyway.
//!
//! How: the default VFS's file objects are used as they are, with a small
//! [`Extra`] after them; the database file and its log get copies of the
//! default method table with a few entries replaced, so every other call goes
//! straight to SQLite's own code. Other files (temporary files, a rollback
//! journal) are left untouched.

use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

use crate::store::StoreError;

/// The name to open a connection with.
pub const NAME: &str = "tandem-walbuf";
const CNAME: &CStr = c"tandem-walbuf";
/// Buffered bytes at which the frames are written without waiting for the
/// sync (a transaction larger than the page cache).
const FLUSH_AT: usize = 4 << 20;
/// The most the default VFS writes in one call (it keeps 17 bits of a length).
const CHUNK: usize = 64 << 10;

/// What this layer keeps after the default VFS's own file object.
struct Extra {
    /// Database file: its log, while open. Log: its database file.
    peer: *mut ffi::sqlite3_file,
    /// Log only: frames not yet written, starting at file offset `start`.
    buf: Vec<u8>,
    start: i64,
}

/// The default VFS, and where [`Extra`] sits in a file object.
struct Layer {
    inner_vfs: usize,
    extra_at: usize,
}

/// A method table of ours over one of the default VFS (it has one for the
/// database file and another, without locks, for its log).
struct Table {
    /// The default VFS's table; a file it opened with another stays plain.
    inner: usize,
    ours: ffi::sqlite3_io_methods,
}

static LAYER: OnceLock<Layer> = OnceLock::new();
static DB: OnceLock<Table> = OnceLock::new();
static WAL: OnceLock<Table> = OnceLock::new();

/// Registers the layer (once per process; not as the default VFS).
pub fn register() -> Result<(), StoreError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find` returns SQLite's static default VFS (it
        // initializes SQLite first). The copy is leaked, so SQLite's pointer
        // to it stays valid for the life of the process.
        unsafe {
            let inner = ffi::sqlite3_vfs_find(ptr::null());
            if inner.is_null() {
                return Err("SQLite has no default VFS".to_string());
            }
            let extra_at = ((*inner).szOsFile as usize).next_multiple_of(16);
            let _ = LAYER.set(Layer {
                inner_vfs: inner as usize,
                extra_at,
            });
            let mut vfs = *inner;
            vfs.zName = CNAME.as_ptr();
            vfs.pNext = ptr::null_mut();
            vfs.szOsFile = (extra_at + size_of::<Extra>()) as c_int;
            vfs.xOpen = Some(x_open);
            match ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0) {
                ffi::SQLITE_OK => Ok(()),
                rc => Err(format!("cannot register the {NAME} VFS (SQLite code {rc})")),
            }
        }
    })
    .clone()
    .map_err(StoreError::Backend)
}

fn layer() -> &'static Layer {
    LAYER.get().expect("registered before any open")
}

/// Where a file object's [`Extra`] sits (room SQLite allocated; see `x_open`).
fn extra_ptr(f: *mut ffi::sqlite3_file) -> *mut Extra {
    f.cast::<u8>()
        .wrapping_add(layer().extra_at)
        .cast::<Extra>()
}

/// The [`Extra`] of a file this layer opened.
unsafe fn extra<'a>(f: *mut ffi::sqlite3_file) -> &'a mut Extra {
    // SAFETY: callers pass files whose method table is one of ours, which
    // `x_open` only installs after writing an `Extra` there.
    unsafe { &mut *extra_ptr(f) }
}

/// Unlinks `f` from its peer and drops its [`Extra`], before SQLite's own close.
unsafe fn detach(f: *mut ffi::sqlite3_file) {
    // SAFETY: `f` is a file this layer opened; its `Extra` is dropped once,
    // here, and its peer (when set) is still open.
    unsafe {
        let e = extra(f);
        if !e.peer.is_null() {
            extra(e.peer).peer = ptr::null_mut();
        }
        ptr::drop_in_place(extra_ptr(f));
    }
}

/// The default VFS's methods under table `t`.
fn inner(t: &OnceLock<Table>) -> &'static ffi::sqlite3_io_methods {
    let t = t.get().expect("set by the first open");
    // SAFETY: the default VFS's method tables are static in SQLite.
    unsafe { &*(t.inner as *const ffi::sqlite3_io_methods) }
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let inner_vfs = layer().inner_vfs as *mut ffi::sqlite3_vfs;
    // SAFETY: the default VFS opens into the start of SQLite's allocation,
    // which is `szOsFile` bytes: its own size plus room for `Extra`.
    unsafe {
        let open = (*inner_vfs).xOpen.expect("every VFS opens files");
        let rc = open(inner_vfs, name, f, flags, out);
        if rc != ffi::SQLITE_OK || (*f).pMethods.is_null() {
            return rc;
        }
        let found = (*f).pMethods;
        if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
            let t = DB.get_or_init(|| Table::db(found));
            if found as usize == t.inner {
                attach(f, ptr::null_mut(), &t.ours);
            }
        } else if flags & ffi::SQLITE_OPEN_WAL != 0 {
            let t = WAL.get_or_init(|| Table::wal(found));
            let db = ffi::sqlite3_database_file_object(name);
            let db_ours = DB
                .get()
                .is_some_and(|d| !db.is_null() && ptr::eq((*db).pMethods, &d.ours));
            if found as usize == t.inner && db_ours {
                attach(f, db, &t.ours);
                extra(db).peer = f;
            }
        }
        rc
    }
}

/// Writes `f`'s [`Extra`] and installs `methods`.
unsafe fn attach(
    f: *mut ffi::sqlite3_file,
    peer: *mut ffi::sqlite3_file,
    methods: &'static ffi::sqlite3_io_methods,
) {
    let e = Extra {
        peer,
        buf: Vec::new(),
        start: 0,
    };
    // SAFETY: `f` has room for an `Extra` at `extra_at` (see `x_open`).
    unsafe {
        ptr::write(extra_ptr(f), e);
        (*f).pMethods = methods;
    }
}

impl Table {
    fn db(inner: *const ffi::sqlite3_io_methods) -> Table {
        Table::over(inner, |base| ffi::sqlite3_io_methods {
            xClose: Some(db_close),
            xShmLock: Some(db_shm_lock),
            xShmBarrier: Some(db_shm_barrier),
            ..base
        })
    }

    fn wal(inner: *const ffi::sqlite3_io_methods) -> Table {
        Table::over(inner, |base| ffi::sqlite3_io_methods {
            xClose: Some(wal_close),
            xRead: Some(wal_read),
            xWrite: Some(wal_write),
            xTruncate: Some(wal_truncate),
            xSync: Some(wal_sync),
            xFileSize: Some(wal_file_size),
            xFileControl: Some(wal_file_control),
            ..base
        })
    }

    /// A copy of `inner` with `replace`'s entries.
    fn over(
        inner: *const ffi::sqlite3_io_methods,
        replace: impl FnOnce(ffi::sqlite3_io_methods) -> ffi::sqlite3_io_methods,
    ) -> Table {
        // SAFETY: a method table SQLite's default VFS just installed.
        let base = unsafe { *inner };
        Table {
            inner: inner as usize,
            ours: replace(base),
        }
    }
}

/// Writes the buffered frames of log `f`. The buffer is emptied either way:
/// after a failure SQLite abandons the transaction, and stale bytes must
/// never reach the file later.
unsafe fn flush(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `f` is a log this layer opened.
    let e = unsafe { extra(f) };
    if e.buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    let write = inner(&WAL).xWrite.expect("files are writable");
    let mut rc = ffi::SQLITE_OK;
    for (i, chunk) in e.buf.chunks(CHUNK).enumerate() {
        let at = e.start + (i * CHUNK) as i64;
        // SAFETY: the default VFS's write on its own file object, which `f` is.
        rc = unsafe { write(f, chunk.as_ptr().cast(), chunk.len() as c_int, at) };
        if rc != ffi::SQLITE_OK {
            break;
        }
    }
    #[cfg(test)]
    tests::WRITES.with(|w| w.set(w.get() + 1));
    e.buf.clear();
    if e.buf.capacity() > 2 * FLUSH_AT {
        e.buf.shrink_to(FLUSH_AT);
    }
    rc
}

/// Flushes the log of database file `db`, if it has one open.
unsafe fn flush_peer(db: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `db` is a database file this layer opened; its peer, when set,
    // is its open log.
    unsafe {
        let wal = extra(db).peer;
        if wal.is_null() {
            ffi::SQLITE_OK
        } else {
            flush(wal)
        }
    }
}

unsafe extern "C" fn wal_write(
    f: *mut ffi::sqlite3_file,
    data: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    // SAFETY: SQLite passes `amt` readable bytes at `data`, and `f` is a log
    // this layer opened.
    unsafe {
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), amt as usize);
        let (start, held) = {
            let e = extra(f);
            (e.start, e.buf.len())
        };
        let end = start + held as i64;
        if held > 0 && off >= start && off + i64::from(amt) <= end {
            // A frame rewritten within the transaction.
            let at = (off - start) as usize;
            extra(f).buf[at..at + bytes.len()].copy_from_slice(bytes);
            return ffi::SQLITE_OK;
        }
        if held == 0 || off != end {
            let rc = flush(f);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            extra(f).start = off;
        }
        let e = extra(f);
        if e.buf.try_reserve(bytes.len()).is_err() {
            return ffi::SQLITE_IOERR_NOMEM;
        }
        e.buf.extend_from_slice(bytes);
        if e.buf.len() >= FLUSH_AT {
            flush(f)
        } else {
            ffi::SQLITE_OK
        }
    }
}

/// Log methods that first write the buffered frames, then do what SQLite's own do.
macro_rules! flushing {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: `f` is a log this layer opened; the rest is SQLite's own call.
            unsafe {
                let rc = flush(f);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                inner(&WAL).$field.expect("the default VFS has it")(f, $($arg),*)
            }
        }
    };
}

flushing!(wal_read, xRead, (buf: *mut c_void, amt: c_int, off: i64));
flushing!(wal_truncate, xTruncate, (size: i64));
flushing!(wal_sync, xSync, (flags: c_int));
flushing!(wal_file_size, xFileSize, (size: *mut i64));
flushing!(wal_file_control, xFileControl, (op: c_int, arg: *mut c_void));

unsafe extern "C" fn wal_close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `f` is a log this layer opened.
    unsafe {
        let rc = flush(f);
        detach(f);
        let closed = inner(&WAL).xClose.expect("files close")(f);
        if rc != ffi::SQLITE_OK { rc } else { closed }
    }
}

unsafe extern "C" fn db_close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `f` is a database file this layer opened.
    unsafe {
        detach(f);
        inner(&DB).xClose.expect("files close")(f)
    }
}

unsafe extern "C" fn db_shm_lock(
    f: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: `f` is a database file this layer opened.
    unsafe {
        let rc = flush_peer(f);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        inner(&DB).xShmLock.expect("WAL mode has shared memory")(f, offset, n, flags)
    }
}

unsafe extern "C" fn db_shm_barrier(f: *mut ffi::sqlite3_file) {
    // SAFETY: `f` is a database file this layer opened.
    unsafe {
        // Every commit syncs its frames before it publishes them, so nothing
        // is buffered here; if something were and could not be written,
        // readers would be shown frames that are not in the file.
        if flush_peer(f) != ffi::SQLITE_OK {
            eprintln!("tandem: a write-ahead log write failed while publishing a commit");
            std::process::abort();
        }
        inner(&DB).xShmBarrier.expect("WAL mode has shared memory")(f)
    }
}

#[cfg(test)]
#[path = "walbuf_tests.rs"]
mod tests;
