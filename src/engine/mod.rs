//! The engine: many answers in flight on one runtime. Each answer is a [`Call`] (one answer
//! from a model; not a batch job, which is `jobs/`). Calls run under a global concurrency limit
//! and per-model request-rate limits, retry what is safe to retry (honouring the server's delay,
//! with a 429 on one model slowing every call for that model), move a call along its fallback
//! chain when a quota is spent, a model is unknown or a provider stays down, and report every
//! step as a [`CallEvent`]. Each answer has a total deadline (`timeout_secs`), retries included,
//! whatever front end asked for it. Calls run over `provider::Provider`s in the neutral
//! vocabulary (`llm/`), so all of this is the same for every provider. The built-in Gemini
//! [`Client`] it also holds serves the Gemini-only features: uploads through the Files API
//! ([`Upload`]) and batch jobs (`jobs/`). Cancelling a call (or dropping its [`CallHandle`])
//! drops its stream, which closes the connection at once. Front ends never await a network call
//! themselves: they read call events.

mod gate;
mod metrics;
pub mod retry;
mod upload;

pub use metrics::{EngineMetrics, MetricsSnapshot};
pub use retry::{Decision, RetryPolicy};
pub use upload::{Upload, UploadError, UploadSource};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use futures::StreamExt;

use crate::gemini::Client;
use crate::llm::{ApiError, FinishReason, Request, StreamEvent, TimeoutPhase, Usage as UsageMetadata};
use crate::provider::ProviderSet;
use gate::ModelGate;

#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Answers in flight at once, across all models.
    pub max_concurrent: usize,
    /// Requests per minute, per model id.
    pub rpm: HashMap<String, u32>,
    /// Requests per minute for models not in `rpm` (none: unlimited).
    pub default_rpm: Option<u32>,
    pub retry: RetryPolicy,
    /// Where a call goes, in order, once its model's quota is spent, its model is unknown, or
    /// its provider is still down after the retries (canonical model names). The config's
    /// `fallback_model` is a one-entry chain.
    pub fallback: Vec<String>,
    /// The longest one answer may take, retries included, counted from its first attempt's
    /// start (time queued behind other calls is not counted); `None`: no limit.
    pub total_timeout: Option<Duration>,
}

/// How long one answer may take unless `timeout_secs` says otherwise.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent: 16,
            rpm: HashMap::new(),
            default_rpm: None,
            retry: RetryPolicy::default(),
            fallback: Vec::new(),
            total_timeout: Some(DEFAULT_TOTAL_TIMEOUT),
        }
    }
}

/// One answer to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub model: String,
    pub request: Request,
}

/// Every step of a call. `Finished`, `Failed` and `Cancelled` are last.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Queued,
    Started {
        attempt: u32,
        model: String,
    },
    Text(String),
    /// A thought summary (only when asked for with `includeThoughts`); never answer text.
    Thought(String),
    Usage(UsageMetadata),
    /// The model that answers, as the server names it (`modelVersion`: an alias's real model).
    ModelVersion(String),
    /// The answer's sources (Google Search, URL context).
    Grounding(crate::grounding::Grounding),
    /// The model asks for a tool to be run (with its id and signature, to go back with the result).
    ToolCall(Box<crate::llm::ToolCall>),
    /// The text received so far is void: a new attempt starts the answer again.
    Restarted {
        attempt: u32,
    },
    /// Attempt `attempt` will start after `after`, because of `reason`.
    Retrying {
        attempt: u32,
        after: Duration,
        reason: ApiError,
    },
    /// The call moves from `from` to the next model of its fallback chain, `to`, because of
    /// `reason` (a spent quota or an unknown model also sends later calls straight to `to`).
    /// `first` is true for the first call to make this move, so the user is told once.
    FallbackModel {
        from: String,
        to: String,
        first: bool,
        reason: FallbackReason,
    },
    Finished {
        finish: FinishReason,
        model: String,
        first_token: Option<Duration>,
    },
    Failed(ApiError),
    Cancelled,
}

/// Why a call left a model for the next one of its fallback chain.
#[derive(Debug, Clone, PartialEq)]
pub enum FallbackReason {
    /// The model's quota is spent (a daily limit, no free tier): for the rest of the run.
    QuotaSpent,
    /// The provider does not know the model: for the rest of the run.
    ModelUnknown,
    /// The provider still failed after every retry (the last error): for this call.
    ProviderDown(ApiError),
}

impl FallbackReason {
    /// Whether later calls skip the model too.
    pub fn is_lasting(&self) -> bool {
        !matches!(self, FallbackReason::ProviderDown(_))
    }
}

impl CallEvent {
    pub fn is_last(&self) -> bool {
        matches!(self, CallEvent::Finished { .. } | CallEvent::Failed(_) | CallEvent::Cancelled)
    }
}

/// The receiving end of a call. Dropping it cancels the call.
#[derive(Debug)]
pub struct CallHandle {
    pub id: u64,
    events: mpsc::UnboundedReceiver<CallEvent>,
    token: CancellationToken,
}

impl CallHandle {
    /// The next event; `None` after the last one.
    pub async fn next(&mut self) -> Option<CallEvent> {
        self.events.next().await
    }

    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Runs the call to its end, applying restarts as a display would (a restart clears the
    /// text so far): the final text and every event.
    pub async fn collect(mut self) -> (String, Vec<CallEvent>) {
        let mut text = String::new();
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            match &event {
                CallEvent::Text(t) => text.push_str(t),
                CallEvent::Restarted { .. } => text.clear(),
                _ => {}
            }
            let last = event.is_last();
            events.push(event);
            if last {
                break;
            }
        }
        (text, events)
    }

    /// A way to cancel this call from elsewhere.
    pub fn canceller(&self) -> CancellationToken {
        self.token.clone()
    }
}

impl Drop for CallHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

struct Inner {
    providers: ProviderSet,
    config: EngineConfig,
    permits: Arc<Semaphore>,
    gates: Mutex<HashMap<String, Arc<ModelGate>>>,
    /// Models no call should use any more (quota spent, unknown).
    exhausted: Mutex<HashSet<String>>,
    /// Fallback moves already told (`from`, `to`).
    told: Mutex<HashSet<(String, String)>>,
    metrics: EngineMetrics,
    all: CancellationToken,
    next_id: AtomicU64,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine whose only provider is Gemini, through `client`.
    pub fn new(client: Client, config: EngineConfig) -> Self {
        Self::with_providers(ProviderSet::new(client), config)
    }

    /// An engine over every provider of `providers`.
    pub fn with_providers(providers: ProviderSet, config: EngineConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
        Engine {
            inner: Arc::new(Inner {
                providers,
                config,
                permits,
                gates: Mutex::default(),
                exhausted: Mutex::default(),
                told: Mutex::default(),
                metrics: EngineMetrics::default(),
                all: CancellationToken::new(),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The built-in Gemini provider's client (uploads, files, Gemini-only calls).
    pub fn client(&self) -> &Client {
        self.inner.providers.gemini()
    }

    pub fn providers(&self) -> &ProviderSet {
        &self.inner.providers
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.config.retry
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.inner.metrics
    }

    /// Starts a call; its events arrive on the returned handle.
    pub fn submit(&self, call: Call) -> CallHandle {
        self.submit_with_fallback(call, None)
    }

    /// [`Engine::submit`] with a fallback chain of the call's own (a role's) instead of the
    /// configured one.
    pub fn submit_with_fallback(&self, call: Call, fallback: Option<Vec<String>>) -> CallHandle {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        // futures' channel: a node per event in flight, where tokio's took a 32-event block per call
        // (3.6 KB, for each of N calls at once).
        let (tx, events) = mpsc::unbounded();
        let token = self.inner.all.child_token();
        self.inner.metrics.queued(1);
        let _ = tx.unbounded_send(CallEvent::Queued);
        let chain = fallback.unwrap_or_else(|| self.inner.config.fallback.clone());
        tokio::spawn(run_call(self.inner.clone(), call, chain, tx, token.clone()));
        CallHandle { id, events, token }
    }

    /// Cancels every call, running or waiting.
    pub fn cancel_all(&self) {
        self.inner.all.cancel();
    }
}

impl Inner {
    fn gate(&self, model: &str) -> Arc<ModelGate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(model.to_owned())
            .or_insert_with(|| {
                Arc::new(ModelGate::new(self.config.rpm.get(model).copied().or(self.config.default_rpm)))
            })
            .clone()
    }

    /// The model a call for `model` should use now: itself, or once it is spent, the first
    /// usable model of the chain after it.
    fn route(&self, model: &str, chain: &[String]) -> String {
        let exhausted = self.exhausted.lock().map(|e| e.contains(model)).unwrap_or(false);
        if !exhausted {
            return model.to_owned();
        }
        self.next_in_chain(model, chain).unwrap_or_else(|| model.to_owned())
    }

    /// The chain's next usable model after `model` (from its start when `model` is not in it).
    fn next_in_chain(&self, model: &str, chain: &[String]) -> Option<String> {
        let start = chain.iter().position(|m| m == model).map_or(0, |i| i + 1);
        let exhausted = self.exhausted.lock().unwrap_or_else(|p| p.into_inner());
        chain[start..].iter().find(|m| *m != model && !exhausted.contains(*m)).cloned()
    }

    /// Marks `model` as one no call should use any more.
    fn exhaust(&self, model: &str) {
        if let Ok(mut e) = self.exhausted.lock() {
            e.insert(model.to_owned());
        }
    }

    /// Whether the move `from` → `to` is told for the first time.
    fn first_told(&self, from: &str, to: &str) -> bool {
        self.told.lock().map(|mut t| t.insert((from.to_owned(), to.to_owned()))).unwrap_or(false)
    }

    /// Where a call whose attempt on `model` failed with `error` goes next, if the chain says
    /// so: a spent quota or unknown model moves at once; a provider that is down moves only
    /// once the retries gave up (`gave_up`).
    fn fallback_for(
        &self,
        model: &str,
        chain: &[String],
        error: &ApiError,
        gave_up: bool,
    ) -> Option<(String, FallbackReason)> {
        let reason = match error {
            ApiError::QuotaExhausted { .. } => FallbackReason::QuotaSpent,
            ApiError::ModelNotFound { .. } => FallbackReason::ModelUnknown,
            e if gave_up && e.is_retryable() => {
                FallbackReason::ProviderDown(e.clone().from_provider(self.providers.split(model).0))
            }
            _ => return None,
        };
        let next = self.next_in_chain(model, chain)?;
        if reason.is_lasting() {
            self.exhaust(model);
        }
        Some((next, reason))
    }
}

/// What one attempt produced.
struct Attempt {
    finish: FinishReason,
    usage: Option<UsageMetadata>,
    first_token: Option<Duration>,
}

async fn run_call(
    inner: Arc<Inner>,
    call: Call,
    chain: Vec<String>,
    tx: mpsc::UnboundedSender<CallEvent>,
    token: CancellationToken,
) {
    let metrics = &inner.metrics;
    let started = Instant::now();
    let mut model = inner.route(&call.model, &chain);
    let mut waited = Duration::ZERO;
    let mut queued = true;
    let mut attempt = 0;
    // Attempts spent on models the call has left.
    let mut skipped = 0;
    // The answer's total deadline, from its first attempt's start.
    let total = inner.config.total_timeout;
    let mut deadline: Option<Instant> = None;
    let timed_out =
        || CallEvent::Failed(ApiError::Timeout { phase: TimeoutPhase::Total, after: total.unwrap_or_default() });
    let last = loop {
        attempt += 1;
        let gate = inner.gate(&model);
        let permit = tokio::select! {
            biased;
            _ = token.cancelled() => break CallEvent::Cancelled,
            _ = passed(deadline) => break timed_out(),
            permit = async {
                gate.pass().await;
                inner.permits.clone().acquire_owned().await
            } => permit,
        };
        if std::mem::take(&mut queued) {
            metrics.queued(-1);
        }
        if deadline.is_none() {
            deadline = total.map(|t| Instant::now() + t);
        }
        metrics.started();
        let _ = tx.unbounded_send(CallEvent::Started { attempt, model: model.clone() });
        let mut had_text = false;
        // A fallback model may refuse the thinking chosen for the first: it then thinks at its
        // own default (thought summaries stay asked for).
        let refitted = refit(&inner.providers, &call.request, &call.model, &model);
        let request = refitted.as_ref().unwrap_or(&call.request);
        let result = tokio::select! {
            biased;
            _ = token.cancelled() => None,
            _ = passed(deadline) => Some(None),
            result = run_attempt(&inner.providers, &model, request, &tx, started, &mut had_text) => Some(Some(result)),
        };
        drop(permit);
        metrics.attempt_over();
        let error = match result {
            None => break CallEvent::Cancelled,
            Some(None) => break timed_out(),
            Some(Some(Ok(done))) => {
                let usage = done.usage.unwrap_or_default();
                metrics.succeeded(
                    started.elapsed(),
                    done.first_token,
                    usage.prompt_token_count,
                    usage.candidates_token_count,
                );
                break CallEvent::Finished { finish: done.finish, model, first_token: done.first_token };
            }
            Some(Some(Err(error))) => error,
        };
        // Each model of the chain gets the full number of attempts.
        let decision = inner.config.retry.decide(&error, attempt - skipped, waited, fastrand::f64());
        // Told as the model's provider says it (not "Gemini" for another provider's model).
        let provider = inner.providers.split(&model).0.to_owned();
        let gave_up = decision == Decision::GiveUp;
        if let Some((next, reason)) = inner.fallback_for(&model, &chain, &error, gave_up) {
            let first = inner.first_told(&model, &next);
            let _ =
                tx.unbounded_send(CallEvent::FallbackModel { from: model.clone(), to: next.clone(), first, reason });
            model = next;
            (skipped, waited) = (attempt, Duration::ZERO);
            if had_text {
                let _ = tx.unbounded_send(CallEvent::Restarted { attempt: attempt + 1 });
            }
            continue;
        }
        let wait = match decision {
            Decision::GiveUp => break CallEvent::Failed(error.from_provider(&provider)),
            Decision::RetryAfter(wait) => wait,
        };
        // A rate limit, or any status that names its own delay, holds back every call of the model.
        if matches!(error, ApiError::RateLimited { .. }) || error.retry_after().is_some() {
            gate.cool_down(Instant::now() + wait);
        }
        metrics.retried();
        if had_text {
            let _ = tx.unbounded_send(CallEvent::Restarted { attempt: attempt + 1 });
        }
        // Numbered within the model's own attempts (a fallback model starts again at 2).
        let (next, reason) = (attempt - skipped + 1, error.from_provider(&provider));
        let _ = tx.unbounded_send(CallEvent::Retrying { attempt: next, after: wait, reason });
        tokio::select! {
            biased;
            _ = token.cancelled() => break CallEvent::Cancelled,
            _ = passed(deadline) => break timed_out(),
            _ = tokio::time::sleep(wait) => {}
        }
        waited += wait;
    };
    if std::mem::take(&mut queued) {
        metrics.queued(-1);
    }
    match &last {
        CallEvent::Failed(_) => metrics.failed(),
        CallEvent::Cancelled => metrics.cancelled(),
        _ => {}
    }
    let _ = tx.unbounded_send(last);
}

/// `request` (made for `made_for`) without the thinking choice `model`'s provider refuses;
/// `None` when it may go as it is.
fn refit(providers: &ProviderSet, request: &Request, made_for: &str, model: &str) -> Option<Request> {
    request.params.thinking?;
    if made_for == model {
        return None;
    }
    let (provider, id) = providers.resolve(model);
    provider.check_params(id, &request.params).is_err().then(|| {
        let mut refitted = request.clone();
        refitted.params.thinking = None;
        refitted
    })
}

/// Resolves once `deadline` has passed; never without one.
async fn passed(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Streams one attempt, forwarding text as it arrives.
async fn run_attempt(
    providers: &ProviderSet,
    model: &str,
    request: &Request,
    tx: &mpsc::UnboundedSender<CallEvent>,
    call_started: Instant,
    had_text: &mut bool,
) -> Result<Attempt, ApiError> {
    let (provider, id) = providers.resolve(model);
    let mut stream = provider.stream_generate(id, request).await?;
    let mut usage = None;
    let mut finish = None;
    let mut first_token = None;
    let mut version: Option<String> = None;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Text(text) => {
                *had_text = true;
                first_token.get_or_insert_with(|| call_started.elapsed());
                let _ = tx.unbounded_send(CallEvent::Text(text));
            }
            StreamEvent::Usage(u) => {
                usage = Some(u);
                let _ = tx.unbounded_send(CallEvent::Usage(u));
            }
            StreamEvent::Finished(reason) => finish = Some(reason),
            StreamEvent::Thought(text) => {
                let _ = tx.unbounded_send(CallEvent::Thought(text));
            }
            StreamEvent::Grounding(grounding) => {
                let _ = tx.unbounded_send(CallEvent::Grounding(grounding));
            }
            StreamEvent::ToolCall(call) => {
                let _ = tx.unbounded_send(CallEvent::ToolCall(call));
            }
            StreamEvent::ModelVersion(v) => {
                // Every chunk names it: passed on once.
                if version.as_deref() != Some(v.as_str()) {
                    version = Some(v.clone());
                    let _ = tx.unbounded_send(CallEvent::ModelVersion(v));
                }
            }
        }
    }
    let finish = finish.ok_or_else(|| ApiError::Truncated { detail: "no finish reason was sent".to_owned() })?;
    Ok(Attempt { finish, usage, first_token })
}

#[cfg(test)]
mod tests;
