//! geminal: a terminal chat client for Google Gemini.
//!
//! Layers (arrows point one way): front ends `tui` and `cli` → `turn` (one turn, set up in one
//! order, as a stream of updates) → `chat` (a turn's request, cache and saving) → `engine`
//! (calls: one answer each; limits, retries) → `provider` (the trait, pools, and its
//! implementations over the wires) → `gemini` / `openai` (the wires) → `net` (SSE, watchdog
//! budgets, retry hints), with `chat` → `store` (the only SQL). `root` opens what a front end
//! needs (config, providers, store, session); `cli` → `tui`, never back. Above the wires every
//! layer speaks `llm`, the provider-neutral vocabulary (request, stream events, model info,
//! errors as data); `format` words those errors for people. `domain` holds the types every
//! layer shares (a message's author, its status), `error_data` errors as stored data (kind
//! names, detail), `grounding` an answer's sources; `sanitize` makes
//! untrusted text safe for a terminal; `config` resolves flags, environment
//! and the config file; `format` holds shared human-readable formats; `attach` reads the
//! files a user attaches; `money` prices answers (the price table, costs, budgets); `commands`
//! is the slash-command table both front ends read; `render` makes model text into styled
//! terminal lines for both front ends.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod attach;
pub mod chat;
pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error_data;
pub mod export;
mod fake_runtime;
pub mod format;
pub mod gemini;
pub mod grounding;
pub mod jobs;
pub mod llm;
pub mod money;
pub mod net;
pub mod openai;
pub mod provider;
pub mod render;
pub mod roles;
pub mod root;
pub mod sanitize;
pub mod store;
pub mod tui;
pub mod turn;
