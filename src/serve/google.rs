//! The Gemini-native routes, so Google's SDKs work with a changed base URL:
//! `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:countTokens`, and `GET /v1beta/models`. The client key comes in `x-goog-api-key` or `?key=`;
//! errors are in Google's shape (`RESOURCE_EXHAUSTED` for budgets and limits). The JSON is
//! Gemini's own wire types (`crate::gemini::types`), read and written only here in `serve`; the
//! turn goes through the same runner as the OpenAI routes (`answer`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::answer::{Answer, Asked, bad, begin, cache_header, ended, estimate_tokens, read_body, refused};
use super::reject::{Api, Reject, Why};
use super::{ROLE_PREFIX, Served};
use crate::chat::{Settings, Shown, TurnReport};
use crate::domain::Role;
use crate::gemini::types::{
    Candidate, Content, CountTokensResponse, GenerateContentRequest, GenerateContentResponse, ListModelsResponse, Model,
};
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

/// The text of a content's parts; anything but text is refused (not silently dropped).
fn text_of(content: &Content) -> Result<String, Reject> {
    let mut text = String::new();
    for part in &content.parts {
        if part.inline_data.is_some() || part.file_data.is_some() {
            return Err(bad("Files and inline data are not supported by this server yet: send text parts."));
        }
        if part.function_call.is_some() || part.function_response.is_some() {
            return Err(bad("Function calls are not supported by this server yet."));
        }
        if !part.thought
            && let Some(t) = &part.text
        {
            text.push_str(t);
        }
    }
    Ok(text)
}

fn asked(request: &GenerateContentRequest) -> Result<Asked, Reject> {
    let system = request.system_instruction.as_ref().map(text_of).transpose()?.filter(|s| !s.is_empty());
    let mut history = Vec::new();
    for content in &request.contents {
        let role = match content.role.as_deref() {
            None | Some("user") => Role::User,
            Some("model") => Role::Model,
            Some(other) => {
                return Err(bad(format!("Unknown content role {:?}.", crate::sanitize::one_line(other, 40))));
            }
        };
        history.push((role, text_of(content)?));
    }
    match history.pop() {
        Some((Role::User, prompt)) if !prompt.trim().is_empty() => Ok(Asked { system, history, prompt, ..Asked::default() }),
        Some((Role::User, _)) => Err(bad("The last content is empty.")),
        _ => Err(bad("The last content must be the user's.")),
    }
}

/// The generation settings a request sets; tools beyond Google Search and URL context refused.
fn settings(raw: &Value, request: &GenerateContentRequest) -> Result<Settings, Reject> {
    let declares = raw["tools"].as_array().is_some_and(|tools| {
        tools.iter().any(|t| t.get("functionDeclarations").or(t.get("function_declarations")).is_some())
    });
    if declares {
        return Err(bad("Function declarations are not supported by this server yet."));
    }
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
    let asked = asked(&request)?;
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
    GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(Content::model(text.unwrap_or_default())),
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
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-geminal-cache", cache_header(cached));
    response
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
