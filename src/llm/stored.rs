//! [`ApiError`] as data and back: what the database stores of a failure (its kind and detail,
//! see `error_data`), and the error rebuilt from them, so that a stored failure is told with the
//! same sentence as when it happened (`format::stored_sentence`). No sentence is stored.

use std::time::Duration;

use super::error::{ApiError, Missing, StopReason, TimeoutPhase};
use crate::error_data::{ErrorDetail, ErrorKind, StoredError};

fn ms(d: &Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn stop_reason_name(reason: &StopReason) -> &str {
    match reason {
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::Safety => "SAFETY",
        StopReason::Recitation => "RECITATION",
        StopReason::Other(r) => r,
    }
}

fn phase_name(phase: TimeoutPhase) -> &'static str {
    match phase {
        TimeoutPhase::Connect => "connect",
        TimeoutPhase::FirstToken => "first_token",
        TimeoutPhase::Idle => "idle",
        TimeoutPhase::Total => "total",
    }
}

impl ApiError {
    /// What the database keeps of this error: its kind and its detail.
    pub fn to_stored(&self) -> StoredError {
        let mut d = ErrorDetail::default();
        let text = |s: &str| Some(s.to_owned());
        match self {
            ApiError::Via { provider, error } => {
                return match error.to_stored() {
                    StoredError::Data { kind, mut detail } => {
                        detail.via = Some(provider.clone());
                        StoredError::Data { kind, detail }
                    }
                    legacy => legacy,
                };
            }
            ApiError::NoKey | ApiError::BadKey => {}
            ApiError::PermissionDenied { detail }
            | ApiError::BadRequest { detail }
            | ApiError::Network { detail }
            | ApiError::Truncated { detail }
            | ApiError::Protocol { detail } => d.message = text(detail),
            ApiError::NotFound { detail } => (d.message, d.case) = (text(detail), text("not_found")),
            ApiError::Unsupported { model, missing } => {
                d.model = text(model);
                d.case = text("unsupported");
                let (what, detail) = match missing {
                    Missing::BuiltInTool(tool) => ("built_in_tool", tool.as_str()),
                    Missing::Attachment { mime } => ("attachment", mime.as_str()),
                    Missing::FunctionTools => ("function_tools", ""),
                    Missing::Setting { detail } => ("setting", detail.as_str()),
                };
                (d.reason, d.message) = (text(what), text(detail));
            }
            ApiError::ModelNotFound { model } => d.model = text(model),
            ApiError::InputTooLong { tokens, limit } => (d.tokens, d.limit) = (*tokens, *limit),
            ApiError::RateLimited { retry_after } => d.retry_after_ms = retry_after.as_ref().map(ms),
            ApiError::QuotaExhausted { retry_after, daily } => {
                (d.retry_after_ms, d.daily) = (retry_after.as_ref().map(ms), *daily)
            }
            ApiError::Server { status, overloaded, retry_after } => {
                (d.status, d.overloaded, d.retry_after_ms) = (Some(*status), *overloaded, retry_after.as_ref().map(ms))
            }
            ApiError::PromptBlocked { reason } => d.reason = text(reason),
            ApiError::AnswerStopped { reason } => d.reason = text(stop_reason_name(reason)),
            ApiError::Timeout { phase, after } => (d.phase, d.after_ms) = (text(phase_name(*phase)), Some(ms(after))),
            ApiError::NoProviderKey { provider, env } => (d.provider, d.env) = (text(provider), text(env)),
            ApiError::ProviderKeyRejected { provider, env } => (d.provider, d.env) = (text(provider), env.clone()),
        }
        StoredError::new(self.kind(), d)
    }

    /// The error a stored kind and detail describe; `None` for a kind no provider answers with
    /// (a bad input line, a storage failure…).
    pub fn from_stored(kind: ErrorKind, d: &ErrorDetail) -> Option<ApiError> {
        let message = || d.message.clone().unwrap_or_default();
        let retry_after = d.retry_after_ms.map(Duration::from_millis);
        let error = match kind {
            ErrorKind::NoKey => match (&d.provider, &d.env) {
                (Some(provider), Some(env)) => ApiError::NoProviderKey { provider: provider.clone(), env: env.clone() },
                _ => ApiError::NoKey,
            },
            ErrorKind::BadKey => match &d.provider {
                Some(provider) => ApiError::ProviderKeyRejected { provider: provider.clone(), env: d.env.clone() },
                None => ApiError::BadKey,
            },
            ErrorKind::PermissionDenied => ApiError::PermissionDenied { detail: message() },
            ErrorKind::ModelNotFound => ApiError::ModelNotFound { model: d.model.clone().unwrap_or_default() },
            ErrorKind::BadRequest => match d.case.as_deref() {
                Some("not_found") => ApiError::NotFound { detail: message() },
                Some("unsupported") => ApiError::Unsupported {
                    model: d.model.clone().unwrap_or_default(),
                    missing: match d.reason.as_deref() {
                        Some("built_in_tool") => Missing::BuiltInTool(message()),
                        Some("attachment") => Missing::Attachment { mime: message() },
                        Some("function_tools") => Missing::FunctionTools,
                        _ => Missing::Setting { detail: message() },
                    },
                },
                _ => ApiError::BadRequest { detail: message() },
            },
            ErrorKind::InputTooLong => ApiError::InputTooLong { tokens: d.tokens, limit: d.limit },
            ErrorKind::RateLimited => ApiError::RateLimited { retry_after },
            ErrorKind::QuotaExhausted => ApiError::QuotaExhausted { retry_after, daily: d.daily },
            ErrorKind::Server => {
                ApiError::Server { status: d.status.unwrap_or(500), overloaded: d.overloaded, retry_after }
            }
            ErrorKind::PromptBlocked => ApiError::PromptBlocked { reason: d.reason.clone().unwrap_or_default() },
            ErrorKind::AnswerStopped => ApiError::AnswerStopped {
                reason: match d.reason.as_deref().unwrap_or_default() {
                    "MAX_TOKENS" => StopReason::MaxTokens,
                    "SAFETY" => StopReason::Safety,
                    "RECITATION" => StopReason::Recitation,
                    other => StopReason::Other(other.to_owned()),
                },
            },
            ErrorKind::Network => ApiError::Network { detail: message() },
            ErrorKind::Timeout => ApiError::Timeout {
                phase: match d.phase.as_deref() {
                    Some("connect") => TimeoutPhase::Connect,
                    Some("first_token") => TimeoutPhase::FirstToken,
                    Some("idle") => TimeoutPhase::Idle,
                    _ => TimeoutPhase::Total,
                },
                after: Duration::from_millis(d.after_ms.unwrap_or_default()),
            },
            ErrorKind::Truncated => ApiError::Truncated { detail: message() },
            ErrorKind::Protocol => ApiError::Protocol { detail: message() },
            ErrorKind::BadInput
            | ErrorKind::Storage
            | ErrorKind::UnknownPrice
            | ErrorKind::InvalidJson
            | ErrorKind::Expired
            | ErrorKind::NotAnswered
            | ErrorKind::Cancelled => return None,
        };
        Some(match &d.via {
            Some(provider) => error.from_provider(provider),
            None => error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_rebuilt_whole_from_its_stored_data() {
        let s = |n: u64| Some(Duration::from_secs(n));
        let errors = [
            ApiError::NoKey,
            ApiError::BadKey,
            ApiError::PermissionDenied { detail: "no access".into() },
            ApiError::ModelNotFound { model: "gemini-9".into() },
            ApiError::NotFound { detail: "files/abc".into() },
            ApiError::BadRequest { detail: "bad field".into() },
            ApiError::InputTooLong { tokens: Some(2_000_000), limit: Some(1_048_576) },
            ApiError::InputTooLong { tokens: None, limit: None },
            ApiError::RateLimited { retry_after: s(7) },
            ApiError::RateLimited { retry_after: None },
            ApiError::QuotaExhausted { retry_after: s(600), daily: false },
            ApiError::QuotaExhausted { retry_after: None, daily: true },
            ApiError::Server { status: 503, overloaded: true, retry_after: s(30) },
            ApiError::Server { status: 500, overloaded: false, retry_after: None },
            ApiError::PromptBlocked { reason: "SAFETY".into() },
            ApiError::AnswerStopped { reason: StopReason::MaxTokens },
            ApiError::AnswerStopped { reason: StopReason::Safety },
            ApiError::AnswerStopped { reason: StopReason::Recitation },
            ApiError::AnswerStopped { reason: StopReason::Other("BLOCKLIST".into()) },
            ApiError::Network { detail: "connection refused".into() },
            ApiError::Timeout { phase: TimeoutPhase::Connect, after: Duration::from_secs(10) },
            ApiError::Timeout { phase: TimeoutPhase::FirstToken, after: Duration::from_millis(1500) },
            ApiError::Timeout { phase: TimeoutPhase::Idle, after: Duration::from_secs(60) },
            ApiError::Timeout { phase: TimeoutPhase::Total, after: Duration::from_secs(300) },
            ApiError::Truncated { detail: "the connection was cut".into() },
            ApiError::Protocol { detail: "not JSON".into() },
            ApiError::NoProviderKey { provider: "openai".into(), env: "OPENAI_API_KEY".into() },
            ApiError::ProviderKeyRejected { provider: "openai".into(), env: Some("OPENAI_API_KEY".into()) },
            ApiError::ProviderKeyRejected { provider: "local".into(), env: None },
            ApiError::Unsupported {
                model: "local:qwen3:8b".into(),
                missing: Missing::Attachment { mime: "application/pdf".into() },
            },
            ApiError::Unsupported {
                model: "local:qwen3:8b".into(),
                missing: Missing::BuiltInTool("URL context".into()),
            },
            ApiError::Unsupported { model: "local:qwen3:8b".into(), missing: Missing::FunctionTools },
            ApiError::Unsupported {
                model: "gemini-2.5-pro".into(),
                missing: Missing::Setting { detail: "thinking cannot be off".into() },
            },
            ApiError::RateLimited { retry_after: s(3) }.from_provider("ollama"),
            ApiError::Server { status: 502, overloaded: false, retry_after: None }.from_provider("openai"),
        ];
        for error in errors {
            let stored = error.to_stored();
            let StoredError::Data { kind, detail } = &stored else { panic!("{error:?} stored as a sentence") };
            assert_eq!(*kind, error.kind(), "{error:?}");
            assert_eq!(ApiError::from_stored(*kind, detail).as_ref(), Some(&error), "{error:?}");
            // Through the database's columns too.
            let (k, d, legacy) = stored.to_columns();
            assert!(legacy.is_none());
            // (Unsupported's `what` is a sentence by design: a provider's own refusal.)
            if !matches!(error, ApiError::Unsupported { .. }) {
                assert!(!d.as_deref().unwrap().contains(&error.to_string()), "no sentence in the detail");
            }
            assert_eq!(StoredError::from_columns(k, d.as_deref(), None), Some(stored));
        }
    }
}
