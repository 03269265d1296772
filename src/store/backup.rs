//! Copies of the history a user can keep: `history backup` (SQLite's online backup, so the
//! copy is consistent while other processes write) and the checkpoint at close that leaves the
//! main file whole on its own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::{BUSY_TIMEOUT, Store, StoreError, create_private_file};

/// How long closing waits for other connections' readers before leaving the rest of the WAL to
/// the next close: a checkpoint must never hold up a program that is exiting.
const CLOSE_CHECKPOINT_WAIT: Duration = Duration::from_millis(200);

impl Store {
    /// Writes a standalone copy of the database to `dest` (0600), replacing a file already
    /// there only after the copy is complete. Other processes may read and write meanwhile.
    pub fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        let failed = |reason: String| StoreError::Backup { path: dest.to_owned(), reason };
        if same_file(self.path(), dest) {
            return Err(failed("it is the history database itself".to_owned()));
        }
        let tmp = temp_beside(dest);
        let _ = std::fs::remove_file(&tmp);
        create_private_file(&tmp).map_err(|e| failed(e.kind().to_string()))?;
        let copied = copy_into(&self.conn, &tmp).map_err(|e| failed(crate::sanitize::one_line(&e.to_string(), 120)));
        let renamed = copied.and_then(|()| std::fs::rename(&tmp, dest).map_err(|e| failed(e.kind().to_string())));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed
    }

    /// Copies the WAL into the main file and empties it, so the database file alone holds
    /// everything. SQLite does this itself only when the last connection to the file closes;
    /// another process (or a second connection of ours) still open would leave it all in -wal.
    pub(super) fn checkpoint_at_close(&self) {
        let _ = self.conn.busy_timeout(CLOSE_CHECKPOINT_WAIT);
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

fn copy_into(source: &Connection, tmp: &Path) -> rusqlite::Result<()> {
    let mut dest = Connection::open(tmp)?;
    let backup = Backup::new(source, &mut dest)?;
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            _ if Instant::now() > deadline => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("the database stayed busy".to_owned()),
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// `.<name>.tmp-<pid>` in the same directory as `dest`, so the final rename stays on one file system.
fn temp_beside(dest: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(dest.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    dest.with_file_name(name)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_never_replaces_the_database_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let (store, _) = Store::open(&path).unwrap();
        let err = store.backup_to(&dir.path().join("./h.sqlite3")).unwrap_err();
        assert!(matches!(err, StoreError::Backup { .. }), "{err}");
        assert!(!dir.path().join(".h.sqlite3.tmp-".to_owned() + &std::process::id().to_string()).exists());
    }
}
