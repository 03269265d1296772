//! Conversations: composes a turn (history + prompt → request) and starts it. Front ends
//! (`ask`, the line chat) go through here so they behave alike. No SQL, no terminal.

mod cache_key;
mod context;
mod role;
mod session;
mod settings;
mod turn_state;

pub use cache_key::{CacheKey, MemoryCache, cache_key};
pub use context::{ContextError, ContextOverflow, Trimmed, estimate_tokens, short_tokens};
pub use role::{INPUT_PLACEHOLDER, NamedRole, RoleSource, unknown_role};
pub use session::{Branch, ChatError, ChatOptions, ChatSession, Outcome, Prepared, Shown, Target, TurnReport};
pub use settings::{Settings, SettingsError, json_answer_problem};

pub use turn_state::{Effect, TurnEvent, TurnState};

use std::time::Duration;

use crate::gemini::error::human_duration;
use crate::gemini::{AnswerStream, ApiError, Client, Content, GenerateContentRequest, GenerationConfig};

/// Something a turn tells the user that is not the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Attempt `attempt` of `of` starts after `after`, because `reason`.
    Retrying { attempt: u32, of: u32, after: Duration, reason: ApiError },
    /// The quota of `from` is used up; answers come from `to` from now on.
    Fallback { from: String, to: String },
    /// The conversation is longer than the model takes: its oldest exchanges were left out.
    ContextTrimmed(Trimmed),
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Retrying { attempt, of, after, reason } => {
                // Built from the typed error, never by cutting its sentence apart.
                let why = reason.short_reason();
                write!(f, "{why}; retrying in {} (attempt {attempt} of {of}).", human_duration(*after))
            }
            Notice::Fallback { from, to } => write!(
                f,
                "The quota for {} is used up; switching to {} for the rest of this run.",
                crate::sanitize::one_line(from, 60),
                crate::sanitize::one_line(to, 60)
            ),
            Notice::ContextTrimmed(trimmed) => write!(f, "{trimmed}"),
        }
    }
}

pub use crate::domain::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub text: String,
}

/// Everything that decides one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub model: String,
    pub system: Option<String>,
    pub generation_config: Option<GenerationConfig>,
    /// Earlier messages, oldest first.
    pub history: Vec<Message>,
    pub prompt: String,
}

impl Turn {
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        Turn { model: model.into(), system: None, generation_config: None, history: Vec::new(), prompt: prompt.into() }
    }

    /// The wire request: history then the prompt, with the system prompt and the generation
    /// settings beside them. Earlier answers go back as their text only, never their thoughts.
    pub fn request(&self) -> GenerateContentRequest {
        let mut contents: Vec<Content> = self
            .history
            .iter()
            .filter(|m| !m.text.is_empty())
            .map(|m| match m.role {
                Role::User => Content::user(&m.text),
                Role::Model => Content::model(&m.text),
            })
            .collect();
        contents.push(Content::user(&self.prompt));
        GenerateContentRequest {
            contents,
            system_instruction: self.system.as_deref().map(Content::system),
            generation_config: self.generation_config.clone().filter(|c| !c.is_empty()),
        }
    }

    /// Starts streaming the answer.
    pub async fn start(&self, client: &Client) -> Result<AnswerStream, ApiError> {
        client.stream_generate(&self.model, &self.request()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(text: &str) -> bool {
        let mut depth = 0i32;
        for c in text.chars() {
            depth += match c {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            if depth < 0 {
                return false;
            }
        }
        depth == 0
    }

    fn retrying(reason: ApiError) -> String {
        Notice::Retrying { attempt: 2, of: 5, after: Duration::from_millis(800), reason }.to_string()
    }

    #[test]
    fn a_dns_retry_notice_keeps_its_whole_reason() {
        let reason =
            ApiError::Network { detail: "failed to lookup address information: name or service not known".into() };
        assert_eq!(
            retrying(reason),
            "Could not reach Gemini (failed to lookup address information: name or service not known); retrying in 0.8s (attempt 2 of 5)."
        );
    }

    #[test]
    fn every_retry_notice_is_one_line_with_balanced_parentheses() {
        use crate::gemini::{StopReason, TimeoutPhase};
        let odd = "a (b: c\nd) e) f ( g:\n h".to_owned();
        let reasons = [
            ApiError::Network { detail: odd.clone() },
            ApiError::Truncated { detail: odd.clone() },
            ApiError::Protocol { detail: odd.clone() },
            ApiError::PromptBlocked { reason: odd.clone() },
            ApiError::AnswerStopped { reason: StopReason::Other(odd.clone()) },
            ApiError::ModelNotFound { model: odd.clone() },
            ApiError::BadRequest { detail: odd.clone() },
            ApiError::Server { status: 503, overloaded: true, retry_after: None },
            ApiError::Server { status: 500, overloaded: false, retry_after: Some(Duration::from_secs(3)) },
            ApiError::RateLimited { retry_after: None },
            ApiError::Timeout { phase: TimeoutPhase::Connect, after: Duration::from_secs(10) },
            ApiError::Timeout { phase: TimeoutPhase::Idle, after: Duration::from_secs(30) },
        ];
        for reason in reasons {
            let text = retrying(reason.clone());
            assert!(balanced(&text), "{text}");
            assert!(!text.contains('\n') && text.ends_with("(attempt 2 of 5)."), "{text}");
            assert!(text.starts_with(&reason.short_reason()), "{text}");
        }
    }

    #[test]
    fn a_request_holds_history_in_order_then_the_prompt() {
        let mut turn = Turn::new("m", "and then?");
        turn.system = Some("be brief".into());
        turn.history =
            vec![Message { role: Role::User, text: "hi".into() }, Message { role: Role::Model, text: "hello".into() }];
        let json = serde_json::to_value(turn.request()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "hi"}]},
                    {"role": "model", "parts": [{"text": "hello"}]},
                    {"role": "user", "parts": [{"text": "and then?"}]}
                ],
                "systemInstruction": {"parts": [{"text": "be brief"}]}
            })
        );
    }

    #[test]
    fn a_request_sends_the_generation_config_it_is_keyed_by() {
        let mut turn = Turn::new("m", "hi");
        turn.generation_config = Some(GenerationConfig {
            temperature: Some(0.25),
            top_p: Some(0.5),
            max_output_tokens: Some(64),
            seed: Some(7),
            stop_sequences: Some(vec!["END".into()]),
            ..GenerationConfig::default()
        });
        let json = serde_json::to_value(turn.request()).unwrap();
        assert_eq!(
            json["generationConfig"],
            serde_json::json!({"temperature": 0.25, "topP": 0.5, "maxOutputTokens": 64, "seed": 7, "stopSequences": ["END"]})
        );
        turn.generation_config = Some(GenerationConfig::default());
        let json = serde_json::to_value(turn.request()).unwrap();
        assert!(json.get("generationConfig").is_none(), "an empty config is not sent: {json}");
    }
}
