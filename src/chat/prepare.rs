//! Setting a turn up before it runs: which conversation a prompt joins ([`Target`], [`Branch`]),
//! the turn built from the saved branch with its attachments ([`ChatSession::prepare`],
//! [`ChatSession::prepare_branch`]), and the settings and role laid over it ([`Prepared`]).

use std::collections::HashMap;

use super::session::{ChatError, ChatSession};
use super::settings::{Settings, SettingsError};
use super::{Author, Message, Turn};
use crate::attach::{Attachment, AttachmentData};
use crate::store::{MessageStatus, Parent, Store, StoreError, StoredAttachment};

/// Which conversation a prompt belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    New,
    /// The most recently updated conversation (a new one if there is none).
    Last,
    Conversation(i64),
}

/// How a prompt joins a saved conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// After the last message of the branch shown.
    Continue,
    /// A new answer to saved prompt `prompt_id`. It replaces the answer shown, which stays as an
    /// alternative (browsable, never sent to the model again).
    Regenerate { prompt_id: i64 },
    /// A new version of saved prompt `prompt_id`: the conversation goes on from it, and the old
    /// prompt with everything after it stays as a sibling branch.
    Edit { prompt_id: i64 },
}

/// A turn ready to run: its request and where it will be saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub turn: Turn,
    pub conversation_id: Option<i64>,
    /// Ask again even if the answer is cached ("regenerate").
    pub fresh: bool,
    /// Where the prompt is saved in the conversation's tree.
    pub parent: Parent,
    /// The prompt is saved already (a regenerated answer goes under it).
    pub prompt_id: Option<i64>,
    /// The generation settings the turn runs with: the conversation's own (else the session's
    /// defaults), then whatever [`Prepared::configure`] lays over them. Saved with the
    /// conversation, so it continues with them.
    pub settings: Settings,
    /// The role the turn runs with (its name), saved with the conversation: a continued
    /// conversation starts with the role it was saved with.
    pub role: Option<String>,
}

impl Prepared {
    /// Lays `overrides` (flags, a tab's `/set`, a batch line) over the settings, checks them
    /// for the turn's model and makes them the request's parameters and tools. Call it before
    /// [`ChatSession::run`]; a refusal means nothing was sent or saved.
    pub fn configure(&mut self, overrides: &Settings) -> Result<(), SettingsError> {
        let settings = self.settings.with(overrides);
        // The model's own refusals (a thinking choice its family cannot take) come first, as before.
        let params = settings.params()?;
        crate::provider::check_params(&self.turn.model, &params).map_err(SettingsError)?;
        self.turn.params = params;
        self.turn.tools = settings.tool_specs();
        self.settings = settings;
        Ok(())
    }

    /// Makes `role` this turn's: its prompt becomes the system instruction (a template instead
    /// wraps the user's text and gives none) unless `keep_system` (a `--system` flag), its model
    /// is used unless `keep_model` (a `--model` flag), and its settings go under `overrides`
    /// (flags), which [`Prepared::configure`] then applies.
    pub fn use_role(
        &mut self,
        role: &super::NamedRole,
        keep_model: bool,
        keep_system: bool,
        overrides: &Settings,
    ) -> Result<(), SettingsError> {
        if let Some(model) = role.model.as_ref().filter(|_| !keep_model) {
            self.turn.model = model.clone();
        }
        self.continue_role(role, keep_system);
        self.configure(&role.settings.with(overrides))
    }

    /// Goes on with `role` in a conversation saved with it: its prompt (as in
    /// [`Prepared::use_role`]), but the model and settings the conversation saved.
    pub fn continue_role(&mut self, role: &super::NamedRole, keep_system: bool) {
        if role.prompt.is_some() && !keep_system {
            self.turn.system = role.system_instruction().map(str::to_owned);
        }
        // A regenerated answer's prompt is saved already, filled in when it was first sent.
        if self.prompt_id.is_none() {
            self.turn.prompt = role.message_for(&self.turn.prompt);
        }
        self.role = Some(role.name.clone());
        if !role.fallback.is_empty() {
            self.turn.fallback = Some(role.fallback.clone());
        }
    }
}

impl ChatSession {
    /// Builds the turn for a new prompt that continues `target`. A new conversation uses `model`
    /// (else `default_model`) and `system`; an existing one brings the branch shown as history
    /// and keeps its own model and system prompt unless they are given.
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
        match existing {
            Some(id) => self.prepare_branch(id, Branch::Continue, prompt, model, system).await,
            None => {
                let mut turn = Turn::new(model.unwrap_or_else(|| default_model.to_owned()), prompt);
                turn.system = system;
                let settings = self.default_settings.clone();
                Ok(Prepared {
                    role: None,
                    turn,
                    conversation_id: None,
                    fresh: false,
                    parent: Parent::Root,
                    prompt_id: None,
                    settings,
                })
            }
        }
    }

    /// Builds a turn inside saved conversation `id`: continuing it, answering one of its prompts
    /// again (`Regenerate`: `prompt` is ignored, the saved prompt is asked again, without the
    /// cache), or asking an edited prompt in place of an earlier one (`Edit`). The history sent is
    /// the path that leads to the new prompt, so the model never sees the branch replaced.
    pub async fn prepare_branch(
        &self,
        id: i64,
        branch: Branch,
        prompt: String,
        model: Option<String>,
        system: Option<String>,
    ) -> Result<Prepared, ChatError> {
        let store = self.store.as_ref().ok_or(StoreError::Closed)?;
        let (conversation, path, parent, prompt_id, prompt, mut kept, calls) = store
            .call(move |s| {
                let conversation = s.conversation(id)?;
                let saved_prompt = |s: &Store, prompt_id: i64| {
                    let mut path = s.path_to(prompt_id)?;
                    match path.pop() {
                        Some(p) if p.conversation_id == id && p.role == Author::User => Ok((path, p)),
                        _ => Err(StoreError::NoMessage { id: prompt_id }),
                    }
                };
                // What earlier prompts had attached goes again with them; a regenerated or
                // edited prompt keeps its own (key `None`).
                let contents = |s: &Store, path: &[crate::store::StoredMessage], own: Option<i64>| {
                    let mut kept = HashMap::new();
                    for m in path.iter().filter(|m| m.role == Author::User && !m.attachments.is_empty()) {
                        kept.insert(Some(m.id), s.attachment_contents(m.id)?);
                    }
                    if let Some(own) = own {
                        kept.insert(None, s.attachment_contents(own)?);
                    }
                    Ok::<_, StoreError>(kept)
                };
                match branch {
                    Branch::Continue => {
                        let path = s.active_path(id)?;
                        let parent = path.last().map_or(Parent::Root, |m| Parent::Message(m.id));
                        let kept = contents(s, &path, None)?;
                        let calls = s.tool_calls_of_conversation(id)?;
                        Ok((conversation, path, parent, None, prompt, kept, calls))
                    }
                    Branch::Regenerate { prompt_id } => {
                        let (path, old) = saved_prompt(s, prompt_id)?;
                        let kept = contents(s, &path, Some(prompt_id))?;
                        let calls = s.tool_calls_of_conversation(id)?;
                        Ok((conversation, path, Parent::Message(prompt_id), Some(prompt_id), old.text, kept, calls))
                    }
                    Branch::Edit { prompt_id } => {
                        let (path, old) = saved_prompt(s, prompt_id)?;
                        let parent = old.parent_id.map_or(Parent::Root, Parent::Message);
                        let kept = contents(s, &path, Some(prompt_id))?;
                        let calls = s.tool_calls_of_conversation(id)?;
                        Ok((conversation, path, parent, None, prompt, kept, calls))
                    }
                }
            })
            .await?;
        let mut turn = Turn::new(model.unwrap_or(conversation.model), prompt);
        turn.system = system.or(conversation.system_prompt);
        turn.history = answered_pairs(&path, &mut kept, &saved_calls(calls));
        turn.attachments = kept.remove(&None).unwrap_or_default().into_iter().map(kept_attachment).collect();
        let fresh = matches!(branch, Branch::Regenerate { .. });
        let settings =
            Settings::from_stored(conversation.settings.as_deref()).unwrap_or_else(|| self.default_settings.clone());
        Ok(Prepared { turn, conversation_id: Some(id), fresh, parent, prompt_id, settings, role: conversation.role })
    }
}

/// The history sent with a new prompt: each user message with the answer that followed it.
/// Prompts that got no answer (errors, blocks) are left out, so roles alternate. A prompt's
/// attachments come from `kept` (by message id).
fn answered_pairs(
    messages: &[crate::store::StoredMessage],
    kept: &mut HashMap<Option<i64>, Vec<StoredAttachment>>,
    calls: &HashMap<i64, Vec<super::SavedCall>>,
) -> Vec<Message> {
    let mut history = Vec::new();
    let mut pending_user: Option<&crate::store::StoredMessage> = None;
    for m in messages {
        match m.role {
            Author::User => pending_user = Some(m),
            Author::Model => {
                let tool_calls = calls.get(&m.id).cloned().unwrap_or_default();
                let usable = matches!(m.status, MessageStatus::Complete | MessageStatus::Interrupted)
                    && (!m.text.trim().is_empty() || !tool_calls.is_empty());
                // An answer that went on after a client ran the calls the one before it ended
                // with (`geminal serve`) follows that answer, not a prompt.
                let after_calls = pending_user.is_none()
                    && history.last().is_some_and(|h: &Message| h.role == Author::Model && !h.tool_calls.is_empty());
                if after_calls && usable {
                    history.push(Message { tool_calls, ..Message::new(Author::Model, m.text.clone()) });
                    continue;
                }
                if let (Some(user), true) = (pending_user.take(), usable) {
                    let attachments = kept.remove(&Some(user.id)).unwrap_or_default();
                    history.push(Message {
                        role: Author::User,
                        text: user.text.clone(),
                        attachments: attachments.into_iter().map(kept_attachment).collect(),
                        tool_calls: Vec::new(),
                    });
                    history.push(Message { tool_calls, ..Message::new(Author::Model, m.text.clone()) });
                }
            }
        }
    }
    history
}

/// The saved tool calls by answer, as sent back: a call that never returned is told so.
fn saved_calls(calls: Vec<crate::store::StoredToolCall>) -> HashMap<i64, Vec<super::SavedCall>> {
    let mut out: HashMap<i64, Vec<super::SavedCall>> = HashMap::new();
    for c in calls {
        let media = c.end.as_ref().map_or_else(Vec::new, |end| {
            let kept = end.media.iter();
            kept.map(|(mime, data)| crate::tools::Media { mime: mime.clone(), bytes: bytes::Bytes::from(data.clone()) })
                .collect()
        });
        let response = c
            .end
            .and_then(|end| end.result)
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or_else(|| serde_json::json!({ "error": "The call did not return." }));
        out.entry(c.message_id).or_default().push(super::SavedCall {
            call_id: c.call.call_id,
            row: Some(c.id),
            round: c.call.round,
            text_offset: c.call.text_offset.max(0) as usize,
            wire_id: c.call.wire_id,
            name: c.call.name,
            arguments: serde_json::from_str(&c.call.arguments).unwrap_or(serde_json::Value::Null),
            signature: c.call.signature,
            response,
            media,
        });
    }
    out
}

/// An attachment as the history kept it: its bytes, else the path it was read from (checked
/// against its hash when it is sent), else nothing (sending it then says it is gone).
fn kept_attachment(kept: StoredAttachment) -> Attachment {
    let path = kept.path.map(std::path::PathBuf::from);
    let data = match (kept.data, &path) {
        (Some(bytes), _) => AttachmentData::Bytes(bytes::Bytes::from(bytes)),
        (None, Some(path)) => AttachmentData::File(path.clone()),
        (None, None) => AttachmentData::Missing,
    };
    Attachment { info: kept.info, data, path, remote: None }
}
