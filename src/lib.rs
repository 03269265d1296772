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
//! layer shares (a message's author, its status, a stop signal), `error_data` errors as stored
//! data (kind names, detail), `grounding` an answer's sources; `sanitize` makes untrusted text
//! safe for a terminal; `config` resolves flags, environment and the config file; `roles` reads
//! personas; `attach` reads the files a user attaches; `money` prices answers (the price table,
//! costs, budgets); `commands` is the slash-command table both front ends read; `render` turns
//! model text into styled lines for both front ends; `export` writes a conversation to a file;
//! `jobs` are batch jobs (local and Gemini's Batch API); `mcp` runs the configured MCP servers
//! as the tool box (`tools`) a turn calls.
//!
//! # Module map
//!
//! Every arrow between top-level modules that the code may have: a module uses only those on
//! its line (`(tests)`: only from its test code, e.g. Gemini's fake server). `tests/architecture.rs`
//! checks that this is the code's own map and that it has no cycle. The only `gemini` users
//! outside it are the composition root (`root`, `provider`), the Gemini-only Batch and Files
//! features (`jobs`, `cli`'s `jobs`, `engine`'s uploads), `cli`'s `serve-fake`, and `serve`'s
//! Gemini-native routes (which read and write Gemini's own JSON, so its wire types are theirs).
//!
//! ```text
//! attach → domain, format, sanitize
//! chat → attach, domain, engine, error_data, format, grounding, llm, money, provider, sanitize, store, tools, gemini (tests)
//! cli → attach, chat, commands, config, domain, engine, error_data, export, format, gemini, grounding, jobs, llm, mcp, money, openai, provider, render, root, sanitize, serve, store, tools, tui, turn
//! commands → chat
//! config → attach, chat, engine, mcp, money, net, provider, roles, sanitize, tools, llm (tests)
//! domain → (none)
//! engine → attach, gemini, grounding, llm, net, provider
//! error_data → (none)
//! export → attach, chat, format, grounding, store
//! fake_runtime → (none)
//! format → domain, error_data, llm, sanitize
//! gemini → attach, fake_runtime, format, grounding, llm, net, sanitize
//! grounding → sanitize
//! jobs → attach, engine, error_data, gemini, grounding, llm, money, sanitize, store
//! llm → error_data, grounding, sanitize
//! mcp → sanitize, tools
//! money → llm, provider
//! net → (none)
//! openai → fake_runtime, llm, net, sanitize
//! provider → gemini, llm, net, openai, sanitize
//! render → config, grounding, sanitize, gemini (tests)
//! roles → chat, mcp, sanitize
//! root → chat, config, engine, gemini, mcp, provider, store, turn
//! sanitize → (none)
//! serve → chat, config, domain, error_data, gemini, llm, money, sanitize, store, turn
//! store → domain, error_data, money, sanitize
//! tools → (none)
//! tui → attach, chat, commands, config, domain, engine, export, format, grounding, llm, mcp, money, provider, render, sanitize, store, tools, turn, gemini (tests)
//! turn → attach, chat, config, llm, money, store, tools
//! ```
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
pub mod mcp;
pub mod money;
pub mod net;
pub mod openai;
pub mod provider;
pub mod render;
pub mod roles;
pub mod root;
pub mod sanitize;
pub mod serve;
pub mod store;
pub mod tools;
pub mod tui;
pub mod turn;
