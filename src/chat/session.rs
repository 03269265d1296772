//! `ChatSession`: runs a prepared turn. It answers from the cache when it can, streams
//! otherwise (through the engine; a turn with tools in rounds, see `tool_rounds.rs`), saves the
//! prompt and the answer as it grows, and records its metrics and cost in the spending ledger
//! (saved or not). It also fits a turn to its model's input limit. Building the turn is
//! `prepare.rs`; every front end (`ask`, the line chat, local `batch`, each tab) reaches both
//! through the runner in `src/turn/`, which calls the steps in one fixed order.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Notice;
use super::cache_key::{CacheKey, MemoryCache, cache_key};
use super::context::{CHECK_FROM_TOKENS, ContextError, ContextOverflow, Trimmed, estimate_tokens, fit, worth_counting};
use super::prepare::Prepared;
use super::settings::Settings;
use super::turn_state::{Effect, FLUSH_INTERVAL, TurnEvent, TurnState};
use super::{Author, Turn};
use crate::attach::{AttachError, AttachmentData};
use crate::engine::{Call, CallEvent, Engine};
use crate::llm::{ApiError, Usage as UsageMetadata};
use crate::store::{
    CachedAnswer, MessageStatus, MessageUpdate, Metric, NewAttachment, NewMessage, Parent, StoreError, StoreHandle,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOptions {
    /// Answer repeated questions from the cache, and cache new complete answers (in memory, and
    /// in the store when `save` is on).
    pub use_cache: bool,
    /// Save the conversation in the history.
    pub save: bool,
    /// Bound on the persistent cache (least recently used entries go first).
    pub cache_max_entries: usize,
    /// The endpoint whose answers this session's cache holds (`Config::cache_namespace`).
    pub cache_namespace: String,
    /// How long a cached answer may answer again; `None` is forever.
    pub cache_ttl: Option<std::time::Duration>,
    /// A request with inline attachments stays under this size; larger files are uploaded.
    pub inline_max_bytes: usize,
    /// Attachments up to this size are kept in the history; larger ones by path and hash.
    pub store_max_bytes: u64,
    /// The server uploaded files belong to (its base URL): a file is reused only there.
    pub upload_namespace: String,
    /// The price table answers are priced with.
    pub prices: Arc<crate::money::PriceBook>,
}

/// How long a cached answer may answer again: a working day's repeats are free, yet a moving
/// `-latest` model or a changed world is never answered for from weeks ago.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Attachments up to this size are kept in the history database (larger ones by path and hash).
pub const DEFAULT_ATTACHMENT_STORE_MAX_BYTES: u64 = 4 * 1024 * 1024;

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions {
            use_cache: true,
            save: true,
            cache_max_entries: 10_000,
            cache_namespace: String::new(),
            cache_ttl: Some(DEFAULT_CACHE_TTL),
            inline_max_bytes: super::INLINE_REQUEST_MAX_BYTES,
            store_max_bytes: DEFAULT_ATTACHMENT_STORE_MAX_BYTES,
            upload_namespace: String::new(),
            prices: Arc::new(crate::money::PriceBook::builtin()),
        }
    }
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
    #[error(transparent)]
    Attachment(#[from] AttachError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TurnReport {
    pub conversation_id: Option<i64>,
    /// The saved prompt and answer (when history is kept and saving worked).
    pub prompt_id: Option<i64>,
    pub answer_id: Option<i64>,
    pub text: String,
    pub outcome: Outcome,
    /// How the answer ended, as saved: the one status front ends show.
    pub status: MessageStatus,
    pub cached: bool,
    pub usage: Option<UsageMetadata>,
    /// What the answer cost (as saved with it).
    pub cost: crate::money::AnswerCost,
    /// Thought summaries received (when asked for), apart from the answer.
    pub thoughts: String,
    /// The answer's sources (Google Search, URL context), apart from its text: front ends add
    /// the markers when they show it.
    pub grounding: Option<crate::grounding::Grounding>,
    /// The answer was shown but could not (all) be saved.
    pub save_error: Option<StoreError>,
    /// The model that answered, as a canonical name (the fallback chain may have moved the
    /// turn); `None` when no request was made (a cache hit, a turn refused before sending).
    /// [`crate::provider::ProviderSet::split`] gives its provider and model id.
    pub answered_by: Option<String>,
    /// The calls of a caller's functions the answer ended with, for it to run (see `client_calls.rs`).
    pub tool_calls: Vec<crate::llm::ToolCall>,
}

/// What a front end shows while a turn runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// More answer text (raw: sanitize before display).
    Text(String),
    /// A thought summary (raw: sanitize before display); never part of the answer.
    Thought(String),
    /// The answer starts again; clear what was shown of it.
    Restart,
    /// Something about the turn that is not the answer (a retry, a fallback model).
    Notice(Notice),
    /// The prompt was saved: the conversation the turn writes into (new or not) and the
    /// prompt's id, known before the answer starts, so a front end can tell which turn a
    /// deleted conversation stops.
    Saved { conversation_id: i64, prompt_id: i64 },
    /// A step of a turn that uses tools (a call, its result, the next round).
    Tool(crate::tools::ToolStep),
    /// Where the answer comes from, said once before its first text: the cache or the model
    /// (a server says so in a header that goes out before the answer).
    Answering { cached: bool },
}

pub struct ChatSession {
    pub(super) engine: Engine,
    pub(super) store: Option<StoreHandle>,
    memory: Mutex<MemoryCache>,
    pub(super) options: ChatOptions,
    /// Settings a new conversation starts with (the config file's).
    pub(super) default_settings: Settings,
    /// What to do with a conversation longer than the model's input limit.
    overflow: ContextOverflow,
    /// Each model's input limit once looked up (`None`: the server did not say).
    input_limits: Mutex<HashMap<String, Option<u64>>>,
}

const MEMORY_CACHE_ENTRIES: usize = 256;

impl ChatSession {
    pub fn new(engine: Engine, store: Option<StoreHandle>, options: ChatOptions) -> Self {
        let memory = Mutex::new(MemoryCache::new(MEMORY_CACHE_ENTRIES, options.cache_ttl));
        ChatSession {
            engine,
            store,
            memory,
            options,
            default_settings: Settings::default(),
            overflow: ContextOverflow::default(),
            input_limits: Mutex::default(),
        }
    }

    /// What to do with a conversation longer than the model's input limit (`context_overflow`).
    pub fn with_context_overflow(mut self, overflow: ContextOverflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The input limit of `model` if it was looked up already (no request).
    pub fn known_input_limit(&self, model: &str) -> Option<u64> {
        self.input_limits.lock().ok().and_then(|l| l.get(model).copied().flatten())
    }

    /// Reads every model's input limit from the model list, once (the interface's meters).
    pub async fn load_input_limits(&self) -> Result<HashMap<String, u64>, ApiError> {
        let listing = self.engine.providers().list_models(Some(crate::provider::GEMINI)).await;
        if listing.models.is_empty()
            && let Some((_, error)) = listing.failed.into_iter().next()
        {
            return Err(error);
        }
        let models = listing.models;
        let known: HashMap<String, u64> =
            models.iter().filter_map(|(_, m)| Some((m.id.clone(), m.input_token_limit?))).collect();
        if let Ok(mut limits) = self.input_limits.lock() {
            for (_, m) in models {
                limits.insert(m.id, m.input_token_limit);
            }
        }
        Ok(known)
    }

    /// The input limit of `model`: looked up once (`GET models/{model}`), then remembered.
    async fn input_limit(&self, model: &str) -> Option<u64> {
        if let Some(known) = self.input_limits.lock().ok().and_then(|l| l.get(model).copied()) {
            return known;
        }
        let (provider, id) = self.engine.providers().resolve(model);
        let limit = provider.model_info(id).await.ok().flatten().and_then(|m| m.input_token_limit);
        if let Ok(mut limits) = self.input_limits.lock() {
            limits.insert(model.to_owned(), limit);
        }
        limit
    }

    /// Makes sure the prepared turn fits its model's input limit, by the policy chosen
    /// (`context_overflow`): `Ok(Some(_))` when older exchanges were left out of the request
    /// (the history keeps them), an error when it may not be sent. The server counts tokens
    /// (`countTokens`) only when the local estimate comes within 20% of the limit, so ordinary
    /// turns cost no extra request; a limit is looked up only past [`CHECK_FROM_TOKENS`].
    pub async fn fit_context(&self, prepared: &mut Prepared) -> Result<Option<Trimmed>, ContextError> {
        let turn = &mut prepared.turn;
        let estimate = estimate_tokens(turn);
        let limit = match self.known_input_limit(&turn.model) {
            Some(limit) => limit,
            None if estimate >= CHECK_FROM_TOKENS => match self.input_limit(&turn.model).await {
                Some(limit) => limit,
                None => return Ok(None),
            },
            None => return Ok(None),
        };
        if !worth_counting(estimate, limit) {
            return Ok(None);
        }
        // When counting fails, the turn is sent as it is: a refusal still reaches the user as
        // the API's own "too long" error, in a sentence.
        let (provider, id) = self.engine.providers().resolve(&turn.model);
        let Ok(Some(counted)) = provider.count_tokens(id, &turn.request()).await else {
            return Ok(None);
        };
        fit(turn, counted, limit, self.overflow)
    }

    /// The settings a new conversation (or one saved without settings) starts with.
    pub fn default_settings(&self) -> &Settings {
        &self.default_settings
    }

    /// Sets [`ChatSession::default_settings`].
    pub fn with_default_settings(mut self, settings: Settings) -> Self {
        self.default_settings = settings;
        self
    }

    /// Every provider's models that can answer, as canonical names (`provider:model`, bare for
    /// Gemini); an error only when no provider could list any.
    pub async fn list_models(&self) -> Result<Vec<String>, ApiError> {
        let listing = self.engine.providers().list_models(None).await;
        if listing.models.is_empty()
            && let Some((_, error)) = listing.failed.into_iter().next()
        {
            return Err(error);
        }
        Ok(listing.models.into_iter().filter(|(_, m)| m.capabilities.generates_text).map(|(name, _)| name).collect())
    }

    pub fn options(&self) -> &ChatOptions {
        &self.options
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn store(&self) -> Option<&StoreHandle> {
        self.store.as_ref()
    }

    /// Runs a prepared turn: `on_text` receives the answer as it arrives (raw text; sanitize
    /// before display); `cancel` resolving stops it (`TurnEvent::Cancelled` or a failure).
    /// A cached answer goes through the same state machine as a streamed one, so both are saved,
    /// reported and shown alike.
    pub async fn run(
        &self,
        prepared: Prepared,
        show: &mut (dyn FnMut(Shown) + Send),
        cancel: impl Future<Output = TurnEvent>,
    ) -> TurnReport {
        self.run_with_tools(prepared, None, show, cancel).await
    }

    /// [`ChatSession::run`] for a turn that offers `tools` (their specs already in the turn):
    /// the model's calls are run in rounds (see `tool_rounds.rs`) until it answers.
    pub async fn run_with_tools(
        &self,
        prepared: Prepared,
        tools: Option<super::tool_rounds::TurnTools>,
        show: &mut (dyn FnMut(Shown) + Send),
        cancel: impl Future<Output = TurnEvent>,
    ) -> TurnReport {
        let started = Instant::now();
        let Prepared { turn, conversation_id, fresh, parent, prompt_id, settings, role } = prepared;
        let key = cache_key(&self.options.cache_namespace, &turn);
        let save_error: Arc<Mutex<Option<StoreError>>> = Arc::default();
        let mut report = TurnReport {
            conversation_id,
            prompt_id: None,
            answer_id: None,
            text: String::new(),
            outcome: Outcome::Complete,
            status: MessageStatus::Streaming,
            cached: false,
            usage: None,
            cost: crate::money::AnswerCost::default(),
            thoughts: String::new(),
            grounding: None,
            save_error: None,
            answered_by: None,
            tool_calls: Vec::new(),
        };

        // The prompt is saved before anything is asked, so it is never lost.
        if self.options.save {
            match (prompt_id, conversation_id) {
                (Some(prompt), Some(_)) => report.prompt_id = Some(prompt),
                _ => match self.save_prompt(&turn, conversation_id, parent, settings.to_stored(), role).await {
                    Ok((conversation, prompt)) => {
                        report.conversation_id = Some(conversation);
                        report.prompt_id = Some(prompt);
                        show(Shown::Saved { conversation_id: conversation, prompt_id: prompt });
                    }
                    // A history that cannot take the prompt because it is damaged or read-only
                    // cannot take the answer either: nothing is asked that could not be kept.
                    Err(e @ (StoreError::Corrupt { .. } | StoreError::ReadOnly { .. })) => {
                        report.status = MessageStatus::Error;
                        report.save_error = Some(e);
                        return report;
                    }
                    Err(e) => report.save_error = Some(e),
                },
            }
        }
        let saved_prompt = report.prompt_id.filter(|_| report.save_error.is_none() && self.options.save);
        let message_id = match (&self.store, report.conversation_id, saved_prompt) {
            (Some(store), Some(conversation), Some(prompt)) => {
                let message = NewMessage {
                    role: Author::Model,
                    text: String::new(),
                    model: Some(turn.model.clone()),
                    status: MessageStatus::Streaming,
                    cached: false,
                };
                match store
                    .call_grouped(move |s| s.add_message_to(conversation, Parent::Message(prompt), &message))
                    .await
                {
                    Ok(id) => Some(id),
                    Err(e) => {
                        report.save_error = Some(e);
                        None
                    }
                }
            }
            _ => None,
        };
        report.answer_id = message_id;

        let mut state = TurnState::new().with_pricing(super::turn_state::Pricing {
            book: self.options.prices.clone(),
            model: turn.model.clone(),
            batch: false,
        });
        if let Some(tools) = &tools {
            state = state.with_tools(tools.max_rounds());
        }
        let mut work = Work::default();
        let mut cache_it = false;
        let mut retries = 0;
        // A turn with tools (Google Search, URL context) asks the web of now: never the cache.
        let cacheable = self.options.use_cache && turn.tools.is_empty() && !turn.answers_calls;
        let hit = if cacheable && !fresh { self.cache_lookup(&key).await } else { None };
        show(Shown::Answering { cached: hit.is_some() });
        let mut resolved = None;
        let outcome = if let Some(answer) = hit {
            self.engine.metrics().cache_hit();
            let effects = state.handle(TurnEvent::CacheHit(answer), started.elapsed());
            self.perform(effects, show, message_id, &save_error, &mut cache_it, &mut work)
                .await
                .unwrap_or(Outcome::Complete)
        } else if let Err(failure) = self.make_ready(&turn, &mut resolved).await {
            let effects = state.handle(TurnEvent::Failed(failure.clone()), started.elapsed());
            self.perform(effects, show, message_id, &save_error, &mut cache_it, &mut work)
                .await
                .unwrap_or(Outcome::Failed(failure))
        } else {
            let request = resolved.as_ref().unwrap_or(&turn).request();
            // A tool turn asks again with the rounds after it (kept only then: no copy otherwise).
            let asked = tools.as_ref().map(|_| request.clone()).unwrap_or_default();
            let call = Call { model: turn.model.clone(), request };
            let mut call = self.engine.submit_with_fallback(call, turn.fallback.clone());
            let mut cancel = std::pin::pin!(cancel);
            let mut ticks = tokio::time::interval(FLUSH_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let event = tokio::select! {
                    event = call.next() => match event {
                        Some(CallEvent::Started { model, .. }) => {
                            state.attempt_on(&model);
                            report.answered_by = Some(model);
                            continue;
                        }
                        Some(event) => match turn_event(event, self.engine.retry_policy().max_attempts) {
                            Some(event) => event,
                            None => continue,
                        },
                        None => TurnEvent::Failed(ApiError::Protocol { detail: "the answer's call ended without a result".into() }),
                    },
                    _ = ticks.tick() => TurnEvent::Tick,
                    event = &mut cancel => {
                        // Cancelling the call drops its stream, which closes the connection.
                        call.cancel();
                        event
                    }
                };
                if matches!(event, TurnEvent::Notice(Notice::Retrying { .. })) {
                    retries += 1;
                }
                let effects = state.handle(event, started.elapsed());
                if let Some(outcome) =
                    self.perform(effects, show, message_id, &save_error, &mut cache_it, &mut work).await
                {
                    break outcome;
                }
                // A tool turn's round ended asking for calls: they run, then the model is asked again.
                let (Some((round, calls)), Some(tools)) = (work.run.take(), &tools) else { continue };
                let mut next = None;
                let mut ctx = super::tool_rounds::RoundCtx {
                    state: &mut state,
                    show: &mut *show,
                    message_id,
                    conversation_id: report.conversation_id,
                    save_error: &save_error,
                    cache_it: &mut cache_it,
                    next: &mut next,
                    started,
                };
                if let Some(outcome) = self.run_round(tools, round, calls, &mut ctx, &mut cancel).await {
                    break outcome;
                }
                let Some(with_tools) = next else {
                    break Outcome::Failed(ApiError::Protocol {
                        detail: "a tool round ended without its results".into(),
                    });
                };
                // The rounds so far go back after the prompt; at the step limit without tools.
                let mut request = asked.clone();
                request.messages.extend(state.exchange());
                if !with_tools {
                    request.tools.retain(|t| !matches!(t, crate::llm::ToolSpec::Function { .. }));
                }
                call = self
                    .engine
                    .submit_with_fallback(Call { model: turn.model.clone(), request }, turn.fallback.clone());
            }
        };

        if tools.is_none() && outcome == Outcome::Complete {
            report.tool_calls = self.client_calls(&turn, &state, message_id, &save_error).await;
        }
        report.text = state.text().to_owned();
        report.usage = state.usage();
        report.cost = state.cost();
        report.status = state.status();
        report.cached = state.cached();
        report.thoughts = state.thoughts().to_owned();
        report.grounding = state.grounding().cloned();
        // An answer asked for as JSON that is not JSON is kept (and reported) but never cached:
        // asking again may do better.
        let malformed = settings.json_schema.is_some() && super::settings::json_answer_problem(&report.text).is_some();
        if cache_it && cacheable && !malformed {
            self.cache_store(key, &turn.model, &report).await;
        }
        self.record(&turn, &outcome, &state, started, retries).await;
        report.outcome = outcome;
        let late_error = save_error.lock().map(|mut e| e.take()).unwrap_or(None);
        report.save_error = report.save_error.or(late_error);
        report
    }

    /// Front ends call `attach` first (with upload progress); this only catches a turn whose
    /// attachments were never made ready, resolving a copy of it into `resolved`.
    async fn make_ready(&self, turn: &Turn, resolved: &mut Option<Turn>) -> Result<(), ApiError> {
        if turn.attachments_ready() {
            return Ok(());
        }
        let mut copy = turn.clone();
        // Boxed: inline, this rarely taken path made every running turn's future ~2 KB larger.
        Box::pin(self.resolve(&mut copy, &|_| {})).await.map_err(|e| match e {
            ChatError::Api(e) => e,
            other => ApiError::BadRequest { detail: other.to_string() },
        })?;
        *resolved = Some(copy);
        Ok(())
    }

    /// Performs a turn's effects; the outcome once the turn is over.
    pub(super) async fn perform(
        &self,
        effects: Vec<Effect>,
        show: &mut (dyn FnMut(Shown) + Send),
        message_id: Option<i64>,
        save_error: &Arc<Mutex<Option<StoreError>>>,
        cache_it: &mut bool,
        work: &mut Work,
    ) -> Option<Outcome> {
        let mut finished = None;
        for effect in effects {
            match effect {
                Effect::Show(text) => show(Shown::Text(text)),
                Effect::ShowThought(text) => show(Shown::Thought(text)),
                Effect::Restart => show(Shown::Restart),
                Effect::Notice(text) => show(Shown::Notice(text)),
                Effect::Save(update) => self.save_update(message_id, update, save_error).await,
                Effect::Cache => *cache_it = true,
                // A call of a turn that offers no tools is recorded in its state, and never run.
                Effect::RunTool(_) => {}
                Effect::RunTools { round, calls } => work.run = Some((round, calls)),
                Effect::NextRound { tools } => work.next = Some(tools),
                Effect::Step(step) => show(Shown::Tool(step)),
                Effect::Done(outcome) => finished = Some(outcome),
            }
        }
        finished
    }

    /// Saves the prompt (creating the conversation if needed) after `parent`; returns the
    /// conversation's id and the prompt's.
    async fn save_prompt(
        &self,
        turn: &Turn,
        conversation_id: Option<i64>,
        parent: Parent,
        settings: Option<String>,
        role: Option<String>,
    ) -> Result<(i64, i64), StoreError> {
        let Some(store) = &self.store else {
            return Err(StoreError::Closed);
        };
        let cap = self.options.store_max_bytes;
        let attachments: Vec<NewAttachment> = turn
            .attachments
            .iter()
            .map(|a| NewAttachment {
                info: a.info.clone(),
                data: match &a.data {
                    AttachmentData::Bytes(bytes) if a.info.size <= cap => Some(bytes.clone()),
                    _ => None,
                },
                path: a.path.as_ref().map(|p| p.to_string_lossy().into_owned()),
            })
            .collect();
        // The settings it last ran with: a reopened conversation continues with them.
        let prompt = crate::store::NewPrompt {
            conversation: conversation_id,
            parent,
            title: crate::store::title_from(&turn.prompt),
            model: turn.model.clone(),
            system: turn.system.clone(),
            settings,
            role,
            text: turn.prompt.clone(),
            attachments,
        };
        store.call_grouped(move |s| s.add_prompt(&prompt)).await
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
        } else if let Err(e) = store.call_grouped(move |s| s.update_message(id, &update)).await
            && let Ok(mut guard) = slot.lock()
        {
            guard.get_or_insert(e);
        }
    }

    /// `question` is the turn's own key; answers are looked up within this session's endpoint.
    async fn cache_lookup(&self, key: &CacheKey) -> Option<CachedAnswer> {
        let key = *key;
        if let Some(hit) = self.memory.lock().ok().and_then(|mut m| m.get(&key, crate::store::now_ms())) {
            return Some(hit);
        }
        let store = self.store.as_ref()?;
        let ttl = self.options.cache_ttl;
        let hit = store.call(move |s| s.cache_get(&key, ttl)).await.ok().flatten()?;
        if let Ok(mut m) = self.memory.lock() {
            m.put(key, hit.clone());
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
            cost: report.cost.cost,
            created_at: crate::store::now_ms(),
        };
        if let Ok(mut m) = self.memory.lock() {
            m.put(key, answer.clone());
        }
        // A turn that is not saved leaves nothing on disk, not even in the cache.
        if let Some(store) = self.store.as_ref().filter(|_| self.options.save) {
            let (max, ttl) = (self.options.cache_max_entries, self.options.cache_ttl);
            let _ = store.call_grouped(move |s| s.cache_put(&key, &answer, max, ttl)).await;
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
            cached: state.cached(),
            latency_ms: Some(started.elapsed().as_millis() as i64),
            first_token_ms: state.first_token().filter(|_| !state.cached()).map(|d| d.as_millis() as i64),
            prompt_tokens: usage.map(|u| i64::from(u.prompt_token_count)),
            output_tokens: usage.map(|u| i64::from(u.candidates_token_count)),
            thought_tokens: usage.filter(|_| !state.cached()).map(|u| i64::from(u.thoughts_token_count)),
            retries,
        };
        // What the answer cost goes to the spending ledger, saved or not (a cache hit cost nothing).
        let spend = usage.filter(|_| !state.cached()).map(|u| {
            let cost = state.cost();
            crate::store::SpendEntry {
                model: turn.model.clone(),
                priced_as: cost.priced_as,
                cost: cost.cost,
                prompt_tokens: Some(i64::from(u.prompt_token_count)),
                output_tokens: Some(i64::from(u.candidates_token_count)),
                thought_tokens: Some(i64::from(u.thoughts_token_count)),
                batch: false,
            }
        });
        let _ = store
            .call_grouped(move |s| {
                if let Some(spend) = &spend {
                    s.record_spend(spend)?;
                }
                s.record_metric(&metric)
            })
            .await;
    }
}

/// The tool work a turn's effects asked for.
#[derive(Debug, Default)]
pub(super) struct Work {
    /// Run this round's calls.
    pub run: Option<(u32, Vec<super::turn_state::ToolCall>)>,
    /// Ask the model again (with tools or not).
    pub next: Option<bool>,
}

/// What a call's event means for the turn; `None` for steps the turn does not need.
fn turn_event(event: CallEvent, max_attempts: u32) -> Option<TurnEvent> {
    Some(match event {
        CallEvent::Queued | CallEvent::Started { .. } => return None,
        CallEvent::Text(text) => TurnEvent::Stream(crate::llm::StreamEvent::Text(text)),
        CallEvent::Thought(text) => TurnEvent::Stream(crate::llm::StreamEvent::Thought(text)),
        CallEvent::Usage(usage) => TurnEvent::Stream(crate::llm::StreamEvent::Usage(usage)),
        CallEvent::ModelVersion(v) => TurnEvent::Stream(crate::llm::StreamEvent::ModelVersion(v)),
        CallEvent::Grounding(g) => TurnEvent::Stream(crate::llm::StreamEvent::Grounding(g)),
        CallEvent::ToolCall(call) => TurnEvent::Stream(crate::llm::StreamEvent::ToolCall(call)),
        CallEvent::Restarted { .. } => TurnEvent::Restarted,
        CallEvent::Retrying { attempt, after, reason } => {
            TurnEvent::Notice(Notice::Retrying { attempt, of: max_attempts, after, reason })
        }
        CallEvent::FallbackModel { first: false, .. } => return None,
        CallEvent::FallbackModel { from, to, reason, .. } => TurnEvent::Notice(Notice::Fallback { from, to, reason }),
        CallEvent::Finished { finish, .. } => TurnEvent::Stream(crate::llm::StreamEvent::Finished(finish)),
        CallEvent::Failed(error) => TurnEvent::Failed(error),
        CallEvent::Cancelled => TurnEvent::Cancelled,
    })
}
