//! `ChatSession`: performs turns. It composes the request from the stored conversation, answers
//! from the cache when it can, streams otherwise, saves the answer as it grows, and records the
//! request's metrics. `ask` and the line chat use it; so will the TUI and `batch`.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Notice;
use super::cache_key::{CacheKey, MemoryCache, cache_key};
use super::turn_state::{Effect, FLUSH_INTERVAL, TurnEvent, TurnState};
use super::{Message, Role, Turn};
use crate::engine::{Engine, Job, JobEvent};
use crate::gemini::{ApiError, Client, UsageMetadata};
use crate::store::{CachedAnswer, MessageStatus, MessageUpdate, Metric, NewMessage, StoreError, StoreHandle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatOptions {
    /// Answer repeated questions from the cache, and cache new complete answers.
    pub use_cache: bool,
    /// Save the conversation in the history.
    pub save: bool,
    /// Bound on the persistent cache (least recently used entries go first).
    pub cache_max_entries: usize,
}

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions { use_cache: true, save: true, cache_max_entries: 10_000 }
    }
}

/// Which conversation a prompt belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    New,
    /// The most recently updated conversation (a new one if there is none).
    Last,
    Conversation(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Complete,
    Cancelled,
    Failed(ApiError),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A turn ready to run: its request and where it will be saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub turn: Turn,
    pub conversation_id: Option<i64>,
    /// Ask again even if the answer is cached ("regenerate").
    pub fresh: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TurnReport {
    pub conversation_id: Option<i64>,
    pub text: String,
    pub outcome: Outcome,
    pub cached: bool,
    pub usage: Option<UsageMetadata>,
    /// The answer was shown but could not (all) be saved.
    pub save_error: Option<StoreError>,
}

/// What a front end shows while a turn runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// More answer text (raw: sanitize before display).
    Text(String),
    /// The answer starts again; clear what was shown of it.
    Restart,
    /// Something about the turn that is not the answer (a retry, a fallback model).
    Notice(Notice),
}

pub struct ChatSession {
    engine: Engine,
    store: Option<StoreHandle>,
    memory: Mutex<MemoryCache>,
    options: ChatOptions,
}

const MEMORY_CACHE_ENTRIES: usize = 256;

impl ChatSession {
    pub fn new(engine: Engine, store: Option<StoreHandle>, options: ChatOptions) -> Self {
        ChatSession { engine, store, memory: Mutex::new(MemoryCache::new(MEMORY_CACHE_ENTRIES)), options }
    }

    pub fn client(&self) -> &Client {
        self.engine.client()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn store(&self) -> Option<&StoreHandle> {
        self.store.as_ref()
    }

    /// Builds the turn. A new conversation uses `model` (else `default_model`) and `system`;
    /// an existing one brings its history and keeps its own model unless `model` is given.
    pub async fn prepare(
        &self,
        target: Target,
        prompt: String,
        model: Option<String>,
        default_model: &str,
        system: Option<String>,
    ) -> Result<Prepared, ChatError> {
        let existing = match (target, &self.store) {
            (Target::New, _) | (_, None) => None,
            (Target::Conversation(id), Some(_)) => Some(id),
            (Target::Last, Some(store)) => store.call(|s| s.last_conversation_id()).await?,
        };
        let store = self.store.as_ref();
        let (Some(id), Some(store)) = (existing, store) else {
            let mut turn = Turn::new(model.unwrap_or_else(|| default_model.to_owned()), prompt);
            turn.system = system;
            return Ok(Prepared { turn, conversation_id: None, fresh: false });
        };
        let (conversation, messages) = store.call(move |s| Ok((s.conversation(id)?, s.messages(id)?))).await?;
        let mut turn = Turn::new(model.unwrap_or(conversation.model), prompt);
        turn.system = system.or(conversation.system_prompt);
        turn.history = answered_pairs(&messages);
        Ok(Prepared { turn, conversation_id: Some(id), fresh: false })
    }

    /// Runs a prepared turn: `on_text` receives the answer as it arrives (raw text; sanitize
    /// before display); `cancel` resolving stops it (`TurnEvent::Cancelled` or a failure).
    pub async fn run(
        &self,
        prepared: Prepared,
        show: &mut (dyn FnMut(Shown) + Send),
        cancel: impl Future<Output = TurnEvent>,
    ) -> TurnReport {
        let started = Instant::now();
        let Prepared { turn, conversation_id, fresh } = prepared;
        let key = cache_key(&turn);
        let save_error: Arc<Mutex<Option<StoreError>>> = Arc::default();
        let mut report = TurnReport {
            conversation_id,
            text: String::new(),
            outcome: Outcome::Complete,
            cached: false,
            usage: None,
            save_error: None,
        };

        // The prompt is saved before anything is asked, so it is never lost.
        if self.options.save {
            match self.save_prompt(&turn, conversation_id).await {
                Ok(id) => report.conversation_id = Some(id),
                Err(e) => report.save_error = Some(e),
            }
        }
        let conversation_id = report.conversation_id.filter(|_| report.save_error.is_none() && self.options.save);

        if self.options.use_cache
            && !fresh
            && let Some(answer) = self.cache_lookup(&key).await
        {
            show(Shown::Text(answer.text.clone()));
            report.text = answer.text.clone();
            report.cached = true;
            self.engine.metrics().cache_hit();
            if let Some(store) = &self.store {
                let metric = Metric {
                    model: turn.model.clone(),
                    outcome: "ok".into(),
                    cached: true,
                    latency_ms: Some(started.elapsed().as_millis() as i64),
                    ..Metric::default()
                };
                let model = turn.model.clone();
                let saved = store
                    .call(move |s| {
                        // The hit is saved like any answer (when history is kept), marked cached.
                        if let Some(conversation) = conversation_id {
                            let message = NewMessage {
                                role: Role::Model,
                                text: answer.text.clone(),
                                model: Some(model),
                                status: MessageStatus::Complete,
                                cached: true,
                            };
                            let id = s.add_message(conversation, &message)?;
                            let update = MessageUpdate {
                                text: message.text,
                                prompt_tokens: answer.prompt_tokens,
                                output_tokens: answer.output_tokens,
                                ..MessageUpdate::default()
                            };
                            s.update_message(id, &update)?;
                        }
                        s.record_metric(&metric)
                    })
                    .await;
                report.save_error = report.save_error.or(saved.err());
            }
            return report;
        }

        let message_id = match (&self.store, conversation_id) {
            (Some(store), Some(conversation)) => {
                let message = NewMessage {
                    role: Role::Model,
                    text: String::new(),
                    model: Some(turn.model.clone()),
                    status: MessageStatus::Streaming,
                    cached: false,
                };
                match store.call(move |s| s.add_message(conversation, &message)).await {
                    Ok(id) => Some(id),
                    Err(e) => {
                        report.save_error = Some(e);
                        None
                    }
                }
            }
            _ => None,
        };

        let mut job = self.engine.submit(Job { model: turn.model.clone(), request: turn.request() });
        let mut state = TurnState::new();
        let mut cache_it = false;
        let mut retries = 0;
        let outcome = {
            let mut cancel = std::pin::pin!(cancel);
            let mut ticks = tokio::time::interval(FLUSH_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut pending = vec![];
            loop {
                let event = tokio::select! {
                    event = job.next() => match event {
                        Some(event) => match turn_event(event, self.engine.retry_policy().max_attempts) {
                            Some(event) => event,
                            None => continue,
                        },
                        None => TurnEvent::Failed(ApiError::Protocol { detail: "the answer's job ended without a result".into() }),
                    },
                    _ = ticks.tick() => TurnEvent::Tick,
                    event = &mut cancel => {
                        // Cancelling the job drops its stream, which closes the connection.
                        job.cancel();
                        event
                    }
                };
                if matches!(event, TurnEvent::Notice(Notice::Retrying { .. })) {
                    retries += 1;
                }
                pending.clear();
                pending.extend(state.handle(event, started.elapsed()));
                let mut finished = None;
                for effect in pending.drain(..) {
                    match effect {
                        Effect::Show(text) => show(Shown::Text(text)),
                        Effect::Restart => show(Shown::Restart),
                        Effect::Notice(text) => show(Shown::Notice(text)),
                        Effect::Save(update) => self.save_update(message_id, update, &save_error).await,
                        Effect::Cache => cache_it = true,
                        Effect::Done(outcome) => finished = Some(outcome),
                    }
                }
                if let Some(outcome) = finished {
                    break outcome;
                }
            }
        };
        drop(job);

        report.text = state.text().to_owned();
        report.usage = state.usage();
        if cache_it && self.options.use_cache {
            self.cache_store(key, &turn.model, &report).await;
        }
        self.record(&turn, &outcome, &state, started, retries).await;
        report.outcome = outcome;
        let late_error = save_error.lock().map(|mut e| e.take()).unwrap_or(None);
        report.save_error = report.save_error.or(late_error);
        report
    }

    async fn save_prompt(&self, turn: &Turn, conversation_id: Option<i64>) -> Result<i64, StoreError> {
        let Some(store) = &self.store else {
            return Err(StoreError::Closed);
        };
        let (title, model, system, prompt) =
            (crate::store::title_from(&turn.prompt), turn.model.clone(), turn.system.clone(), turn.prompt.clone());
        store
            .call(move |s| {
                let id = match conversation_id {
                    Some(id) => id,
                    None => s.create_conversation(&title, &model, system.as_deref())?,
                };
                s.add_message(
                    id,
                    &NewMessage {
                        role: Role::User,
                        text: prompt,
                        model: None,
                        status: MessageStatus::Complete,
                        cached: false,
                    },
                )?;
                Ok(id)
            })
            .await
    }

    /// Periodic saves are queued without waiting (the answer keeps streaming); the final one
    /// is awaited, so when a turn returns, all of it is on disk.
    async fn save_update(&self, message_id: Option<i64>, update: MessageUpdate, slot: &Arc<Mutex<Option<StoreError>>>) {
        let (Some(store), Some(id)) = (&self.store, message_id) else {
            return;
        };
        if update.status.is_none() {
            let slot = slot.clone();
            store.save_progress(id, update, move |e| {
                if let Ok(mut guard) = slot.lock() {
                    guard.get_or_insert(e);
                }
            });
        } else if let Err(e) = store.call(move |s| s.update_message(id, &update)).await
            && let Ok(mut guard) = slot.lock()
        {
            guard.get_or_insert(e);
        }
    }

    async fn cache_lookup(&self, key: &CacheKey) -> Option<CachedAnswer> {
        if let Some(hit) = self.memory.lock().ok().and_then(|mut m| m.get(key)) {
            return Some(hit);
        }
        let store = self.store.as_ref()?;
        let owned = *key;
        let hit = store.call(move |s| s.cache_get(&owned)).await.ok().flatten()?;
        if let Ok(mut m) = self.memory.lock() {
            m.put(*key, hit.clone());
        }
        Some(hit)
    }

    async fn cache_store(&self, key: CacheKey, model: &str, report: &TurnReport) {
        let usage = report.usage.unwrap_or_default();
        let answer = CachedAnswer {
            model: model.to_owned(),
            text: report.text.clone(),
            prompt_tokens: report.usage.map(|_| i64::from(usage.prompt_token_count)),
            output_tokens: report.usage.map(|_| i64::from(usage.candidates_token_count)),
        };
        if let Ok(mut m) = self.memory.lock() {
            m.put(key, answer.clone());
        }
        if let Some(store) = &self.store {
            let max = self.options.cache_max_entries;
            let _ = store.call(move |s| s.cache_put(&key, &answer, max)).await;
        }
    }

    async fn record(&self, turn: &Turn, outcome: &Outcome, state: &TurnState, started: Instant, retries: i64) {
        let Some(store) = &self.store else { return };
        let usage = state.usage();
        let metric = Metric {
            model: turn.model.clone(),
            outcome: match outcome {
                Outcome::Complete => "ok".to_owned(),
                Outcome::Cancelled => "cancelled".to_owned(),
                Outcome::Failed(e) => e.kind().as_str().to_owned(),
            },
            cached: false,
            latency_ms: Some(started.elapsed().as_millis() as i64),
            first_token_ms: state.first_token().map(|d| d.as_millis() as i64),
            prompt_tokens: usage.map(|u| i64::from(u.prompt_token_count)),
            output_tokens: usage.map(|u| i64::from(u.candidates_token_count)),
            retries,
        };
        let _ = store.call(move |s| s.record_metric(&metric)).await;
    }
}

/// What a job's event means for the turn; `None` for steps the turn does not need.
fn turn_event(event: JobEvent, max_attempts: u32) -> Option<TurnEvent> {
    Some(match event {
        JobEvent::Queued | JobEvent::Started { .. } => return None,
        JobEvent::Text(text) => TurnEvent::Stream(crate::gemini::StreamEvent::Text(text)),
        JobEvent::Usage(usage) => TurnEvent::Stream(crate::gemini::StreamEvent::Usage(usage)),
        JobEvent::Restarted { .. } => TurnEvent::Restarted,
        JobEvent::Retrying { attempt, after, reason } => {
            TurnEvent::Notice(Notice::Retrying { attempt, of: max_attempts, after, reason })
        }
        JobEvent::FallbackModel { first: false, .. } => return None,
        JobEvent::FallbackModel { from, to, .. } => TurnEvent::Notice(Notice::Fallback { from, to }),
        JobEvent::Finished { finish, .. } => TurnEvent::Stream(crate::gemini::StreamEvent::Finished(finish)),
        JobEvent::Failed(error) => TurnEvent::Failed(error),
        JobEvent::Cancelled => TurnEvent::Cancelled,
    })
}

/// The history sent with a new prompt: each user message with the answer that followed it.
/// Prompts that got no answer (errors, blocks) are left out, so roles alternate.
fn answered_pairs(messages: &[crate::store::StoredMessage]) -> Vec<Message> {
    let mut history = Vec::new();
    let mut pending_user: Option<&str> = None;
    for m in messages {
        match m.role {
            Role::User => pending_user = Some(&m.text),
            Role::Model => {
                let usable = matches!(m.status, MessageStatus::Complete | MessageStatus::Interrupted)
                    && !m.text.trim().is_empty();
                if let (Some(user), true) = (pending_user.take(), usable) {
                    history.push(Message { role: Role::User, text: user.to_owned() });
                    history.push(Message { role: Role::Model, text: m.text.clone() });
                }
            }
        }
    }
    history
}
