//! `geminal mcp import FILE | list | tools NAME | log NAME`: the MCP servers of the config
//! file: import another client's `mcpServers` JSON (appended, never rewriting the file), whether
//! each starts and with how many tools, one server's tools with what their schemas lost, and a
//! server's stderr log. Everything a server says is untrusted: sanitized before it is printed.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::exit::{self, Failure};
use super::{GlobalArgs, output};
use crate::config::Config;
use crate::mcp::{Hub, StartError};
use crate::sanitize::{one_line, sanitize};

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(subcommand)]
    pub command: McpCommand,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Add the servers of an `mcpServers` JSON file (Claude Desktop, gemini-cli, Cursor) to the config file.
    Import {
        /// The JSON file.
        file: PathBuf,
    },
    /// Each configured server: whether it starts (and why not) and its number of tools.
    List,
    /// One server's tools, with their descriptions and what their schemas lost for Gemini.
    Tools {
        /// The server's name in `[mcp.servers]`.
        name: String,
    },
    /// Print a server's stderr log.
    Log {
        /// The server's name in `[mcp.servers]`.
        name: String,
    },
}

pub async fn run(global: &GlobalArgs, args: &McpArgs) -> Result<u8, Failure> {
    match &args.command {
        McpCommand::Import { file } => import(global, file),
        McpCommand::List => until_signal(list(&Config::resolve(&global.overrides())?)).await,
        McpCommand::Tools { name } => until_signal(tools(&Config::resolve(&global.overrides())?, name)).await,
        McpCommand::Log { name } => log(&Config::resolve(&global.overrides())?, name),
    }
}

/// Runs `work` (which starts servers) until Ctrl-C, SIGTERM or SIGHUP: then it is dropped, and
/// its servers with it, before geminal exits with the signal's code.
async fn until_signal(work: impl Future<Output = Result<u8, Failure>>) -> Result<u8, Failure> {
    use super::signals::StopExit as _;
    let mut signals = super::signals::Signals::new()?;
    tokio::select! {
        result = work => result,
        stop = signals.recv() => Err(Failure::new(stop.exit_code(), format!("Stopped by {}: no MCP server is left running.", stop.name()))),
    }
}

fn print(text: &str) {
    let _ = output::write_flush(&mut std::io::stdout(), text.as_bytes());
}

/// Why a server did not start, in words.
fn why(e: &StartError) -> String {
    match e {
        StartError::Spawn(reason) | StartError::Handshake(reason) => one_line(reason, 200),
        StartError::TimedOut(secs) => format!("it did not start within {secs} s (timeout_secs)"),
        StartError::Stopped { last_stderr: Some(line) } => format!("it stopped: {}", one_line(line, 200)),
        StartError::Stopped { last_stderr: None } => "it stopped".to_owned(),
    }
}

fn hub(config: &Config) -> Hub {
    Hub::new(&config.mcp, crate::root::mcp_log_dir(config))
}

async fn list(config: &Config) -> Result<u8, Failure> {
    if config.mcp.servers.is_empty() {
        print(
            "No MCP servers are configured: add [mcp.servers.NAME] to the config file, or `geminal mcp import FILE`.\n",
        );
        return Ok(exit::OK);
    }
    let hub = hub(config);
    let names: Vec<&str> = hub.server_names().collect();
    let results = futures::future::join_all(names.iter().map(|n| hub.server_tools(n))).await;
    let mut failed = 0;
    for (name, result) in names.iter().zip(results) {
        let s = &config.mcp.servers[*name];
        let what = match (&s.command, &s.url) {
            (Some(command), _) => one_line(format!("{command} {}", s.args.join(" ")).trim_end(), 80),
            (None, url) => one_line(url.as_deref().unwrap_or_default(), 80),
        };
        let trust = if s.trust { ", trusted" } else { "" };
        match result {
            Ok(tools) => {
                let offered = tools.iter().filter(|t| t.allowed).count();
                let count = if offered == tools.len() {
                    format!("{offered} tools")
                } else {
                    format!("{offered} of {} tools (allow-list)", tools.len())
                };
                print(&format!("{name}: starts, {count} ({what}{trust})\n"));
            }
            Err(e) => {
                failed += 1;
                print(&format!("{name}: does not start: {} ({what})\n", why(&e)));
            }
        }
    }
    hub.stop().await;
    if failed > 0 {
        let log = if failed == 1 { "its log" } else { "their logs" };
        return Err(Failure::new(
            exit::UNAVAILABLE,
            format!("{failed} of {} MCP servers did not start (`geminal mcp log NAME` shows {log}).", names.len()),
        ));
    }
    Ok(exit::OK)
}

fn known(config: &Config, name: &str) -> Result<(), Failure> {
    if config.mcp.servers.contains_key(name) {
        return Ok(());
    }
    let names: Vec<&str> = config.mcp.servers.keys().map(String::as_str).collect();
    let have =
        if names.is_empty() { "none is configured".to_owned() } else { format!("configured: {}", names.join(", ")) };
    Err(Failure::usage(format!("No MCP server is named {} ({have}).", one_line(name, 40))))
}

async fn tools(config: &Config, name: &str) -> Result<u8, Failure> {
    known(config, name)?;
    let hub = hub(config);
    let listed = hub.server_tools(name).await;
    hub.stop().await;
    let listed = listed
        .map_err(|e| Failure::new(exit::UNAVAILABLE, format!("MCP server {name} did not start: {}.", why(&e))))?;
    let mut text = String::new();
    for tool in &listed {
        let info = &tool.info;
        let renamed =
            if info.name == info.original { String::new() } else { format!(" (the model calls it {})", info.name) };
        text.push_str(&format!("{}{renamed}\n", one_line(&info.original, 80)));
        if !info.description.trim().is_empty() {
            text.push_str(&format!("  {}\n", one_line(&info.description, 300)));
        }
        if !tool.allowed {
            text.push_str("  not offered: not in the server's tools allow-list\n");
        }
        if !tool.dropped.is_empty() {
            let dropped: Vec<String> = tool.dropped.iter().map(|d| one_line(d, 80)).collect();
            text.push_str(&format!("  dropped from its schema for Gemini: {}\n", dropped.join("; ")));
        }
    }
    if listed.is_empty() {
        text.push_str("(no tools)\n");
    }
    print(&text);
    Ok(exit::OK)
}

fn log(config: &Config, name: &str) -> Result<u8, Failure> {
    known(config, name)?;
    let Some(path) = crate::root::mcp_log_dir(config).map(|d| d.join(format!("{name}.log"))) else {
        return Err(Failure::new(exit::STORAGE, "No data directory was found for the logs: pass --db PATH."));
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            print(&sanitize(&String::from_utf8_lossy(&bytes)));
            Ok(exit::OK)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            exit::say(&format!("MCP server {name} has no log yet: it has not run."));
            Ok(exit::OK)
        }
        Err(e) => Err(Failure::new(exit::STORAGE, format!("{} could not be read ({}).", path.display(), e.kind()))),
    }
}

fn import(global: &GlobalArgs, file: &std::path::Path) -> Result<u8, Failure> {
    let shown = file.display();
    let json = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("{shown} could not be read ({}).", e.kind())))?;
    let servers = crate::mcp::import::parse(&json).map_err(|reason| Failure::usage(format!("{shown}: {reason}.")))?;
    if servers.is_empty() {
        return Err(Failure::usage(format!("{shown} has no servers.")));
    }
    let path = crate::config::config_path(&global.overrides()).0.ok_or_else(|| {
        Failure::new(exit::CONFIG, "No config directory was found: pass --config PATH or set GEMINAL_CONFIG.")
    })?;
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::new(exit::CONFIG, format!("{} could not be read ({}).", path.display(), e.kind())));
        }
    };
    let config = crate::config::FileConfig::parse(&existing).map_err(|reason| {
        Failure::new(exit::CONFIG, format!("{} is not valid ({reason}): fix it first.", path.display()))
    })?;
    let have = config.mcp.unwrap_or_default();
    let taken: Vec<&str> = servers.iter().map(|s| s.name.as_str()).filter(|n| have.servers.contains_key(*n)).collect();
    if !taken.is_empty() {
        return Err(Failure::usage(format!(
            "The config already has a server named {}: nothing was added (rename or remove it first).",
            taken.join(", ")
        )));
    }
    let added = crate::mcp::import::to_toml(&servers);
    let separator = if existing.is_empty() || existing.ends_with('\n') { "" } else { "\n" };
    let text =
        format!("{separator}\n# Imported from {} by `geminal mcp import`.{added}", one_line(&shown.to_string(), 200));
    // What it would read after: refused before anything is written.
    let after = format!("{existing}{text}");
    crate::config::FileConfig::parse(&after)
        .map_err(|reason| reason.to_string())
        .and_then(|f| f.mcp.unwrap_or_default().check())
        .map_err(|reason| {
            Failure::new(exit::CONFIG, format!("The servers could not be added ({reason}): nothing was written."))
        })?;
    let secrets = servers.iter().any(|s| !s.settings.headers.is_empty());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(exit::CONFIG, format!("{} could not be created ({}).", dir.display(), e.kind()))
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = |options: &std::fs::OpenOptions| -> std::io::Result<()> {
        let mut f = options.open(&path)?;
        f.write_all(text.as_bytes())?;
        #[cfg(unix)]
        if secrets {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.sync_all()
    };
    write(&options)
        .map_err(|e| Failure::new(exit::CONFIG, format!("{} could not be written ({}).", path.display(), e.kind())))?;
    let mut said = String::new();
    for s in &servers {
        let what = match (&s.settings.command, &s.settings.url) {
            (Some(command), _) => one_line(format!("{command} {}", s.settings.args.join(" ")).trim_end(), 80),
            (None, url) => one_line(url.as_deref().unwrap_or_default(), 80),
        };
        let renamed =
            if s.name == s.original { String::new() } else { format!(" (was {})", one_line(&s.original, 40)) };
        said.push_str(&format!("Added [mcp.servers.{}]{renamed}: {what}\n", s.name));
        if !s.ignored.is_empty() {
            let ignored: Vec<String> = s.ignored.iter().map(|i| one_line(i, 40)).collect();
            said.push_str(&format!("  left out (no counterpart here): {}\n", ignored.join(", ")));
        }
    }
    let private = if secrets { " (readable only by you: it holds headers)" } else { "" };
    said.push_str(&format!(
        "Wrote {}{private}. Turn them on with `ask --tools` or `tools = true` in the config.\n",
        path.display()
    ));
    print(&said);
    Ok(exit::OK)
}
