//! What a streamed answer is made of, whichever provider streams it: text, thoughts, tool calls,
//! usage, the model that answered, sources, and a typed finish.

use super::error::{ApiError, StopReason};
use super::request::ToolCall;
use super::usage::Usage;

/// A streamed answer: classified events, ending after `Finished` or at the first error.
/// Dropping it closes the connection (that is how a caller cancels).
pub type EventStream = futures::stream::BoxStream<'static, Result<StreamEvent, ApiError>>;

/// One classified step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Visible answer text (a delta).
    Text(String),
    /// A thought summary (only when thoughts are asked for); never part of the answer.
    Thought(String),
    /// The model asks for a tool to be run: a whole call (a provider that streams a call in
    /// fragments sends it once it is whole). Its id and signature go back with the result.
    ToolCall(Box<ToolCall>),
    /// Running token totals; the last one wins.
    Usage(Usage),
    /// The model that answered, as the server reports it.
    ModelVersion(String),
    /// The answer's sources (Google Search, URL context); usually with the last chunk. Several
    /// of these merge ([`crate::grounding::Grounding::merge`]).
    Grounding(crate::grounding::Grounding),
    /// The answer ended. [`FinishReason::Stop`] and [`FinishReason::ToolCalls`] are success;
    /// anything else is [`FinishReason::into_error`].
    Finished(FinishReason),
}

/// Why an answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// The model finished its answer.
    Stop,
    /// The model stopped to have tools run (the calls came as [`StreamEvent::ToolCall`]s).
    ToolCalls,
    /// Cut off or refused.
    Stopped(StopReason),
}

impl FinishReason {
    /// `None` for a whole answer, else the error that says why it is not.
    pub fn into_error(self) -> Option<ApiError> {
        match self {
            FinishReason::Stop | FinishReason::ToolCalls => None,
            FinishReason::Stopped(reason) => Some(ApiError::AnswerStopped { reason }),
        }
    }
}
