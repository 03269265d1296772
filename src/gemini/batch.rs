//! Gemini's Batch API: create a job (requests inline or in an uploaded JSONL file), get, list,
//! cancel and delete it, and download its result file as a byte stream (never whole in memory).
//! A job is a long-running `Operation` whose `metadata` is the batch; its state is spelled
//! `BATCH_STATE_*` on the wire (`JOB_STATE_*` by the SDKs: both are accepted).

use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::client::{Client, model_path};
use super::error::ApiError;
use super::types::{GenerateContentRequest, GenerateContentResponse};

/// A batch job's state. Unknown states are kept as "still running" (treating them as over
/// would lose track of paid work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Expired,
    Unknown,
}

impl BatchState {
    pub fn parse(wire: &str) -> BatchState {
        let bare = wire.strip_prefix("BATCH_STATE_").or_else(|| wire.strip_prefix("JOB_STATE_")).unwrap_or(wire);
        match bare {
            "PENDING" | "QUEUED" => BatchState::Pending,
            "RUNNING" => BatchState::Running,
            "SUCCEEDED" => BatchState::Succeeded,
            "FAILED" => BatchState::Failed,
            "CANCELLED" => BatchState::Cancelled,
            "EXPIRED" => BatchState::Expired,
            _ => BatchState::Unknown,
        }
    }

    /// The name geminal stores and shows.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Pending => "pending",
            BatchState::Running | BatchState::Unknown => "running",
            BatchState::Succeeded => "succeeded",
            BatchState::Failed => "failed",
            BatchState::Cancelled => "cancelled",
            BatchState::Expired => "expired",
        }
    }

    pub fn is_over(self) -> bool {
        matches!(self, BatchState::Succeeded | BatchState::Failed | BatchState::Cancelled | BatchState::Expired)
    }

    pub fn wire(self) -> &'static str {
        match self {
            BatchState::Pending => "BATCH_STATE_PENDING",
            BatchState::Running => "BATCH_STATE_RUNNING",
            BatchState::Succeeded => "BATCH_STATE_SUCCEEDED",
            BatchState::Failed => "BATCH_STATE_FAILED",
            BatchState::Cancelled => "BATCH_STATE_CANCELLED",
            BatchState::Expired => "BATCH_STATE_EXPIRED",
            BatchState::Unknown => "BATCH_STATE_UNSPECIFIED",
        }
    }
}

/// One request of a batch, inline or as a line of the request file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyedRequest {
    pub key: String,
    pub request: GenerateContentRequest,
}

/// An inline request: the key travels in `metadata`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InlinedRequest {
    pub request: GenerateContentRequest,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
}

/// Where a job's requests are.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchInput {
    Inline(Vec<InlinedRequest>),
    /// An uploaded JSONL file (`files/<id>`) of [`KeyedRequest`] lines.
    File(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchStats {
    #[serde(default, with = "int64_string")]
    pub request_count: u64,
    #[serde(default, with = "int64_string")]
    pub successful_request_count: u64,
    #[serde(default, with = "int64_string")]
    pub failed_request_count: u64,
    #[serde(default, with = "int64_string")]
    pub pending_request_count: u64,
}

/// One inline result: an answer or an error, and the request's metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InlinedResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<GenerateContentResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LineStatus>,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InlinedResponses {
    #[serde(default)]
    pub inlined_responses: Vec<InlinedResponse>,
}

/// Where a finished job's results are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inlined_responses: Option<InlinedResponses>,
}

/// The batch itself (the Operation's `metadata`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_stats: Option<BatchStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<BatchOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

/// An error status (`{code, message}`), of an Operation or of one result line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LineStatus {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// `google.longrunning.Operation` around a batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BatchOperation {
    pub name: String,
    #[serde(default)]
    pub metadata: BatchMetadata,
    #[serde(default)]
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LineStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<BatchOutput>,
}

impl BatchOperation {
    pub fn state(&self) -> BatchState {
        BatchState::parse(&self.metadata.state)
    }

    /// The result file (`files/batch-...`) of a file-based job that has one.
    pub fn responses_file(&self) -> Option<&str> {
        self.metadata
            .output
            .as_ref()
            .and_then(|o| o.responses_file.as_deref())
            .or_else(|| self.response.as_ref().and_then(|o| o.responses_file.as_deref()))
    }

    /// The results of an inline job, in request order.
    pub fn inlined_responses(&self) -> Option<&[InlinedResponse]> {
        fn from(o: &BatchOutput) -> Option<&[InlinedResponse]> {
            o.inlined_responses.as_ref().map(|r| r.inlined_responses.as_slice())
        }
        self.metadata.output.as_ref().and_then(from).or_else(|| self.response.as_ref().and_then(from))
    }

    pub fn stats(&self) -> BatchStats {
        self.metadata.batch_stats.clone().unwrap_or_default()
    }
}

/// One line of a result file: the answer, or a status (`status` per the docs, `error` as some
/// clients model it: both are read).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ResultLine {
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<GenerateContentResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LineStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LineStatus>,
}

impl ResultLine {
    pub fn failure(&self) -> Option<&LineStatus> {
        self.status.as_ref().filter(|s| s.code != 0).or(self.error.as_ref())
    }
}

/// One page of `GET batches`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchList {
    #[serde(default)]
    pub operations: Vec<BatchOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

mod int64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        Ok(match Either::deserialize(d)? {
            Either::Text(t) => t.parse().unwrap_or(0),
            Either::Number(n) => n,
        })
    }
}

/// `batches/<id>` with a safe id, or a protocol error.
pub fn batch_path(name: &str) -> Result<String, ApiError> {
    let id = name.strip_prefix("batches/").unwrap_or(name);
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::Protocol {
            detail: format!("'{}' is not a batch name", crate::sanitize::one_line(name, 60)),
        });
    }
    Ok(format!("batches/{id}"))
}

impl Client {
    /// Creates a batch job of `input` on `model`.
    pub async fn create_batch(
        &self,
        model: &str,
        display_name: &str,
        input: &BatchInput,
        priority: i64,
    ) -> Result<BatchOperation, ApiError> {
        let url = format!("{}/{}:batchGenerateContent", self.api_root, model_path(model)?);
        let input_config = match input {
            BatchInput::Inline(requests) => serde_json::json!({ "requests": { "requests": requests } }),
            BatchInput::File(name) => serde_json::json!({ "fileName": name }),
        };
        let mut batch = serde_json::json!({ "displayName": display_name, "inputConfig": input_config });
        if priority != 0 {
            batch["priority"] = serde_json::Value::String(priority.to_string());
        }
        self.call_json(self.http.post(url), Some(&serde_json::json!({ "batch": batch })), Some(model)).await
    }

    pub async fn get_batch(&self, name: &str) -> Result<BatchOperation, ApiError> {
        let path = batch_path(name)?;
        let url = format!("{}/{path}", self.api_root);
        self.call_json::<(), _>(self.http.get(url), None, None).await.map_err(|e| match e {
            // A 404 here is about the job, not a model.
            ApiError::NotFound { .. } => {
                ApiError::BadRequest { detail: format!("Gemini no longer has the job {path} (deleted, or expired)") }
            }
            other => other,
        })
    }

    /// One page of the jobs Gemini holds for the key.
    pub async fn list_batches(&self, page_size: u32, page_token: Option<&str>) -> Result<BatchList, ApiError> {
        let mut url = reqwest::Url::parse(&format!("{}/batches", self.api_root))
            .map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
        url.query_pairs_mut().append_pair("pageSize", &page_size.to_string());
        if let Some(token) = page_token {
            url.query_pairs_mut().append_pair("pageToken", token);
        }
        self.call_json::<(), _>(self.http.get(url), None, None).await
    }

    pub async fn cancel_batch(&self, name: &str) -> Result<(), ApiError> {
        let url = format!("{}/{}:cancel", self.api_root, batch_path(name)?);
        self.send(self.http.post(url), Some(&serde_json::json!({})), None, Instant::now()).await?;
        Ok(())
    }

    pub async fn delete_batch(&self, name: &str) -> Result<(), ApiError> {
        let url = format!("{}/{}", self.api_root, batch_path(name)?);
        self.send::<()>(self.http.delete(url), None, None, Instant::now()).await?;
        Ok(())
    }

    /// Deletes an uploaded or generated file (`files/<id>`).
    pub async fn delete_file(&self, name: &str) -> Result<(), ApiError> {
        let url = format!("{}/files/{}", self.api_root, file_id(name)?);
        self.send::<()>(self.http.delete(url), None, None, Instant::now()).await?;
        Ok(())
    }

    /// A file's bytes as they arrive (`GET download/v1beta/files/<id>:download?alt=media`).
    pub async fn download_file(
        &self,
        name: &str,
    ) -> Result<impl Stream<Item = Result<bytes::Bytes, ApiError>> + use<>, ApiError> {
        let root = self.api_root.strip_suffix(&format!("/{}", super::client::API_VERSION)).unwrap_or(&self.api_root);
        let url = format!("{root}/download/{}/files/{}:download?alt=media", super::client::API_VERSION, file_id(name)?);
        let response = self.send::<()>(self.http.get(url), None, None, Instant::now()).await?;
        use futures::StreamExt;
        Ok(response
            .bytes_stream()
            .map(|chunk| chunk.map_err(|_| ApiError::Truncated { detail: "the download was cut".to_owned() })))
    }
}

fn file_id(name: &str) -> Result<&str, ApiError> {
    let id = name.strip_prefix("files/").unwrap_or(name);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::Protocol { detail: "the server named a file strangely".to_owned() });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_state_are_read_and_unknown_ones_are_not_over() {
        assert_eq!(BatchState::parse("BATCH_STATE_SUCCEEDED"), BatchState::Succeeded);
        assert_eq!(BatchState::parse("JOB_STATE_SUCCEEDED"), BatchState::Succeeded);
        assert_eq!(BatchState::parse("BATCH_STATE_EXPIRED"), BatchState::Expired);
        assert!(!BatchState::parse("BATCH_STATE_PAUSED").is_over());
    }

    #[test]
    fn a_real_succeeded_operation_gives_its_result_file_and_counts() {
        let op: BatchOperation = serde_json::from_str(
            r#"{"name": "batches/3a96", "metadata": {"@type": "x", "model": "models/m", "displayName": "d",
               "inputConfig": {"fileName": "files/voe"}, "output": {"responsesFile": "files/batch-3a96"},
               "batchStats": {"requestCount": "9", "successfulRequestCount": "9"},
               "state": "BATCH_STATE_SUCCEEDED", "name": "batches/3a96"}, "done": true,
               "response": {"@type": "y", "responsesFile": "files/batch-3a96"}}"#,
        )
        .unwrap();
        assert_eq!(op.state(), BatchState::Succeeded);
        assert_eq!(op.responses_file(), Some("files/batch-3a96"));
        assert_eq!(op.stats().request_count, 9);
    }

    #[test]
    fn a_failed_result_line_is_read_as_status_or_error() {
        let a: ResultLine = serde_json::from_str(r#"{"key": "k", "status": {"code": 3, "message": "bad"}}"#).unwrap();
        let b: ResultLine = serde_json::from_str(r#"{"key": "k", "error": {"code": 3, "message": "bad"}}"#).unwrap();
        assert_eq!(a.failure().map(|s| s.code), Some(3));
        assert_eq!(b.failure().map(|s| s.message.as_str()), Some("bad"));
    }

    #[test]
    fn batch_names_that_could_alter_the_url_are_refused() {
        assert_eq!(batch_path("batches/abc123").unwrap(), "batches/abc123");
        for bad in ["", "batches/", "a/b", "x?y", "../x"] {
            assert!(batch_path(bad).is_err(), "{bad}");
        }
    }
}
