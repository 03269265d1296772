//! The fake's answer to `generateContent` and `streamGenerateContent`: the request checked as
//! Gemini checks it (`alt=sse`, parts and files, `thinkingConfig`, tools, the model's input
//! limit), then the scripted behaviour played into the body, step by step, noticing at once
//! when the client goes away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use super::{
    Answer, Body, Fault, JSON, RecordedRequest, SSE, Shared, Step, StreamEnd, demo, full, functions, grounding, hash,
    lock, script,
};
use crate::gemini::types::GenerateContentRequest;

/// Pause before a scripted connection reset, so bytes already written reach the client.
const CUT_GRACE: Duration = Duration::from_millis(30);

pub(super) fn generate(req: &RecordedRequest, shared: &Arc<Shared>, model: &str, is_stream: bool) -> Response<Body> {
    let content_type = if is_stream { SSE } else { JSON };
    if is_stream && !req.query.as_deref().unwrap_or_default().split('&').any(|kv| kv == "alt=sse") {
        let body = Fault::error_body(400)
            .replace("Unknown name \\\"foo\\\": Cannot find field.", "this fake serves streams only with alt=sse.");
        return full(StatusCode::BAD_REQUEST, JSON, body);
    }
    let Ok(request) = serde_json::from_str::<GenerateContentRequest>(&req.body) else {
        return full(StatusCode::BAD_REQUEST, content_type, Fault::error_body(400));
    };
    if let Some((status, body)) = lock(&shared.files).check_parts(&request, req.body_len) {
        return full(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), content_type, body);
    }
    let thinking = request.generation_config.as_ref().and_then(|c| c.thinking_config.as_ref());
    if let Some(message) = thinking.and_then(|t| refused_thinking(model, t)) {
        let body = Fault::error_body(400)
            .replace("Invalid JSON payload received. Unknown name \\\"foo\\\": Cannot find field.", &message);
        return full(StatusCode::BAD_REQUEST, content_type, body);
    }
    let tools = match grounding::tools_asked(&req.body) {
        Ok(tools) => tools,
        Err(message) => {
            let body = Fault::error_body(400).replace(
                "Invalid JSON payload received. Unknown name \\\"foo\\\": Cannot find field.",
                &message.replace('"', "\\\""),
            );
            return full(StatusCode::BAD_REQUEST, content_type, body);
        }
    };
    // Functions: declarations checked, and the calls and results sent back checked against the
    // calls this fake gave.
    let body_value: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
    let declared = match functions::declarations(&body_value)
        .and_then(|d| functions::check_history(&body_value, model, &lock(&shared.calls)).map(|()| d))
    {
        Ok(declared) => declared,
        Err(message) => {
            let body = super::behavior::status_body(400, "INVALID_ARGUMENT", &message, serde_json::json!([]));
            return full(StatusCode::BAD_REQUEST, content_type, body);
        }
    };
    // A request longer than the model takes is refused as Google does (counted as countTokens
    // counts, so a client that counted first is never surprised).
    let limit = shared.models().into_iter().find(|m| m.id() == model).and_then(|m| m.input_token_limit);
    if let Some(limit) = limit
        && u64::from(script::tokens(&req.body)) > limit
    {
        let message = format!(
            "The input token count ({}) exceeds the maximum number of tokens allowed ({limit}).",
            script::tokens(&req.body)
        );
        let body = Fault::error_body(400)
            .replace("Invalid JSON payload received. Unknown name \\\"foo\\\": Cannot find field.", &message);
        return full(StatusCode::BAD_REQUEST, content_type, body);
    }
    let include_thoughts = thinking.and_then(|t| t.include_thoughts) == Some(true);
    let mut behavior = shared.behavior_for(req);
    behavior.tools = tools;
    // The demo thinks aloud when asked to.
    if include_thoughts && behavior.answer == Answer::Demo && behavior.thoughts == 0 {
        behavior.thoughts = 2;
    }
    // The demo answers a question about a picture (or any media) by what it was sent.
    if behavior.answer == Answer::Demo {
        let media = lock(&shared.files).media_of_last_prompt(&request);
        if !media.is_empty() {
            behavior.answer = Answer::Text(demo::attachment_answer(&media, &req.prompt()));
        }
    }
    if let Some(Fault::Status { status, body, headers }) = &behavior.fault {
        let mut response = full(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            content_type,
            body.clone(),
        );
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (hyper::header::HeaderName::from_bytes(k.as_bytes()), v.parse()) {
                response.headers_mut().insert(k, v);
            }
        }
        return response;
    }
    let prompt = req.prompt();
    let plan = functions::plan(&body_value, &declared, behavior.answer == Answer::Demo);
    if let functions::Plan::Answer(text) = &plan {
        behavior.answer = Answer::Text(text.clone());
    }
    if let functions::Plan::Call { .. } | functions::Plan::Malformed = &plan {
        let version = behavior.model_version.clone().unwrap_or_else(|| answering_model(model).to_owned());
        let steps = function_steps(&plan, &behavior, &req.body, model, &version, shared, is_stream);
        return played(steps, content_type, shared, req.id);
    }
    let response_id = format!("fake{:08x}", hash(&format!("{}{prompt}", req.id)) as u32);
    let version = behavior.model_version.clone().unwrap_or_else(|| answering_model(model).to_owned());
    let steps = if is_stream {
        script::stream_steps(&behavior, &prompt, &version, &response_id, hash(&prompt) ^ req.id, include_thoughts)
    } else {
        script::unary_steps(&behavior, &prompt, &version, &response_id)
    };
    played(steps, content_type, shared, req.id)
}

/// A response whose body plays `steps`.
fn played(steps: Vec<Step>, content_type: &str, shared: &Arc<Shared>, id: u64) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(play(steps, tx, shared.clone(), id));
    let frames = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

/// The body of an answer that calls functions (or ends with a malformed call): the text
/// first, then one call per chunk (as Gemini streams parallel calls), the last with `STOP`.
fn function_steps(
    plan: &functions::Plan,
    behavior: &super::Behavior,
    body: &str,
    model: &str,
    version: &str,
    shared: &Arc<Shared>,
    is_stream: bool,
) -> Vec<Step> {
    use serde_json::json;
    let prompt_tokens = script::tokens(body).max(1);
    let mut steps = Vec::new();
    if !behavior.first_token_delay.is_zero() {
        steps.push(Step::Sleep(behavior.first_token_delay));
    }
    let usage = |out: u32| {
        behavior.usage.clone().unwrap_or_else(|| {
            json!({ "promptTokenCount": prompt_tokens, "candidatesTokenCount": out, "totalTokenCount": prompt_tokens + out })
        })
    };
    let response_id = format!("fake{:08x}", hash(body) as u32);
    let chunk = |parts: serde_json::Value, finish: Option<(&str, &str)>, out: u32| {
        let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
        if let Some((reason, message)) = finish {
            candidate["finishReason"] = json!(reason);
            candidate["finishMessage"] = json!(message);
        }
        json!({ "candidates": [candidate], "usageMetadata": usage(out), "modelVersion": version, "responseId": response_id })
    };
    let mut events = Vec::new();
    match plan {
        functions::Plan::Call { text, calls } => {
            let next = &shared.next_id;
            let parts =
                functions::call_parts(model, calls, &mut || next.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
            let out = script::tokens(text) + 8 * parts.len() as u32;
            let mut issued = lock(&shared.calls);
            let mut all = vec![json!({ "text": text })];
            for (part, given) in parts {
                if let Some(id) = part["functionCall"]["id"].as_str() {
                    issued.insert(id.to_owned(), given);
                }
                all.push(part);
            }
            if is_stream {
                let n = all.len();
                for (i, part) in all.into_iter().enumerate() {
                    let finish = (i + 1 == n).then_some(("STOP", "Model generated function call(s)."));
                    events.push(chunk(json!([part]), finish, out));
                }
            } else {
                events.push(chunk(
                    serde_json::Value::Array(all),
                    Some(("STOP", "Model generated function call(s).")),
                    out,
                ));
            }
        }
        _ => {
            let message = "Malformed function call: print(default_api.lookup(q=[\"New";
            events.push(json!({ "candidates": [{ "finishReason": "MALFORMED_FUNCTION_CALL", "index": 0, "finishMessage": message }],
                "usageMetadata": usage(0), "modelVersion": version, "responseId": response_id }));
        }
    }
    for event in events {
        let text = if is_stream {
            format!("data: {event}\r\n\r\n")
        } else {
            let mut text = serde_json::to_string_pretty(&event).unwrap_or_default();
            text.push('\n');
            text
        };
        steps.push(Step::Write(Bytes::from(text)));
        if !behavior.chunk_delay.is_zero() {
            steps.push(Step::Sleep(behavior.chunk_delay));
        }
    }
    steps
}

/// The model an alias stands for, named in `modelVersion` as Google's does (any other name
/// answers as itself).
fn answering_model(model: &str) -> &str {
    match model {
        "gemini-flash-latest" => "gemini-2.5-flash",
        "gemini-flash-lite-latest" => "gemini-2.5-flash-lite",
        "gemini-pro-latest" => "gemini-2.5-pro",
        other => other,
    }
}

/// The 400 Gemini answers for a `thinkingConfig` the model cannot take (the fake's wording):
/// both a level and a budget, or a budget out of the model's range.
fn refused_thinking(model: &str, t: &crate::gemini::types::ThinkingConfig) -> Option<String> {
    use crate::gemini::thinking::{Family, family};
    if t.thinking_level.is_some() && t.thinking_budget.is_some() {
        return Some("You can only set one of thinking budget and thinking level.".to_owned());
    }
    let budget = t.thinking_budget?;
    let (min, max) = match family(model) {
        Family::Pro25 if budget == 0 => {
            return Some("Budget 0 is invalid. This model only works in thinking mode.".to_owned());
        }
        Family::Pro25 => (128, 32_768),
        Family::Flash25 | Family::FlashLite25 => (0, 24_576),
        _ => (-1, 32_768),
    };
    (budget != -1 && !(min..=max).contains(&budget))
        .then(|| format!("The thinking budget {budget} is invalid. Please choose a value between {min} and {max}."))
}

/// Plays the steps into the body channel, noticing at once when the client goes away.
async fn play(steps: Vec<Step>, tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>, shared: Arc<Shared>, id: u64) {
    let mut end = StreamEnd::Completed;
    for step in steps {
        let gone = match step {
            Step::Sleep(d) => tokio::select! {
                _ = tokio::time::sleep(d) => false,
                _ = tx.closed() => true,
            },
            Step::Write(bytes) => tx.send(Ok(Frame::data(bytes))).await.is_err(),
            Step::Cut => {
                // Give what was written time to leave before the reset, as on a real network.
                tokio::time::sleep(CUT_GRACE).await;
                let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake cut"))).await;
                break;
            }
            Step::Stall => {
                tx.closed().await;
                true
            }
        };
        if gone {
            end = StreamEnd::ClientClosed;
            break;
        }
    }
    if end == StreamEnd::Completed {
        // Let hyper finish the body before we record the end.
        drop(tx);
    }
    lock(&shared.ends).insert(id, (end, Instant::now()));
}
