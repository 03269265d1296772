//! The OpenAI-compatible wire: the only code that knows the chat completions JSON, its SSE and
//! its error codes. Everything above sees the shared vocabulary ([`crate::provider::Provider`],
//! `StreamEvent`, `ApiError`); [`fake`] is its loopback server for tests and benchmarks.

mod client;
pub mod fake;
pub mod stream;
pub mod wire;

pub use client::{OpenAiClient, OpenAiOptions, parse_reset, retry_delay};
