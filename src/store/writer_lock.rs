//! Which process is writing a streaming answer. Each writer holds an exclusive lock on a file
//! of its own beside the database for its whole life; a `streaming` row whose writer's lock
//! can be taken belongs to a process that died, so its answer is interrupted, not in progress.
//! (Two geminal processes may share one database: neither mistakes the other's live answer.)
//! The directory and its files are private (0700, 0600), as the database beside them is.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct WriterLock {
    id: String,
    path: PathBuf,
    _file: File,
}

fn dir_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".writers");
    db.with_file_name(name)
}

impl WriterLock {
    pub fn acquire(db: &Path) -> std::io::Result<WriterLock> {
        let dir = dir_for(db);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let id = format!("{}-{nanos}", std::process::id());
        let path = dir.join(&id);
        // Another process may remove the directory (its last writer leaving) between our
        // creating it and our file: then create it again.
        let mut tries = 0;
        let file = loop {
            super::create_private_dir(&dir)?;
            let mut options = OpenOptions::new();
            options.create(true).truncate(true).write(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => tries += 1,
                other => break other?,
            }
        };
        file.lock()?;
        Ok(WriterLock { id, path, _file: file })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether writer `id` still runs: its lock file exists and is held.
    pub fn is_alive(db: &Path, id: &str) -> bool {
        if id.contains(['/', '\\']) || id.starts_with('.') {
            return false;
        }
        let Ok(file) = File::open(dir_for(db).join(id)) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// Whether any writer of `db` still runs.
    pub fn any_alive(db: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir_for(db)) else {
            return false;
        };
        entries.flatten().any(|e| e.file_name().to_str().is_some_and(|id| WriterLock::is_alive(db, id)))
    }

    /// Removes the lock file of a writer known to be gone.
    pub fn forget(db: &Path, id: &str) {
        if !id.contains(['/', '\\']) && !id.starts_with('.') {
            let dir = dir_for(db);
            let _ = std::fs::remove_file(dir.join(id));
            remove_if_empty(&dir);
        }
    }
}

/// Removes the writers' directory when no writer is left in it (fails harmlessly otherwise).
fn remove_if_empty(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Remove the file while still holding its lock, so no other process can take a lock
        // on it and judge this writer dead while it is still closing.
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            remove_if_empty(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_writer_to_leave_removes_the_directory() {
        let home = tempfile::tempdir().unwrap();
        let db = home.path().join("history.sqlite3");
        let first = WriterLock::acquire(&db).unwrap();
        let second = WriterLock::acquire(&db).unwrap();
        assert!(WriterLock::is_alive(&db, first.id()) && WriterLock::is_alive(&db, second.id()));
        let first_id = first.id().to_owned();
        drop(first);
        assert!(!WriterLock::is_alive(&db, &first_id));
        assert!(dir_for(&db).is_dir(), "the second writer's file keeps it");
        drop(second);
        assert!(!dir_for(&db).exists(), "nothing left behind");
        let again = WriterLock::acquire(&db).unwrap();
        assert!(WriterLock::is_alive(&db, again.id()), "a later writer creates it again");
    }
}
