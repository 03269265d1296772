//! A local `batch` run recorded as a job: its lines' outcomes are written in groups as they
//! finish (never one transaction per answer), so `geminal jobs` shows a run that is going or
//! was interrupted, and `batch --retry-failed ID` finishes it without the output file's name.

use super::JobError;
use super::build::StoredInput;
use crate::store::{JobUpdate, LocalLine, NewJob, StoreHandle};

/// Lines recorded in one transaction.
const RECORD_GROUP: usize = 256;

pub struct LocalJob {
    store: StoreHandle,
    pub id: i64,
    lines: i64,
    unsaved: Vec<LocalLine>,
}

impl LocalJob {
    pub async fn start(
        store: StoreHandle,
        model: String,
        input_path: Option<String>,
        output_path: Option<String>,
    ) -> Result<LocalJob, JobError> {
        let job =
            NewJob { kind: "local".to_owned(), model, input_path, output_path, input_hash: String::new(), priority: 0 };
        let id = store.call(move |s| s.create_job(&job)).await?;
        Ok(LocalJob { store, id, lines: 0, unsaved: Vec::new() })
    }

    /// Records one output line of the run (a line without an id, bad input, is not one).
    pub async fn record(&mut self, line: &serde_json::Value) -> Result<(), JobError> {
        self.lines += 1;
        let Some(id) = line["id"].as_str() else { return Ok(()) };
        let input = StoredInput {
            id: id.to_owned(),
            prompt: line["prompt"].as_str().unwrap_or_default().to_owned(),
            model: line["model"].as_str().unwrap_or_default().to_owned(),
            system: None,
            role: None,
            settings: None,
            cache_key: None,
        };
        let error = line["error"].is_object().then(|| {
            let text = |k: &str| line["error"][k].as_str().unwrap_or_default().to_owned();
            (text("kind"), text("message"))
        });
        let input = serde_json::to_string(&input).map_err(|e| JobError::Io(e.to_string()))?;
        self.unsaved.push((id.to_owned(), self.lines, input, error));
        if self.unsaved.len() >= RECORD_GROUP {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), JobError> {
        let (id, lines) = (self.id, std::mem::take(&mut self.unsaved));
        if !lines.is_empty() {
            self.store.call(move |s| s.record_local_lines(id, &lines)).await?;
        }
        Ok(())
    }

    /// Records what is left and the run's end: `succeeded`, `failed` (some lines) or `interrupted`.
    pub async fn finish(mut self, state: &str) -> Result<(), JobError> {
        self.flush().await?;
        let (id, update) =
            (self.id, JobUpdate { state: state.to_owned(), result_file: None, error: None, finished: true });
        self.store.call(move |s| s.update_job(id, &update)).await?;
        Ok(())
    }
}
