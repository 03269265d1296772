//! A loopback OpenAI-compatible server for tests, benchmarks and `serve-fake --openai`. It
//! streams `data: {chat.completion.chunk}` events ending with `data: [DONE]`, sends usage in a
//! last chunk when asked (`stream_options.include_usage`), and plays what a test scripts per
//! request: a status error with its headers (a 429 with `retry-after`), a cut stream, a stall,
//! a `length` finish. It records every request (body and headers) and binds 127.0.0.1 only.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, std::io::Error>;
type Router = Arc<dyn Fn(&Recorded) -> Option<Reply> + Send + Sync>;

/// What goes wrong with one answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The request fails with this status, JSON body and extra headers.
    Status { status: u16, body: String, headers: Vec<(String, String)> },
    /// After this many text chunks the connection is reset.
    CutAfter(usize),
    /// After this many text chunks nothing more is sent; the connection stays open.
    StallAfter(usize),
}

impl Fault {
    /// A 429 rate limit asking for `secs` seconds (`retry-after`).
    pub fn rate_limited(secs: u32) -> Fault {
        Fault::Status {
            status: 429,
            body: error_body("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
            headers: vec![("retry-after".into(), secs.to_string())],
        }
    }

    /// OpenAI's 429 for a spent balance: not worth retrying.
    pub fn quota_spent() -> Fault {
        Fault::Status {
            status: 429,
            body: error_body("You exceeded your current quota.", "insufficient_quota", "insufficient_quota"),
            headers: Vec::new(),
        }
    }

    pub fn http(status: u16) -> Fault {
        Fault::Status {
            status,
            body: error_body("The server had an error.", "server_error", "server_error"),
            headers: Vec::new(),
        }
    }
}

/// An OpenAI error body.
pub fn error_body(message: &str, kind: &str, code: &str) -> String {
    serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}}).to_string()
}

/// The script for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    /// Text chunks the answer is cut into.
    pub chunks: usize,
    pub first_token_delay: Duration,
    pub chunk_delay: Duration,
    /// `stop`, `length`, `content_filter`...
    pub finish_reason: String,
    /// Whether the usage chunk is sent when the request asks for it.
    pub usage: bool,
    pub fault: Option<Fault>,
    /// Tool calls streamed after the text, as OpenAI streams them: one delta opening each call
    /// (`index`, `id`, `type`, `function.name`), then its arguments in fragments keyed by `index`.
    pub tool_calls: Vec<FakeToolCall>,
}

/// A tool call the fake streams: `arguments` is the JSON text, cut into fragments on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl Default for Reply {
    fn default() -> Self {
        Reply {
            text: "Hello from the OpenAI-compatible fake.".to_owned(),
            chunks: 4,
            first_token_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            finish_reason: "stop".to_owned(),
            usage: true,
            fault: None,
            tool_calls: Vec::new(),
        }
    }
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Reply { text: text.into(), ..Reply::default() }
    }

    pub fn fault(fault: Fault) -> Self {
        Reply { fault: Some(fault), ..Reply::default() }
    }

    /// An answer that ends asking for `calls` (`finish_reason` `tool_calls`), after `text`.
    pub fn tool_calls(text: impl Into<String>, calls: Vec<FakeToolCall>) -> Self {
        Reply { text: text.into(), tool_calls: calls, finish_reason: "tool_calls".to_owned(), ..Reply::default() }
    }

    /// An answer spread over `total`, in `chunks` pieces (benchmarks).
    pub fn paced(chunks: usize, total: Duration) -> Self {
        let step = total / (chunks.max(1) as u32 + 1);
        Reply { chunks: chunks.max(1), first_token_delay: step, chunk_delay: step, ..Reply::default() }
    }
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// The `model` of a chat request.
    pub fn model(&self) -> Option<String> {
        self.json().get("model").and_then(|m| m.as_str()).map(str::to_owned)
    }

    /// The last user message's text.
    pub fn prompt(&self) -> String {
        let json = self.json();
        let last = json["messages"].as_array().and_then(|m| m.iter().rev().find(|m| m["role"] == "user")).cloned();
        match last.map(|m| m["content"].clone()) {
            Some(serde_json::Value::String(text)) => text,
            Some(serde_json::Value::Array(parts)) => {
                parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n\n")
            }
            _ => String::new(),
        }
    }
}

/// Settings fixed for the server's life.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// When set, a request without `Authorization: Bearer <this>` gets a 401.
    pub api_key: Option<String>,
    /// `GET /v1/models`; when not empty, other models get a 404.
    pub models: Vec<String>,
}

#[derive(Default)]
struct Shared {
    options: Options,
    default: Mutex<Reply>,
    queue: Mutex<VecDeque<Reply>>,
    router: Mutex<Option<Router>>,
    requests: Mutex<Vec<Recorded>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running server; dropping it stops accepting.
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::AbortHandle,
    _thread: Option<crate::fake_runtime::RuntimeThread>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FakeOpenAi {
    pub async fn start(options: Options, default: Reply) -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let listener = socket.listen(4096)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { options, default: Mutex::new(default), ..Shared::default() });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FakeOpenAi { addr, shared, accept: task.abort_handle(), _thread: None })
    }

    /// Starts on a runtime of its own (process tests).
    pub fn start_in_thread(options: Options, default: Reply) -> std::io::Result<Self> {
        let (mut fake, thread) =
            crate::fake_runtime::start_in_thread("fake-openai", move || FakeOpenAi::start(options, default))?;
        fake._thread = Some(thread);
        Ok(fake)
    }

    /// The base URL to configure (`.../v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn push(&self, reply: Reply) {
        lock(&self.shared.queue).push_back(reply);
    }

    pub fn set_default(&self, reply: Reply) {
        *lock(&self.shared.default) = reply;
    }

    /// Chooses the reply per request; `None` falls back to the queue, then the default.
    pub fn set_router(&self, router: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static) {
        *lock(&self.shared.router) = Some(Arc::new(router));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// The chat completion requests, oldest first.
    pub fn chat_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.ends_with("/chat/completions")).collect()
    }
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

fn full(status: u16, body: String, headers: &[(String, String)]) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never: Infallible| match never {}).boxed());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (hyper::header::HeaderName::try_from(k.as_str()), v.parse()) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    lock(&shared.requests).push(recorded.clone());
    if let Some(name) = crate::fake_runtime::repeated_single_value_header(&parts.headers) {
        let mut response = full(400, crate::fake_runtime::repeated_header_body(name), &[]);
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
        return Ok(response);
    }
    if let Some(expected) = &shared.options.api_key
        && recorded.header("authorization") != Some(format!("Bearer {expected}").as_str())
    {
        return Ok(full(
            401,
            error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
            &[],
        ));
    }
    match (recorded.method.as_str(), recorded.path.as_str()) {
        ("GET", "/v1/models") => {
            let data: Vec<_> = shared
                .options
                .models
                .iter()
                .map(|id| serde_json::json!({"id": id, "object": "model", "owned_by": "fake"}))
                .collect();
            Ok(full(200, serde_json::json!({"object": "list", "data": data}).to_string(), &[]))
        }
        ("POST", "/v1/chat/completions") => Ok(chat(&recorded, &shared)),
        _ => Ok(full(404, error_body("Not found.", "invalid_request_error", "not_found"), &[])),
    }
}

/// Tool calling as OpenAI-compatible servers do it: a `role: tool` message must answer a
/// `tool_calls` id of the assistant message before it (else the 400); a prompt's
/// `[[call NAME {...}]]` directives (see `fake_runtime`) are answered with `tool_calls` while
/// `tools` are offered, and the results, once sent, with text that quotes them.
fn tool_turn(json: &serde_json::Value, req: &Recorded, reply: Reply) -> Result<Reply, String> {
    let messages = json["messages"].as_array().cloned().unwrap_or_default();
    let mut asked: Vec<(String, String)> = Vec::new();
    let mut answered: Vec<(String, String)> = Vec::new();
    for m in &messages {
        match m["role"].as_str() {
            Some("assistant") => {
                asked = m["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let id = c["id"].as_str().unwrap_or_default().to_owned();
                        (id, c["function"]["name"].as_str().unwrap_or_default().to_owned())
                    })
                    .collect();
                answered.clear();
            }
            Some("tool") => {
                let id = m["tool_call_id"].as_str().unwrap_or_default();
                let Some((_, name)) = asked.iter().find(|(asked, _)| asked == id) else {
                    return Err("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".to_owned());
                };
                let content = match &m["content"] {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                answered.push((name.clone(), content));
            }
            _ => {}
        }
    }
    let last_is_tool = messages.last().is_some_and(|m| m["role"] == "tool");
    let offered = json["tools"].as_array().is_some_and(|t| !t.is_empty());
    let wanted = crate::fake_runtime::tool_directives(&req.prompt());
    let calls: Vec<FakeToolCall> = wanted
        .iter()
        .filter(|(repeat, _, _)| offered && (!last_is_tool || *repeat))
        .enumerate()
        .map(|(i, (_, name, args))| FakeToolCall {
            id: format!("call_{}_{i}", messages.len()),
            name: name.clone(),
            arguments: args.to_string(),
        })
        .collect();
    if !calls.is_empty() {
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        return Ok(Reply::tool_calls(format!("Let me use {}. ", names.join(" and ")), calls));
    }
    if last_is_tool {
        let quoted: Vec<String> = answered.iter().map(|(name, content)| format!("{name} answered {content}")).collect();
        return Ok(Reply { text: format!("The tools said: {}.", quoted.join("; ")), ..reply });
    }
    Ok(reply)
}

fn chat(req: &Recorded, shared: &Shared) -> Response<Body> {
    let json = req.json();
    let model = json["model"].as_str().unwrap_or("").to_owned();
    if !shared.options.models.is_empty() && !shared.options.models.contains(&model) {
        let message = format!("The model `{model}` does not exist or you do not have access to it.");
        return full(404, error_body(&message, "invalid_request_error", "model_not_found"), &[]);
    }
    let router = lock(&shared.router).clone();
    let reply = router
        .and_then(|r| r(req))
        .or_else(|| lock(&shared.queue).pop_front())
        .unwrap_or_else(|| lock(&shared.default).clone());
    if let Some(Fault::Status { status, body, headers }) = &reply.fault {
        return full(*status, body.clone(), headers);
    }
    let reply = match tool_turn(&json, req, reply) {
        Ok(reply) => reply,
        Err(message) => return full(400, error_body(&message, "invalid_request_error", "invalid_request"), &[]),
    };
    let include_usage = json["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    tokio::spawn(play(reply, model, include_usage && json["stream"] == true, tx));
    let body = StreamBody::new(tokio_stream_from(rx)).boxed();
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/event-stream"));
    response
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Splits `text` into `n` pieces on character boundaries.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn event(value: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

async fn play(reply: Reply, model: String, usage: bool, tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>) {
    let send = |bytes: Bytes| {
        let tx = tx.clone();
        async move { tx.send(Ok(Frame::data(bytes))).await.is_ok() }
    };
    tokio::time::sleep(reply.first_token_delay).await;
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        })
    };
    let parts = pieces(&reply.text, reply.chunks);
    for (i, piece) in parts.iter().enumerate() {
        match reply.fault {
            Some(Fault::CutAfter(n)) if i == n => {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake cut"))).await;
                return;
            }
            Some(Fault::StallAfter(n)) if i == n => {
                tx.closed().await;
                return;
            }
            _ => {}
        }
        if i > 0 {
            tokio::time::sleep(reply.chunk_delay).await;
        }
        let delta = if i == 0 {
            serde_json::json!({"role": "assistant", "content": piece})
        } else {
            serde_json::json!({"content": piece})
        };
        if !send(event(&chunk(delta, None))).await {
            return;
        }
    }
    for (index, call) in reply.tool_calls.iter().enumerate() {
        let open = serde_json::json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": ""}}]});
        if !send(event(&chunk(open, None))).await {
            return;
        }
        for fragment in pieces(&call.arguments, 3) {
            let more = serde_json::json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]});
            if !send(event(&chunk(more, None))).await {
                return;
            }
        }
    }
    if !send(event(&chunk(serde_json::json!({}), Some(&reply.finish_reason)))).await {
        return;
    }
    if usage && reply.usage {
        let prompt = 10u32;
        let completion = reply.text.split_whitespace().count() as u32;
        let value = serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        });
        if !send(event(&value)).await {
            return;
        }
    }
    let _ = send(Bytes::from_static(b"data: [DONE]\n\n")).await;
}
