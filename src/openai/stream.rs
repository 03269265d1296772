//! Turns an OpenAI SSE byte stream (`data: {chat.completion.chunk}` … `data: [DONE]`) into the
//! shared [`StreamEvent`]s (tool calls assembled from their index-keyed fragments), with the same first-token and idle watchdogs as Gemini's. The finish
//! is reported once the stream ends, so usage sent after it (`stream_options.include_usage`)
//! still arrives first. Dropping the stream closes the connection.

use std::collections::VecDeque;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

use super::wire::Chunk;
use crate::llm::EventStream;
use crate::llm::{ApiError, FinishReason, StopReason, StreamEvent, TimeoutPhase};
use crate::net::Timeouts;
use crate::net::sse::{SseDecoder, SseItem};

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// `finish_reason` in our vocabulary.
pub fn finish_reason(text: &str) -> FinishReason {
    match text {
        "stop" | "eos" | "end_turn" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Stopped(StopReason::MaxTokens),
        "content_filter" => FinishReason::Stopped(StopReason::Safety),
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        other => FinishReason::Stopped(StopReason::Other(crate::sanitize::one_line(other, 40).replace('_', " "))),
    }
}

/// Classifies the SSE items of a whole captured stream (tests, replays).
pub fn replay(bytes: &[u8]) -> Result<Vec<StreamEvent>, ApiError> {
    let mut reader = Reader::default();
    let mut decoder = SseDecoder::new();
    let mut items = Vec::new();
    decoder.feed(bytes, &mut items).map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
    decoder.finish(&mut items).map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
    for item in items {
        reader.item(item, &[])?;
    }
    reader.end()?;
    reader.events.into_iter().collect()
}

/// What the items so far add up to.
#[derive(Default)]
struct Reader {
    events: VecDeque<Result<StreamEvent, ApiError>>,
    /// Tool calls being streamed, by `index`: id, name and the arguments' text so far.
    calls: std::collections::BTreeMap<u32, PendingCall>,
    finish: Option<FinishReason>,
    done: bool,
}

#[derive(Default)]
struct PendingCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

impl Reader {
    /// Reads one item; `secrets` are redacted from any error text the server sends.
    fn item(&mut self, item: SseItem, secrets: &[String]) -> Result<(), ApiError> {
        let data = match item {
            SseItem::Data(data) if data.trim() == "[DONE]" => {
                self.done = true;
                return Ok(());
            }
            SseItem::Data(data) | SseItem::Json(data) => data,
        };
        // A mangled event is a damaged stream, retried as a cut one is.
        let chunk: Chunk = serde_json::from_str(&data)
            .map_err(|e| ApiError::Truncated { detail: format!("a stream event is not valid JSON: {e}") })?;
        if let Some(error) = chunk.error {
            let detail = crate::sanitize::redacted_line(&error.message, secrets, 200);
            return Err(ApiError::Truncated { detail: format!("the server reported an error mid-answer: {detail}") });
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty())
            && !self.events.iter().any(|e| matches!(e, Ok(StreamEvent::ModelVersion(_))))
        {
            self.events.push_back(Ok(StreamEvent::ModelVersion(model)));
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(thought) = choice.delta.reasoning_content.filter(|t| !t.is_empty()) {
                self.events.push_back(Ok(StreamEvent::Thought(thought)));
            }
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                self.events.push_back(Ok(StreamEvent::Text(text)));
            }
            for delta in choice.delta.tool_calls {
                let call = self.calls.entry(delta.index).or_default();
                if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
                    call.id = Some(id);
                }
                if let Some(function) = delta.function {
                    call.name.push_str(function.name.as_deref().unwrap_or_default());
                    call.arguments.push_str(function.arguments.as_deref().unwrap_or_default());
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish = Some(finish_reason(&reason));
            }
        }
        if let Some(usage) = chunk.usage {
            self.events.push_back(Ok(StreamEvent::Usage(usage.into())));
        }
        Ok(())
    }

    /// The body ended: the finish, or the truncation.
    fn end(&mut self) -> Result<(), ApiError> {
        // The calls are whole only now: each goes out once, in index order, before the finish.
        for (_, call) in std::mem::take(&mut self.calls) {
            let text = call.arguments.trim();
            let arguments = if text.is_empty() {
                serde_json::Value::Object(serde_json::Map::new())
            } else {
                serde_json::from_str(text).map_err(|e| ApiError::Protocol {
                    detail: format!("the arguments of a tool call are not JSON: {e}"),
                })?
            };
            let call = crate::llm::ToolCall { id: call.id, name: call.name, arguments, signature: None };
            self.events.push_back(Ok(StreamEvent::ToolCall(Box::new(call))));
        }
        match self.finish.take() {
            Some(finish) => self.events.push_back(Ok(StreamEvent::Finished(finish))),
            // Some servers end with `[DONE]` and no finish reason: the answer is whole.
            None if self.done => self.events.push_back(Ok(StreamEvent::Finished(FinishReason::Stop))),
            None => return Err(ApiError::Truncated { detail: "no finish reason was sent".to_owned() }),
        }
        Ok(())
    }
}

struct State {
    body: ByteStream,
    decoder: SseDecoder,
    reader: Reader,
    /// The provider's key and header values: never shown.
    secrets: Vec<String>,
    first_deadline: Instant,
    last_activity: Option<Instant>,
    timeouts: Timeouts,
    over: bool,
}

impl State {
    /// Reads until an event is ready or the stream is over.
    async fn next(&mut self) -> Option<Result<StreamEvent, ApiError>> {
        loop {
            if let Some(event) = self.reader.events.pop_front() {
                return Some(event);
            }
            if self.over {
                return None;
            }
            if let Err(e) = self.pull().await {
                self.over = true;
                self.reader.events.clear();
                return Some(Err(e));
            }
        }
    }

    async fn pull(&mut self) -> Result<(), ApiError> {
        let (deadline, phase, after) = match self.last_activity {
            Some(at) => (at + self.timeouts.idle, TimeoutPhase::Idle, self.timeouts.idle),
            None => (self.first_deadline, TimeoutPhase::FirstToken, self.timeouts.first_token),
        };
        let read = tokio::time::timeout_at(deadline, self.body.next())
            .await
            .map_err(|_| ApiError::Timeout { phase, after })?;
        let mut items = Vec::new();
        match read {
            Some(Ok(bytes)) => {
                self.decoder.feed(&bytes, &mut items).map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
                // Only a whole event resets the idle watchdog: a byte at a time cannot hold it off.
                if !items.is_empty() {
                    self.last_activity = Some(Instant::now());
                }
            }
            // After `[DONE]` (or a finish reason) the answer is whole; a late reset changes nothing.
            Some(Err(_)) if self.reader.done || self.reader.finish.is_some() => {
                self.over = true;
                return self.reader.end();
            }
            Some(Err(_)) => {
                return Err(ApiError::Truncated { detail: "the connection was cut mid-answer".to_owned() });
            }
            None => {
                self.over = true;
                self.decoder.finish(&mut items).map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
            }
        }
        for item in items {
            self.reader.item(item, &self.secrets)?;
        }
        if self.over {
            // Deliver what arrived before reporting a truncation.
            if let Err(e) = self.reader.end() {
                self.reader.events.push_back(Err(e));
            }
        }
        Ok(())
    }
}

/// The events of a streamed answer whose body is `body`.
pub(crate) fn answer_stream(
    body: ByteStream,
    first_deadline: Instant,
    timeouts: Timeouts,
    secrets: Vec<String>,
) -> EventStream {
    let state = State {
        body,
        decoder: SseDecoder::new(),
        reader: Reader::default(),
        secrets,
        first_deadline,
        last_activity: None,
        timeouts,
        over: false,
    };
    futures::stream::unfold(state, |mut s| async move { s.next().await.map(|e| (e, s)) }).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Usage as UsageMetadata;

    #[test]
    fn a_whole_stream_gives_text_then_usage_then_the_finish() {
        let sse = b"data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n\
data: [DONE]\n\n";
        let events = replay(sse).unwrap();
        assert_eq!(
            events,
            [
                StreamEvent::ModelVersion("m".into()),
                StreamEvent::Text("Hel".into()),
                StreamEvent::Text("lo".into()),
                StreamEvent::Usage(UsageMetadata {
                    prompt_token_count: 3,
                    candidates_token_count: 2,
                    total_token_count: 5,
                    ..UsageMetadata::default()
                }),
                StreamEvent::Finished(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn length_is_the_output_token_limit_and_a_missing_finish_is_a_truncation() {
        let sse = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
        assert_eq!(
            replay(sse).unwrap().last(),
            Some(&StreamEvent::Finished(FinishReason::Stopped(StopReason::MaxTokens)))
        );
        let cut = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n";
        assert!(matches!(replay(cut), Err(ApiError::Truncated { .. })));
        let done_only = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(replay(done_only).unwrap().last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
    }

    #[test]
    fn reasoning_text_is_a_thought_never_the_answer() {
        let sse = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"yes\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        let events = replay(sse).unwrap();
        assert_eq!(events[0], StreamEvent::Thought("hmm".into()));
        assert_eq!(events[1], StreamEvent::Text("yes".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_byte_at_a_time_does_not_hold_off_the_idle_watchdog() {
        let first = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n";
        let slow = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"bcdefghijklmnopqrstuvwxyz\"}}]}\n\n";
        let pieces: Vec<Bytes> =
            std::iter::once(Bytes::from(first)).chain(slow.bytes().map(|b| Bytes::copy_from_slice(&[b]))).collect();
        // One byte every 100 ms: never quiet for the 300 ms idle limit, but no event for seconds.
        let body = futures::stream::unfold(pieces.into_iter(), |mut rest| async move {
            let next = rest.next()?;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Some((Ok(next), rest))
        });
        let timeouts = Timeouts { idle: std::time::Duration::from_millis(300), ..Timeouts::default() };
        let started = Instant::now();
        let mut events = answer_stream(Box::pin(body), started + timeouts.first_token, timeouts, Vec::new());
        assert_eq!(events.next().await, Some(Ok(StreamEvent::Text("a".into()))));
        assert_eq!(
            events.next().await,
            Some(Err(ApiError::Timeout { phase: TimeoutPhase::Idle, after: std::time::Duration::from_millis(300) }))
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    }
}
