//! The Gemini-native routes, so Google's SDKs work with a changed base URL:
//! `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:countTokens`, and `GET /v1beta/models`. The client key comes in `x-goog-api-key` or `?key=`;
//! errors are in Google's shape (`RESOURCE_EXHAUSTED` for budgets and limits). The JSON is
//! Gemini's own wire types (`crate::gemini::types`), read and written only here in `serve`; the
//! turn goes through the same runner as the OpenAI routes (`answer`). `functionDeclarations` are
//! the client's functions: `functionCall` parts come back as Gemini gives them, and contents
//! that end with `functionResponse` parts are a turn made of those results.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::answer::{
    Answer, Asked, bad, begin, cache_header, ended, estimate_tokens, read_body, refused, sent_call, sent_end,
};
use super::reject::{Api, Reject, Why};
use super::{ROLE_PREFIX, Served};
use crate::chat::{CallResult, Settings, Shown, TurnReport};
use crate::domain::Role;
use crate::gemini::types::{
    Candidate, Content, CountTokensResponse, GenerateContentRequest, GenerateContentResponse, ListModelsResponse, Model,
};
use crate::llm::{ToolChoice, ToolSpec};
use crate::store::{ClientRound, NewToolCall, ToolCallEnd};
use crate::turn::Update;

/// What a `models/{model}:{method}` path asks.
enum Method {
    Generate,
    Stream,
    CountTokens,
}

async fn read_json(served: &Served, body: axum::body::Body) -> Result<Value, Reject> {
    let body = read_body(served, body).await?;
    serde_json::from_slice(&body)
        .map_err(|e| Reject::new(Why::BadJson, format!("The request is not valid JSON ({e}).")))
}

/// The text of a content's parts; files are refused (not silently dropped), function calls
/// and responses are read by [`asked`].
fn text_of(content: &Content) -> Result<String, Reject> {
    let mut text = String::new();
    for part in &content.parts {
        if part.inline_data.is_some() || part.file_data.is_some() {
            return Err(bad("Files and inline data are not supported by this server yet: send text parts."));
        }
        if !part.thought
            && let Some(t) = &part.text
        {
            text.push_str(t);
        }
    }
    Ok(text)
}

fn one_line(text: &str) -> String {
    crate::sanitize::one_line(text, 80)
}

/// A model content's calls, each with its id (Gemini's, else one by its place) and signature.
fn calls_of(content: &Content, at: usize, offset: usize) -> Result<ClientRound, Reject> {
    let mut calls: ClientRound = Vec::new();
    for part in content.parts.iter().filter(|p| p.function_call.is_some()) {
        let call = crate::gemini::convert::tool_call(part).ok_or_else(|| bad("A functionCall needs a name."))?;
        let id = call.id.clone().unwrap_or_else(|| format!("call_{at}_{}", calls.len() + 1));
        if calls.iter().any(|(c, _)| c.call_id == id) {
            return Err(bad(format!("Two function calls have the id {:?}.", one_line(&id))));
        }
        let mut new = sent_call(&id, &call.name, &call.arguments, call.signature.clone(), offset);
        // A call Gemini gave no id goes back without one.
        new.wire_id = call.id;
        calls.push((new, None));
    }
    Ok(calls)
}

/// A user content's function responses, matched to the calls before it: by id, else the first
/// call of that name not yet answered.
fn results_of(content: &Content, calls: &[(NewToolCall, Option<ToolCallEnd>)]) -> Result<Vec<CallResult>, Reject> {
    let mut results: Vec<CallResult> = Vec::new();
    for part in content.parts.iter().filter_map(|p| p.function_response.as_deref()) {
        let name = part.get("name").and_then(Value::as_str).unwrap_or_default();
        let id = part.get("id").and_then(Value::as_str);
        let call = calls.iter().map(|(c, _)| c).find(|c| match id {
            Some(id) => c.call_id == id,
            None => c.name == name && !results.iter().any(|r| r.id == c.call_id),
        });
        let Some(call) = call.filter(|c| c.name == name) else {
            return Err(bad(format!(
                "The function response for {:?}{} matches no function call of the model content before it.",
                one_line(name),
                id.map(|id| format!(" (id {:?})", one_line(id))).unwrap_or_default()
            )));
        };
        if results.iter().any(|r| r.id == call.call_id) {
            return Err(bad(format!("Two function responses answer the call {:?}.", one_line(&call.call_id))));
        }
        let response = match part.get("response") {
            Some(value @ Value::Object(_)) => value.clone(),
            Some(other) => serde_json::json!({ "output": other }),
            None => serde_json::json!({}),
        };
        results.push(CallResult { id: call.call_id.clone(), signature: call.signature.clone(), response });
    }
    if let Some((call, _)) = calls.iter().find(|(c, _)| !results.iter().any(|r| r.id == c.call_id)) {
        return Err(bad(format!("The function call {:?} has no function response.", one_line(&call.name))));
    }
    Ok(results)
}

fn asked(request: &GenerateContentRequest) -> Result<Asked, Reject> {
    let system = request.system_instruction.as_ref().map(text_of).transpose()?.filter(|s| !s.is_empty());
    let mut history: Vec<(Role, String)> = Vec::new();
    let mut calls: Vec<(usize, ClientRound)> = Vec::new();
    // The calls of the model content just before, until their responses come.
    let mut open: Option<usize> = None;
    let mut results = None;
    for (n, content) in request.contents.iter().enumerate() {
        let responds = content.parts.iter().any(|p| p.function_response.is_some());
        if let Some(i) = open.take() {
            if !responds {
                return Err(bad("A model content's function calls must be followed by their function responses."));
            }
            let these = results_of(content, &calls[i].1)?;
            if content.parts.iter().any(|p| p.text.as_deref().is_some_and(|t| !t.is_empty())) {
                return Err(bad("Send function responses in a content of their own, without text."));
            }
            if n + 1 == request.contents.len() {
                results = Some(these);
            } else {
                for (call, end) in &mut calls[i].1 {
                    let response = these.iter().find(|r| r.id == call.call_id).map(|r| &r.response);
                    *end = response.map(sent_end);
                }
            }
            continue;
        }
        if responds {
            return Err(bad("A function response must follow the model content that called it."));
        }
        match content.role.as_deref() {
            None | Some("user") => history.push((Role::User, text_of(content)?)),
            Some("model") => {
                let text = text_of(content)?;
                let these = calls_of(content, history.len(), text.len())?;
                history.push((Role::Model, text));
                if !these.is_empty() {
                    calls.push((history.len() - 1, these));
                    open = Some(calls.len() - 1);
                }
            }
            Some(other) => {
                return Err(bad(format!("Unknown content role {:?}.", one_line(other))));
            }
        }
    }
    if results.is_some() {
        return Ok(Asked { system, history, calls, results, ..Asked::default() });
    }
    if open.is_some() {
        return Err(bad("The last content calls functions: send their responses, then ask."));
    }
    match history.pop() {
        Some((Role::User, prompt)) if !prompt.trim().is_empty() => {
            Ok(Asked { system, history, calls, prompt, ..Asked::default() })
        }
        Some((Role::User, _)) => Err(bad("The last content is empty.")),
        _ => Err(bad("The last content must be the user's.")),
    }
}

/// The functions a request declares and how the model may call them (`toolConfig`).
fn functions(request: &GenerateContentRequest) -> Result<(Vec<ToolSpec>, ToolChoice), Reject> {
    let mut functions = Vec::new();
    for declaration in request.tools.iter().filter_map(|t| t.function_declarations.as_ref()).flatten() {
        let name = declaration
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("A function declaration needs a name."))?;
        if functions.iter().any(|f| matches!(f, ToolSpec::Function { name: n, .. } if n == name)) {
            return Err(bad(format!("Two function declarations are named {:?}.", one_line(name))));
        }
        let parameters = declaration
            .get("parameters")
            .or(declaration.get("parametersJsonSchema"))
            .or(declaration.get("parameters_json_schema"))
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
        functions.push(ToolSpec::Function {
            name: name.to_owned(),
            description: declaration.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
            parameters,
        });
    }
    let config =
        request.tool_config.as_ref().and_then(|c| c.get("functionCallingConfig").or(c.get("function_calling_config")));
    let Some(config) = config else { return Ok((functions, ToolChoice::Auto)) };
    let allowed: Vec<String> = config
        .get("allowedFunctionNames")
        .or(config.get("allowed_function_names"))
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let choice = match config.get("mode").and_then(Value::as_str).unwrap_or("AUTO") {
        "AUTO" | "MODE_UNSPECIFIED" => ToolChoice::Auto,
        "NONE" => ToolChoice::None,
        "ANY" if allowed.is_empty() => ToolChoice::Required,
        "ANY" => {
            if let Some(name) = allowed
                .iter()
                .find(|a| !functions.iter().any(|f| matches!(f, ToolSpec::Function { name, .. } if name == *a)))
            {
                return Err(bad(format!("allowedFunctionNames names {:?}, which is not declared.", one_line(name))));
            }
            ToolChoice::Only(allowed)
        }
        other => {
            return Err(bad(format!(
                "The function calling mode {:?} is not supported: use AUTO, ANY or NONE.",
                one_line(other)
            )));
        }
    };
    Ok((functions, choice))
}

/// The generation settings a request sets (Google Search and URL context among them).
fn settings(raw: &Value, request: &GenerateContentRequest) -> Result<Settings, Reject> {
    let config = request.generation_config.clone().unwrap_or_default();
    let raw_config = raw.get("generationConfig").or(raw.get("generation_config"));
    let schema = config
        .response_json_schema
        .clone()
        .or_else(|| raw_config.and_then(|c| c.get("responseSchema").or(c.get("response_schema"))).cloned());
    let json_asked = config.response_mime_type.as_deref() == Some("application/json");
    Ok(Settings {
        temperature: config.temperature,
        top_p: config.top_p,
        max_tokens: config.max_output_tokens,
        seed: config.seed,
        stop: config.stop_sequences.clone(),
        json_schema: schema.or_else(|| json_asked.then(|| serde_json::json!({"type": "object"}))),
        search: request.tools.iter().any(|t| t.google_search.is_some()).then_some(true),
        url_context: request.tools.iter().any(|t| t.url_context.is_some()).then_some(true),
        ..Settings::default()
    })
}

/// `POST /v1beta/models/{model}:{method}`.
pub(super) async fn model_call(
    State(served): State<Arc<Served>>,
    Path(call): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Body,
) -> Response {
    let client = match served.authenticate(&headers, &uri) {
        Ok(client) => client,
        Err(reject) => return served.refuse(None, reject, Api::Google),
    };
    match call_model(&served, &client, &call, &headers, &uri, body).await {
        Ok(response) => response,
        Err(reject) => served.refuse(Some(&client.name), reject, Api::Google),
    }
}

async fn call_model(
    served: &Arc<Served>,
    client: &super::Client,
    call: &str,
    headers: &HeaderMap,
    uri: &Uri,
    body: axum::body::Body,
) -> Result<Response, Reject> {
    let (model, method) = call.rsplit_once(':').ok_or_else(|| Reject::new(Why::ModelNotFound, "No such method."))?;
    let method = match method {
        "generateContent" => Method::Generate,
        "streamGenerateContent" => Method::Stream,
        "countTokens" => Method::CountTokens,
        _ => {
            return Err(Reject::new(
                Why::ModelNotFound,
                "No such method: this server offers generateContent, streamGenerateContent and countTokens.",
            ));
        }
    };
    let model = model.strip_prefix("models/").unwrap_or(model).to_owned();
    let mut raw = read_json(served, body).await?;
    if let Method::CountTokens = method
        && let Some(inner) = raw.get("generateContentRequest").or(raw.get("generate_content_request"))
    {
        raw = inner.clone();
    }
    let request: GenerateContentRequest = serde_json::from_value(raw.clone())
        .map_err(|e| Reject::new(Why::BadJson, format!("The request is not a valid Gemini request ({e}).")))?;
    let mut asked = asked(&request)?;
    (asked.functions, asked.tool_choice) = functions(&request)?;
    let chars = asked.prompt.len() + asked.history.iter().map(|(_, t)| t.len()).sum::<usize>();
    if let Method::CountTokens = method {
        return count_tokens(served, client, &model, asked).await;
    }
    let stream = matches!(method, Method::Stream);
    if stream && !uri.query().is_some_and(|q| q.split('&').any(|p| p == "alt=sse")) {
        return Err(bad("streamGenerateContent is served as server-sent events only: add ?alt=sse."));
    }
    let settings = settings(&raw, &request)?;
    let answer = begin(served, headers, client, &model, asked, settings, estimate_tokens(chars)).await?;
    if stream { Ok(sse(answer).await) } else { whole(answer).await }
}

fn chunk(
    text: Option<String>,
    finish: Option<&str>,
    report: Option<&TurnReport>,
    model: &str,
) -> GenerateContentResponse {
    let mut content = Content::model(text.unwrap_or_default());
    // The calls the answer ended with, after its text, as Gemini gives them (id, signature).
    if let Some(report) = report.filter(|r| !r.tool_calls.is_empty()) {
        content.parts.retain(|p| p.text.as_deref().is_some_and(|t| !t.is_empty()));
        content.parts.extend(report.tool_calls.iter().map(crate::gemini::convert::tool_call_part));
    }
    GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(content),
            finish_reason: finish.map(str::to_owned),
            index: Some(0),
            ..Candidate::default()
        }],
        usage_metadata: report.and_then(|r| r.usage),
        model_version: Some(report.and_then(|r| r.answered_by.clone()).unwrap_or_else(|| model.to_owned())),
        response_id: report.and_then(|r| r.answer_id).map(|id| format!("geminal-{id}")),
        ..GenerateContentResponse::default()
    }
}

async fn whole(answer: Answer) -> Result<Response, Reject> {
    let model = answer.model.clone();
    let report = answer.report().await?;
    let finish = ended(&report.outcome).map_or("STOP", |f| f.google());
    let body = chunk(Some(report.text.clone()), Some(finish), Some(&report), &model);
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert("x-geminal-cache", cache_header(report.cached));
    Ok(response)
}

fn data(value: &impl serde::Serialize) -> String {
    format!("data: {}\r\n\r\n", serde_json::to_string(value).unwrap_or_default())
}

/// Server-sent chunks as the answer grows; dropping the body drops the turn (and the upstream
/// call).
async fn sse(mut answer: Answer) -> Response {
    let cached = answer.cached().await;
    let events = futures::stream::unfold(Some((answer, String::new(), String::new())), |state| async move {
        let (mut answer, mut sent, mut current) = state?;
        loop {
            match answer.next().await? {
                Update::Shown(Shown::Restart) => current.clear(),
                Update::Shown(Shown::Text(text)) => {
                    current.push_str(&text);
                    // A restart is invisible to the client while it repeats what was sent.
                    if current.len() > sent.len() && current.starts_with(&sent) {
                        let more = current[sent.len()..].to_owned();
                        sent.clone_from(&current);
                        let bytes = Bytes::from(data(&chunk(Some(more), None, None, &answer.model)));
                        return Some((Ok::<_, Infallible>(bytes), Some((answer, sent, current))));
                    }
                }
                Update::Refused(refusal) => {
                    return Some((Ok(Bytes::from(data(&refused(refusal).body(Api::Google)))), None));
                }
                Update::Done(report) => {
                    answer.finished(&report).await;
                    let last = match ended(&report.outcome) {
                        Err(reject) => data(&reject.body(Api::Google)),
                        Ok(finish) => data(&chunk(None, Some(finish.google()), Some(&report), &answer.model)),
                    };
                    return Some((Ok(Bytes::from(last)), None));
                }
                _ => {}
            }
        }
    });
    super::answer::event_stream(events, cached)
}

/// The provider's own count when it has one, else an estimate (about four characters a token).
async fn count_tokens(served: &Served, client: &super::Client, model: &str, asked: Asked) -> Result<Response, Reject> {
    if !client.limits.allows(model) {
        return Err(Reject::new(Why::ModelNotAllowed, "This key may not use this model."));
    }
    if model.starts_with(ROLE_PREFIX) {
        return Err(bad("Tokens are counted for a model, not a role."));
    }
    let chars = asked.prompt.len() + asked.history.iter().map(|(_, text)| text.len()).sum::<usize>();
    let mut messages: Vec<crate::llm::Message> =
        asked.history.into_iter().map(|(role, text)| crate::llm::Message::text(author(role), text)).collect();
    messages.push(crate::llm::Message::text(crate::llm::Author::User, asked.prompt));
    let request = crate::llm::Request { system: asked.system, messages, ..crate::llm::Request::default() };
    let providers = served.runner.session().engine().providers();
    let (provider, id) = providers.resolve(model);
    let counted = provider.count_tokens(id, &request).await.map_err(|e| Reject::upstream(&e))?;
    let total = counted.unwrap_or(u64::from(estimate_tokens(chars)));
    Ok(axum::Json(CountTokensResponse { total_tokens: total, cached_content_token_count: None }).into_response())
}

fn author(role: Role) -> crate::llm::Author {
    match role {
        Role::User => crate::llm::Author::User,
        Role::Model => crate::llm::Author::Assistant,
    }
}

/// `GET /v1beta/models`: the providers' models and the roles, as this key may use them.
pub(super) async fn models(State(served): State<Arc<Served>>, headers: HeaderMap, uri: Uri) -> Response {
    let client = match served.authenticate(&headers, &uri) {
        Ok(client) => client,
        Err(reject) => return reject.into_response(Api::Google),
    };
    let listed = match served.runner.session().list_models().await {
        Ok(models) => models,
        Err(error) => return Reject::upstream(&error).into_response(Api::Google),
    };
    let roles = served.roles.iter().map(|r| format!("{ROLE_PREFIX}{}", r.name));
    let models = listed
        .into_iter()
        .chain(roles)
        .filter(|id| client.limits.allows(id))
        .map(|id| Model {
            name: format!("models/{id}"),
            display_name: Some(id),
            supported_generation_methods: vec![
                "generateContent".into(),
                "streamGenerateContent".into(),
                "countTokens".into(),
            ],
            ..Model::default()
        })
        .collect();
    axum::Json(ListModelsResponse { models, ..ListModelsResponse::default() }).into_response()
}
