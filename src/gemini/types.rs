//! Serde types for the Gemini JSON on the wire (requests, stream chunks, grounding metadata,
//! files, models, token counts, errors); token usage is [`crate::llm::Usage`], read and written
//! here in its wire shape. Every response type tolerates unknown and missing fields. Outside
//! `gemini/` only the Batch and Files features (Gemini-only: `jobs/`, the engine's uploads) see
//! them; everything else speaks `crate::llm`.

use serde::{Deserialize, Serialize};

/// Body of `generateContent` / `streamGenerateContent`. Only fields we set are sent:
/// the server rejects unknown ones, so `None` fields are skipped.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "system_instruction")]
    pub system_instruction: Option<Content>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "generation_config")]
    pub generation_config: Option<GenerationConfig>,
    /// Built-in tools (Google Search, URL context): top level, beside `generationConfig`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the declared functions may be called: `{"functionCallingConfig": {"mode": ...,
    /// "allowedFunctionNames": [...]}}`.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "tool_config")]
    pub tool_config: Option<serde_json::Value>,
}

/// One entry of `tools`. Each built-in tool is an empty object on the wire:
/// `{"googleSearch":{}}`, `{"urlContext":{}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "google_search")]
    pub google_search: Option<EmptyObject>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "url_context")]
    pub url_context: Option<EmptyObject>,
    /// Functions the caller runs: `{name, description, parameters}` each.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "function_declarations")]
    pub function_declarations: Option<Vec<serde_json::Value>>,
}

impl Tool {
    pub fn google_search() -> Self {
        Tool { google_search: Some(EmptyObject {}), ..Tool::default() }
    }
    pub fn url_context() -> Self {
        Tool { url_context: Some(EmptyObject {}), ..Tool::default() }
    }
}

/// `{}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmptyObject {}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

impl Content {
    pub fn user(text: impl Into<String>) -> Self {
        Self::with_role("user", text)
    }
    pub fn model(text: impl Into<String>) -> Self {
        Self::with_role("model", text)
    }
    pub fn system(text: impl Into<String>) -> Self {
        Content { role: None, parts: vec![Part::text(text)] }
    }
    fn with_role(role: &str, text: impl Into<String>) -> Self {
        Content { role: Some(role.to_owned()), parts: vec![Part::text(text)] }
    }
    /// The visible text of this content: text parts that are not thoughts, joined.
    pub fn visible_text(&self) -> String {
        self.parts.iter().filter(|p| !p.thought).filter_map(|p| p.text.as_deref()).collect()
    }
}

/// One part. A function call or response is kept as its JSON object (`{id?, name, args}` /
/// `{id?, name, response}`): read in one place, `convert`. The fields a streamed answer never
/// carries are boxed: every chunk's parts are read into a `Vec<Part>` that starts with room for
/// four, and four parts must fit what the allocator serves from its fast per-thread cache
/// (1 KiB; an unboxed `functionResponse` made replaying a stream cost 6.6% more instructions).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thought: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<Box<serde_json::Value>>,
    /// Bytes sent with the request (standard base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Box<Blob>>,
    /// A file uploaded with the Files API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<Box<FileData>>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Self {
        Part { text: Some(text.into()), ..Part::default() }
    }

    /// `bytes` of type `mime`, inline.
    pub fn inline(mime: impl Into<String>, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        Part { inline_data: Some(Box::new(Blob { mime_type: mime.into(), data })), ..Part::default() }
    }

    /// An uploaded file.
    pub fn file(mime: impl Into<String>, uri: impl Into<String>) -> Self {
        Part { file_data: Some(Box::new(FileData { mime_type: mime.into(), file_uri: uri.into() })), ..Part::default() }
    }
}

/// `inlineData`: a media type and its bytes in base64.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    pub data: String,
}

/// `fileData`: a reference to a file uploaded with the Files API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(default)]
    pub mime_type: String,
    pub file_uri: String,
}

/// A file of the Files API, as `upload, finalize` and `GET files/NAME` return it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct File {
    /// `files/<id>`.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub mime_type: String,
    /// An int64 as a JSON string.
    #[serde(default)]
    pub size_bytes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// RFC 3339; the file is deleted then (48 hours after the upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    /// Standard base64 of the SHA-256 of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_hash: Option<String>,
    #[serde(default)]
    pub uri: String,
    /// `PROCESSING` (video, until ready), `ACTIVE` or `FAILED`.
    #[serde(default)]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

/// The body of the final upload response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileEnvelope {
    pub file: File,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// `application/json` for structured output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// A JSON Schema document the answer must follow (`responseJsonSchema` takes JSON Schema as
    /// written; `responseSchema` takes only an OpenAPI subset and rejects e.g. `additionalProperties`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<serde_json::Value>,
}

impl GenerationConfig {
    /// True when nothing is set (then no `generationConfig` is sent at all).
    pub fn is_empty(&self) -> bool {
        *self == GenerationConfig::default()
    }
}

/// `thinkingConfig`: a level (Gemini 3+) or a budget (2.5), never both (the API answers 400).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<ThinkingLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

/// `thinkingLevel` values (Gemini 3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ThinkingLevel {
    Minimal,
    Low,
    Medium,
    High,
}

/// One `GenerateContentResponse`: a whole unary answer, or one SSE chunk of a stream.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
    /// An error object inside a 200 stream (`data: {"error":{...}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub finish_message: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    /// Kept as JSON and read leniently ([`GroundingMetadata::parse`]): a malformed one must never
    /// cost the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounding_metadata: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_context_metadata: Option<serde_json::Value>,
}

/// `groundingMetadata` (Google Search and URL context). `searchEntryPoint` (HTML for a web
/// page) and `retrievalMetadata` are not read.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroundingMetadata {
    #[serde(default)]
    pub grounding_chunks: Vec<GroundingChunk>,
    #[serde(default)]
    pub grounding_supports: Vec<GroundingSupport>,
    #[serde(default)]
    pub web_search_queries: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroundingChunk {
    #[serde(default)]
    pub web: Option<WebChunk>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebChunk {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroundingSupport {
    #[serde(default)]
    pub segment: Option<Segment>,
    #[serde(default)]
    pub grounding_chunk_indices: Vec<i64>,
}

/// A passage of the answer: UTF-8 byte offsets into the text (proto3 leaves out a 0 start).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    #[serde(default)]
    pub start_index: i64,
    #[serde(default)]
    pub end_index: i64,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UrlContextMetadata {
    #[serde(default)]
    pub url_metadata: Vec<UrlMetadata>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UrlMetadata {
    #[serde(default)]
    pub retrieved_url: Option<String>,
    #[serde(default)]
    pub url_retrieval_status: Option<String>,
}

impl GroundingMetadata {
    /// The sources of one candidate, from its `groundingMetadata` and `urlContextMetadata`;
    /// `None` when neither holds anything readable. Negative indices are dropped.
    pub fn parse(
        grounding: Option<&serde_json::Value>,
        url_context: Option<&serde_json::Value>,
    ) -> Option<crate::grounding::Grounding> {
        use crate::grounding::{Citation, Grounding, Source, UrlRead};
        let metadata = grounding.and_then(|v| serde_json::from_value::<GroundingMetadata>(v.clone()).ok());
        let urls = url_context.and_then(|v| serde_json::from_value::<UrlContextMetadata>(v.clone()).ok());
        let mut out = Grounding::default();
        if let Some(m) = metadata {
            out.sources = m
                .grounding_chunks
                .into_iter()
                .map(|c| {
                    let web = c.web.unwrap_or_default();
                    Source { title: web.title.unwrap_or_default(), uri: web.uri.unwrap_or_default() }
                })
                .collect();
            let index = |n: i64| usize::try_from(n).ok();
            out.citations = m
                .grounding_supports
                .into_iter()
                .filter_map(|s| {
                    let segment = s.segment?;
                    Some(Citation {
                        start: index(segment.start_index).unwrap_or(0),
                        end: index(segment.end_index)?,
                        text: segment.text.unwrap_or_default(),
                        sources: s.grounding_chunk_indices.into_iter().filter_map(index).collect(),
                    })
                })
                .collect();
            out.queries = m.web_search_queries.into_iter().filter(|q| !q.trim().is_empty()).collect();
        }
        if let Some(u) = urls {
            out.urls = u
                .url_metadata
                .into_iter()
                .filter_map(|m| {
                    let status = m.url_retrieval_status.unwrap_or_default();
                    let status = status.strip_prefix("URL_RETRIEVAL_STATUS_").unwrap_or(&status).to_ascii_lowercase();
                    Some(UrlRead { url: m.retrieved_url?, status })
                })
                .collect();
        }
        (!out.is_empty()).then_some(out)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// Token counts ([`crate::llm::Usage`]), read from and written as `usageMetadata`. The
/// per-modality lists are read only for what is billed apart (audio).
pub use crate::llm::Usage as UsageMetadata;

impl<'de> Deserialize<'de> for UsageMetadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UsageWire::deserialize(d).map(Into::into)
    }
}

impl Serialize for UsageMetadata {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        UsageWire::from(*self).serialize(s)
    }
}

/// `usageMetadata` as it is on the wire.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageWire {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    candidates_token_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    thoughts_token_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    cached_content_token_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    tool_use_prompt_token_count: u32,
    #[serde(default)]
    total_token_count: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    prompt_tokens_details: Vec<ModalityTokenCount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cache_tokens_details: Vec<ModalityTokenCount>,
}

/// One `{modality, tokenCount}` entry of a usage's details.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModalityTokenCount {
    #[serde(default)]
    modality: String,
    #[serde(default)]
    token_count: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn audio_tokens(details: &[ModalityTokenCount]) -> u32 {
    details.iter().filter(|d| d.modality == "AUDIO").fold(0, |sum, d| sum.saturating_add(d.token_count))
}

impl From<UsageWire> for UsageMetadata {
    fn from(w: UsageWire) -> Self {
        UsageMetadata {
            prompt_token_count: w.prompt_token_count,
            candidates_token_count: w.candidates_token_count,
            thoughts_token_count: w.thoughts_token_count,
            cached_content_token_count: w.cached_content_token_count,
            tool_use_prompt_token_count: w.tool_use_prompt_token_count,
            total_token_count: w.total_token_count,
            prompt_audio_token_count: audio_tokens(&w.prompt_tokens_details),
            cached_audio_token_count: audio_tokens(&w.cache_tokens_details),
        }
    }
}

impl From<UsageMetadata> for UsageWire {
    fn from(u: UsageMetadata) -> Self {
        let audio = |n: u32| {
            (n > 0).then(|| ModalityTokenCount { modality: "AUDIO".to_owned(), token_count: n }).into_iter().collect()
        };
        UsageWire {
            prompt_token_count: u.prompt_token_count,
            candidates_token_count: u.candidates_token_count,
            thoughts_token_count: u.thoughts_token_count,
            cached_content_token_count: u.cached_content_token_count,
            tool_use_prompt_token_count: u.tool_use_prompt_token_count,
            total_token_count: u.total_token_count,
            prompt_tokens_details: audio(u.prompt_audio_token_count),
            cache_tokens_details: audio(u.cached_audio_token_count),
        }
    }
}

/// The `{"error": {...}}` envelope.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
}

/// One entry of `GET /v1beta/models`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub input_token_limit: Option<u64>,
    #[serde(default)]
    pub output_token_limit: Option<u64>,
    #[serde(default)]
    pub supported_generation_methods: Vec<String>,
    #[serde(default)]
    pub thinking: Option<bool>,
}

impl Model {
    /// The id used in request paths: `models/gemini-2.5-flash` -> `gemini-2.5-flash`.
    pub fn id(&self) -> &str {
        self.name.strip_prefix("models/").unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListModelsResponse {
    #[serde(default)]
    pub models: Vec<Model>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensRequest {
    pub generate_content_request: CountTokensInner,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensInner {
    pub model: String,
    #[serde(flatten)]
    pub request: GenerateContentRequest,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensResponse {
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub cached_content_token_count: Option<u64>,
}
