//! The OpenAI chat completions JSON, and the one place it meets the neutral vocabulary: the
//! request body built from a [`Request`] (tool calls and results included), and the streamed
//! `chat.completion.chunk`s read back. A part this wire cannot carry (a PDF, audio, an uploaded
//! file) and a Gemini-only tool (search grounding, URL context) are refused here with one
//! sentence, before anything is sent.

use serde::{Deserialize, Serialize};

use crate::llm::{ApiError, Author, Missing, Part, Request, Thinking, ToolChoice, ToolSpec, Usage as UsageMetadata};

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
    /// Function tools: `{"type":"function","function":{name, description, parameters}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
    /// `"none"`, `"required"` or `{"type":"function","function":{"name"}}` (absent: auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamOptions {
    pub include_usage: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    /// Absent on an assistant message that only calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// The calls an assistant message made: `{"id","type":"function","function":{name, arguments}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<serde_json::Value>,
    /// On a `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    fn new(role: &str, content: MessageContent) -> Self {
        Message { role: role.to_owned(), content: Some(content), tool_calls: Vec::new(), tool_call_id: None }
    }
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
pub fn unsupported_tool(request: &Request) -> Option<&'static str> {
    if request.tools.contains(&ToolSpec::GoogleSearch) {
        Some("Google Search grounding")
    } else if request.tools.contains(&ToolSpec::UrlContext) {
        Some("URL context")
    } else {
        None
    }
}

/// `reasoning_effort` for a thinking choice.
fn reasoning_effort(thinking: Thinking) -> Option<&'static str> {
    match thinking {
        Thinking::Off | Thinking::Budget(0) => Some("none"),
        Thinking::Low => Some("low"),
        Thinking::Medium => Some("medium"),
        Thinking::High => Some("high"),
        Thinking::Budget(n) if n <= 1024 => Some("low"),
        Thinking::Budget(n) if n <= 8192 => Some("medium"),
        Thinking::Budget(_) => Some("high"),
    }
}

/// The chat completions body for `request` on `model` (`shown` names the model to the user).
pub fn chat_request(model: &str, shown: &str, request: &Request) -> Result<ChatRequest, ApiError> {
    if let Some(feature) = unsupported_tool(request) {
        return Err(ApiError::Unsupported {
            model: shown.to_owned(),
            missing: Missing::BuiltInTool(feature.to_owned()),
        });
    }
    let mut messages = Vec::new();
    if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(Message::new("system", MessageContent::Text(system.to_owned())));
    }
    for message in &request.messages {
        match message.author {
            Author::User => messages.push(Message::new("user", message_content(&message.parts, shown)?)),
            Author::Assistant => {
                let calls: Vec<serde_json::Value> = message
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall(call) => Some(serde_json::json!({
                            "id": call.id, "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments.to_string()},
                        })),
                        _ => None,
                    })
                    .collect();
                let content = message_content(&message.parts, shown)?;
                let empty = matches!(&content, MessageContent::Text(t) if t.is_empty());
                messages.push(Message {
                    role: "assistant".to_owned(),
                    content: (!empty || calls.is_empty()).then_some(content),
                    tool_calls: calls,
                    tool_call_id: None,
                });
            }
            Author::Tool => {
                for part in &message.parts {
                    if let Part::ToolResult(result) = part {
                        messages.push(Message {
                            role: "tool".to_owned(),
                            content: Some(MessageContent::Text(result.response.to_string())),
                            tool_calls: Vec::new(),
                            tool_call_id: result.id.clone(),
                        });
                    }
                }
            }
        }
    }
    let params = &request.params;
    let response_format = params
        .answer_schema
        .clone()
        .map(|schema| serde_json::json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}));
    let tools = request
        .tools
        .iter()
        .filter_map(|t| match t {
            ToolSpec::Function { name, description, parameters } => Some(serde_json::json!({
                "type": "function",
                "function": {"name": name, "description": description, "parameters": parameters},
            })),
            ToolSpec::GoogleSearch | ToolSpec::UrlContext => None,
        })
        .collect::<Vec<_>>();
    let tool_choice = match &request.tool_choice {
        _ if tools.is_empty() => None,
        ToolChoice::Auto => None,
        ToolChoice::None => Some(serde_json::json!("none")),
        ToolChoice::Required => Some(serde_json::json!("required")),
        ToolChoice::Only(names) if names.len() == 1 => {
            Some(serde_json::json!({"type": "function", "function": {"name": names[0]}}))
        }
        // Several allowed: the offered tools are cut to them, and one must be called.
        ToolChoice::Only(_) => Some(serde_json::json!("required")),
    };
    let tools = match &request.tool_choice {
        ToolChoice::Only(names) => tools
            .into_iter()
            .filter(|t| t["function"]["name"].as_str().is_some_and(|n| names.iter().any(|m| m == n)))
            .collect(),
        _ => tools,
    };
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        stream: true,
        stream_options: Some(StreamOptions { include_usage: true }),
        temperature: params.temperature,
        top_p: params.top_p,
        max_tokens: params.max_tokens,
        seed: params.seed,
        stop: (!params.stop.is_empty()).then(|| params.stop.clone()),
        reasoning_effort: params.thinking.and_then(reasoning_effort).map(str::to_owned),
        response_format,
        tools,
        tool_choice,
    })
}

/// A message's parts: text stays text, an image becomes a data URL, a text file becomes text;
/// anything else is refused with a sentence. Thoughts, tool calls and results are not content.
fn message_content(parts: &[Part], shown: &str) -> Result<MessageContent, ApiError> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push(ContentPart::Text { text: text.clone() }),
            Part::Media { mime, bytes } if mime.starts_with("image/") => {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                out.push(ContentPart::ImageUrl { image_url: ImageUrl { url: format!("data:{mime};base64,{data}") } });
            }
            Part::Media { mime, bytes } => match text_of(mime, bytes) {
                Some(text) => out.push(ContentPart::Text { text }),
                None => return Err(cannot_take(shown, mime)),
            },
            Part::File { mime, .. } => return Err(cannot_take(shown, mime)),
            Part::Thought { .. } | Part::ToolCall(_) | Part::ToolResult(_) => {}
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

/// The text of a text attachment (any `text/*`, JSON, XML).
fn text_of(mime: &str, bytes: &[u8]) -> Option<String> {
    let texty = mime.starts_with("text/") || mime.ends_with("/json") || mime.ends_with("/xml");
    if !texty {
        return None;
    }
    String::from_utf8(bytes.to_vec()).ok()
}

fn cannot_take(shown: &str, mime: &str) -> ApiError {
    ApiError::Unsupported { model: shown.to_owned(), missing: Missing::Attachment { mime: mime.to_owned() } }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Message as Said, ToolCall, ToolResult};

    #[test]
    fn a_tool_call_and_its_result_go_back_as_openai_writes_them() {
        let call = ToolCall {
            id: Some("call_1".into()),
            name: "lookup".into(),
            arguments: serde_json::json!({"q": "rust"}),
            signature: None,
        };
        let result =
            ToolResult { id: Some("call_1".into()), name: "lookup".into(), response: serde_json::json!({"ok": 1}) };
        let request = Request {
            messages: vec![
                Said::text(Author::User, "what is rust?"),
                Said::new(Author::Assistant, vec![Part::ToolCall(call)]),
                Said::new(Author::Tool, vec![Part::ToolResult(result)]),
            ],
            tools: vec![ToolSpec::Function {
                name: "lookup".into(),
                description: "Looks a word up.".into(),
                parameters: serde_json::json!({"type": "object"}),
            }],
            ..Request::default()
        };
        let body = serde_json::to_value(chat_request("m", "oai:m", &request).unwrap()).unwrap();
        assert_eq!(
            body["messages"][1],
            serde_json::json!({"role": "assistant", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"rust\"}"}}
            ]})
        );
        assert_eq!(
            body["messages"][2],
            serde_json::json!({"role": "tool", "content": "{\"ok\":1}", "tool_call_id": "call_1"})
        );
        assert_eq!(body["tools"][0]["function"]["name"], "lookup");
        assert_eq!(body["tools"][0]["type"], "function");
    }

    #[test]
    fn a_tool_choice_goes_as_openais_tool_choice() {
        let function = |name: &str| ToolSpec::Function {
            name: name.into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
        };
        let body = |choice: ToolChoice| {
            let request = Request {
                messages: vec![Said::text(Author::User, "hi")],
                tools: vec![function("a"), function("b"), function("c")],
                tool_choice: choice,
                ..Request::default()
            };
            serde_json::to_value(chat_request("m", "oai:m", &request).unwrap()).unwrap()
        };
        let names = |body: &serde_json::Value| -> Vec<String> {
            body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap().into()).collect()
        };
        assert!(body(ToolChoice::Auto).get("tool_choice").is_none());
        assert_eq!(body(ToolChoice::None)["tool_choice"], "none");
        assert_eq!(body(ToolChoice::Required)["tool_choice"], "required");
        let one = body(ToolChoice::Only(vec!["b".into()]));
        assert_eq!(one["tool_choice"], serde_json::json!({"type": "function", "function": {"name": "b"}}));
        assert_eq!(names(&one), ["b"]);
        let two = body(ToolChoice::Only(vec!["a".into(), "c".into()]));
        assert_eq!((two["tool_choice"].as_str(), names(&two)), (Some("required"), vec!["a".into(), "c".into()]));
    }
}
