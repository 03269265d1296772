//! Turns a Gemini SSE byte stream into classified events (text, thought, tool call, usage,
//! finish) and enforces the first-token and idle watchdogs. An answer that asked for tools ends
//! with [`FinishReason::ToolCalls`] (Gemini itself says `STOP`). Dropping an [`AnswerStream`] closes its
//! connection at once: that is how a caller cancels.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

use super::error::{ApiError, StopReason, TimeoutPhase};
use super::types::{GenerateContentResponse, GroundingMetadata};
pub use crate::llm::{FinishReason, StreamEvent};
use crate::net::sse::{self, SseDecoder, SseItem};

impl FinishReason {
    /// Gemini's `finishReason`.
    pub fn parse(text: &str) -> Self {
        match text {
            "STOP" => FinishReason::Stop,
            "MAX_TOKENS" => FinishReason::Stopped(StopReason::MaxTokens),
            "SAFETY" | "IMAGE_SAFETY" => FinishReason::Stopped(StopReason::Safety),
            "RECITATION" | "IMAGE_RECITATION" => FinishReason::Stopped(StopReason::Recitation),
            other => FinishReason::Stopped(StopReason::Other(other.to_ascii_lowercase().replace('_', " "))),
        }
    }
}

/// Classifies one parsed chunk into events, in wire order. Only candidate 0 is read (we never
/// ask for more); a prompt-level block is an error.
pub fn classify_chunk(chunk: GenerateContentResponse, out: &mut VecDeque<StreamEvent>) -> Result<(), ApiError> {
    if let Some(version) = chunk.model_version {
        out.push_back(StreamEvent::ModelVersion(version));
    }
    let candidate = chunk.candidates.into_iter().find(|c| c.index.unwrap_or(0) == 0);
    if candidate.is_none()
        && let Some(reason) = chunk.prompt_feedback.and_then(|f| f.block_reason)
    {
        return Err(ApiError::PromptBlocked { reason: reason.to_ascii_lowercase().replace('_', " ") });
    }
    if let Some(candidate) = candidate {
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = super::convert::tool_call(&part) {
                out.push_back(StreamEvent::ToolCall(Box::new(call)));
                continue;
            }
            match part.text {
                Some(text) if text.is_empty() => {}
                Some(text) if part.thought => out.push_back(StreamEvent::Thought(text)),
                Some(text) => out.push_back(StreamEvent::Text(text)),
                None => {}
            }
        }
        let grounding =
            GroundingMetadata::parse(candidate.grounding_metadata.as_ref(), candidate.url_context_metadata.as_ref());
        if let Some(grounding) = grounding {
            out.push_back(StreamEvent::Grounding(grounding));
        }
        if let Some(usage) = chunk.usage_metadata {
            out.push_back(StreamEvent::Usage(usage));
        }
        if let Some(reason) = candidate.finish_reason {
            out.push_back(StreamEvent::Finished(FinishReason::parse(&reason)));
        }
    } else if let Some(usage) = chunk.usage_metadata {
        out.push_back(StreamEvent::Usage(usage));
    }
    Ok(())
}

/// Parses one SSE item into a chunk, or the error it carries.
pub fn parse_item(item: SseItem, model: &str, key: Option<&str>) -> Result<GenerateContentResponse, ApiError> {
    match item {
        SseItem::Data(data) => {
            // A mangled event is a damaged stream, retried as a cut one is.
            let chunk: GenerateContentResponse = serde_json::from_str(&data)
                .map_err(|e| ApiError::Truncated { detail: format!("a stream event is not valid JSON: {e}") })?;
            match &chunk.error {
                Some(body) => Err(ApiError::from_stream_error(body, Some(model), key)),
                None => Ok(chunk),
            }
        }
        SseItem::Json(json) => match super::error::parse_error_body(&json) {
            Some(body) => Err(ApiError::from_stream_error(&body, Some(model), key)),
            None => Err(ApiError::Protocol {
                detail: "the stream held text that is neither an event nor an error".to_owned(),
            }),
        },
    }
}

/// Decodes a whole captured stream into events (replay tests, benchmarks). Stops at the first error.
pub fn replay(bytes: &[u8]) -> Result<Vec<StreamEvent>, ApiError> {
    let items = sse::decode_all(bytes).map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
    let mut events = VecDeque::new();
    for item in items {
        classify_chunk(parse_item(item, "model", None)?, &mut events)?;
    }
    Ok(events.into())
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A streamed answer in progress. Call [`AnswerStream::next`] until it returns `None`.
pub struct AnswerStream {
    body: ByteStream,
    decoder: SseDecoder,
    items: Vec<SseItem>,
    events: VecDeque<StreamEvent>,
    model: String,
    key: Option<String>,
    first_event_deadline: Instant,
    /// When the last whole event arrived; the idle watchdog counts from here. Bytes that
    /// complete no event do not reset it (a server dribbling a byte at a time cannot hold the
    /// answer open), nor does polling `next` again after a caller's `select!` chose another branch.
    last_activity: Instant,
    idle: Duration,
    first_token: Duration,
    seen_event: bool,
    saw_tool_call: bool,
    finished: bool,
    done: bool,
}

impl std::fmt::Debug for AnswerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerStream")
            .field("model", &self.model)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl AnswerStream {
    pub(crate) fn new(
        body: ByteStream,
        model: &str,
        key: Option<String>,
        started: Instant,
        first_token: Duration,
        idle: Duration,
    ) -> Self {
        AnswerStream {
            body,
            decoder: SseDecoder::new(),
            items: Vec::new(),
            events: VecDeque::new(),
            model: model.to_owned(),
            key,
            first_event_deadline: started + first_token,
            last_activity: started,
            idle,
            first_token,
            seen_event: false,
            saw_tool_call: false,
            finished: false,
            done: false,
        }
    }

    /// The next event; `None` once the answer is over. After an error, the stream is over.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ApiError>> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.pull().await {
                self.done = true;
                self.events.clear();
                return Some(Err(e));
            }
        }
    }

    /// Reads from the network until at least one event is ready or the body ends.
    async fn pull(&mut self) -> Result<(), ApiError> {
        let (deadline, phase, budget) = if self.seen_event {
            (self.last_activity + self.idle, TimeoutPhase::Idle, self.idle)
        } else {
            (self.first_event_deadline, TimeoutPhase::FirstToken, self.first_token)
        };
        let read = tokio::time::timeout_at(deadline, self.body.next()).await;
        let Ok(read) = read else {
            return Err(ApiError::Timeout { phase, after: budget });
        };
        match read {
            Some(Ok(bytes)) => {
                let fed = self.decoder.feed(&bytes, &mut self.items);
                fed.map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
                if !self.items.is_empty() {
                    self.last_activity = Instant::now();
                }
            }
            // After the finish reason the answer is whole; a late connection error changes nothing.
            Some(Err(_)) if self.finished => self.done = true,
            Some(Err(e)) => return Err(read_error(&e)),
            None => {
                self.done = true;
                let fed = self.decoder.finish(&mut self.items);
                fed.map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
            }
        }
        self.take_items()?;
        if self.done && !self.finished && self.events.is_empty() {
            return Err(ApiError::Truncated { detail: "no finish reason was sent".to_owned() });
        }
        Ok(())
    }

    fn take_items(&mut self) -> Result<(), ApiError> {
        let key = self.key.as_deref();
        for item in self.items.drain(..) {
            self.seen_event = true;
            let chunk = parse_item(item, &self.model, key)?;
            let before = self.events.len();
            classify_chunk(chunk, &mut self.events)?;
            for event in self.events.iter_mut().skip(before) {
                match event {
                    StreamEvent::ToolCall(_) => self.saw_tool_call = true,
                    StreamEvent::Finished(reason) => {
                        if self.saw_tool_call && *reason == FinishReason::Stop {
                            *reason = FinishReason::ToolCalls;
                        }
                        self.finished = true;
                    }
                    _ => {}
                }
            }
        }
        if self.done && !self.finished && !self.events.is_empty() {
            // Deliver what arrived, then report the truncation on the following call.
            self.done = false;
            self.body = Box::pin(futures::stream::empty());
            self.decoder = SseDecoder::new();
        }
        Ok(())
    }
}

fn read_error(e: &reqwest::Error) -> ApiError {
    if e.is_timeout() {
        return ApiError::Timeout { phase: TimeoutPhase::Idle, after: Duration::ZERO };
    }
    ApiError::Truncated { detail: "the connection was cut mid-answer".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde reads a chunk's parts into a `Vec<Part>` that first holds four; past 1 KiB (glibc's
    /// per-thread cache, 1032 bytes) every chunk's parts took malloc's slow path and each part
    /// moved more bytes: replaying a stream cost 6.6% more instructions once `functionResponse`
    /// was added unboxed (benches/sse `replay_decode_parse_classify`).
    #[test]
    fn four_wire_parts_fit_the_allocators_fast_cache() {
        let four = 4 * std::mem::size_of::<super::super::types::Part>();
        assert!(four <= 1024, "four parts take {four} bytes");
    }

    #[tokio::test]
    async fn an_answer_that_calls_a_function_ends_in_tool_calls_with_the_call_whole() {
        let sse = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"id\":\"c1\",\"name\":\"lookup\",\"args\":{\"q\":\"rust\"}},\"thoughtSignature\":\"sig\"}]},\"index\":0}]}\n\n\
data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\",\"index\":0}]}\n\n";
        let body = futures::stream::iter([Ok(Bytes::from(sse))]);
        let timeouts = crate::net::Timeouts::default();
        let mut stream =
            AnswerStream::new(Box::pin(body), "m", None, Instant::now(), timeouts.first_token, timeouts.idle);
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            events.push(event.unwrap());
        }
        let StreamEvent::ToolCall(call) = &events[0] else { panic!("{events:?}") };
        assert_eq!((call.id.as_deref(), call.name.as_str()), (Some("c1"), "lookup"));
        assert_eq!((call.arguments["q"].as_str(), call.signature.as_deref()), (Some("rust"), Some("sig")));
        assert_eq!(events.last(), Some(&StreamEvent::Finished(FinishReason::ToolCalls)));
    }
}
