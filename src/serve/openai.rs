//! The OpenAI-compatible routes: `POST /v1/chat/completions` (a whole answer, or SSE chunks with
//! `stream`) and `GET /v1/models`. A request's messages are a conversation: its history is the
//! client's stored conversation with exactly those messages (else saved once, as sent), and its
//! last user message the turn's prompt; the answer is saved after it, tagged with the client.
//! `tools` are the client's functions: an answer that calls them ends with `tool_calls`, and a
//! request that ends with `tool` messages is a turn made of their results.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::answer::{
    Answer, Asked, bad, begin, cache_header, ended, estimate_tokens, now_secs, read_body, refused, sent_call, sent_end,
};
use super::reject::{Api, Reject, Why};
use super::{Client, ROLE_PREFIX, Served};
use crate::chat::{CallResult, Settings, Shown, TurnReport};
use crate::domain::Role;
use crate::llm::{ToolChoice, ToolSpec};
use crate::store::{ClientRound, NewToolCall};
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
    tools: Option<Vec<ChatTool>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    stream_options: Option<StreamOptions>,
}

/// A tool a client offers: only functions (the client runs them).
#[derive(Debug, Deserialize)]
struct ChatTool {
    #[serde(rename = "type")]
    kind: String,
    function: Option<FunctionDef>,
}

#[derive(Debug, Deserialize)]
struct FunctionDef {
    name: String,
    #[serde(default)]
    description: String,
    parameters: Option<Value>,
}

/// A call of an assistant message: `{id, type: "function", function: {name, arguments}}`, and
/// the signature Google's own endpoint puts beside it.
#[derive(Debug, Deserialize)]
struct SentCall {
    id: String,
    function: SentFunction,
    extra_content: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct SentFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

impl SentCall {
    fn signature(&self) -> Option<String> {
        let extra = self.extra_content.as_ref()?;
        extra.get("google")?.get("thought_signature")?.as_str().map(str::to_owned)
    }
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
    /// An assistant message's calls.
    tool_calls: Option<Vec<SentCall>>,
    /// A tool message's call.
    tool_call_id: Option<String>,
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
    let mut history: Vec<(Role, String)> = Vec::new();
    let mut calls: Vec<(usize, ClientRound)> = Vec::new();
    // The calls of the last assistant message that made some, and whether tool messages follow.
    let mut open: Option<usize> = None;
    let mut results: Vec<CallResult> = Vec::new();
    let mut ends_with_results = false;
    for message in messages {
        let text = message.text()?;
        if message.role != "tool" {
            close_round(&mut calls, open.take(), &mut results)?;
            ends_with_results = false;
        }
        match message.role.as_str() {
            "system" | "developer" => {
                system = Some(match system {
                    Some(before) => format!("{before}\n\n{text}"),
                    None => text,
                })
            }
            "user" => history.push((Role::User, text)),
            "assistant" => {
                let at = history.len();
                let offset = text.len();
                history.push((Role::Model, text));
                let sent = message.tool_calls.as_deref().unwrap_or_default();
                if !sent.is_empty() {
                    let mut round = Vec::new();
                    for call in sent {
                        let arguments = arguments(&call.function.arguments)?;
                        let new = sent_call(&call.id, &call.function.name, &arguments, call.signature(), offset);
                        if round.iter().any(|(c, _): &(NewToolCall, _)| c.call_id == call.id) {
                            return Err(bad(format!("Two tool calls have the id {:?}.", one_line(&call.id))));
                        }
                        round.push((new, None));
                    }
                    calls.push((at, round));
                    open = Some(calls.len() - 1);
                }
            }
            "tool" => {
                let id =
                    message.tool_call_id.as_deref().ok_or_else(|| bad("A tool message needs its tool_call_id."))?;
                let Some(round) = open.and_then(|i| calls.get(i)) else {
                    return Err(bad(format!(
                        "The tool message for {:?} follows no assistant message with tool calls.",
                        one_line(id)
                    )));
                };
                if !round.1.iter().any(|(call, _)| call.call_id == id) {
                    return Err(bad(format!(
                        "The tool message's tool_call_id {:?} matches no tool call of the assistant message before it.",
                        one_line(id)
                    )));
                }
                if results.iter().any(|r| r.id == id) {
                    return Err(bad(format!("Two tool messages answer the tool call {:?}.", one_line(id))));
                }
                let signature = round.1.iter().find(|(c, _)| c.call_id == id).and_then(|(c, _)| c.signature.clone());
                results.push(CallResult { id: id.to_owned(), signature, response: response(text) });
                ends_with_results = true;
            }
            "function" => return Err(bad("Function messages are not supported: send tool messages.")),
            other => return Err(bad(format!("Unknown message role {:?}.", one_line(other)))),
        }
    }
    if ends_with_results {
        // The last round's calls are answered by this request: saved pending, ended by the turn.
        let Some(last) = open.and_then(|i| calls.get(i)) else { return Err(bad("The tool messages answer nothing.")) };
        if let Some((call, _)) = last.1.iter().find(|(call, _)| !results.iter().any(|r| r.id == call.call_id)) {
            return Err(bad(format!(
                "The tool call {:?} has no tool message with its result.",
                one_line(&call.call_id)
            )));
        }
        return Ok(Asked { system, history, calls, results: Some(results), ..Asked::default() });
    }
    if open.is_some() {
        return Err(bad("The last message calls tools: send their results in tool messages, then ask."));
    }
    match history.pop() {
        Some((Role::User, prompt)) if !prompt.trim().is_empty() => {
            Ok(Asked { system, history, calls, prompt, ..Asked::default() })
        }
        Some((Role::User, _)) => Err(bad("The last message is empty.")),
        _ => Err(bad("The last message must be the user's.")),
    }
}

/// Ends the round of calls at `open` (a message other than a tool message came): every call
/// must have had its result, saved with it.
fn close_round(
    calls: &mut [(usize, ClientRound)],
    open: Option<usize>,
    results: &mut Vec<CallResult>,
) -> Result<(), Reject> {
    let Some(round) = open.and_then(|i| calls.get_mut(i)) else { return Ok(()) };
    for (call, end) in &mut round.1 {
        let Some(result) = results.iter().find(|r| r.id == call.call_id) else {
            return Err(bad(format!(
                "The tool call {:?} has no tool message with its result.",
                one_line(&call.call_id)
            )));
        };
        *end = Some(sent_end(&result.response));
    }
    results.clear();
    Ok(())
}

fn one_line(text: &str) -> String {
    crate::sanitize::one_line(text, 80)
}

/// A call's `arguments` (a JSON object in a string; empty: none).
fn arguments(text: &str) -> Result<Value, Reject> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(bad("A tool call's arguments must be a JSON object.")),
    }
}

/// A tool message's content as `functionResponse.response`: a JSON object as it is, anything
/// else under `content`.
fn response(text: String) -> Value {
    match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({ "content": text }),
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

    /// The functions offered and how the model may call them.
    fn functions(&self) -> Result<(Vec<ToolSpec>, ToolChoice), Reject> {
        let mut functions = Vec::new();
        for tool in self.tools.as_deref().unwrap_or_default() {
            let Some(function) = tool.function.as_ref().filter(|_| tool.kind == "function") else {
                return Err(bad(format!(
                    "A tool of type {:?} is not supported: offer functions.",
                    one_line(&tool.kind)
                )));
            };
            if functions.iter().any(|f| matches!(f, ToolSpec::Function { name, .. } if *name == function.name)) {
                return Err(bad(format!("Two tools are named {:?}.", one_line(&function.name))));
            }
            functions.push(ToolSpec::Function {
                name: function.name.clone(),
                description: function.description.clone(),
                parameters: function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            });
        }
        let named = |name: &str| {
            if functions.iter().any(|f| matches!(f, ToolSpec::Function { name: n, .. } if n == name)) {
                Ok(ToolChoice::Only(vec![name.to_owned()]))
            } else {
                Err(bad(format!("tool_choice names {:?}, which is not among the tools.", one_line(name))))
            }
        };
        let choice = match &self.tool_choice {
            None => ToolChoice::Auto,
            Some(Value::String(mode)) => match mode.as_str() {
                "auto" => ToolChoice::Auto,
                "none" => ToolChoice::None,
                "required" => ToolChoice::Required,
                other => {
                    return Err(bad(format!(
                        "tool_choice {:?} is not supported: use auto, none, required or a function.",
                        one_line(other)
                    )));
                }
            },
            Some(Value::Object(object)) => match (object.get("type").and_then(Value::as_str), object.get("function")) {
                (Some("function"), Some(function)) => match function.get("name").and_then(Value::as_str) {
                    Some(name) => named(name)?,
                    None => return Err(bad("tool_choice's function needs a name.")),
                },
                _ => return Err(bad("tool_choice must be auto, none, required or {\"type\": \"function\", ...}.")),
            },
            Some(_) => return Err(bad("tool_choice must be auto, none, required or {\"type\": \"function\", ...}.")),
        };
        if functions.is_empty() && !matches!(choice, ToolChoice::Auto | ToolChoice::None) {
            return Err(bad("tool_choice asks for a tool call, but no tools are offered."));
        }
        // Gemini may always call several at once: a client that forbids it is told.
        if self.parallel_tool_calls == Some(false) && !functions.is_empty() {
            return Err(bad("parallel_tool_calls = false is not supported: the model may call several tools at once."));
        }
        Ok((functions, choice))
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
    let (functions, tool_choice) = request.functions()?;
    let mut asked = split_messages(&request.messages)?;
    asked.functions = functions;
    asked.tool_choice = tool_choice;
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

/// How the answer ended, in OpenAI's words: calls end it with `tool_calls`.
fn finish_reason(report: &TurnReport) -> &'static str {
    match ended(&report.outcome) {
        Ok(_) if !report.tool_calls.is_empty() => "tool_calls",
        finish => finish.map_or("stop", |f| f.openai()),
    }
}

/// The answer's message: its text (null when it only calls) and its calls.
fn message_json(report: &TurnReport) -> Value {
    if report.tool_calls.is_empty() {
        return json!({"role": "assistant", "content": report.text});
    }
    let content = if report.text.is_empty() { Value::Null } else { Value::String(report.text.clone()) };
    json!({"role": "assistant", "content": content, "tool_calls": calls_json(report, false)})
}

/// The calls as OpenAI gives them (`index` in a stream's delta); a call's signature is kept
/// as Google's own OpenAI-compatible endpoint gives it, for a client to send back.
fn calls_json(report: &TurnReport, indexed: bool) -> Vec<Value> {
    report
        .tool_calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            let mut value = json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments.to_string()},
            });
            if indexed {
                value["index"] = json!(index);
            }
            if let Some(signature) = &call.signature {
                value["extra_content"] = json!({"google": {"thought_signature": signature}});
            }
            value
        })
        .collect()
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
                "message": message_json(&report),
                "finish_reason": finish_reason(&report),
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
                                Ok(_) => {
                                    if !report.tool_calls.is_empty() {
                                        let calls = chunk(
                                            &answer.model,
                                            json!({"tool_calls": calls_json(&report, true)}),
                                            None,
                                        );
                                        out.push_str(&String::from_utf8_lossy(&calls));
                                    }
                                    let finish = chunk(&answer.model, json!({}), Some(finish_reason(&report)));
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
        super::answer::event_stream(events, cached)
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
