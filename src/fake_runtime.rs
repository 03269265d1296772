//! A loopback fake server on a runtime of its own, in a background thread, for synchronous
//! tests and `serve-fake`: shared by the Gemini and the OpenAI-compatible fakes.

use std::future::Future;

/// The thread a fake runs on; dropping it stops the runtime and waits for the thread.
pub(crate) struct RuntimeThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `start` on a new two-worker runtime in thread `name`: what it started, and the thread
/// that keeps it running.
pub(crate) fn start_in_thread<T, F, Fut>(name: &str, start: F) -> std::io::Result<(T, RuntimeThread)>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = std::io::Result<T>>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        runtime.block_on(async move {
            let _ = ready_tx.send(start().await);
            let _ = stop_rx.await;
        });
    })?;
    let started = ready_rx.recv().map_err(std::io::Error::other)??;
    Ok((started, RuntimeThread { stop: Some(stop_tx), thread: Some(thread) }))
}
