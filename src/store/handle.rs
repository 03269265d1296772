//! `StoreHandle`: the async face of the store. One dedicated thread owns the connection and
//! runs jobs in the order they are sent, so a caller that awaits its last write knows every
//! earlier write is done, and the async runtime's workers never wait on SQLite.

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
    jobs: mpsc::Sender<Job>,
    path: std::path::PathBuf,
    progress: Arc<Mutex<Progress>>,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle").field("path", &self.path).finish()
    }
}

impl StoreHandle {
    /// Moves the store onto its own thread; the thread ends when the last handle is dropped.
    pub fn spawn(mut store: Store) -> Result<StoreHandle, StoreError> {
        let path = store.path().to_owned();
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("geminal-store".into())
            .spawn(move || {
                for job in queue {
                    job(&mut store);
                }
            })
            .map_err(|e| StoreError::io(&path, &e))?;
        Ok(StoreHandle { jobs, path, progress: Arc::default() })
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
        self.jobs
            .send(Box::new(move |store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| StoreError::Closed)?;
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
        let _ = self.jobs.send(Box::new(move |store| {
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
