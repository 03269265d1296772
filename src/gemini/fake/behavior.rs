//! How the fake answers one request: what it says, at what pace, and which fault it plays.
//! Bodies of status faults are the real ones quoted in the wire reference.

use std::time::Duration;

use bytes::Bytes;

/// What the answer text is.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Exactly this text.
    Text(String),
    /// About this many words of readable filler.
    Words(usize),
    /// A markdown answer from the demo corpus that fits the prompt.
    Demo,
    /// The terminal-hostile corpus.
    Hostile,
    /// These bytes as the whole response body, unframed (replays of captured streams).
    Raw(Bytes),
}

/// Where the stream breaks, counted in answer chunks already sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The request fails with this HTTP status, body and extra headers.
    Status { status: u16, body: String, headers: Vec<(String, String)> },
    /// After `after` chunks, a bare pretty-printed `{"error":...}` object, then the end (HTTP 200).
    BareErrorAfter { after: usize, status: u16 },
    /// After `after` chunks, a `data: {"error":...}` event, then the end.
    ErrorEventAfter { after: usize, status: u16 },
    /// After `after` chunks the connection is reset (chunked body never terminated).
    CutAfter(usize),
    /// After `after` chunks nothing more is sent, but the connection stays open.
    StallAfter(usize),
    /// After `after` chunks the body ends cleanly without a `finishReason`.
    TruncateAfter(usize),
    /// The prompt is refused: one event with `promptFeedback.blockReason`, no candidates.
    PromptBlocked(String),
    /// After `after` chunks the answer ends with this finish reason (SAFETY, RECITATION, MAX_TOKENS...).
    StopAfter { after: usize, reason: String },
    /// Slowloris: after `after` chunks, the rest of the answer comes as one event written a
    /// byte at a time, one every `gap`: the connection is never idle, yet no event completes.
    DribbleAfter { after: usize, gap: std::time::Duration },
    /// After `after` chunks, an event whose data is not JSON (then the end).
    MalformedAfter(usize),
}

/// How the bytes of each event are cut into separate network writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One write per event.
    Whole,
    /// Writes of at most this many bytes.
    Bytes(usize),
    /// Each event cut inside its first multi-byte character, inside `data:` and between `\r` and `\n`.
    Tricky,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Crlf,
    Lf,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Crlf => "\r\n",
            LineEnding::Lf => "\n",
        }
    }
}

/// The whole script for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub answer: Answer,
    /// Delay before the first event (after headers).
    pub first_token_delay: Duration,
    /// Delay between events.
    pub chunk_delay: Duration,
    /// Number of answer chunks; `None` picks a natural size (a few words each).
    pub chunks: Option<usize>,
    /// Thought-summary chunks sent before the answer.
    pub thoughts: usize,
    pub fault: Option<Fault>,
    pub split: Split,
    pub line_ending: LineEnding,
    /// Vary chunk sizes and delays a little, as a real model does (demo mode).
    pub natural_pace: bool,
    /// The built-in tools the request asked for (the fake sets this from the request): Google
    /// Search and URL context add their metadata to the answer's last chunk.
    pub tools: super::grounding::ToolsAsked,
    /// The `usageMetadata` every chunk carries, as given (per-modality details, cached and
    /// tool tokens...); `None` counts it from the text.
    pub usage: Option<serde_json::Value>,
    /// The `modelVersion` the answer names; `None`: the model asked for, an alias (`-latest`)
    /// resolved to the model it stands for, as Google's does.
    pub model_version: Option<String>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            answer: Answer::Words(40),
            first_token_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: None,
            thoughts: 0,
            fault: None,
            split: Split::Whole,
            line_ending: LineEnding::Crlf,
            natural_pace: false,
            tools: super::grounding::ToolsAsked::default(),
            usage: None,
            model_version: None,
        }
    }
}

impl Behavior {
    /// Readable markdown at a realistic pace: ~0.5 s to the first token, then ~40 words/s.
    pub fn demo() -> Self {
        Behavior {
            answer: Answer::Demo,
            first_token_delay: Duration::from_millis(450),
            chunk_delay: Duration::from_millis(90),
            natural_pace: true,
            ..Behavior::default()
        }
    }

    pub fn text(text: impl Into<String>) -> Self {
        Behavior { answer: Answer::Text(text.into()), ..Behavior::default() }
    }

    pub fn raw(bytes: impl Into<Bytes>) -> Self {
        Behavior { answer: Answer::Raw(bytes.into()), ..Behavior::default() }
    }

    pub fn fault(fault: Fault) -> Self {
        Behavior { fault: Some(fault), ..Behavior::default() }
    }

    /// An answer of `chunks` chunks that takes `total` from first to last byte.
    pub fn paced(chunks: usize, total: Duration) -> Self {
        let per = total / chunks.max(1) as u32;
        Behavior { chunks: Some(chunks), first_token_delay: per, chunk_delay: per, ..Behavior::default() }
    }

    /// Sends `usage` as every chunk's `usageMetadata`.
    pub fn with_usage(mut self, usage: serde_json::Value) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Names `version` as the model that answered.
    pub fn with_model_version(mut self, version: impl Into<String>) -> Self {
        self.model_version = Some(version.into());
        self
    }

    pub fn with_answer(mut self, answer: Answer) -> Self {
        self.answer = answer;
        self
    }
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }
    pub fn with_chunks(mut self, chunks: usize) -> Self {
        self.chunks = Some(chunks);
        self
    }
    pub fn with_chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }
    pub fn with_first_token_delay(mut self, delay: Duration) -> Self {
        self.first_token_delay = delay;
        self
    }
    pub fn with_split(mut self, split: Split) -> Self {
        self.split = split;
        self
    }
    pub fn with_line_ending(mut self, ending: LineEnding) -> Self {
        self.line_ending = ending;
        self
    }
    pub fn with_thoughts(mut self, thoughts: usize) -> Self {
        self.thoughts = thoughts;
        self
    }
}

pub(super) fn status_body(code: u16, status: &str, message: &str, details: serde_json::Value) -> String {
    let mut error = serde_json::json!({ "code": code, "message": message, "status": status });
    if details.as_array().is_some_and(|d| !d.is_empty()) {
        error["details"] = details;
    }
    // Google pretty-prints error bodies with a trailing newline.
    let mut body = serde_json::to_string_pretty(&serde_json::json!({ "error": error })).unwrap_or_default();
    body.push('\n');
    body
}

impl Fault {
    pub fn status(status: u16, body: String) -> Self {
        Fault::Status { status, body, headers: Vec::new() }
    }

    /// The error body Gemini sends for `code` (generic form).
    pub fn error_body(code: u16) -> String {
        match code {
            400 => status_body(
                400,
                "INVALID_ARGUMENT",
                "Invalid JSON payload received. Unknown name \"foo\": Cannot find field.",
                serde_json::json!([]),
            ),
            403 => status_body(403, "PERMISSION_DENIED", "The caller does not have permission", serde_json::json!([])),
            404 => status_body(
                404,
                "NOT_FOUND",
                "models/nope is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.",
                serde_json::json!([]),
            ),
            429 => status_body(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                serde_json::json!([]),
            ),
            500 => status_body(
                500,
                "INTERNAL",
                "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                serde_json::json!([]),
            ),
            503 => status_body(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                serde_json::json!([]),
            ),
            504 => status_body(
                504,
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
                serde_json::json!([]),
            ),
            other => status_body(other, "UNKNOWN", "Unknown error.", serde_json::json!([])),
        }
    }

    pub fn http(code: u16) -> Self {
        Fault::status(code, Fault::error_body(code))
    }

    pub fn bad_key() -> Self {
        Fault::status(400, bad_key_body())
    }

    /// 429 with QuotaFailure (per minute) and `RetryInfo.retryDelay`.
    pub fn rate_limited(retry_delay: Duration) -> Self {
        Fault::status(
            429,
            quota_body(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
                Some(retry_delay),
            ),
        )
    }

    /// 429 whose only hint is "Please retry in Xs." in the message (2025-12+ style).
    pub fn rate_limited_in_message(retry_delay: Duration) -> Self {
        let message = format!(
            "You exceeded your current quota, please check your plan and billing details. To monitor your current usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: gemini-2.5-flash\nPlease retry in {}s.",
            retry_delay.as_secs_f64()
        );
        Fault::status(429, status_body(429, "RESOURCE_EXHAUSTED", &message, serde_json::json!([])))
    }

    /// 429 with only a `Retry-After` header (a proxy in front of Gemini).
    pub fn rate_limited_header(seconds: u64) -> Self {
        Fault::http_with_retry_after(429, seconds)
    }

    /// Any error status (e.g. 503) whose response carries `Retry-After: seconds`.
    pub fn http_with_retry_after(code: u16, seconds: u64) -> Self {
        Fault::Status {
            status: code,
            body: Fault::error_body(code),
            headers: vec![("retry-after".into(), seconds.to_string())],
        }
    }

    /// 429 for the per-day quota: not worth retrying.
    pub fn daily_quota() -> Self {
        Fault::status(
            429,
            quota_body(
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                "You exceeded your current quota, please check your plan and billing details.",
                Some(Duration::from_secs(20)),
            ),
        )
    }
}

fn bad_key_body() -> String {
    status_body(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        serde_json::json!([
            { "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
              "metadata": { "service": "generativelanguage.googleapis.com" } },
            { "@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
              "message": "API key not valid. Please pass a valid API key." }
        ]),
    )
}

pub(super) fn no_key_body() -> String {
    status_body(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        serde_json::json!([]),
    )
}

fn quota_body(quota_id: &str, message: &str, retry_delay: Option<Duration>) -> String {
    let mut details = vec![
        serde_json::json!({ "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{ "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                             "quotaId": quota_id, "quotaDimensions": { "location": "global", "model": "gemini-2.5-flash" },
                             "quotaValue": "10" }] }),
        serde_json::json!({ "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{ "description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits" }] }),
    ];
    if let Some(delay) = retry_delay {
        let secs = delay.as_secs_f64();
        let text = if delay.subsec_nanos() == 0 { format!("{}s", delay.as_secs()) } else { format!("{secs}s") };
        details.push(serde_json::json!({ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": text }));
    }
    status_body(429, "RESOURCE_EXHAUSTED", message, serde_json::Value::Array(details))
}
