//! Batch jobs, at the level of `chat`: remote jobs on Gemini's Batch API, and local `batch` runs
//! recorded as jobs ([`LocalJob`]). A remote job's request file is built from lines already
//! composed as turns (streamed to a temp file, hashed while written, never all in memory); the job
//! is recorded durably, submitted (inline when small, else uploaded), polled with backoff, and its
//! results streamed into the history, the cache and JSONL lines exactly once. Every kind of batch
//! writes a result's JSONL line with one function ([`line`](mod@line)). The Batch API is
//! Gemini-only, so this is the one layer above the wire that uses Gemini's own types (requests
//! converted by `gemini::convert`, results read as `gemini::types`); the batch wire JSON is
//! `gemini::batch`, and no SQL is here (that is `store::jobs`).

mod build;
mod collect;
pub mod line;
mod local;

pub use build::{JobBuilder, JobLimits, ReadyLine, StoredInput};
pub use collect::Collected;
pub use local::LocalJob;

use std::time::Duration;

use crate::engine::{Decision, Engine, UploadError};
use crate::error_data::{ErrorKind, StoredError};
use crate::gemini::batch::BatchOperation;
use crate::gemini::{ApiError, Client};
use crate::store::{JobRecord, JobUpdate, StoreError, StoreHandle};

/// What went wrong with a job, for the front end to say in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the request file could not be uploaded: {0}")]
    Upload(#[from] UploadError),
    #[error("the request file could not be written or read ({0})")]
    Io(String),
    #[error("there is no job {0}: `geminal jobs` lists them")]
    NoSuchJob(i64),
    #[error(
        "job {0} was never accepted by Gemini (the process stopped while submitting it): resubmit with `geminal batch --retry-failed {0}`"
    )]
    NotSubmitted(i64),
    #[error("job {0} ran locally, not on Gemini's side: `geminal batch --retry-failed {0}` finishes it")]
    Local(i64),
}

impl JobError {
    /// What the database keeps of it: a provider's error as data, any other as its text.
    pub fn to_stored(&self) -> StoredError {
        let kind = match self {
            JobError::Api(e) => return e.to_stored(),
            JobError::Upload(UploadError::Api(e)) => e.kind(),
            JobError::Store(_) | JobError::Io(_) => ErrorKind::Storage,
            JobError::Upload(UploadError::Failed) => ErrorKind::BadRequest,
            JobError::Upload(_) | JobError::NoSuchJob(_) | JobError::NotSubmitted(_) | JobError::Local(_) => {
                ErrorKind::BadInput
            }
        };
        StoredError::with_message(kind, &crate::sanitize::one_line(&self.to_string(), 300))
    }
}

/// A job that could not be submitted: why, and whether Gemini may hold it all the same (a
/// create whose answer was lost), in which case it stays `submitting` and is found again by
/// its display name.
#[derive(Debug)]
pub(crate) struct Unsent {
    pub error: JobError,
    pub maybe_accepted: bool,
}

impl From<JobError> for Unsent {
    fn from(error: JobError) -> Self {
        Unsent { error, maybe_accepted: false }
    }
}

/// Everything a job needs: the wire, the retry policy and uploads, the history.
#[derive(Clone)]
pub struct JobRunner {
    pub engine: Engine,
    pub store: StoreHandle,
    /// The cache's endpoint namespace and bound (see `ChatOptions`); `None`: do not cache.
    pub cache: Option<(String, usize)>,
    /// The first pause between two looks at a running job; it grows ×1.5 to [`POLL_MAX`].
    pub first_poll: Duration,
    /// The price table results are priced with, at the batch rate.
    pub prices: std::sync::Arc<crate::money::PriceBook>,
}

/// How many pages of Gemini's job list are searched for a job whose name was never recorded.
const MAX_LIST_PAGES: usize = 50;

/// The display name a job is created with: its id here and the start of its request file's hash.
pub(crate) fn display_name(id: i64, input_hash: &str) -> String {
    format!("geminal-job-{id}-{}", input_hash.get(..12).unwrap_or(""))
}

/// The longest pause between two looks at a running job.
pub const POLL_MAX: Duration = Duration::from_secs(60);
/// The first pause, unless `GEMINAL_BATCH_POLL_MS` says otherwise.
pub const POLL_FIRST: Duration = Duration::from_secs(5);

/// The first poll interval: `GEMINAL_BATCH_POLL_MS`, else [`POLL_FIRST`].
pub fn first_poll_from_env() -> Duration {
    std::env::var("GEMINAL_BATCH_POLL_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(POLL_FIRST, Duration::from_millis)
}

impl JobRunner {
    fn client(&self) -> &Client {
        self.engine.client()
    }

    pub async fn job(&self, id: i64) -> Result<JobRecord, JobError> {
        self.store.read(move |s| s.job(id)).await?.ok_or(JobError::NoSuchJob(id))
    }

    async fn remote_name(&self, id: i64) -> Result<(JobRecord, String), JobError> {
        let job = self.job(id).await?;
        if job.kind != "remote" {
            return Err(JobError::Local(id));
        }
        if let Some(name) = job.remote_name.clone() {
            return Ok((job, name));
        }
        // A process that stopped between Gemini accepting the job and recording its name: the
        // job is found again by the display name it was created with.
        let name = self
            .find_by_display_name(&display_name(id, &job.input_hash))
            .await?
            .map(|op| op.name)
            .ok_or(JobError::NotSubmitted(id))?;
        let (remote, file, hash) = (name.clone(), job.input_file.clone(), job.input_hash.clone());
        self.store.call(move |s| s.set_job_submitted(id, &remote, file.as_deref(), "pending", &hash)).await?;
        Ok((job, name))
    }

    /// The job Gemini holds under `display`, following the list's pages.
    async fn find_by_display_name(&self, display: &str) -> Result<Option<BatchOperation>, JobError> {
        if display.ends_with('-') {
            return Ok(None);
        }
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let page = self.with_retries(|| self.client().list_batches(100, token.as_deref())).await?;
            if let Some(op) = page.operations.into_iter().find(|op| op.metadata.display_name == display) {
                return Ok(Some(op));
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => break,
            }
        }
        Ok(None)
    }

    /// Asks Gemini once for the job's state and records it.
    pub async fn refresh(&self, id: i64) -> Result<BatchOperation, JobError> {
        let (_, name) = self.remote_name(id).await?;
        let op = self.with_retries(|| self.client().get_batch(&name)).await?;
        self.record(id, &op).await?;
        Ok(op)
    }

    async fn record(&self, id: i64, op: &BatchOperation) -> Result<(), JobError> {
        let state = op.state();
        let update = JobUpdate {
            state: state.as_str().to_owned(),
            result_file: op.responses_file().map(str::to_owned),
            error: op.error.as_ref().map(|e| {
                let message = crate::sanitize::one_line(&self.client().redact(&e.message), 200);
                StoredError::with_message(collect::grpc_kind(e.code), &message)
            }),
            finished: state.is_over(),
        };
        self.store.call(move |s| s.update_job(id, &update)).await?;
        Ok(())
    }

    /// Polls until the job is over, pausing longer each time; `progress` hears each state.
    pub async fn wait(
        &self,
        id: i64,
        progress: &mut (dyn FnMut(&BatchOperation) + Send),
    ) -> Result<BatchOperation, JobError> {
        let mut pause = self.first_poll;
        loop {
            let op = self.refresh(id).await?;
            progress(&op);
            if op.state().is_over() {
                return Ok(op);
            }
            tokio::time::sleep(pause).await;
            pause = pause.mul_f64(1.5).min(POLL_MAX);
        }
    }

    /// Asks Gemini to cancel the job.
    pub async fn cancel(&self, id: i64) -> Result<BatchOperation, JobError> {
        let (_, name) = self.remote_name(id).await?;
        self.with_retries(|| self.client().cancel_batch(&name)).await?;
        self.refresh(id).await
    }

    /// Forgets the job here and, for a remote one that is over, on Gemini's side with its files.
    pub async fn remove(&self, id: i64) -> Result<(), JobError> {
        let job = self.job(id).await?;
        if let Some(name) = &job.remote_name {
            match self.client().delete_batch(name).await {
                Ok(()) | Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            for file in [&job.input_file, &job.result_file].into_iter().flatten() {
                let _ = self.client().delete_file(file).await;
            }
        }
        self.store.call(move |s| s.delete_job(id)).await?;
        Ok(())
    }

    /// Creates the job named `display` once, under the engine's retry policy. After a failed
    /// create the request may still have reached Gemini (its answer lost on the way back): the
    /// job is looked for by its display name before it is created again, so a submission is
    /// never two billed jobs. The error says whether Gemini may hold the job after all.
    async fn create_once<F, Fut>(&self, display: &str, create: F) -> Result<BatchOperation, Unsent>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<BatchOperation, ApiError>>,
    {
        let policy = self.engine.retry_policy();
        let (mut failures, mut waited, mut maybe_accepted) = (0, Duration::ZERO, false);
        loop {
            let error = match create().await {
                Ok(op) => return Ok(op),
                Err(e) => e,
            };
            // A request refused outright created nothing; any other failure may have.
            maybe_accepted |= error.is_retryable();
            failures += 1;
            match policy.decide(&error, failures, waited, fastrand::f64()) {
                Decision::GiveUp => return Err(Unsent { error: error.into(), maybe_accepted }),
                Decision::RetryAfter(wait) => {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
            if maybe_accepted {
                match self.find_by_display_name(display).await {
                    Ok(Some(op)) => return Ok(op),
                    Ok(None) => {}
                    Err(error) => return Err(Unsent { error, maybe_accepted }),
                }
            }
        }
    }

    /// Runs `call` under the engine's retry policy (rate limits wait as the server says).
    async fn with_retries<T, F, Fut>(&self, call: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let policy = self.engine.retry_policy();
        let (mut failures, mut waited) = (0, Duration::ZERO);
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(e) => {
                    failures += 1;
                    match policy.decide(&e, failures, waited, fastrand::f64()) {
                        Decision::GiveUp => return Err(e),
                        Decision::RetryAfter(wait) => {
                            tokio::time::sleep(wait).await;
                            waited += wait;
                        }
                    }
                }
            }
        }
    }
}

/// Whether a job in this state will not change any more.
pub fn state_is_over(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled" | "expired" | "interrupted")
}
