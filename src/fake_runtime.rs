//! A loopback fake server on a runtime of its own, in a background thread, for synchronous
//! tests and `serve-fake`, and the HTTP strictness both fakes share with real servers (a
//! repeated single-value header is refused), and the prompt directives that ask either fake to
//! call a tool (`[[call NAME {...}]]`): shared by the Gemini and the OpenAI-compatible fakes.

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

/// Header fields a request may carry once (RFC 9110 singletons, and the APIs' credentials and
/// upload protocol fields): a strict server (aiohttp, Google's front end) refuses a request that
/// repeats one, so the fakes do too.
pub(crate) const SINGLE_VALUE_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "authorization",
    "x-goog-api-key",
    "x-goog-upload-command",
    "x-goog-upload-offset",
    "x-goog-upload-protocol",
];

/// The first single-value header `headers` repeats, if any.
pub(crate) fn repeated_single_value_header(headers: &hyper::HeaderMap) -> Option<&'static str> {
    SINGLE_VALUE_HEADERS.iter().copied().find(|name| headers.get_all(*name).iter().count() > 1)
}

/// What a strict server answers to a repeated single-value header: 400 with a plain-text body.
pub(crate) fn repeated_header_body(name: &str) -> String {
    format!("400: Bad Request (duplicate {name} header)")
}

/// The tool-call directives of a prompt, in order: `[[call NAME {json}]]` (`repeat: false`,
/// called once) and `[[call* NAME {json}]]` (called again after every result), as
/// `(repeat, name, arguments)`; arguments that are not JSON are `{}`.
pub(crate) fn tool_directives(text: &str) -> Vec<(bool, String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[call") {
        let after = &rest[start + 6..];
        let Some(end) = after.find("]]") else { break };
        let inner = &after[..end];
        let (repeat, inner) = match inner.strip_prefix('*') {
            Some(inner) => (true, inner),
            None => (false, inner),
        };
        let inner = inner.trim();
        let (name, args) = inner.split_once(char::is_whitespace).unwrap_or((inner, "{}"));
        let args = serde_json::from_str(args.trim()).unwrap_or_else(|_| serde_json::json!({}));
        out.push((repeat, name.to_owned(), args));
        rest = &after[end + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_single_value_header_is_found_and_repeatable_ones_are_not() {
        let mut headers = hyper::HeaderMap::new();
        headers.append("accept", "text/plain".parse().unwrap());
        headers.append("accept", "application/json".parse().unwrap());
        headers.append("content-type", "application/json".parse().unwrap());
        assert_eq!(repeated_single_value_header(&headers), None);
        headers.append("content-type", "application/octet-stream".parse().unwrap());
        assert_eq!(repeated_single_value_header(&headers), Some("content-type"));
    }
}
