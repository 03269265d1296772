//! What both APIs do with a request once they have read it: the key's budget and model, its
//! limits and a place, the conversation it continues (found or saved once), and the turn run
//! through the [`crate::turn::Runner`] for the client ([`Answer`]), its conversation tagged with
//! the client's name.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, header};

use super::limits::{Limited, Place};
use super::reject::{Reject, Why};
use super::{Client, ROLE_PREFIX, Served};
use serde_json::Value;

use crate::chat::{CallResult, CallsError, Outcome, Settings, Shown, Target, TurnReport};
use crate::domain::Role;
use crate::llm::{ToolChoice, ToolSpec};
use crate::store::{ClientRound, NewToolCall, ToolCallEnd};
use crate::turn::{BudgetPolicy, Refused, RoleChoice, System, TurnHandle, TurnSpec, Update};

/// Starts the turn a client asked for: `model` as the client named it, `tokens` the prompt's
/// estimate (for the key's tpm).
pub(super) async fn begin(
    served: &Arc<Served>,
    headers: &HeaderMap,
    client: &Client,
    model_ref: &str,
    asked: Asked,
    settings: Settings,
    tokens: u32,
) -> Result<Answer, Reject> {
    if !client.limits.allows(model_ref) {
        return Err(Reject::new(
            Why::ModelNotAllowed,
            format!("This key may not use the model {:?}.", crate::sanitize::one_line(model_ref, 80)),
        ));
    }
    let (model, role) = model_choice(served, model_ref)?;
    // A history saved now is saved with the model that will answer it: the one named, else the
    // role's, else the server's default (never `role:NAME`, which no provider serves).
    let role_model = match &role {
        RoleChoice::Use(role) => role.model.clone(),
        _ => None,
    };
    let saved_model = model.clone().or(role_model).unwrap_or_else(|| served.default_model.clone());
    let key_hold = key_budget(served, client, &saved_model, tokens, settings.max_tokens).await?;
    let (permit, place) = admit(served, client, tokens).await?;
    let target = target(served, client, &asked, &saved_model).await?;
    let no_cache = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|d| matches!(d.trim(), "no-cache" | "no-store")));
    // A turn with functions is what they say at that moment: never answered from the cache.
    let with_functions = !asked.functions.is_empty() || asked.results.is_some();
    let runner = if no_cache || with_functions { &served.fresh } else { &served.runner };
    let spec = TurnSpec {
        model,
        keep_model: false,
        // A role's prompt stands unless the client sends a system message of its own.
        system: match &asked.system {
            Some(system) => System::Set(Some(system.clone())),
            None => System::Default(None),
        },
        role,
        settings,
        budget: BudgetPolicy::per_turn(served.budgets, false),
        client_tools: asked.functions,
        tool_choice: asked.tool_choice,
        call_results: asked.results,
        ..TurnSpec::new(target, asked.prompt)
    };
    let turn = runner.start(spec);
    Ok(Answer {
        served: served.clone(),
        client: client.name.clone(),
        model: model_ref.to_owned(),
        turn,
        started: Instant::now(),
        first_text: None,
        tagged: None,
        early: std::collections::VecDeque::new(),
        _held: (permit, place, key_hold),
    })
}

/// How an answer that was given ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Finish {
    Stop,
    /// At the output limit (`max_tokens`).
    Length,
    /// Stopped by the provider's safety or recitation checks.
    Filtered,
}

impl Finish {
    pub(super) fn openai(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Filtered => "content_filter",
        }
    }

    pub(super) fn google(self) -> &'static str {
        match self {
            Finish::Stop => "STOP",
            Finish::Length => "MAX_TOKENS",
            Finish::Filtered => "SAFETY",
        }
    }
}

/// How an answer ended: given (whole or cut by the provider, as both APIs say in their finish
/// reason), or not — a provider's failure, or the server stopping it.
pub(super) fn ended(outcome: &Outcome) -> Result<Finish, Reject> {
    let innermost = |mut e: &crate::llm::ApiError| {
        while let crate::llm::ApiError::Via { error, .. } = e {
            e = error;
        }
        e.clone()
    };
    match outcome {
        Outcome::Complete => Ok(Finish::Stop),
        Outcome::Failed(error) => match innermost(error) {
            crate::llm::ApiError::AnswerStopped { reason: crate::llm::StopReason::MaxTokens } => Ok(Finish::Length),
            crate::llm::ApiError::AnswerStopped { .. } => Ok(Finish::Filtered),
            _ => Err(Reject::upstream(error)),
        },
        Outcome::Cancelled => Err(Reject::new(
            Why::ShuttingDown,
            "The server stopped before the answer was complete (what came is saved).",
        )),
    }
}

/// The request's body, read whole within `[serve] body_timeout_secs` and `max_body_bytes`
/// (after the key is checked: nobody unknown makes the server hold a large body).
pub(super) async fn read_body(served: &Served, body: axum::body::Body) -> Result<axum::body::Bytes, Reject> {
    let read = axum::body::to_bytes(body, served.limits.max_body_bytes);
    match tokio::time::timeout(served.limits.body_timeout, read).await {
        Err(_) => Err(Reject::new(Why::SlowClient, "The request body did not arrive in time: send it at once.")),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                Err(Reject::new(Why::TooLarge, "The request body is larger than this server takes."))
            } else {
                Err(bad("The request body could not be read."))
            }
        }
    }
}

/// A prompt's tokens, estimated from its characters (about four each).
pub(super) fn estimate_tokens(chars: usize) -> u32 {
    u32::try_from(chars / 4 + 1).unwrap_or(u32::MAX)
}

pub(super) fn bad(message: impl Into<String>) -> Reject {
    Reject::new(Why::BadRequest, message)
}

/// What a request asks, as a turn: the system prompt, the history before the prompt, the prompt.
#[derive(Default)]
pub(super) struct Asked {
    pub system: Option<String>,
    pub history: Vec<(Role, String)>,
    /// The calls answers of the history ended with (by index), with their results.
    pub calls: Vec<(usize, ClientRound)>,
    /// Empty when the request ends with results.
    pub prompt: String,
    /// The results of the calls the history's last answer ended with, which are the prompt.
    pub results: Option<Vec<CallResult>>,
    /// The client's functions, offered to the model.
    pub functions: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
}

/// A call a client sent back (in an answer of its history), to save.
pub(super) fn sent_call(id: &str, name: &str, arguments: &Value, signature: Option<String>, at: usize) -> NewToolCall {
    NewToolCall {
        round: 1,
        call_id: id.to_owned(),
        wire_id: Some(id.to_owned()),
        server: None,
        name: name.to_owned(),
        arguments: arguments.to_string(),
        signature,
        text_offset: i64::try_from(at).unwrap_or(i64::MAX),
    }
}

/// A result a client sent, as saved with its call.
pub(super) fn sent_end(response: &Value) -> ToolCallEnd {
    ToolCallEnd {
        status: "ok".to_owned(),
        result: Some(response.to_string()),
        error_kind: None,
        error_detail: None,
        media: Vec::new(),
    }
}

/// Seconds since the epoch.
pub(super) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn wait_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil() as u64
}

/// The key's limits, then a place (or the queue).
async fn admit(served: &Served, client: &Client, tokens: u32) -> Result<(super::limits::KeyPermit, Place), Reject> {
    let permit = served.limiter.admit(&client.name, &client.limits, tokens).map_err(|limited| match limited {
        Limited::Rpm(wait) => {
            Reject::new(Why::RateLimited, "This key's requests a minute are used up.").retry_after(wait_secs(wait))
        }
        Limited::Tpm(wait) => {
            Reject::new(Why::RateLimited, "This key's tokens a minute are used up.").retry_after(wait_secs(wait))
        }
        Limited::Concurrent => {
            Reject::new(Why::RateLimited, "This key has as many answers running as it may.").retry_after(1)
        }
        Limited::TooManyTokens => bad("The request is longer than this key's tokens a minute allow."),
    })?;
    // Once the server is stopping, nothing new starts (nor leaves the queue).
    let stopping = || Reject::new(Why::ShuttingDown, "The server is stopping: try again shortly.").retry_after(1);
    if served.stopping.is_cancelled() {
        return Err(stopping());
    }
    let place = tokio::select! {
        place = served.slots.take() => {
            place.ok_or_else(|| Reject::new(Why::Busy, "The server is busy: try again shortly.").retry_after(1))?
        }
        () = served.stopping.cancelled() => return Err(stopping()),
    };
    Ok((permit, place))
}

/// The key's own budgets (`daily_budget`, `monthly_budget`), against what its answers cost.
/// A key with a budget: what its answers spent and what those running hold leave something,
/// or the request is refused. The answer holds its worst case (`model`, about `tokens` in, at
/// most `max_output` out) until it ends, as an interactive turn holds the global budgets.
async fn key_budget(
    served: &Served,
    client: &Client,
    model: &str,
    tokens: u32,
    max_output: Option<u32>,
) -> Result<Option<KeyHold>, Reject> {
    let (daily, monthly) = (client.limits.daily_budget, client.limits.monthly_budget);
    if daily.is_none() && monthly.is_none() {
        return Ok(None);
    }
    let Some(store) = served.runner.session().store() else { return Ok(None) };
    let name = client.name.clone();
    let Ok(mut spent) = store.read(move |s| s.client_spending(&name)).await else { return Ok(None) };
    let worst = served.runner.session().options().prices.worst_case(model, u64::from(tokens), max_output);
    let Ok(mut holds) = served.key_holds.lock() else { return Ok(None) };
    let held = holds.get(&client.name).copied().unwrap_or_default();
    (spent.today, spent.month) = (spent.today.saturating_add(held), spent.month.saturating_add(held));
    if let crate::money::BudgetCheck::Over(_) = crate::money::check_budgets(spent, daily, monthly) {
        let sentence = if held > crate::money::Usd::ZERO {
            "This key's budget is spent or held by its answers running now: nothing was sent."
        } else {
            "This key's budget is spent: nothing was sent."
        };
        return Err(Reject::new(Why::Budget, sentence));
    }
    let amount = worst.unwrap_or_default();
    let entry = holds.entry(client.name.clone()).or_default();
    *entry = entry.saturating_add(amount);
    Ok(Some(KeyHold { holds: served.key_holds.clone(), client: client.name.clone(), amount }))
}

/// What a running answer holds of its key's budgets; given back when it ends (dropped).
pub(super) struct KeyHold {
    holds: Arc<std::sync::Mutex<std::collections::HashMap<String, crate::money::Usd>>>,
    client: String,
    amount: crate::money::Usd,
}

impl Drop for KeyHold {
    fn drop(&mut self) {
        if let Ok(mut holds) = self.holds.lock()
            && let Some(held) = holds.get_mut(&self.client)
        {
            *held = held.saturating_sub(self.amount);
            if *held == crate::money::Usd::ZERO {
                holds.remove(&self.client);
            }
        }
    }
}

/// The model a request names: a role (`role:NAME`) or a model reference.
fn model_choice(served: &Served, model: &str) -> Result<(Option<String>, RoleChoice), Reject> {
    if let Some(name) = model.strip_prefix(ROLE_PREFIX) {
        let role = served.roles.iter().find(|r| r.name == name).ok_or_else(|| {
            Reject::new(
                Why::ModelNotFound,
                format!("There is no role {:?} on this server.", crate::sanitize::one_line(name, 60)),
            )
        })?;
        return Ok((None, RoleChoice::Use(Box::new(role.clone()))));
    }
    if model.trim().is_empty() {
        return Err(bad("The model is missing."));
    }
    Ok((Some(model.to_owned()), RoleChoice::Nothing))
}

/// Where the turn goes: the client's stored conversation holding exactly the history sent, or
/// that history saved now as a new one (a first turn: a new conversation).
async fn target(served: &Served, client: &Client, asked: &Asked, model: &str) -> Result<Target, Reject> {
    if asked.history.is_empty() {
        return Ok(Target::New);
    }
    let Some(store) = served.runner.session().store() else {
        return Err(bad("This server keeps no history, so it cannot continue a conversation."));
    };
    let storage = |e: crate::store::StoreError| storage_reject(&e);
    let (name, system, history, calls) =
        (client.name.clone(), asked.system.clone(), asked.history.clone(), asked.calls.clone());
    let found = store
        .read(move |s| s.find_client_conversation(&name, system.as_deref(), &history, &calls))
        .await
        .map_err(storage)?;
    if let Some(id) = found {
        return Ok(Target::Conversation(id));
    }
    let (name, system, history, calls, model) =
        (client.name.clone(), asked.system.clone(), asked.history.clone(), asked.calls.clone(), model.to_owned());
    let id = store
        .call(move |s| s.import_client_conversation(&name, &model, system.as_deref(), &history, &calls))
        .await
        .map_err(storage)?;
    Ok(Target::Conversation(id))
}

fn storage_reject(e: &crate::store::StoreError) -> Reject {
    Reject::new(
        Why::Upstream(crate::error_data::ErrorKind::Storage),
        format!("The history could not be read or written ({e})."),
    )
}

/// Tags the conversation a turn saved with its client.
pub(super) async fn tag(served: &Served, client: &str, conversation: i64) {
    if let Some(store) = served.runner.session().store() {
        let client = client.to_owned();
        let _ = store.call(move |s| s.set_conversation_client(conversation, &client)).await;
    }
}

pub(super) fn refused(refused: Refused) -> Reject {
    match refused {
        Refused::Budget(_) => Reject::new(Why::Budget, "A budget of this server is spent: nothing was sent."),
        Refused::Chat(crate::chat::ChatError::Api(e)) | Refused::Timeout(e) => Reject::upstream(&e),
        Refused::Chat(e) => bad(e.to_string()),
        Refused::Settings(e) => bad(e.to_string()),
        Refused::Context(e) => bad(e.to_string()),
        // Served turns offer no MCP tools: a listing never fails for them.
        Refused::Tools(e) => bad(e.to_string()),
        Refused::Calls(e) => bad(match e {
            CallsError::NoCalls => {
                "The tool results answer no function call of the conversation's last answer.".to_owned()
            }
            CallsError::UnknownCall(id) => format!(
                "The tool result for {:?} matches no call of the last answer: answer its calls by their ids.",
                crate::sanitize::one_line(&id, 80)
            ),
            CallsError::NoResult(id) => format!(
                "The function call {:?} has no result: send one for every call of the last answer.",
                crate::sanitize::one_line(&id, 80)
            ),
            CallsError::Store(e) => return storage_reject(&e),
        }),
    }
}

/// A turn running for a client, with the places it holds.
pub(super) struct Answer {
    pub served: Arc<Served>,
    pub client: String,
    /// The model as the client named it.
    pub model: String,
    turn: TurnHandle,
    /// When the request was admitted, and how long until its first text.
    started: Instant,
    first_text: Option<Duration>,
    /// The conversation already tagged with the client (one write per conversation).
    tagged: Option<i64>,
    /// Updates read before the response's headers went out ([`Answer::cached`]), given again.
    early: std::collections::VecDeque<Update>,
    _held: (super::limits::KeyPermit, Place, Option<KeyHold>),
}

pub(super) fn cache_header(cached: bool) -> HeaderValue {
    HeaderValue::from_static(if cached { "hit" } else { "miss" })
}

/// A streamed answer's response: `events` as server-sent events, saying whether it was `cached`.
pub(super) fn event_stream<S>(events: S, cached: bool) -> axum::response::Response
where
    S: futures::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
{
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-geminal-cache", cache_header(cached));
    response
}

impl Answer {
    /// The next update the client should hear of; a second SIGTERM cancels the turn.
    pub(super) async fn next(&mut self) -> Option<Update> {
        match self.early.pop_front() {
            Some(update) => Some(update),
            None => self.read().await,
        }
    }

    /// The turn's next update (tagging the conversation, timing the first text).
    async fn read(&mut self) -> Option<Update> {
        loop {
            let cancel = self.served.cancel.clone();
            let update = tokio::select! {
                biased;
                update = self.turn.next() => update,
                () = cancel.cancelled(), if !self.turn.canceller().is_cancelled() => {
                    self.turn.cancel();
                    continue;
                }
            };
            let update = update?.update;
            match &update {
                Update::Shown(Shown::Saved { conversation_id, .. }) => self.tag(*conversation_id).await,
                Update::Shown(Shown::Text(_)) if self.first_text.is_none() => {
                    self.first_text = Some(self.started.elapsed());
                }
                _ => {}
            }
            return Some(update);
        }
    }

    /// Whether the answer comes from the cache, known before its first text (so a streamed
    /// response can say it in its headers); the updates read until then come again from
    /// [`Answer::next`]. A turn that ends first says it in its report (or was not answered).
    pub(super) async fn cached(&mut self) -> bool {
        let mut cached = false;
        while let Some(update) = self.read().await {
            let known = match &update {
                Update::Shown(Shown::Answering { cached: hit }) => {
                    cached = *hit;
                    true
                }
                Update::Done(report) => {
                    cached = report.cached;
                    true
                }
                Update::Refused(_) => true,
                _ => false,
            };
            self.early.push_back(update);
            if known {
                break;
            }
        }
        cached
    }

    /// Tags conversation `id` with the client, once.
    async fn tag(&mut self, id: i64) {
        if self.tagged != Some(id) {
            tag(&self.served, &self.client, id).await;
            self.tagged = Some(id);
        }
    }

    /// The turn ended with `report`: its conversation tagged, the metrics counted.
    pub(super) async fn finished(&mut self, report: &TurnReport) {
        if let Some(id) = report.conversation_id {
            self.tag(id).await;
        }
        let took = self.started.elapsed();
        self.served.metrics.answered(&self.client, &self.model, report, took, self.first_text);
    }

    /// The whole answer's report, or why there is none.
    pub(super) async fn report(mut self) -> Result<TurnReport, Reject> {
        while let Some(update) = self.next().await {
            match update {
                Update::Refused(refusal) => return Err(refused(refusal)),
                Update::Done(report) => {
                    self.finished(&report).await;
                    ended(&report.outcome)?;
                    return Ok(*report);
                }
                _ => {}
            }
        }
        Err(Reject::upstream(&crate::llm::ApiError::Protocol { detail: "the answer ended unexpectedly".into() }))
    }
}
