//! The history database: the only code that speaks SQL. Plain synchronous rusqlite calls,
//! tested on temp files; async callers go through [`StoreHandle`], which runs them on a
//! dedicated thread so no SQLite work ever blocks the async runtime.
//!
//! Opening is careful: a database from a newer geminal is refused untouched, a corrupt file is
//! moved aside (never deleted), a backup is taken before any migration, and answers left
//! `streaming` by a process that died are marked `interrupted`, their text kept. Damage met
//! later, in the middle of the file, stops all writing until `history repair` (see `damage.rs`).
//! Commands that only read may open a file they cannot write (a read-only mount) read-only.

mod attachments;
mod backup;
mod cache;
mod clients;
mod conversations;
mod damage;
mod error;
mod handle;
mod jobs;
mod ledger;
mod metrics;
mod open_tabs;
mod prompt;
mod query;
mod rank;
mod repair;
pub mod schema;
mod search;
mod tool_calls;
mod write_tx;
mod writer_lock;

pub use crate::domain::MessageStatus;
pub use attachments::{NewAttachment, StoredAttachment};
pub use cache::{CacheStats, CachedAnswer};
pub use clients::{ClientCalls, ClientRound, ClientStats};
pub use conversations::{
    Alternatives, Conversation, ConversationSummary, MessageUpdate, NewMessage, Parent, RECALLED_PROMPT_MAX_BYTES,
    StoredMessage, title_from,
};
pub use error::StoreError;
pub use handle::StoreHandle;
pub use jobs::{BatchTurn, JobLine, JobRecord, JobUpdate, LineResult, LocalLine, LocalState, NewJob};
pub use ledger::SpendEntry;
pub use metrics::{Metric, SpendRow, SpendStats, Stats};
pub use open_tabs::OpenTab;
pub use prompt::NewPrompt;
pub use repair::Repair;
pub use search::{INDEXED_CHARS, MatchedIn, SearchHit};
pub use tool_calls::{NewToolCall, StoredToolCall, ToolCallEnd};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use writer_lock::WriterLock;

/// How long a writer waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// Things worth telling the user after opening (one sentence each).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpenReport {
    pub notices: Vec<String>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    writer: Option<WriterLock>,
    /// Set once damage was met (or marked by an earlier process): see `damage.rs`.
    /// Shared by the writer and its reader connection: damage either meets stops both.
    damaged: Arc<AtomicBool>,
    /// Whether this connection has been made read-only because of damage.
    damage_applied: AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at its default place, creating that directory (0700) first.
    pub fn open_default(path: &Path) -> Result<(Store, OpenReport), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| StoreError::io(path, &e))?;
        }
        Store::open(path)
    }

    /// Opens (creating if needed) the database at `path` for reading and writing, recovering
    /// answers left mid-stream by processes that are gone. The directory must exist: a path the
    /// user gave is never a reason to create directories.
    pub fn open(path: &Path) -> Result<(Store, OpenReport), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(StoreError::NoDirectory { dir: dir.to_owned() });
        }
        make_private(path).map_err(|e| StoreError::io(path, &e))?;
        match Store::open_once(path) {
            Err(StoreError::Corrupt { .. }) => {
                let kept = move_aside(path)?;
                damage::clear_marker(path);
                // The new database is private from its first byte, as any new one is.
                make_private(path).map_err(|e| StoreError::io(path, &e))?;
                let (store, mut report) = Store::open_once(path)?;
                report.notices.insert(
                    0,
                    format!(
                        "The history database {} was damaged; it was kept as {} and a new one was started.",
                        path.display(),
                        kept.display()
                    ),
                );
                Ok((store, report))
            }
            other => other,
        }
    }

    fn open_once(path: &Path) -> Result<(Store, OpenReport), StoreError> {
        let mut report = OpenReport::default();
        let conn = open_checked(path)?;
        // A file an earlier process found damaged is opened for reading only, and never migrated.
        let marked = damage::is_marked(path);
        if marked
            && schema::user_version(&conn).map_err(|e| StoreError::from_sqlite(path, e))? < schema::latest_version()
        {
            return Err(StoreError::Corrupt { path: path.to_owned() });
        }
        let mut store = Store {
            conn,
            path: path.to_owned(),
            writer: None,
            damaged: Arc::default(),
            damage_applied: AtomicBool::new(false),
        };
        store.prepare(&mut report)?;
        if marked {
            store.mark_damaged();
        }
        store.writer = Some(WriterLock::acquire(path).map_err(|e| StoreError::io(path, &e))?);
        let recovered = if store.is_damaged() { 0 } else { store.recover_interrupted()? };
        if recovered > 0 {
            report.notices.push(format!(
                "{recovered} answer(s) cut off when geminal last stopped were kept and marked interrupted."
            ));
        }
        Ok((store, report))
    }

    /// Opens the database at `path` for reading only, for commands that only read (`history`,
    /// `search`, `show`, `export`, `backup`) when it cannot be opened for writing: a read-only
    /// file, directory or mount. Nothing is created, changed or recovered. Where SQLite cannot
    /// create the WAL's shared-memory file beside it (a read-only directory) and no WAL is left
    /// to read, the file is read as immutable: nothing can be writing it there.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |flags: OpenFlags, at: &str| -> Result<Connection, StoreError> {
            let conn = Connection::open_with_flags(at, flags).map_err(|e| StoreError::from_sqlite(path, e))?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| StoreError::from_sqlite(path, e))?;
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
                .map_err(|e| StoreError::from_sqlite(path, e))?;
            Ok(conn)
        };
        if !path.is_file() {
            return Err(StoreError::Io { path: path.to_owned(), reason: "no such file".to_owned() });
        }
        let text = path.to_str().ok_or_else(|| StoreError::Io {
            path: path.to_owned(),
            reason: "the path is not valid UTF-8".to_owned(),
        })?;
        let conn = match open(flags, text) {
            Err(StoreError::ReadOnly { .. } | StoreError::Io { .. })
                if std::fs::metadata(side_file(path, "-wal")).map_or(true, |m| m.len() == 0) =>
            {
                open(flags | OpenFlags::SQLITE_OPEN_URI, &format!("file:{}?immutable=1", uri_escaped(text)))?
            }
            other => other?,
        };
        let version = schema::user_version(&conn).map_err(|e| StoreError::from_sqlite(path, e))?;
        let latest = schema::latest_version();
        if version > latest {
            return Err(StoreError::TooNew { path: path.to_owned(), found: version, supported: latest });
        }
        if version < latest {
            // An older schema must be upgraded before this geminal can read it: that is a write.
            return Err(StoreError::ReadOnly { path: path.to_owned() });
        }
        let _ = conn.pragma_update(None, "temp_store", "MEMORY");
        let _ = conn.pragma_update(None, "query_only", true);
        let store = Store {
            conn,
            path: path.to_owned(),
            writer: None,
            damaged: Arc::default(),
            damage_applied: AtomicBool::new(false),
        };
        if damage::is_marked(path) {
            store.mark_damaged();
        }
        Ok(store)
    }

    /// An in-memory database (tests, `--no-save` runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError::from_sqlite(Path::new(":memory:"), e))?;
        let mut store = Store {
            conn,
            path: PathBuf::from(":memory:"),
            writer: None,
            damaged: Arc::default(),
            damage_applied: AtomicBool::new(false),
        };
        store.prepare(&mut OpenReport::default())?;
        Ok(store)
    }

    /// A second, read-only connection to the same file, for reads that must not delay
    /// writes (WAL lets it read while this one writes). `None` for an in-memory database.
    pub fn open_reader(&self) -> Result<Option<Store>, StoreError> {
        // A store opened read-only has no reader: it could not open one either (see `open_read_only`).
        if self.path.as_os_str() == ":memory:" || self.writer.is_none() {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| self.err(e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.err(e))?;
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(|e| self.err(e))?;
        Ok(Some(Store {
            conn,
            path: self.path.clone(),
            writer: None,
            damaged: self.damaged.clone(),
            damage_applied: AtomicBool::new(false),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Direct access for tests and fault injection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        self.noted(StoreError::from_sqlite(&self.path, e))
    }

    /// Opens the transaction of a group commit (see `StoreHandle::call_grouped`): the writes
    /// until [`Store::end_group`] share one commit. Each member runs in a savepoint of it
    /// ([`Store::member`]), so one that fails leaves nothing while the others stay.
    pub(crate) fn begin_group(&mut self) -> Result<(), StoreError> {
        write_tx::run(&self.conn, "BEGIN IMMEDIATE").map_err(|e| self.err(e))?;
        // Search indexing waits for the group's end: one index segment per group, not per message.
        if let Err(e) = write_tx::run(&self.conn, schema::DEFER_INDEXING) {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(self.err(e));
        }
        Ok(())
    }

    /// Runs one member of a group in a savepoint of the group's transaction; its writes stay
    /// when it returns `true`, and are undone when it returns `false` (without a savepoint, which
    /// only a broken connection refuses, they share the fate of the group).
    pub(crate) fn member(&mut self, f: impl FnOnce(&mut Store) -> bool) -> bool {
        if write_tx::run(&self.conn, "SAVEPOINT grouped").is_err() {
            // No savepoint: it still runs (and answers its caller), its writes in the group's.
            return f(self);
        }
        let kept = f(self);
        let ended = if kept {
            write_tx::run(&self.conn, "RELEASE grouped")
        } else {
            write_tx::run(&self.conn, "ROLLBACK TO grouped").and_then(|()| write_tx::run(&self.conn, "RELEASE grouped"))
        };
        kept && ended.is_ok()
    }

    /// Undoes the group's transaction.
    pub(crate) fn undo_group(&mut self) -> Result<(), StoreError> {
        write_tx::run(&self.conn, "ROLLBACK").map_err(|e| self.err(e))
    }

    /// Commits the group's transaction (rolls it back if the commit fails).
    pub(crate) fn end_group(&mut self) -> Result<(), StoreError> {
        schema::INDEX_DEFERRED
            .iter()
            .try_for_each(|sql| write_tx::run(&self.conn, sql))
            .and_then(|()| write_tx::run(&self.conn, "COMMIT"))
            .map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.err(e)
            })
    }

    /// PRAGMAs, version check, backup, migrations.
    fn prepare(&mut self, report: &mut OpenReport) -> Result<(), StoreError> {
        let version = schema::user_version(&self.conn).map_err(|e| self.err(e))?;
        let latest = schema::latest_version();
        if version > latest {
            return Err(StoreError::TooNew { path: self.path.clone(), found: version, supported: latest });
        }
        let path = self.path.clone();
        let conn = &self.conn;
        let setup = || -> rusqlite::Result<()> {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if mode != "wal" && mode != "memory" {
                conn.pragma_update(None, "journal_mode", "DELETE")?;
            }
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            Ok(())
        };
        // The saved path runs some twenty statements per answer, savepoints included: keep
        // them all prepared (rusqlite's default of 16 made them evict one another).
        self.conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Two processes opening a new file at once both try to switch it to WAL; SQLite answers
        // the loser with SQLITE_BUSY at once, without consulting the busy handler, so wait here.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match setup() {
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                done => break done.map_err(|e| StoreError::from_sqlite(&path, e))?,
            }
        }
        if version < latest {
            if version > 0 && path.as_os_str() != ":memory:" {
                let backup = backup_path(&path, version);
                let _ = std::fs::remove_file(&backup);
                // VACUUM INTO accepts an empty file: create it private first.
                create_private_file(&backup).map_err(|e| StoreError::io(&backup, &e))?;
                self.conn
                    .execute("VACUUM INTO ?1", [backup.to_string_lossy()])
                    .map_err(|e| StoreError::from_sqlite(&path, e))?;
                report.notices.push(format!(
                    "The history database was upgraded; the old version is kept as {}.",
                    backup.display()
                ));
            }
            schema::migrate(&mut self.conn).map_err(|e| StoreError::Migration {
                path: path.clone(),
                reason: crate::sanitize::one_line(&e.to_string(), 120),
            })?;
        }
        Ok(())
    }

    /// Marks `streaming` rows whose writer process is gone as `interrupted`; returns how many.
    pub fn recover_interrupted(&self) -> Result<usize, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT writer FROM messages WHERE status = 'streaming'")
            .map_err(|e| self.err(e))?;
        let writers: Vec<Option<String>> =
            stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.err(e))?;
        let mine = self.writer.as_ref().map(|w| w.id().to_owned());
        let mut recovered = 0;
        for writer in writers {
            if writer.is_some() && writer == mine {
                continue;
            }
            if writer.as_deref().is_some_and(|w| WriterLock::is_alive(&self.path, w)) {
                continue;
            }
            recovered += self
                .conn
                .execute(
                    "UPDATE messages SET status = 'interrupted', writer = NULL
                     WHERE status = 'streaming' AND writer IS ?1",
                    [&writer],
                )
                .map_err(|e| self.err(e))?;
            if let Some(w) = writer {
                WriterLock::forget(&self.path, &w);
            }
        }
        Ok(recovered)
    }

    fn writer_id(&self) -> Option<&str> {
        self.writer.as_ref().map(WriterLock::id)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Only a store that writes (opened from a file, not in memory) leaves a WAL behind; a
        // damaged one leaves it untouched.
        if self.writer.is_some() && !self.is_damaged() {
            self.checkpoint_at_close();
        }
    }
}

/// Opens the file and reads enough to know it is a database we can use.
fn open_checked(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::from_sqlite(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| StoreError::from_sqlite(path, e))?;
    let probe = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
        .and_then(|_| schema::user_version(&conn));
    match probe {
        Ok(_) => Ok(conn),
        Err(e) => match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                Err(StoreError::Corrupt { path: path.to_owned() })
            }
            _ => Err(StoreError::from_sqlite(path, e)),
        },
    }
}

fn backup_path(path: &Path, version: i64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".v{version}.bak"));
    path.with_file_name(name)
}

/// Renames a damaged database (and its -wal/-shm) to `<name>.corrupt-<unix seconds>`.
fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{stamp}"));
    let kept = path.with_file_name(&name);
    std::fs::rename(path, &kept).map_err(|e| StoreError::io(path, &e))?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::rename(side_file(path, suffix), side_file(&kept, suffix));
    }
    Ok(kept)
}

/// Creates `path` as an empty file only its owner can read and write (0600 whatever the
/// umask); fails if it exists.
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // The umask may have taken bits away (0277 would leave it unwritable): set them exactly.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Makes the database private before SQLite opens it: a new file is created 0600 (SQLite then
/// creates its -wal and -shm with the same mode), and an existing database, -wal or -shm that
/// others can read is narrowed to 0600. A file we may not change (another user's) is left as is.
fn make_private(path: &Path) -> std::io::Result<()> {
    match create_private_file(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    #[cfg(unix)]
    for file in [path.as_os_str().to_owned(), side_file(path, "-wal"), side_file(path, "-shm")] {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.is_file()
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
        }
    }
    Ok(())
}

/// `path` for an SQLite `file:` URI: `%`, `?` and `#` would end or change it.
fn uri_escaped(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `path` with `suffix` appended to its file name (`h.sqlite3` → `h.sqlite3-wal`).
fn side_file(path: &Path, suffix: &str) -> std::ffi::OsString {
    let mut side = path.as_os_str().to_owned();
    side.push(suffix);
    side
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
