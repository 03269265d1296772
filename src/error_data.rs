//! Errors as data: [`ErrorKind`], the one source of the stable snake_case kind names written to
//! JSON lines, exit-code tables and the database; and [`StoredError`], what the database keeps of
//! a failure (its kind and its detail as data, never a sentence). The sentence is made by the
//! front end that shows it. A leaf: it imports no other module of the crate.

use serde::{Deserialize, Serialize};

/// Every kind of failure a user or a script can tell apart. The names (`rate_limited`,
/// `bad_input`…) are derived from the variants and never change: scripts read them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr, strum::Display, strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorKind {
    // What a provider (or the way to it) answered.
    NoKey,
    BadKey,
    PermissionDenied,
    ModelNotFound,
    BadRequest,
    InputTooLong,
    RateLimited,
    QuotaExhausted,
    Server,
    PromptBlocked,
    AnswerStopped,
    Network,
    Timeout,
    Truncated,
    Protocol,
    // What a batch line can fail with before or after a provider is asked.
    /// The line could not be sent as written (unknown role, unreadable attachment, bad JSON…).
    BadInput,
    /// The history database could not be read or written.
    Storage,
    /// Under a budget, a model with no known price.
    UnknownPrice,
    /// `--json-schema` asked for JSON and the answer is not.
    InvalidJson,
    /// A remote job expired before this line was answered.
    Expired,
    /// The job ended before this line was answered.
    NotAnswered,
    /// The user stopped the answer.
    Cancelled,
}

impl ErrorKind {
    /// Its stable snake_case name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind of a stored or written name; `None` for a name this version does not know.
    pub fn parse(name: &str) -> Option<ErrorKind> {
        name.parse().ok()
    }
}

/// What the database keeps of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredError {
    /// Written since schema 17: the kind and its detail.
    Data { kind: ErrorKind, detail: Box<ErrorDetail> },
    /// Written before (or of a kind this version does not know): the sentence as it was shown.
    Legacy(String),
}

impl StoredError {
    pub fn new(kind: ErrorKind, detail: ErrorDetail) -> Self {
        StoredError::Data { kind, detail: Box::new(detail) }
    }

    /// A failure told by a text of its own, shown as it is (a bad input line's reason, the
    /// status message of a line of a remote job).
    pub fn with_message(kind: ErrorKind, message: &str) -> Self {
        let detail =
            ErrorDetail { message: Some(message.to_owned()), case: Some(SAID.to_owned()), ..ErrorDetail::default() };
        StoredError::new(kind, detail)
    }

    /// The text to show as it is, for an error made by [`StoredError::with_message`].
    pub fn said(&self) -> Option<&str> {
        match self {
            StoredError::Data { detail, .. } if detail.case.as_deref() == Some(SAID) => detail.message.as_deref(),
            _ => None,
        }
    }

    /// From the columns that hold it: `kind` and `detail` (JSON), or else the legacy sentence.
    pub fn from_columns(kind: Option<&str>, detail: Option<&str>, legacy: Option<&str>) -> Option<Self> {
        match (kind, detail, legacy) {
            // Before 17 a job line had a kind and a sentence: the sentence is what it says.
            (_, None, Some(legacy)) => Some(StoredError::Legacy(legacy.to_owned())),
            (Some(name), detail, _) => {
                let detail: ErrorDetail = detail.and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
                Some(match ErrorKind::parse(name) {
                    Some(kind) => StoredError::Data { kind, detail: Box::new(detail) },
                    // A kind a newer version wrote: its own message, or its name (never raw JSON).
                    None => {
                        StoredError::Legacy(detail.message.map_or_else(|| name.to_owned(), |m| format!("{name}: {m}")))
                    }
                })
            }
            (None, _, legacy) => legacy.map(|l| StoredError::Legacy(l.to_owned())),
        }
    }

    /// The columns that hold it: kind, detail (JSON) and legacy sentence.
    pub fn to_columns(&self) -> (Option<&'static str>, Option<String>, Option<String>) {
        match self {
            StoredError::Data { kind, detail } => {
                (Some(kind.as_str()), Some(serde_json::to_string(detail).unwrap_or_default()), None)
            }
            StoredError::Legacy(text) => (None, None, Some(text.clone())),
        }
    }

    /// The same error with its detail changed by `edit` (a legacy one as it is).
    pub fn with_detail(mut self, edit: impl FnOnce(&mut ErrorDetail)) -> Self {
        if let StoredError::Data { detail, .. } = &mut self {
            edit(detail);
        }
        self
    }

    /// Its kind, when known.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            StoredError::Data { kind, .. } => Some(*kind),
            StoredError::Legacy(_) => None,
        }
    }
}

/// [`ErrorDetail::case`] of an error whose message is shown as it is.
const SAID: &str = "said";

/// A failure's particulars as data: each field is set only where the kind has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    /// The provider's own short message (scrubbed of any key), or a lower layer's own text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The delay the server asked for before a retry, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// A per-day quota.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub daily: bool,
    /// The model is overloaded (a 503 that says so).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overloaded: bool,
    /// The model the failure names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The configured provider the failure is about (its key), and its key's variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The provider (other than Gemini) that said it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Input tokens sent and the model's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Why a prompt was blocked or an answer stopped, in the provider's words (`SAFETY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which watchdog fired (`connect`, `first_token`, `idle`, `total`) and after how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
    /// Which case of its kind, where a kind has several (`not_found`, `unsupported`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// A job not submitted because this earlier job of the same run could not be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_job: Option<i64>,
    /// A job given up before it was submitted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_submitted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn the_names_scripts_read_are_unchanged() {
        // Written by every release so far: JSON lines, job lines and metrics hold them.
        let names: Vec<&str> = ErrorKind::iter().map(ErrorKind::as_str).collect();
        assert_eq!(
            names,
            [
                "no_key",
                "bad_key",
                "permission_denied",
                "model_not_found",
                "bad_request",
                "input_too_long",
                "rate_limited",
                "quota_exhausted",
                "server",
                "prompt_blocked",
                "answer_stopped",
                "network",
                "timeout",
                "truncated",
                "protocol",
                "bad_input",
                "storage",
                "unknown_price",
                "invalid_json",
                "expired",
                "not_answered",
                "cancelled",
            ]
        );
        for kind in ErrorKind::iter() {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(ErrorKind::parse("ok"), None);
    }

    #[test]
    fn a_stored_error_round_trips_through_its_columns_and_a_legacy_one_is_kept_as_is() {
        let error = StoredError::new(
            ErrorKind::Server,
            ErrorDetail { status: Some(503), retry_after_ms: Some(7000), overloaded: true, ..ErrorDetail::default() },
        );
        let (kind, detail, legacy) = error.to_columns();
        assert_eq!(
            (kind, detail.as_deref(), legacy),
            (Some("server"), Some(r#"{"status":503,"retry_after_ms":7000,"overloaded":true}"#), None)
        );
        assert_eq!(StoredError::from_columns(kind, detail.as_deref(), None), Some(error));
        let old = "Gemini had a server error (HTTP 500): try again in a little while.";
        assert_eq!(StoredError::from_columns(None, None, Some(old)), Some(StoredError::Legacy(old.to_owned())));
        assert_eq!(StoredError::from_columns(None, None, None), None);
        // A kind a newer version wrote is shown as its name and message, never dropped.
        assert_eq!(
            StoredError::from_columns(Some("tool_failed"), Some(r#"{"message":"grep died","code":2}"#), None),
            Some(StoredError::Legacy("tool_failed: grep died".to_owned()))
        );
        assert_eq!(
            StoredError::from_columns(Some("tool_failed"), Some("{}"), None),
            Some(StoredError::Legacy("tool_failed".to_owned()))
        );
    }
}
