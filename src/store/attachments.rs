//! Attachments in the history: content-addressed rows (by SHA-256) holding the bytes up to a
//! cap or else the path they came from, the ordered list of each prompt's attachments, and the
//! files uploaded to an endpoint with when they expire.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::AttachmentInfo;

/// An attachment to keep with a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub info: AttachmentInfo,
    /// The bytes, when they are to be kept (at most the configured cap).
    pub data: Option<bytes::Bytes>,
    /// Where the file was read from (kept when the bytes are not).
    pub path: Option<String>,
}

/// A kept attachment with what the history holds of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub info: AttachmentInfo,
    pub data: Option<Vec<u8>>,
    pub path: Option<String>,
}

impl Store {
    /// Lists `attachments` on message `message_id`, in order, adding each content once.
    pub fn add_attachments(&mut self, message_id: i64, attachments: &[NewAttachment]) -> Result<(), StoreError> {
        if attachments.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let result = (|| {
            let tx = super::write_tx::write_tx(&mut self.conn)?;
            let now = super::now_ms();
            for (position, a) in attachments.iter().enumerate() {
                // The same content kept again: keep bytes once known, and the latest path.
                tx.execute(
                    "INSERT INTO attachments (sha256, mime, size, data, path, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (sha256) DO UPDATE SET data = coalesce(attachments.data, excluded.data),
                        path = coalesce(excluded.path, attachments.path)",
                    params![
                        a.info.sha256,
                        a.info.mime,
                        a.info.size as i64,
                        a.data.as_deref(),
                        a.path,
                        now
                    ],
                )?;
                tx.execute(
                    "INSERT INTO message_attachments (message_id, position, sha256, name) VALUES (?1, ?2, ?3, ?4)",
                    params![message_id, position as i64, a.info.sha256, a.info.name],
                )?;
            }
            tx.commit()
        })();
        result.map_err(|e| self.noted(StoreError::from_sqlite(&path, e)))
    }

    /// What is attached to each message of a conversation (without the bytes), in order.
    pub fn attachment_infos(&self, conversation_id: i64) -> Result<HashMap<i64, Vec<AttachmentInfo>>, StoreError> {
        // A history without attachments (the usual case) pays one probe, not one per message.
        let any: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM message_attachments)")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        if !any {
            return Ok(HashMap::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT ma.message_id, ma.name, a.mime, a.size, a.sha256
                 FROM messages m JOIN message_attachments ma ON ma.message_id = m.id
                 JOIN attachments a ON a.sha256 = ma.sha256
                 WHERE m.conversation_id = ?1 ORDER BY ma.message_id, ma.position",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([conversation_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    AttachmentInfo {
                        name: r.get(1)?,
                        mime: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                        sha256: r.get(4)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        let mut out: HashMap<i64, Vec<AttachmentInfo>> = HashMap::new();
        for (id, info) in rows {
            out.entry(id).or_default().push(info);
        }
        Ok(out)
    }

    /// The attachments of message `message_id` with their kept bytes or path, in order.
    pub fn attachment_contents(&self, message_id: i64) -> Result<Vec<StoredAttachment>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT ma.name, a.mime, a.size, a.sha256, a.data, a.path
                 FROM message_attachments ma JOIN attachments a ON a.sha256 = ma.sha256
                 WHERE ma.message_id = ?1 ORDER BY ma.position",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([message_id], |r| {
            Ok(StoredAttachment {
                info: AttachmentInfo {
                    name: r.get(0)?,
                    mime: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    sha256: r.get(3)?,
                },
                data: r.get(4)?,
                path: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// Remembers that content `sha256` is uploaded to `endpoint` as `uri` until `expires_at` (ms).
    pub fn record_upload(&self, sha256: &str, endpoint: &str, uri: &str, expires_at: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO attachment_uploads (sha256, endpoint, uri, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (sha256, endpoint) DO UPDATE SET uri = excluded.uri, expires_at = excluded.expires_at",
                params![sha256, endpoint, uri, expires_at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The uploaded copy of `sha256` at `endpoint` and when it expires, if it lives past `after` (ms).
    pub fn live_upload(&self, sha256: &str, endpoint: &str, after: i64) -> Result<Option<(String, i64)>, StoreError> {
        self.conn
            .query_row(
                "SELECT uri, expires_at FROM attachment_uploads WHERE sha256 = ?1 AND endpoint = ?2 AND expires_at > ?3",
                params![sha256, endpoint, after],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Forgets contents no message lists any more (after a conversation is deleted), and
    /// uploaded copies of them or past their expiry.
    pub(super) fn drop_unlisted_attachments(&self) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM attachments WHERE NOT EXISTS
                    (SELECT 1 FROM message_attachments ma WHERE ma.sha256 = attachments.sha256)",
                [],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "DELETE FROM attachment_uploads WHERE expires_at < ?1
                    OR NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = attachment_uploads.sha256)",
                [super::now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::store::{MessageStatus, NewMessage};

    fn info(name: &str, sha: &str) -> AttachmentInfo {
        AttachmentInfo { name: name.into(), mime: "image/png".into(), size: 3, sha256: sha.into() }
    }

    fn prompt(store: &mut Store, conversation: i64) -> i64 {
        let m = NewMessage {
            role: Role::User,
            text: "look".into(),
            model: None,
            status: MessageStatus::Complete,
            cached: false,
        };
        store.add_message(conversation, &m).unwrap()
    }

    #[test]
    fn the_same_content_is_kept_once_and_listed_in_order_under_each_name() {
        let mut store = Store::open_in_memory().unwrap();
        let c = store.create_conversation("t", "m", None).unwrap();
        let first = prompt(&mut store, c);
        let second = prompt(&mut store, c);
        let a = NewAttachment { info: info("a.png", "aa"), data: Some(bytes::Bytes::from_static(b"abc")), path: None };
        let b = NewAttachment { info: info("b.png", "bb"), data: None, path: Some("/tmp/b.png".into()) };
        store.add_attachments(first, &[a.clone(), b.clone()]).unwrap();
        let renamed = NewAttachment { info: info("again.png", "aa"), data: None, path: Some("/x/again.png".into()) };
        store.add_attachments(second, &[renamed]).unwrap();
        let count: i64 = store.conn.query_row("SELECT count(*) FROM attachments", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 2);
        let infos = store.attachment_infos(c).unwrap();
        assert_eq!(infos[&first].iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["a.png", "b.png"]);
        assert_eq!(infos[&second][0].name, "again.png");
        let kept = store.attachment_contents(second).unwrap();
        assert_eq!(kept[0].data.as_deref(), Some(&b"abc"[..]), "the bytes stay known");
        assert_eq!(kept[0].path.as_deref(), Some("/x/again.png"));
        store.record_upload("aa", "https://g", "https://g/v1beta/files/x", i64::MAX).unwrap();
        assert!(store.delete_conversation(c).unwrap());
        let count: i64 = store.conn.query_row("SELECT count(*) FROM attachments", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 0, "a deleted conversation takes its attachments' bytes with it");
        assert_eq!(store.live_upload("aa", "https://g", 0).unwrap(), None, "and the record of their upload");
    }

    #[test]
    fn an_upload_is_offered_only_while_it_lives_and_only_for_its_endpoint() {
        let store = Store::open_in_memory().unwrap();
        store.record_upload("aa", "https://g", "https://g/v1beta/files/x", 1_000).unwrap();
        assert_eq!(
            store.live_upload("aa", "https://g", 999).unwrap(),
            Some(("https://g/v1beta/files/x".into(), 1_000))
        );
        assert_eq!(store.live_upload("aa", "https://g", 1_000).unwrap(), None, "expired");
        assert_eq!(store.live_upload("aa", "http://other", 0).unwrap(), None);
        store.record_upload("aa", "https://g", "https://g/v1beta/files/y", 5_000).unwrap();
        assert_eq!(store.live_upload("aa", "https://g", 1_000).unwrap().unwrap().0, "https://g/v1beta/files/y");
    }
}
