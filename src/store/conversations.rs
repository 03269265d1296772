//! Conversations and messages: create, append, update as a stream grows, list, open, delete
//! (search is in `search.rs`). Every write is one short IMMEDIATE transaction (WAL readers never block it).

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{MessageStatus, Store, StoreError, now_ms};
use crate::chat::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub title: String,
    pub model: String,
    pub system_prompt: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
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
    pub error: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cached: bool,
    pub created_at: i64,
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
    pub error: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub thought_tokens: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub duration_ms: Option<i64>,
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Model => "model",
    }
}

pub(super) fn parse_role(text: &str) -> Role {
    if text == "user" { Role::User } else { Role::Model }
}

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        role: parse_role(&r.get::<_, String>(2)?),
        text: r.get(3)?,
        model: r.get(4)?,
        status: MessageStatus::parse(&r.get::<_, String>(5)?),
        error: r.get(6)?,
        prompt_tokens: r.get(7)?,
        output_tokens: r.get(8)?,
        cached: r.get(9)?,
        created_at: r.get(10)?,
    })
}

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

impl Store {
    pub fn create_conversation(
        &self,
        title: &str,
        model: &str,
        system_prompt: Option<&str>,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "INSERT INTO conversations (title, model, system_prompt, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![title, model, system_prompt, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn add_message(&mut self, conversation_id: i64, message: &NewMessage) -> Result<i64, StoreError> {
        let writer =
            (message.status == MessageStatus::Streaming).then(|| self.writer_id().map(str::to_owned)).flatten();
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(&path, e))?;
        let now = now_ms();
        let id = (|| {
            tx.execute(
                "INSERT INTO messages (conversation_id, role, text, model, status, cached, created_at, writer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    conversation_id,
                    role_str(message.role),
                    message.text,
                    message.model,
                    message.status.as_str(),
                    message.cached,
                    now,
                    writer
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute("UPDATE conversations SET updated_at = ?2 WHERE id = ?1", params![conversation_id, now])?;
            tx.commit()?;
            Ok(id)
        })()
        .map_err(|e| StoreError::from_sqlite(&path, e))?;
        Ok(id)
    }

    pub fn update_message(&self, id: i64, update: &MessageUpdate) -> Result<(), StoreError> {
        let writer_cleared = update.status.is_some_and(|s| s != MessageStatus::Streaming);
        self.conn
            .execute(
                "UPDATE messages SET text = ?2,
                    status = coalesce(?3, status), error = coalesce(?4, error),
                    prompt_tokens = coalesce(?5, prompt_tokens), output_tokens = coalesce(?6, output_tokens),
                    thought_tokens = coalesce(?7, thought_tokens), first_token_ms = coalesce(?8, first_token_ms),
                    duration_ms = coalesce(?9, duration_ms),
                    writer = CASE WHEN ?10 THEN NULL ELSE writer END
                 WHERE id = ?1",
                params![
                    id,
                    update.text,
                    update.status.map(MessageStatus::as_str),
                    update.error,
                    update.prompt_tokens,
                    update.output_tokens,
                    update.thought_tokens,
                    update.first_token_ms,
                    update.duration_ms,
                    writer_cleared
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Several updates in one transaction (progressive saves of many streams at once).
    pub fn update_messages(&mut self, updates: &[(i64, MessageUpdate)]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(&path, e))?;
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

    pub fn conversation(&self, id: i64) -> Result<Conversation, StoreError> {
        self.conn
            .query_row(
                "SELECT id, title, model, system_prompt, created_at, updated_at FROM conversations WHERE id = ?1",
                [id],
                |r| {
                    Ok(Conversation {
                        id: r.get(0)?,
                        title: r.get(1)?,
                        model: r.get(2)?,
                        system_prompt: r.get(3)?,
                        created_at: r.get(4)?,
                        updated_at: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::NoConversation { id })
    }

    /// The most recently updated conversation, if any.
    pub fn last_conversation_id(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn messages(&self, conversation_id: i64) -> Result<Vec<StoredMessage>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, conversation_id, role, text, model, status, error, prompt_tokens, output_tokens, cached, created_at
                 FROM messages WHERE conversation_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([conversation_id], message_from_row).and_then(|rows| rows.collect());
        rows.map_err(|e| self.err(e))
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

    /// Deletes a conversation and its messages; false if it did not exist.
    pub fn delete_conversation(&self, id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute("DELETE FROM conversations WHERE id = ?1", [id]).map_err(|e| self.err(e))?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(title_from("  why do\n birds   migrate? "), "why do birds migrate?");
        let long = "explain in great detail how the migration of arctic terns works across both hemispheres every year";
        let t = title_from(long);
        assert!(t.chars().count() <= 61 && t.ends_with('…'), "{t}");
        assert_eq!(title_from(""), "(empty)");
    }
}
