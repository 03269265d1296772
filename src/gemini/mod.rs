//! The Gemini wire: the only code that knows Gemini's JSON and HTTP. Everything above sees
//! [`Client`] as a provider (`provider/` implements its trait over it) speaking the neutral
//! vocabulary (`llm/`); [`convert`] is where the two meet, [`error`] reads Gemini's errors into
//! the neutral [`ApiError`] (worded for people in `format/provider_error.rs`), and [`fake`] is
//! its loopback server. Transport shared with other providers (SSE decoding, watchdogs, retry
//! hints, base-URL checks) is `net/`. The Batch and Files APIs (Gemini-only) are used directly
//! by `jobs/` and the engine's uploads.

pub mod batch;
mod client;
pub mod convert;
pub mod error;
pub mod fake;
mod files;
pub mod stream;
pub mod thinking;
pub mod types;

pub use crate::llm::ToolCall;
pub use crate::net::{Timeouts, check_base_url};
pub use client::{API_VERSION, Client, ClientOptions, DEFAULT_BASE_URL, model_path};
pub use error::{ApiError, ErrorKind, StopReason, TimeoutPhase};
pub use files::{UPLOAD_CHUNK_BYTES, UploadStatus};
pub use stream::{AnswerStream, FinishReason, StreamEvent};
pub use thinking::Thinking;
pub use types::{
    Content, File, GenerateContentRequest, GenerationConfig, Model, Part, ThinkingConfig, ThinkingLevel, Tool,
    UsageMetadata,
};
