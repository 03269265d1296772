//! A fake MCP server of our own (`geminal fake-mcp`, hidden), on rmcp's server side, over stdio
//! or Streamable HTTP on loopback, for tests: `echo`, `add`, `env` (its environment, to prove no
//! key leaks), `write_note` (writes a file), `slow` (sleeps; a cancellation is recorded),
//! `crash` (says why on stderr and exits mid-call), `image` (a small PNG), `nested` (a schema
//! with `$ref`s and `additionalProperties`), `unlock` (offers `secret` from then on and says so
//! with `notifications/tools/list_changed`). As strict as a real server: arguments are checked
//! against each tool's schema (unknown or missing fields refused).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, CancelledNotificationParam, ContentBlock, ErrorData, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// A 1×1 PNG.
pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// The line `crash` writes to stderr before it exits.
pub const CRASH_LINE: &str = "fake-mcp: crashing on purpose";

#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// Never answer the handshake.
    pub hang_at_start: bool,
    /// Where its pid (at start), each `notifications/cancelled` and each `slow` call's end are
    /// written, a line each.
    pub record: Option<PathBuf>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoArgs {
    /// The text to send back.
    pub text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddArgs {
    pub a: i64,
    pub b: i64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteArgs {
    /// The file to write.
    pub path: String,
    pub text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowArgs {
    pub millis: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inner {
    pub deep: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NestedArgs {
    pub inner: Inner,
    pub maybe: Option<Inner>,
}

#[derive(Clone)]
pub struct FakeMcp {
    tool_router: ToolRouter<Self>,
    record: Option<Arc<PathBuf>>,
    /// `secret` is offered (after `unlock`).
    unlocked: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeMcp {
    pub fn new(options: &FakeOptions) -> FakeMcp {
        FakeMcp {
            tool_router: Self::tool_router(),
            record: options.record.clone().map(Arc::new),
            unlocked: Arc::default(),
        }
    }

    /// The tools offered now: `secret` only once unlocked.
    fn router(&self) -> ToolRouter<Self> {
        let mut router = self.tool_router.clone();
        if !self.unlocked.load(std::sync::atomic::Ordering::SeqCst) {
            router.remove_route("secret");
        }
        router
    }

    fn record(&self, line: &str) {
        if let Some(path) = &self.record
            && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path.as_ref())
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

#[tool_router]
impl FakeMcp {
    #[tool(description = "Sends the text back.")]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    #[tool(description = "Adds two integers.")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> Result<CallToolResult, ErrorData> {
        let sum = a.checked_add(b).ok_or_else(|| ErrorData::invalid_params("the sum overflows", None))?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(sum.to_string())]);
        result.structured_content = Some(serde_json::json!({ "sum": sum }));
        Ok(result)
    }

    #[tool(description = "Returns this server's environment variables as JSON.")]
    fn env(&self, Parameters(Empty {}): Parameters<Empty>) -> String {
        let vars: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        serde_json::to_string(&vars).unwrap_or_default()
    }

    #[tool(description = "Writes a note to a file.")]
    fn write_note(&self, Parameters(args): Parameters<NoteArgs>) -> CallToolResult {
        match std::fs::write(&args.path, &args.text) {
            Ok(()) => CallToolResult::success(vec![ContentBlock::text(format!("wrote {}", args.path))]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!("could not write {}: {e}", args.path))]),
        }
    }

    #[tool(description = "Waits, then answers; notices being cancelled.")]
    async fn slow(&self, Parameters(args): Parameters<SlowArgs>, ct: CancellationToken) -> String {
        self.record("slow started");
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(args.millis)) => {
                self.record("slow finished");
                "done".to_owned()
            }
            () = ct.cancelled() => {
                self.record("slow cancelled");
                "cancelled".to_owned()
            }
        }
    }

    #[tool(description = "Exits in the middle of the call.")]
    fn crash(&self, Parameters(Empty {}): Parameters<Empty>) -> String {
        eprintln!("{CRASH_LINE}");
        // The point of this tool: a server process that dies mid-call (it runs only in `fake-mcp`).
        std::process::exit(3);
    }

    #[tool(description = "Returns a 1x1 PNG.")]
    fn image(&self, Parameters(Empty {}): Parameters<Empty>) -> CallToolResult {
        let data = base64::engine::general_purpose::STANDARD.encode(PIXEL_PNG);
        CallToolResult::success(vec![ContentBlock::text("a pixel"), ContentBlock::image(data, "image/png")])
    }

    #[tool(description = "Offers one more tool, secret, from now on.")]
    async fn unlock(&self, Parameters(Empty {}): Parameters<Empty>, context: RequestContext<RoleServer>) -> String {
        self.unlocked.store(true, std::sync::atomic::Ordering::SeqCst);
        match context.peer.notify_tool_list_changed().await {
            Ok(()) => "unlocked".to_owned(),
            Err(e) => format!("unlocked, but the client was not told: {e}"),
        }
    }

    #[tool(description = "Says the secret (offered only after unlock).")]
    fn secret(&self, Parameters(Empty {}): Parameters<Empty>) -> String {
        "open sesame".to_owned()
    }

    #[tool(description = "Takes nested objects.")]
    fn nested(&self, Parameters(args): Parameters<NestedArgs>) -> String {
        format!("{} {}", args.inner.deep, args.maybe.is_some())
    }
}

#[tool_handler(router = self.router())]
impl ServerHandler for FakeMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_instructions("geminal's fake MCP server")
    }

    async fn on_cancelled(&self, notification: CancelledNotificationParam, _context: NotificationContext<RoleServer>) {
        let id = notification.request_id.map(|id| id.to_string()).unwrap_or_default();
        self.record(&format!("notifications/cancelled {id}"));
    }
}

/// Serves on stdin/stdout until the client goes.
pub async fn serve_stdio(options: FakeOptions) -> std::io::Result<()> {
    eprintln!("fake-mcp: started");
    FakeMcp::new(&options).record(&format!("pid {}", std::process::id()));
    if options.hang_at_start {
        eprintln!("fake-mcp: hanging at start");
        std::future::pending::<()>().await;
    }
    let running = FakeMcp::new(&options).serve(rmcp::transport::stdio()).await.map_err(std::io::Error::other)?;
    let _ = running.waiting().await;
    Ok(())
}

/// Serves Streamable HTTP on a loopback port; returns its address (`http://127.0.0.1:PORT/mcp`)
/// and the token that stops it.
pub async fn serve_http(options: FakeOptions) -> std::io::Result<(String, CancellationToken)> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let stop = CancellationToken::new();
    let config = StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token());
    let service: StreamableHttpService<FakeMcp, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(FakeMcp::new(&options)), Default::default(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://{}/mcp", listener.local_addr()?);
    let stopped = stop.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                () = stopped.cancelled() => return,
                accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
            };
            // As a real server should: no Nagle stall between a response's small writes.
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            tokio::spawn(async move {
                let handler = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    async move { Ok::<_, std::convert::Infallible>(service.handle(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), handler)
                    .await;
            });
        }
    });
    Ok((address, stop))
}
