//! Saving a turn's prompt in one transaction: into a new conversation (created with its title,
//! model, system prompt, settings and role in one row) or after a message of an existing one
//! (whose settings and role are set in one statement), with its attachments. Every answer
//! saves one, so it costs as few statements as it can: the conversation row is written twice
//! (created or updated, then given its new head), not four times.

use rusqlite::params;

use super::conversations::{NewMessage, Parent};
use super::{MessageStatus, NewAttachment, Store, StoreError, now_ms};
use crate::domain::Role;

/// A prompt to save, and the conversation it goes into.
pub struct NewPrompt {
    /// `None`: a new conversation, titled `title`, with `model` and `system`.
    pub conversation: Option<i64>,
    /// Where it goes in an existing conversation (a new one starts at the root).
    pub parent: Parent,
    pub title: String,
    pub model: String,
    pub system: Option<String>,
    /// The settings the conversation continues with (opaque here: JSON written by `chat`).
    pub settings: Option<String>,
    /// The role it runs with, if any.
    pub role: Option<String>,
    pub text: String,
    pub attachments: Vec<NewAttachment>,
}

impl Store {
    /// Saves `prompt`: returns its conversation's id and its own.
    pub fn add_prompt(&mut self, prompt: &NewPrompt) -> Result<(i64, i64), StoreError> {
        super::write_tx::in_write_tx(self, |store| {
            let (conversation, parent) = match prompt.conversation {
                Some(id) => {
                    let set = store
                        .conn
                        .prepare_cached("UPDATE conversations SET settings = ?2, role = ?3 WHERE id = ?1")
                        .and_then(|mut update| update.execute(params![id, prompt.settings, prompt.role]))
                        .map_err(|e| store.err(e))?;
                    if set == 0 {
                        return Err(StoreError::NoConversation { id });
                    }
                    (id, prompt.parent)
                }
                None => {
                    store
                        .conn
                        .prepare_cached(
                            "INSERT INTO conversations (title, model, system_prompt, created_at, updated_at, settings, role)
                             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                        )
                        .and_then(|mut insert| {
                            insert.execute(params![
                                prompt.title,
                                prompt.model,
                                prompt.system,
                                now_ms(),
                                prompt.settings,
                                prompt.role
                            ])
                        })
                        .map_err(|e| store.err(e))?;
                    (store.conn.last_insert_rowid(), Parent::Root)
                }
            };
            let message = NewMessage {
                role: Role::User,
                text: prompt.text.clone(),
                model: None,
                status: MessageStatus::Complete,
                cached: false,
            };
            let id = store.add_message_to(conversation, parent, &message)?;
            store.add_attachments(id, &prompt.attachments)?;
            Ok((conversation, id))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn prompt(conversation: Option<i64>, text: &str) -> NewPrompt {
        NewPrompt {
            conversation,
            parent: Parent::Head,
            title: "a title".into(),
            model: "m".into(),
            system: Some("be brief".into()),
            settings: Some("{\"temperature\":0.5}".into()),
            role: Some("poet".into()),
            text: text.into(),
            attachments: Vec::new(),
        }
    }

    /// Writes of the conversations table's rows from now on.
    fn count_conversation_writes(store: &mut Store) -> Arc<AtomicUsize> {
        let writes = Arc::new(AtomicUsize::new(0));
        let counter = writes.clone();
        store
            .conn
            .update_hook(Some(move |_: rusqlite::hooks::Action, _: &str, table: &str, _: i64| {
                if table == "conversations" {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }))
            .unwrap();
        writes
    }

    /// A prompt's save writes its conversation's row twice (it was four times: created, given its
    /// head, its settings, its role), and the row holds all of it.
    #[test]
    fn a_prompt_is_saved_with_its_conversation_in_two_writes_of_its_row() {
        let mut store = Store::open_in_memory().unwrap();
        let writes = count_conversation_writes(&mut store);
        let (id, first) = store.add_prompt(&prompt(None, "first question")).unwrap();
        assert_eq!(writes.swap(0, Ordering::SeqCst), 2);
        let conversation = store.conversation(id).unwrap();
        assert_eq!(
            (conversation.title.as_str(), conversation.system_prompt.as_deref(), conversation.head_id),
            ("a title", Some("be brief"), Some(first))
        );
        assert_eq!(
            (conversation.settings.as_deref(), conversation.role.as_deref()),
            (Some("{\"temperature\":0.5}"), Some("poet"))
        );

        let mut next = prompt(Some(id), "second question");
        (next.settings, next.role) = (None, Some("critic".into()));
        let (same, second) = store.add_prompt(&next).unwrap();
        assert_eq!(writes.swap(0, Ordering::SeqCst), 2);
        let conversation = store.conversation(id).unwrap();
        assert_eq!(same, id);
        assert_eq!(
            (conversation.head_id, conversation.settings, conversation.role.as_deref()),
            (Some(second), None, Some("critic"))
        );
        let texts: Vec<String> = store.active_path(id).unwrap().into_iter().map(|m| m.text).collect();
        assert_eq!(texts, ["first question", "second question"]);
    }

    #[test]
    fn a_prompt_into_a_conversation_that_is_gone_saves_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        let (id, _) = store.add_prompt(&prompt(None, "first")).unwrap();
        store.delete_conversation(id).unwrap();
        assert_eq!(store.add_prompt(&prompt(Some(id), "lost")), Err(StoreError::NoConversation { id }));
        let messages: i64 = store.conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap();
        assert_eq!(messages, 0);
    }
}
