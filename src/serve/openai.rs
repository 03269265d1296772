//! The OpenAI-compatible routes: `POST /v1/chat/completions` (a whole answer, or SSE chunks with
//! `stream`) and `GET /v1/models`. A request's messages are a conversation: its history is the
//! client's stored conversation with exactly those messages (else saved once, as sent), and its
//! last user message the turn's prompt; the answer is saved after it, tagged with the client.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::answer::{Answer, Asked, bad, begin, cache_header, ended, estimate_tokens, now_secs, read_body, refused};
use super::reject::{Api, Reject, Why};
use super::{Client, ROLE_PREFIX, Served};
use crate::chat::{Settings, Shown, TurnReport};
use crate::domain::Role;
use crate::turn::Update;

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    n: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    seed: Option<i64>,
    stop: Option<Stop>,
    response_format: Option<ResponseFormat>,
    tools: Option<Vec<Value>>,
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

#[derive(Debug, Deserialize)]
struct JsonSchemaFormat {
    schema: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

impl ChatMessage {
    fn text(&self) -> Result<String, Reject> {
        match &self.content {
            None => Ok(String::new()),
            Some(Content::Text(text)) => Ok(text.clone()),
            Some(Content::Parts(parts)) => parts
                .iter()
                .map(|p| match (p.kind.as_str(), &p.text) {
                    ("text", Some(text)) => Ok(text.as_str()),
                    (kind, _) => {
                        Err(bad(format!("A content part of type {kind:?} is not supported: send text parts.")))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("\n")),
        }
    }
}

fn split_messages(messages: &[ChatMessage]) -> Result<Asked, Reject> {
    let mut system: Option<String> = None;
    let mut history = Vec::new();
    for message in messages {
        let text = message.text()?;
        match message.role.as_str() {
            "system" | "developer" => {
                system = Some(match system {
                    Some(before) => format!("{before}\n\n{text}"),
                    None => text,
                })
            }
            "user" => history.push((Role::User, text)),
            "assistant" => history.push((Role::Model, text)),
            "tool" | "function" => return Err(bad("Tool results are not supported by this server yet.")),
            other => return Err(bad(format!("Unknown message role {other:?}."))),
        }
    }
    match history.pop() {
        Some((Role::User, prompt)) if !prompt.trim().is_empty() => Ok(Asked { system, history, prompt }),
        Some((Role::User, _)) => Err(bad("The last message is empty.")),
        _ => Err(bad("The last message must be the user's.")),
    }
}

impl ChatRequest {
    fn settings(&self) -> Result<Settings, Reject> {
        let json_schema = match &self.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(json!({"type": "object"})),
            Some(ResponseFormat::JsonSchema { json_schema }) => {
                Some(json_schema.schema.clone().ok_or_else(|| bad("response_format.json_schema needs a schema."))?)
            }
        };
        Ok(Settings {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            seed: self.seed,
            stop: self.stop.as_ref().map(|s| match s {
                Stop::One(one) => vec![one.clone()],
                Stop::Many(many) => many.clone(),
            }),
            json_schema,
            ..Settings::default()
        })
    }
}

pub(super) async fn chat_completions(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Body,
) -> Response {
    let client = match served.authenticate(&headers, &uri) {
        Ok(client) => client,
        Err(reject) => return served.refuse(None, reject, Api::OpenAi),
    };
    match start(&served, &client, &headers, body).await {
        Ok(response) => response,
        Err(reject) => served.refuse(Some(&client.name), reject, Api::OpenAi),
    }
}

async fn start(
    served: &Arc<Served>,
    client: &Client,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Reject> {
    let body = read_body(served, body).await?;
    let request: ChatRequest = serde_json::from_slice(&body).map_err(|e| {
        Reject::new(Why::BadJson, format!("The request is not valid JSON for a chat completion ({e})."))
    })?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(bad("Only n = 1 is supported: send one request per answer."));
    }
    if request.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(bad("Tools are not supported by this server yet."));
    }
    let asked = split_messages(&request.messages)?;
    let settings = request.settings()?;
    let chars: usize = request.messages.iter().filter_map(|m| m.text().ok()).map(|t| t.len()).sum();
    let answer = begin(served, headers, client, &request.model, asked, settings, estimate_tokens(chars)).await?;
    if request.stream {
        let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
        Ok(answer.stream(include_usage).await)
    } else {
        answer.whole().await
    }
}

fn usage_json(report: &TurnReport) -> Value {
    let usage = report.usage.unwrap_or_default();
    let completion = usage.candidates_token_count + usage.thoughts_token_count;
    json!({
        "prompt_tokens": usage.prompt_token_count,
        "completion_tokens": completion,
        "total_tokens": usage.prompt_token_count + completion,
    })
}

fn completion_id(report: &TurnReport) -> String {
    match report.answer_id {
        Some(id) => format!("chatcmpl-geminal-{id}"),
        None => format!("chatcmpl-{:016x}", fastrand::u64(..)),
    }
}

impl Answer {
    async fn whole(self) -> Result<Response, Reject> {
        let model = self.model.clone();
        let report = self.report().await?;
        let body = json!({
            "id": completion_id(&report),
            "object": "chat.completion",
            "created": now_secs(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": report.text},
                "finish_reason": ended(&report.outcome).map_or("stop", |f| f.openai()),
            }],
            "usage": usage_json(&report),
        });
        let mut response = axum::Json(body).into_response();
        response.headers_mut().insert("x-geminal-cache", cache_header(report.cached));
        Ok(response)
    }

    /// SSE chunks as the answer grows; dropping the body (the client went away) drops the turn,
    /// which stops the upstream call at once.
    async fn stream(mut self, include_usage: bool) -> Response {
        let cached = self.cached().await;
        let id = format!("chatcmpl-{:016x}", fastrand::u64(..));
        let created = now_secs();
        let chunk = move |model: &str, delta: Value, finish: Option<&str>| {
            let value = json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            });
            Bytes::from(format!("data: {value}\n\n"))
        };
        let events = futures::stream::unfold(Some((self, String::new(), String::new(), true)), move |state| {
            let chunk = chunk.clone();
            async move {
                let (mut answer, mut sent, mut current, first) = state?;
                if first {
                    let opening = chunk(&answer.model, json!({"role": "assistant", "content": ""}), None);
                    return Some((Ok::<_, Infallible>(opening), Some((answer, sent, current, false))));
                }
                loop {
                    let update = answer.next().await?;
                    match update {
                        Update::Shown(Shown::Restart) => current.clear(),
                        Update::Shown(Shown::Text(text)) => {
                            current.push_str(&text);
                            // A restart is invisible to the client while it repeats what was sent.
                            if current.len() > sent.len() && current.starts_with(&sent) {
                                let more = current[sent.len()..].to_owned();
                                sent.clone_from(&current);
                                let bytes = chunk(&answer.model, json!({"content": more}), None);
                                return Some((Ok(bytes), Some((answer, sent, current, false))));
                            }
                        }
                        Update::Refused(refusal) => {
                            let bytes = Bytes::from(format!(
                                "data: {}\n\ndata: [DONE]\n\n",
                                refused(refusal).body(Api::OpenAi)
                            ));
                            return Some((Ok(bytes), None));
                        }
                        Update::Done(report) => {
                            answer.finished(&report).await;
                            let mut out = String::new();
                            match ended(&report.outcome) {
                                Err(reject) => out.push_str(&format!("data: {}\n\n", reject.body(Api::OpenAi))),
                                Ok(finish) => {
                                    let finish = chunk(&answer.model, json!({}), Some(finish.openai()));
                                    out.push_str(&String::from_utf8_lossy(&finish));
                                    if include_usage {
                                        let usage = json!({
                                            "id": completion_id(&report), "object": "chat.completion.chunk",
                                            "created": created, "model": answer.model, "choices": [],
                                            "usage": usage_json(&report),
                                        });
                                        out.push_str(&format!("data: {usage}\n\n"));
                                    }
                                }
                            }
                            out.push_str("data: [DONE]\n\n");
                            return Some((Ok(Bytes::from(out)), None));
                        }
                        _ => {}
                    }
                }
            }
        });
        let mut response = Response::new(Body::from_stream(events));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-geminal-cache", cache_header(cached));
        response
    }
}

/// `GET /v1/models`: the models the providers list and the roles, as this key may use them.
pub(super) async fn models(State(served): State<Arc<Served>>, headers: HeaderMap, uri: Uri) -> Response {
    let client = match served.authenticate(&headers, &uri) {
        Ok(client) => client,
        Err(reject) => return reject.into_response(Api::OpenAi),
    };
    let listed = match served.runner.session().list_models().await {
        Ok(models) => models,
        Err(error) => return Reject::upstream(&error).into_response(Api::OpenAi),
    };
    let roles = served.roles.iter().map(|r| format!("{ROLE_PREFIX}{}", r.name));
    let data: Vec<Value> = listed
        .into_iter()
        .chain(roles)
        .filter(|id| client.limits.allows(id))
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "geminal"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}
