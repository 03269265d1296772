//! `StoreHandle`: the async face of the store. One dedicated thread owns the connection and
//! runs jobs in the order they are sent, so a caller that awaits its last write knows every
//! earlier write is done, and the async runtime's workers never wait on SQLite. Dropping the
//! last handle finishes the queued jobs, closes the store (releasing its writer lock) and joins
//! the thread, so a process that drops its handles before exiting leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};

use super::{MessageUpdate, Store, StoreError};

type Job = Box<dyn FnOnce(&mut Store) + Send>;
type OnError = Box<dyn FnOnce(StoreError) + Send>;

/// Progressive saves waiting for the store thread, newest per message, and whether a job to
/// write them is already queued.
#[derive(Default)]
struct Progress {
    updates: HashMap<i64, (MessageUpdate, OnError)>,
    queued: bool,
}

#[derive(Clone)]
pub struct StoreHandle {
    thread: Arc<StoreThread>,
    path: std::path::PathBuf,
    progress: Arc<Mutex<Progress>>,
}

/// The store thread and the only sender of its queue; dropped with the last handle.
struct StoreThread {
    jobs: Option<mpsc::Sender<Job>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl StoreThread {
    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.as_ref().ok_or(StoreError::Closed)?.send(job).map_err(|_| StoreError::Closed)
    }
}

impl Drop for StoreThread {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop once the jobs already sent are done.
        drop(self.jobs.take());
        if let Some(join) = self.join.take()
            && join.thread().id() != std::thread::current().id()
        {
            // The store (and its writer lock) is dropped on that thread before it ends.
            let _ = join.join();
        }
    }
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle").field("path", &self.path).finish()
    }
}

impl StoreHandle {
    /// Moves the store onto its own thread. Dropping the last handle waits for the jobs
    /// already queued, closes the store and joins the thread (unless it is dropped on that
    /// thread itself, by a job holding a handle: then the thread ends on its own).
    pub fn spawn(mut store: Store) -> Result<StoreHandle, StoreError> {
        let path = store.path().to_owned();
        let (jobs, queue) = mpsc::channel::<Job>();
        let join = std::thread::Builder::new()
            .name("geminal-store".into())
            .spawn(move || {
                for job in queue {
                    job(&mut store);
                }
            })
            .map_err(|e| StoreError::io(&path, &e))?;
        let thread = StoreThread { jobs: Some(jobs), join: Some(join) };
        Ok(StoreHandle { thread: Arc::new(thread), path, progress: Arc::default() })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs `f` on the store thread and waits for its result.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.thread.send(Box::new(move |store| {
            let _ = tx.send(f(store));
        }))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Saves a growing answer without waiting. Saves of many answers that arrive while the
    /// store is busy are written together in one transaction, and a newer save of a message
    /// replaces an older one still waiting, so a thousand streams cost a few commits, not
    /// thousands. Saves are written before any job queued after them.
    pub fn save_progress(&self, id: i64, update: MessageUpdate, on_error: impl FnOnce(StoreError) + Send + 'static) {
        let Ok(mut progress) = self.progress.lock() else { return };
        progress.updates.insert(id, (update, Box::new(on_error)));
        if std::mem::replace(&mut progress.queued, true) {
            return;
        }
        drop(progress);
        let pending = self.progress.clone();
        let _ = self.thread.send(Box::new(move |store| {
            let batch = match pending.lock() {
                Ok(mut p) => {
                    p.queued = false;
                    std::mem::take(&mut p.updates)
                }
                Err(_) => return,
            };
            let (updates, callbacks): (Vec<_>, Vec<_>) = batch.into_iter().map(|(id, (u, cb))| ((id, u), cb)).unzip();
            if let Err(e) = store.update_messages(&updates) {
                for callback in callbacks {
                    callback(e.clone());
                }
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writers_dir(home: &tempfile::TempDir) -> std::path::PathBuf {
        home.path().join("history.sqlite3.writers")
    }

    fn open(home: &tempfile::TempDir) -> StoreHandle {
        let (store, _) = Store::open(&home.path().join("history.sqlite3")).unwrap();
        StoreHandle::spawn(store).unwrap()
    }

    #[tokio::test]
    async fn dropping_the_last_handle_closes_the_store_and_removes_its_lock() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let other = handle.clone();
        handle.call(|s| s.list_conversations(10, 0)).await.unwrap();
        assert_eq!(std::fs::read_dir(writers_dir(&home)).unwrap().count(), 1);
        drop(handle);
        assert!(writers_dir(&home).exists(), "another handle still uses the store");
        other.save_progress(1, MessageUpdate::default(), |_| {});
        drop(other);
        assert!(!writers_dir(&home).exists(), "the lock is gone as soon as the last handle is");
    }

    #[test]
    fn a_last_handle_dropped_on_the_store_thread_does_not_wait_for_itself() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let inner = handle.clone();
        let (go, wait) = mpsc::channel::<()>();
        handle
            .thread
            .send(Box::new(move |_| {
                let _ = wait.recv();
                drop(inner);
            }))
            .unwrap();
        drop(handle);
        go.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while writers_dir(&home).exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!writers_dir(&home).exists(), "the thread ended and closed the store");
    }
}
