//! Per-request metrics and the statistics `geminal stats` shows.

use rusqlite::params;

use super::{Store, StoreError, now_ms};

/// One finished request (or cache hit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metric {
    pub model: String,
    /// `ok`, or the error kind's name.
    pub outcome: String,
    pub cached: bool,
    pub latency_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub thought_tokens: Option<i64>,
    pub retries: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub cache_hits: i64,
    pub retries: i64,
    pub prompt_tokens: i64,
    pub output_tokens: i64,
    /// Thinking tokens (billed as output, counted apart).
    pub thought_tokens: i64,
    pub latency_p50_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    pub first_token_p50_ms: Option<i64>,
    pub first_token_p95_ms: Option<i64>,
    /// Failures by kind, most frequent first.
    pub failures: Vec<(String, i64)>,
    pub conversations: i64,
    pub messages: i64,
}

/// What answers cost in one group (a model, a UTC day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    /// The model (the one that answered, as priced, when known) or the day (`YYYY-MM-DD`).
    pub group: String,
    /// Answers with usage (cache hits included).
    pub answers: i64,
    /// Sum of the known costs, in nano-dollars.
    pub cost_nanos: i64,
    /// Answers of unknown price.
    pub unknown: i64,
    /// What cache hits saved, in nano-dollars.
    pub saved_nanos: i64,
    pub cache_hits: i64,
}

/// Money by model and by UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendStats {
    pub by_model: Vec<SpendRow>,
    pub by_day: Vec<SpendRow>,
}

impl Store {
    /// What answers since `since_ms` cost (all time if `None`), by model and by UTC day, most
    /// recent day first.
    pub fn spend_stats(&self, since_ms: Option<i64>) -> Result<SpendStats, StoreError> {
        let since = since_ms.unwrap_or(i64::MIN);
        let query = |group: &str, order: &str| -> rusqlite::Result<Vec<SpendRow>> {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT {group} AS g, count(*), coalesce(sum(cost_nanos), 0), count(*) - count(cost_nanos),
                        coalesce(sum(saved_nanos), 0), coalesce(sum(cached), 0)
                 FROM messages
                 WHERE role = 'model' AND created_at >= ?1 AND (prompt_tokens IS NOT NULL OR cached = 1)
                 GROUP BY g ORDER BY {order}"
            ))?;
            stmt.query_map([since], |r| {
                Ok(SpendRow {
                    group: r.get(0)?,
                    answers: r.get(1)?,
                    cost_nanos: r.get(2)?,
                    unknown: r.get(3)?,
                    saved_nanos: r.get(4)?,
                    cache_hits: r.get(5)?,
                })
            })?
            .collect()
        };
        let run = || -> rusqlite::Result<SpendStats> {
            Ok(SpendStats {
                by_model: query("coalesce(priced_as, model, '')", "3 DESC, 1")?,
                by_day: query("date(created_at / 1000, 'unixepoch')", "1 DESC")?,
            })
        };
        run().map_err(|e| self.err(e))
    }

    pub fn record_metric(&self, m: &Metric) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO request_metrics (at, model, outcome, cached, latency_ms, first_token_ms, prompt_tokens, output_tokens, retries, thought_tokens)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut insert| insert.execute(params![now_ms(), m.model, m.outcome, m.cached, m.latency_ms, m.first_token_ms, m.prompt_tokens, m.output_tokens, m.retries, m.thought_tokens]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Totals and latency percentiles of requests since `since_ms` (all time if `None`).
    /// Latencies count only answers that came from the network.
    pub fn stats(&self, since_ms: Option<i64>) -> Result<Stats, StoreError> {
        let since = since_ms.unwrap_or(i64::MIN);
        let conn = &self.conn;
        let run = || -> rusqlite::Result<Stats> {
            let mut s = conn.query_row(
                "SELECT count(*), coalesce(sum(outcome = 'ok'), 0), coalesce(sum(outcome != 'ok'), 0), coalesce(sum(cached), 0),
                        coalesce(sum(retries), 0), coalesce(sum(prompt_tokens), 0), coalesce(sum(output_tokens), 0),
                        coalesce(sum(thought_tokens), 0)
                 FROM request_metrics WHERE at >= ?1",
                [since],
                |r| {
                    Ok(Stats {
                        requests: r.get(0)?,
                        succeeded: r.get(1)?,
                        failed: r.get(2)?,
                        cache_hits: r.get(3)?,
                        retries: r.get(4)?,
                        prompt_tokens: r.get(5)?,
                        output_tokens: r.get(6)?,
                        thought_tokens: r.get(7)?,
                        ..Stats::default()
                    })
                },
            )?;
            let percentile = |column: &str, p: f64| -> rusqlite::Result<Option<i64>> {
                let filter = format!(
                    "FROM request_metrics WHERE at >= ?1 AND cached = 0 AND outcome = 'ok' AND {column} IS NOT NULL"
                );
                let n: i64 = conn.query_row(&format!("SELECT count(*) {filter}"), [since], |r| r.get(0))?;
                if n == 0 {
                    return Ok(None);
                }
                let offset = ((n as f64 * p).ceil() as i64 - 1).clamp(0, n - 1);
                conn.query_row(
                    &format!("SELECT {column} {filter} ORDER BY {column} LIMIT 1 OFFSET ?2"),
                    params![since, offset],
                    |r| r.get(0),
                )
            };
            s.latency_p50_ms = percentile("latency_ms", 0.50)?;
            s.latency_p95_ms = percentile("latency_ms", 0.95)?;
            s.first_token_p50_ms = percentile("first_token_ms", 0.50)?;
            s.first_token_p95_ms = percentile("first_token_ms", 0.95)?;
            let mut stmt = conn.prepare(
                "SELECT outcome, count(*) FROM request_metrics WHERE at >= ?1 AND outcome != 'ok' GROUP BY outcome ORDER BY 2 DESC, 1",
            )?;
            s.failures = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            s.conversations = conn.query_row("SELECT count(*) FROM conversations", [], |r| r.get(0))?;
            s.messages = conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
            Ok(s)
        };
        run().map_err(|e| self.err(e))
    }
}
