//! Every user-facing error message, pinned: one sentence each, saying what failed and what to do.

use std::time::Duration;

use geminal::chat::Notice;
use geminal::config::ConfigError;
use geminal::gemini::{ApiError, StopReason, TimeoutPhase};

fn all_api_errors() -> Vec<ApiError> {
    vec![
        ApiError::NoKey,
        ApiError::BadKey,
        ApiError::PermissionDenied { detail: "The caller does not have permission".into() },
        ApiError::ModelNotFound { model: "gemini-9-ultra".into() },
        ApiError::BadRequest {
            detail: "Invalid JSON payload received. Unknown name \"foo\": Cannot find field.".into(),
        },
        ApiError::InputTooLong { tokens: Some(1_200_000), limit: Some(1_048_576) },
        ApiError::InputTooLong { tokens: None, limit: None },
        ApiError::RateLimited { retry_after: Some(Duration::from_secs(26)) },
        ApiError::RateLimited { retry_after: None },
        ApiError::QuotaExhausted { retry_after: Some(Duration::from_secs(20)), daily: true },
        ApiError::QuotaExhausted { retry_after: Some(Duration::from_secs(900)), daily: false },
        ApiError::Server { status: 500, overloaded: false, retry_after: None },
        ApiError::Server { status: 503, overloaded: true, retry_after: None },
        ApiError::Server { status: 503, overloaded: false, retry_after: Some(Duration::from_secs(600)) },
        ApiError::PromptBlocked { reason: "prohibited content".into() },
        ApiError::AnswerStopped { reason: StopReason::MaxTokens },
        ApiError::AnswerStopped { reason: StopReason::Safety },
        ApiError::AnswerStopped { reason: StopReason::Recitation },
        ApiError::AnswerStopped { reason: StopReason::Other("malformed function call".into()) },
        ApiError::Network { detail: "connection refused".into() },
        ApiError::Timeout { phase: TimeoutPhase::Connect, after: Duration::from_secs(10) },
        ApiError::Timeout { phase: TimeoutPhase::FirstToken, after: Duration::from_secs(120) },
        ApiError::Timeout { phase: TimeoutPhase::Idle, after: Duration::from_secs(60) },
        ApiError::Timeout { phase: TimeoutPhase::Total, after: Duration::from_millis(1500) },
        ApiError::Truncated { detail: "the connection was cut mid-answer".into() },
        ApiError::Protocol { detail: "a stream event is not valid JSON".into() },
    ]
}

#[test]
fn api_error_messages() {
    let errors = all_api_errors();
    for e in &errors {
        let text = e.to_string();
        assert!(!text.contains('\n') && text.ends_with('.') && text.len() < 240, "{text}");
        assert!(text.contains(':'), "says what failed, then what to do: {text}");
    }
    let text: Vec<String> = errors.iter().map(|e| format!("{:<17} {e}", e.kind().as_str())).collect();
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn retry_notices_are_one_well_formed_line_each() {
    let mut text = Vec::new();
    for reason in all_api_errors() {
        let notice = Notice::Retrying { attempt: 2, of: 5, after: Duration::from_millis(800), reason };
        let line = notice.to_string();
        let opened = line.matches('(').count();
        assert_eq!(opened, line.matches(')').count(), "{line}");
        assert!(!line.contains('\n') && line.ends_with("(attempt 2 of 5).") && line.len() < 240, "{line}");
        text.push(line);
    }
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn config_error_messages() {
    let errors = [
        ConfigError::Missing { path: "/home/u/.config/geminal/config.toml".into() },
        ConfigError::Unreadable { path: "/etc/geminal.toml".into(), reason: "permission denied".into() },
        ConfigError::Invalid {
            path: "config.toml".into(),
            reason: "unknown field `modle`, expected one of `api_key`, `model`".into(),
        },
        ConfigError::KeyFileTooOpen { path: "config.toml".into() },
        ConfigError::BadDuration { name: "idle_timeout_secs".into(), value: "-1".into() },
        ConfigError::BadCacheTtl { value: "tomorrow".into() },
        ConfigError::BadBaseUrl {
            value: "ftp://x".into(),
            source_name: "--base-url".into(),
            reason: "is not an http(s) address".into(),
        },
    ];
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn provider_error_messages_and_fallback_notices() {
    use geminal::engine::FallbackReason;
    let errors = [
        ApiError::NoProviderKey { provider: "openai".into(), env: "OPENAI_API_KEY".into() },
        ApiError::ProviderKeyRejected { provider: "openai".into(), env: Some("OPENAI_API_KEY".into()) },
        ApiError::ProviderKeyRejected { provider: "ollama".into(), env: None },
        ApiError::Unsupported {
            model: "ollama:qwen3:8b".into(),
            missing: geminal::llm::Missing::Attachment { mime: "application/pdf".into() },
        },
    ];
    let mut text: Vec<String> = Vec::new();
    for e in &errors {
        let line = e.to_string();
        assert!(!line.contains('\n') && line.ends_with('.') && line.contains(':'), "{line}");
        let short = e.short_reason();
        assert!(!short.ends_with('.') && short.matches('(').count() == short.matches(')').count(), "{short}");
        text.push(format!("{:<17} {line}", e.kind().as_str()));
    }
    for reason in [
        FallbackReason::QuotaSpent,
        FallbackReason::ModelUnknown,
        FallbackReason::ProviderDown(ApiError::Network { detail: "connection refused".into() }),
    ] {
        let notice = Notice::Fallback { from: "gemini-2.5-pro".into(), to: "ollama:qwen3:8b".into(), reason };
        let line = notice.to_string();
        assert!(!line.contains('\n') && line.ends_with('.'), "{line}");
        text.push(format!("notice            {line}"));
    }
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn a_full_disk_does_not_claim_the_answer_saved_so_far_was_lost() {
    let e = geminal::store::StoreError::DiskFull { path: "history.sqlite3".into() };
    let text = e.to_string();
    assert!(!text.contains("this answer was not saved"), "{text}");
    assert!(text.contains("what was saved before stays"), "{text}");
}
