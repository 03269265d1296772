//! How a provider error is told to a person: one sentence, what failed and what to do
//! (`Display`), or its first half for a retry notice ([`ApiError::short_reason`]). Another
//! provider's error names that provider where the sentence would say "Gemini". Server text
//! is already scrubbed; here it is cut to one line with balanced parentheses.

use std::fmt;
use std::time::Duration;

use crate::error_data::{ErrorKind, StoredError};
use crate::llm::error::{ApiError, Missing, StopReason, TimeoutPhase};
use crate::sanitize::one_line;

impl ApiError {
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
            ApiError::Unsupported { .. } => one_line(self.to_string().trim_end_matches('.'), 200),
        }
    }
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
            ApiError::Unsupported { model, missing } => {
                let model = one_line(model, 60);
                match missing {
                    Missing::BuiltInTool(feature) => write!(
                        f,
                        "{} works only with Gemini models, and {model} is not one: turn it off (--search / /search) or pick a Gemini model.",
                        one_line(feature, 40)
                    ),
                    Missing::Attachment { mime } => {
                        let what = match mime.split('/').next().unwrap_or("") {
                            "audio" => "audio".to_owned(),
                            "video" => "video".to_owned(),
                            _ if mime == "application/pdf" => "PDF files".to_owned(),
                            _ => format!("{} attachments", one_line(mime, 40)),
                        };
                        write!(
                            f,
                            "{model} cannot take {what} (only text and images go to an OpenAI-compatible provider): remove the attachment or pick a Gemini model."
                        )
                    }
                    Missing::FunctionTools => {
                        write!(f, "Function tools are not sent to {model} yet: remove them from the request.")
                    }
                    Missing::Setting { detail } => write!(f, "{}", one_line(detail, 300)),
                }
            }
        }
    }
}

/// The words for a stored failure: those of the error it describes (as when it happened), its
/// own message for a failure that is not a provider's, a legacy sentence as it was stored.
pub fn stored_sentence(error: &StoredError) -> String {
    match error {
        StoredError::Legacy(text) => text.clone(),
        StoredError::Data { kind: ErrorKind::Cancelled, .. } => "stopped by the user".to_owned(),
        StoredError::Data { .. } if error.said().is_some() => error.said().unwrap_or_default().to_owned(),
        StoredError::Data { kind, detail } => match ApiError::from_stored(*kind, detail) {
            Some(error) => error.to_string(),
            None => detail.message.clone().unwrap_or_else(|| kind.as_str().to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::error::ErrorKind;

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
    fn human_durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(26)), "26s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2m");
        assert_eq!(human_duration(Duration::from_secs(7300)), "2h 2m");
        assert_eq!(human_duration(Duration::from_secs(86_400)), "24h");
        assert_eq!(human_duration(Duration::from_secs(7 * 86_400)), "7d");
    }

    #[test]
    fn a_failure_that_is_not_a_providers_is_told_by_its_message_and_a_legacy_one_as_stored() {
        let bad = crate::error_data::StoredError::with_message(
            crate::error_data::ErrorKind::BadInput,
            "there is no role named critic",
        );
        assert_eq!(stored_sentence(&bad), "there is no role named critic");
        let old = crate::error_data::StoredError::Legacy(
            "Gemini had a server error (HTTP 500): try again in a little while.".into(),
        );
        assert_eq!(stored_sentence(&old), "Gemini had a server error (HTTP 500): try again in a little while.");
    }
}
