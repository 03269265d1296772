//! One answer as a pure state machine: stream events, failures, cancellation and clock ticks go
//! in; effects (show text, save the message, store in the cache, finish) come out. An answer
//! that offers tools ([`TurnState::with_tools`]) goes in rounds: the model's calls of a round
//! come out to be run together, their results go in, and the next round is asked for (without
//! tools at the step limit). No I/O here, so every path is a plain unit test; the session
//! performs the effects.

use std::sync::Arc;
use std::time::Duration;

use super::Notice;
use super::session::Outcome;
use crate::grounding::Grounding;
use crate::llm::{ApiError, FinishReason, StopReason, StreamEvent, Usage as UsageMetadata};
use crate::money::{AnswerCost, PriceBook, Usd};
use crate::store::{CachedAnswer, MessageStatus, MessageUpdate};

/// How often a growing answer is written to the database: a `kill -9` loses at most this much.
/// The interval runs from the first change not yet saved, so an answer that ends within it is
/// written once, by its final save.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(150);

#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    Stream(StreamEvent),
    /// The request or stream failed.
    Failed(ApiError),
    /// The user stopped the answer.
    Cancelled,
    /// The answer starts again (a retry after a cut stream): the text so far is void.
    Restarted,
    /// Something the user should hear about that is not the answer (a retry, a fallback).
    Notice(Notice),
    /// Time passed (drives periodic saves when text arrives slowly).
    Tick,
    /// The answer was found in the cache: the whole of it, at once.
    CacheHit(CachedAnswer),
    /// The model asks for a tool to be run (the answer goes on once its result is back).
    ToolCall(ToolCall),
    /// What a tool call gave, for the call with its id.
    ToolResult(ToolResult),
}

/// A tool call the model asked for. Its id is the model's (or given by the provider when the
/// model gives none) and unique within the turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (untrusted).
    pub arguments: serde_json::Value,
    /// The provider's opaque signature of the call, sent back with it exactly as it came.
    pub signature: Option<String>,
    /// The id exactly as the provider gave it (`None`: it gave none, and none goes back).
    pub wire_id: Option<String>,
}

impl ToolCall {
    /// The call as it goes back to the provider.
    pub fn to_wire(&self) -> crate::llm::ToolCall {
        crate::llm::ToolCall {
            id: self.wire_id.clone(),
            name: self.name.clone(),
            arguments: self.arguments.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// What running a tool call gave: its output, or why it failed (told to the model).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call it answers.
    pub id: String,
    pub output: Result<serde_json::Value, String>,
    /// Images or other media it gave, sent to the model after the results.
    pub media: Vec<crate::tools::Media>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// New answer text to display (raw; the front end sanitizes).
    Show(String),
    /// A thought summary to display apart from the answer (raw; the front end sanitizes).
    ShowThought(String),
    /// Clear the answer shown so far: it starts again.
    Restart,
    /// Tell the user, apart from the answer.
    Notice(Notice),
    /// Write this state of the answer to the database.
    Save(MessageUpdate),
    /// The answer is whole and may be cached.
    Cache,
    /// Run this tool call; its result comes back as [`TurnEvent::ToolResult`] (an answer
    /// without [`TurnState::with_tools`]).
    RunTool(ToolCall),
    /// The model ended round `round` asking for these calls: save them, then run them; each
    /// result comes back as [`TurnEvent::ToolResult`].
    RunTools { round: u32, calls: Vec<ToolCall> },
    /// Every result of the round is in: ask the model again (`tools: false`, at the step
    /// limit: without tools, so it answers).
    NextRound { tools: bool },
    /// A step of the rounds to show.
    Step(crate::tools::ToolStep),
    /// The turn is over.
    Done(Outcome),
}

/// How a turn's answer is priced: the table, the model asked for, and whether at Batch API rates.
#[derive(Debug, Clone)]
pub struct Pricing {
    pub book: Arc<PriceBook>,
    pub model: String,
    pub batch: bool,
}

#[derive(Debug)]
pub struct TurnState {
    /// The answer's state, decided here only: front ends show it, the database stores it.
    status: MessageStatus,
    cached: bool,
    text: String,
    /// Thought summaries received, kept apart from the answer (never sent back, never cached).
    thoughts: String,
    /// The answer's sources, kept apart from its text (markers are added at display time).
    grounding: Option<Grounding>,
    usage: Option<UsageMetadata>,
    /// The model that answered, as the server names it (`modelVersion`).
    model_version: Option<String>,
    /// The model the last attempt asked (canonical name), saved as the answer's model.
    attempted: Option<String>,
    pricing: Option<Pricing>,
    /// A cache hit: what the answer cost when it was first asked.
    saved: Option<Usd>,
    first_token: Option<Duration>,
    /// The tool calls asked for, in order, each with its result once back.
    tools: Vec<(ToolCall, Option<ToolResult>)>,
    /// `Some(max)`: tools are offered and run in at most `max` rounds.
    max_rounds: Option<u32>,
    /// Rounds whose calls were run.
    round: u32,
    /// Where the current round's text and calls begin.
    round_text: usize,
    round_call: usize,
    /// Each past round: where its text ended, and where its calls end in `tools`.
    rounds: Vec<(usize, usize)>,
    /// The rounds ask no more for tools (the step limit was reached).
    tools_withdrawn: bool,
    /// What the rounds before the current one used, and cost.
    earlier_usage: Option<UsageMetadata>,
    earlier_cost: Option<AnswerCost>,
    /// When the oldest change not yet saved came (meaningful while `unsaved`).
    last_save: Duration,
    unsaved: bool,
    done: bool,
}

impl Default for TurnState {
    fn default() -> Self {
        TurnState {
            status: MessageStatus::Streaming,
            cached: false,
            text: String::new(),
            thoughts: String::new(),
            grounding: None,
            usage: None,
            model_version: None,
            attempted: None,
            pricing: None,
            saved: None,
            first_token: None,
            tools: Vec::new(),
            max_rounds: None,
            round: 0,
            round_text: 0,
            round_call: 0,
            rounds: Vec::new(),
            tools_withdrawn: false,
            earlier_usage: None,
            earlier_cost: None,
            last_save: Duration::ZERO,
            unsaved: false,
            done: false,
        }
    }
}

impl TurnState {
    pub fn new() -> Self {
        TurnState::default()
    }

    /// The answer offers tools, run in at most `max_rounds` model-tool rounds.
    pub fn with_tools(mut self, max_rounds: u32) -> Self {
        self.max_rounds = Some(max_rounds.max(1));
        self
    }

    /// Model-tool rounds run so far.
    pub fn rounds(&self) -> u32 {
        self.round
    }

    /// The rounds so far as the model saw them, to send after the prompt: for each, the model's
    /// text and calls (ids and signatures as they came), then the results.
    pub fn exchange(&self) -> Vec<crate::llm::Message> {
        use crate::llm::{Author, Message, Part};
        let mut out = Vec::new();
        let (mut text_from, mut call_from) = (0, 0);
        for &(text_end, call_end) in &self.rounds {
            let mut said = Vec::new();
            if text_end > text_from {
                said.push(Part::Text(self.text[text_from..text_end].to_owned()));
            }
            let calls = &self.tools[call_from..call_end];
            said.extend(calls.iter().map(|(call, _)| Part::ToolCall(call.to_wire())));
            out.push(Message::new(Author::Assistant, said));
            let results = calls.iter().map(|(call, result)| {
                Part::ToolResult(crate::llm::ToolResult {
                    id: call.wire_id.clone(),
                    name: call.name.clone(),
                    response: match result.as_ref().map(|r| &r.output) {
                        Some(Ok(value)) => value.clone(),
                        Some(Err(error)) => serde_json::json!({ "error": error }),
                        None => serde_json::json!({ "error": "the call did not return" }),
                    },
                })
            });
            let mut results: Vec<Part> = results.collect();
            let media = calls.iter().filter_map(|(_, r)| r.as_ref()).flat_map(|r| &r.media);
            results.extend(media.map(|m| Part::Media { mime: m.mime.clone(), bytes: m.bytes.clone() }));
            out.push(Message::new(Author::Tool, results));
            (text_from, call_from) = (text_end, call_end);
        }
        out
    }

    /// Prices the answer (without this, its cost is unknown).
    pub fn with_pricing(mut self, pricing: Pricing) -> Self {
        self.pricing = Some(pricing);
        self
    }

    /// An attempt starts on `model` (a fallback chain may have moved the turn to another
    /// provider's model): the answer is priced as that model's, and what an earlier attempt's
    /// server said answered no longer counts.
    pub fn attempt_on(&mut self, model: &str) {
        if let Some(pricing) = &mut self.pricing {
            pricing.model = model.to_owned();
        }
        self.model_version = None;
        self.attempted = Some(model.to_owned());
    }

    /// What the answer cost so far: nothing for a cache hit (which says what it saved), unknown
    /// without usage or a price. Priced by the model that answered (see `PriceBook::for_answer`).
    pub fn cost(&self) -> AnswerCost {
        if self.cached {
            return AnswerCost { cost: Some(Usd::ZERO), saved: self.saved, priced_as: None };
        }
        let now = self.priced(self.usage);
        // A turn of several rounds costs what each cost (each priced on its own, as billed).
        match &self.earlier_cost {
            None => now,
            Some(earlier) => AnswerCost {
                cost: match (earlier.cost, now.cost) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    (a, None) if self.usage.is_none() => a,
                    _ => None,
                },
                saved: None,
                priced_as: now.priced_as.or_else(|| earlier.priced_as.clone()),
            },
        }
    }

    /// What `usage` costs at the answering model's price.
    fn priced(&self, usage: Option<UsageMetadata>) -> AnswerCost {
        let (Some(usage), Some(pricing)) = (usage, &self.pricing) else {
            return AnswerCost::default();
        };
        match pricing.book.for_answer(&pricing.model, self.model_version.as_deref()) {
            Some(priced) => AnswerCost {
                cost: crate::money::cost(&usage.billed(), &priced.price, pricing.batch),
                saved: None,
                priced_as: Some(priced.key),
            },
            None => AnswerCost::default(),
        }
    }

    /// `Streaming` until the turn is over, then how it ended.
    pub fn status(&self) -> MessageStatus {
        self.status
    }

    /// The answer came from the cache.
    pub fn cached(&self) -> bool {
        self.cached
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The thought summaries received (empty unless they were asked for).
    pub fn thoughts(&self) -> &str {
        &self.thoughts
    }

    /// The sources received (Google Search, URL context), if any.
    pub fn grounding(&self) -> Option<&Grounding> {
        self.grounding.as_ref()
    }

    /// What every round used, summed.
    pub fn usage(&self) -> Option<UsageMetadata> {
        match (self.earlier_usage, self.usage) {
            (Some(a), Some(b)) => Some(add_usage(a, b)),
            (a, b) => a.or(b),
        }
    }

    pub fn first_token(&self) -> Option<Duration> {
        self.first_token
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The tool calls asked for, in order, each with its result once back.
    pub fn tool_calls(&self) -> &[(ToolCall, Option<ToolResult>)] {
        &self.tools
    }

    /// Tool calls still waiting for their result.
    pub fn pending_tools(&self) -> usize {
        self.tools.iter().filter(|(_, result)| result.is_none()).count()
    }

    /// Handles one event at `now` (time since the turn started).
    pub fn handle(&mut self, event: TurnEvent, now: Duration) -> Vec<Effect> {
        if self.done {
            return Vec::new();
        }
        match event {
            TurnEvent::Stream(StreamEvent::Text(text)) => {
                self.first_token.get_or_insert(now);
                self.text.push_str(&text);
                self.changed(now);
                let mut effects = vec![Effect::Show(text)];
                effects.extend(self.periodic_save(now));
                effects
            }
            TurnEvent::Stream(StreamEvent::Usage(usage)) => {
                self.usage = Some(usage);
                Vec::new()
            }
            // A call streamed by the model is a tool call of the turn; one without an id (Gemini
            // before 3 gives none) gets the next free one.
            TurnEvent::Stream(StreamEvent::ToolCall(call)) => {
                let id = call.id.clone().unwrap_or_else(|| format!("call-{}", self.tools.len() + 1));
                let call = ToolCall {
                    id,
                    name: call.name,
                    arguments: call.arguments,
                    signature: call.signature,
                    wire_id: call.id,
                };
                self.handle(TurnEvent::ToolCall(call), now)
            }
            // The model stopped to have tools run: its answer so far is whole, but it is not the
            // answer to the question alone, so it is never answered again from the cache.
            TurnEvent::Stream(StreamEvent::Finished(FinishReason::ToolCalls))
                if self.max_rounds.is_some() && self.tools.len() > self.round_call =>
            {
                self.end_round(now)
            }
            TurnEvent::Stream(StreamEvent::Finished(FinishReason::ToolCalls)) => {
                self.status = MessageStatus::Complete;
                self.done = true;
                vec![Effect::Save(self.update(MessageStatus::Complete, None, now)), Effect::Done(Outcome::Complete)]
            }
            TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)) => {
                self.status = MessageStatus::Complete;
                let mut effects = vec![Effect::Save(self.update(MessageStatus::Complete, None, now))];
                // A grounded answer is what the web said at that moment, a tool turn what its
                // tools said: never answered again.
                if !self.text.is_empty() && self.grounding.is_none() && self.max_rounds.is_none() {
                    effects.push(Effect::Cache);
                }
                effects.push(Effect::Done(Outcome::Complete));
                self.done = true;
                effects
            }
            TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stopped(reason))) => {
                let status = match &reason {
                    StopReason::MaxTokens => MessageStatus::Interrupted,
                    // A call the model wrote wrong (Gemini's MALFORMED_FUNCTION_CALL) is no block.
                    StopReason::Other(why) if why == "malformed function call" => {
                        if self.text.is_empty() && self.tools.is_empty() {
                            MessageStatus::Error
                        } else {
                            MessageStatus::Interrupted
                        }
                    }
                    _ => MessageStatus::Blocked,
                };
                // Told as the answering model's provider says it (canonical names are
                // `provider:model`, a Gemini model's bare).
                let provider = self.attempted.as_deref().map_or(crate::provider::name::GEMINI.to_owned(), |m| {
                    crate::provider::name::ModelRef::from_canonical(m, &|p| !p.is_empty()).provider().to_owned()
                });
                self.finish(status, ApiError::AnswerStopped { reason }.from_provider(&provider), now)
            }
            TurnEvent::Stream(StreamEvent::Thought(text)) => {
                if !self.thoughts.is_empty() && !self.thoughts.ends_with('\n') {
                    self.thoughts.push('\n');
                }
                self.thoughts.push_str(&text);
                vec![Effect::ShowThought(text)]
            }
            TurnEvent::Stream(StreamEvent::ModelVersion(version)) => {
                self.model_version = Some(version);
                Vec::new()
            }
            TurnEvent::Stream(StreamEvent::Grounding(grounding)) => {
                self.grounding.get_or_insert_with(Grounding::default).merge(grounding);
                Vec::new()
            }
            TurnEvent::Failed(error) => {
                let status = match error.unwrapped() {
                    ApiError::PromptBlocked { .. } => MessageStatus::Blocked,
                    _ if !self.text.is_empty() || !self.tools.is_empty() => MessageStatus::Interrupted,
                    _ => MessageStatus::Error,
                };
                self.finish(status, error, now)
            }
            TurnEvent::CacheHit(answer) => {
                self.first_token = Some(now);
                self.text = answer.text;
                self.cached = true;
                self.saved = answer.cost;
                self.status = MessageStatus::Complete;
                self.done = true;
                let mut update = self.update(MessageStatus::Complete, None, now);
                update.cached = Some(true);
                update.prompt_tokens = answer.prompt_tokens;
                update.output_tokens = answer.output_tokens;
                vec![Effect::Show(self.text.clone()), Effect::Save(update), Effect::Done(Outcome::Complete)]
            }
            TurnEvent::Cancelled => {
                self.status = MessageStatus::Interrupted;
                let update = self.update(
                    MessageStatus::Interrupted,
                    Some(crate::error_data::StoredError::new(
                        crate::error_data::ErrorKind::Cancelled,
                        Default::default(),
                    )),
                    now,
                );
                self.done = true;
                vec![Effect::Save(update), Effect::Done(Outcome::Cancelled)]
            }
            TurnEvent::Tick => self.periodic_save(now),
            TurnEvent::Restarted => {
                // Only the round that was cut starts again: earlier rounds were run and stay.
                self.text.truncate(self.round_text);
                self.thoughts.clear();
                self.grounding = None;
                self.tools.truncate(self.round_call);
                self.changed(now);
                let mut effects = vec![Effect::Restart];
                // What the front end clears of the earlier rounds is shown again.
                if !self.text.is_empty() {
                    effects.push(Effect::Show(self.text.clone()));
                }
                effects.extend(self.periodic_save(now));
                effects
            }
            TurnEvent::Notice(text) => vec![Effect::Notice(text)],
            TurnEvent::ToolCall(call) => {
                self.first_token.get_or_insert(now);
                // Ids are never reused: a second call with one is the stream gone wrong.
                if self.tools.iter().any(|(earlier, _)| earlier.id == call.id) {
                    let detail = format!("the model asked twice for tool call {}", call.id);
                    let status = if self.text.is_empty() { MessageStatus::Error } else { MessageStatus::Interrupted };
                    return self.finish(status, ApiError::Protocol { detail }, now);
                }
                self.tools.push((call.clone(), None));
                // With rounds, the calls are run together once the model's round ends.
                if self.max_rounds.is_some() { Vec::new() } else { vec![Effect::RunTool(call)] }
            }
            TurnEvent::ToolResult(result) => {
                // A result counts only for the call it was for, and only once.
                if let Some((_, slot)) =
                    self.tools.iter_mut().find(|(call, slot)| call.id == result.id && slot.is_none())
                {
                    *slot = Some(result);
                } else {
                    return Vec::new();
                }
                self.round_results_in()
            }
        }
    }

    /// The model ended a round asking for calls: they are run together (saved first).
    fn end_round(&mut self, now: Duration) -> Vec<Effect> {
        self.round += 1;
        self.rounds.push((self.text.len(), self.tools.len()));
        let calls: Vec<ToolCall> = self.tools[self.round_call..].iter().map(|(call, _)| call.clone()).collect();
        (self.round_text, self.round_call) = (self.text.len(), self.tools.len());
        // Each round's usage counts: the next round's comes on top.
        let cost = self.cost();
        self.earlier_cost = Some(cost);
        if let Some(usage) = self.usage.take() {
            self.earlier_usage = Some(self.earlier_usage.map_or(usage, |earlier| add_usage(earlier, usage)));
        }
        self.last_save = now;
        self.unsaved = false;
        vec![
            Effect::Save(MessageUpdate { text: self.text.clone(), ..MessageUpdate::default() }),
            Effect::RunTools { round: self.round, calls },
        ]
    }

    /// Once every call of the last round has its result: the next round, with tools while
    /// rounds are left.
    fn round_results_in(&mut self) -> Vec<Effect> {
        let Some(max) = self.max_rounds else { return Vec::new() };
        let Some(&(_, end)) = self.rounds.last() else { return Vec::new() };
        let start = self.rounds.len().checked_sub(2).map_or(0, |i| self.rounds[i].1);
        if self.tools[start..end].iter().any(|(_, result)| result.is_none()) || self.round_call != end {
            return Vec::new();
        }
        if self.round >= max {
            self.tools_withdrawn = true;
            vec![Effect::Step(crate::tools::ToolStep::StepLimit { max }), Effect::NextRound { tools: false }]
        } else {
            vec![
                Effect::Step(crate::tools::ToolStep::Round { round: self.round, max }),
                Effect::NextRound { tools: true },
            ]
        }
    }

    fn finish(&mut self, status: MessageStatus, error: ApiError, now: Duration) -> Vec<Effect> {
        self.status = status;
        let update = self.update(status, Some(error.to_stored()), now);
        self.done = true;
        vec![Effect::Save(update), Effect::Done(Outcome::Failed(error))]
    }

    /// Offsets of each round's end in the text and its calls' end (for saving the calls).
    pub fn round_text_end(&self) -> usize {
        self.round_text
    }

    /// Something to save came at `now`: the save interval starts at the first such change.
    fn changed(&mut self, now: Duration) {
        if !self.unsaved {
            self.unsaved = true;
            self.last_save = now;
        }
    }

    fn periodic_save(&mut self, now: Duration) -> Vec<Effect> {
        if self.unsaved && now.saturating_sub(self.last_save) >= FLUSH_INTERVAL {
            self.last_save = now;
            self.unsaved = false;
            vec![Effect::Save(MessageUpdate { text: self.text.clone(), ..MessageUpdate::default() })]
        } else {
            Vec::new()
        }
    }

    fn update(
        &mut self,
        status: MessageStatus,
        error: Option<crate::error_data::StoredError>,
        now: Duration,
    ) -> MessageUpdate {
        self.unsaved = false;
        self.last_save = now;
        let summed = self.usage();
        let usage = summed.unwrap_or_default();
        let tokens = |n: u32| summed.is_some().then_some(i64::from(n));
        MessageUpdate {
            text: self.text.clone(),
            status: Some(status),
            error,
            prompt_tokens: tokens(usage.prompt_token_count),
            output_tokens: tokens(usage.candidates_token_count),
            thought_tokens: tokens(usage.thoughts_token_count),
            thoughts: (!self.thoughts.is_empty()).then(|| self.thoughts.clone()),
            grounding: self.grounding.as_ref().and_then(Grounding::to_stored),
            first_token_ms: self.first_token.map(|d| d.as_millis() as i64),
            duration_ms: Some(now.as_millis() as i64),
            cached: None,
            cost: Some(self.cost()),
            model: self.attempted.clone(),
        }
    }
}

fn add_usage(a: UsageMetadata, b: UsageMetadata) -> UsageMetadata {
    UsageMetadata {
        prompt_token_count: a.prompt_token_count + b.prompt_token_count,
        candidates_token_count: a.candidates_token_count + b.candidates_token_count,
        thoughts_token_count: a.thoughts_token_count + b.thoughts_token_count,
        cached_content_token_count: a.cached_content_token_count + b.cached_content_token_count,
        tool_use_prompt_token_count: a.tool_use_prompt_token_count + b.tool_use_prompt_token_count,
        total_token_count: a.total_token_count + b.total_token_count,
        prompt_audio_token_count: a.prompt_audio_token_count + b.prompt_audio_token_count,
        cached_audio_token_count: a.cached_audio_token_count + b.cached_audio_token_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn text(t: &str) -> TurnEvent {
        TurnEvent::Stream(StreamEvent::Text(t.into()))
    }

    fn saves(effects: &[Effect]) -> Vec<&MessageUpdate> {
        effects.iter().filter_map(|e| if let Effect::Save(u) = e { Some(u) } else { None }).collect()
    }

    #[test]
    fn text_is_shown_at_once_and_saved_one_interval_after_its_first_unsaved_change() {
        let mut t = TurnState::new();
        let first = t.handle(text("Hel"), ms(200));
        assert_eq!(first[0], Effect::Show("Hel".into()));
        assert!(saves(&first).is_empty(), "the interval starts at the first text, not the turn's start");
        assert!(saves(&t.handle(text("lo"), ms(250))).is_empty());
        assert!(saves(&t.handle(TurnEvent::Tick, ms(340))).is_empty(), "less than an interval after the first text");
        let later = t.handle(TurnEvent::Tick, ms(350));
        assert_eq!(saves(&later)[0].text, "Hello");
        assert_eq!(saves(&later)[0].status, None, "a periodic save keeps the row streaming");
        assert!(t.handle(TurnEvent::Tick, ms(900)).is_empty(), "nothing new, nothing saved");
        assert!(saves(&t.handle(text("!"), ms(1000))).is_empty(), "a new change starts a new interval");
        assert_eq!(saves(&t.handle(TurnEvent::Tick, ms(1150)))[0].text, "Hello!");
    }

    /// A short answer (ended within the interval of its first text) is written once, complete:
    /// no progress save that the final save overwrites (it was, whenever its first text came
    /// later than an interval after the turn's start, as behind a queue).
    #[test]
    fn an_answer_that_ends_within_the_interval_is_saved_once() {
        let mut t = TurnState::new();
        let mut all = t.handle(text("Short "), ms(400));
        all.extend(t.handle(text("answer."), ms(450)));
        all.extend(t.handle(TurnEvent::Tick, ms(500)));
        all.extend(t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(540)));
        let saved = saves(&all);
        assert_eq!(saved.len(), 1, "{saved:?}");
        assert_eq!((saved[0].text.as_str(), saved[0].status), ("Short answer.", Some(MessageStatus::Complete)));
    }

    #[test]
    fn a_finished_answer_is_saved_complete_then_cached() {
        let mut t = TurnState::new();
        t.handle(text("Hi"), ms(100));
        t.handle(
            TurnEvent::Stream(StreamEvent::Usage(UsageMetadata {
                prompt_token_count: 3,
                candidates_token_count: 1,
                ..Default::default()
            })),
            ms(100),
        );
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(120));
        let save = saves(&effects)[0];
        assert_eq!((save.text.as_str(), save.status), ("Hi", Some(MessageStatus::Complete)));
        assert_eq!((save.prompt_tokens, save.output_tokens, save.first_token_ms), (Some(3), Some(1), Some(100)));
        assert!(effects.contains(&Effect::Cache));
        assert_eq!(effects.last(), Some(&Effect::Done(Outcome::Complete)));
        assert!(t.handle(text("late"), ms(200)).is_empty(), "nothing after the end");
    }

    #[test]
    fn a_dropped_stream_keeps_its_text_marked_interrupted_and_is_not_cached() {
        let mut t = TurnState::new();
        t.handle(text("partial"), ms(10));
        let error = ApiError::Truncated { detail: "the connection was cut mid-answer".into() };
        let effects = t.handle(TurnEvent::Failed(error.clone()), ms(20));
        let save = saves(&effects)[0];
        assert_eq!((save.text.as_str(), save.status), ("partial", Some(MessageStatus::Interrupted)));
        assert_eq!(save.error, Some(error.to_stored()), "the error as data, not its sentence");
        assert!(!effects.contains(&Effect::Cache));
        assert_eq!(effects.last(), Some(&Effect::Done(Outcome::Failed(error))));
    }

    #[test]
    fn a_failure_before_any_text_is_an_error_row() {
        let mut t = TurnState::new();
        let effects =
            t.handle(TurnEvent::Failed(ApiError::Server { status: 503, overloaded: true, retry_after: None }), ms(5));
        assert_eq!(saves(&effects)[0].status, Some(MessageStatus::Error));
    }

    #[test]
    fn another_providers_stop_names_it_not_gemini() {
        let stop =
            || TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stopped(StopReason::Other("tool call".into()))));
        let failed = |effects: Vec<Effect>| {
            effects
                .into_iter()
                .find_map(|e| if let Effect::Done(Outcome::Failed(e)) = e { Some(e.to_string()) } else { None })
                .expect("a failed outcome")
        };
        let mut t = TurnState::new();
        t.attempt_on("local:qwen3:8b");
        t.handle(text("some"), ms(5));
        let told = failed(t.handle(stop(), ms(6)));
        assert!(told.starts_with("Provider local stopped the answer early (tool call)"), "{told}");
        let mut t = TurnState::new();
        t.attempt_on("gemini-2.5-flash");
        assert!(failed(t.handle(stop(), ms(6))).starts_with("Gemini stopped the answer early"));
    }

    #[test]
    fn blocks_and_safety_stops_are_blocked_and_never_cached() {
        let mut t = TurnState::new();
        let effects = t.handle(TurnEvent::Failed(ApiError::PromptBlocked { reason: "safety".into() }), ms(5));
        assert_eq!(saves(&effects)[0].status, Some(MessageStatus::Blocked));
        let mut t = TurnState::new();
        t.handle(text("some"), ms(5));
        let effects =
            t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stopped(StopReason::Safety))), ms(6));
        assert_eq!(saves(&effects)[0].status, Some(MessageStatus::Blocked));
        assert!(!effects.contains(&Effect::Cache));
        let mut t = TurnState::new();
        t.handle(text("cut at the limit"), ms(5));
        let effects =
            t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stopped(StopReason::MaxTokens))), ms(6));
        assert_eq!(saves(&effects)[0].status, Some(MessageStatus::Interrupted));
        assert!(!effects.contains(&Effect::Cache));
    }

    #[test]
    fn a_restart_replaces_the_partial_text_instead_of_appending() {
        let mut t = TurnState::new();
        t.handle(text("The first try was cu"), ms(10));
        let effects = t.handle(TurnEvent::Restarted, ms(500));
        assert_eq!(effects[0], Effect::Restart);
        assert_eq!(saves(&effects)[0].text, "", "the void text leaves the database too");
        t.handle(text("The answer."), ms(900));
        let done = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(950));
        assert_eq!(saves(&done)[0].text, "The answer.");
        assert_eq!(t.text(), "The answer.");
    }

    #[test]
    fn cancelling_keeps_the_partial_answer() {
        let mut t = TurnState::new();
        t.handle(text("half an ans"), ms(5));
        let effects = t.handle(TurnEvent::Cancelled, ms(9));
        assert_eq!(saves(&effects)[0].text, "half an ans");
        assert_eq!(saves(&effects)[0].status, Some(MessageStatus::Interrupted));
        assert_eq!(effects.last(), Some(&Effect::Done(Outcome::Cancelled)));
    }

    #[test]
    fn thoughts_are_shown_and_saved_apart_from_the_answer_and_dropped_on_a_restart() {
        let thought = |t: &str| TurnEvent::Stream(StreamEvent::Thought(t.into()));
        let mut t = TurnState::new();
        assert_eq!(t.handle(thought("Lost thought"), ms(5)), vec![Effect::ShowThought("Lost thought".into())]);
        t.handle(TurnEvent::Restarted, ms(6));
        assert_eq!(t.thoughts(), "", "a restart voids the thoughts too");
        t.handle(thought("**Planning**\n\nFirst idea."), ms(10));
        t.handle(thought("Second idea."), ms(20));
        assert_eq!(t.first_token(), None, "thoughts are not the answer's first token");
        t.handle(text("Answer."), ms(30));
        let usage = UsageMetadata {
            prompt_token_count: 2,
            candidates_token_count: 1,
            thoughts_token_count: 40,
            ..Default::default()
        };
        t.handle(TurnEvent::Stream(StreamEvent::Usage(usage)), ms(30));
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(40));
        let save = saves(&effects)[0];
        assert_eq!(save.text, "Answer.", "no thought in the answer");
        assert_eq!(save.thoughts.as_deref(), Some("**Planning**\n\nFirst idea.\nSecond idea."));
        assert_eq!(save.thought_tokens, Some(40));
        assert!(effects.contains(&Effect::Cache));
    }

    #[test]
    fn sources_are_saved_beside_the_text_and_a_grounded_answer_is_never_cached() {
        use crate::grounding::{Citation, Source};
        let mut t = TurnState::new();
        t.handle(text("Node 26 is current."), ms(5));
        let g = Grounding {
            sources: vec![Source { title: "nodejs.org".into(), uri: "https://nodejs.org".into() }],
            citations: vec![Citation { start: 0, end: 18, text: String::new(), sources: vec![0] }],
            ..Grounding::default()
        };
        assert!(t.handle(TurnEvent::Stream(StreamEvent::Grounding(g.clone())), ms(6)).is_empty());
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(7));
        let save = saves(&effects)[0];
        assert_eq!(save.text, "Node 26 is current.", "no marker in the stored text");
        assert_eq!(Grounding::from_stored(save.grounding.as_deref()), Some(g.clone()));
        assert!(!effects.contains(&Effect::Cache));
        assert_eq!(t.grounding(), Some(&g));
        let mut t = TurnState::new();
        t.handle(TurnEvent::Stream(StreamEvent::Grounding(g)), ms(1));
        t.handle(TurnEvent::Restarted, ms(2));
        assert_eq!(t.grounding(), None, "a restart voids the sources too");
    }

    fn priced(model: &str) -> TurnState {
        TurnState::new().with_pricing(Pricing {
            book: Arc::new(PriceBook::builtin()),
            model: model.into(),
            batch: false,
        })
    }

    fn usage(prompt: u32, output: u32) -> TurnEvent {
        TurnEvent::Stream(StreamEvent::Usage(UsageMetadata {
            prompt_token_count: prompt,
            candidates_token_count: output,
            ..Default::default()
        }))
    }

    #[test]
    fn an_alias_answer_is_priced_by_the_model_that_answered_and_saved_with_its_cost() {
        let mut t = priced("gemini-flash-latest");
        t.handle(TurnEvent::Stream(StreamEvent::ModelVersion("gemini-2.5-flash".into())), ms(1));
        t.handle(text("Hi"), ms(2));
        t.handle(usage(1_000, 500), ms(2));
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(3));
        // 1,000 × $0.30/M + 500 × $2.50/M = $0.00155.
        let cost = saves(&effects)[0].cost.clone().unwrap();
        assert_eq!(cost.cost, Some(Usd::from_nanos(1_550_000)));
        assert_eq!(cost.priced_as.as_deref(), Some("gemini:gemini-2.5-flash"));
    }

    #[test]
    fn an_unknown_model_or_a_missing_usage_leaves_the_cost_unknown() {
        let mut t = priced("gemini-flash-latest");
        t.handle(TurnEvent::Stream(StreamEvent::ModelVersion("gemini-99-flash".into())), ms(1));
        t.handle(usage(10, 5), ms(2));
        assert_eq!(t.cost(), AnswerCost::default());
        let mut t = priced("gemini-2.5-pro");
        let effects = t.handle(TurnEvent::Failed(ApiError::Network { detail: "down".into() }), ms(2));
        assert_eq!(saves(&effects)[0].cost.clone().unwrap().cost, None);
    }

    #[test]
    fn a_cache_hit_costs_nothing_and_says_what_it_saved() {
        let mut t = priced("gemini-2.5-pro");
        let answer = CachedAnswer {
            model: "gemini-2.5-pro".into(),
            text: "Cached.".into(),
            prompt_tokens: Some(10),
            output_tokens: Some(2),
            cost: Some(Usd::from_nanos(32_500)),
            created_at: 0,
        };
        let effects = t.handle(TurnEvent::CacheHit(answer), ms(1));
        let cost = saves(&effects)[0].cost.clone().unwrap();
        assert_eq!((cost.cost, cost.saved), (Some(Usd::ZERO), Some(Usd::from_nanos(32_500))));
    }

    #[test]
    fn a_tool_call_is_asked_to_run_and_its_result_is_kept_only_for_its_own_id() {
        let mut t = TurnState::new();
        let call = ToolCall {
            id: "c1".into(),
            name: "lookup".into(),
            arguments: serde_json::json!({"q": "x"}),
            signature: None,
            wire_id: Some("c1".into()),
        };
        assert_eq!(t.handle(TurnEvent::ToolCall(call.clone()), ms(5)), vec![Effect::RunTool(call.clone())]);
        assert_eq!(t.pending_tools(), 1);
        assert_eq!(t.first_token(), Some(ms(5)), "a tool call is the answer starting");
        // A result for another id is not this call's.
        let stray = ToolResult { id: "c9".into(), output: Ok(serde_json::json!(1)), media: Vec::new() };
        assert!(t.handle(TurnEvent::ToolResult(stray), ms(6)).is_empty());
        assert_eq!(t.pending_tools(), 1);
        let result = ToolResult { id: "c1".into(), output: Err("no such entry".into()), media: Vec::new() };
        assert!(t.handle(TurnEvent::ToolResult(result.clone()), ms(7)).is_empty());
        // A second result for the same call does not replace the first.
        let again = ToolResult { id: "c1".into(), output: Ok(serde_json::json!(2)), media: Vec::new() };
        t.handle(TurnEvent::ToolResult(again), ms(8));
        assert_eq!(t.tool_calls(), &[(call, Some(result))]);
        assert_eq!(t.pending_tools(), 0);
        assert!(!t.is_done(), "the answer goes on after its tools");
        t.handle(TurnEvent::Stream(StreamEvent::Text("done".into())), ms(9));
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(10));
        assert_eq!(effects.last(), Some(&Effect::Done(Outcome::Complete)));
    }

    #[test]
    fn a_tool_call_id_used_twice_fails_the_turn() {
        let mut t = TurnState::new();
        let call = ToolCall {
            id: "c1".into(),
            name: "lookup".into(),
            arguments: serde_json::Value::Null,
            signature: None,
            wire_id: None,
        };
        t.handle(TurnEvent::ToolCall(call.clone()), ms(1));
        let effects = t.handle(TurnEvent::ToolCall(call), ms(2));
        assert!(
            matches!(effects.last(), Some(Effect::Done(Outcome::Failed(ApiError::Protocol { .. })))),
            "{effects:?}"
        );
        assert_eq!(t.status(), MessageStatus::Error);
        assert_eq!(t.tool_calls().len(), 1);
    }

    fn streamed(id: Option<&str>, name: &str) -> TurnEvent {
        TurnEvent::Stream(StreamEvent::ToolCall(Box::new(crate::llm::ToolCall {
            id: id.map(str::to_owned),
            name: name.into(),
            arguments: serde_json::json!({"n": 1}),
            signature: Some(format!("sig-{name}")),
        })))
    }

    fn round_ends() -> TurnEvent {
        TurnEvent::Stream(StreamEvent::Finished(FinishReason::ToolCalls))
    }

    fn result(id: &str, output: Result<serde_json::Value, String>) -> TurnEvent {
        TurnEvent::ToolResult(ToolResult { id: id.into(), output, media: Vec::new() })
    }

    #[test]
    fn with_tools_a_rounds_calls_are_run_together_when_the_round_ends() {
        let mut t = TurnState::new().with_tools(3);
        t.handle(text("Looking. "), ms(1));
        assert!(t.handle(streamed(Some("a"), "f"), ms(2)).is_empty(), "not run alone");
        assert!(t.handle(streamed(Some("b"), "g"), ms(3)).is_empty());
        let effects = t.handle(round_ends(), ms(4));
        let Some(Effect::RunTools { round, calls }) = effects.last() else { panic!("{effects:?}") };
        assert_eq!((*round, calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()), (1, vec!["a", "b"]));
        assert_eq!(saves(&effects)[0].status, None, "saved, still streaming");
        assert!(!t.is_done());
        assert_eq!(t.round_text_end(), "Looking. ".len());
    }

    #[test]
    fn the_next_round_is_asked_for_once_every_result_is_in() {
        let mut t = TurnState::new().with_tools(3);
        t.handle(streamed(Some("a"), "f"), ms(1));
        t.handle(streamed(Some("b"), "g"), ms(1));
        t.handle(round_ends(), ms(2));
        assert!(t.handle(result("a", Ok(serde_json::json!(1))), ms(3)).is_empty(), "b is still out");
        assert!(t.handle(result("zz", Ok(serde_json::json!(1))), ms(3)).is_empty(), "not a call of this turn");
        let effects = t.handle(result("b", Err("no".into())), ms(4));
        assert_eq!(
            effects,
            vec![Effect::Step(crate::tools::ToolStep::Round { round: 1, max: 3 }), Effect::NextRound { tools: true }]
        );
    }

    #[test]
    fn at_the_step_limit_the_model_is_asked_once_more_without_tools() {
        let mut t = TurnState::new().with_tools(1);
        t.handle(streamed(Some("a"), "f"), ms(1));
        t.handle(round_ends(), ms(2));
        let effects = t.handle(result("a", Ok(serde_json::json!(1))), ms(3));
        assert_eq!(
            effects,
            vec![Effect::Step(crate::tools::ToolStep::StepLimit { max: 1 }), Effect::NextRound { tools: false }]
        );
    }

    #[test]
    fn the_exchange_sends_each_round_back_as_it_came_with_its_results() {
        let mut t = TurnState::new().with_tools(5);
        t.handle(text("First. "), ms(1));
        t.handle(streamed(None, "f"), ms(1));
        t.handle(round_ends(), ms(2));
        t.handle(result("call-1", Err("refused".into())), ms(3));
        t.handle(streamed(Some("x9"), "g"), ms(4));
        t.handle(round_ends(), ms(5));
        t.handle(result("x9", Ok(serde_json::json!({"v": 2}))), ms(6));
        let exchange = t.exchange();
        assert_eq!(exchange.len(), 4);
        use crate::llm::{Author, Part};
        assert_eq!(exchange[0].author, Author::Assistant);
        assert_eq!(exchange[0].parts[0], Part::Text("First. ".into()));
        let Part::ToolCall(call) = &exchange[0].parts[1] else { panic!() };
        assert_eq!(
            (call.id.as_deref(), call.signature.as_deref()),
            (None, Some("sig-f")),
            "no id was given, none goes back"
        );
        let Part::ToolResult(refused) = &exchange[1].parts[0] else { panic!() };
        assert_eq!((refused.id.as_deref(), refused.response.clone()), (None, serde_json::json!({"error": "refused"})));
        assert_eq!(exchange[2].parts.len(), 1, "no text in the second round");
        let Part::ToolResult(back) = &exchange[3].parts[0] else { panic!() };
        assert_eq!((back.id.as_deref(), back.name.as_str()), (Some("x9"), "g"));
    }

    #[test]
    fn every_rounds_usage_and_cost_count() {
        let mut t = priced("gemini-2.5-flash").with_tools(3);
        t.handle(streamed(Some("a"), "f"), ms(1));
        t.handle(usage(1_000, 100), ms(1));
        t.handle(round_ends(), ms(2));
        t.handle(result("a", Ok(serde_json::json!(1))), ms(3));
        t.handle(text("Done."), ms(4));
        t.handle(usage(1_000, 100), ms(4));
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(5));
        let save = saves(&effects)[0];
        assert_eq!((save.prompt_tokens, save.output_tokens), (Some(2_000), Some(200)));
        // Twice (1,000 × $0.30/M + 100 × $2.50/M).
        assert_eq!(save.cost.clone().unwrap().cost, Some(Usd::from_nanos(1_100_000)));
    }

    #[test]
    fn a_tool_turn_is_never_cached() {
        let mut t = TurnState::new().with_tools(3);
        t.handle(text("No tool needed."), ms(1));
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stop)), ms(2));
        assert!(!effects.contains(&Effect::Cache));
        assert_eq!(effects.last(), Some(&Effect::Done(Outcome::Complete)));
    }

    #[test]
    fn a_restart_in_a_later_round_keeps_the_rounds_before_it() {
        let mut t = TurnState::new().with_tools(3);
        t.handle(text("One. "), ms(1));
        t.handle(streamed(Some("a"), "f"), ms(1));
        t.handle(round_ends(), ms(2));
        t.handle(result("a", Ok(serde_json::json!(1))), ms(3));
        t.handle(text("Two, cu"), ms(4));
        let effects = t.handle(TurnEvent::Restarted, ms(5));
        assert_eq!(effects[..2], [Effect::Restart, Effect::Show("One. ".into())], "the earlier round shown again");
        assert_eq!(t.text(), "One. ");
        assert_eq!(t.tool_calls().len(), 1, "the run call stays");
    }

    #[test]
    fn a_failure_after_calls_with_no_text_keeps_them_as_an_interrupted_answer() {
        let mut t = TurnState::new().with_tools(3);
        t.handle(streamed(Some("a"), "f"), ms(1));
        t.handle(round_ends(), ms(2));
        let effects = t.handle(TurnEvent::Failed(ApiError::Network { detail: "down".into() }), ms(3));
        assert_eq!(saves(&effects)[0].status, Some(MessageStatus::Interrupted));
    }

    #[test]
    fn a_malformed_call_is_an_error_not_a_block() {
        let mut t = TurnState::new().with_tools(3);
        let malformed = StopReason::Other("malformed function call".into());
        let effects = t.handle(TurnEvent::Stream(StreamEvent::Finished(FinishReason::Stopped(malformed))), ms(1));
        assert_eq!(saves(&effects)[0].status, Some(MessageStatus::Error));
        assert!(matches!(effects.last(), Some(Effect::Done(Outcome::Failed(ApiError::AnswerStopped { .. })))));
    }
}
