//! The tool calls of an answer (schema 18): each saved before it runs, with the provider's id
//! and signature exactly as they came and the offset in the answer's text where its round
//! ended; its end (result or failure, as data) saved the moment it returns. Read back in order
//! to continue a conversation with what the model saw, to show, export and search it.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A call to save before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToolCall {
    /// The model round it belongs to (1, 2, ...).
    pub round: i64,
    /// Its id within the turn (the provider's, or one given when the provider gave none).
    pub call_id: String,
    /// The id exactly as the provider sent it (`None`: it sent none).
    pub wire_id: Option<String>,
    pub server: Option<String>,
    pub name: String,
    /// JSON text, as the model wrote it.
    pub arguments: String,
    pub signature: Option<String>,
    /// Where in the answer's text the round's text ended.
    pub text_offset: i64,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallEnd {
    /// `ok`, `error` (the tool said so), or a failure's kind (`refused`, `cancelled`...).
    pub status: String,
    /// The result as sent to the model (JSON text).
    pub result: Option<String>,
    pub error_kind: Option<String>,
    /// The failure as data (JSON text).
    pub error_detail: Option<String>,
    /// Images or other media the tool gave (type, bytes), sent to the model after the result.
    pub media: Vec<(String, Vec<u8>)>,
}

/// A saved call with how it ended (`end: None`: it never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToolCall {
    pub id: i64,
    pub message_id: i64,
    pub call: NewToolCall,
    pub end: Option<ToolCallEnd>,
}

impl Store {
    /// Saves `calls` of answer `message_id` (before they run), after the ones it has; their row
    /// ids, in order.
    pub fn add_tool_calls(&mut self, message_id: i64, calls: &[NewToolCall]) -> Result<Vec<i64>, StoreError> {
        let path = self.path.clone();
        let result = (|| {
            let tx = super::write_tx::write_tx(&mut self.conn)?;
            let now = super::now_ms();
            let mut position: i64 = tx.query_row(
                "SELECT coalesce(max(position), 0) FROM tool_calls WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )?;
            let mut ids = Vec::with_capacity(calls.len());
            for call in calls {
                position += 1;
                tx.execute(
                    "INSERT INTO tool_calls (message_id, round, position, call_id, wire_id, server, name, arguments,
                        signature, text_offset, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        message_id,
                        call.round,
                        position,
                        call.call_id,
                        call.wire_id,
                        call.server,
                        call.name,
                        call.arguments,
                        call.signature,
                        call.text_offset,
                        now
                    ],
                )?;
                ids.push(tx.last_insert_rowid());
            }
            tx.commit()?;
            Ok(ids)
        })();
        result.map_err(|e| self.noted(StoreError::from_sqlite(&path, e)))
    }

    /// Saves how call `id` ended (its media with it, in one transaction).
    pub fn end_tool_call(&mut self, id: i64, end: &ToolCallEnd) -> Result<(), StoreError> {
        let path = self.path.clone();
        let result = (|| {
            let tx = super::write_tx::write_tx(&mut self.conn)?;
            tx.prepare_cached(
                "UPDATE tool_calls SET status = ?2, result = ?3, error_kind = ?4, error_detail = ?5, finished_at = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                end.status,
                end.result,
                end.error_kind,
                end.error_detail,
                super::now_ms()
            ])?;
            for (position, (mime, data)) in end.media.iter().enumerate() {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO tool_call_media (tool_call_id, position, mime, data) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, position as i64, mime, data])?;
            }
            tx.commit()
        })();
        result.map_err(|e| self.noted(StoreError::from_sqlite(&path, e)))
    }

    /// The tool calls of every answer of a conversation, in order.
    pub fn tool_calls_of_conversation(&self, conversation_id: i64) -> Result<Vec<StoredToolCall>, StoreError> {
        // Most histories hold no tool call: one probe, not a join per read.
        let any = self
            .conn
            .prepare_cached("SELECT 1 FROM tool_calls LIMIT 1")
            .and_then(|mut stmt| stmt.query_row([], |_| Ok(())).optional())
            .map_err(|e| self.err(e))?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT t.id, t.message_id, t.round, t.call_id, t.wire_id, t.server, t.name, t.arguments, t.signature,
                    t.text_offset, t.status, t.result, t.error_kind, t.error_detail
                 FROM tool_calls t JOIN messages m ON m.id = t.message_id
                 WHERE m.conversation_id = ?1 ORDER BY t.message_id, t.position",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([conversation_id], |r| {
            let status: String = r.get(10)?;
            let end = if status == "pending" {
                None
            } else {
                Some(ToolCallEnd {
                    status,
                    result: r.get(11)?,
                    error_kind: r.get(12)?,
                    error_detail: r.get(13)?,
                    media: Vec::new(),
                })
            };
            Ok(StoredToolCall {
                id: r.get(0)?,
                message_id: r.get(1)?,
                call: NewToolCall {
                    round: r.get(2)?,
                    call_id: r.get(3)?,
                    wire_id: r.get(4)?,
                    server: r.get(5)?,
                    name: r.get(6)?,
                    arguments: r.get(7)?,
                    signature: r.get(8)?,
                    text_offset: r.get(9)?,
                },
                end,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .and_then(|mut calls| {
            // Their media (few calls have any).
            let mut stmt = self.conn.prepare_cached(
                "SELECT x.tool_call_id, x.mime, x.data FROM tool_call_media x
                 JOIN tool_calls t ON t.id = x.tool_call_id JOIN messages m ON m.id = t.message_id
                 WHERE m.conversation_id = ?1 ORDER BY x.tool_call_id, x.position",
            )?;
            let media = stmt.query_map([conversation_id], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)))?;
            for row in media {
                let (call, mime, data) = row?;
                if let Some(end) = calls.iter_mut().find(|c| c.id == call).and_then(|c| c.end.as_mut()) {
                    end.media.push((mime, data));
                }
            }
            Ok(calls)
        })
        .map_err(|e| self.err(e))
    }

    /// Conversations (not in `shown`) that called a tool whose name holds every term of
    /// `query` (case-insensitive), newest call first, one hit each.
    pub(super) fn tool_hits(
        &self,
        query: &str,
        limit: usize,
        shown: &std::collections::HashSet<i64>,
    ) -> rusqlite::Result<Vec<super::SearchHit>> {
        let terms: Vec<String> = query
            .split_whitespace()
            .map(|t| t.trim_matches(|c: char| c == '"' || c == '*').to_lowercase())
            .filter(|t| !t.is_empty() && !["and", "or", "not"].contains(&t.as_str()))
            .collect();
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let like = |t: &str| format!("%{}%", t.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.name, t.message_id, m.conversation_id, c.title, c.updated_at
             FROM tool_calls t JOIN messages m ON m.id = t.message_id JOIN conversations c ON c.id = m.conversation_id
             WHERE lower(t.name) LIKE ?1 ESCAPE '\\' ORDER BY t.id DESC LIMIT 2000",
        )?;
        let mut rows = stmt.query([like(&terms[0])])?;
        let mut seen = std::collections::HashSet::new();
        let mut hits = Vec::new();
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let conversation_id: i64 = row.get(2)?;
            let lower = name.to_lowercase();
            if !terms.iter().all(|t| lower.contains(t.as_str())) || shown.contains(&conversation_id) {
                continue;
            }
            if !seen.insert(conversation_id) {
                continue;
            }
            hits.push(super::SearchHit {
                conversation_id,
                title: row.get(3)?,
                matched_in: super::MatchedIn::Message { id: row.get(1)?, role: crate::domain::Role::Model },
                snippet: format!("tool call {}{name}{}", super::SearchHit::MARK_START, super::SearchHit::MARK_END),
                updated_at: row.get(4)?,
            });
            if hits.len() == limit {
                break;
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Author;
    use crate::store::{MessageStatus, NewMessage, Parent};

    fn message(role: Author, text: &str) -> NewMessage {
        NewMessage { role, text: text.into(), model: None, status: MessageStatus::Complete, cached: false }
    }

    #[test]
    fn calls_are_kept_in_order_with_their_ends_and_found_by_tool_name() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        let c = store.create_conversation("notes", "m", None).unwrap();
        let q = store.add_message_to(c, Parent::Root, &message(Author::User, "hello")).unwrap();
        let a = store.add_message_to(c, Parent::Message(q), &message(Author::Model, "done")).unwrap();
        let call = |n: &str| NewToolCall {
            round: 1,
            call_id: n.into(),
            wire_id: Some(n.into()),
            server: Some("fs".into()),
            name: "read_text_file".into(),
            arguments: "{}".into(),
            signature: Some("c2ln".into()),
            text_offset: 0,
        };
        let ids = store.add_tool_calls(a, &[call("a"), call("b")]).unwrap();
        let end = ToolCallEnd {
            status: "ok".into(),
            result: Some("{}".into()),
            error_kind: None,
            error_detail: None,
            media: vec![("image/png".into(), vec![1, 2, 3])],
        };
        store.end_tool_call(ids[1], &end).unwrap();
        let saved = store.tool_calls_of_conversation(c).unwrap();
        assert_eq!(saved.iter().map(|s| s.call.call_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((saved[0].end.clone(), saved[1].end.clone()), (None, Some(end)));
        let hits = store.search("read_text_file", 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].conversation_id, c);
        assert!(store.search("write_file", 10).unwrap().is_empty());
        assert!(store.search("read_%", 10).unwrap().is_empty(), "LIKE's wildcards are literal");
        // Deleting the conversation takes its calls and their media with it.
        assert!(store.delete_conversation(c).unwrap());
        let left: i64 = store.conn.query_row("SELECT count(*) FROM tool_call_media", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }
}
