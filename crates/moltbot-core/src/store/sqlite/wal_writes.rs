//! One `write` per commit to the write-ahead log instead of two per page.
//!
//! SQLite appends a commit to the WAL one frame at a time, and each frame with two `pwrite`
//! calls, its 24-byte header then its page (`walWriteOneFrame` in SQLite's `wal.c`): a commit
//! of ten pages makes twenty system calls. On the message path that was about thirty calls per
//! message, a tenth of the gateway's CPU and most of the time of the "agent answered" commit,
//! which sits between the message's read and the reply's `POST`.
//!
//! This module registers a VFS (`moltbot-wal`) that is SQLite's default one except for WAL
//! files: their appends are gathered in memory and written with one call when the frame that
//! ends the commit is complete (its header carries the database size after the commit, which
//! only a commit frame has: <https://sqlite.org/fileformat2.html#walformat>). Before that
//! call returns SQLite has not yet published the frames in the WAL index, so no reader (in
//! this process or another) can look for them, and the commit has not returned: a crash
//! before the write loses an unfinished commit, as a crash in the middle of SQLite's own
//! writes would (the frames' checksums make recovery ignore a torn tail). Anything else done
//! to the file (a read, sync, truncate, size query, lock, file control, close) and any write
//! that does not continue the gathered bytes writes them out first, so the file is never
//! seen without them. What a commit promises is unchanged: when it returns, every frame is in
//! the operating system's hands (durability in `engine.rs`).
//!
//! # Safety
//!
//! SQLite calls these functions through the VFS and file-method tables, with the pointers its
//! VFS interface promises (<https://sqlite.org/c3ref/vfs.html>, <https://sqlite.org/c3ref/io_methods.html>):
//! `file` points to `szOsFile` bytes SQLite owns until `xClose` returns, used by one
//! connection at a time; buffers are valid for the lengths given. A WAL file's object is a
//! [`WalFile`] written by [`open`] (its `pMethods` is [`METHODS`] only then), followed by the
//! default VFS's own file object at [`inner_offset`], which only the default VFS's methods
//! touch. Every method of [`METHODS`] is called only on such a `WalFile`.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The VFS's name, for [`rusqlite::Connection::open_with_flags_and_vfs`].
pub(crate) const VFS_NAME: &CStr = c"moltbot-wal";

/// A WAL frame header's size (bytes).
const FRAME_HEADER: usize = 24;

/// Gathered bytes are written out once they reach this much, commit or not (a large
/// transaction, such as `store copy`, spills pages before it commits), and never more than
/// this in one call: SQLite's unix VFS writes at most 128 KiB - 1 bytes per call (its
/// `seekAndWriteFd` masks the length with `0x1ffff`) and reports a larger write as a full disk.
const MAX_GATHERED: usize = 64 * 1024;

/// The default VFS this one wraps, and the size of its file objects.
#[derive(Clone, Copy)]
struct Base {
    vfs: *mut ffi::sqlite3_vfs,
}

// SAFETY: the default VFS object is static in SQLite and safe to use from any thread.
unsafe impl Send for Base {}
unsafe impl Sync for Base {}

static BASE: OnceLock<Result<Base, String>> = OnceLock::new();

/// Registers the VFS (once per process); an error names what failed.
pub(crate) fn register() -> Result<(), String> {
    BASE.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find` initialises SQLite if needed and returns the default VFS
        // (a static object) or null. The VFS object given to `sqlite3_vfs_register` is leaked,
        // so it lives as long as the process, as SQLite requires.
        unsafe {
            let base = ffi::sqlite3_vfs_find(std::ptr::null());
            if base.is_null() {
                return Err("SQLite has no default VFS".to_string());
            }
            let mut vfs: ffi::sqlite3_vfs = *base;
            vfs.szOsFile = c_int::try_from(inner_offset())
                .ok()
                .and_then(|offset| offset.checked_add((*base).szOsFile))
                .ok_or("SQLite's file object is too large")?;
            vfs.zName = VFS_NAME.as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
            let rc = ffi::sqlite3_vfs_register(vfs, 0);
            if rc != ffi::SQLITE_OK {
                return Err(format!("sqlite3_vfs_register failed with code {rc}"));
            }
            Ok(Base { vfs: base })
        }
    })
    .as_ref()
    .map(|_| ())
    .map_err(Clone::clone)
}

/// A WAL file: SQLite's file object (`base`, first, so SQLite's pointer is ours), the bytes
/// gathered for the current commit, and the default VFS's file object after it.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    /// File offset of `gathered[0]`.
    start: i64,
    gathered: Vec<u8>,
    /// The last write was a commit frame's header: its page completes the commit.
    commit_next: bool,
    /// The end of what this generation of the log has had appended (bytes): a write below it
    /// overwrites earlier bytes and is not gathered.
    appended_to: i64,
}

/// Where the default VFS's file object starts inside ours (8-byte aligned).
const fn inner_offset() -> usize {
    let size = std::mem::size_of::<WalFile>();
    (size + 7) & !7
}

fn base_vfs() -> Option<*mut ffi::sqlite3_vfs> {
    match BASE.get() {
        Some(Ok(base)) => Some(base.vfs),
        _ => None,
    }
}

/// `xOpen`: a WAL file becomes a [`WalFile`] around the default VFS's file object; any other
/// file is the default VFS's own, at the start of the space SQLite gave (which is larger).
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(base) = base_vfs() else {
        return ffi::SQLITE_ERROR;
    };
    let Some(base_open) = (*base).xOpen else {
        return ffi::SQLITE_ERROR;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not a WAL: the default VFS's file object, at the start of ours (which is larger).
        return base_open(base, name, file, flags, out_flags);
    }
    let inner = file
        .cast::<u8>()
        .add(inner_offset())
        .cast::<ffi::sqlite3_file>();
    let rc = base_open(base, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK || (*inner).pMethods.is_null() {
        // Without methods SQLite does not call `xClose` (nothing of ours to free).
        (*file).pMethods = std::ptr::null();
        if !(*inner).pMethods.is_null() {
            if let Some(close) = (*(*inner).pMethods).xClose {
                close(inner);
            }
        }
        return if rc == ffi::SQLITE_OK {
            ffi::SQLITE_ERROR
        } else {
            rc
        };
    }
    std::ptr::write(
        file.cast::<WalFile>(),
        WalFile {
            base: ffi::sqlite3_file { pMethods: &METHODS },
            inner,
            start: 0,
            gathered: Vec::new(),
            commit_next: false,
            appended_to: 0,
        },
    );
    ffi::SQLITE_OK
}

/// The default VFS's file object inside `file` (a [`WalFile`]) and its methods (a static table
/// of the default VFS, set by its `xOpen`, which succeeded).
unsafe fn inner_methods(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let wal = &*file.cast::<WalFile>();
    (wal.inner, &*(*wal.inner).pMethods)
}

/// Writes the gathered bytes out (one call up to [`MAX_GATHERED`] bytes), in order.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    let wal = &mut *file.cast::<WalFile>();
    if wal.gathered.is_empty() {
        return ffi::SQLITE_OK;
    }
    wal.commit_next = false;
    let (inner, methods) = inner_methods(file);
    let Some(write) = methods.xWrite else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let mut rc = ffi::SQLITE_OK;
    let mut offset = wal.start;
    for chunk in wal.gathered.chunks(MAX_GATHERED) {
        let Ok(amount) = c_int::try_from(chunk.len()) else {
            rc = ffi::SQLITE_IOERR_WRITE;
            break;
        };
        rc = write(inner, chunk.as_ptr().cast::<c_void>(), amount, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset = offset.saturating_add(i64::from(amount));
    }
    #[cfg(test)]
    tests::WRITES.with(|writes| writes.set(writes.get() + 1));
    wal.gathered.clear();
    if wal.gathered.capacity() > MAX_GATHERED {
        wal.gathered.shrink_to(MAX_GATHERED);
    }
    rc
}

/// `xWrite`: an append that continues the gathered bytes is gathered, and the commit is written
/// out when its commit frame is complete; anything else is written at once, after them.
unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if data.is_null() || len == 0 {
        return ffi::SQLITE_OK;
    }
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
    let wal = &mut *file.cast::<WalFile>();
    let end = offset.saturating_add(i64::from(amount));
    if offset == 0 {
        // The WAL header: the log starts over from its first frame (a new generation).
        wal.appended_to = 0;
    }
    let appends = offset >= wal.appended_to && offset > 0;
    let continues = offset == wal.start.saturating_add(wal.gathered.len() as i64);
    let gathers_on = appends && continues;
    if !wal.gathered.is_empty() && !gathers_on {
        let rc = flush(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    let wal = &mut *file.cast::<WalFile>();
    if !appends {
        // The WAL header, or bytes written before (SQLite overwrites a page it wrote earlier
        // in the same transaction, and rewrites the checksums of the frames after it):
        // written at once, in order after anything gathered.
        wal.appended_to = wal.appended_to.max(end);
        #[cfg(test)]
        if offset > 0 {
            tests::OVERWRITES.with(|n| n.set(n.get() + 1));
        }
        let (inner, methods) = inner_methods(file);
        return methods.xWrite.map_or(ffi::SQLITE_IOERR_WRITE, |write| {
            write(inner, data, amount, offset)
        });
    }
    if wal.gathered.is_empty() {
        wal.start = offset;
    }
    wal.gathered.extend_from_slice(bytes);
    wal.appended_to = end;
    if len == FRAME_HEADER {
        // A frame header: bytes 4..8 hold the database size after the commit for a commit
        // frame, zero for any other.
        wal.commit_next = bytes[4..8] != [0, 0, 0, 0];
        return ffi::SQLITE_OK;
    }
    if wal.commit_next || wal.gathered.len() >= MAX_GATHERED {
        return flush(file);
    }
    ffi::SQLITE_OK
}

/// `xClose`: writes the gathered bytes out, closes the default VFS's file, frees ours.
unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let flushed = flush(file);
    let (inner, methods) = inner_methods(file);
    let closed = methods.xClose.map_or(ffi::SQLITE_OK, |close| close(inner));
    std::ptr::drop_in_place(file.cast::<WalFile>());
    (*file).pMethods = std::ptr::null();
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

/// Declares a method that writes the gathered bytes out, then calls the inner file's.
macro_rules! flush_then {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            let (inner, methods) = inner_methods(file);
            match methods.$field {
                Some(method) => method(inner $(, $arg)*),
                None => $missing,
            }
        }
    };
}

flush_then!(read, xRead, (buf: *mut c_void, amount: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
flush_then!(truncate, xTruncate, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
flush_then!(sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
flush_then!(file_size, xFileSize, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
flush_then!(lock, xLock, (level: c_int), ffi::SQLITE_OK);
flush_then!(unlock, xUnlock, (level: c_int), ffi::SQLITE_OK);
flush_then!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_OK);
flush_then!(file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
flush_then!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
flush_then!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
flush_then!(shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);
flush_then!(fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void), ffi::SQLITE_OK);
flush_then!(unfetch, xUnfetch, (offset: i64, p: *mut c_void), ffi::SQLITE_OK);

/// `xSectorSize`, as the default VFS says.
unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let (inner, methods) = inner_methods(file);
    methods.xSectorSize.map_or(4096, |method| method(inner))
}

/// `xDeviceCharacteristics`, as the default VFS says.
unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let (inner, methods) = inner_methods(file);
    methods
        .xDeviceCharacteristics
        .map_or(0, |method| method(inner))
}

/// `xShmBarrier` (not used on a WAL file; forwarded after writing the gathered bytes out).
unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    let _ = flush(file);
    let (inner, methods) = inner_methods(file);
    if let Some(method) = methods.xShmBarrier {
        method(inner);
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use rusqlite::{params, Connection};

    use crate::store::sqlite::engine::connect;

    thread_local! {
        /// Writes this thread made to WAL files through the VFS.
        pub(super) static WRITES: Cell<u64> = const { Cell::new(0) };
        /// Writes this thread made below the end of a WAL (overwrites), not gathered.
        pub(super) static OVERWRITES: Cell<u64> = const { Cell::new(0) };
    }

    fn writes() -> u64 {
        WRITES.with(Cell::get)
    }

    /// A store-like file: WAL mode, 1 KiB pages, no automatic checkpoint (as the engine has).
    fn open(path: &std::path::Path) -> Connection {
        let conn = connect(path).unwrap();
        conn.pragma_update(None, "page_size", 1024).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)",
        )
        .unwrap();
        conn
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    fn integrity(conn: &Connection) -> String {
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_commit_of_many_pages_is_one_write_to_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("s.sqlite"));
        for round in 0..20 {
            let tx = conn.unchecked_transaction().unwrap();
            // Random-looking keys in a unique index and a row each: several pages change.
            for i in 0..8 {
                tx.execute(
                    "INSERT INTO t (k, v) VALUES (?1, zeroblob(300))",
                    params![format!(
                        "{:x}",
                        (round * 8 + i) * 2_654_435_761u64 % 1_000_003
                    )],
                )
                .unwrap();
            }
            let before = writes();
            tx.commit().unwrap();
            let frames_written = writes() - before;
            assert_eq!(frames_written, 1, "round {round}: one write per commit");
        }
        assert_eq!(count(&conn), 160);
    }

    #[test]
    fn every_commit_is_visible_at_once_to_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let writer = open(&path);
        let reader = open(&path);
        for n in 1..=200i64 {
            writer
                .execute(
                    "INSERT INTO t (k, v) VALUES (?1, randomblob(200))",
                    params![format!("key-{n}")],
                )
                .unwrap();
            assert_eq!(count(&reader), n, "the reader sees commit {n}");
            let k: String = reader
                .query_row("SELECT k FROM t ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
                .unwrap();
            assert_eq!(k, format!("key-{n}"));
        }
        assert_eq!(integrity(&reader), "ok");
    }

    #[test]
    fn a_transaction_larger_than_the_gathering_limit_commits_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let writer = open(&path);
        // A small page cache makes SQLite spill pages to the WAL before the commit.
        writer.pragma_update(None, "cache_size", 16).unwrap();
        let tx = writer.unchecked_transaction().unwrap();
        for i in 0..3000 {
            tx.execute(
                "INSERT INTO t (k, v) VALUES (?1, randomblob(900))",
                params![format!("big-{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let reader = open(&path);
        assert_eq!(count(&reader), 3000);
        assert_eq!(integrity(&reader), "ok");
    }

    #[test]
    fn pages_written_twice_in_one_transaction_are_read_right_by_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let writer = open(&path);
        let reader = open(&path);
        // Spilled pages changed again before the commit: SQLite overwrites their frames and
        // rewrites the checksums of the frames after them (writes below the log's end).
        writer.pragma_update(None, "cache_size", 16).unwrap();
        for round in 0..3 {
            let tx = writer.unchecked_transaction().unwrap();
            for i in 0..400 {
                tx.execute(
                    "INSERT INTO t (k, v) VALUES (?1, randomblob(600))",
                    params![format!("r{round}-{i}")],
                )
                .unwrap();
            }
            tx.execute(
                "UPDATE t SET v = zeroblob(500), k = k || '-again' WHERE k LIKE ?1",
                params![format!("r{round}-%")],
            )
            .unwrap();
            tx.commit().unwrap();
            let again: i64 = reader
                .query_row(
                    "SELECT COUNT(*) FROM t WHERE k LIKE '%-again' AND length(v) = 500",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(again, 400 * (round + 1));
            assert_eq!(integrity(&reader), "ok");
        }
        assert!(
            OVERWRITES.with(Cell::get) > 0,
            "the transaction overwrote frames (the case this test is for)"
        );
    }

    #[test]
    fn commits_go_on_after_a_checkpoint_restarts_and_truncates_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let writer = open(&path);
        let checkpointer = open(&path);
        for n in 0..300i64 {
            writer
                .execute(
                    "INSERT INTO t (k, v) VALUES (?1, randomblob(500))",
                    params![format!("k{n}")],
                )
                .unwrap();
            if n % 50 == 49 {
                checkpointer
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                    .unwrap();
            }
        }
        drop(writer);
        drop(checkpointer);
        // Reopened from the files alone: every row is there, the file is sound.
        let reopened = open(&path);
        assert_eq!(count(&reopened), 300);
        assert_eq!(integrity(&reopened), "ok");
    }

    #[test]
    fn a_wal_left_behind_by_a_connection_that_never_closed_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let wal = dir.path().join("s.sqlite-wal");
        {
            let writer = open(&path);
            for n in 0..50i64 {
                writer
                    .execute(
                        "INSERT INTO t (k, v) VALUES (?1, randomblob(300))",
                        params![format!("k{n}")],
                    )
                    .unwrap();
            }
            // A crash: the WAL as it is on disk now, copied before the connection closes
            // (closing would checkpoint it into the database and delete it).
            std::fs::copy(&path, dir.path().join("crashed.sqlite")).unwrap();
            std::fs::copy(&wal, dir.path().join("crashed.sqlite-wal")).unwrap();
        }
        let recovered = open(&dir.path().join("crashed.sqlite"));
        assert_eq!(count(&recovered), 50, "every commit is in the WAL on disk");
        assert_eq!(integrity(&recovered), "ok");
    }
}
