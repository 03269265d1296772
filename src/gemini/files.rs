//! The Files API: a resumable upload (start a session, send chunks at offsets, finalize; ask the
//! session how much it holds after a cut) and reading a file's state. One call per step: the
//! retry loop around them is the engine's (`engine::upload`).

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tokio::time::Instant;

use super::client::{Client, DEFAULT_BASE_URL};
use super::error::ApiError;
use super::types::{File, FileEnvelope};

/// The size of every chunk but the last (what both official SDKs send).
pub const UPLOAD_CHUNK_BYTES: u64 = 8 * 1024 * 1024;

/// What the server says after a chunk, or when asked about a session.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadStatus {
    /// The session holds this many bytes and waits for more.
    Active { received: u64 },
    /// The upload is complete: the file.
    Final(Box<File>),
}

impl Client {
    /// The host root (`<base>`), from `<base>/v1beta`.
    fn host_root(&self) -> &str {
        self.api_root.strip_suffix(&format!("/{}", super::client::API_VERSION)).unwrap_or(&self.api_root)
    }

    /// Starts a resumable upload of `size` bytes of type `mime`; returns the session's URL.
    pub async fn start_upload(&self, size: u64, mime: &str, display_name: &str) -> Result<String, ApiError> {
        let url = format!("{}/upload/{}/files", self.host_root(), super::client::API_VERSION);
        let body = serde_json::json!({ "file": { "displayName": display_name } });
        let builder = self
            .http
            .post(url)
            .headers(self.headers()?)
            .header("X-Goog-Upload-Protocol", "resumable")
            .header("X-Goog-Upload-Command", "start")
            .header("X-Goog-Upload-Header-Content-Length", size.to_string())
            .header("X-Goog-Upload-Header-Content-Type", header_value(mime)?)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let response = self.send_built(builder, None, Instant::now()).await?;
        let session = response
            .headers()
            .get("x-goog-upload-url")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Protocol { detail: "the upload was not given a session URL".to_owned() })?;
        self.same_host(session)
    }

    /// Sends `chunk` at `offset` of the session; `finalize` on the last one.
    pub async fn upload_chunk(
        &self,
        session: &str,
        offset: u64,
        chunk: Bytes,
        finalize: bool,
    ) -> Result<UploadStatus, ApiError> {
        let builder = self
            .http
            .post(session)
            .headers(self.headers()?)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header("X-Goog-Upload-Command", if finalize { "upload, finalize" } else { "upload" })
            .header("X-Goog-Upload-Offset", offset.to_string())
            .body(chunk.clone());
        let response = self.send_built(builder, None, Instant::now()).await?;
        let status = upload_status(&response);
        match status.as_deref() {
            Some("final") => Ok(UploadStatus::Final(Box::new(self.file_body(response).await?))),
            Some("active") => Ok(UploadStatus::Active { received: offset + chunk.len() as u64 }),
            Some("cancelled") => Err(ApiError::Protocol { detail: "the server cancelled the upload".to_owned() }),
            // Neither SDK trusts a chunk the server did not acknowledge: treat it as a cut.
            _ => Err(ApiError::Truncated { detail: "the upload chunk was not acknowledged".to_owned() }),
        }
    }

    /// Asks the session how many bytes it holds (after a cut, the upload resumes from there).
    pub async fn query_upload(&self, session: &str) -> Result<UploadStatus, ApiError> {
        let builder = self.http.post(session).headers(self.headers()?).header("X-Goog-Upload-Command", "query");
        let response = self.send_built(builder, None, Instant::now()).await?;
        if upload_status(&response).as_deref() == Some("final") {
            return Ok(UploadStatus::Final(Box::new(self.file_body(response).await?)));
        }
        let received = response
            .headers()
            .get("x-goog-upload-size-received")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| ApiError::Protocol { detail: "the upload session did not say what it holds".to_owned() })?;
        Ok(UploadStatus::Active { received })
    }

    /// A file's current state (`name` is `files/<id>`).
    pub async fn get_file(&self, name: &str) -> Result<File, ApiError> {
        let id = name.strip_prefix("files/").unwrap_or(name);
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ApiError::Protocol { detail: "the server named the uploaded file strangely".to_owned() });
        }
        let url = format!("{}/files/{id}", self.api_root);
        let builder = self.http.get(url).headers(self.headers()?);
        let response = self.send_built(builder, None, Instant::now()).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|_| ApiError::Truncated { detail: "the connection was cut mid-response".to_owned() })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Protocol { detail: format!("the file state is not the expected JSON: {e}") })
    }

    async fn file_body(&self, response: reqwest::Response) -> Result<File, ApiError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|_| ApiError::Truncated { detail: "the connection was cut mid-response".to_owned() })?;
        serde_json::from_slice::<FileEnvelope>(&bytes)
            .map(|e| e.file)
            .map_err(|e| ApiError::Protocol { detail: format!("the uploaded file is not the expected JSON: {e}") })
    }

    /// A session URL on the host the client talks to: behind a custom base URL (a gateway, the
    /// fake) the session's own host may not be reachable, so its scheme, host and port are
    /// replaced, as the official SDKs do. URLs of another shape are refused.
    fn same_host(&self, session: &str) -> Result<String, ApiError> {
        let bad = || ApiError::Protocol { detail: "the upload session URL is not a valid URL".to_owned() };
        let mut url = reqwest::Url::parse(session).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad());
        }
        let base = self.host_root();
        if base != DEFAULT_BASE_URL {
            let base = reqwest::Url::parse(base).map_err(|_| bad())?;
            url.set_scheme(base.scheme()).map_err(|()| bad())?;
            url.set_host(base.host_str()).map_err(|_| bad())?;
            url.set_port(base.port()).map_err(|()| bad())?;
        }
        Ok(url.into())
    }
}

fn upload_status(response: &reqwest::Response) -> Option<String> {
    response.headers().get("x-goog-upload-status").and_then(|v| v.to_str().ok()).map(|s| s.trim().to_lowercase())
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|_| ApiError::Protocol { detail: "a header value is not valid".to_owned() })
}
