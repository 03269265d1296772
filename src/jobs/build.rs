//! Building and submitting remote jobs: each composed line goes to its model's request file (a
//! temp file, hashed as written) and, in groups, to the job's lines in the history, so memory
//! does not grow with the number of prompts. A file that would pass the size limit starts a new
//! job; one model per job (the API runs every line on the job's model).

use std::collections::HashMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{JobError, JobRunner, Unsent};
use crate::engine::{Upload, UploadSource};
use crate::error_data::{ErrorKind, StoredError};
use crate::gemini::batch::{BatchInput, BatchState, InlinedRequest, KeyedRequest};
use crate::store::{JobUpdate, NewJob};

/// Lines written to the history in one transaction while building.
const STORE_GROUP: usize = 512;

/// What a job line remembers of its prompt: enough to save the answer and write its JSON line
/// from any later process, without the input file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredInput {
    pub id: String,
    pub prompt: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The generation settings as the history stores them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// The answer-cache key (hex), when the answer may be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// The files attached to the prompt (absolute paths), so a retry sends them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// What the front end recorded about the whole run (its flags), once per job, so a retry
    /// of a local run sends its other lines as the run did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<serde_json::Value>,
}

/// A line composed as a turn, ready to be sent.
#[derive(Debug, Clone)]
pub struct ReadyLine {
    /// Its place in the input (1-based).
    pub line: i64,
    pub request: crate::llm::Request,
    pub stored: StoredInput,
}

/// How big one job may be.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    /// A request file up to this size and [`JobLimits::inline_max_lines`] is sent inline in the
    /// create call (Gemini takes < 20 MB). An inline job's answers come back inside the job, read
    /// whole, so only small jobs go inline; the others' answers stream from a result file.
    pub inline_max_bytes: u64,
    pub inline_max_lines: u64,
    /// A request file never passes this size: the rest goes to another job (Gemini takes 2 GB).
    pub file_max_bytes: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits { inline_max_bytes: 2 * 1024 * 1024, inline_max_lines: 1000, file_max_bytes: 1_900 * 1024 * 1024 }
    }
}

struct Building {
    job_id: i64,
    model: String,
    file: tempfile::NamedTempFile,
    writer: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
    bytes: u64,
    lines: u64,
    unsaved: Vec<(String, i64, String)>,
}

/// A job whose request file is complete, not yet sent.
struct Built {
    job_id: i64,
    model: String,
    file: tempfile::NamedTempFile,
    sha256: String,
    bytes: u64,
    lines: u64,
}

/// Collects lines into jobs, then submits them.
pub struct JobBuilder {
    runner: JobRunner,
    limits: JobLimits,
    input_path: Option<String>,
    priority: i64,
    open: HashMap<String, Building>,
    done: Vec<Built>,
}

impl JobBuilder {
    pub fn new(runner: JobRunner, limits: JobLimits, input_path: Option<String>, priority: i64) -> Self {
        JobBuilder { runner, limits, input_path, priority, open: HashMap::new(), done: Vec::new() }
    }

    /// Adds a line to its model's job (a new one when none is open, or the open one is full).
    pub async fn add(&mut self, line: ReadyLine) -> Result<(), JobError> {
        let model = line.stored.model.clone();
        let request = crate::gemini::convert::request(&model, &line.request).map_err(JobError::Api)?;
        let mut text = serde_json::to_string(&KeyedRequest { key: line.stored.id.clone(), request })
            .map_err(|e| JobError::Io(e.to_string()))?;
        text.push('\n');
        let full = self
            .open
            .get(&model)
            .is_some_and(|b| b.lines > 0 && b.bytes + text.len() as u64 > self.limits.file_max_bytes);
        if full && let Some(building) = self.open.remove(&model) {
            let built = self.close(building).await?;
            self.done.push(built);
        }
        if !self.open.contains_key(&model) {
            let building = self.start(&model).await?;
            self.open.insert(model.clone(), building);
        }
        let Some(b) = self.open.get_mut(&model) else { return Ok(()) };
        b.writer.write_all(text.as_bytes()).map_err(|e| JobError::Io(e.kind().to_string()))?;
        b.hasher.update(text.as_bytes());
        b.bytes += text.len() as u64;
        b.lines += 1;
        let stored = serde_json::to_string(&line.stored).map_err(|e| JobError::Io(e.to_string()))?;
        b.unsaved.push((line.stored.id, line.line, stored));
        if b.unsaved.len() >= STORE_GROUP {
            let (job_id, lines) = (b.job_id, std::mem::take(&mut b.unsaved));
            self.runner.store.call(move |s| s.add_job_lines(job_id, &lines)).await?;
        }
        Ok(())
    }

    async fn start(&self, model: &str) -> Result<Building, JobError> {
        let job = NewJob {
            kind: "remote".to_owned(),
            model: model.to_owned(),
            input_path: self.input_path.clone(),
            output_path: None,
            input_hash: String::new(),
            priority: self.priority,
        };
        let job_id = self.runner.store.call(move |s| s.create_job(&job)).await?;
        let file = tempfile::Builder::new()
            .prefix("geminal-batch-")
            .suffix(".jsonl")
            .tempfile()
            .map_err(|e| JobError::Io(e.kind().to_string()))?;
        let writer = std::io::BufWriter::new(file.reopen().map_err(|e| JobError::Io(e.kind().to_string()))?);
        Ok(Building {
            job_id,
            model: model.to_owned(),
            file,
            writer,
            hasher: Sha256::new(),
            bytes: 0,
            lines: 0,
            unsaved: Vec::new(),
        })
    }

    async fn close(&self, mut b: Building) -> Result<Built, JobError> {
        b.writer.flush().map_err(|e| JobError::Io(e.kind().to_string()))?;
        let (job_id, lines) = (b.job_id, std::mem::take(&mut b.unsaved));
        self.runner.store.call(move |s| s.add_job_lines(job_id, &lines)).await?;
        Ok(Built {
            job_id,
            model: b.model,
            file: b.file,
            sha256: crate::attach::hex(&b.hasher.finalize()),
            bytes: b.bytes,
            lines: b.lines,
        })
    }

    /// Submits every job built; returns their ids (in the order they were started). On the
    /// first job that fails to submit, the error is returned; that job and the ones not sent
    /// after it keep their lines and are recorded as `failed` with the reason (so
    /// `batch --retry-failed` sends them again), unless Gemini may hold it after all (its create
    /// answer was lost): then it stays `submitting`, with the reason, and is found again by
    /// its display name.
    pub async fn submit(mut self, progress: &(dyn Fn(u64) + Send + Sync)) -> Result<Vec<i64>, JobError> {
        let open: Vec<Building> = self.open.drain().map(|(_, b)| b).collect();
        for b in open {
            let built = self.close(b).await?;
            self.done.push(built);
        }
        self.done.sort_by_key(|b| b.job_id);
        let mut ids = Vec::new();
        let mut built_jobs = std::mem::take(&mut self.done).into_iter();
        while let Some(built) = built_jobs.next() {
            let job_id = built.job_id;
            ids.push(job_id);
            if let Err(unsent) = self.send(built, progress).await {
                let reason = unsent.error.to_stored();
                let state = if unsent.maybe_accepted { "submitting" } else { "failed" };
                self.mark_unsent(job_id, state, reason.clone()).await;
                for later in built_jobs {
                    let why = reason.clone().with_detail(|d| d.after_job = Some(job_id));
                    self.mark_unsent(later.job_id, "failed", why).await;
                }
                return Err(unsent.error);
            }
        }
        Ok(ids)
    }

    /// Gives up before anything is submitted (the input could not be read to its end): every
    /// job started is recorded as `failed` with `reason`, none left `submitting`.
    pub async fn abandon(mut self, reason: &str) {
        let started: Vec<i64> =
            self.open.drain().map(|(_, b)| b.job_id).chain(self.done.drain(..).map(|b| b.job_id)).collect();
        for job_id in started {
            let why = StoredError::with_message(ErrorKind::BadInput, reason).with_detail(|d| d.not_submitted = true);
            self.mark_unsent(job_id, "failed", why).await;
        }
    }

    /// Records why job `job_id` was not submitted (best effort: the submission's own error is
    /// the one reported).
    async fn mark_unsent(&self, job_id: i64, state: &'static str, reason: StoredError) {
        let update =
            JobUpdate { state: state.to_owned(), result_file: None, error: Some(reason), finished: state == "failed" };
        let _ = self.runner.store.call(move |s| s.update_job(job_id, &update)).await;
    }

    async fn send(&self, built: Built, progress: &(dyn Fn(u64) + Send + Sync)) -> Result<(), Unsent> {
        let display_name = super::display_name(built.job_id, &built.sha256);
        // The hash is recorded first: should this process stop before Gemini's answer is
        // recorded, the job is found again by its display name.
        let (job_id, hash) = (built.job_id, built.sha256.clone());
        self.runner.store.call(move |s| s.set_job_hash(job_id, &hash)).await.map_err(JobError::from)?;
        let (input, input_file) = if built.bytes <= self.limits.inline_max_bytes
            && built.lines <= self.limits.inline_max_lines
        {
            let text = std::fs::read_to_string(built.file.path()).map_err(|e| JobError::Io(e.kind().to_string()))?;
            let mut requests = Vec::new();
            for line in text.lines() {
                let keyed: KeyedRequest = serde_json::from_str(line).map_err(|e| JobError::Io(e.to_string()))?;
                requests.push(InlinedRequest {
                    request: keyed.request,
                    metadata: HashMap::from([("key".to_owned(), keyed.key)]),
                });
            }
            (BatchInput::Inline(requests), None)
        } else {
            let upload = Upload {
                source: UploadSource::File(built.file.path().to_owned()),
                size: built.bytes,
                mime: "application/jsonl".to_owned(),
                display_name: display_name.clone(),
                sha256: built.sha256.clone(),
            };
            let file = self.runner.engine.upload(&upload, progress).await.map_err(JobError::from)?;
            (BatchInput::File(file.name.clone()), Some(file.name))
        };
        let (model, priority) = (built.model.clone(), self.priority);
        let client = self.runner.engine.client().clone();
        let op = self
            .runner
            .create_once(&display_name, || client.create_batch(&model, &display_name, &input, priority))
            .await?;
        let state = match op.state() {
            BatchState::Unknown => "pending",
            other => other.as_str(),
        };
        let (job_id, name, hash) = (built.job_id, op.name.clone(), built.sha256.clone());
        // Gemini holds the job now: should recording it fail, it is found again by its display name.
        self.runner
            .store
            .call(move |s| s.set_job_submitted(job_id, &name, input_file.as_deref(), state, &hash))
            .await
            .map_err(|e| Unsent { error: e.into(), maybe_accepted: true })?;
        Ok(())
    }
}
