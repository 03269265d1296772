//! Gemini's errors read into the shared [`ApiError`]: from HTTP statuses, Gemini's error JSON
//! (`{"error":{code,status,details}}`, RetryInfo, quota violations) and errors inside a stream.
//! Server text is scrubbed of the API key and cut to one line before it is kept.

use std::time::Duration;

use super::types::{ErrorBody, ErrorEnvelope};
pub use crate::llm::error::{ApiError, ErrorKind, StopReason, TimeoutPhase};
use crate::net::{MAX_RETRY_DELAY, parse_proto_duration, parse_retry_after_header};

impl ApiError {
    /// Builds the error for a non-success HTTP status from its body and `Retry-After` header.
    /// `model` names the model of the request (for 404), `key` is scrubbed from server text.
    pub fn from_status(
        status: u16,
        body: &str,
        retry_after_header: Option<&str>,
        model: Option<&str>,
        key: Option<&str>,
    ) -> Self {
        let parsed = parse_error_body(body);
        let body = parsed.unwrap_or_else(|| ErrorBody { code: status, ..ErrorBody::default() });
        classify(status, &body, retry_after_header, model, key)
    }

    /// Builds the error for an `{"error": ...}` object found inside a 200 stream.
    pub fn from_stream_error(body: &ErrorBody, model: Option<&str>, key: Option<&str>) -> Self {
        let status = if body.code == 0 { status_for_rpc(&body.status) } else { body.code };
        classify(status, body, None, model, key)
    }
}

/// Parses `{"error":{...}}` or the one-element-array variant `[{"error":{...}}]`.
pub fn parse_error_body(text: &str) -> Option<ErrorBody> {
    if let Ok(env) = serde_json::from_str::<ErrorEnvelope>(text) {
        return Some(env.error);
    }
    serde_json::from_str::<Vec<ErrorEnvelope>>(text).ok()?.into_iter().next().map(|e| e.error)
}

fn status_for_rpc(status: &str) -> u16 {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "RESOURCE_EXHAUSTED" => 429,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => 500,
    }
}

fn classify(
    status: u16,
    body: &ErrorBody,
    retry_after_header: Option<&str>,
    model: Option<&str>,
    key: Option<&str>,
) -> ApiError {
    let detail = || server_detail(&body.message, key);
    match status {
        400 if is_bad_key(body) => ApiError::BadKey,
        401 => ApiError::BadKey,
        400 if is_input_too_long(&body.message) => {
            let numbers = numbers_in(&body.message);
            ApiError::InputTooLong { tokens: numbers.first().copied(), limit: numbers.get(1).copied() }
        }
        400 => ApiError::BadRequest { detail: detail() },
        403 => ApiError::PermissionDenied { detail: detail() },
        404 => match model {
            Some(model) => ApiError::ModelNotFound { model: model.to_owned() },
            None => ApiError::NotFound { detail: detail() },
        },
        429 => classify_quota(body, retry_after_header),
        408 | 500..=599 => ApiError::Server {
            status,
            overloaded: status == 503 && body.message.to_ascii_lowercase().contains("overload"),
            retry_after: [retry_info_delay(body), retry_after_header.and_then(parse_retry_after_header)]
                .into_iter()
                .flatten()
                .max(),
        },
        _ => ApiError::Protocol { detail: format!("unexpected HTTP status {status}") },
    }
}

/// "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
fn is_input_too_long(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("input token count") && m.contains("exceeds the maximum")
}

/// The whole numbers in `text`, in order.
fn numbers_in(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect()
}

fn is_bad_key(body: &ErrorBody) -> bool {
    let reason = body.details.iter().any(|d| d.get("reason").and_then(|r| r.as_str()) == Some("API_KEY_INVALID"));
    let msg = body.message.to_ascii_lowercase();
    reason || msg.contains("api key not valid") || msg.contains("api key not found") || msg.contains("api key expired")
}

fn classify_quota(body: &ErrorBody, retry_after_header: Option<&str>) -> ApiError {
    let delays = [
        retry_info_delay(body),
        retry_in_message(&body.message),
        retry_after_header.and_then(parse_retry_after_header),
    ];
    let retry_after = delays.into_iter().flatten().max();
    let daily = body.details.iter().any(|d| {
        d.get("violations").and_then(|v| v.as_array()).is_some_and(|vs| {
            vs.iter().any(|v| {
                let id = v.get("quotaId").and_then(|q| q.as_str()).unwrap_or_default();
                id.contains("PerDay") || id.contains("Daily")
            })
        })
    });
    let no_quota = body.message.contains("limit: 0");
    let too_long = retry_after.is_some_and(|d| d > MAX_RETRY_DELAY);
    if daily || no_quota || too_long {
        ApiError::QuotaExhausted { retry_after, daily: daily || no_quota }
    } else {
        ApiError::RateLimited { retry_after }
    }
}

fn retry_info_delay(body: &ErrorBody) -> Option<Duration> {
    body.details.iter().find_map(|d| {
        let is_retry_info =
            d.get("@type").and_then(|t| t.as_str()).is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
        if !is_retry_info {
            return None;
        }
        parse_proto_duration(d.get("retryDelay")?.as_str()?)
    })
}

/// Finds "Please retry in 45.57s" (or "...in 900ms") in a message.
fn retry_in_message(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("retry in ")? + "retry in ".len();
    let rest = &lower[at..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'm' || c == 's')).unwrap_or(rest.len());
    parse_proto_duration(rest[..end].trim_end_matches('.'))
}

/// Server text made safe for one line of user output: no control characters, no key (redacted
/// before the text is cut, so no part of it survives), bounded.
fn server_detail(message: &str, key: Option<&str>) -> String {
    let text = crate::sanitize::redacted_line(message, key.as_slice(), 200);
    if text.is_empty() { "no details given".to_owned() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_404_on_anything_but_a_model_does_not_blame_a_model() {
        let body = r#"{"error":{"code":404,"message":"Upload session not found.","status":"NOT_FOUND"}}"#;
        let e = ApiError::from_status(404, body, None, None, None);
        assert_eq!(e, ApiError::NotFound { detail: "Upload session not found.".into() });
        let text = e.to_string();
        assert!(!text.contains("requested") && !text.contains("model"), "{text}");
        assert_eq!(
            ApiError::from_status(404, body, None, Some("gemini-9"), None),
            ApiError::ModelNotFound { model: "gemini-9".into() }
        );
    }

    #[test]
    fn retry_hint_in_the_message_is_found() {
        let m = "You exceeded your current quota...\nPlease retry in 45.578569677s.";
        assert_eq!(retry_in_message(m), Some(Duration::from_secs_f64(45.578569677)));
        assert_eq!(retry_in_message("nothing here"), None);
    }

    #[test]
    fn the_largest_retry_hint_wins() {
        let body = r#"{"error":{"code":429,"message":"Please retry in 5s.","status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}"#;
        assert_eq!(
            ApiError::from_status(429, body, Some("9"), None, None),
            ApiError::RateLimited { retry_after: Some(Duration::from_secs(9)) }
        );
        assert_eq!(
            ApiError::from_status(429, body, None, None, None),
            ApiError::RateLimited { retry_after: Some(Duration::from_secs(5)) }
        );
    }

    #[test]
    fn server_errors_keep_the_servers_delay() {
        let plain = ApiError::from_status(503, "", Some("3"), None, None);
        assert_eq!(plain.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(plain.kind(), ErrorKind::Server);
        let body = r#"{"error":{"code":500,"message":"Internal error","status":"INTERNAL",
            "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"4s"}]}}"#;
        assert_eq!(ApiError::from_status(500, body, Some("2"), None, None).retry_after(), Some(Duration::from_secs(4)));
        assert_eq!(ApiError::from_status(504, "", None, None, None).retry_after(), None);
        assert_eq!(ApiError::from_status(408, "", Some("1"), None, None).retry_after(), Some(Duration::from_secs(1)));
    }
}
