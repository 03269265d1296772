//! One configured MCP server: started on first use behind its own lock (so one that hangs at
//! start holds up only its own callers, and them no longer than its `timeout_secs`), restarted
//! once after it stops, then reported stopped with its last stderr line. A program runs in its
//! own process group with a minimal environment, its stderr going to a bounded log file; the
//! group is killed when the server is dropped, and by [`super::stop_all`] when geminal exits.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::{ServiceExt, transport::StreamableHttpClientTransport};
use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;
use tokio_util::sync::CancellationToken;

use super::settings::ServerSettings;
use super::{StartError, children};
use crate::tools::ToolFailure;

/// A server's log stops growing past this; it is started over (the newest lines are kept).
pub const LOG_MAX_BYTES: u64 = 1024 * 1024;
/// Starts at most: the first and one restart.
const MAX_STARTS: u32 = 2;

pub(crate) struct Server {
    pub name: String,
    pub settings: ServerSettings,
    log: Option<PathBuf>,
    slot: tokio::sync::Mutex<Slot>,
    last_stderr: Arc<Mutex<Option<String>>>,
}

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Conn>>,
    starts: u32,
    /// Why it no longer starts (set once its starts are used up).
    stopped: Option<StartError>,
    /// Why its last start failed, if it did.
    failed: Option<StartError>,
}

/// What geminal hears from a server besides answers: that its tools changed
/// (`notifications/tools/list_changed`), so they are listed again before they are next offered.
#[derive(Clone, Default)]
struct Listener {
    tools_changed: Arc<AtomicBool>,
}

impl rmcp::ClientHandler for Listener {
    fn on_tool_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.tools_changed.store(true, Ordering::SeqCst);
        std::future::ready(())
    }
}

pub(crate) struct Conn {
    service: RunningService<RoleClient, Listener>,
    /// Its tools as last listed (again after it said they changed).
    tools: tokio::sync::Mutex<Arc<Vec<Tool>>>,
    tools_changed: Arc<AtomicBool>,
    exited: Arc<AtomicBool>,
    exit_seen: Arc<tokio::sync::Notify>,
    group: Option<children::Group>,
}

impl Conn {
    fn alive(&self) -> bool {
        !self.exited.load(Ordering::SeqCst) && !self.service.is_transport_closed()
    }

    /// Its tools: as listed at its start, or listed again when it said they changed since.
    pub async fn tools(&self) -> Result<Arc<Vec<Tool>>, StartError> {
        let mut tools = self.tools.lock().await;
        if self.tools_changed.swap(false, Ordering::SeqCst) {
            match self.service.list_all_tools().await {
                Ok(fresh) => *tools = Arc::new(fresh),
                Err(e) => {
                    // Asked again next time.
                    self.tools_changed.store(true, Ordering::SeqCst);
                    return Err(StartError::Handshake(e.to_string()));
                }
            }
        }
        Ok(tools.clone())
    }

    /// The process group's leader id (a program server).
    pub fn pid(&self) -> Option<u32> {
        self.group.as_ref().map(children::Group::id)
    }
}

impl Server {
    pub fn new(name: String, settings: ServerSettings, log: Option<PathBuf>) -> Server {
        Server { name, settings, log, slot: tokio::sync::Mutex::default(), last_stderr: Arc::default() }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_secs())
    }

    pub fn last_stderr(&self) -> Option<String> {
        self.last_stderr.lock().ok().and_then(|l| l.clone())
    }

    /// The running connection, started (or restarted, once) as needed, within the timeout.
    pub async fn conn(&self) -> Result<Arc<Conn>, StartError> {
        let secs = self.settings.timeout_secs();
        let get = async {
            let mut slot = self.slot.lock().await;
            if let Some(conn) = &slot.conn {
                if conn.alive() {
                    return Ok(conn.clone());
                }
                slot.conn = None;
            }
            if let Some(stopped) = &slot.stopped {
                return Err(stopped.clone());
            }
            if slot.starts >= MAX_STARTS {
                // A server that never started says why; one that ran says its last words.
                let stopped = slot.failed.clone().unwrap_or(StartError::Stopped { last_stderr: self.last_stderr() });
                slot.stopped = Some(stopped.clone());
                return Err(stopped);
            }
            slot.starts += 1;
            // A start cut short by the timeout is remembered as one.
            slot.failed = Some(StartError::TimedOut(secs));
            match self.start().await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    slot.failed = None;
                    slot.conn = Some(conn.clone());
                    Ok(conn)
                }
                Err(e) => {
                    slot.failed = Some(e.clone());
                    Err(e)
                }
            }
        };
        tokio::time::timeout(self.timeout(), get).await.unwrap_or(Err(StartError::TimedOut(secs)))
    }

    async fn start(&self) -> Result<Conn, StartError> {
        let exited = Arc::new(AtomicBool::new(false));
        let exit_seen = Arc::new(tokio::sync::Notify::new());
        let listener = Listener::default();
        let tools_changed = listener.tools_changed.clone();
        let (service, child) = if let Some(url) = &self.settings.url {
            let mut headers = std::collections::HashMap::new();
            for (key, value) in &self.settings.headers {
                let (Ok(key), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(key.as_bytes()),
                    reqwest::header::HeaderValue::from_str(value),
                ) else {
                    return Err(StartError::Spawn(format!("header {key} is not valid")));
                };
                headers.insert(key, value);
            }
            let config =
                rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(headers);
            let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
            let service = listener.serve(transport).await.map_err(|e| StartError::Handshake(e.to_string()))?;
            (service, None)
        } else {
            let command = self.settings.command.as_deref().unwrap_or_default();
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(&self.settings.args)
                .env_clear()
                .envs(self.settings.child_env(std::env::vars()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            #[cfg(unix)]
            cmd.process_group(0);
            if let Some(cwd) = &self.settings.cwd {
                cmd.current_dir(cwd);
            }
            let mut child = cmd.spawn().map_err(|e| StartError::Spawn(spawn_reason(command, &e)))?;
            let group = children::Group::new(child.id().unwrap_or_default());
            let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
                return Err(StartError::Spawn("its stdin or stdout could not be opened".into()));
            };
            let stderr_done = Arc::new(tokio::sync::Notify::new());
            if let Some(stderr) = child.stderr.take() {
                tokio::spawn(log_stderr(stderr, self.log.clone(), self.last_stderr.clone(), stderr_done.clone()));
            } else {
                stderr_done.notify_one();
            }
            {
                let (exited, exit_seen) = (exited.clone(), exit_seen.clone());
                tokio::spawn(async move {
                    let _ = child.wait().await;
                    // Its last words are read before anyone is told it stopped.
                    let _ = tokio::time::timeout(Duration::from_millis(500), stderr_done.notified()).await;
                    exited.store(true, Ordering::SeqCst);
                    exit_seen.notify_waiters();
                });
            }
            let service = match listener.serve((stdout, stdin)).await {
                Ok(service) => service,
                Err(e) => {
                    // Gone before it answered: what it said says why.
                    let _ = tokio::time::timeout(Duration::from_secs(1), exit_seen.notified()).await;
                    return Err(match self.last_stderr() {
                        Some(line) => StartError::Stopped { last_stderr: Some(line) },
                        None => StartError::Handshake(e.to_string()),
                    });
                }
            };
            (service, Some(group))
        };
        // A change said while they are listed is heard again at the next listing.
        tools_changed.store(false, Ordering::SeqCst);
        let tools = service.list_all_tools().await.map_err(|e| StartError::Handshake(e.to_string()))?;
        let tools = tokio::sync::Mutex::new(Arc::new(tools));
        Ok(Conn { service, tools, tools_changed, exited, exit_seen, group: child })
    }

    /// One call by the server's own tool name, under its timeout, stopped when `cancel` fires
    /// (dropping the request tells the server with `notifications/cancelled`).
    pub async fn call(
        &self,
        tool: &str,
        arguments: &Value,
        cancel: CancellationToken,
    ) -> Result<CallToolResult, ToolFailure> {
        let secs = self.settings.timeout_secs();
        let conn = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(ToolFailure::Cancelled),
            conn = self.conn() => conn.map_err(|e| self.failure(e))?,
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        match arguments {
            Value::Object(map) => params = params.with_arguments(map.clone()),
            Value::Null => {}
            _ => return Err(ToolFailure::Failed("the arguments are not a JSON object".into())),
        }
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(ToolFailure::Cancelled),
            result = tokio::time::timeout(self.timeout(), conn.service.call_tool(params)) => result,
        };
        match result {
            Err(_) => Err(ToolFailure::TimedOut(secs)),
            Ok(Ok(result)) => Ok(result),
            Ok(Err(ServiceError::McpError(e))) => Err(ToolFailure::Failed(e.message.into_owned())),
            Ok(Err(_)) => {
                // The connection went: wait for the process's end (and its last stderr line).
                if conn.group.is_some() && !conn.exited.load(Ordering::SeqCst) {
                    let seen = conn.exit_seen.notified();
                    let _ = tokio::time::timeout(Duration::from_secs(2), seen).await;
                }
                Err(ToolFailure::ServerStopped { server: self.name.clone(), last_stderr: self.last_stderr() })
            }
        }
    }

    fn failure(&self, e: StartError) -> ToolFailure {
        match e {
            StartError::TimedOut(secs) => ToolFailure::TimedOut(secs),
            StartError::Stopped { last_stderr } => {
                ToolFailure::ServerStopped { server: self.name.clone(), last_stderr }
            }
            StartError::Spawn(reason) | StartError::Handshake(reason) => {
                ToolFailure::ServerStopped { server: self.name.clone(), last_stderr: Some(reason) }
            }
        }
    }

    /// Stops it now (the next use starts it again, within its starts).
    pub async fn stop(&self) {
        if let Some(conn) = self.slot.lock().await.conn.take() {
            conn.service.cancellation_token().cancel();
        }
    }
}

fn spawn_reason(command: &str, e: &std::io::Error) -> String {
    let command = crate::sanitize::one_line(command, 80);
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("{command} was not found"),
        std::io::ErrorKind::PermissionDenied => format!("{command} may not be run (permission denied)"),
        _ => format!("{command} could not be started ({e})"),
    }
}

/// Copies a server's stderr to its log (started over past [`LOG_MAX_BYTES`]) and keeps its
/// last non-empty line, sanitized.
async fn log_stderr(
    stderr: impl tokio::io::AsyncRead + Unpin,
    log: Option<PathBuf>,
    last: Arc<Mutex<Option<String>>>,
    done: Arc<tokio::sync::Notify>,
) {
    let mut file = log.as_ref().and_then(|path| open_log(path));
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let (Some(f), Some(path)) = (&mut file, &log) {
            if f.metadata().map(|m| m.len()).unwrap_or(0) > LOG_MAX_BYTES {
                *f = match std::fs::File::create(path) {
                    Ok(f) => f,
                    Err(_) => continue,
                };
            }
            let _ = writeln!(f, "{line}");
        }
        if !line.trim().is_empty()
            && let Ok(mut last) = last.lock()
        {
            *last = Some(crate::sanitize::one_line(&line, 300));
        }
    }
    done.notify_one();
}

fn open_log(path: &std::path::Path) -> Option<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).ok()?;
    // A new run starts its log over when the old one is too long.
    if file.metadata().map(|m| m.len()).unwrap_or(0) > LOG_MAX_BYTES {
        return std::fs::File::create(path).ok();
    }
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stderr_goes_to_a_bounded_log_and_its_last_line_is_kept_sanitized() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("mcp/fs.log");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        // A log already past the bound is started over.
        std::fs::write(&log, vec![b'x'; usize::try_from(LOG_MAX_BYTES).unwrap() + 1]).unwrap();
        let last = Arc::new(Mutex::new(None));
        let done = Arc::new(tokio::sync::Notify::new());
        let said: &[u8] = b"starting\n\x1b[31mfailed: no such dir\x1b[0m\n\n";
        log_stderr(said, Some(log.clone()), last.clone(), done.clone()).await;
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "starting\n\x1b[31mfailed: no such dir\x1b[0m\n\n");
        let last = last.lock().unwrap().clone().unwrap();
        assert!(last.contains("failed: no such dir") && !last.contains('\x1b'), "{last:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            let fresh = dir.path().join("mcp/new.log");
            log_stderr(&b"hello\n"[..], Some(fresh.clone()), Arc::default(), done).await;
            assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o077, 0);
        }
    }
}
