//! A refused or failed request, as data, and its body in each API's own shape: OpenAI's
//! `{"error": {message, type, code}}` or Google's `{"error": {code, message, status}}`, with
//! `Retry-After` when waiting helps. The message is one sentence; never a key or raw upstream
//! JSON (an upstream failure is the provider error's own scrubbed sentence).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error_data::ErrorKind;
use crate::llm::ApiError;

/// Which API a route speaks (the shape of its errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OpenAi,
    Google,
}

/// Why a request was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No key, or one that is not a client key.
    Unauthenticated,
    /// The key may not use this model.
    ModelNotAllowed,
    /// The key's rpm, tpm or concurrency.
    RateLimited,
    /// Every place and the queue are taken.
    Busy,
    /// A budget (global or the key's) is spent.
    Budget,
    TooLarge,
    /// The body did not arrive in time.
    SlowClient,
    BadJson,
    BadRequest,
    ModelNotFound,
    /// The provider failed (its error kind).
    Upstream(ErrorKind),
    /// The server is stopping.
    ShuttingDown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub why: Why,
    pub message: String,
    /// Seconds to wait before trying again.
    pub retry_after: Option<u64>,
}

impl Reject {
    pub fn new(why: Why, message: impl Into<String>) -> Reject {
        Reject { why, message: message.into(), retry_after: None }
    }

    pub fn retry_after(mut self, secs: u64) -> Reject {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// A provider's failure: its own sentence, with the status it stands for.
    pub fn upstream(error: &ApiError) -> Reject {
        let retry = error.retry_after().map(|d| d.as_secs_f64().ceil() as u64);
        let reject = Reject::new(Why::Upstream(error.kind()), error.to_string());
        match retry {
            Some(secs) => reject.retry_after(secs),
            None => reject,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.why {
            Why::Unauthenticated => StatusCode::UNAUTHORIZED,
            Why::ModelNotAllowed => StatusCode::FORBIDDEN,
            Why::RateLimited | Why::Budget => StatusCode::TOO_MANY_REQUESTS,
            Why::Busy | Why::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Why::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Why::SlowClient => StatusCode::REQUEST_TIMEOUT,
            Why::BadJson | Why::BadRequest => StatusCode::BAD_REQUEST,
            Why::ModelNotFound => StatusCode::NOT_FOUND,
            Why::Upstream(kind) => match kind {
                ErrorKind::BadRequest | ErrorKind::InputTooLong | ErrorKind::PromptBlocked | ErrorKind::BadInput => {
                    StatusCode::BAD_REQUEST
                }
                ErrorKind::ModelNotFound => StatusCode::NOT_FOUND,
                ErrorKind::RateLimited | ErrorKind::QuotaExhausted => StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            },
        }
    }

    /// OpenAI's `type` and `code`.
    fn openai_kind(&self) -> (&'static str, &'static str) {
        match self.why {
            Why::Unauthenticated => ("invalid_request_error", "invalid_api_key"),
            Why::ModelNotAllowed => ("invalid_request_error", "model_not_allowed"),
            Why::RateLimited => ("rate_limit_error", "rate_limit_exceeded"),
            Why::Busy => ("server_error", "server_busy"),
            Why::ShuttingDown => ("server_error", "shutting_down"),
            Why::Budget => ("insufficient_quota", "insufficient_quota"),
            Why::TooLarge => ("invalid_request_error", "request_too_large"),
            Why::SlowClient => ("invalid_request_error", "request_timeout"),
            Why::BadJson => ("invalid_request_error", "invalid_json"),
            Why::BadRequest => ("invalid_request_error", "invalid_request"),
            Why::ModelNotFound => ("invalid_request_error", "model_not_found"),
            Why::Upstream(ErrorKind::QuotaExhausted) => ("insufficient_quota", "insufficient_quota"),
            Why::Upstream(ErrorKind::RateLimited) => ("rate_limit_error", "rate_limit_exceeded"),
            Why::Upstream(ErrorKind::ModelNotFound) => ("invalid_request_error", "model_not_found"),
            Why::Upstream(_) if self.status().is_client_error() => ("invalid_request_error", "upstream_refused"),
            Why::Upstream(_) => ("server_error", "upstream_failed"),
        }
    }

    /// Google's `status`.
    fn google_status(&self) -> &'static str {
        match self.status() {
            StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
            StatusCode::FORBIDDEN => "PERMISSION_DENIED",
            StatusCode::TOO_MANY_REQUESTS => "RESOURCE_EXHAUSTED",
            StatusCode::NOT_FOUND => "NOT_FOUND",
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "INVALID_ARGUMENT",
            StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => "DEADLINE_EXCEEDED",
            StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
            _ => "INTERNAL",
        }
    }

    /// The error object alone (a stream's last event).
    pub fn body(&self, api: Api) -> serde_json::Value {
        match api {
            Api::OpenAi => {
                let (kind, code) = self.openai_kind();
                json!({"error": {"message": self.message, "type": kind, "param": null, "code": code}})
            }
            Api::Google => json!({"error": {
                "code": self.status().as_u16(),
                "message": self.message,
                "status": self.google_status(),
            }}),
        }
    }

    pub fn into_response(self, api: Api) -> Response {
        let mut response = (self.status(), axum::Json(self.body(api))).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
