//! A local `batch` run recorded as a job: its lines are written in groups as they finish (never
//! one transaction per answer), each with its state (answered with its saved answer and tokens,
//! failed, or never sent), so `geminal jobs` shows a run that is going, stopped or done with its
//! true totals, tokens and cost, and `batch --retry-failed ID` finishes it without the output
//! file's name, sending its lines as the run did (the run's flags ride on its first line).

use super::JobError;
use super::build::StoredInput;
use crate::store::{JobUpdate, LocalLine, LocalState, NewJob, StoreHandle};

/// Lines recorded in one transaction.
const RECORD_GROUP: usize = 256;

pub struct LocalJob {
    store: StoreHandle,
    pub id: i64,
    unsaved: Vec<LocalLine>,
    /// The run's flags, until the first line recorded carries them.
    run: Option<serde_json::Value>,
}

impl LocalJob {
    /// Records a new run of `total` input lines (when known before it starts) whose flags are
    /// `run` (the front end's business).
    pub async fn start(
        store: StoreHandle,
        model: String,
        input_path: Option<String>,
        output_path: Option<String>,
        total: Option<u64>,
        run: serde_json::Value,
    ) -> Result<LocalJob, JobError> {
        let job =
            NewJob { kind: "local".to_owned(), model, input_path, output_path, input_hash: String::new(), priority: 0 };
        let id = store.call(move |s| s.create_job(&job)).await?;
        if let Some(total) = total {
            let total = i64::try_from(total).unwrap_or(i64::MAX);
            store.call(move |s| s.set_job_total(id, total)).await?;
        }
        Ok(LocalJob { store, id, unsaved: Vec::new(), run: Some(run) })
    }

    /// Records line `line` of the input (1-based) as it stands now; `message_id` is its answer
    /// saved in the history, `tokens` its prompt, output and thought tokens.
    pub async fn record(
        &mut self,
        line: usize,
        mut input: StoredInput,
        state: LocalState,
        message_id: Option<i64>,
        tokens: [Option<i64>; 3],
    ) -> Result<(), JobError> {
        if input.run.is_none() {
            input.run = self.run.take();
        }
        let key = input.id.clone();
        let input = serde_json::to_string(&input).map_err(|e| JobError::Io(e.to_string()))?;
        let line = i64::try_from(line).unwrap_or(i64::MAX);
        self.unsaved.push(LocalLine { key, line, input, state, message_id, tokens });
        if self.unsaved.len() >= RECORD_GROUP {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), JobError> {
        let (id, lines) = (self.id, std::mem::take(&mut self.unsaved));
        if !lines.is_empty() {
            self.store.call_grouped(move |s| s.record_local_lines(id, &lines)).await?;
        }
        Ok(())
    }

    /// Records what is left and the run's end: `succeeded` or `interrupted`.
    pub async fn finish(mut self, state: &str) -> Result<(), JobError> {
        self.flush().await?;
        let (id, update) =
            (self.id, JobUpdate { state: state.to_owned(), result_file: None, error: None, finished: true });
        self.store.call(move |s| s.update_job(id, &update)).await?;
        Ok(())
    }
}
