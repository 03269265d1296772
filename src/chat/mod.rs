//! Conversations: builds a turn from the stored conversation (history + prompt → a
//! provider-neutral `llm::Request`, [`Prepared`]), lays roles and settings over it (one
//! [`registry`] of settings), fits it to the model's input limit, and runs it through the engine
//! ([`ChatSession`]): cache, streaming, saving, metrics and spending. Front ends reach it through
//! the turn runner (`src/turn/`), which calls these steps in one fixed order, so they behave
//! alike. No SQL, no terminal, no wire format.

mod attachments;
mod budget;
mod cache_key;
mod client_calls;
mod context;
mod prepare;
pub mod registry;
mod role;
mod session;
mod settings;
mod tool_rounds;
mod turn_state;

pub use attachments::{INLINE_REQUEST_MAX_BYTES, UploadProgress};
pub use budget::Hold;
pub use cache_key::{CacheKey, MemoryCache, cache_key};
pub use client_calls::{CallResult, CallsError};
pub use context::{ContextError, ContextOverflow, Trimmed, estimate_tokens, short_tokens, worst_prompt_tokens};
pub use prepare::{Branch, Prepared, Target};
pub use role::{INPUT_PLACEHOLDER, NamedRole, RoleSource, unknown_role};
pub use session::{
    ChatError, ChatOptions, ChatSession, DEFAULT_ATTACHMENT_STORE_MAX_BYTES, DEFAULT_CACHE_TTL, Outcome, Shown,
    TurnReport,
};
pub use settings::{Settings, SettingsError, json_answer_problem};

pub use tool_rounds::{TurnTools, failure_from_stored, response_of, stored_end, told_to_model};
pub use turn_state::{Effect, ToolCall, ToolResult, TurnEvent, TurnState};

use std::time::Duration;

use crate::attach::{Attachment, AttachmentData};
use crate::format::human_duration;
use crate::llm::{self, ApiError, Params, Part, Request, ToolSpec};

/// Something a turn tells the user that is not the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Attempt `attempt` of `of` starts after `after`, because `reason`.
    Retrying { attempt: u32, of: u32, after: Duration, reason: ApiError },
    /// The answer moves from `from` to `to`, the next model of the fallback chain, because of
    /// `reason` (a spent quota or unknown model: from now on; a provider down: this answer).
    Fallback { from: String, to: String, reason: crate::engine::FallbackReason },
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
            Notice::Fallback { from, to, reason } => {
                let (from, to) = (crate::sanitize::one_line(from, 60), crate::sanitize::one_line(to, 60));
                match reason {
                    crate::engine::FallbackReason::QuotaSpent => {
                        write!(f, "The quota for {from} is used up; switching to {to} for the rest of this run.")
                    }
                    crate::engine::FallbackReason::ModelUnknown => {
                        write!(f, "The model {from} does not exist; switching to {to} for the rest of this run.")
                    }
                    crate::engine::FallbackReason::ProviderDown(error) => {
                        write!(f, "{} after every retry; {to} answers instead of {from}.", error.short_reason())
                    }
                }
            }
            Notice::ContextTrimmed(trimmed) => write!(f, "{trimmed}"),
        }
    }
}

pub use crate::domain::{Author, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Author,
    pub text: String,
    /// What a prompt had attached (sent again with it, before its text).
    pub attachments: Vec<Attachment>,
    /// The tool calls of an answer, in order (sent back as the model saw them).
    pub tool_calls: Vec<SavedCall>,
}

impl Message {
    pub fn new(role: Author, text: impl Into<String>) -> Self {
        Message { role, text: text.into(), attachments: Vec::new(), tool_calls: Vec::new() }
    }
}

/// A saved tool call of an answer and what the model was sent back for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCall {
    /// Its id within the turn (the provider's, or one given when the provider gave none): what
    /// a client that ran it names it by.
    pub call_id: String,
    /// Its row in the history (`None`: not saved).
    pub row: Option<i64>,
    pub round: i64,
    /// Where in the answer's text its round's text ended.
    pub text_offset: usize,
    /// The provider's id and signature, exactly as they came.
    pub wire_id: Option<String>,
    pub name: String,
    pub arguments: serde_json::Value,
    pub signature: Option<String>,
    /// `functionResponse.response` as sent.
    pub response: serde_json::Value,
    /// The media it gave, sent after the round's results (as when it ran).
    pub media: Vec<crate::tools::Media>,
}

/// An answer with tool rounds as the model saw it: each round's text and calls, the results,
/// then the text after the last round.
fn answer_with_rounds(text: &str, calls: &[SavedCall]) -> Vec<crate::llm::Message> {
    let mut out = Vec::new();
    let mut from = 0;
    let mut i = 0;
    while i < calls.len() {
        let round = calls[i].round;
        let end = calls[i..].iter().position(|c| c.round != round).map_or(calls.len(), |n| i + n);
        let mut at = calls[i].text_offset.clamp(from, text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut said = Vec::new();
        if at > from {
            said.push(Part::Text(text[from..at].to_owned()));
        }
        let these = &calls[i..end];
        said.extend(these.iter().map(|c| {
            Part::ToolCall(crate::llm::ToolCall {
                id: c.wire_id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                signature: c.signature.clone(),
            })
        }));
        out.push(crate::llm::Message::new(llm::Author::Assistant, said));
        let results = these.iter().map(|c| {
            Part::ToolResult(crate::llm::ToolResult {
                id: c.wire_id.clone(),
                name: c.name.clone(),
                response: c.response.clone(),
            })
        });
        let media = these.iter().flat_map(|c| &c.media);
        let media = media.map(|m| Part::Media { mime: m.mime.clone(), bytes: m.bytes.clone() });
        out.push(crate::llm::Message::new(llm::Author::Tool, results.chain(media).collect()));
        (from, i) = (at, end);
    }
    if from < text.len() {
        out.push(crate::llm::Message::text(llm::Author::Assistant, text[from..].to_owned()));
    }
    out
}

/// Everything that decides one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub model: String,
    pub system: Option<String>,
    /// Generation parameters (each provider maps them to its wire, and refuses what its model
    /// cannot take).
    pub params: Params,
    /// Tools: built-in ones (Google Search, URL context), MCP tools, a client's functions.
    pub tools: Vec<ToolSpec>,
    /// How the model may call the offered functions.
    pub tool_choice: crate::llm::ToolChoice,
    /// The prompt is the results of the calls the last answer of the history ended with (a
    /// client ran them, [`ChatSession::answer_calls`]): no user message is sent or saved.
    pub answers_calls: bool,
    /// Earlier messages, oldest first.
    pub history: Vec<Message>,
    pub prompt: String,
    /// Files sent with the prompt, before its text (see `ChatSession::attach`).
    pub attachments: Vec<Attachment>,
    /// The fallback chain of this turn's role (canonical names); `None`: the engine's own.
    pub fallback: Option<Vec<String>>,
}

impl Turn {
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        Turn {
            model: model.into(),
            system: None,
            params: Params::default(),
            tools: Vec::new(),
            tool_choice: crate::llm::ToolChoice::Auto,
            answers_calls: false,
            history: Vec::new(),
            prompt: prompt.into(),
            attachments: Vec::new(),
            fallback: None,
        }
    }

    /// The request: history then the prompt, with the system prompt, the parameters and the
    /// tools beside them. Earlier answers go back as their text only, never their thoughts.
    pub fn request(&self) -> Request {
        let mut messages: Vec<crate::llm::Message> = self
            .history
            .iter()
            .filter(|m| !m.text.is_empty() || !m.attachments.is_empty() || !m.tool_calls.is_empty())
            .flat_map(|m| match m.role {
                Author::User => vec![user_message(&m.text, &m.attachments)],
                Author::Model if !m.tool_calls.is_empty() => answer_with_rounds(&m.text, &m.tool_calls),
                Author::Model => vec![crate::llm::Message::text(llm::Author::Assistant, m.text.clone())],
            })
            .collect();
        if !self.answers_calls {
            messages.push(user_message(&self.prompt, &self.attachments));
        }
        Request {
            system: self.system.clone(),
            messages,
            params: self.params.clone(),
            tools: self.tools.clone(),
            tool_choice: self.tool_choice.clone(),
        }
    }

    /// Every attachment, the prompt's and the history's.
    pub fn all_attachments(&self) -> impl Iterator<Item = &Attachment> {
        self.history.iter().flat_map(|m| &m.attachments).chain(&self.attachments)
    }

    /// Whether every attachment can go on the wire as it is: uploaded, or its bytes at hand.
    pub fn attachments_ready(&self) -> bool {
        self.all_attachments().all(|a| a.remote.is_some() || matches!(a.data, AttachmentData::Bytes(_)))
    }
}

/// A user turn: its attachments (text ones as named text parts, media inline or by file), then
/// its text.
fn user_message(text: &str, attachments: &[Attachment]) -> crate::llm::Message {
    let mut parts: Vec<Part> = attachments.iter().filter_map(attachment_part).collect();
    if !text.is_empty() || parts.is_empty() {
        parts.push(Part::Text(text.to_owned()));
    }
    crate::llm::Message::new(llm::Author::User, parts)
}

/// How an attachment travels: an uploaded file by its URI; text as a part headed by its name
/// (`--- report.txt ---`, then the content); other bytes as media. `None` for one whose bytes
/// are not at hand (never after `ChatSession::attach`).
fn attachment_part(a: &Attachment) -> Option<Part> {
    if let Some(remote) = &a.remote {
        return Some(Part::File { mime: a.info.mime.clone(), uri: remote.uri.clone() });
    }
    let AttachmentData::Bytes(bytes) = &a.data else { return None };
    Some(if a.info.is_text() {
        Part::Text(format!("--- {} ---\n{}", a.info.name, String::from_utf8_lossy(bytes)))
    } else {
        Part::Media { mime: a.info.mime.clone(), bytes: bytes.clone() }
    })
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
        use crate::llm::{StopReason, TimeoutPhase};
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
    fn a_turn_of_results_ends_with_them_and_sends_no_prompt() {
        let call = SavedCall {
            call_id: "call_1".into(),
            row: None,
            round: 1,
            text_offset: 4,
            wire_id: Some("call_1".into()),
            name: "get_weather".into(),
            arguments: serde_json::json!({"city": "Oslo"}),
            signature: Some("c2ln".into()),
            response: serde_json::json!({"celsius": 3}),
            media: Vec::new(),
        };
        let mut turn = Turn::new("m", "");
        turn.history = vec![
            Message::new(Author::User, "weather?"),
            Message { tool_calls: vec![call], ..Message::new(Author::Model, "Let ") },
        ];
        turn.answers_calls = true;
        let request = turn.request();
        let authors: Vec<llm::Author> = request.messages.iter().map(|m| m.author).collect();
        assert_eq!(authors, [llm::Author::User, llm::Author::Assistant, llm::Author::Tool]);
        let Part::ToolCall(sent) = &request.messages[1].parts[1] else { panic!("{request:?}") };
        assert_eq!((sent.id.as_deref(), sent.signature.as_deref()), (Some("call_1"), Some("c2ln")));
        let Part::ToolResult(result) = &request.messages[2].parts[0] else { panic!("{request:?}") };
        assert_eq!(result.response, serde_json::json!({"celsius": 3}));
        // A prompt turn on the same history asks its prompt after the results.
        turn.answers_calls = false;
        turn.prompt = "and tomorrow?".into();
        assert_eq!(turn.request().messages.last().map(|m| m.author), Some(llm::Author::User));
    }

    #[test]
    fn a_request_holds_history_in_order_then_the_prompt() {
        let mut turn = Turn::new("m", "and then?");
        turn.system = Some("be brief".into());
        turn.history = vec![Message::new(Author::User, "hi"), Message::new(Author::Model, "hello")];
        turn.params.temperature = Some(0.25);
        turn.tools = vec![ToolSpec::GoogleSearch];
        let request = turn.request();
        assert_eq!(request.system.as_deref(), Some("be brief"));
        assert_eq!(
            request.messages,
            [
                crate::llm::Message::text(llm::Author::User, "hi"),
                crate::llm::Message::text(llm::Author::Assistant, "hello"),
                crate::llm::Message::text(llm::Author::User, "and then?"),
            ]
        );
        assert_eq!(request.params.temperature, Some(0.25));
        assert_eq!(request.tools, [ToolSpec::GoogleSearch]);
    }

    fn attached(name: &str, mime: &str, bytes: &'static [u8]) -> Attachment {
        Attachment {
            info: crate::domain::AttachmentInfo {
                name: name.into(),
                mime: mime.into(),
                size: bytes.len() as u64,
                sha256: String::new(),
            },
            data: AttachmentData::Bytes(bytes::Bytes::from_static(bytes)),
            path: None,
            remote: None,
        }
    }

    #[test]
    fn attachments_go_before_the_text_of_their_own_prompt() {
        let mut turn = Turn::new("m", "and these?");
        let mut first = Message::new(Author::User, "look");
        first.attachments = vec![attached("a.png", "image/png", b"\x89PNG")];
        turn.history = vec![first, Message::new(Author::Model, "a picture")];
        let mut uploaded = attached("clip.mp4", "video/mp4", b"....");
        uploaded.remote =
            Some(crate::attach::RemoteFile { uri: "https://g/v1beta/files/abc".into(), expires_at_ms: i64::MAX });
        turn.attachments = vec![attached("notes.txt", crate::domain::TEXT_MIME, b"line one\n"), uploaded];
        let messages = turn.request().messages;
        let png = Part::Media { mime: "image/png".into(), bytes: bytes::Bytes::from_static(b"\x89PNG") };
        assert_eq!(messages[0].parts, [png, Part::Text("look".into())]);
        assert_eq!(messages[1], crate::llm::Message::text(llm::Author::Assistant, "a picture"));
        assert_eq!(
            messages[2].parts,
            [
                Part::Text("--- notes.txt ---\nline one\n".into()),
                Part::File { mime: "video/mp4".into(), uri: "https://g/v1beta/files/abc".into() },
                Part::Text("and these?".into()),
            ]
        );
        assert!(turn.attachments_ready());
        turn.attachments[0].data = AttachmentData::Missing;
        assert!(!turn.attachments_ready(), "bytes not at hand must be read (or found gone) first");
    }
}
