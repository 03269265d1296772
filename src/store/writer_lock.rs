//! Which process is writing a streaming answer. Each writer holds an exclusive lock on a file
//! of its own beside the database for its whole life; a `streaming` row whose writer's lock
//! can be taken belongs to a process that died, so its answer is interrupted, not in progress.
//! (Two geminal processes may share one database: neither mistakes the other's live answer.)

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
        std::fs::create_dir_all(&dir)?;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let id = format!("{}-{nanos}", std::process::id());
        let path = dir.join(&id);
        let file = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
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

    /// Removes the lock file of a writer known to be gone.
    pub fn forget(db: &Path, id: &str) {
        if !id.contains(['/', '\\']) && !id.starts_with('.') {
            let _ = std::fs::remove_file(dir_for(db).join(id));
        }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
