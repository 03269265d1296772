//! `ApiError`: one variant per thing a caller acts on differently, built from HTTP statuses,
//! Gemini's error JSON and stream faults. Display is one sentence for a person: what failed and
//! what to do. It never holds the API key (server text is scrubbed) nor raw JSON.

use std::fmt;
use std::time::Duration;

use super::types::{ErrorBody, ErrorEnvelope};
use crate::sanitize::one_line;

/// Per-day quota, `limit: 0`, or a server delay longer than this is not worth waiting for.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// No key configured (and not in demo mode).
    NoKey,
    /// The key was rejected as invalid (400 API_KEY_INVALID, 401).
    BadKey,
    /// 403: the key is valid but may not do this.
    PermissionDenied { detail: String },
    /// 404 on a model path.
    ModelNotFound { model: String },
    /// 404 on anything else (an upload session, a file, a job): Gemini holds nothing there.
    NotFound { detail: String },
    /// 400 other than a bad key: the request itself is wrong.
    BadRequest { detail: String },
    /// 400 "The input token count (N) exceeds the maximum number of tokens allowed (M)": the
    /// conversation no longer fits the model.
    InputTooLong { tokens: Option<u64>, limit: Option<u64> },
    /// 429 that is worth retrying after `retry_after` (the largest of the server's hints).
    RateLimited { retry_after: Option<Duration> },
    /// 429 that is not worth retrying: per-day quota, no free quota (`limit: 0`), or a very long delay.
    QuotaExhausted { retry_after: Option<Duration>, daily: bool },
    /// 5xx (and 408): the service failed or is overloaded; `retry_after` is the server's own
    /// delay (`Retry-After` or `RetryInfo`), when it gave one.
    Server { status: u16, overloaded: bool, retry_after: Option<Duration> },
    /// The prompt was refused before any answer (`promptFeedback.blockReason`).
    PromptBlocked { reason: String },
    /// The answer ended early for a reason other than STOP.
    AnswerStopped { reason: StopReason },
    /// Could not connect or send.
    Network { detail: String },
    /// A watchdog fired.
    Timeout { phase: TimeoutPhase, after: Duration },
    /// The stream ended (or was cut) before the answer was finished.
    Truncated { detail: String },
    /// The server said something we could not understand.
    Protocol { detail: String },
    /// A configured provider needs a key (its `api_key_env`) and none is set.
    NoProviderKey { provider: String, env: String },
    /// A configured provider rejected its key (HTTP 401).
    ProviderKeyRejected { provider: String, env: Option<String> },
    /// The chosen model's provider cannot do what the request asks (an attachment type, a
    /// Gemini-only tool); `what` is the whole sentence, naming the model and the way forward.
    Unsupported { what: String },
    /// `error` from a provider other than the built-in Gemini one: the same kind, told with the
    /// provider's name where the sentence would say "Gemini".
    Via { provider: String, error: Box<ApiError> },
}

/// A fieldless view of [`ApiError`], for exit codes, JSON output and retry policy; its names
/// come from the one list of error kinds.
pub use crate::error_data::ErrorKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    MaxTokens,
    Safety,
    Recitation,
    /// Blocklist, prohibited content, SPII, language, malformed function call, other...
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    FirstToken,
    Idle,
    Total,
}

impl ApiError {
    /// `self` as provider `provider`'s (for any provider but the built-in `gemini`).
    pub fn from_provider(self, provider: &str) -> ApiError {
        match self {
            // These name their provider already.
            ApiError::Via { .. }
            | ApiError::NoProviderKey { .. }
            | ApiError::ProviderKeyRejected { .. }
            | ApiError::Unsupported { .. } => self,
            error if provider == "gemini" => error,
            error => ApiError::Via { provider: provider.to_owned(), error: Box::new(error) },
        }
    }

    /// The error itself, whichever provider said it.
    pub fn unwrapped(&self) -> &ApiError {
        match self {
            ApiError::Via { error, .. } => error.unwrapped(),
            error => error,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Via { error, .. } => error.kind(),
            ApiError::NoKey => ErrorKind::NoKey,
            ApiError::BadKey => ErrorKind::BadKey,
            ApiError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            ApiError::ModelNotFound { .. } => ErrorKind::ModelNotFound,
            ApiError::NotFound { .. } => ErrorKind::BadRequest,
            ApiError::BadRequest { .. } => ErrorKind::BadRequest,
            ApiError::InputTooLong { .. } => ErrorKind::InputTooLong,
            ApiError::RateLimited { .. } => ErrorKind::RateLimited,
            ApiError::QuotaExhausted { .. } => ErrorKind::QuotaExhausted,
            ApiError::Server { .. } => ErrorKind::Server,
            ApiError::PromptBlocked { .. } => ErrorKind::PromptBlocked,
            ApiError::AnswerStopped { .. } => ErrorKind::AnswerStopped,
            ApiError::Network { .. } => ErrorKind::Network,
            ApiError::Timeout { .. } => ErrorKind::Timeout,
            ApiError::Truncated { .. } => ErrorKind::Truncated,
            ApiError::Protocol { .. } => ErrorKind::Protocol,
            ApiError::NoProviderKey { .. } => ErrorKind::NoKey,
            ApiError::ProviderKeyRejected { .. } => ErrorKind::BadKey,
            ApiError::Unsupported { .. } => ErrorKind::BadRequest,
        }
    }

    /// Whether repeating the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.unwrapped(),
            ApiError::RateLimited { .. }
                | ApiError::Server { .. }
                | ApiError::Network { .. }
                | ApiError::Timeout { .. }
                | ApiError::Truncated { .. }
        )
    }

    /// What went wrong in a few words, without the advice that follows in `Display`: the
    /// first half of a retry notice ("Could not reach Gemini (connection refused)"). Always one
    /// line whose parentheses balance, whatever the detail text holds.
    pub fn short_reason(&self) -> String {
        // Server and OS text goes inside our parentheses, so its own become brackets.
        let inner = |detail: &str| one_line(detail, 120).replace('(', "[").replace(')', "]");
        match self {
            ApiError::Via { provider, error } => said_by(&error.short_reason(), provider),
            ApiError::NoKey => "No Gemini API key is set".to_owned(),
            ApiError::BadKey => "Gemini rejected the API key as invalid".to_owned(),
            ApiError::PermissionDenied { .. } => "Gemini refused the request for lack of permission".to_owned(),
            ApiError::ModelNotFound { model } => format!("The model '{}' does not exist", inner(model)),
            ApiError::NotFound { detail } => format!("Gemini has nothing at the address asked ({})", inner(detail)),
            ApiError::BadRequest { .. } => "Gemini rejected the request as invalid".to_owned(),
            ApiError::InputTooLong { .. } => "The conversation is longer than the model's input limit".to_owned(),
            ApiError::RateLimited { .. } => "Gemini's rate limit was reached".to_owned(),
            ApiError::QuotaExhausted { daily: true, .. } => "The quota for this model is used up for today".to_owned(),
            ApiError::QuotaExhausted { .. } => "Gemini's quota is exhausted".to_owned(),
            ApiError::Server { status, overloaded: true, .. } => {
                format!("The Gemini model is overloaded (HTTP {status})")
            }
            ApiError::Server { status, .. } => format!("Gemini had a server error (HTTP {status})"),
            ApiError::PromptBlocked { reason } => format!("Gemini refused the prompt (blocked: {})", inner(reason)),
            ApiError::AnswerStopped { reason: StopReason::MaxTokens } => {
                "The answer reached the output token limit".to_owned()
            }
            ApiError::AnswerStopped { reason: StopReason::Safety } => {
                "Gemini stopped the answer for safety reasons".to_owned()
            }
            ApiError::AnswerStopped { reason: StopReason::Recitation } => {
                "Gemini stopped the answer because it was reciting a source".to_owned()
            }
            ApiError::AnswerStopped { reason: StopReason::Other(r) } => {
                format!("Gemini stopped the answer early ({})", inner(r))
            }
            ApiError::Network { detail } => format!("Could not reach Gemini ({})", inner(detail)),
            ApiError::Timeout { phase, after } => {
                let after = human_duration(*after);
                match phase {
                    TimeoutPhase::Connect => format!("Connecting to Gemini timed out after {after}"),
                    TimeoutPhase::FirstToken => format!("Gemini sent no answer within {after}"),
                    TimeoutPhase::Idle => format!("The answer stalled for {after}"),
                    TimeoutPhase::Total => format!("The answer took longer than {after}"),
                }
            }
            ApiError::Truncated { detail } => format!("The answer stream ended early ({})", inner(detail)),
            ApiError::Protocol { detail } => {
                format!("Gemini sent a response geminal cannot understand ({})", inner(detail))
            }
            ApiError::NoProviderKey { provider, env } => {
                format!("No API key is set for the provider {} ({} is empty)", inner(provider), inner(env))
            }
            ApiError::ProviderKeyRejected { provider, .. } => {
                format!("The provider {} rejected the API key", inner(provider))
            }
            ApiError::Unsupported { what } => one_line(what.trim_end_matches('.'), 200),
        }
    }

    /// The server's requested delay before a retry, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.unwrapped() {
            ApiError::RateLimited { retry_after }
            | ApiError::QuotaExhausted { retry_after, .. }
            | ApiError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

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

/// Parses a proto Duration string such as `"26s"`, `"0.5s"` or `"900ms"`.
pub fn parse_proto_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) =
        if let Some(ms) = text.strip_suffix("ms") { (ms, 0.001) } else { (text.strip_suffix('s')?, 1.0) };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value * scale))
}

/// Finds "Please retry in 45.57s" (or "...in 900ms") in a message.
fn retry_in_message(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("retry in ")? + "retry in ".len();
    let rest = &lower[at..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'm' || c == 's')).unwrap_or(rest.len());
    parse_proto_duration(rest[..end].trim_end_matches('.'))
}

/// `Retry-After` is either delta-seconds or an HTTP date.
pub fn parse_retry_after_header(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// Server text made safe for one line of user output: no control characters, no key (redacted
/// before the text is cut, so no part of it survives), bounded.
fn server_detail(message: &str, key: Option<&str>) -> String {
    let text = crate::sanitize::redacted_line(message, key.as_slice(), 200);
    if text.is_empty() { "no details given".to_owned() } else { text }
}

/// A duration as a person reads it: "3s", "1.5s", "2m 5s".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 && d.subsec_millis() != 0 {
        format!("{secs:.1}s")
    } else if secs < 60.0 {
        format!("{}s", secs.round() as u64)
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        if s.is_multiple_of(60) { format!("{}m", s / 60) } else { format!("{}m {}s", s / 60, s % 60) }
    } else {
        let m = (secs / 60.0).round() as u64;
        match (m / 60, m % 60) {
            (h, 0) if h >= 48 && h % 24 == 0 => format!("{}d", h / 24),
            (h, 0) => format!("{h}h"),
            (h, m) => format!("{h}h {m}m"),
        }
    }
}

/// `sentence` (one that names Gemini) as provider `provider` says it.
fn said_by(sentence: &str, provider: &str) -> String {
    let provider = one_line(provider, 40);
    let sentence = sentence.replace("The Gemini model", &format!("The model of provider {provider}"));
    let mut out = String::with_capacity(sentence.len() + 16);
    let mut rest = sentence.as_str();
    while let Some(at) = rest.find("Gemini") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let starts_sentence = out.trim_end().is_empty() || out.trim_end().ends_with(['.', ':']);
        out.push_str(if starts_sentence { "Provider " } else { "provider " });
        out.push_str(&provider);
        rest = &after["Gemini".len()..];
    }
    out.push_str(rest);
    out
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Via { provider, error } => write!(f, "{}", said_by(&error.to_string(), provider)),
            ApiError::NoKey => write!(
                f,
                "No Gemini API key is set: export GEMINI_API_KEY (create one at https://aistudio.google.com/apikey), or run with --demo to try geminal without a key."
            ),
            ApiError::BadKey => write!(
                f,
                "Gemini rejected the API key as invalid: check GEMINI_API_KEY or GOOGLE_API_KEY (keys are at https://aistudio.google.com/apikey)."
            ),
            ApiError::PermissionDenied { detail } => write!(
                f,
                "Gemini refused the request for lack of permission ({detail}): check that the key's project may use this model."
            ),
            ApiError::ModelNotFound { model } => write!(
                f,
                "The model '{}' does not exist or cannot generate text: run `geminal models` to list the ones your key can use.",
                one_line(model, 80)
            ),
            ApiError::NotFound { detail } => write!(
                f,
                "Gemini has nothing at the address asked ({detail}): an upload or a job may have expired or been deleted; start it again."
            ),
            ApiError::InputTooLong { tokens, limit } => {
                let size = match (tokens, limit) {
                    (Some(t), Some(l)) => format!(" ({t} tokens; the model takes {l})"),
                    _ => String::new(),
                };
                write!(
                    f,
                    "The conversation is longer than the model's input limit{size}: start a new conversation (/clear in the interface) or send a shorter prompt."
                )
            }
            ApiError::BadRequest { detail } => {
                write!(
                    f,
                    "Gemini rejected the request as invalid ({detail}): change the request or its settings and try again."
                )
            }
            ApiError::RateLimited { retry_after: Some(d) } => {
                write!(
                    f,
                    "Gemini's rate limit was reached: wait {} and try again, or lower the request rate.",
                    human_duration(*d)
                )
            }
            ApiError::RateLimited { retry_after: None } => {
                write!(f, "Gemini's rate limit was reached: wait a minute and try again, or lower the request rate.")
            }
            ApiError::QuotaExhausted { daily: true, .. } => write!(
                f,
                "The API key's quota for this model is used up for today: it resets at midnight Pacific time; try another model (--model) or a paid plan."
            ),
            ApiError::QuotaExhausted { retry_after, .. } => write!(
                f,
                "Gemini's quota is exhausted and asks for a wait of {}: try again later or use another model (--model).",
                retry_after.map_or_else(|| "several minutes".to_owned(), human_duration)
            ),
            ApiError::Server { status, overloaded, retry_after } => {
                let when =
                    retry_after.map_or_else(|| "in a little while".to_owned(), |d| format!("in {}", human_duration(d)));
                if *overloaded {
                    write!(f, "The Gemini model is overloaded (HTTP {status}): try again {when}.")
                } else {
                    write!(f, "Gemini had a server error (HTTP {status}): try again {when}.")
                }
            }
            ApiError::PromptBlocked { reason } => write!(
                f,
                "Gemini refused to answer this prompt (blocked: {}): rephrase the prompt.",
                one_line(reason, 60)
            ),
            ApiError::AnswerStopped { reason } => match reason {
                StopReason::MaxTokens => write!(
                    f,
                    "The answer was cut off at the output token limit: ask for a shorter answer or raise the limit."
                ),
                StopReason::Safety => write!(f, "Gemini stopped the answer for safety reasons: rephrase the prompt."),
                StopReason::Recitation => {
                    write!(
                        f,
                        "Gemini stopped the answer because it was reciting a source: ask for a summary in your own words."
                    )
                }
                StopReason::Other(r) => write!(
                    f,
                    "Gemini stopped the answer early ({}): try again or rephrase the prompt.",
                    one_line(r, 60)
                ),
            },
            ApiError::Network { detail } => {
                write!(f, "Could not reach Gemini ({detail}): check your network connection or the base URL.")
            }
            ApiError::Timeout { phase, after } => {
                let after = human_duration(*after);
                match phase {
                    TimeoutPhase::Connect => write!(
                        f,
                        "Connecting to Gemini timed out after {after}: check your network connection or the base URL."
                    ),
                    TimeoutPhase::FirstToken => {
                        write!(f, "Gemini sent no answer within {after}: try again, or raise --first-token-timeout.")
                    }
                    TimeoutPhase::Idle => {
                        write!(f, "The answer stalled for {after}: try again, or raise --idle-timeout.")
                    }
                    TimeoutPhase::Total => {
                        write!(
                            f,
                            "The answer took longer than {after}: try again, or raise --timeout (timeout_secs in the config file)."
                        )
                    }
                }
            }
            ApiError::Truncated { detail } => {
                write!(f, "The answer stream ended before the answer was complete ({detail}): try again.")
            }
            ApiError::Protocol { detail } => {
                write!(
                    f,
                    "Gemini sent a response geminal cannot understand ({detail}): try again, and check the base URL if it persists."
                )
            }
            ApiError::NoProviderKey { provider, env } => write!(
                f,
                "No API key is set for the provider {}: export {} (the provider's api_key_env in the config file).",
                one_line(provider, 40),
                one_line(env, 60)
            ),
            ApiError::ProviderKeyRejected { provider, env } => match env {
                Some(env) => write!(
                    f,
                    "The provider {} rejected the API key: check {}.",
                    one_line(provider, 40),
                    one_line(env, 60)
                ),
                None => write!(
                    f,
                    "The provider {} asks for an API key: set api_key_env for it in the config file.",
                    one_line(provider, 40)
                ),
            },
            ApiError::Unsupported { what } => write!(f, "{}", one_line(what, 300)),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_providers_error_names_it_where_gemini_would_stand() {
        let said = |e: ApiError| e.from_provider("ollama").to_string();
        assert_eq!(
            said(ApiError::Server { status: 503, overloaded: false, retry_after: None }),
            "Provider ollama had a server error (HTTP 503): try again in a little while."
        );
        assert!(
            said(ApiError::Server { status: 503, overloaded: true, retry_after: None })
                .starts_with("The model of provider ollama is overloaded (HTTP 503)"),
        );
        let rate = said(ApiError::RateLimited { retry_after: Some(Duration::from_secs(20)) });
        assert!(rate.starts_with("Provider ollama's rate limit was reached: wait 20s"), "{rate}");
        let network = ApiError::Network { detail: "connection refused".into() }.from_provider("ollama");
        assert_eq!(network.short_reason(), "Could not reach provider ollama (connection refused)");
        assert_eq!(network.kind(), ErrorKind::Network);
        assert!(network.is_retryable());
        let quota = ApiError::QuotaExhausted { retry_after: Some(Duration::from_secs(60)), daily: false };
        assert_eq!(quota.clone().from_provider("work").retry_after(), Some(Duration::from_secs(60)));
        assert!(!said(quota).contains("Gemini"));
        // The built-in provider's errors are Gemini's, and wrapping twice changes nothing.
        let gemini = ApiError::BadKey.from_provider("gemini");
        assert_eq!(gemini, ApiError::BadKey);
        assert_eq!(network.clone().from_provider("other"), network);
    }

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
    fn proto_durations_parse() {
        assert_eq!(parse_proto_duration("26s"), Some(Duration::from_secs(26)));
        assert_eq!(parse_proto_duration("0.539477544s"), Some(Duration::from_secs_f64(0.539477544)));
        assert_eq!(parse_proto_duration("900ms"), Some(Duration::from_millis(900)));
        assert_eq!(parse_proto_duration("soon"), None);
        assert_eq!(parse_proto_duration("-1s"), None);
    }

    #[test]
    fn retry_hint_in_the_message_is_found() {
        let m = "You exceeded your current quota...\nPlease retry in 45.578569677s.";
        assert_eq!(retry_in_message(m), Some(Duration::from_secs_f64(45.578569677)));
        assert_eq!(retry_in_message("nothing here"), None);
    }

    #[test]
    fn retry_after_header_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after_header("7"), Some(Duration::from_secs(7)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after_header(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
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

    #[test]
    fn human_durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(26)), "26s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2m");
        assert_eq!(human_duration(Duration::from_secs(7300)), "2h 2m");
        assert_eq!(human_duration(Duration::from_secs(86_400)), "24h");
        assert_eq!(human_duration(Duration::from_secs(7 * 86_400)), "7d");
    }
}
