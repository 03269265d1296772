//! Conversations saved for `geminal serve`'s clients: each tagged with the client key's name, and
//! a conversation a client sends again whole (chat completions resend the history) found by its
//! messages, so it is stored once and only the new turn is added.

use rusqlite::params;

use super::conversations::{ConversationSummary, NewMessage, title_from};
use super::{MessageStatus, NewToolCall, Store, StoreError, ToolCallEnd};
use crate::domain::Role;
use crate::money::{Spending, Usd};

/// The tool calls answers of a client's history ended with, by the answer's index among its
/// messages: each call and, when the client sent its result, how it ended.
pub type ClientCalls = [(usize, ClientRound)];

/// The calls one answer ended with, each with how it ended (`None`: no result yet).
pub type ClientRound = Vec<(NewToolCall, Option<ToolCallEnd>)>;

/// What `geminal serve` answered for one client key (`stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub client: String,
    pub answers: i64,
    pub cache_hits: i64,
    pub prompt_tokens: i64,
    pub output_tokens: i64,
    /// What its answers cost, where priced.
    pub cost: Usd,
}

/// How many of a client's most recent conversations are compared with a resent history.
const CANDIDATES: usize = 200;

impl Store {
    /// Tags conversation `id` as client `client`'s.
    pub fn set_conversation_client(&self, id: i64, client: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE conversations SET client = ?2 WHERE id = ?1")
            .and_then(|mut update| update.execute(params![id, client]))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Every client's answers since `since_ms` (all when `None`), by client name.
    pub fn client_stats(&self, since_ms: Option<i64>) -> Result<Vec<ClientStats>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT c.client, count(*), coalesce(sum(m.cached), 0), coalesce(sum(m.prompt_tokens), 0),
                        coalesce(sum(m.output_tokens), 0), coalesce(sum(m.cost_nanos), 0)
                 FROM messages m JOIN conversations c ON c.id = m.conversation_id
                 WHERE c.client IS NOT NULL AND m.role = 'model' AND m.created_at >= ?1
                 GROUP BY c.client ORDER BY c.client",
            )
            .and_then(|mut select| {
                select
                    .query_map([since_ms.unwrap_or(i64::MIN)], |r| {
                        Ok(ClientStats {
                            client: r.get(0)?,
                            answers: r.get(1)?,
                            cache_hits: r.get(2)?,
                            prompt_tokens: r.get(3)?,
                            output_tokens: r.get(4)?,
                            cost: Usd::from_nanos(r.get(5)?),
                        })
                    })?
                    .collect()
            })
            .map_err(|e| self.err(e))
    }

    /// Client `client`'s conversations, most recently updated first (`history --client`).
    pub fn list_client_conversations(
        &self,
        client: &str,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT c.id, c.title, c.model, c.updated_at,
                        (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
                 FROM conversations c WHERE c.client = ?1 ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2",
            )
            .and_then(|mut select| {
                select
                    .query_map(params![client, limit as i64], |r| {
                        Ok(ConversationSummary {
                            id: r.get(0)?,
                            title: r.get(1)?,
                            model: r.get(2)?,
                            updated_at: r.get(3)?,
                            messages: r.get(4)?,
                        })
                    })?
                    .collect()
            })
            .map_err(|e| self.err(e))
    }

    /// The client a conversation was saved for (`None`: not a served one).
    pub fn conversation_client(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT client FROM conversations WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// What client `client`'s answers cost this UTC day and month (cache hits cost nothing; a
    /// deleted conversation no longer counts).
    pub fn client_spending(&self, client: &str) -> Result<Spending, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(sum(CASE WHEN m.created_at >= CAST(strftime('%s', 'now', 'start of day') AS INTEGER) * 1000
                                     THEN m.cost_nanos END), 0),
                        coalesce(sum(m.cost_nanos), 0)
                 FROM messages m JOIN conversations c ON c.id = m.conversation_id
                 WHERE c.client = ?1 AND m.role = 'model' AND m.cached = 0
                   AND m.created_at >= CAST(strftime('%s', 'now', 'start of month') AS INTEGER) * 1000",
                [client],
                |r| Ok(Spending { today: Usd::from_nanos(r.get(0)?), month: Usd::from_nanos(r.get(1)?) }),
            )
            .map_err(|e| self.err(e))
    }

    /// Client `client`'s most recent conversation whose branch shown is exactly `messages` (role
    /// and text, complete) and whose system prompt is `system` (`None`: any, such as a role's
    /// own), if any.
    ///
    /// `calls` are the tool calls answers of `messages` ended with (by the answer's index): a
    /// conversation matches only when those answers ended with calls of the same ids.
    pub fn find_client_conversation(
        &self,
        client: &str,
        system: Option<&str>,
        messages: &[(Role, String)],
        calls: &ClientCalls,
    ) -> Result<Option<i64>, StoreError> {
        let Some((_, first)) = messages.first() else { return Ok(None) };
        let candidates: Vec<i64> = self
            .conn
            .prepare_cached(
                "SELECT id FROM conversations WHERE client = ?1 AND title = ?2 AND (?3 IS NULL OR system_prompt IS ?3)
                 ORDER BY updated_at DESC, id DESC LIMIT ?4",
            )
            .and_then(|mut select| {
                select.query_map(params![client, title_from(first), system, CANDIDATES as i64], |r| r.get(0))?.collect()
            })
            .map_err(|e| self.err(e))?;
        for id in candidates {
            let path = self.active_path(id)?;
            // An answer that called is known by its calls' ids: a client may send it back
            // without the text written before them.
            let calling = |at: usize| calls.iter().any(|(i, _)| *i == at);
            let same = path.len() == messages.len()
                && path.iter().zip(messages).enumerate().all(|(at, (stored, (role, text)))| {
                    stored.role == *role
                        && (stored.text == *text || (text.is_empty() && calling(at)))
                        && stored.status == MessageStatus::Complete
                });
            if same && (calls.is_empty() || self.same_calls(id, &path, calls)?) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Saves a history a client sent (none of it stored yet) as client `client`'s conversation:
    /// its messages as complete, in order. Returns the conversation's id.
    /// The answers of `calls` (by index) are saved with their calls (and how each ended).
    pub fn import_client_conversation(
        &mut self,
        client: &str,
        model: &str,
        system: Option<&str>,
        messages: &[(Role, String)],
        calls: &ClientCalls,
    ) -> Result<i64, StoreError> {
        let title =
            messages.iter().find(|(role, _)| *role == Role::User).map_or("(empty)".to_owned(), |m| title_from(&m.1));
        let id = self.create_conversation(&title, model, system)?;
        self.set_conversation_client(id, client)?;
        for (at, (role, text)) in messages.iter().enumerate() {
            let model = (*role == Role::Model).then(|| model.to_owned());
            let message =
                NewMessage { role: *role, text: text.clone(), model, status: MessageStatus::Complete, cached: false };
            let message_id = self.add_message(id, &message)?;
            if let Some((_, these)) = calls.iter().find(|(i, _)| *i == at) {
                let new: Vec<NewToolCall> = these.iter().map(|(call, _)| call.clone()).collect();
                let rows = self.add_tool_calls(message_id, &new)?;
                for (row, (_, end)) in rows.into_iter().zip(these) {
                    if let Some(end) = end {
                        self.end_tool_call(row, end)?;
                    }
                }
            }
        }
        Ok(id)
    }

    /// Whether the answers of `calls` on `path` (conversation `id`'s) ended with calls of
    /// those ids, in order.
    fn same_calls(&self, id: i64, path: &[super::StoredMessage], calls: &ClientCalls) -> Result<bool, StoreError> {
        let saved = self.tool_calls_of_conversation(id)?;
        Ok(calls.iter().all(|(at, these)| {
            let Some(message) = path.get(*at) else { return false };
            let ids: Vec<&str> =
                saved.iter().filter(|c| c.message_id == message.id).map(|c| c.call.call_id.as_str()).collect();
            ids.len() == these.len() && ids.iter().zip(these).all(|(a, (b, _))| *a == b.call_id)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> NewToolCall {
        NewToolCall {
            round: 1,
            call_id: id.into(),
            wire_id: Some(id.into()),
            server: None,
            name: "lookup".into(),
            arguments: "{}".into(),
            signature: Some("c2ln".into()),
            text_offset: 0,
        }
    }

    #[test]
    fn a_history_with_calls_is_imported_with_them_and_found_only_by_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        let messages = [(Role::User, "define kite".to_owned()), (Role::Model, String::new())];
        let ended = ToolCallEnd {
            status: "ok".into(),
            result: Some("{}".into()),
            error_kind: None,
            error_detail: None,
            media: Vec::new(),
        };
        let calls = [(1, vec![(call("call_a"), Some(ended.clone())), (call("call_b"), None)])];
        let id = store.import_client_conversation("editor", "m", None, &messages, &calls).unwrap();
        let saved = store.tool_calls_of_conversation(id).unwrap();
        assert_eq!(saved.iter().map(|c| c.call.call_id.as_str()).collect::<Vec<_>>(), ["call_a", "call_b"]);
        assert_eq!((saved[0].end.clone(), saved[1].end.clone()), (Some(ended), None));
        assert_eq!(store.find_client_conversation("editor", None, &messages, &calls).unwrap(), Some(id));
        assert_eq!(store.find_client_conversation("editor", None, &messages, &[]).unwrap(), Some(id));
        let other = [(1, vec![(call("call_a"), None), (call("call_c"), None)])];
        assert_eq!(store.find_client_conversation("editor", None, &messages, &other).unwrap(), None);
        let fewer = [(1, vec![(call("call_a"), None)])];
        assert_eq!(store.find_client_conversation("editor", None, &messages, &fewer).unwrap(), None);
        // An answer that wrote before calling, sent back without its text: known by its calls.
        let said = [(Role::User, "define bird".to_owned()), (Role::Model, "Let me look. ".to_owned())];
        let id = store.import_client_conversation("editor", "m", None, &said, &calls).unwrap();
        let bare = [(Role::User, "define bird".to_owned()), (Role::Model, String::new())];
        assert_eq!(store.find_client_conversation("editor", None, &bare, &calls).unwrap(), Some(id));
        assert_eq!(store.find_client_conversation("editor", None, &bare, &[]).unwrap(), None);
    }
}
