//! What the store does once it has met damage in the middle of the file (a read that hits a
//! malformed page, or a value no healthy database of ours holds): every later failure says the
//! file is damaged, nothing more is written into it, and a marker beside it (`<name>.damaged`)
//! carries that to the next process, until `history repair` or the user moves the file away.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rusqlite::config::DbConfig;

use super::{Store, StoreError, create_private_file};

/// The marker beside the database: `h.sqlite3` → `h.sqlite3.damaged`.
pub(super) fn marker_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    db.with_file_name(name)
}

/// Which file a marker speaks of, so a new database put in the damaged one's place (the user
/// moved it aside) is not taken for it.
fn identity(db: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(db).map(|m| format!("{}:{}", m.dev(), m.ino())).unwrap_or_default()
    }
    #[cfg(not(unix))]
    {
        let _ = db;
        "this file".to_owned()
    }
}

/// Whether a marker says the database at `db` is damaged; a marker left for another file is removed.
pub(super) fn is_marked(db: &Path) -> bool {
    let marker = marker_path(db);
    let Ok(text) = std::fs::read_to_string(&marker) else {
        return false;
    };
    if text.lines().next() == Some(identity(db).as_str()) {
        return true;
    }
    let _ = std::fs::remove_file(&marker);
    false
}

pub(super) fn clear_marker(db: &Path) {
    let _ = std::fs::remove_file(marker_path(db));
}

impl Store {
    /// Makes this connection read-only (and leave the WAL alone at close) once damage is
    /// known, including damage met by the other connection to the same file (the reader's).
    pub(super) fn apply_damage(&self) {
        if self.is_damaged() && !self.damage_applied.swap(true, Ordering::Relaxed) {
            let _ = self.conn.pragma_update(None, "query_only", true);
            let _ = self.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
        }
    }

    /// Passes `e` through, remembering damage: a `Corrupt` error marks the store damaged, and
    /// once it is, every failure reports the damage (a refused write is not a permissions problem).
    pub(super) fn noted(&self, e: StoreError) -> StoreError {
        if matches!(e, StoreError::Corrupt { .. }) {
            self.mark_damaged();
        }
        if self.is_damaged() { StoreError::Corrupt { path: self.path.clone() } } else { e }
    }

    pub fn is_damaged(&self) -> bool {
        self.damaged.load(Ordering::Relaxed)
    }

    /// Fails with the damage sentence when this store must not write, or the read-only one when
    /// it cannot (a file or directory without write permission, a read-only mount: SQLite then
    /// opens the file for reading only, and only the first write would tell).
    pub fn ensure_writable(&self) -> Result<(), StoreError> {
        if self.is_damaged() {
            return Err(StoreError::Corrupt { path: self.path.clone() });
        }
        if self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) || self.conn_query_only() {
            return Err(StoreError::ReadOnly { path: self.path.clone() });
        }
        Ok(())
    }

    fn conn_query_only(&self) -> bool {
        self.conn.query_row("PRAGMA query_only", [], |r| r.get::<_, bool>(0)).unwrap_or(false)
    }

    /// From now on SQLite refuses every write on this connection (`query_only`) and closing it
    /// leaves the WAL as it is, so nothing more lands in the damaged file.
    pub(super) fn mark_damaged(&self) {
        let first = !self.damaged.swap(true, Ordering::Relaxed);
        self.apply_damage();
        if first && self.path.as_os_str() != ":memory:" && !is_marked(&self.path) {
            let marker = marker_path(&self.path);
            let _ = std::fs::remove_file(&marker);
            if let Ok(mut file) = create_private_file(&marker) {
                use std::io::Write;
                let _ = writeln!(
                    file,
                    "{}\ngeminal found this history database damaged: run `geminal history repair`.",
                    identity(&self.path)
                );
            }
        }
    }
}
