//! A turn's tool rounds as the session runs them: the tools offered ([`TurnTools`]), each call
//! of a round saved before it runs, decided (trusted or `--approve-tools` → run; else the
//! approver, all of a round's untrusted calls at once; no approver → refused), the approved ones
//! run concurrently under the turn's cancel token, each result saved and shown the moment it
//! returns and fed to the turn's state. Also how a call's end is stored and read back, and what
//! the model is told of a failure.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::session::{ChatSession, Outcome, Shown};
use super::turn_state::{Effect, ToolCall, ToolResult, TurnEvent, TurnState};
use crate::llm::ToolSpec;
use crate::store::{NewToolCall, StoreError, ToolCallEnd};
use crate::tools::{Approval, PendingCall, ToolBox, ToolFailure, ToolInfo, ToolOutput, ToolStep, ToolUse};

/// The tools a turn offers and how they are run.
#[derive(Clone)]
pub struct TurnTools {
    pub toolbox: Arc<dyn ToolBox>,
    /// As listed for this turn (their names are what the model calls).
    pub offered: Vec<ToolInfo>,
    pub using: ToolUse,
    /// The turn's id, for the approver.
    pub turn: u64,
}

impl std::fmt::Debug for TurnTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnTools").field("offered", &self.offered).field("using", &self.using).finish()
    }
}

impl TurnTools {
    /// The offered tools as the request's function specs.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.offered
            .iter()
            .map(|t| ToolSpec::Function {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
            })
            .collect()
    }

    /// Model-tool rounds at most (`max_tool_steps`; 0 stands for the default).
    pub fn max_rounds(&self) -> u32 {
        match self.using.max_steps {
            0 => crate::tools::DEFAULT_MAX_STEPS,
            n => n,
        }
    }

    fn info(&self, name: &str) -> Option<&ToolInfo> {
        self.offered.iter().find(|t| t.name == name)
    }
}

/// What the model is told of a call's end (`functionResponse.response`).
pub fn response_of(result: &Result<ToolOutput, ToolFailure>) -> Result<Value, String> {
    match result {
        Ok(output) if output.is_error => Err(match &output.content {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }),
        Ok(output) => Ok(output.content.clone()),
        Err(failure) => Err(told_to_model(failure)),
    }
}

/// A failure in a sentence the model can act on.
pub fn told_to_model(failure: &ToolFailure) -> String {
    match failure {
        ToolFailure::Refused { needs_flag: true } => {
            "This call was not run: it needs the user's approval and no one could be asked.".to_owned()
        }
        ToolFailure::Refused { needs_flag: false } => "The user refused to run this call.".to_owned(),
        ToolFailure::UnknownTool(name) => format!("No tool named {name} is offered; use one of the tools given."),
        ToolFailure::ServerStopped { server, .. } => format!("The tool's server {server} stopped."),
        ToolFailure::TimedOut(secs) => format!("The call timed out after {secs} s."),
        ToolFailure::Cancelled => "The call was cancelled.".to_owned(),
        ToolFailure::Failed(message) => format!("The tool failed: {message}"),
    }
}

/// How a call's end is stored: a status, the result as sent to the model, a failure as data.
pub fn stored_end(result: &Result<ToolOutput, ToolFailure>) -> ToolCallEnd {
    let sent = match response_of(result) {
        Ok(value) => value,
        Err(error) => json!({ "error": error }),
    };
    let (status, kind, detail) = match result {
        Ok(output) if output.is_error => ("error", None, None),
        Ok(_) => ("ok", None, None),
        Err(failure) => {
            let (kind, detail) = failure_columns(failure);
            (kind, Some(kind), Some(detail))
        }
    };
    ToolCallEnd {
        status: status.to_owned(),
        result: Some(sent.to_string()),
        error_kind: kind.map(str::to_owned),
        error_detail: detail.map(|d| d.to_string()),
        media: match result {
            Ok(output) => output.media.iter().map(|m| (m.mime.clone(), m.bytes.to_vec())).collect(),
            Err(_) => Vec::new(),
        },
    }
}

fn failure_columns(failure: &ToolFailure) -> (&'static str, Value) {
    match failure {
        ToolFailure::Refused { needs_flag } => ("refused", json!({ "needs_flag": needs_flag })),
        ToolFailure::UnknownTool(name) => ("unknown_tool", json!({ "name": name })),
        ToolFailure::ServerStopped { server, last_stderr } => {
            ("server_stopped", json!({ "server": server, "last_stderr": last_stderr }))
        }
        ToolFailure::TimedOut(secs) => ("timed_out", json!({ "secs": secs })),
        ToolFailure::Cancelled => ("cancelled", json!({})),
        ToolFailure::Failed(message) => ("failed", json!({ "message": message })),
    }
}

/// A stored failure back as data (`None`: a kind this version does not know).
pub fn failure_from_stored(kind: &str, detail: Option<&str>) -> Option<ToolFailure> {
    let detail: Value = detail.and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
    let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(match kind {
        "refused" => ToolFailure::Refused { needs_flag: detail["needs_flag"].as_bool().unwrap_or(false) },
        "unknown_tool" => ToolFailure::UnknownTool(text("name").unwrap_or_default()),
        "server_stopped" => {
            ToolFailure::ServerStopped { server: text("server").unwrap_or_default(), last_stderr: text("last_stderr") }
        }
        "timed_out" => ToolFailure::TimedOut(detail["secs"].as_u64().unwrap_or(0)),
        "cancelled" => ToolFailure::Cancelled,
        "failed" => ToolFailure::Failed(text("message").unwrap_or_default()),
        _ => return None,
    })
}

/// Where a round's effects land: the session's bookkeeping while the turn runs.
pub(super) struct RoundCtx<'a> {
    pub state: &'a mut TurnState,
    pub show: &'a mut (dyn FnMut(Shown) + Send),
    pub message_id: Option<i64>,
    pub conversation_id: Option<i64>,
    pub save_error: &'a Arc<Mutex<Option<StoreError>>>,
    pub cache_it: &'a mut bool,
    pub next: &'a mut Option<bool>,
    pub started: Instant,
}

impl ChatSession {
    /// Runs round `round`'s `calls`: saved, shown, decided, run; each result saved, shown and
    /// fed to the state as it returns. `Some(outcome)` when the turn ended meanwhile (stopped,
    /// cancelled, past its deadline); else the state asked for the next round (`ctx.next`).
    pub(super) async fn run_round<F>(
        &self,
        tools: &TurnTools,
        round: u32,
        calls: Vec<ToolCall>,
        ctx: &mut RoundCtx<'_>,
        cancel: &mut Pin<&mut F>,
    ) -> Option<Outcome>
    where
        F: std::future::Future<Output = TurnEvent>,
    {
        // Saved before anything runs.
        let rows = self.save_calls(tools, round, &calls, ctx).await;
        for call in &calls {
            let server = tools.info(&call.name).map(|t| t.server.clone()).unwrap_or_default();
            (ctx.show)(Shown::Tool(ToolStep::Called {
                id: call.id.clone(),
                server,
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
            }));
        }
        // Decided: each call runs (`None`) or has its end already.
        let mut decided: Vec<Option<Result<ToolOutput, ToolFailure>>> = Vec::with_capacity(calls.len());
        let mut ask = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            match tools.info(&call.name) {
                None => decided.push(Some(Err(ToolFailure::UnknownTool(call.name.clone())))),
                Some(info) if info.trusted || tools.using.approve_all => decided.push(None),
                Some(info) => {
                    decided.push(Some(Err(ToolFailure::Refused { needs_flag: true })));
                    ask.push((
                        i,
                        PendingCall {
                            id: call.id.clone(),
                            server: info.server.clone(),
                            tool: call.name.clone(),
                            arguments: call.arguments.clone(),
                        },
                    ));
                }
            }
        }
        if let (false, Some(approver)) = (ask.is_empty(), &tools.using.approver) {
            let pending: Vec<PendingCall> = ask.iter().map(|(_, p)| p.clone()).collect();
            let conversation = ctx.conversation_id.unwrap_or(0);
            let answers = tokio::select! {
                answers = approver.approve(tools.turn, conversation, &pending) => answers,
                event = cancel.as_mut() => {
                    let ends = calls.iter().map(|_| Err(ToolFailure::Cancelled)).collect();
                    return self.end_turn_in_round(&calls, &rows, ends, event, ctx).await;
                }
            };
            let mut stop = false;
            for ((i, _), answer) in ask.iter().zip(answers.into_iter().chain(std::iter::repeat(Approval::Refuse))) {
                match answer {
                    Approval::Run => decided[*i] = None,
                    Approval::Refuse => decided[*i] = Some(Err(ToolFailure::Refused { needs_flag: false })),
                    Approval::Stop => stop = true,
                }
            }
            if stop {
                // The user stopped the turn: nothing of this round runs, and the model is not
                // told anything (the turn ends here), so the calls end cancelled, not refused.
                let ends = calls.iter().map(|_| Err(ToolFailure::Cancelled)).collect();
                return self.end_turn_in_round(&calls, &rows, ends, TurnEvent::Cancelled, ctx).await;
            }
        }
        // The ends known without running go first, then the approved calls run together.
        let token = CancellationToken::new();
        let mut running = FuturesUnordered::new();
        let mut open = vec![false; calls.len()];
        for (i, decision) in decided.into_iter().enumerate() {
            match decision {
                Some(end) => {
                    if let Some(outcome) = self.call_ended(&calls[i], rows.get(i).copied().flatten(), end, ctx).await {
                        return Some(outcome);
                    }
                }
                None => {
                    open[i] = true;
                    let (toolbox, token) = (tools.toolbox.clone(), token.child_token());
                    let (name, arguments) = (calls[i].name.clone(), calls[i].arguments.clone());
                    running.push(async move { (i, toolbox.call(&name, &arguments, token).await) });
                }
            }
        }
        loop {
            if running.is_empty() {
                return None;
            }
            tokio::select! {
                Some((i, end)) = running.next() => {
                    open[i] = false;
                    if let Some(outcome) = self.call_ended(&calls[i], rows.get(i).copied().flatten(), end, ctx).await {
                        return Some(outcome);
                    }
                }
                event = cancel.as_mut() => {
                    // Stopped at once: the running calls are told, and end as cancelled.
                    token.cancel();
                    drop(running);
                    let ends = open.iter().map(|&o| if o { Some(Err(ToolFailure::Cancelled)) } else { None });
                    for (i, end) in ends.enumerate() {
                        if let Some(end) = end {
                            self.save_end(rows.get(i).copied().flatten(), &end, ctx).await;
                            (ctx.show)(Shown::Tool(ToolStep::Returned { id: calls[i].id.clone(), result: end }));
                        }
                    }
                    let effects = ctx.state.handle(event, ctx.started.elapsed());
                    return self.perform_round(effects, ctx).await.or(Some(Outcome::Cancelled));
                }
            }
        }
    }

    /// The turn ends before the round's calls ran: each is saved and shown with `ends`, then
    /// `event` ends the turn.
    async fn end_turn_in_round(
        &self,
        calls: &[ToolCall],
        rows: &[Option<i64>],
        ends: Vec<Result<ToolOutput, ToolFailure>>,
        event: TurnEvent,
        ctx: &mut RoundCtx<'_>,
    ) -> Option<Outcome> {
        for (i, end) in ends.into_iter().enumerate() {
            self.save_end(rows.get(i).copied().flatten(), &end, ctx).await;
            (ctx.show)(Shown::Tool(ToolStep::Returned { id: calls[i].id.clone(), result: end }));
        }
        let effects = ctx.state.handle(event, ctx.started.elapsed());
        self.perform_round(effects, ctx).await.or(Some(Outcome::Cancelled))
    }

    /// One call's end: saved, shown, and fed to the state.
    async fn call_ended(
        &self,
        call: &ToolCall,
        row: Option<i64>,
        end: Result<ToolOutput, ToolFailure>,
        ctx: &mut RoundCtx<'_>,
    ) -> Option<Outcome> {
        self.save_end(row, &end, ctx).await;
        let output = response_of(&end);
        let media = end.as_ref().map(|o| o.media.clone()).unwrap_or_default();
        (ctx.show)(Shown::Tool(ToolStep::Returned { id: call.id.clone(), result: end }));
        let result = ToolResult { id: call.id.clone(), output, media };
        let effects = ctx.state.handle(TurnEvent::ToolResult(result), ctx.started.elapsed());
        self.perform_round(effects, ctx).await
    }

    async fn perform_round(&self, effects: Vec<Effect>, ctx: &mut RoundCtx<'_>) -> Option<Outcome> {
        let mut work = super::session::Work::default();
        let outcome = self.perform(effects, ctx.show, ctx.message_id, ctx.save_error, ctx.cache_it, &mut work).await;
        if let Some(next) = work.next {
            *ctx.next = Some(next);
        }
        outcome
    }

    async fn save_calls(
        &self,
        tools: &TurnTools,
        round: u32,
        calls: &[ToolCall],
        ctx: &mut RoundCtx<'_>,
    ) -> Vec<Option<i64>> {
        let (Some(store), Some(message)) = (&self.store, ctx.message_id) else { return vec![None; calls.len()] };
        let offset = ctx.state.round_text_end() as i64;
        let rows: Vec<NewToolCall> = calls
            .iter()
            .map(|call| NewToolCall {
                round: i64::from(round),
                call_id: call.id.clone(),
                wire_id: call.wire_id.clone(),
                server: tools.info(&call.name).map(|t| t.server.clone()),
                name: call.name.clone(),
                arguments: call.arguments.to_string(),
                signature: call.signature.clone(),
                text_offset: offset,
            })
            .collect();
        match store.call_grouped(move |s| s.add_tool_calls(message, &rows)).await {
            Ok(ids) => ids.into_iter().map(Some).collect(),
            Err(e) => {
                if let Ok(mut slot) = ctx.save_error.lock() {
                    slot.get_or_insert(e);
                }
                vec![None; calls.len()]
            }
        }
    }

    async fn save_end(&self, row: Option<i64>, end: &Result<ToolOutput, ToolFailure>, ctx: &mut RoundCtx<'_>) {
        let (Some(store), Some(row)) = (&self.store, row) else { return };
        let end = stored_end(end);
        if let Err(e) = store.call_grouped(move |s| s.end_tool_call(row, &end)).await
            && let Ok(mut slot) = ctx.save_error.lock()
        {
            slot.get_or_insert(e);
        }
    }
}
