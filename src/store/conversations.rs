//! Conversations and messages: create, append, update as a stream grows, list, open, delete
//! (search is in `search.rs`). Every write is one short IMMEDIATE transaction (WAL readers never block it).

use std::collections::HashMap;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, Row, ToSql, params};

use super::{MessageStatus, Store, StoreError, now_ms};
use crate::domain::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub title: String,
    pub model: String,
    pub system_prompt: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The last message of the branch shown and continued (`None` while empty).
    pub head_id: Option<i64>,
    /// The generation settings it continues with (opaque here: JSON written by `chat`).
    pub settings: Option<String>,
    /// The name of the role it runs with, if any.
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub id: i64,
    pub title: String,
    pub model: String,
    pub updated_at: i64,
    pub messages: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub conversation_id: i64,
    pub role: Role,
    pub text: String,
    pub model: Option<String>,
    pub status: MessageStatus,
    /// Why it failed, as data (the front end that shows it words it).
    pub error: Option<crate::error_data::StoredError>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub thought_tokens: Option<i64>,
    /// The model's thought summaries before this answer (shown apart, never sent back).
    pub thoughts: Option<String>,
    /// The answer's sources (Google Search, URL context) as JSON, opaque here (written by
    /// `grounding::Grounding`); the text itself never holds their markers.
    pub grounding: Option<String>,
    pub cached: bool,
    pub created_at: i64,
    /// The message this one follows (`None` for a conversation's first prompts).
    pub parent_id: Option<i64>,
    /// Where this message stands among the messages that follow the same parent: regenerated
    /// answers, edited prompts.
    pub alternatives: Alternatives,
    /// What a prompt had attached, in order (filled by the reads that show messages).
    pub attachments: Vec<crate::domain::AttachmentInfo>,
    /// What the answer cost (nothing known for prompts).
    pub cost: crate::money::AnswerCost,
}

/// The position of a message among its siblings: `index` of `count`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alternatives {
    pub index: usize,
    pub count: usize,
}

impl Default for Alternatives {
    fn default() -> Self {
        Alternatives { index: 1, count: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub role: Role,
    pub text: String,
    pub model: Option<String>,
    pub status: MessageStatus,
    pub cached: bool,
}

/// A new state of a message that is being written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageUpdate {
    pub text: String,
    pub status: Option<MessageStatus>,
    /// Why it failed, as data (`None` leaves it).
    pub error: Option<crate::error_data::StoredError>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub thought_tokens: Option<i64>,
    /// The thought summaries so far (`None` leaves them as they are).
    pub thoughts: Option<String>,
    /// The answer's sources as JSON (written by `grounding::Grounding`; `None` leaves them).
    pub grounding: Option<String>,
    pub first_token_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    /// The answer came from the cache.
    pub cached: Option<bool>,
    /// What it cost (`None` leaves it).
    pub cost: Option<crate::money::AnswerCost>,
    /// The model that answered, when a fallback moved the answer to another (`None` leaves it).
    pub model: Option<String>,
}

/// Where a new message goes in the conversation's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// After the last message of the branch shown.
    Head,
    /// As a first prompt (a conversation's first, or an edit of it).
    Root,
    /// After this message.
    Message(i64),
}

impl ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Role {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Role::parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown role {text:?}").into()))
    }
}

impl ToSql for MessageStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MessageStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        MessageStatus::parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown message status {text:?}").into()))
    }
}

pub(super) fn message_from_row(r: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        role: r.get(2)?,
        text: r.get(3)?,
        model: r.get(4)?,
        status: r.get(5)?,
        error: crate::error_data::StoredError::from_columns(
            r.get_ref(18)?.as_str_or_null()?,
            r.get_ref(19)?.as_str_or_null()?,
            r.get_ref(6)?.as_str_or_null()?,
        ),
        prompt_tokens: r.get(7)?,
        output_tokens: r.get(8)?,
        cached: r.get(9)?,
        created_at: r.get(10)?,
        parent_id: r.get(11)?,
        thought_tokens: r.get(12)?,
        thoughts: r.get(13)?,
        grounding: r.get(14)?,
        alternatives: Alternatives::default(),
        attachments: Vec::new(),
        cost: crate::money::AnswerCost {
            cost: r.get::<_, Option<i64>>(15)?.map(crate::money::Usd::from_nanos),
            saved: r.get::<_, Option<i64>>(16)?.map(crate::money::Usd::from_nanos),
            priced_as: r.get(17)?,
        },
    })
}

pub(super) const CONVERSATION_COLUMNS: &str =
    "id, title, model, system_prompt, created_at, updated_at, head_id, settings, role";

pub(super) fn conversation_from_row(r: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get(0)?,
        title: r.get(1)?,
        model: r.get(2)?,
        system_prompt: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        head_id: r.get(6)?,
        settings: r.get(7)?,
        role: r.get(8)?,
    })
}

/// The columns `message_from_row` reads, for a `messages m` table alias.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.role, m.text, m.model, m.status, m.error, m.prompt_tokens, \
     m.output_tokens, m.cached, m.created_at, m.parent_id, m.thought_tokens, m.thoughts, m.grounding, \
     m.cost_nanos, m.saved_nanos, m.priced_as, m.error_kind, m.error_detail";

/// A conversation title from its first prompt: one line, cut at a word near 60 characters.
pub fn title_from(prompt: &str) -> String {
    let line: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= 60 {
        return if line.is_empty() { "(empty)".to_owned() } else { line };
    }
    let cut: String = line.chars().take(60).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > 30 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

/// The longest prompt [`Store::recent_prompts`] offers for recalling.
pub const RECALLED_PROMPT_MAX_BYTES: usize = 8 * 1024;

impl Store {
    pub fn create_conversation(
        &self,
        title: &str,
        model: &str,
        system_prompt: Option<&str>,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        self.conn
            .prepare_cached(
                "INSERT INTO conversations (title, model, system_prompt, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            )
            .and_then(|mut insert| insert.execute(params![title, model, system_prompt, now]))
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Appends a message to the branch shown (after the conversation's head) and makes it the head.
    pub fn add_message(&mut self, conversation_id: i64, message: &NewMessage) -> Result<i64, StoreError> {
        self.add_message_to(conversation_id, Parent::Head, message)
    }

    /// Adds a message after `parent` and makes it the conversation's head: after the head to
    /// continue, after an earlier message to branch (a regenerated answer follows the same prompt
    /// as the answer it replaces; an edited prompt follows the same message as the original). An
    /// answer also records its model as the conversation's, so a reopened conversation continues
    /// with the model it last used.
    pub fn add_message_to(
        &mut self,
        conversation_id: i64,
        parent: Parent,
        message: &NewMessage,
    ) -> Result<i64, StoreError> {
        self.add_message_in_transaction(conversation_id, parent, message).map_err(|e| self.noted(e))
    }

    fn add_message_in_transaction(
        &mut self,
        conversation_id: i64,
        parent: Parent,
        message: &NewMessage,
    ) -> Result<i64, StoreError> {
        let writer =
            (message.status == MessageStatus::Streaming).then(|| self.writer_id().map(str::to_owned)).flatten();
        let path = self.path.clone();
        let tx = super::write_tx::write_tx(&mut self.conn).map_err(|e| StoreError::from_sqlite(&path, e))?;
        let now = now_ms();
        // A conversation deleted meanwhile (by another tab or process) is said so, not as a
        // failed constraint.
        let exists = tx
            .prepare_cached("SELECT 1 FROM conversations WHERE id = ?1")
            .and_then(|mut select| select.query_row([conversation_id], |_| Ok(())))
            .optional()
            .map_err(|e| StoreError::from_sqlite(&path, e))?;
        if exists.is_none() {
            return Err(StoreError::NoConversation { id: conversation_id });
        }
        let id = (|| {
            let parent_id: Option<i64> = match parent {
                Parent::Head => tx
                    .prepare_cached(
                        "SELECT coalesce(head_id, (SELECT max(id) FROM messages WHERE conversation_id = ?1))
                         FROM conversations WHERE id = ?1",
                    )?
                    .query_row([conversation_id], |r| r.get(0))
                    .optional()?
                    .flatten(),
                Parent::Root => None,
                Parent::Message(id) => Some(id),
            };
            tx.prepare_cached(
                "INSERT INTO messages (conversation_id, role, text, model, status, cached, created_at, writer, parent_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                    conversation_id,
                    message.role,
                    message.text,
                    message.model,
                    message.status,
                    message.cached,
                    now,
                    writer,
                parent_id
            ])?;
            let id = tx.last_insert_rowid();
            let model = message.model.as_deref().filter(|_| message.role == Role::Model);
            tx.prepare_cached(
                "UPDATE conversations SET updated_at = ?2, head_id = ?3, model = coalesce(?4, model) WHERE id = ?1",
            )?
            .execute(params![conversation_id, now, id, model])?;
            tx.commit()?;
            Ok(id)
        })()
        .map_err(|e| StoreError::from_sqlite(&path, e))?;
        Ok(id)
    }

    /// Writes a message's new state; [`StoreError::NoMessage`] if it is gone (its conversation
    /// was deleted while it was written), so an answer is never reported saved when it was not.
    pub fn update_message(&self, id: i64, update: &MessageUpdate) -> Result<(), StoreError> {
        let writer_cleared = update.status.is_some_and(|s| s != MessageStatus::Streaming);
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE messages SET text = ?2,
                    status = coalesce(?3, status), error = coalesce(?4, error),
                    prompt_tokens = coalesce(?5, prompt_tokens), output_tokens = coalesce(?6, output_tokens),
                    thought_tokens = coalesce(?7, thought_tokens), first_token_ms = coalesce(?8, first_token_ms),
                    duration_ms = coalesce(?9, duration_ms), cached = coalesce(?11, cached),
                    thoughts = coalesce(?12, thoughts), grounding = coalesce(?13, grounding),
                    cost_nanos = coalesce(?14, cost_nanos), saved_nanos = coalesce(?15, saved_nanos),
                    priced_as = coalesce(?16, priced_as), model = coalesce(?17, model),
                    error_kind = coalesce(?18, error_kind), error_detail = coalesce(?19, error_detail),
                    writer = CASE WHEN ?10 THEN NULL ELSE writer END
                 WHERE id = ?1",
            )
            .and_then(|mut update_row| {
                // Kind and detail since schema 17; the legacy column only for a legacy sentence.
                let (error_kind, error_detail, error) = match &update.error {
                    Some(e) => e.to_columns(),
                    None => (None, None, None),
                };
                update_row.execute(params![
                    id,
                    update.text,
                    update.status,
                    error,
                    update.prompt_tokens,
                    update.output_tokens,
                    update.thought_tokens,
                    update.first_token_ms,
                    update.duration_ms,
                    writer_cleared,
                    update.cached,
                    update.thoughts,
                    update.grounding,
                    update.cost.as_ref().and_then(|c| c.cost).map(crate::money::Usd::nanos),
                    update.cost.as_ref().and_then(|c| c.saved).map(crate::money::Usd::nanos),
                    update.cost.as_ref().and_then(|c| c.priced_as.clone()),
                    update.model,
                    error_kind,
                    error_detail
                ])
            })
            .map_err(|e| self.err(e))?;
        if changed == 0 { Err(StoreError::NoMessage { id }) } else { Ok(()) }
    }

    /// Several updates in one transaction (progressive saves of many streams at once).
    pub fn update_messages(&mut self, updates: &[(i64, MessageUpdate)]) -> Result<(), StoreError> {
        self.update_messages_in_transaction(updates).map_err(|e| self.noted(e))
    }

    fn update_messages_in_transaction(&mut self, updates: &[(i64, MessageUpdate)]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = super::write_tx::write_tx(&mut self.conn).map_err(|e| StoreError::from_sqlite(&path, e))?;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE messages SET text = ?2 WHERE id = ?1 AND status = 'streaming'")
                .map_err(|e| StoreError::from_sqlite(&path, e))?;
            for (id, update) in updates {
                stmt.execute(params![id, update.text]).map_err(|e| StoreError::from_sqlite(&path, e))?;
            }
        }
        tx.commit().map_err(|e| StoreError::from_sqlite(&path, e))
    }

    /// Stores the role conversation `id` continues with (`None`: none).
    pub fn set_conversation_role(&self, id: i64, role: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE conversations SET role = ?2 WHERE id = ?1")
            .and_then(|mut update| update.execute(params![id, role]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Stores the generation settings conversation `id` continues with (`None`: none).
    pub fn set_conversation_settings(&self, id: i64, settings: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE conversations SET settings = ?2 WHERE id = ?1")
            .and_then(|mut update| update.execute(params![id, settings]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn conversation(&self, id: i64) -> Result<Conversation, StoreError> {
        self.conn
            .query_row(&format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1"), [id], |r| {
                conversation_from_row(r)
            })
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::NoConversation { id })
    }

    /// Whether conversation `id` is still there (another process may have deleted it).
    pub fn conversation_exists(&self, id: i64) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT 1 FROM conversations WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.err(e))
    }

    /// The most recently updated conversation, if any.
    pub fn last_conversation_id(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The prompts asked most recently, newest first and each once, for recalling them with ↑
    /// in the prompt. Prompts longer than [`RECALLED_PROMPT_MAX_BYTES`] (a pasted log) are left
    /// out; at most `limit`.
    pub fn recent_prompts(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT text FROM messages WHERE role = 'user' AND length(CAST(text AS BLOB)) <= ?2
                 ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        // Read a few more than asked, as repeats are dropped.
        let rows = stmt
            .query_map(params![(limit * 2) as i64, RECALLED_PROMPT_MAX_BYTES as i64], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        let mut seen = std::collections::HashSet::new();
        Ok(rows.into_iter().filter(|t| seen.insert(t.clone())).take(limit).collect())
    }

    /// Every message of a conversation, all branches, oldest first.
    pub fn messages(&self, conversation_id: i64) -> Result<Vec<StoredMessage>, StoreError> {
        let links = self.links(conversation_id)?;
        self.messages_where(conversation_id, &links, |_| true)
    }

    /// The branch shown: from the first prompt to the conversation's head, oldest first. This is
    /// what is displayed, exported and sent to the model; other branches are only counted (in
    /// each message's `alternatives`).
    pub fn active_path(&self, conversation_id: i64) -> Result<Vec<StoredMessage>, StoreError> {
        let head: Option<i64> = self
            .conn
            .query_row(
                "SELECT coalesce(head_id, (SELECT max(id) FROM messages WHERE conversation_id = ?1))
                 FROM conversations WHERE id = ?1",
                [conversation_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::NoConversation { id: conversation_id })?;
        match head {
            Some(head) => self.path_in(conversation_id, head),
            None => Ok(Vec::new()),
        }
    }

    /// The messages from the first prompt down to `message_id` (included), oldest first.
    pub fn path_to(&self, message_id: i64) -> Result<Vec<StoredMessage>, StoreError> {
        let conversation: Option<i64> = self
            .conn
            .query_row("SELECT conversation_id FROM messages WHERE id = ?1", [message_id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        match conversation {
            Some(conversation) => self.path_in(conversation, message_id),
            None => Ok(Vec::new()),
        }
    }

    /// The path to `message_id`, walked over the conversation's links (one index-only read),
    /// then its rows in one pass in id order (a parent is always older than its children).
    fn path_in(&self, conversation_id: i64, message_id: i64) -> Result<Vec<StoredMessage>, StoreError> {
        let links = self.links(conversation_id)?;
        let parents: HashMap<i64, Option<i64>> = links.iter().copied().collect();
        let mut on_path = std::collections::HashSet::new();
        let mut at = Some(message_id);
        while let Some(id) = at.filter(|id| on_path.insert(*id)) {
            at = parents.get(&id).copied().flatten();
        }
        self.messages_where(conversation_id, &links, |id| on_path.contains(&id))
    }

    /// `(id, parent_id)` of every message of a conversation, oldest first.
    fn links(&self, conversation_id: i64) -> Result<Vec<(i64, Option<i64>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, parent_id FROM messages WHERE conversation_id = ?1")
            .map_err(|e| self.err(e))?;
        // Unordered, so SQLite reads the covering index `messages_tree` instead of every row.
        let mut links: Vec<(i64, Option<i64>)> = stmt
            .query_map([conversation_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        links.sort_unstable();
        Ok(links)
    }

    /// The conversation's messages whose id passes `keep`, oldest first, each with its place
    /// among its siblings.
    fn messages_where(
        &self,
        conversation_id: i64,
        links: &[(i64, Option<i64>)],
        keep: impl Fn(i64) -> bool,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 ORDER BY m.id");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut rows = Vec::new();
        let mut query = stmt.query([conversation_id]).map_err(|e| self.err(e))?;
        while let Some(row) = query.next().map_err(|e| self.err(e))? {
            if keep(row.get(0).map_err(|e| self.err(e))?) {
                rows.push(message_from_row(row).map_err(|e| self.err(e))?);
            }
        }
        drop(query);
        let mut attached = self.attachment_infos(conversation_id)?;
        for m in &mut rows {
            if let Some(list) = attached.remove(&m.id) {
                m.attachments = list;
            }
        }
        let mut children: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
        for &(id, parent) in links {
            children.entry(parent).or_default().push(id);
        }
        for m in &mut rows {
            if let Some(siblings) = children.get(&m.parent_id)
                && let Some(at) = siblings.iter().position(|id| *id == m.id)
            {
                m.alternatives = Alternatives { index: at + 1, count: siblings.len() };
            }
        }
        Ok(rows)
    }

    /// Shows another alternative of `message_id`: the sibling `step` places away (clamped to the
    /// first and last), continued down its most recent branch. Returns the sibling shown.
    pub fn switch_alternative(&mut self, message_id: i64, step: isize) -> Result<i64, StoreError> {
        self.switch_alternative_in_transaction(message_id, step).map_err(|e| self.noted(e))
    }

    fn switch_alternative_in_transaction(&mut self, message_id: i64, step: isize) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let tx = super::write_tx::write_tx(&mut self.conn).map_err(|e| StoreError::from_sqlite(&path, e))?;
        let chosen = (|| {
            let (conversation, parent): (i64, Option<i64>) =
                tx.query_row("SELECT conversation_id, parent_id FROM messages WHERE id = ?1", [message_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let siblings: Vec<i64> = tx
                .prepare_cached("SELECT id FROM messages WHERE conversation_id = ?1 AND parent_id IS ?2 ORDER BY id")?
                .query_map(params![conversation, parent], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let at = siblings.iter().position(|id| *id == message_id).unwrap_or(0) as isize;
            let chosen = siblings[(at + step).clamp(0, siblings.len() as isize - 1) as usize];
            // The newest message under the chosen one is the leaf of its most recent branch.
            let head: i64 = tx.query_row(
                "WITH RECURSIVE below(id) AS (
                    SELECT ?1 UNION ALL SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id
                 )
                 SELECT max(id) FROM below",
                [chosen],
                |r| r.get(0),
            )?;
            tx.execute("UPDATE conversations SET head_id = ?2 WHERE id = ?1", params![conversation, head])?;
            tx.commit()?;
            Ok(chosen)
        })();
        chosen.map_err(|e: rusqlite::Error| match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NoMessage { id: message_id },
            e => StoreError::from_sqlite(&path, e),
        })
    }

    /// A number that changes whenever another connection (this process's writer, another
    /// process) commits to the history: SQLite's `data_version`.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// Conversations, newest first.
    pub fn list_conversations(&self, limit: usize, offset: usize) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.id, c.title, c.model, c.updated_at,
                        (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
                 FROM conversations c ORDER BY c.updated_at DESC, c.id DESC LIMIT ?1 OFFSET ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit as i64, offset as i64], |r| {
                Ok(ConversationSummary {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    model: r.get(2)?,
                    updated_at: r.get(3)?,
                    messages: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect());
        rows.map_err(|e| self.err(e))
    }

    /// Gives a conversation a new title (made one line; the title search index follows by
    /// trigger). Its place in the list (last update) does not change.
    pub fn rename_conversation(&self, id: i64, title: &str) -> Result<(), StoreError> {
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = self
            .conn
            .execute("UPDATE conversations SET title = ?2 WHERE id = ?1", params![id, title])
            .map_err(|e| self.err(e))?;
        if n == 0 { Err(StoreError::NoConversation { id }) } else { Ok(()) }
    }

    /// Deletes a conversation and its messages; false if it did not exist.
    pub fn delete_conversation(&self, id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute("DELETE FROM conversations WHERE id = ?1", [id]).map_err(|e| self.err(e))?;
        if n > 0 {
            self.drop_unlisted_attachments()?;
        }
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_statuses_are_read_strictly() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let role = |text: &str| conn.query_row("SELECT ?1", [text], |r| r.get::<_, Role>(0));
        assert_eq!(role("model").unwrap(), Role::Model);
        assert!(role("assistant").is_err(), "an unknown role is an error, not a guess");
        let status = |text: &str| conn.query_row("SELECT ?1", [text], |r| r.get::<_, MessageStatus>(0));
        assert_eq!(status("blocked").unwrap(), MessageStatus::Blocked);
        assert!(status("done").is_err());
    }

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(title_from("  why do\n birds   migrate? "), "why do birds migrate?");
        let long = "explain in great detail how the migration of arctic terns works across both hemispheres every year";
        let t = title_from(long);
        assert!(t.chars().count() <= 61 && t.ends_with('…'), "{t}");
        assert_eq!(title_from(""), "(empty)");
    }
}
