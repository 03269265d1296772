//! The persistent answer cache: whole answers keyed by a hash of everything that decides them,
//! bounded in entries with least-recently-used eviction, and in age by a time to live measured
//! from when the answer was cached. An expired answer is never returned.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAnswer {
    pub model: String,
    pub text: String,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// What the answer cost when it was asked (`None`: unknown): what a hit saves.
    pub cost: Option<crate::money::Usd>,
    /// When the answer was cached (ms since the epoch); its age counts from here.
    pub created_at: i64,
}

impl CachedAnswer {
    /// Older than `ttl` at `now_ms` (`None`: answers never expire).
    pub fn is_expired(&self, ttl: Option<Duration>, now_ms: i64) -> bool {
        self.created_at < expiry_cutoff(ttl, now_ms)
    }
}

/// Answers cached before this instant have expired.
fn expiry_cutoff(ttl: Option<Duration>, now_ms: i64) -> i64 {
    ttl.map_or(i64::MIN, |ttl| now_ms.saturating_sub(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)))
}

/// What `geminal cache stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: i64,
    /// Bytes of answer text (UTF-8).
    pub text_bytes: i64,
    /// Times an entry still in the cache has answered a question.
    pub hits: i64,
    pub oldest_at: Option<i64>,
    pub newest_at: Option<i64>,
    /// Entries past their time to live, not yet removed.
    pub expired: i64,
}

impl Store {
    /// The cached answer for `key`, marking it used; an expired one is deleted instead.
    pub fn cache_get(&self, key: &[u8], ttl: Option<Duration>) -> Result<Option<CachedAnswer>, StoreError> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT model, text, prompt_tokens, output_tokens, created_at, cost_nanos FROM answer_cache WHERE key = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([key], |r| {
                    Ok(CachedAnswer {
                        model: r.get(0)?,
                        text: r.get(1)?,
                        prompt_tokens: r.get(2)?,
                        output_tokens: r.get(3)?,
                        created_at: r.get(4)?,
                        cost: r.get::<_, Option<i64>>(5)?.map(crate::money::Usd::from_nanos),
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))?;
        let Some(answer) = found else { return Ok(None) };
        let now = now_ms();
        if answer.is_expired(ttl, now) {
            self.conn.execute("DELETE FROM answer_cache WHERE key = ?1", [key]).map_err(|e| self.err(e))?;
            return Ok(None);
        }
        self.conn
            .execute("UPDATE answer_cache SET last_used_at = ?2, hits = hits + 1 WHERE key = ?1", params![key, now])
            .map_err(|e| self.err(e))?;
        Ok(Some(answer))
    }

    /// Stores an answer (its age counts from `answer.created_at`), drops expired entries, then
    /// evicts the least recently used entries beyond `max_entries`.
    pub fn cache_put(
        &self,
        key: &[u8],
        answer: &CachedAnswer,
        max_entries: usize,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO answer_cache (key, model, text, prompt_tokens, output_tokens, created_at, last_used_at, cost_nanos)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    key,
                    answer.model,
                    answer.text,
                    answer.prompt_tokens,
                    answer.output_tokens,
                    answer.created_at,
                    now,
                    answer.cost.map(crate::money::Usd::nanos)
                ],
            )
            .map_err(|e| self.err(e))?;
        if ttl.is_some() {
            // The cheap purge: an entry unused since the cutoff was cached before it too
            // (created_at <= last_used_at), and the LRU index finds those without reading the
            // table. Expired entries used since are deleted when next met, or by `cache clear`.
            self.conn
                .execute("DELETE FROM answer_cache WHERE last_used_at < ?1", [expiry_cutoff(ttl, now)])
                .map_err(|e| self.err(e))?;
        }
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

    /// Empties the cache; returns how many answers were removed.
    pub fn cache_clear(&self) -> Result<usize, StoreError> {
        self.conn.execute("DELETE FROM answer_cache", []).map_err(|e| self.err(e))
    }

    /// Removes every answer past `ttl`; returns how many.
    pub fn cache_clear_expired(&self, ttl: Option<Duration>) -> Result<usize, StoreError> {
        if ttl.is_none() {
            return Ok(0);
        }
        self.conn
            .execute("DELETE FROM answer_cache WHERE created_at < ?1", [expiry_cutoff(ttl, now_ms())])
            .map_err(|e| self.err(e))
    }

    /// Counts, sizes and ages of the cache, with `ttl` deciding which entries have expired.
    pub fn cache_stats(&self, ttl: Option<Duration>) -> Result<CacheStats, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), coalesce(sum(length(CAST(text AS BLOB))), 0), coalesce(sum(hits), 0),
                        min(created_at), max(created_at), coalesce(sum(created_at < ?1), 0)
                 FROM answer_cache",
                [expiry_cutoff(ttl, now_ms())],
                |r| {
                    Ok(CacheStats {
                        entries: r.get(0)?,
                        text_bytes: r.get(1)?,
                        hits: r.get(2)?,
                        oldest_at: r.get(3)?,
                        newest_at: r.get(4)?,
                        expired: r.get(5)?,
                    })
                },
            )
            .map_err(|e| self.err(e))
    }
}
