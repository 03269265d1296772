//! The OpenAI chat completions JSON: the request body built from our provider-neutral
//! [`GenerateContentRequest`], and the streamed `chat.completion.chunk`s read back. A part this
//! wire cannot carry (a PDF, audio, a Gemini file reference) and a Gemini-only tool (search
//! grounding, URL context) are refused here with one sentence, before anything is sent.

use serde::{Deserialize, Serialize};

use crate::gemini::{ApiError, GenerateContentRequest, Part, ThinkingLevel, UsageMetadata};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamOptions {
    pub include_usage: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: MessageContent,
}

/// Plain text, or parts when the message carries an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageUrl {
    pub url: String,
}

/// What a Gemini-only feature of `request` becomes here: `None` when there is none.
pub fn unsupported_tool(request: &GenerateContentRequest) -> Option<&'static str> {
    if request.tools.iter().any(|t| t.google_search.is_some()) {
        Some("Google Search grounding")
    } else if request.tools.iter().any(|t| t.url_context.is_some()) {
        Some("URL context")
    } else {
        None
    }
}

/// The chat completions body for `request` on `model` (`shown` names the model to the user).
pub fn chat_request(model: &str, shown: &str, request: &GenerateContentRequest) -> Result<ChatRequest, ApiError> {
    if let Some(feature) = unsupported_tool(request) {
        return Err(ApiError::Unsupported {
            what: format!(
                "{feature} works only with Gemini models, and {} is not one: turn it off (--search / /search) or pick a Gemini model.",
                crate::sanitize::one_line(shown, 60)
            ),
        });
    }
    let mut messages = Vec::new();
    if let Some(system) = &request.system_instruction {
        let text = system.visible_text();
        if !text.is_empty() {
            messages.push(Message { role: "system".into(), content: MessageContent::Text(text) });
        }
    }
    for content in &request.contents {
        let role = match content.role.as_deref() {
            Some("model") => "assistant",
            _ => "user",
        };
        messages.push(Message { role: role.into(), content: message_content(&content.parts, shown)? });
    }
    let config = request.generation_config.clone().unwrap_or_default();
    let reasoning_effort = config.thinking_config.as_ref().and_then(|t| {
        t.thinking_level
            .map(|level| match level {
                ThinkingLevel::Minimal => "minimal",
                ThinkingLevel::Low => "low",
                ThinkingLevel::Medium => "medium",
                ThinkingLevel::High => "high",
            })
            .or(match t.thinking_budget {
                Some(0) => Some("none"),
                Some(n) if n < 0 => None,
                Some(n) if n <= 1024 => Some("low"),
                Some(n) if n <= 8192 => Some("medium"),
                Some(_) => Some("high"),
                None => None,
            })
            .map(str::to_owned)
    });
    let response_format = config
        .response_json_schema
        .map(|schema| serde_json::json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}));
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        stream: true,
        stream_options: Some(StreamOptions { include_usage: true }),
        temperature: config.temperature,
        top_p: config.top_p,
        max_tokens: config.max_output_tokens,
        seed: config.seed,
        stop: config.stop_sequences,
        reasoning_effort,
        response_format,
    })
}

/// A message's parts: text stays text, an image becomes a data URL, a text file becomes text;
/// anything else is refused with a sentence.
fn message_content(parts: &[Part], shown: &str) -> Result<MessageContent, ApiError> {
    let mut out = Vec::new();
    for part in parts.iter().filter(|p| !p.thought) {
        if let Some(text) = &part.text {
            out.push(ContentPart::Text { text: text.clone() });
        } else if let Some(blob) = &part.inline_data {
            let mime = blob.mime_type.as_str();
            if mime.starts_with("image/") {
                out.push(ContentPart::ImageUrl {
                    image_url: ImageUrl { url: format!("data:{mime};base64,{}", blob.data) },
                });
            } else if let Some(text) = text_of(mime, &blob.data) {
                out.push(ContentPart::Text { text });
            } else {
                return Err(cannot_take(shown, mime));
            }
        } else if let Some(file) = &part.file_data {
            return Err(cannot_take(shown, &file.mime_type));
        }
    }
    Ok(match out.as_slice() {
        [ContentPart::Text { text }] => MessageContent::Text(text.clone()),
        _ if out.iter().all(|p| matches!(p, ContentPart::Text { .. })) => MessageContent::Text(
            out.iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::ImageUrl { .. } => None,
                })
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
        _ => MessageContent::Parts(out),
    })
}

/// The text of a text attachment (any `text/*`, JSON, XML), decoded from base64.
fn text_of(mime: &str, data: &str) -> Option<String> {
    use base64::Engine as _;
    let texty = mime.starts_with("text/") || mime.ends_with("/json") || mime.ends_with("/xml");
    if !texty {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    String::from_utf8(bytes).ok()
}

fn cannot_take(shown: &str, mime: &str) -> ApiError {
    let what = match mime.split('/').next().unwrap_or("") {
        "audio" => "audio".to_owned(),
        "video" => "video".to_owned(),
        _ if mime == "application/pdf" => "PDF files".to_owned(),
        _ => format!("{} attachments", crate::sanitize::one_line(mime, 40)),
    };
    ApiError::Unsupported {
        what: format!(
            "{} cannot take {what} (only text and images go to an OpenAI-compatible provider): remove the attachment or pick a Gemini model.",
            crate::sanitize::one_line(shown, 60)
        ),
    }
}

/// One `data:` event of the stream.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Chunk {
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub model: Option<String>,
    /// Some servers (vLLM, LM Studio) send an error object inside a 200 stream.
    #[serde(default)]
    pub error: Option<ErrorObject>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Delta {
    #[serde(default)]
    pub content: Option<String>,
    /// Thinking text as Ollama, vLLM and DeepSeek-style servers stream it.
    #[serde(default, alias = "reasoning")]
    pub reasoning_content: Option<String>,
    /// Fragments of tool calls, keyed by `index`: the first names the call, the rest carry
    /// pieces of its arguments' JSON text.
    #[serde(default)]
    pub tool_calls: Vec<ToolCallDelta>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ToolCallDelta {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionDelta>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct FunctionDelta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
    #[serde(default)]
    pub total_tokens: u32,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// Of the completion, the reasoning (thinking) tokens; they are part of `completion_tokens`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u32,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u32,
}

impl From<Usage> for UsageMetadata {
    fn from(u: Usage) -> Self {
        // OpenAI counts reasoning inside the completion; Gemini's usage keeps thoughts apart.
        let thoughts = u.completion_tokens_details.map_or(0, |d| d.reasoning_tokens).min(u.completion_tokens);
        UsageMetadata {
            prompt_token_count: u.prompt_tokens,
            candidates_token_count: u.completion_tokens - thoughts,
            thoughts_token_count: thoughts,
            cached_content_token_count: u.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            total_token_count: u.total_tokens.max(u.prompt_tokens + u.completion_tokens),
            ..UsageMetadata::default()
        }
    }
}

/// `{"error": {...}}` as OpenAI and its imitators send it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ErrorEnvelope {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ErrorObject {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

/// `GET {base}/models`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ModelList {
    #[serde(default)]
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ModelEntry {
    pub id: String,
    #[serde(default)]
    pub owned_by: Option<String>,
}
