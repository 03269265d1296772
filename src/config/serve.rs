//! `[serve]` and `[serve.keys.NAME]` in the config file: what `geminal serve` listens on, its
//! limits and its client keys, as written (the server resolves keys from their variables when it
//! starts, so a missing variable troubles only `serve`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[serve]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    /// Where to listen (`127.0.0.1:8787` by default; `--listen` wins).
    pub listen: Option<String>,
    /// Answers in flight at once, for every client together (default 16).
    pub max_concurrent: Option<usize>,
    /// Requests waiting for one of those places; past it, 503 "busy" (default 64).
    pub max_queue: Option<usize>,
    /// The largest request body, in bytes (default 20 MB).
    pub max_body_bytes: Option<usize>,
    /// Seconds a request's body may take to arrive (default 30); slower gets 408.
    pub body_timeout_secs: Option<f64>,
    /// Origins a browser page may call from (no CORS headers at all unless set).
    pub cors_origins: Option<Vec<String>>,
    /// Client keys by name.
    pub keys: Option<BTreeMap<String, ServeKeyFile>>,
}

/// `[serve.keys.NAME]`: one client key and what it may do.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeKeyFile {
    /// The variable holding the key.
    pub key_env: Option<String>,
    /// Or the key's SHA-256, in hex (the key itself is then nowhere on this machine's disk).
    pub key_sha256: Option<String>,
    /// Requests a minute.
    pub rpm: Option<u32>,
    /// Tokens a minute (the prompt's estimate when admitted).
    pub tpm: Option<u32>,
    /// This key's answers in flight at once.
    pub max_concurrent: Option<usize>,
    /// USD this key's answers may cost a UTC day / month.
    pub daily_budget: Option<f64>,
    pub monthly_budget: Option<f64>,
    /// The model references (globs: `gemini-*`, `role:*`) this key may use; all when absent.
    pub models: Option<Vec<String>>,
}
