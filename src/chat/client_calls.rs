//! Functions a caller runs itself (`geminal serve`'s clients): a turn that offers them ends
//! with the model's calls, saved with the answer, each under an id the caller answers it by;
//! the caller's next turn is made of the results ([`ChatSession::answer_calls`]): they are saved
//! as the calls' ends and sent after the calls (ids and signatures restored from the history).
//! Data only: the front end words the errors.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::prepare::Prepared;
use super::session::ChatSession;
use super::turn_state::TurnState;
use super::{Author, SavedCall};
use crate::store::{NewToolCall, Parent, StoreError, ToolCallEnd};

/// What a caller sends back for one call it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// The id the call was given to the caller by.
    pub id: String,
    /// The call's signature, when the caller kept it (else the history's is used).
    pub signature: Option<String>,
    /// `functionResponse.response`: a JSON object.
    pub response: Value,
}

/// Why a turn of results cannot go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallsError {
    /// The conversation does not end with an answer that called functions.
    #[error("the conversation's last answer called no function")]
    NoCalls,
    /// A result names a call the last answer did not make.
    #[error("no call has the id {0}")]
    UnknownCall(String),
    /// A call of the last answer has no result.
    #[error("the call {0} has no result")]
    NoResult(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The id a call is known by to its caller: the model's, else one never given before (answer
/// ids are never reused; without a saved answer, a random one).
fn caller_id(wire_id: Option<&str>, answer: Option<i64>, n: usize) -> String {
    match (wire_id, answer) {
        (Some(id), _) => id.to_owned(),
        (None, Some(answer)) => format!("call_{answer}_{}", n + 1),
        (None, None) => format!("call_{:016x}", fastrand::u64(..)),
    }
}

impl ChatSession {
    /// The calls a finished answer (`message_id`) of a turn that offers a caller's functions
    /// ended with, saved with it (pending: the caller runs them), as the caller gets them: each
    /// with the id the caller answers it by (the model's, else one given here, never reused).
    pub(super) async fn client_calls(
        &self,
        turn: &super::Turn,
        state: &TurnState,
        message_id: Option<i64>,
        save_error: &Arc<Mutex<Option<StoreError>>>,
    ) -> Vec<crate::llm::ToolCall> {
        let offered = turn.tools.iter().any(|t| matches!(t, crate::llm::ToolSpec::Function { .. }));
        if !offered || state.tool_calls().is_empty() {
            return Vec::new();
        }
        let text_offset = i64::try_from(state.text().len()).unwrap_or(i64::MAX);
        let mut rows = Vec::new();
        let calls = state
            .tool_calls()
            .iter()
            .enumerate()
            .map(|(n, (call, _))| {
                let id = caller_id(call.wire_id.as_deref(), message_id, n);
                rows.push(NewToolCall {
                    round: 1,
                    call_id: id.clone(),
                    wire_id: call.wire_id.clone(),
                    server: None,
                    name: call.name.clone(),
                    arguments: call.arguments.to_string(),
                    signature: call.signature.clone(),
                    text_offset,
                });
                crate::llm::ToolCall {
                    id: Some(id),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                    signature: call.signature.clone(),
                }
            })
            .collect();
        if let (Some(store), Some(id)) = (self.store.as_ref().filter(|_| self.options.save), message_id)
            && let Err(e) = store.call_grouped(move |s| s.add_tool_calls(id, &rows).map(|_| ())).await
            && let Ok(mut slot) = save_error.lock()
        {
            slot.get_or_insert(e);
        }
        calls
    }

    /// Makes `prepared` (a turn continuing a saved conversation, its prompt empty) the turn
    /// that answers the calls its last answer ended with by `results`: every call needs its
    /// result, and every result a call. The results are saved as the calls' ends before
    /// anything is sent; the answer is saved after the one that called.
    pub async fn answer_calls(&self, prepared: &mut Prepared, results: Vec<CallResult>) -> Result<(), CallsError> {
        let Parent::Message(answer_id) = prepared.parent else { return Err(CallsError::NoCalls) };
        let last = prepared.turn.history.last_mut().filter(|m| m.role == Author::Model && !m.tool_calls.is_empty());
        let Some(last) = last else { return Err(CallsError::NoCalls) };
        let round = last.tool_calls.iter().map(|c| c.round).max().unwrap_or(1);
        let calls: Vec<&mut SavedCall> = last.tool_calls.iter_mut().filter(|c| c.round == round).collect();
        if let Some(result) = results.iter().find(|r| !calls.iter().any(|c| c.call_id == r.id)) {
            return Err(CallsError::UnknownCall(result.id.clone()));
        }
        let mut ends = Vec::new();
        for call in calls {
            let Some(result) = results.iter().find(|r| r.id == call.call_id) else {
                return Err(CallsError::NoResult(call.call_id.clone()));
            };
            call.response = result.response.clone();
            if call.signature.is_none() {
                call.signature.clone_from(&result.signature);
            }
            if let Some(row) = call.row {
                let end = ToolCallEnd {
                    status: "ok".to_owned(),
                    result: Some(result.response.to_string()),
                    error_kind: None,
                    error_detail: None,
                    media: Vec::new(),
                };
                ends.push((row, end));
            }
        }
        if let Some(store) = self.store.as_ref().filter(|_| self.options.save && !ends.is_empty()) {
            store.call_grouped(move |s| ends.iter().try_for_each(|(row, end)| s.end_tool_call(*row, end))).await?;
        }
        prepared.turn.answers_calls = true;
        prepared.prompt_id = Some(answer_id);
        prepared.fresh = true;
        Ok(())
    }
}
