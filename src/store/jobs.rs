//! Batch jobs and their lines (SQL only). A job is written the moment it is submitted, its
//! lines with it, so any later process can wait for it and collect its results; each line
//! remembers whether its result is already in the history, so results are written exactly once.
//! What a line's `input` says is the caller's business (it is stored as given).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now_ms};
use crate::error_data::StoredError;

/// A job as stored, with its lines counted by state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    /// `local` or `remote`.
    pub kind: String,
    /// `submitting`, `pending`, `running`, `succeeded`, `failed`, `cancelled`, `expired`, `deleted`.
    pub state: String,
    pub model: String,
    /// `batches/<id>` once Gemini has accepted the job.
    pub remote_name: Option<String>,
    pub input_path: Option<String>,
    /// Where a local run wrote its lines (`--resume OUT`), if not to stdout.
    pub output_path: Option<String>,
    pub input_hash: String,
    /// The uploaded request file (`files/<id>`), when the job was not sent inline.
    pub input_file: Option<String>,
    pub result_file: Option<String>,
    pub priority: i64,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// Why it failed or was not submitted, as data (a sentence, written before schema 17).
    pub error: Option<StoredError>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// What its answers saved in the history cost (a remote job's at the batch price).
    pub cost: crate::money::Total,
}

/// A new job: its lines are added with [`Store::add_job_lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: String,
    pub model: String,
    pub input_path: Option<String>,
    pub output_path: Option<String>,
    pub input_hash: String,
    pub priority: i64,
}

/// One line of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLine {
    pub key: String,
    /// Its place in the input (1-based).
    pub line: i64,
    pub input: String,
    /// `pending`, `done` or `failed`.
    pub state: String,
    /// Its error kind's name, as stored.
    pub error_kind: Option<String>,
    /// Its error as data (or, written before schema 17, as a sentence).
    pub error: Option<StoredError>,
}

/// A line of a local run, as it stands: answered (`done`, with its saved answer and tokens),
/// `failed` (with its error), or `pending` (read but never sent: a budget stopped the run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalLine {
    pub key: String,
    /// Its place in the input (1-based).
    pub line: i64,
    pub input: String,
    pub state: LocalState,
    /// The answer saved in the history (its cost is the line's).
    pub message_id: Option<i64>,
    /// Prompt, output and thought tokens.
    pub tokens: [Option<i64>; 3],
}

/// Where a local run's line stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalState {
    Done,
    /// Its error, as data.
    Failed(StoredError),
    Pending,
}

/// What Gemini said about a job (from a `get`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobUpdate {
    pub state: String,
    pub result_file: Option<String>,
    pub error: Option<StoredError>,
    pub finished: bool,
}

/// The conversation a batch answer starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTurn {
    pub title: String,
    pub model: String,
    pub system: Option<String>,
    pub settings: Option<String>,
    pub role: Option<String>,
    pub prompt: String,
}

/// One line's result, to be saved once.
#[derive(Debug, Clone, PartialEq)]
pub enum LineResult {
    Answered {
        key: String,
        turn: Box<BatchTurn>,
        answer: String,
        thoughts: Option<String>,
        prompt_tokens: Option<i64>,
        output_tokens: Option<i64>,
        thought_tokens: Option<i64>,
        /// Priced at the batch rate (a remote job's answers).
        batch_priced: bool,
        /// What it cost (unknown without a price).
        cost: crate::money::AnswerCost,
        /// The answer-cache key, when the answer may be cached.
        cache_key: Option<Vec<u8>>,
    },
    Failed {
        key: String,
        error: StoredError,
    },
}

impl LineResult {
    pub fn key(&self) -> &str {
        match self {
            LineResult::Answered { key, .. } | LineResult::Failed { key, .. } => key,
        }
    }
}

const JOB_COLUMNS: &str = "j.id, j.kind, j.state, j.model, j.remote_name, j.input_path, j.input_hash, j.input_file,
    j.output_path,
    j.result_file, j.priority, j.total,
    (SELECT count(*) FROM job_lines l WHERE l.job_id = j.id AND l.state = 'done'),
    (SELECT count(*) FROM job_lines l WHERE l.job_id = j.id AND l.state = 'failed'),
    j.error, j.created_at, j.updated_at, j.finished_at,
    (SELECT coalesce(sum(m.cost_nanos), 0) FROM job_lines l JOIN messages m ON m.id = l.message_id
        WHERE l.job_id = j.id),
    (SELECT count(*) FROM job_lines l JOIN messages m ON m.id = l.message_id
        WHERE l.job_id = j.id AND m.cost_nanos IS NULL),
    j.error_kind, j.error_detail";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        state: r.get(2)?,
        model: r.get(3)?,
        remote_name: r.get(4)?,
        input_path: r.get(5)?,
        input_hash: r.get(6)?,
        input_file: r.get(7)?,
        output_path: r.get(8)?,
        result_file: r.get(9)?,
        priority: r.get(10)?,
        total: r.get(11)?,
        done: r.get(12)?,
        failed: r.get(13)?,
        error: StoredError::from_columns(
            r.get_ref(20)?.as_str_or_null()?,
            r.get_ref(21)?.as_str_or_null()?,
            r.get_ref(14)?.as_str_or_null()?,
        ),
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        finished_at: r.get(17)?,
        cost: crate::money::Total {
            known: crate::money::Usd::from_nanos(r.get(18)?),
            unknown: r.get::<_, i64>(19)?.max(0) as u64,
        },
    })
}

impl Store {
    /// Records a new job (a remote one `submitting`, a local one `running`); returns its id.
    pub fn create_job(&self, job: &NewJob) -> Result<i64, StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "INSERT INTO jobs (kind, state, model, input_path, output_path, input_hash, priority, created_at, updated_at)
                 VALUES (?1, CASE ?1 WHEN 'local' THEN 'running' ELSE 'submitting' END, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![job.kind, job.model, job.input_path, job.output_path, job.input_hash, job.priority, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Adds lines `(key, line number, input)` to a job, in one transaction.
    pub fn add_job_lines(&mut self, job_id: i64, lines: &[(String, i64, String)]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let tx = super::write_tx::write_tx(&mut self.conn).map_err(sqlite)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO job_lines (job_id, key, line, input) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sqlite)?;
            for (key, line, input) in lines {
                insert.execute(params![job_id, key, line, input]).map_err(sqlite)?;
            }
        }
        tx.execute("UPDATE jobs SET total = total + ?2 WHERE id = ?1", params![job_id, lines.len() as i64])
            .map_err(sqlite)?;
        tx.commit().map_err(sqlite)
    }

    /// Gemini accepted the job: its name, the request file it reads (if any), the file's hash.
    pub fn set_job_submitted(
        &self,
        job_id: i64,
        remote_name: &str,
        input_file: Option<&str>,
        state: &str,
        input_hash: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE jobs SET remote_name = ?2, input_file = ?3, state = ?4, updated_at = ?5, input_hash = ?6
                 WHERE id = ?1",
                params![job_id, remote_name, input_file, state, now_ms(), input_hash],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The hash of the job's request file, recorded before it is sent.
    pub fn set_job_hash(&self, job_id: i64, input_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE jobs SET input_hash = ?2 WHERE id = ?1", params![job_id, input_hash])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The job's latest state as Gemini (or the local run) reports it.
    pub fn update_job(&self, job_id: i64, update: &JobUpdate) -> Result<(), StoreError> {
        let now = now_ms();
        let (kind, detail, legacy) = update.error.as_ref().map(StoredError::to_columns).unwrap_or_default();
        self.conn
            .execute(
                "UPDATE jobs SET state = ?2, result_file = coalesce(?3, result_file), error = coalesce(?4, error),
                    updated_at = ?5, finished_at = CASE WHEN ?6 THEN coalesce(finished_at, ?5) END,
                    error_kind = coalesce(?7, error_kind), error_detail = coalesce(?8, error_detail)
                 WHERE id = ?1",
                params![job_id, update.state, update.result_file, legacy, now, update.finished, kind, detail],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn job(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        self.conn
            .query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = ?1"), [id], job_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every job, newest first.
    pub fn jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs j ORDER BY j.id DESC"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], job_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The lines of a job with these keys (those it has).
    pub fn job_lines_by_key(&self, job_id: i64, keys: &[String]) -> Result<Vec<JobLine>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, line, input, state, error_kind, error_message, error_detail FROM job_lines WHERE job_id = ?1 AND key = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(line) = stmt.query_row(params![job_id, key], line_row).optional().map_err(|e| self.err(e))? {
                found.push(line);
            }
        }
        Ok(found)
    }

    /// A page of a job's lines in a state (`None`: any), in input order, after line `after`.
    pub fn job_lines(
        &self,
        job_id: i64,
        state: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<JobLine>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, line, input, state, error_kind, error_message, error_detail FROM job_lines
                 WHERE job_id = ?1 AND (?2 IS NULL OR state = ?2) AND line > ?3 ORDER BY line LIMIT ?4",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![job_id, state, after, limit as i64], line_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Saves results in one transaction: an answer becomes a conversation (prompt and answer,
    /// with its tokens) and a cache entry, a failure marks its line. A line already saved is
    /// skipped; returns, per result, whether it was saved now.
    pub fn save_job_results(
        &mut self,
        job_id: i64,
        results: &[LineResult],
        cache_max_entries: usize,
    ) -> Result<Vec<bool>, StoreError> {
        let path = self.path.clone();
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let tx = super::write_tx::write_tx(&mut self.conn).map_err(sqlite)?;
        let now = now_ms();
        let mut saved = Vec::with_capacity(results.len());
        for result in results {
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM job_lines WHERE job_id = ?1 AND key = ?2",
                    params![job_id, result.key()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sqlite)?;
            if state.as_deref() != Some("pending") && state.as_deref() != Some("failed") {
                saved.push(false);
                continue;
            }
            match result {
                LineResult::Failed { key, error } => {
                    let (kind, detail, message) = error.to_columns();
                    let changed = tx
                        .execute(
                            "UPDATE job_lines SET state = 'failed', error_kind = ?3, error_message = ?4, error_detail = ?5
                             WHERE job_id = ?1 AND key = ?2 AND state = 'pending'",
                            params![job_id, key, kind, message, detail],
                        )
                        .map_err(sqlite)?;
                    saved.push(changed > 0);
                }
                LineResult::Answered {
                    key,
                    turn,
                    answer,
                    thoughts,
                    prompt_tokens,
                    output_tokens,
                    thought_tokens,
                    batch_priced,
                    cost,
                    cache_key,
                } => {
                    exec(
                        &tx,
                        "INSERT INTO conversations (title, model, system_prompt, created_at, updated_at, settings, role)
                         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                        params![turn.title, turn.model, turn.system, now, turn.settings, turn.role],
                    )
                    .map_err(sqlite)?;
                    let conversation = tx.last_insert_rowid();
                    exec(
                        &tx,
                        "INSERT INTO messages (conversation_id, role, text, status, created_at)
                         VALUES (?1, 'user', ?2, 'complete', ?3)",
                        params![conversation, turn.prompt, now],
                    )
                    .map_err(sqlite)?;
                    let prompt_id = tx.last_insert_rowid();
                    exec(
                        &tx,
                        "INSERT INTO messages (conversation_id, role, text, model, status, created_at, parent_id,
                            prompt_tokens, output_tokens, thought_tokens, thoughts, batch_priced, cost_nanos, priced_as)
                         VALUES (?1, 'model', ?2, ?3, 'complete', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                        params![
                            conversation,
                            answer,
                            turn.model,
                            now,
                            prompt_id,
                            prompt_tokens,
                            output_tokens,
                            thought_tokens,
                            thoughts,
                            batch_priced,
                            cost.cost.map(crate::money::Usd::nanos),
                            cost.priced_as
                        ],
                    )
                    .map_err(sqlite)?;
                    let answer_id = tx.last_insert_rowid();
                    exec(&tx, "UPDATE conversations SET head_id = ?2 WHERE id = ?1", params![conversation, answer_id])
                        .map_err(sqlite)?;
                    // What it cost goes to the spending ledger with it (a budget counts it there).
                    let spend = super::SpendEntry {
                        model: turn.model.clone(),
                        priced_as: cost.priced_as.clone(),
                        cost: cost.cost,
                        prompt_tokens: *prompt_tokens,
                        output_tokens: *output_tokens,
                        thought_tokens: *thought_tokens,
                        batch: *batch_priced,
                    };
                    super::ledger::insert_spend(&tx, &spend).map_err(sqlite)?;
                    if let Some(cache_key) = cache_key {
                        exec(
                            &tx,
                            "INSERT OR REPLACE INTO answer_cache
                                (key, model, text, prompt_tokens, output_tokens, created_at, last_used_at, cost_nanos)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                            params![
                                cache_key,
                                turn.model,
                                answer,
                                prompt_tokens,
                                output_tokens,
                                now,
                                cost.cost.map(crate::money::Usd::nanos)
                            ],
                        )
                        .map_err(sqlite)?;
                    }
                    exec(
                        &tx,
                        "UPDATE job_lines SET state = 'done', message_id = ?3, error_kind = NULL, error_message = NULL, error_detail = NULL,
                            prompt_tokens = ?4, output_tokens = ?5, thought_tokens = ?6
                         WHERE job_id = ?1 AND key = ?2",
                        params![job_id, key, answer_id, prompt_tokens, output_tokens, thought_tokens],
                    )
                    .map_err(sqlite)?;
                    saved.push(true);
                }
            }
        }
        exec(
            &tx,
            "DELETE FROM answer_cache WHERE key IN
               (SELECT key FROM answer_cache ORDER BY last_used_at DESC, key DESC LIMIT -1 OFFSET ?1)",
            params![cache_max_entries as i64],
        )
        .map_err(sqlite)?;
        exec(&tx, "UPDATE jobs SET updated_at = ?2 WHERE id = ?1", params![job_id, now]).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        Ok(saved)
    }

    /// Records lines of a local run, in one transaction; a line recorded again takes its new
    /// state. The job's total never drops below what it was set to (its input's lines).
    pub fn record_local_lines(&mut self, job_id: i64, lines: &[LocalLine]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let tx = super::write_tx::write_tx(&mut self.conn).map_err(sqlite)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO job_lines (job_id, key, line, input, state, error_kind, error_message, message_id,
                        prompt_tokens, output_tokens, thought_tokens, error_detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (job_id, key) DO UPDATE SET state = excluded.state, input = excluded.input,
                        error_kind = excluded.error_kind, error_message = excluded.error_message,
                        error_detail = excluded.error_detail,
                        message_id = excluded.message_id, prompt_tokens = excluded.prompt_tokens,
                        output_tokens = excluded.output_tokens, thought_tokens = excluded.thought_tokens",
                )
                .map_err(sqlite)?;
            for l in lines {
                let (state, (kind, detail, message)) = match &l.state {
                    LocalState::Done => ("done", (None, None, None)),
                    LocalState::Failed(error) => ("failed", error.to_columns()),
                    LocalState::Pending => ("pending", (None, None, None)),
                };
                upsert
                    .execute(params![
                        job_id,
                        l.key,
                        l.line,
                        l.input,
                        state,
                        kind,
                        message,
                        l.message_id,
                        l.tokens[0],
                        l.tokens[1],
                        l.tokens[2],
                        detail
                    ])
                    .map_err(sqlite)?;
            }
        }
        tx.execute(
            "UPDATE jobs SET total = max(total, (SELECT count(*) FROM job_lines WHERE job_id = ?1)), updated_at = ?2
             WHERE id = ?1",
            params![job_id, now_ms()],
        )
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)
    }

    /// A local run's total: the lines of its input, counted before it starts.
    pub fn set_job_total(&self, job_id: i64, total: i64) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE jobs SET total = ?2 WHERE id = ?1", params![job_id, total])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Tokens of a job's answered lines: (prompt, output, thoughts).
    pub fn job_tokens(&self, job_id: i64) -> Result<(i64, i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(thought_tokens), 0)
                 FROM job_lines WHERE job_id = ?1 AND state = 'done'",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err(e))
    }

    /// Forgets a job and its lines (the answers it saved stay in the history).
    pub fn delete_job(&self, id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute("DELETE FROM jobs WHERE id = ?1", [id]).map_err(|e| self.err(e))?;
        Ok(n > 0)
    }
}

/// Runs a statement through the connection's statement cache (one save runs each many times).
fn exec(tx: &rusqlite::Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

fn line_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobLine> {
    Ok(JobLine {
        key: r.get(0)?,
        line: r.get(1)?,
        input: r.get(2)?,
        state: r.get(3)?,
        error_kind: r.get(4)?,
        error: StoredError::from_columns(
            r.get_ref(4)?.as_str_or_null()?,
            r.get_ref(6)?.as_str_or_null()?,
            r.get_ref(5)?.as_str_or_null()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_data::ErrorKind;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        (dir, store)
    }

    fn answered(key: &str) -> LineResult {
        LineResult::Answered {
            key: key.to_owned(),
            turn: Box::new(BatchTurn {
                title: "t".into(),
                model: "m".into(),
                system: None,
                settings: None,
                role: None,
                prompt: format!("prompt {key}"),
            }),
            answer: format!("answer {key}"),
            thoughts: None,
            prompt_tokens: Some(3),
            output_tokens: Some(5),
            thought_tokens: None,
            batch_priced: true,
            cost: crate::money::AnswerCost::default(),
            cache_key: Some(vec![1, 2, key.len() as u8]),
        }
    }

    #[test]
    fn a_result_saved_twice_is_written_once() {
        let (_dir, mut s) = store();
        let job = s
            .create_job(&NewJob {
                kind: "remote".into(),
                model: "m".into(),
                input_path: None,
                output_path: None,
                input_hash: "h".into(),
                priority: 0,
            })
            .unwrap();
        s.add_job_lines(job, &[("a".into(), 1, "{}".into()), ("b".into(), 2, "{}".into())]).unwrap();
        assert_eq!(s.save_job_results(job, &[answered("a")], 100).unwrap(), vec![true]);
        assert_eq!(s.save_job_results(job, &[answered("a"), answered("b")], 100).unwrap(), vec![false, true]);
        let messages: i64 =
            s.conn.query_row("SELECT count(*) FROM messages WHERE batch_priced = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(messages, 2);
        let record = s.job(job).unwrap().unwrap();
        assert_eq!((record.total, record.done, record.failed), (2, 2, 0));
        assert_eq!(s.job_tokens(job).unwrap(), (6, 10, 0));
    }

    #[test]
    fn a_local_run_counts_every_line_of_its_input_and_keeps_each_lines_state() {
        let (_dir, mut s) = store();
        let job = s
            .create_job(&NewJob {
                kind: "local".into(),
                model: "m".into(),
                input_path: Some("/p.txt".into()),
                output_path: None,
                input_hash: String::new(),
                priority: 0,
            })
            .unwrap();
        s.set_job_total(job, 4).unwrap();
        let line = |key: &str, n: i64, state: LocalState, tokens: [Option<i64>; 3]| LocalLine {
            key: key.into(),
            line: n,
            input: "{}".into(),
            state,
            message_id: None,
            tokens,
        };
        s.record_local_lines(
            job,
            &[
                line("1", 1, LocalState::Done, [Some(10), Some(5), None]),
                line("2", 2, LocalState::Failed(StoredError::with_message(ErrorKind::Server, "down")), [None; 3]),
                line("3", 3, LocalState::Pending, [None; 3]),
            ],
        )
        .unwrap();
        let record = s.job(job).unwrap().unwrap();
        assert_eq!((record.total, record.done, record.failed), (4, 1, 1), "the total stays the input's");
        assert_eq!(s.job_tokens(job).unwrap(), (10, 5, 0));
        assert_eq!(s.job_lines(job, Some("pending"), 0, 10).unwrap()[0].key, "3");
    }

    #[test]
    fn a_failed_line_can_be_answered_later_but_not_failed_twice() {
        let (_dir, mut s) = store();
        let job = s
            .create_job(&NewJob {
                kind: "remote".into(),
                model: "m".into(),
                input_path: None,
                output_path: None,
                input_hash: "h".into(),
                priority: 0,
            })
            .unwrap();
        s.add_job_lines(job, &[("a".into(), 1, "{}".into())]).unwrap();
        let failed =
            LineResult::Failed { key: "a".into(), error: StoredError::with_message(ErrorKind::PromptBlocked, "no") };
        assert_eq!(s.save_job_results(job, std::slice::from_ref(&failed), 100).unwrap(), vec![true]);
        assert_eq!(s.save_job_results(job, &[failed], 100).unwrap(), vec![false]);
        assert_eq!(s.job_lines(job, Some("failed"), 0, 10).unwrap().len(), 1);
        assert_eq!(s.save_job_results(job, &[answered("a")], 100).unwrap(), vec![true]);
        assert!(s.job_lines(job, Some("failed"), 0, 10).unwrap().is_empty());
    }
}
