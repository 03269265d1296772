//! The persistent answer cache: whole answers keyed by a hash of everything that decides them,
//! bounded in entries with least-recently-used eviction.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAnswer {
    pub model: String,
    pub text: String,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
}

impl Store {
    /// The cached answer for `key`, marking it used.
    pub fn cache_get(&self, key: &[u8]) -> Result<Option<CachedAnswer>, StoreError> {
        let found = self
            .conn
            .prepare_cached("SELECT model, text, prompt_tokens, output_tokens FROM answer_cache WHERE key = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([key], |r| {
                    Ok(CachedAnswer {
                        model: r.get(0)?,
                        text: r.get(1)?,
                        prompt_tokens: r.get(2)?,
                        output_tokens: r.get(3)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))?;
        if found.is_some() {
            self.conn
                .execute(
                    "UPDATE answer_cache SET last_used_at = ?2, hits = hits + 1 WHERE key = ?1",
                    params![key, now_ms()],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(found)
    }

    /// Stores an answer, then evicts the least recently used entries beyond `max_entries`.
    pub fn cache_put(&self, key: &[u8], answer: &CachedAnswer, max_entries: usize) -> Result<(), StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO answer_cache (key, model, text, prompt_tokens, output_tokens, created_at, last_used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![key, answer.model, answer.text, answer.prompt_tokens, answer.output_tokens, now],
            )
            .map_err(|e| self.err(e))?;
        // Least recently used first; the key breaks ties (the table has no rowid).
        self.conn
            .execute(
                "DELETE FROM answer_cache WHERE key IN
                   (SELECT key FROM answer_cache ORDER BY last_used_at DESC, key DESC LIMIT -1 OFFSET ?1)",
                [max_entries as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn cache_len(&self) -> Result<i64, StoreError> {
        self.conn.query_row("SELECT count(*) FROM answer_cache", [], |r| r.get(0)).map_err(|e| self.err(e))
    }
}
