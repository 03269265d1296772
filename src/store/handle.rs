//! `StoreHandle`: the async face of the store. One dedicated thread owns the connection and
//! runs jobs in the order they are sent, so a caller that awaits its last write knows every
//! earlier write is done, and the async runtime's workers never wait on SQLite.

use std::sync::mpsc;

use super::{Store, StoreError};

type Job = Box<dyn FnOnce(&mut Store) + Send>;

#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
    path: std::path::PathBuf,
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
        Ok(StoreHandle { jobs, path })
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

    /// Queues `f` without waiting; a failure is reported through `on_error` on the store thread.
    pub fn send(
        &self,
        f: impl FnOnce(&mut Store) -> Result<(), StoreError> + Send + 'static,
        on_error: impl FnOnce(StoreError) + Send + 'static,
    ) {
        let queued = self.jobs.send(Box::new(move |store| {
            if let Err(e) = f(store) {
                on_error(e);
            }
        }));
        if queued.is_err() {
            // The store thread is gone; callers learn it on their next `call`.
        }
    }
}
