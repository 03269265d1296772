//! The fake's Batch API: create (inline or from an uploaded JSONL file), get, list with page
//! tokens, cancel, delete, and the result file's download. Time is scaled: a job is PENDING for
//! one step, RUNNING for the next, then ends as the test steered it (succeeded, failed,
//! expired; some lines failed). Only keys and prompts are kept; answers are made when asked for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::behavior::{Behavior, status_body};
use crate::gemini::batch::{
    BatchList, BatchMetadata, BatchOperation, BatchOutput, BatchState, BatchStats, InlinedRequest, InlinedResponse,
    InlinedResponses, KeyedRequest, LineStatus, ResultLine,
};
use crate::gemini::types::{Candidate, Content, GenerateContentRequest, GenerateContentResponse, UsageMetadata};

/// How long each state lasts unless a test or `GEMINAL_FAKE_BATCH_STEP_MS` says otherwise.
pub const DEFAULT_BATCH_STEP: Duration = Duration::from_millis(1500);

/// How a new job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchEnd {
    #[default]
    Succeed,
    /// The whole job fails (the Operation carries an error).
    Fail,
    /// The job is not done in time (48 hours on Google's side).
    Expire,
}

struct FakeBatch {
    name: String,
    model: String,
    display_name: String,
    created: Instant,
    /// Keys and prompts, in request order.
    lines: Vec<(String, String)>,
    inline: bool,
    end: BatchEnd,
    cancelled: Option<Instant>,
    priority: i64,
}

pub(super) struct Batches {
    batches: Vec<FakeBatch>,
    next: u64,
    pub(super) step: Duration,
    pub(super) end: BatchEnd,
    /// A line whose prompt contains this fails with INVALID_ARGUMENT.
    pub(super) fail_lines_containing: Option<String>,
    /// Jobs created so far.
    pub(super) created: usize,
    /// Rewrites a result file as served (a damaged or repeated line, as a test asks).
    pub(super) edit_results: Option<ResultEdit>,
}

/// A rewrite of a result file's text.
pub type ResultEdit = std::sync::Arc<dyn Fn(&str) -> String + Send + Sync>;

impl Default for Batches {
    fn default() -> Self {
        let step = std::env::var("GEMINAL_FAKE_BATCH_STEP_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map_or(DEFAULT_BATCH_STEP, Duration::from_millis);
        Batches {
            batches: Vec::new(),
            next: 0,
            step,
            end: BatchEnd::Succeed,
            fail_lines_containing: None,
            created: 0,
            edit_results: None,
        }
    }
}

/// A reply: status and JSON body.
pub(super) type Reply = (u16, String);

fn error(status: u16, code: &str, message: &str) -> Reply {
    (status, status_body(status, code, message, serde_json::json!([])))
}

fn not_found(name: &str) -> Reply {
    error(404, "NOT_FOUND", &format!("Requested entity was not found: {name}."))
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn prompt_of(request: &GenerateContentRequest) -> String {
    request
        .contents
        .iter()
        .rev()
        .find(|c| c.role.as_deref() != Some("model"))
        .map(Content::visible_text)
        .unwrap_or_default()
}

impl FakeBatch {
    fn state(&self, step: Duration, now: Instant) -> BatchState {
        if let Some(at) = self.cancelled {
            let _ = at;
            return BatchState::Cancelled;
        }
        let elapsed = now.duration_since(self.created);
        if elapsed < step {
            BatchState::Pending
        } else if elapsed < step * 2 {
            BatchState::Running
        } else {
            match self.end {
                BatchEnd::Succeed => BatchState::Succeeded,
                BatchEnd::Fail => BatchState::Failed,
                BatchEnd::Expire => BatchState::Expired,
            }
        }
    }

    fn id(&self) -> &str {
        self.name.strip_prefix("batches/").unwrap_or(&self.name)
    }
}

impl Batches {
    /// `POST models/M:batchGenerateContent`: `files` finds an uploaded request file's content.
    pub(super) fn create(
        &mut self,
        model: &str,
        body: &str,
        file_content: &dyn Fn(&str) -> Option<bytes::Bytes>,
    ) -> Reply {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
            return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        };
        let batch = &value["batch"];
        let Some(display_name) = batch["displayName"].as_str().filter(|n| !n.is_empty()) else {
            return error(400, "INVALID_ARGUMENT", "batch.display_name is required.");
        };
        let priority = match &batch["priority"] {
            serde_json::Value::Null => 0,
            serde_json::Value::String(s) => match s.parse::<i64>() {
                Ok(p) => p,
                Err(_) => return error(400, "INVALID_ARGUMENT", "batch.priority must be an int64."),
            },
            _ => return error(400, "INVALID_ARGUMENT", "batch.priority must be an int64 string."),
        };
        let input = &batch["inputConfig"];
        let (lines, inline) = if let Some(requests) = input["requests"]["requests"].as_array() {
            let mut lines = Vec::with_capacity(requests.len());
            for (i, item) in requests.iter().enumerate() {
                let Ok(item) = serde_json::from_value::<InlinedRequest>(item.clone()) else {
                    return error(400, "INVALID_ARGUMENT", &format!("requests[{i}] is not a GenerateContentRequest."));
                };
                let key = item.metadata.get("key").cloned().unwrap_or_else(|| i.to_string());
                lines.push((key, prompt_of(&item.request)));
            }
            (lines, true)
        } else if let Some(name) = input["fileName"].as_str() {
            let Some(content) = file_content(name) else {
                return error(
                    403,
                    "PERMISSION_DENIED",
                    &format!("You do not have permission to access the File {name} or it may not exist."),
                );
            };
            let mut lines = Vec::new();
            for (i, line) in content.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let Ok(keyed) = serde_json::from_slice::<KeyedRequest>(line) else {
                    return error(
                        400,
                        "INVALID_ARGUMENT",
                        &format!("Line {} of {name} is not a keyed request.", i + 1),
                    );
                };
                lines.push((keyed.key, prompt_of(&keyed.request)));
            }
            (lines, false)
        } else {
            return error(400, "INVALID_ARGUMENT", "batch.input_config needs requests or a file_name.");
        };
        if lines.is_empty() {
            return error(400, "INVALID_ARGUMENT", "The batch has no requests.");
        }
        let mut seen = std::collections::HashSet::new();
        if let Some((key, _)) = lines.iter().find(|(key, _)| !seen.insert(key.as_str())) {
            return error(400, "INVALID_ARGUMENT", &format!("Duplicate key {key}."));
        }
        self.next += 1;
        self.created += 1;
        let name = format!("batches/fakebatch{:06}", self.next);
        let batch = FakeBatch {
            name,
            model: format!("models/{model}"),
            display_name: display_name.to_owned(),
            created: Instant::now(),
            lines,
            inline,
            end: self.end,
            cancelled: None,
            priority,
        };
        let reply = (200, pretty(&self.operation(&batch, &Behavior::default(), None)));
        self.batches.push(batch);
        reply
    }

    /// The Operation for a batch (with its inline answers when it has succeeded).
    fn operation(&self, b: &FakeBatch, answers: &Behavior, fail: Option<&str>) -> BatchOperation {
        let state = b.state(self.step, Instant::now());
        let total = b.lines.len() as u64;
        let failed = if state == BatchState::Succeeded {
            b.lines.iter().filter(|(_, p)| fail.is_some_and(|f| p.contains(f))).count() as u64
        } else {
            0
        };
        let stats = BatchStats {
            request_count: total,
            successful_request_count: if state == BatchState::Succeeded { total - failed } else { 0 },
            failed_request_count: failed,
            pending_request_count: if state.is_over() { 0 } else { total },
        };
        let output = (state == BatchState::Succeeded).then(|| {
            if b.inline {
                BatchOutput {
                    responses_file: None,
                    inlined_responses: Some(InlinedResponses {
                        inlined_responses: b
                            .lines
                            .iter()
                            .map(|(key, prompt)| {
                                let line = result_line(key, prompt, answers, fail);
                                InlinedResponse {
                                    response: line.response,
                                    error: line.status,
                                    metadata: HashMap::from([("key".to_owned(), key.clone())]),
                                }
                            })
                            .collect(),
                    }),
                }
            } else {
                BatchOutput { responses_file: Some(format!("files/batch-{}", b.id())), inlined_responses: None }
            }
        });
        let error = match state {
            BatchState::Failed => Some(LineStatus { code: 13, message: "The batch failed: internal error.".into() }),
            BatchState::Cancelled => Some(LineStatus { code: 1, message: "The batch was cancelled.".into() }),
            BatchState::Expired => Some(LineStatus {
                code: 4,
                message: "The batch expired: it was running or pending for more than 48 hours.".into(),
            }),
            _ => None,
        };
        BatchOperation {
            name: b.name.clone(),
            metadata: BatchMetadata {
                name: b.name.clone(),
                model: b.model.clone(),
                display_name: b.display_name.clone(),
                state: state.wire().to_owned(),
                batch_stats: Some(stats),
                output: output.clone(),
                create_time: None,
                end_time: None,
            },
            done: state.is_over(),
            error,
            response: output,
        }
    }

    /// `GET batches/ID`.
    pub(super) fn get(&self, id: &str, answers: &Behavior) -> Reply {
        match self.batches.iter().find(|b| b.id() == id) {
            Some(b) => (200, pretty(&self.operation(b, answers, self.fail_lines_containing.as_deref()))),
            None => not_found(&format!("batches/{id}")),
        }
    }

    /// `GET batches?pageSize&pageToken`: newest first, without inline answers (as Google's list).
    pub(super) fn list(&self, query: Option<&str>) -> Reply {
        let param =
            |name: &str| query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')));
        let size = param("pageSize").and_then(|s| s.parse::<usize>().ok()).filter(|s| *s > 0).unwrap_or(10).min(100);
        let start = param("pageToken").and_then(|t| t.strip_prefix("b")?.parse::<usize>().ok()).unwrap_or(0);
        let operations = self
            .batches
            .iter()
            .rev()
            .skip(start)
            .take(size)
            .map(|b| {
                let mut op = self.operation(b, &Behavior::default(), None);
                for output in [&mut op.metadata.output, &mut op.response].into_iter().flatten() {
                    output.inlined_responses = None;
                }
                op
            })
            .collect();
        let next = (start + size < self.batches.len()).then(|| format!("b{}", start + size));
        (200, pretty(&BatchList { operations, next_page_token: next }))
    }

    /// `POST batches/ID:cancel`.
    pub(super) fn cancel(&mut self, id: &str) -> Reply {
        let step = self.step;
        match self.batches.iter_mut().find(|b| b.id() == id) {
            Some(b) if b.state(step, Instant::now()).is_over() => {
                error(400, "FAILED_PRECONDITION", "The batch is already over and cannot be cancelled.")
            }
            Some(b) => {
                b.cancelled = Some(Instant::now());
                (200, "{}\n".to_owned())
            }
            None => not_found(&format!("batches/{id}")),
        }
    }

    /// `DELETE batches/ID`.
    pub(super) fn delete(&mut self, id: &str) -> Reply {
        let before = self.batches.len();
        self.batches.retain(|b| b.id() != id);
        if self.batches.len() == before {
            return not_found(&format!("batches/{id}"));
        }
        (200, "{}\n".to_owned())
    }

    /// The result file `files/batch-ID` of a succeeded file-based job, as JSONL.
    pub(super) fn result_file(&self, file_id: &str, answers: &Behavior) -> Option<String> {
        let id = file_id.strip_prefix("batch-")?;
        let b = self.batches.iter().find(|b| b.id() == id && !b.inline)?;
        if b.state(self.step, Instant::now()) != BatchState::Succeeded {
            return None;
        }
        let mut out = String::new();
        for (key, prompt) in &b.lines {
            let line = result_line(key, prompt, answers, self.fail_lines_containing.as_deref());
            out.push_str(&serde_json::to_string(&line).unwrap_or_default());
            out.push('\n');
        }
        Some(match &self.edit_results {
            Some(edit) => edit(&out),
            None => out,
        })
    }

    /// The priority each job was created with, oldest first.
    pub(super) fn priorities(&self) -> Vec<i64> {
        self.batches.iter().map(|b| b.priority).collect()
    }
}

fn result_line(key: &str, prompt: &str, answers: &Behavior, fail: Option<&str>) -> ResultLine {
    if fail.is_some_and(|f| prompt.contains(f)) {
        return ResultLine {
            key: key.to_owned(),
            response: None,
            status: Some(LineStatus { code: 3, message: "Request contains an invalid argument.".to_owned() }),
            error: None,
        };
    }
    let text = super::script::answer_text(answers, prompt);
    let usage = UsageMetadata {
        prompt_token_count: super::script::tokens(prompt),
        candidates_token_count: super::script::tokens(&text),
        thoughts_token_count: 0,
        cached_content_token_count: 0,
        total_token_count: super::script::tokens(prompt) + super::script::tokens(&text),
        ..UsageMetadata::default()
    };
    let response = GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(Content::model(text)),
            finish_reason: Some("STOP".to_owned()),
            ..Candidate::default()
        }],
        usage_metadata: Some(usage),
        model_version: Some("fake-batch".to_owned()),
        ..GenerateContentResponse::default()
    };
    ResultLine { key: key.to_owned(), response: Some(response), status: None, error: None }
}
