//! The OpenAI-compatible wire: the only code that knows the chat completions JSON, its SSE events
//! and its error codes. Everything above sees the neutral vocabulary (`llm/`: a `Request` in,
//! `StreamEvent`s and `ApiError`s out; `provider/` implements its trait over [`OpenAiClient`]);
//! [`wire`] is where the two meet, [`fake`] its loopback server for tests and benchmarks. The
//! transport it shares with Gemini (SSE decoding, watchdogs, retry hints) is `net/`. It imports
//! neither `gemini/` nor `provider/`.

mod client;
pub mod fake;
pub mod stream;
pub mod wire;

pub use client::{OpenAiClient, OpenAiOptions, parse_reset, retry_delay};
