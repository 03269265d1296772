//! The OpenAI-compatible routes: `POST /v1/chat/completions` (a whole answer, or SSE chunks with
//! `stream`) and `GET /v1/models`. A request's messages are a conversation: its history is the
//! client's stored conversation with exactly those messages (else saved once, as sent), and its
//! last user message the turn's prompt; the answer is saved after it, tagged with the client.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::limits::{Limited, Place};
use super::reject::{Api, Reject, Why};
use super::{Client, ROLE_PREFIX, Served};
use crate::chat::{Outcome, Settings, Shown, Target, TurnReport};
use crate::domain::Role;
use crate::turn::{BudgetPolicy, Refused, RoleChoice, System, TurnHandle, TurnSpec, Update};

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

fn bad(message: impl Into<String>) -> Reject {
    Reject::new(Why::BadRequest, message)
}

/// What a request asks, as a turn: the system prompt, the history before the prompt, the prompt.
struct Asked {
    system: Option<String>,
    history: Vec<(Role, String)>,
    prompt: String,
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

/// Seconds since the epoch.
fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn wait_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil() as u64
}

/// The key's limits, then a place (or the queue).
pub(super) async fn admit(
    served: &Served,
    client: &Client,
    tokens: u32,
) -> Result<(super::limits::KeyPermit, Place), Reject> {
    let permit = served.limiter.admit(&client.name, &client.limits, tokens).map_err(|limited| match limited {
        Limited::Rpm(wait) => {
            Reject::new(Why::RateLimited, "This key's requests a minute are used up.").retry_after(wait_secs(wait))
        }
        Limited::Tpm(wait) => {
            Reject::new(Why::RateLimited, "This key's tokens a minute are used up.").retry_after(wait_secs(wait))
        }
        Limited::Concurrent => {
            Reject::new(Why::RateLimited, "This key has as many answers running as it may.").retry_after(1)
        }
        Limited::TooManyTokens => bad("The request is longer than this key's tokens a minute allow."),
    })?;
    let place = served
        .slots
        .take()
        .await
        .ok_or_else(|| Reject::new(Why::Busy, "The server is busy: try again shortly.").retry_after(1))?;
    Ok((permit, place))
}

/// The key's own budgets (`daily_budget`, `monthly_budget`), against what its answers cost.
pub(super) async fn key_budget(served: &Served, client: &Client) -> Result<(), Reject> {
    let (daily, monthly) = (client.limits.daily_budget, client.limits.monthly_budget);
    if daily.is_none() && monthly.is_none() {
        return Ok(());
    }
    let Some(store) = served.runner.session().store() else { return Ok(()) };
    let name = client.name.clone();
    let Ok(spent) = store.read(move |s| s.client_spending(&name)).await else { return Ok(()) };
    match crate::money::check_budgets(spent, daily, monthly) {
        crate::money::BudgetCheck::Over(_) => {
            Err(Reject::new(Why::Budget, "This key's budget is spent: nothing was sent."))
        }
        _ => Ok(()),
    }
}

/// The model a request names: a role (`role:NAME`) or a model reference.
fn model_choice(served: &Served, model: &str) -> Result<(Option<String>, RoleChoice), Reject> {
    if let Some(name) = model.strip_prefix(ROLE_PREFIX) {
        let role = served.roles.iter().find(|r| r.name == name).ok_or_else(|| {
            Reject::new(
                Why::ModelNotFound,
                format!("There is no role {:?} on this server.", crate::sanitize::one_line(name, 60)),
            )
        })?;
        return Ok((None, RoleChoice::Use(Box::new(role.clone()))));
    }
    if model.trim().is_empty() {
        return Err(bad("The model is missing."));
    }
    Ok((Some(model.to_owned()), RoleChoice::Nothing))
}

/// Where the turn goes: the client's stored conversation holding exactly the history sent, or
/// that history saved now as a new one (a first turn: a new conversation).
async fn target(served: &Served, client: &Client, asked: &Asked, model: &str) -> Result<Target, Reject> {
    if asked.history.is_empty() {
        return Ok(Target::New);
    }
    let Some(store) = served.runner.session().store() else {
        return Err(bad("This server keeps no history, so it cannot continue a conversation."));
    };
    let storage = |e: crate::store::StoreError| {
        Reject::new(
            Why::Upstream(crate::error_data::ErrorKind::Storage),
            format!("The history could not be read or written ({e})."),
        )
    };
    let (name, system, history) = (client.name.clone(), asked.system.clone(), asked.history.clone());
    let found =
        store.read(move |s| s.find_client_conversation(&name, system.as_deref(), &history)).await.map_err(storage)?;
    if let Some(id) = found {
        return Ok(Target::Conversation(id));
    }
    let (name, system, history, model) =
        (client.name.clone(), asked.system.clone(), asked.history.clone(), model.to_owned());
    let id = store
        .call(move |s| s.import_client_conversation(&name, &model, system.as_deref(), &history))
        .await
        .map_err(storage)?;
    Ok(Target::Conversation(id))
}

/// Tags the conversation a turn saved with its client.
async fn tag(served: &Served, client: &str, conversation: i64) {
    if let Some(store) = served.runner.session().store() {
        let client = client.to_owned();
        let _ = store.call(move |s| s.set_conversation_client(conversation, &client)).await;
    }
}

fn refused(refused: Refused) -> Reject {
    match refused {
        Refused::Budget(_) => Reject::new(Why::Budget, "A budget of this server is spent: nothing was sent."),
        Refused::Chat(crate::chat::ChatError::Api(e)) | Refused::Timeout(e) => Reject::upstream(&e),
        Refused::Chat(e) => bad(e.to_string()),
        Refused::Settings(e) => bad(e.to_string()),
        Refused::Context(e) => bad(e.to_string()),
    }
}

pub(super) async fn chat_completions(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match start(&served, &headers, &uri, body).await {
        Ok(response) => response,
        Err(reject) => reject.into_response(Api::OpenAi),
    }
}

async fn start(
    served: &Arc<Served>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Reject> {
    let client = served.authenticate(headers, uri)?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            Reject::new(Why::TooLarge, "The request body is larger than this server takes.")
        }
        _ => bad(format!("The request body could not be read ({}).", e.body_text())),
    })?;
    let request: ChatRequest = serde_json::from_slice(&body).map_err(|e| {
        Reject::new(Why::BadJson, format!("The request is not valid JSON for a chat completion ({e})."))
    })?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(bad("Only n = 1 is supported: send one request per answer."));
    }
    if request.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(bad("Tools are not supported by this server yet."));
    }
    if !client.limits.allows(&request.model) {
        return Err(Reject::new(
            Why::ModelNotAllowed,
            format!("This key may not use the model {:?}.", crate::sanitize::one_line(&request.model, 80)),
        ));
    }
    key_budget(served, &client).await?;
    let (model, role) = model_choice(served, &request.model)?;
    let asked = split_messages(&request.messages)?;
    let settings = request.settings()?;
    let chars: usize = request.messages.iter().filter_map(|m| m.text().ok()).map(|t| t.len()).sum();
    let tokens = u32::try_from(chars / 4 + 1).unwrap_or(u32::MAX);
    let (permit, place) = admit(served, &client, tokens).await?;
    let saved_model = model.clone().unwrap_or_else(|| request.model.clone());
    let target = target(served, &client, &asked, &saved_model).await?;
    let no_cache = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|d| matches!(d.trim(), "no-cache" | "no-store")));
    let runner = if no_cache { &served.fresh } else { &served.runner };
    let spec = TurnSpec {
        model,
        keep_model: false,
        // A role's prompt stands unless the client sends a system message of its own.
        system: match &asked.system {
            Some(system) => System::Set(Some(system.clone())),
            None => System::Default(None),
        },
        role,
        settings,
        budget: BudgetPolicy::per_turn(served.budgets, false),
        ..TurnSpec::new(target, asked.prompt.clone())
    };
    let turn = runner.start(spec);
    let answer = Answer {
        served: served.clone(),
        client: client.name.clone(),
        model: request.model.clone(),
        turn,
        _held: (permit, place),
    };
    if request.stream {
        let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
        Ok(answer.stream(include_usage))
    } else {
        answer.whole().await
    }
}

/// A turn running for a client, with the places it holds.
struct Answer {
    served: Arc<Served>,
    client: String,
    model: String,
    turn: TurnHandle,
    _held: (super::limits::KeyPermit, Place),
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

fn cache_header(cached: bool) -> HeaderValue {
    HeaderValue::from_static(if cached { "hit" } else { "miss" })
}

impl Answer {
    /// The next update the client should hear of; a second SIGTERM cancels the turn.
    async fn next(&mut self) -> Option<Update> {
        loop {
            let cancel = self.served.cancel.clone();
            let update = tokio::select! {
                biased;
                update = self.turn.next() => update,
                () = cancel.cancelled(), if !self.turn.canceller().is_cancelled() => {
                    self.turn.cancel();
                    continue;
                }
            };
            let update = update?.update;
            if let Update::Shown(Shown::Saved { conversation_id, .. }) = &update {
                tag(&self.served, &self.client, *conversation_id).await;
            }
            return Some(update);
        }
    }

    async fn whole(mut self) -> Result<Response, Reject> {
        while let Some(update) = self.next().await {
            match update {
                Update::Refused(refusal) => return Err(refused(refusal)),
                Update::Done(report) => {
                    if let Outcome::Failed(error) = &report.outcome {
                        return Err(Reject::upstream(error));
                    }
                    if let Some(id) = report.conversation_id {
                        tag(&self.served, &self.client, id).await;
                    }
                    let body = json!({
                        "id": completion_id(&report),
                        "object": "chat.completion",
                        "created": now_secs(),
                        "model": self.model,
                        "choices": [{
                            "index": 0,
                            "message": {"role": "assistant", "content": report.text},
                            "finish_reason": if report.outcome == Outcome::Cancelled { "length" } else { "stop" },
                        }],
                        "usage": usage_json(&report),
                    });
                    let mut response = axum::Json(body).into_response();
                    response.headers_mut().insert("x-geminal-cache", cache_header(report.cached));
                    return Ok(response);
                }
                _ => {}
            }
        }
        Err(Reject::upstream(&crate::llm::ApiError::Protocol { detail: "the answer ended unexpectedly".into() }))
    }

    /// SSE chunks as the answer grows; dropping the body (the client went away) drops the turn,
    /// which stops the upstream call at once.
    fn stream(self, include_usage: bool) -> Response {
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
                            if let Some(id) = report.conversation_id {
                                tag(&answer.served, &answer.client, id).await;
                            }
                            let mut out = String::new();
                            if let Outcome::Failed(error) = &report.outcome {
                                out.push_str(&format!("data: {}\n\n", Reject::upstream(error).body(Api::OpenAi)));
                            } else {
                                let finish = chunk(&answer.model, json!({}), Some("stop"));
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
