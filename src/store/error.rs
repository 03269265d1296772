//! `StoreError`: what went wrong with the history database, as one sentence with the fix.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error(
        "The history database {path} was written by a newer geminal (schema {found}, this one knows up to {supported}): upgrade geminal, or use another file with --db."
    )]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error(
        "The history database {path} is damaged: run `geminal history repair` to keep what can still be read, or move the file away to start a new one."
    )]
    Corrupt { path: PathBuf },
    #[error("The history database {path} is locked by {holders}: close it or try again in a moment.")]
    Locked { path: PathBuf, holders: String },
    #[error(
        "The disk holding the history database {path} is full: free some space; what was saved before stays, the latest changes were not saved."
    )]
    DiskFull { path: PathBuf },
    #[error("The history database {path} is read-only: check its permissions, or use another file with --db.")]
    ReadOnly { path: PathBuf },
    #[error(
        "The history database {path} could not be upgraded ({reason}); it was left unchanged: report this, or use another file with --db."
    )]
    Migration { path: PathBuf, reason: String },
    #[error("The directory {dir} for the history database does not exist: create it or choose another --db path.")]
    NoDirectory { dir: PathBuf },
    #[error("The history database {path} could not be opened ({reason}): check the path and its permissions.")]
    Io { path: PathBuf, reason: String },
    #[error("The backup {path} could not be written ({reason}): check the path and free space.")]
    Backup { path: PathBuf, reason: String },
    #[error("The search {query:?} is not valid ({reason}): use words, \"quoted phrases\", prefix* and AND/OR/NOT.")]
    BadQuery { query: String, reason: String },
    #[error("There is no conversation {id}: run `geminal history` to list them.")]
    NoConversation { id: i64 },
    #[error("There is no message {id} in the history (it may have been deleted): reopen the conversation.")]
    NoMessage { id: i64 },
    #[error(
        "The history database {path} failed ({reason}): try again; if it persists, check the file with another SQLite tool."
    )]
    Sqlite { path: PathBuf, reason: String },
    #[error("This search was replaced by a newer one before it finished.")]
    Cancelled,
    #[error(
        "The history database stopped working: the program is shutting down or the database thread failed; try again."
    )]
    Closed,
}

impl StoreError {
    pub fn io(path: &Path, e: &std::io::Error) -> Self {
        StoreError::Io { path: path.to_owned(), reason: e.kind().to_string() }
    }

    pub fn from_sqlite(path: &Path, e: rusqlite::Error) -> Self {
        let path = path.to_owned();
        // Our columns hold only what we wrote: text that is not UTF-8, a value of the wrong type
        // or an unknown role/status can only come from damage to the file.
        if matches!(
            e,
            rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::Utf8Error(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
        ) {
            return StoreError::Corrupt { path };
        }
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                let holders = holders_of(&path);
                StoreError::Locked { path, holders }
            }
            Some(ErrorCode::OperationInterrupted) => StoreError::Cancelled,
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path },
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                StoreError::Io { path, reason: "cannot open the file".to_owned() }
            }
            _ => StoreError::Sqlite { path, reason: crate::sanitize::one_line(&e.to_string(), 120) },
        }
    }
}

/// Which processes hold the database open ("process 4242 (geminal)"), read from /proc on
/// Linux; elsewhere, or when nothing is found, "another program".
fn holders_of(path: &Path) -> String {
    let found = holders_from_proc(path);
    if found.is_empty() { "another program".to_owned() } else { found.join(", ") }
}

#[cfg(target_os = "linux")]
fn holders_from_proc(path: &Path) -> Vec<String> {
    let Ok(target) = std::fs::canonicalize(path) else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target));
        if holds {
            let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            found.push(format!("process {pid} ({})", crate::sanitize::one_line(name.trim(), 32)));
        }
        if found.len() >= 3 {
            break;
        }
    }
    found
}

#[cfg(not(target_os = "linux"))]
fn holders_from_proc(_: &Path) -> Vec<String> {
    Vec::new()
}
