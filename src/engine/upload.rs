//! Uploading a file with the Files API under the same retry policy as answers: each step (start,
//! chunk, query) that fails in a way worth retrying is tried again after the policy's wait; a
//! cut chunk is followed by asking the session how much it holds, and the upload resumes from
//! there. A file is read a chunk at a time (never held whole), and a video is waited for until
//! Gemini has processed it.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{Decision, Engine, RetryPolicy};
use crate::gemini::{ApiError, File, UPLOAD_CHUNK_BYTES, UploadStatus};

/// The longest a video may stay PROCESSING before the upload is given up.
const PROCESSING_MAX_WAIT: Duration = Duration::from_secs(600);
/// The first pause between two looks at a file being processed; it doubles up to the next.
const PROCESSING_FIRST_POLL: Duration = Duration::from_millis(200);
const PROCESSING_MAX_POLL: Duration = Duration::from_secs(5);

/// Where the bytes to upload are.
#[derive(Debug, Clone)]
pub enum UploadSource {
    Bytes(Bytes),
    File(PathBuf),
}

/// One file to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub source: UploadSource,
    pub size: u64,
    pub mime: String,
    pub display_name: String,
    /// SHA-256 of the content (hex): what arrived is checked against it.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The file could not be read (any more) while it was uploaded.
    #[error("the file could not be read ({0})")]
    Read(String),
    /// What arrived is not what was read: the file changed meanwhile.
    #[error("the file changed while it was uploaded")]
    Changed,
    /// Gemini could not process the file (a video it cannot decode).
    #[error("Gemini could not process the file")]
    Failed,
}

/// Counts failures since the last progress and waits as the policy says.
struct Retrier {
    policy: RetryPolicy,
    failures: u32,
    waited: Duration,
}

impl Retrier {
    /// After `error`: waits and returns to try again, or gives the error back.
    async fn after(&mut self, error: ApiError) -> Result<(), ApiError> {
        self.failures += 1;
        match self.policy.decide(&error, self.failures, self.waited, fastrand::f64()) {
            Decision::GiveUp => Err(error),
            Decision::RetryAfter(wait) => {
                tokio::time::sleep(wait).await;
                self.waited += wait;
                Ok(())
            }
        }
    }
}

struct Reader {
    source: UploadSource,
    file: Option<tokio::fs::File>,
}

impl Reader {
    async fn read(&mut self, offset: u64, len: u64) -> Result<Bytes, UploadError> {
        match &self.source {
            UploadSource::Bytes(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let end = usize::try_from(offset + len).unwrap_or(usize::MAX).min(bytes.len());
                Ok(bytes.slice(start..end))
            }
            UploadSource::File(path) => {
                let read_error = |e: std::io::Error| UploadError::Read(e.kind().to_string());
                if self.file.is_none() {
                    self.file = Some(tokio::fs::File::open(path).await.map_err(read_error)?);
                }
                let Some(file) = self.file.as_mut() else { return Err(UploadError::Read("not open".into())) };
                file.seek(std::io::SeekFrom::Start(offset)).await.map_err(read_error)?;
                let mut buffer = vec![0u8; usize::try_from(len).unwrap_or(0)];
                file.read_exact(&mut buffer).await.map_err(read_error)?;
                Ok(Bytes::from(buffer))
            }
        }
    }
}

impl Engine {
    /// Uploads a file and returns it once Gemini can use it (ACTIVE). `progress` hears the
    /// bytes the server holds after each chunk.
    pub async fn upload(&self, upload: &Upload, progress: &(dyn Fn(u64) + Send + Sync)) -> Result<File, UploadError> {
        let client = self.client();
        let mut retry = Retrier { policy: self.retry_policy(), failures: 0, waited: Duration::ZERO };
        let session = loop {
            match client.start_upload(upload.size, &upload.mime, &upload.display_name).await {
                Ok(url) => break url,
                Err(e) => retry.after(e).await?,
            }
        };
        let mut reader = Reader { source: upload.source.clone(), file: None };
        let mut offset = 0u64;
        let file = loop {
            let len = UPLOAD_CHUNK_BYTES.min(upload.size - offset);
            let finalize = offset + len == upload.size;
            let chunk = reader.read(offset, len).await?;
            let status = match client.upload_chunk(&session, offset, chunk, finalize).await {
                Ok(status) => {
                    retry.failures = 0;
                    status
                }
                Err(e) => {
                    retry.after(e).await?;
                    // How much got there decides where to go on from.
                    loop {
                        match client.query_upload(&session).await {
                            Ok(status) => break status,
                            Err(e) => retry.after(e).await?,
                        }
                    }
                }
            };
            match status {
                UploadStatus::Final(file) => break *file,
                UploadStatus::Active { received } if received <= upload.size => {
                    offset = received;
                    progress(offset);
                }
                UploadStatus::Active { .. } => {
                    return Err(
                        ApiError::Protocol { detail: "the upload session holds more than was sent".into() }.into()
                    );
                }
            }
            if finalize && offset == upload.size {
                return Err(ApiError::Protocol { detail: "the upload was not finalized".into() }.into());
            }
        };
        progress(upload.size);
        if let Some(hash) = &file.sha256_hash
            && let Ok(digest) = base64::engine::general_purpose::STANDARD.decode(hash)
            && crate::attach::hex(&digest) != upload.sha256
        {
            return Err(UploadError::Changed);
        }
        self.until_active(file).await
    }

    /// Polls a file that is still PROCESSING until it is ACTIVE (or failed, or too long).
    async fn until_active(&self, mut file: File) -> Result<File, UploadError> {
        let mut pause = PROCESSING_FIRST_POLL;
        let mut waited = Duration::ZERO;
        let mut retry = Retrier { policy: self.retry_policy(), failures: 0, waited: Duration::ZERO };
        loop {
            match file.state.as_str() {
                "ACTIVE" | "" => return Ok(file),
                "FAILED" => return Err(UploadError::Failed),
                _ if waited >= PROCESSING_MAX_WAIT => {
                    return Err(ApiError::Timeout { phase: crate::llm::TimeoutPhase::Total, after: waited }.into());
                }
                _ => {}
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(PROCESSING_MAX_POLL);
            file = loop {
                match self.client().get_file(&file.name).await {
                    Ok(f) => break f,
                    Err(e) => retry.after(e).await?,
                }
            };
        }
    }
}
