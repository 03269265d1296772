//! Provider errors as data: one variant per thing a caller acts on differently (retry, fall
//! back, refuse, tell), whatever wire said it. The sentence a person reads is written at the
//! edge (`format/provider_error.rs`); `Display` is implemented there.

use std::time::Duration;

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
    /// The chosen model's provider cannot do what the request asks: `model` as the user named
    /// it, and what it lacks.
    Unsupported { model: String, missing: Missing },
    /// `error` from a provider other than the built-in Gemini one: the same kind, told with the
    /// provider's name where the sentence would say "Gemini".
    Via { provider: String, error: Box<ApiError> },
}

/// A fieldless view of [`ApiError`], for exit codes, JSON output and retry policy; its names
/// come from the one list of error kinds ([`crate::error_data`]).
pub use crate::error_data::ErrorKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    MaxTokens,
    Safety,
    Recitation,
    /// Blocklist, prohibited content, SPII, language, malformed function call, other...
    Other(String),
}

/// What a provider cannot do for a request (see [`ApiError::Unsupported`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Another provider's built-in tool (`Google Search grounding`, `URL context`).
    BuiltInTool(String),
    /// An attachment of this media type.
    Attachment { mime: String },
    /// Function tools.
    FunctionTools,
    /// A generation setting the model refuses, in the provider's words.
    Setting { detail: String },
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

    /// The server's requested delay before a retry, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.unwrapped() {
            ApiError::RateLimited { retry_after }
            | ApiError::QuotaExhausted { retry_after, .. }
            | ApiError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl std::error::Error for ApiError {}
