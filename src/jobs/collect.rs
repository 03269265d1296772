//! Collecting a finished job's results: read line by line from the result file as it downloads
//! (or from the inline answers), join each to its job line by key, save it to the history and
//! the cache once (a line already saved is not saved again), and hand its JSON line, in the
//! format of a local `batch`, to the caller: once per key, however often the results hold it.
//! A line that cannot be read is counted, so the caller can say the job is incomplete.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use super::build::StoredInput;
use super::line::{Answered, Failed, LineHead};
use super::{JobError, JobRunner};
use crate::error_data::{ErrorKind, StoredError};
use crate::gemini::batch::{BatchOperation, ResultLine};
use crate::gemini::types::GenerateContentResponse;
use crate::sanitize::one_line;
use crate::store::{BatchTurn, JobLine, LineResult};

/// Result lines saved in one transaction.
const SAVE_GROUP: usize = 256;

/// What a collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Answers (saved now or before).
    pub answered: u64,
    /// Failed lines (saved now or before).
    pub failed: u64,
    /// Lines saved to the history by this collection (the others were saved before).
    pub saved_now: u64,
    /// Result lines that could not be read, or whose key is not one of the job's.
    pub unknown: u64,
    /// Result lines for a key already collected (written once).
    pub repeated: u64,
}

type Out<'a> = &'a mut (dyn FnMut(&serde_json::Value) -> std::io::Result<()> + Send);

impl JobRunner {
    /// Collects the results of job `id` as `op` (its latest state) has them; `out` receives
    /// every line's JSON (an error from it stops the collection; what was saved stays saved).
    pub async fn collect(&self, id: i64, op: &BatchOperation, out: Out<'_>) -> Result<Collected, JobError> {
        let mut counts = Collected::default();
        let mut group = Vec::with_capacity(SAVE_GROUP);
        // The keys collected so far: a key the results hold twice is written once.
        let mut seen = HashSet::new();
        if let Some(inline) = op.inlined_responses() {
            for item in inline {
                group.push(ResultLine {
                    key: item.metadata.get("key").cloned().unwrap_or_default(),
                    response: item.response.clone(),
                    status: item.error.clone(),
                    error: None,
                });
                if group.len() == SAVE_GROUP {
                    self.settle(id, std::mem::take(&mut group), &mut seen, &mut counts, out).await?;
                }
            }
        } else if let Some(file) = op.responses_file() {
            let mut body = Box::pin(self.engine.client().download_file(file).await?);
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let chunk = body.next().await.transpose()?;
                let at_end = chunk.is_none();
                if let Some(chunk) = chunk {
                    pending.extend_from_slice(&chunk);
                }
                let mut start = 0;
                while let Some(n) = pending[start..].iter().position(|b| *b == b'\n') {
                    let line = &pending[start..start + n];
                    start += n + 1;
                    if let Some(result) = parse_result(line) {
                        group.push(result);
                    }
                    if group.len() == SAVE_GROUP {
                        self.settle(id, std::mem::take(&mut group), &mut seen, &mut counts, out).await?;
                    }
                }
                pending.drain(..start);
                if at_end {
                    if let Some(result) = parse_result(&pending) {
                        group.push(result);
                    }
                    break;
                }
            }
        }
        if !group.is_empty() {
            self.settle(id, group, &mut seen, &mut counts, out).await?;
        }
        Ok(counts)
    }

    async fn settle(
        &self,
        id: i64,
        mut group: Vec<ResultLine>,
        seen: &mut HashSet<String>,
        counts: &mut Collected,
        out: Out<'_>,
    ) -> Result<(), JobError> {
        // An unreadable line (no key) is not one of the job's; a repeated key is dropped.
        group.retain(|r| {
            let first = r.key.is_empty() || seen.insert(r.key.clone());
            if !first {
                counts.repeated += 1;
            }
            first
        });
        let keys: Vec<String> = group.iter().map(|r| r.key.clone()).collect();
        let lines: HashMap<String, JobLine> = self
            .store
            .call(move |s| s.job_lines_by_key(id, &keys))
            .await?
            .into_iter()
            .map(|l| (l.key.clone(), l))
            .collect();
        let mut results = Vec::with_capacity(group.len());
        let mut outputs = Vec::with_capacity(group.len());
        for result in group {
            let Some(input) = lines.get(&result.key).and_then(|l| serde_json::from_str::<StoredInput>(&l.input).ok())
            else {
                counts.unknown += 1;
                continue;
            };
            let (line, output) = self.judge(&input, &result);
            match line {
                LineResult::Answered { .. } => counts.answered += 1,
                LineResult::Failed { .. } => counts.failed += 1,
            }
            results.push(line);
            outputs.push(output);
        }
        let max = self.cache.as_ref().map_or(0, |(_, max)| *max);
        let saved = self.store.call(move |s| s.save_job_results(id, &results, max)).await?;
        counts.saved_now += saved.iter().filter(|s| **s).count() as u64;
        for output in &outputs {
            out(output).map_err(|e| JobError::Io(e.kind().to_string()))?;
        }
        Ok(())
    }

    /// A result line as a saved result and a JSON output line.
    fn judge(&self, input: &StoredInput, result: &ResultLine) -> (LineResult, serde_json::Value) {
        // A line's failure is told by its own text (the server's status message, or why the
        // answer is missing), stored as that text with its kind.
        let failed = |kind: ErrorKind, message: &str| {
            let output = output_error_line(input, kind, message);
            let error = StoredError::with_message(kind, &one_line(message, 300));
            (LineResult::Failed { key: input.id.clone(), error }, output)
        };
        if let Some(status) = result.failure() {
            return failed(grpc_kind(status.code), &self.engine.client().redact(&status.message));
        }
        let Some(response) = &result.response else {
            return failed(ErrorKind::Protocol, "the result line has neither an answer nor an error");
        };
        let (answer, thoughts) = texts(response);
        if response.candidates.is_empty() {
            let reason = response
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason.clone())
                .unwrap_or_else(|| "no answer".to_owned());
            return failed(ErrorKind::PromptBlocked, &format!("the prompt was blocked ({reason})"));
        }
        let finish = response.candidates[0].finish_reason.as_deref().unwrap_or("STOP");
        if answer.is_empty() && !matches!(finish, "STOP" | "MAX_TOKENS") {
            return failed(ErrorKind::AnswerStopped, &format!("the answer was stopped ({finish})"));
        }
        let usage = response.usage_metadata.unwrap_or_default();
        let cache_key = match &self.cache {
            Some(_) => input.cache_key.as_deref().and_then(from_hex),
            None => None,
        };
        // Priced at the Batch API's rate, as the model that answered (an alias names its real model).
        let cost = match self.prices.for_answer(&input.model, response.model_version.as_deref()) {
            Some(priced) => crate::money::AnswerCost {
                cost: crate::money::cost(&usage.billed(), &priced.price, true),
                saved: None,
                priced_as: Some(priced.key),
            },
            None => crate::money::AnswerCost::default(),
        };
        let head = LineHead { id: &input.id, prompt: Some(&input.prompt), model: Some(&input.model), latency_ms: None };
        let output = super::line::answered_line(
            &head,
            &Answered {
                answer: &answer,
                tokens: [usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count],
                cost_usd: cost.cost.map(crate::money::Usd::as_dollars),
                thoughts: &thoughts,
                ..Answered::default()
            },
        );
        let line = LineResult::Answered {
            key: input.id.clone(),
            turn: Box::new(BatchTurn {
                title: crate::store::title_from(&input.prompt),
                model: input.model.clone(),
                system: input.system.clone(),
                settings: input.settings.clone(),
                role: input.role.clone(),
                prompt: input.prompt.clone(),
            }),
            answer,
            thoughts: (!thoughts.is_empty()).then_some(thoughts),
            prompt_tokens: Some(i64::from(usage.prompt_token_count)),
            output_tokens: Some(i64::from(usage.candidates_token_count)),
            thought_tokens: Some(i64::from(usage.thoughts_token_count)),
            batch_priced: true,
            cost,
            cache_key,
        };
        (line, output)
    }
}

/// A failed line's JSON, in the format of a local `batch`.
fn output_error_line(input: &StoredInput, kind: ErrorKind, message: &str) -> serde_json::Value {
    let head = LineHead { id: &input.id, prompt: Some(&input.prompt), model: Some(&input.model), latency_ms: None };
    super::line::failed_line(&head, &Failed { kind, message, partial: None })
}

fn parse_result(line: &[u8]) -> Option<ResultLine> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(serde_json::from_slice(line).unwrap_or_else(|_| ResultLine { key: String::new(), ..ResultLine::default() }))
}

/// The answer's text and its thought summaries.
fn texts(response: &GenerateContentResponse) -> (String, String) {
    let (mut answer, mut thoughts) = (String::new(), String::new());
    for part in response.candidates.first().and_then(|c| c.content.as_ref()).map(|c| c.parts.as_slice()).unwrap_or(&[])
    {
        if let Some(text) = &part.text {
            if part.thought { thoughts.push_str(text) } else { answer.push_str(text) }
        }
    }
    (answer, thoughts)
}

/// A line's error kind from its status code (google.rpc.Code).
pub(super) fn grpc_kind(code: i64) -> ErrorKind {
    match code {
        3 | 9 | 11 => ErrorKind::BadRequest,
        4 => ErrorKind::Timeout,
        5 => ErrorKind::ModelNotFound,
        7 | 16 => ErrorKind::PermissionDenied,
        8 => ErrorKind::QuotaExhausted,
        _ => ErrorKind::Server,
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len() / 2).map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}
