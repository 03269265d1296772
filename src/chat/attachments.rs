//! How a turn's attachments travel. Small ones go inline (base64 in the request) while the
//! whole request stays under Gemini's inline limit; the largest are uploaded with the Files API
//! until the rest fits, and sent by URI. An uploaded copy is reused while it lives (48 hours),
//! for this turn and later ones, so a file is not uploaded again for every question.

use std::collections::HashMap;

use super::Turn;
use super::prepare::Prepared;
use super::session::{ChatError, ChatSession};
use crate::attach::{AttachError, Attachment, AttachmentData, RemoteFile};
use crate::engine::{Upload, UploadError, UploadSource};

/// Gemini refuses a request over 20 MB; requests with inline data stay under this, which
/// leaves room for the rest of the JSON.
pub const INLINE_REQUEST_MAX_BYTES: usize = 18 * 1024 * 1024;
/// An uploaded copy that expires sooner than this is not used (it could vanish mid-answer).
const LIVE_MARGIN_MS: i64 = 10 * 60 * 1000;
/// Assumed lifetime when the server does not say (it says 48 hours).
const DEFAULT_LIFETIME_MS: i64 = 47 * 3600 * 1000;

/// How far an upload has got, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    pub name: String,
    pub sent: u64,
    pub total: u64,
}

/// What an attachment adds to the request when it goes inline.
fn inline_cost(a: &Attachment) -> usize {
    let size = usize::try_from(a.info.size).unwrap_or(usize::MAX);
    if a.info.is_text() {
        // JSON escapes a little of most text; a tenth is generous.
        size.saturating_add(size / 10).saturating_add(a.info.name.len() + 16)
    } else {
        size.div_ceil(3).saturating_mul(4).saturating_add(a.info.mime.len() + 48)
    }
}

fn attachments_mut(turn: &mut Turn) -> impl Iterator<Item = &mut Attachment> {
    turn.history.iter_mut().flat_map(|m| m.attachments.iter_mut()).chain(turn.attachments.iter_mut())
}

impl ChatSession {
    /// Adds `attachments` to the prompt of `prepared` and makes every attachment of the turn
    /// (the history's too) ready to send: uploaded copies still alive are reused, the largest
    /// files are uploaded while the request would be too big to send them inline (`progress`
    /// hears how far), and the bytes of the others are read.
    pub async fn attach(
        &self,
        prepared: &mut Prepared,
        attachments: Vec<Attachment>,
        progress: &(dyn Fn(UploadProgress) + Send + Sync),
    ) -> Result<(), ChatError> {
        prepared.turn.attachments.extend(attachments);
        self.resolve(&mut prepared.turn, progress).await
    }

    pub(super) async fn resolve(
        &self,
        turn: &mut Turn,
        progress: &(dyn Fn(UploadProgress) + Send + Sync),
    ) -> Result<(), ChatError> {
        if turn.all_attachments().next().is_none() {
            return Ok(());
        }
        let endpoint = self.options.upload_namespace.clone();
        let now = crate::store::now_ms();
        // Copies uploaded earlier and still alive.
        if let Some(store) = &self.store {
            let mut wanted: Vec<String> =
                turn.all_attachments().filter(|a| a.remote.is_none()).map(|a| a.info.sha256.clone()).collect();
            wanted.sort();
            wanted.dedup();
            let endpoint = endpoint.clone();
            let live = store
                .read(move |s| {
                    let mut live = HashMap::new();
                    for sha in wanted {
                        if let Some((uri, expires_at_ms)) = s.live_upload(&sha, &endpoint, now + LIVE_MARGIN_MS)? {
                            live.insert(sha, RemoteFile { uri, expires_at_ms });
                        }
                    }
                    Ok(live)
                })
                .await?;
            for a in attachments_mut(turn) {
                if a.remote.is_none() {
                    a.remote = live.get(&a.info.sha256).cloned();
                }
            }
        }
        // Inline what fits; upload the largest until the rest does.
        let text: usize = turn.prompt.len()
            + turn.system.as_ref().map_or(0, String::len)
            + turn.history.iter().map(|m| m.text.len() + 32).sum::<usize>()
            + 1024;
        let mut size = text + turn.all_attachments().filter(|a| a.remote.is_none()).map(inline_cost).sum::<usize>();
        while size > self.options.inline_max_bytes {
            let largest = turn.all_attachments().filter(|a| a.remote.is_none()).max_by_key(|a| a.info.size).cloned();
            let Some(largest) = largest else { break };
            let remote = self.upload(&largest, progress).await?;
            for a in attachments_mut(turn).filter(|a| a.info.sha256 == largest.info.sha256) {
                size = size.saturating_sub(inline_cost(a));
                a.remote = Some(remote.clone());
            }
        }
        // The bytes of what goes inline (read again from disk for the history's larger ones).
        for a in attachments_mut(turn).filter(|a| a.remote.is_none()) {
            if !matches!(a.data, AttachmentData::Bytes(_)) {
                let copy = a.clone();
                let bytes = tokio::task::spawn_blocking(move || copy.load())
                    .await
                    .map_err(|_| AttachError::Gone { name: a.info.name.clone(), why: "unreadable" })??;
                a.data = AttachmentData::Bytes(bytes);
            }
        }
        Ok(())
    }

    /// Uploads one attachment and remembers the copy (when the turn is saved).
    async fn upload(
        &self,
        a: &Attachment,
        progress: &(dyn Fn(UploadProgress) + Send + Sync),
    ) -> Result<RemoteFile, ChatError> {
        let name = crate::sanitize::one_line(&a.info.name, 80);
        let source = match &a.data {
            AttachmentData::Bytes(bytes) => UploadSource::Bytes(bytes.clone()),
            AttachmentData::File(path) => UploadSource::File(path.clone()),
            AttachmentData::Missing => return Err(AttachError::Gone { name, why: "gone" }.into()),
        };
        let upload = Upload {
            source,
            size: a.info.size,
            mime: a.info.mime.clone(),
            display_name: a.info.name.clone(),
            sha256: a.info.sha256.clone(),
        };
        let total = a.info.size;
        let report = |sent| progress(UploadProgress { name: name.clone(), sent, total });
        let file = self.engine.upload(&upload, &report).await.map_err(|e| match e {
            UploadError::Api(e) => ChatError::Api(e),
            UploadError::Read(_) => AttachError::Gone { name: name.clone(), why: "gone" }.into(),
            UploadError::Changed => AttachError::Changed { name: name.clone() }.into(),
            UploadError::Failed => AttachError::Unprocessable { name: name.clone() }.into(),
        })?;
        let now = crate::store::now_ms();
        let expires_at_ms = file
            .expiration_time
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now + DEFAULT_LIFETIME_MS, |d| d.as_millis() as i64);
        let remote = RemoteFile { uri: file.uri, expires_at_ms };
        if let (Some(store), true) = (&self.store, self.options.save) {
            let (sha, endpoint, uri) =
                (a.info.sha256.clone(), self.options.upload_namespace.clone(), remote.uri.clone());
            // Only a lost chance to reuse the copy: the answer goes on.
            let _ = store.call(move |s| s.record_upload(&sha, &endpoint, &uri, expires_at_ms)).await;
        }
        Ok(remote)
    }
}
