//! MCP servers as the model's tool box: the configured servers (`[mcp.servers.NAME]`, a program
//! over stdio or an address over Streamable HTTP, through `rmcp`), started on first use and
//! shared by every turn ([`Hub`], a [`ToolBox`]); their tools' names and schemas made what the
//! providers accept (`names`, `schema`); a call's result as the model is sent it (`output`);
//! the processes stopped when geminal exits (`children`); `mcpServers` JSON read for
//! `geminal mcp import` (`import`); and a fake server of our own for tests (`fake`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::tools::{ListError, Listing, Selection, ToolBox, ToolFailure, ToolInfo, ToolOutput};

mod children;
pub mod fake;
pub mod import;
pub mod names;
mod output;
pub mod schema;
mod server;
pub mod settings;

pub use children::stop_all;
pub use settings::{DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT_SECS, McpSettings, ServerSettings};

use server::Server;

/// Why a server gave no tools (data: the front end words it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Its program could not be run (why, in a few words).
    #[error("{0}")]
    Spawn(String),
    /// It did not answer MCP's handshake or its tool list.
    #[error("{0}")]
    Handshake(String),
    /// It did not start within its `timeout_secs`.
    #[error("it did not start within {0} s")]
    TimedOut(u64),
    /// It stopped (and was already restarted once): its last stderr line.
    #[error("it stopped")]
    Stopped { last_stderr: Option<String> },
}

/// One of a server's tools, as `geminal mcp tools NAME` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedTool {
    pub info: ToolInfo,
    /// Left out by the allow-list (`tools = [...]`): not offered to the model.
    pub allowed: bool,
    /// The schema parts Gemini does not take, dropped (by path).
    pub dropped: Vec<String>,
}

/// The configured MCP servers. No server starts until a tool is listed or called.
pub struct Hub {
    servers: BTreeMap<String, Arc<Server>>,
    max_result_bytes: usize,
    /// The names the model was offered: name → (server, its own name).
    offered: Mutex<HashMap<String, (String, String)>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("servers", &self.servers.keys().collect::<Vec<_>>()).finish()
    }
}

impl Hub {
    /// The servers of `settings` (already checked); each one's stderr goes to
    /// `log_dir/NAME.log` when a directory is given.
    pub fn new(settings: &McpSettings, log_dir: Option<PathBuf>) -> Hub {
        let servers = settings
            .servers
            .iter()
            .map(|(name, s)| {
                let log = log_dir.as_ref().map(|dir| dir.join(format!("{name}.log")));
                (name.clone(), Arc::new(Server::new(name.clone(), s.clone(), log)))
            })
            .collect();
        Hub { servers, max_result_bytes: settings.max_result_bytes(), offered: Mutex::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn server_names(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }

    /// A server's tools (starting it), allowed or not, with what their schemas lost.
    pub async fn server_tools(&self, server: &str) -> Result<Vec<ListedTool>, StartError> {
        let Some(s) = self.servers.get(server) else {
            return Err(StartError::Spawn(format!("no server named {server} is configured")));
        };
        let tools = s.conn().await?.tools().await?;
        let own: Vec<(&str, &str)> = tools.iter().map(|t| (server, t.name.as_ref())).collect();
        let names = names::assign(&own);
        Ok(tools
            .iter()
            .zip(names)
            .map(|(tool, name)| {
                let (parameters, dropped) = schema::translate(&Value::Object((*tool.input_schema).clone()));
                ListedTool {
                    allowed: s
                        .settings
                        .tools
                        .as_ref()
                        .is_none_or(|allow| allow.iter().any(|a| a == tool.name.as_ref())),
                    dropped,
                    info: ToolInfo {
                        server: server.to_owned(),
                        name,
                        original: tool.name.to_string(),
                        description: tool.description.as_deref().unwrap_or_default().to_owned(),
                        parameters,
                        trusted: s.settings.trust,
                    },
                }
            })
            .collect())
    }

    /// The process id of a running program server (tests check none is left).
    pub async fn pid(&self, server: &str) -> Option<u32> {
        self.servers.get(server)?.conn().await.ok()?.pid()
    }

    /// Stops every running server now (they start again on their next use).
    pub async fn stop(&self) {
        for server in self.servers.values() {
            server.stop().await;
        }
    }

    /// The tools of `selection`. A server named in it that does not start fails the listing;
    /// of every server ([`Selection::All`]) those that do not start are left out and said,
    /// unless none starts.
    async fn list(&self, selection: &Selection) -> Result<Listing, ListError> {
        let chosen: Vec<&str> = match selection {
            _ if selection.is_off() => return Ok(Listing::default()),
            Selection::Off => Vec::new(),
            Selection::All => self.servers.keys().map(String::as_str).collect(),
            Selection::Servers(names) => {
                if let Some(unknown) = names.iter().find(|n| !self.servers.contains_key(*n)) {
                    return Err(ListError::UnknownServer(unknown.clone()));
                }
                let mut chosen: Vec<&str> = Vec::new();
                for name in names {
                    if !chosen.contains(&name.as_str()) {
                        chosen.push(name);
                    }
                }
                chosen
            }
        };
        // Every server starts at once: one that hangs holds up only itself.
        let lists = futures::future::join_all(chosen.iter().map(|name| self.server_tools(name))).await;
        let mut tools: Vec<ToolInfo> = Vec::new();
        let mut unavailable = Vec::new();
        let started = lists.iter().filter(|l| l.is_ok()).count();
        for (name, list) in chosen.iter().zip(lists) {
            let list = list.map_err(|e| ListError::ServerStopped {
                server: (*name).to_owned(),
                last_stderr: match e {
                    StartError::Stopped { last_stderr } => last_stderr,
                    other => Some(other.to_string()),
                },
            });
            match list {
                Ok(list) => tools.extend(list.into_iter().filter(|t| t.allowed).map(|t| t.info)),
                Err(e) if matches!(selection, Selection::All) && started > 0 => unavailable.push(e),
                Err(e) => return Err(e),
            }
        }
        let pairs: Vec<(&str, &str)> = tools.iter().map(|t| (t.server.as_str(), t.original.as_str())).collect();
        let names = names::assign(&pairs);
        for (tool, name) in tools.iter_mut().zip(names) {
            tool.name = name;
        }
        if let Ok(mut offered) = self.offered.lock() {
            for tool in &tools {
                offered.insert(tool.name.clone(), (tool.server.clone(), tool.original.clone()));
            }
        }
        Ok(Listing { tools, unavailable })
    }

    async fn run(&self, tool: &str, arguments: &Value, cancel: CancellationToken) -> Result<ToolOutput, ToolFailure> {
        let found = self.offered.lock().ok().and_then(|offered| offered.get(tool).cloned());
        let Some((server, original)) = found else {
            return Err(ToolFailure::UnknownTool(tool.to_owned()));
        };
        let Some(s) = self.servers.get(&server) else {
            return Err(ToolFailure::UnknownTool(tool.to_owned()));
        };
        let result = s.call(&original, arguments, cancel).await?;
        Ok(output::convert(result, self.max_result_bytes))
    }
}

impl ToolBox for Hub {
    fn tools<'a>(&'a self, selection: &'a Selection) -> BoxFuture<'a, Result<Vec<ToolInfo>, ListError>> {
        Box::pin(async move { self.list(selection).await.map(|l| l.tools) })
    }

    fn listing<'a>(&'a self, selection: &'a Selection) -> BoxFuture<'a, Result<Listing, ListError>> {
        Box::pin(self.list(selection))
    }

    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: &'a Value,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(self.run(tool, arguments, cancel))
    }
}
