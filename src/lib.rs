//! geminal: a terminal chat client for Google Gemini.
//!
//! Layers (arrows point one way): `cli` → `chat` → `gemini` and `store`. `sanitize` makes untrusted text
//! safe for a terminal; `config` resolves flags, environment and the config file.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod chat;
pub mod cli;
pub mod config;
pub mod engine;
pub mod format;
pub mod gemini;
pub mod sanitize;
pub mod store;
pub mod tui;
