//! The provider-neutral vocabulary every layer above the wire speaks: a [`Request`] (system
//! text, messages by [`Author`] made of [`Part`]s, [`Params`], [`ToolSpec`]s), the
//! [`StreamEvent`]s of an answer with a typed [`FinishReason`], [`Usage`], [`ModelInfo`] with
//! its [`Capabilities`], and provider errors as data ([`ApiError`]). A leaf: it imports only
//! `grounding` (an answer's sources, already neutral), `error_data` (errors as stored data, see
//! `stored`), `sanitize` (to quote a bad thinking
//! value) and std/serde/bytes (and `futures` for the [`EventStream`] type); each provider
//! (`gemini/`, `openai/`) converts to and from it in one place.

pub mod error;
pub mod event;
pub mod model;
pub mod request;
pub mod stored;
pub mod usage;

pub use error::{ApiError, ErrorKind, Missing, StopReason, TimeoutPhase};
pub use event::{EventStream, FinishReason, StreamEvent};
pub use model::{Capabilities, ModelInfo};
pub use request::{Author, Message, Params, Part, Request, Thinking, ToolCall, ToolChoice, ToolResult, ToolSpec};
pub use usage::Usage;
