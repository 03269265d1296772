//! Exit codes (part of the public contract) and the one-line error report.

use std::process::ExitCode;

use crate::chat::ChatError;
use crate::config::ConfigError;
use crate::llm::{ApiError, ErrorKind};
use crate::store::StoreError;

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const CONFIG: u8 = 3;
pub const AUTH: u8 = 4;
pub const REQUEST: u8 = 5;
pub const RATE_LIMIT: u8 = 6;
pub const UNAVAILABLE: u8 = 7;
pub const REFUSED: u8 = 8;
pub const STORAGE: u8 = 9;
/// `batch` answered some prompts but not all: the lines with an `error` say which.
pub const SOME_FAILED: u8 = 10;
/// The answer asked for as JSON (`--json-schema`) is not valid JSON.
pub const BAD_JSON: u8 = 11;
/// A budget (`budget.daily`, `budget.monthly`, `batch --budget`) is spent: nothing more was sent.
pub const BUDGET: u8 = 12;
/// SIGHUP (the terminal went away): 128 + 1.
pub const HUNG_UP: u8 = 129;
/// Ctrl-C (SIGINT): 128 + 2.
pub const INTERRUPTED: u8 = 130;
/// SIGTERM: 128 + 15.
pub const TERMINATED: u8 = 143;

/// Every exit code with what it means, in short: `--help` lists them from here (and the README's
/// table gives the same codes, each explained at more length; tests/cli.rs checks both).
pub const MEANINGS: &[(u8, &str)] = &[
    (OK, "ok"),
    (FAILURE, "unexpected failure"),
    (
        USAGE,
        "usage (bad flag, empty prompt, no such conversation, an attachment that cannot be sent, a batch input that is missing or repeats an id, a file to write that exists or whose directory does not)",
    ),
    (CONFIG, "configuration (no key, bad config or base URL)"),
    (AUTH, "key rejected or no permission"),
    (REQUEST, "bad request or unknown model"),
    (RATE_LIMIT, "rate limit or quota"),
    (UNAVAILABLE, "service unavailable (server error, network, timeout, cut stream)"),
    (REFUSED, "prompt or answer refused (blocked, safety, recitation, token limit)"),
    (
        STORAGE,
        "history database problem (newer version, locked, read-only, disk full, damaged: see `history repair`, directory missing)",
    ),
    (SOME_FAILED, "batch: some prompts failed or were never answered (see their error lines)"),
    (BAD_JSON, "the answer asked for with --json-schema is not valid JSON"),
    (
        BUDGET,
        "a budget is spent or would be passed, and what it covers was not sent (budget.daily, budget.monthly, batch --budget; --over-budget asks anyway)",
    ),
    (HUNG_UP, "hung up (SIGHUP)"),
    (INTERRUPTED, "interrupted (Ctrl-C)"),
    (TERMINATED, "terminated (SIGTERM)"),
];

/// The text after `geminal --help`: how to start, then every exit code from [`MEANINGS`].
pub fn after_help() -> String {
    let codes: Vec<String> = MEANINGS.iter().map(|(code, meaning)| format!("{code} {meaning}")).collect();
    format!(
        "Set GEMINI_API_KEY (or GOOGLE_API_KEY) first, or add --demo to try everything against a built-in simulated Gemini.\n\nExit codes: {}.",
        codes.join(", ")
    )
}

pub fn code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NoKey => CONFIG,
        ErrorKind::BadKey | ErrorKind::PermissionDenied => AUTH,
        ErrorKind::BadRequest | ErrorKind::InputTooLong | ErrorKind::ModelNotFound => REQUEST,
        ErrorKind::RateLimited | ErrorKind::QuotaExhausted => RATE_LIMIT,
        ErrorKind::Server | ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Truncated => UNAVAILABLE,
        ErrorKind::PromptBlocked | ErrorKind::AnswerStopped => REFUSED,
        ErrorKind::Protocol => FAILURE,
        // Kinds of a batch line, never of a provider's answer.
        ErrorKind::BadInput
        | ErrorKind::Storage
        | ErrorKind::UnknownPrice
        | ErrorKind::InvalidJson
        | ErrorKind::Expired
        | ErrorKind::NotAnswered
        | ErrorKind::Cancelled => FAILURE,
    }
}

/// A failure of a command: the sentence to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure { message: message.into(), code }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(USAGE, message)
    }

    pub fn report(&self) -> ExitCode {
        if !self.message.is_empty() {
            say(&self.message);
        }
        ExitCode::from(self.code)
    }
}

/// Writes `geminal: LINE` to stderr. Unlike `eprintln!`, it never panics: after SIGHUP the
/// terminal may be gone, and the exit code must still be the documented one.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "geminal: {line}");
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::new(code_for(e.kind()), e.to_string())
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::new(CONFIG, e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match e {
            // A conversation id that does not exist is the caller's mistake, like a bad flag.
            StoreError::BadQuery { .. } | StoreError::NoConversation { .. } => USAGE,
            _ => STORAGE,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<crate::attach::AttachError> for Failure {
    /// An attachment that cannot go is bad input, like a bad flag.
    fn from(e: crate::attach::AttachError) -> Self {
        Failure::new(USAGE, super::words::attach_text(&e))
    }
}

impl From<ChatError> for Failure {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Api(e) => e.into(),
            ChatError::Store(e) => e.into(),
            ChatError::Attachment(e) => e.into(),
        }
    }
}
