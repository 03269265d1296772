//! The tabs open in the interface (which conversation each shows, its unsent draft, which one
//! is active), saved as they change and when it closes, so the next start puts them back, even
//! after a crash.

use rusqlite::params;

use super::{Store, StoreError};

/// One tab as it is kept between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenTab {
    /// The saved conversation it shows; none for a tab not yet asked anything.
    pub conversation_id: Option<i64>,
    /// What was typed and not sent.
    pub draft: String,
    pub active: bool,
}

impl Store {
    /// Replaces the kept tabs with `tabs`, in order. Tabs with neither a conversation nor a
    /// draft are not kept (there is nothing to restore), unless active (it comes back active).
    pub fn save_open_tabs(&mut self, tabs: &[OpenTab]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let saved = (|| {
            let tx = super::write_tx::write_tx(&mut self.conn).map_err(sqlite)?;
            tx.execute("DELETE FROM open_tabs", []).map_err(sqlite)?;
            {
                let mut insert = tx
                    .prepare("INSERT INTO open_tabs (position, conversation_id, draft, active) VALUES (?1, ?2, ?3, ?4)")
                    .map_err(sqlite)?;
                let kept =
                    tabs.iter().filter(|t| t.conversation_id.is_some() || !t.draft.trim().is_empty() || t.active);
                for (position, tab) in kept.enumerate() {
                    insert
                        .execute(params![position as i64, tab.conversation_id, tab.draft, tab.active])
                        .map_err(sqlite)?;
                }
            }
            tx.commit().map_err(sqlite)
        })();
        saved.map_err(|e| self.noted(e))
    }

    /// The tabs kept by [`Store::save_open_tabs`], in order. A tab whose conversation was
    /// deleted since keeps its draft (as a new tab), or is gone if it had none and was not the
    /// active one.
    pub fn open_tabs(&self) -> Result<Vec<OpenTab>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT conversation_id, draft, active FROM open_tabs
                 WHERE conversation_id IS NOT NULL OR draft != '' OR active ORDER BY position",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| Ok(OpenTab { conversation_id: r.get(0)?, draft: r.get(1)?, active: r.get(2)? }))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageStatus, Role};
    use crate::store::NewMessage;

    #[test]
    fn tabs_come_back_in_order_and_a_deleted_conversation_leaves_only_its_draft() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        let conversation = |store: &mut Store| {
            let id = store.create_conversation("t", "m", None).unwrap();
            let hi = NewMessage {
                role: Role::User,
                text: "hi".into(),
                model: None,
                status: MessageStatus::Complete,
                cached: false,
            };
            store.add_message(id, &hi).unwrap();
            id
        };
        let (a, b, c) = (conversation(&mut store), conversation(&mut store), conversation(&mut store));
        let tab = |conversation_id, draft: &str, active| OpenTab { conversation_id, draft: draft.into(), active };
        store
            .save_open_tabs(&[
                tab(Some(a), "", false),
                tab(None, "", false),
                tab(Some(b), "half a question", true),
                tab(None, "a draft of its own", false),
                tab(Some(c), "", false),
            ])
            .unwrap();
        assert_eq!(
            store.open_tabs().unwrap(),
            [
                tab(Some(a), "", false),
                tab(Some(b), "half a question", true),
                tab(None, "a draft of its own", false),
                tab(Some(c), "", false)
            ],
            "an empty new tab is not kept"
        );
        store.delete_conversation(b).unwrap();
        store.delete_conversation(c).unwrap();
        assert_eq!(
            store.open_tabs().unwrap(),
            [tab(Some(a), "", false), tab(None, "half a question", true), tab(None, "a draft of its own", false)]
        );
        store.save_open_tabs(&[]).unwrap();
        assert!(store.open_tabs().unwrap().is_empty());
    }
}
