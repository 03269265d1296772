//! The headless front end: flags in, text out. Pipe-friendly (no colour or spinner when not a
//! terminal). No SQL and no HTTP here: what a command opens comes from `root`, turns go through
//! `turn`, answers on a terminal are drawn by `render`, slash commands of the line chat come from
//! `commands`; the wire stays in `gemini` (only `jobs` sees the Batch API's operations, and
//! `serve-fake` the loopback fake); the sentences for what those return are in `words`.

mod ask;
mod batch;
mod batch_budget;
mod batch_input;
mod batch_turn;
mod cache;
mod config;
mod docs;
pub mod exit;
mod fake_mcp;
mod generation;
mod history;
mod jobs;
mod line_chat;
mod markdown;
mod mcp;
mod models;
mod output;
mod remote_batch;
mod roles;
mod serve;
mod serve_fake;
pub mod signals;
mod stats;
mod tool_flags;
mod tool_steps;
pub mod words;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::chat::ChatSession;
use crate::config::{Config, Overrides, parse_seconds};
use crate::store::StoreHandle;
use exit::Failure;
use signals::StopExit;

#[derive(Debug, Parser)]
#[command(name = "geminal", version, about = "A terminal chat client for Google Gemini.", long_about = None)]
#[command(after_help = exit::after_help())]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub generation: generation::GenerationArgs,
    /// Open the last conversation in the full-screen interface (beside the tabs restored from last time).
    #[arg(short = 'c', long = "continue", conflicts_with = "conversation", help_heading = "Full-screen interface")]
    pub continue_last: bool,
    /// Open conversation N in the full-screen interface.
    #[arg(long, value_name = "N", help_heading = "Full-screen interface")]
    pub conversation: Option<i64>,
    /// Answer as role NAME in every new tab (and in the line chat); `geminal roles` lists them.
    #[arg(short = 'r', long, value_name = "NAME", help_heading = "Full-screen interface")]
    pub role: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags for every command: which history, which config, real or simulated Gemini.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Use the built-in simulated Gemini (no key, no network; its own history-demo.sqlite3 unless --db).
    #[arg(long, global = true)]
    pub demo: bool,
    /// Config file [env: GEMINAL_CONFIG].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// History database [env: GEMINAL_DB].
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Flags for the commands that talk to Gemini (the interface, `ask`, `batch`, `models`): they
/// appear in those commands' help only. Given before the command (`geminal -m X ask`), they
/// apply to it unless the command repeats them.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// Model to use [env: GEMINAL_MODEL; default: gemini-flash-latest].
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// API host root, without /v1beta [env: GOOGLE_GEMINI_BASE_URL].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Seconds allowed to connect.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub connect_timeout: Option<Duration>,
    /// Seconds allowed until the first part of the answer.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub first_token_timeout: Option<Duration>,
    /// Seconds allowed between two parts of the answer.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub idle_timeout: Option<Duration>,
    /// Extra attempts after a failed one (rate limits, server errors, cut streams) [default: 4].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Send even when a budget (budget.daily, budget.monthly in the config) is spent.
    #[arg(long)]
    pub over_budget: bool,
    /// Set by commands that run many answers at once (`batch -j`).
    #[arg(skip)]
    pub max_concurrent: Option<usize>,
    /// Set by `batch --rpm`.
    #[arg(skip)]
    pub rpm: Option<u32>,
}

impl ConnectArgs {
    /// These flags, each taken from `outer` (given before the command) where not given here.
    fn or(&self, outer: &ConnectArgs) -> ConnectArgs {
        ConnectArgs {
            model: self.model.clone().or_else(|| outer.model.clone()),
            base_url: self.base_url.clone().or_else(|| outer.base_url.clone()),
            connect_timeout: self.connect_timeout.or(outer.connect_timeout),
            first_token_timeout: self.first_token_timeout.or(outer.first_token_timeout),
            idle_timeout: self.idle_timeout.or(outer.idle_timeout),
            retries: self.retries.or(outer.retries),
            max_concurrent: self.max_concurrent.or(outer.max_concurrent),
            rpm: self.rpm.or(outer.rpm),
            over_budget: self.over_budget || outer.over_budget,
        }
    }

    /// The first flag given, by name (for a command it does not apply to).
    fn first_given(&self) -> Option<&'static str> {
        [
            (self.model.is_some(), "--model"),
            (self.base_url.is_some(), "--base-url"),
            (self.connect_timeout.is_some(), "--connect-timeout"),
            (self.first_token_timeout.is_some(), "--first-token-timeout"),
            (self.idle_timeout.is_some(), "--idle-timeout"),
            (self.retries.is_some(), "--retries"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask one question; the answer streams to stdout.
    Ask(ask::AskArgs),
    /// Answer many prompts at once: one JSON line out per prompt.
    Batch(batch::BatchArgs),
    /// Batch jobs, local and on Gemini's Batch API: `jobs`, `jobs show|wait|fetch|cancel|rm ID`.
    Jobs(jobs::JobsArgs),
    /// List the models the key can use, with their token limits.
    Models(models::ModelsArgs),
    /// List the roles (named system prompts with a model and settings) for `ask -r NAME`.
    Roles(roles::RolesArgs),
    /// Browse, search, show, export and delete saved conversations; back up or repair the database.
    History(history::HistoryArgs),
    /// Requests, cache hits, tokens and latency so far.
    Stats(stats::StatsArgs),
    /// The answer cache: entries, size, hits and time to live; `cache clear` empties it.
    Cache(cache::CacheArgs),
    /// The config file: `config path`, `config show` (every setting and where it came from), `config init`.
    Config(config::ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff): `geminal man > ~/.local/share/man/man1/geminal.1`.
    Man(docs::ManArgs),
    /// MCP servers (tools for the model): `mcp import FILE`, `mcp list`, `mcp tools NAME`, `mcp log NAME`.
    Mcp(mcp::McpArgs),
    /// Serve an OpenAI-compatible API to other programs, through the same cache, history and budgets.
    Serve(serve::ServeArgs),
    /// Run the simulated Gemini as a server (prints its base URL).
    #[command(hide = true)]
    ServeFake(serve_fake::ServeFakeArgs),
    /// Run geminal's fake MCP server (stdio, or --http on loopback).
    #[command(hide = true)]
    FakeMcp(fake_mcp::FakeMcpArgs),
}

impl GlobalArgs {
    /// What the flags say, for a command that does not talk to Gemini.
    fn overrides(&self) -> Overrides {
        Overrides { config: self.config.clone(), db: self.db.clone(), demo: self.demo, ..Overrides::default() }
    }

    /// What the flags say, for a command that talks to Gemini.
    fn connect_overrides(&self, connect: &ConnectArgs, total_timeout: Option<Duration>) -> Overrides {
        Overrides {
            model: connect.model.clone(),
            base_url: connect.base_url.clone(),
            connect_timeout: connect.connect_timeout,
            first_token_timeout: connect.first_token_timeout,
            idle_timeout: connect.idle_timeout,
            total_timeout,
            retries: connect.retries,
            max_concurrent: connect.max_concurrent,
            rpm: connect.rpm,
            ..self.overrides()
        }
    }
}

pub use crate::root::Connection;

/// Resolves the configuration and builds the client; in demo mode starts the simulated Gemini.
pub async fn connect(
    global: &GlobalArgs,
    flags: &ConnectArgs,
    total_timeout: Option<Duration>,
) -> Result<Connection, Failure> {
    let conn = crate::root::connect(&global.connect_overrides(flags, total_timeout)).await.map_err(words::opening)?;
    if conn.is_demo() {
        eprintln!("geminal: demo mode: answers come from a built-in simulated Gemini, not Google.");
    }
    Ok(conn)
}

/// Opens the history database on a blocking thread, tells the user what opening found
/// (recovered answers, a damaged file moved aside, an upgrade), and hands it to its own thread.
pub async fn open_store(config: &Config) -> Result<StoreHandle, Failure> {
    let (store, notices) = crate::root::open_store(config).await.map_err(words::opening)?;
    for notice in notices {
        eprintln!("geminal: {notice}");
    }
    Ok(store)
}

/// What a command needs of the history database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryUse {
    /// Every turn is saved: the database must open.
    Save,
    /// Nothing is saved, but a saved conversation is continued: the database must open.
    ReadOnly,
    /// Nothing is saved or read (`--no-save` on a new conversation): when the database opens it
    /// answers from the cache (nothing is added to it) and counts the request for `stats` and its
    /// cost in the spending ledger; when it does not, it is skipped (said only under a budget).
    Optional,
}

/// A client plus the history and cache behind it: what every command that asks needs.
pub async fn open_session(
    global: &GlobalArgs,
    flags: &ConnectArgs,
    total_timeout: Option<Duration>,
    no_cache: bool,
    history: HistoryUse,
) -> Result<(Connection, ChatSession), Failure> {
    let conn = connect(global, flags, total_timeout).await?;
    let store = match open_store(&conn.config).await {
        Ok(store) => Some(store),
        Err(_) if history == HistoryUse::Optional => None,
        Err(failure) => return Err(failure),
    };
    if history == HistoryUse::Save
        && let Some(store) = &store
    {
        // A damaged database takes no more writes: say so before anything is asked.
        store.call(|s| s.ensure_writable()).await?;
    }
    let session = crate::root::session(&conn, store, no_cache, history == HistoryUse::Save);
    Ok((conn, session))
}

/// Checks the budgets before anything is asked: a warning at 80% (on stderr), a refusal at
/// 100% unless `--over-budget`. Without a history there is nothing to count: said once when a
/// budget is set, as what is spent then is not counted.
pub async fn check_budget(
    conn: &Connection,
    session: &ChatSession,
    over_budget: bool,
) -> Result<crate::money::Spending, Failure> {
    let budgets = conn.config.budgets;
    if budgets.daily.is_none() && budgets.monthly.is_none() {
        return Ok(crate::money::Spending::default());
    }
    let Some(store) = session.store() else {
        exit::say(words::NOT_COUNTED);
        return Ok(crate::money::Spending::default());
    };
    let spent = store.read(|s| s.spending()).await?;
    match crate::money::check_budgets(spent, budgets.daily, budgets.monthly) {
        crate::money::BudgetCheck::Fine => {}
        near @ crate::money::BudgetCheck::Near { .. } => exit::say(&words::near_text(&near)),
        crate::money::BudgetCheck::Over(refusal) if over_budget => {
            exit::say(&words::over_budget_text(&refusal));
        }
        crate::money::BudgetCheck::Over(refusal) => {
            return Err(Failure::new(exit::BUDGET, words::refusal_text(&refusal)));
        }
    }
    Ok(spent)
}

/// `geminal` alone: the full-screen interface on a terminal, the line chat otherwise.
async fn full_screen_or_line_chat(cli: &Cli) -> Result<u8, Failure> {
    use std::io::IsTerminal;
    let (global, flags) = (&cli.global, &cli.connect);
    let settings = cli.generation.settings()?;
    let (conn, session) = open_session(global, flags, None, false, HistoryUse::Save).await?;
    // A spent budget is said before the screen changes (and refuses, unless --over-budget).
    check_budget(&conn, &session, flags.over_budget).await?;
    // A conversation asked for on the command line must exist: say so before the screen changes.
    let open = match (cli.continue_last, cli.conversation, session.store()) {
        (_, Some(id), Some(store)) => Some(store.read(move |s| s.conversation(id).map(|c| c.id)).await?),
        (true, None, Some(store)) => store.read(|s| s.last_conversation_id()).await?,
        _ => None,
    };
    // An unknown role is refused before the screen changes or anything is asked.
    let role = cli.role.as_deref().map(|name| conn.config.role(name).cloned().map_err(Failure::usage)).transpose()?;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        let role = role.map(|role| line_chat::LaunchRole { role, keep_model: cli.connect.model.is_some() });
        let budgets = if flags.over_budget { crate::config::Budgets::default() } else { conn.config.budgets };
        return line_chat::run(conn, session, open, &settings, role, budgets).await;
    }
    let config = &conn.config;
    let options = crate::tui::Options {
        model: config.model.clone(),
        system: config.system_prompt.clone(),
        demo: config.demo,
        open,
        mouse: config.mouse,
        clipboard: config.clipboard,
        settings,
        roles: config.roles.clone(),
        role: role.map(|role| role.name),
        names: config.names.clone(),
        budgets: config.budgets,
        over_budget: flags.over_budget,
        deadline: config.total_timeout,
        theme: config.theme,
        tool_servers: config.mcp.servers.keys().cloned().collect(),
        tools: config.tools.clone(),
        max_tool_steps: config.max_tool_steps,
        tool_box: conn.tools.clone(),
    };
    crate::tui::run(session, options)
        .await
        .map(|stop| stop.map_or(exit::OK, signals::Stop::exit_code))
        .map_err(|message| Failure::new(exit::FAILURE, message))
}

/// Runs a parsed command line.
async fn run(cli: &Cli) -> Result<u8, Failure> {
    let (global, outer) = (&cli.global, &cli.connect);
    // Connection flags before a command that does not connect would silently do nothing.
    let shows_them = |command: &Command| match command {
        Command::Ask(_) | Command::Batch(_) | Command::Models(_) => true,
        Command::Config(args) => matches!(args.command, config::ConfigCommand::Show(_)),
        _ => false,
    };
    if let (Some(command), Some(flag)) = (&cli.command, outer.first_given())
        && !shows_them(command)
    {
        return Err(Failure::usage(format!(
            "{flag} applies only to the commands that talk to Gemini (ask, batch, models, or none) and to `config show`: remove it."
        )));
    }
    let takes_generation = |command: &Command| matches!(command, Command::Ask(_) | Command::Batch(_));
    if let (Some(command), Some(flag)) = (&cli.command, cli.generation.first_given())
        && !takes_generation(command)
    {
        return Err(Failure::usage(format!(
            "{flag} applies only to ask, batch and the interface (no command): remove it."
        )));
    }
    if cli.command.is_some() && (cli.continue_last || cli.conversation.is_some()) {
        let flag = if cli.continue_last { "-c" } else { "--conversation" };
        return Err(Failure::usage(format!(
            "{flag} before a command opens nothing: use it alone (`geminal {flag}`), or `ask -c` / `ask --conversation N`."
        )));
    }
    if cli.command.is_some() && cli.role.is_some() {
        return Err(Failure::usage(
            "-r before a command sets the interface's role: put it after the command (`geminal ask -r NAME`, `geminal batch --role NAME`).",
        ));
    }
    match &cli.command {
        Some(Command::Ask(args)) => {
            ask::run(global, &args.connect.or(outer), &args.generation.or(&cli.generation), args).await
        }
        Some(Command::Batch(args)) => {
            batch::run(global, &args.connect.or(outer), &args.generation.or(&cli.generation), args).await
        }
        Some(Command::Models(args)) => models::run(global, &args.connect.or(outer), args).await,
        Some(Command::Jobs(args)) => jobs::run(global, args).await,
        Some(Command::Roles(args)) => roles::run(global, args),
        Some(Command::History(args)) => history::run(global, args).await,
        Some(Command::Stats(args)) => stats::run(global, args).await,
        Some(Command::Cache(args)) => cache::run(global, args).await,
        Some(Command::Config(args)) => config::run(global, outer, args),
        Some(Command::Completions(args)) => docs::completions(args),
        Some(Command::Man(args)) => docs::man(args),
        Some(Command::Serve(args)) => serve::run(global, args).await,
        Some(Command::ServeFake(args)) => serve_fake::run(args).await,
        Some(Command::Mcp(args)) => mcp::run(global, args).await,
        Some(Command::FakeMcp(args)) => fake_mcp::run(args).await,
        None => full_screen_or_line_chat(cli).await,
    }
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    // One thread drives every answer: the work is waiting on sockets, and a single thread
    // costs less CPU and memory than a pool (measured: 1,024 streams at once use ~0.4 s CPU).
    // SQLite has a thread of its own (StoreHandle).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return Failure::new(exit::FAILURE, format!("Could not start the async runtime ({e}).")).report();
        }
    };
    let result = runtime.block_on(run(&cli));
    // Do not wait for tasks still parked on the network (e.g. an abandoned stream).
    runtime.shutdown_timeout(Duration::from_millis(100));
    // No MCP server outlives geminal (their own drops have run; this catches the rest).
    crate::mcp::stop_all();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => failure.report(),
    }
}
