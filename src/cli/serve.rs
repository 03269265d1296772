//! `geminal serve`: opens the session as `ask` does, resolves the client keys, prints the one
//! start line (where, which models, how clients authenticate) and serves until SIGTERM or Ctrl-C:
//! the first stops accepting and lets running answers finish for up to `--drain-secs`, a second
//! stops them (each saved as interrupted). The routes and admission are `serve`'s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::exit::{self, Failure};
use super::output;
use super::signals::Signals;
use super::{ConnectArgs, GlobalArgs, HistoryUse, open_session};
use crate::chat::{ChatOptions, ChatSession};
use crate::config::parse_seconds;
use crate::serve::keys::{Auth, KeyError, SERVE_KEY_ENV};
use crate::serve::{DEFAULT_LISTEN, Limits, ROLE_PREFIX, Served, Shutdown};
use crate::turn::Runner;

#[derive(Debug, Args)]
#[command(
    after_help = "Clients: an OpenAI-compatible API at /v1 (chat/completions, models), Gemini's at /v1beta/models (generateContent, streamGenerateContent, countTokens), and /health, /ready, /info, /metrics. A model is any model reference (gemini-2.5-flash, provider:model, a pool) or role:NAME for a role.\n\nKeys: [serve.keys.NAME] in the config (key_env or key_sha256, rpm, tpm, max_concurrent, models), else the one key in GEMINAL_SERVE_KEY; without either, only --no-auth on a loopback address.\n\nStopping: SIGTERM or Ctrl-C stops accepting and lets running answers finish for up to --drain-secs; a second one stops them (saved as interrupted). Exit code 0."
)]
pub struct ServeArgs {
    /// Address to listen on [config: serve.listen; default: 127.0.0.1:8787].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Accept requests without a client key (only on a loopback address).
    #[arg(long)]
    pub no_auth: bool,
    /// Seconds running answers may take to finish once asked to stop.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "30")]
    pub drain_secs: Duration,
}

fn key_failure(e: KeyError) -> Failure {
    match e {
        KeyError::None => Failure::new(
            exit::CONFIG,
            format!(
                "No client key: add [serve.keys.NAME] with key_env to the config, set {SERVE_KEY_ENV}, or give --no-auth on a loopback address."
            ),
        ),
        e => Failure::new(exit::CONFIG, format!("The serve configuration is not valid: {e}.")),
    }
}

pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<u8, Failure> {
    let flags = ConnectArgs::default();
    let (conn, session) = open_session(global, &flags, None, false, HistoryUse::Save).await?;
    let config = &conn.config;
    let listen_text =
        args.listen.clone().or_else(|| config.serve.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let not_an_address = || {
        Failure::usage(format!(
            "{:?} is not an address to listen on: give a host and a port, like 127.0.0.1:8787.",
            crate::sanitize::one_line(&listen_text, 80)
        ))
    };
    // An IP address and port, or a name (localhost:8787) resolved to its first address.
    let listen: SocketAddr = match listen_text.trim().parse() {
        Ok(addr) => addr,
        Err(_) => tokio::net::lookup_host(listen_text.trim())
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(not_an_address)?,
    };
    if args.no_auth && !listen.ip().is_loopback() {
        return Err(Failure::new(
            exit::CONFIG,
            format!("--no-auth is only allowed on a loopback address, not {listen}: configure a client key instead."),
        ));
    }
    let role_word = ROLE_PREFIX.trim_end_matches(':');
    if config.names.is_known(role_word) {
        return Err(Failure::new(
            exit::CONFIG,
            format!(
                "A provider or pool is named {role_word:?}, which serve keeps for roles ({ROLE_PREFIX}NAME): rename it."
            ),
        ));
    }
    let keys = config.serve.keys.clone().unwrap_or_default();
    let auth = Auth::resolve(&keys, args.no_auth, &|name| std::env::var(name).ok()).map_err(key_failure)?;
    let limits = Limits::of(&config.serve);
    let fresh = ChatSession::new(
        session.engine().clone(),
        session.store().cloned(),
        ChatOptions { use_cache: false, ..session.options().clone() },
    )
    .with_default_settings(session.default_settings().clone())
    .with_context_overflow(config.context_overflow);
    let runner = Runner::new(Arc::new(session), config.model.clone(), config.roles.clone());
    let fresh = Runner::new(Arc::new(fresh), config.model.clone(), config.roles.clone());
    let served =
        Arc::new(Served::new(runner, fresh, auth, &limits, config.budgets, config.roles.clone(), config.model.clone()));
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Failure::new(exit::FAILURE, format!("Could not listen on {listen} ({e}): choose another --listen."))
    })?;
    let bound = listener.local_addr().unwrap_or(listen);
    let cors = config.serve.cors_origins.clone().unwrap_or_default();
    let router = crate::serve::router(served.clone(), bound, cors);
    let line = start_line(bound, config, &served.auth, conn.is_demo());
    // Signals are caught before the start line says the server is there.
    let mut signals = Signals::new()?;
    let _ = output::write_flush(&mut std::io::stdout(), format!("{line}\n").as_bytes());
    {
        let (stop, cancel) = (served.stopping.clone(), served.cancel.clone());
        tokio::spawn(async move {
            signals.recv().await;
            stop.cancel();
            signals.recv().await;
            cancel.cancel();
        });
    }
    crate::serve::run(listener, router, served, Shutdown { drain: args.drain_secs })
        .await
        .map_err(|e| Failure::new(exit::FAILURE, format!("The server stopped unexpectedly ({e}).")))?;
    Ok(exit::OK)
}

/// Where, which models and providers, how clients authenticate: one line.
fn start_line(listen: SocketAddr, config: &crate::config::Config, auth: &Auth, demo: bool) -> String {
    let providers: Vec<&str> = config.names.known().collect();
    let roles = match config.roles.len() {
        0 => String::new(),
        n => format!(", {n} role{} as {ROLE_PREFIX}NAME", if n == 1 { "" } else { "s" }),
    };
    let clients = match auth {
        Auth::Open => "no client key (--no-auth, loopback only)".to_owned(),
        Auth::Keys(_) => format!("clients send a key as `Authorization: Bearer KEY` ({})", auth.names().join(", ")),
    };
    let demo = if demo { " (demo: answers come from the simulated Gemini)" } else { "" };
    format!(
        "geminal serve: listening on http://{listen}/v1{demo}; default model {}{roles}; providers {}; {clients}.",
        crate::sanitize::one_line(&config.model, 80),
        providers.join(", ")
    )
}
