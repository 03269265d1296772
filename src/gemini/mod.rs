//! The wire: the only code that knows Gemini's JSON, SSE and HTTP. Everything above sees
//! [`Client`], [`StreamEvent`] and [`ApiError`].

pub mod batch;
mod client;
pub mod error;
pub mod fake;
mod files;
pub mod sse;
pub mod stored_error;
pub mod stream;
pub mod thinking;
pub mod types;

pub use client::{API_VERSION, Client, ClientOptions, DEFAULT_BASE_URL, Timeouts, check_base_url, model_path};
pub use error::{ApiError, ErrorKind, StopReason, TimeoutPhase};
pub use files::{UPLOAD_CHUNK_BYTES, UploadStatus};
pub use stream::{AnswerStream, FinishReason, StreamEvent};
pub use thinking::Thinking;
pub use types::{
    Content, File, GenerateContentRequest, GenerationConfig, Model, Part, ThinkingConfig, ThinkingLevel, Tool,
    UsageMetadata,
};
