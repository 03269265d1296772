//! A loopback Gemini server for `--demo`, tests and benchmarks. It speaks the real wire format
//! (SSE with CRLF, pretty error JSON, pagination) and plays whatever a test scripts per request:
//! pace, length, status errors, errors inside a 200 stream, cuts, stalls, truncation, split
//! writes, thoughts, blocks and hostile text, and function calls (see `functions.rs` for the
//! prompt directives that ask for them). It binds 127.0.0.1 only.

mod batch;
mod behavior;
mod demo;
mod files;
mod functions;
mod generate;
mod grounding;
mod hostile;
mod script;

pub use batch::{BatchEnd, DEFAULT_BATCH_STEP, ResultEdit};
pub use behavior::{Answer, Behavior, Fault, LineEnding, Split};
pub use demo::demo_answer;
pub use files::{FILE_LIFETIME, FakeFile, INLINE_REQUEST_LIMIT_BYTES};
pub use grounding::ToolsAsked;
pub use hostile::{HOSTILE_PAYLOADS, hostile_answer};
pub use script::Step;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::types::{GenerateContentRequest, ListModelsResponse, Model};

type Body = BoxBody<Bytes, std::io::Error>;
type Router = Arc<dyn Fn(&RecordedRequest) -> Option<Behavior> + Send + Sync>;

/// Settings fixed for the server's life.
#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// When set, any other key gets the real 400 API_KEY_INVALID answer.
    pub api_key: Option<String>,
    /// When true, models not in [`FakeOptions::models`] get a 404.
    pub strict_models: bool,
    /// The model list; empty means [`default_models`].
    pub models: Vec<Model>,
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub id: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The body as text (empty for upload chunks, whose bytes only count in `body_len`).
    pub body: String,
    pub body_len: usize,
    pub received: Instant,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn generate_request(&self) -> Option<GenerateContentRequest> {
        serde_json::from_str(&self.body).ok()
    }

    /// The text of the last user turn.
    pub fn prompt(&self) -> String {
        self.generate_request()
            .and_then(|r| {
                r.contents.iter().rev().find(|c| c.role.as_deref() != Some("model")).map(|c| c.visible_text())
            })
            .unwrap_or_default()
    }

    /// The model id in the path, if this is a model call.
    pub fn model(&self) -> Option<&str> {
        let rest = self.path.strip_prefix("/v1beta/models/")?;
        Some(rest.split(':').next().unwrap_or(rest))
    }
}

/// How one streamed response ended, from the server's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    Completed,
    /// The client went away before the script was done.
    ClientClosed,
}

#[derive(Default)]
struct Shared {
    options: FakeOptions,
    queue: Mutex<VecDeque<Behavior>>,
    default: Mutex<Behavior>,
    router: Mutex<Option<Router>>,
    requests: Mutex<Vec<RecordedRequest>>,
    ends: Mutex<HashMap<u64, (StreamEnd, Instant)>>,
    next_id: AtomicU64,
    files: Mutex<files::Files>,
    batches: Mutex<batch::Batches>,
    /// Batch creates still to answer by cutting the connection once the job exists.
    lost_create_answers: Mutex<u32>,
    /// The function calls given, by id, with the signature each carried.
    calls: Mutex<HashMap<String, functions::Issued>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake. Dropping it stops the server.
pub struct FakeGemini {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::AbortHandle,
    _runtime: Option<crate::fake_runtime::RuntimeThread>,
}

impl Drop for FakeGemini {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FakeGemini {
    /// Starts on the current tokio runtime, on a free loopback port.
    pub async fn start(options: FakeOptions, default: Behavior) -> std::io::Result<Self> {
        // A deep accept queue: benchmarks open a thousand connections at once, and a full
        // queue costs a one-second SYN retransmit that would be measured as client latency.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let listener = socket.listen(4096)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { options, default: Mutex::new(default), ..Shared::default() });
        lock(&shared.files).processing_polls = 1;
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FakeGemini { addr, shared, accept: task.abort_handle(), _runtime: None })
    }

    /// Starts on a runtime of its own, in a background thread (for synchronous tests).
    pub fn start_in_thread(options: FakeOptions, default: Behavior) -> std::io::Result<Self> {
        let (mut fake, thread) =
            crate::fake_runtime::start_in_thread("fake-gemini", move || FakeGemini::start(options, default))?;
        fake._runtime = Some(thread);
        Ok(fake)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give a client (host root; the client appends `/v1beta`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a behaviour for the next generate request (first in, first out).
    pub fn push(&self, behavior: Behavior) {
        lock(&self.shared.queue).push_back(behavior);
    }

    /// The behaviour used when the queue is empty and no router matches.
    pub fn set_default(&self, behavior: Behavior) {
        *lock(&self.shared.default) = behavior;
    }

    /// Chooses behaviour per request (e.g. by prompt); returning `None` falls back to the queue.
    pub fn set_router(&self, router: impl Fn(&RecordedRequest) -> Option<Behavior> + Send + Sync + 'static) {
        *lock(&self.shared.router) = Some(Arc::new(router));
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Number of generate calls (stream or unary) received so far.
    pub fn generate_count(&self) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.path.contains(":streamGenerateContent") || r.path.contains(":generateContent"))
            .count()
    }

    /// Files uploaded so far (finalized), oldest first.
    pub fn uploaded_files(&self) -> Vec<FakeFile> {
        lock(&self.shared.files).files.clone()
    }

    /// Upload sessions started so far (a resumed upload is one).
    pub fn uploads_started(&self) -> usize {
        lock(&self.shared.files).started
    }

    /// The next upload breaks its connection once this many bytes have arrived (the client must
    /// ask the session what it holds and resume from there).
    pub fn cut_upload_at(&self, bytes: u64) {
        lock(&self.shared.files).cut_at = Some(bytes);
    }

    /// How many `GET files/NAME` calls a new video stays PROCESSING for (default 1).
    pub fn set_processing_polls(&self, polls: u32) {
        lock(&self.shared.files).processing_polls = polls;
    }

    /// Every uploaded file expires now (as Google deletes them after 48 hours).
    pub fn expire_files(&self) {
        let past = std::time::SystemTime::now() - Duration::from_secs(1);
        for f in &mut lock(&self.shared.files).files {
            f.expires = past;
        }
    }

    /// How long a new batch job stays in each state (PENDING, then RUNNING) before it ends.
    pub fn set_batch_step(&self, step: Duration) {
        lock(&self.shared.batches).step = step;
    }

    /// How batch jobs created from now on end.
    pub fn set_batch_end(&self, end: BatchEnd) {
        lock(&self.shared.batches).end = end;
    }

    /// Lines of a batch whose prompt contains `text` fail (the job still succeeds); `None`:
    /// no line fails.
    pub fn fail_batch_lines_containing(&self, text: Option<&str>) {
        lock(&self.shared.batches).fail_lines_containing = text.map(str::to_owned);
    }

    /// Result files are served as `edit` rewrites them (a line cut short, a line twice...);
    /// `None`: as they are.
    pub fn edit_batch_results(&self, edit: Option<ResultEdit>) {
        lock(&self.shared.batches).edit_results = edit;
    }

    /// The next `count` batch creates make the job, then cut the connection without an answer
    /// (the answer lost on its way back).
    pub fn lose_batch_create_answers(&self, count: u32) {
        *lock(&self.shared.lost_create_answers) = count;
    }

    /// Batch jobs created so far.
    pub fn batches_created(&self) -> usize {
        lock(&self.shared.batches).created
    }

    /// The priority of every batch job still held, oldest first.
    pub fn batch_priorities(&self) -> Vec<i64> {
        lock(&self.shared.batches).priorities()
    }

    /// Number of `countTokens` calls received so far.
    pub fn count_tokens_count(&self) -> usize {
        lock(&self.shared.requests).iter().filter(|r| r.path.ends_with(":countTokens")).count()
    }

    /// How and when request `id`'s stream ended, if it has.
    pub fn stream_end(&self, id: u64) -> Option<(StreamEnd, Instant)> {
        lock(&self.shared.ends).get(&id).copied()
    }
}

impl Shared {
    fn behavior_for(&self, request: &RecordedRequest) -> Behavior {
        let router = lock(&self.router).clone();
        if let Some(b) = router.and_then(|r| r(request)) {
            return b;
        }
        if let Some(b) = lock(&self.queue).pop_front() {
            return b;
        }
        lock(&self.default).clone()
    }

    fn models(&self) -> Vec<Model> {
        if self.options.models.is_empty() { default_models() } else { self.options.models.clone() }
    }
}

/// A model list shaped like the real one.
pub fn default_models() -> Vec<Model> {
    let model = |id: &str, name: &str, input: u64, output: u64, thinking: bool| Model {
        name: format!("models/{id}"),
        display_name: Some(name.to_owned()),
        description: Some(format!("{name} (simulated by geminal's fake server).")),
        version: Some("001".to_owned()),
        input_token_limit: Some(input),
        output_token_limit: Some(output),
        supported_generation_methods: vec!["generateContent".into(), "countTokens".into()],
        thinking: Some(thinking),
    };
    vec![
        model("gemini-flash-latest", "Gemini Flash Latest", 1_048_576, 65_536, true),
        model("gemini-flash-lite-latest", "Gemini Flash-Lite Latest", 1_048_576, 65_536, true),
        model("gemini-pro-latest", "Gemini Pro Latest", 1_048_576, 65_536, true),
        model("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536, true),
        model("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, 65_536, true),
        model("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 1_048_576, 65_536, true),
        model("gemini-3-flash-preview", "Gemini 3 Flash Preview", 1_048_576, 65_536, true),
        Model {
            supported_generation_methods: vec!["embedContent".into()],
            ..model("gemini-embedding-001", "Gemini Embedding 001", 2048, 1, false)
        },
    ]
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, shared.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn full(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never: Infallible| match never {}).boxed());
    *response.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

const JSON: &str = "application/json; charset=UTF-8";
const SSE: &str = "text/event-stream";

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let is_upload = parts.uri.path().starts_with("/upload/");
    let recorded = RecordedRequest {
        id,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: if is_upload { String::new() } else { String::from_utf8_lossy(&body).into_owned() },
        body_len: body.len(),
        received: Instant::now(),
    };
    lock(&shared.requests).push(recorded.clone());
    if let Some(name) = crate::fake_runtime::repeated_single_value_header(&parts.headers) {
        return Ok(full(StatusCode::BAD_REQUEST, "text/plain", crate::fake_runtime::repeated_header_body(name)));
    }
    if is_upload && authorized(&recorded, &shared).is_none() {
        return upload(&recorded, &shared, &body);
    }
    let response = route(&recorded, &shared);
    if recorded.path.ends_with(":batchGenerateContent") && response.status().is_success() {
        let mut lost = lock(&shared.lost_create_answers);
        if *lost > 0 {
            *lost -= 1;
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake lost the create answer"));
        }
    }
    Ok(response)
}

/// The answer to a request without a valid key (`None`: the key is fine).
fn authorized(req: &RecordedRequest, shared: &Shared) -> Option<Response<Body>> {
    let query_key = req.query.as_deref().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("key=")));
    match (req.header("x-goog-api-key").or(query_key), &shared.options.api_key) {
        (None, _) => Some(full(StatusCode::FORBIDDEN, JSON, behavior::no_key_body())),
        (Some(given), Some(expected)) if given != expected => match Fault::bad_key() {
            Fault::Status { body, .. } => Some(full(StatusCode::BAD_REQUEST, JSON, body)),
            _ => None,
        },
        _ => None,
    }
}

/// A resumable upload request; a scripted cut drops the connection without an answer.
fn upload(req: &RecordedRequest, shared: &Shared, body: &Bytes) -> Result<Response<Body>, std::io::Error> {
    let host = req.header("host").unwrap_or("127.0.0.1").to_owned();
    let header = |name: &str| req.header(name).map(str::to_owned);
    let reply = lock(&shared.files).upload(&host, req.query.as_deref(), &header, body);
    reply_to_response(reply)
}

fn reply_to_response(reply: files::Reply) -> Result<Response<Body>, std::io::Error> {
    match reply {
        files::Reply::Cut => Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake upload cut")),
        files::Reply::Json { status, headers, body } => {
            let mut response = full(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), JSON, body);
            for (k, v) in headers {
                if let Ok(v) = v.parse() {
                    response.headers_mut().insert(k, v);
                }
            }
            Ok(response)
        }
    }
}

fn route(req: &RecordedRequest, shared: &Arc<Shared>) -> Response<Body> {
    let is_stream = req.path.ends_with(":streamGenerateContent");
    let content_type = if is_stream { SSE } else { JSON };
    // Auth first, as Google does: no key is 403, a wrong key is 400.
    let query_key = req.query.as_deref().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("key=")));
    let key = req.header("x-goog-api-key").or(query_key);
    match (key, &shared.options.api_key) {
        (None, _) => return full(StatusCode::FORBIDDEN, content_type, behavior::no_key_body()),
        (Some(given), Some(expected)) if given != expected => {
            if let Fault::Status { body, .. } = Fault::bad_key() {
                return full(StatusCode::BAD_REQUEST, content_type, body);
            }
        }
        _ => {}
    }
    if let Some(response) = batch_route(req, shared) {
        return response;
    }
    if let (Some(id), "GET") = (req.path.strip_prefix("/v1beta/files/"), req.method.as_str()) {
        let host = req.header("host").unwrap_or("127.0.0.1").to_owned();
        let reply = lock(&shared.files).get(&host, id);
        return reply_to_response(reply).unwrap_or_else(|_| full(StatusCode::NOT_FOUND, JSON, Fault::error_body(404)));
    }
    let Some(rest) = req.path.strip_prefix("/v1beta/models") else {
        return full(StatusCode::NOT_FOUND, JSON, Fault::error_body(404));
    };
    if rest.is_empty() || rest == "/" {
        return list_models(req, shared);
    }
    let rest = rest.trim_start_matches('/');
    let (model, method) = rest.split_once(':').unwrap_or((rest, ""));
    let known = shared.models().into_iter().find(|m| m.id() == model);
    if shared.options.strict_models && known.is_none() {
        return full(
            StatusCode::NOT_FOUND,
            content_type,
            Fault::error_body(404).replace("models/nope", &format!("models/{model}")),
        );
    }
    match (req.method.as_str(), method) {
        ("GET", "") => match known {
            Some(m) => full(StatusCode::OK, JSON, pretty(&m)),
            None => full(StatusCode::NOT_FOUND, JSON, Fault::error_body(404)),
        },
        ("POST", "countTokens") => {
            let tokens = script::tokens(&req.body).max(1);
            full(
                StatusCode::OK,
                JSON,
                pretty(
                    &serde_json::json!({ "totalTokens": tokens, "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": tokens }] }),
                ),
            )
        }
        ("POST", "generateContent" | "streamGenerateContent") => generate::generate(req, shared, model, is_stream),
        ("POST", "batchGenerateContent") => {
            let files = &shared.files;
            let (status, body) = lock(&shared.batches).create(model, &req.body, &|name| lock(files).content(name));
            full(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), JSON, body)
        }
        _ => full(StatusCode::NOT_FOUND, JSON, Fault::error_body(404)),
    }
}

/// The Batch API's paths, the result file's download and file deletion (`None`: not one of them).
fn batch_route(req: &RecordedRequest, shared: &Shared) -> Option<Response<Body>> {
    let reply = |(status, body): batch::Reply| full(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), JSON, body);
    let download = req
        .path
        .strip_prefix("/download/v1beta/files/")
        .or_else(|| req.path.strip_prefix("/v1beta/files/").filter(|p| p.ends_with(":download")));
    if let Some(rest) = download {
        let id = rest.strip_suffix(":download").unwrap_or(rest);
        let answers = lock(&shared.default).clone();
        return Some(match lock(&shared.batches).result_file(id, &answers) {
            Some(text) => full(StatusCode::OK, "application/octet-stream", text),
            None => full(StatusCode::NOT_FOUND, JSON, Fault::error_body(404)),
        });
    }
    if let (Some(id), "DELETE") = (req.path.strip_prefix("/v1beta/files/"), req.method.as_str()) {
        let deleted = lock(&shared.files).delete(id);
        return Some(if deleted {
            full(StatusCode::OK, JSON, "{}\n".to_owned())
        } else {
            full(StatusCode::NOT_FOUND, JSON, Fault::error_body(404))
        });
    }
    let rest = req.path.strip_prefix("/v1beta/batches")?;
    let rest = rest.trim_start_matches('/');
    let mut batches = lock(&shared.batches);
    Some(match (req.method.as_str(), rest.split_once(':')) {
        ("GET", None) if rest.is_empty() => reply(batches.list(req.query.as_deref())),
        ("GET", None) => reply(batches.get(rest, &lock(&shared.default).clone())),
        ("DELETE", None) => reply(batches.delete(rest)),
        ("POST", Some((id, "cancel"))) => reply(batches.cancel(id)),
        _ => full(StatusCode::NOT_FOUND, JSON, Fault::error_body(404)),
    })
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn list_models(req: &RecordedRequest, shared: &Shared) -> Response<Body> {
    let param = |name: &str| {
        req.query.as_deref().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')))
    };
    let size = param("pageSize").and_then(|s| s.parse::<usize>().ok()).filter(|s| *s > 0).unwrap_or(50).min(1000);
    let start = param("pageToken").and_then(|t| t.strip_prefix("p")?.parse::<usize>().ok()).unwrap_or(0);
    let models = shared.models();
    let page: Vec<Model> = models.iter().skip(start).take(size).cloned().collect();
    let next = (start + size < models.len()).then(|| format!("p{}", start + size));
    full(StatusCode::OK, JSON, pretty(&ListModelsResponse { models: page, next_page_token: next }))
}

/// FNV-1a, for stable choices from a prompt.
pub(crate) fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

/// A tiny deterministic generator (xorshift) for natural-looking pace.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
