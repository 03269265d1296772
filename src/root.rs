//! The composition root: what every front end opens before it can run a turn — the resolved
//! configuration, the Gemini client and every provider (with the simulated Gemini in demo mode),
//! the history database on its own thread, the chat session over them, and the configured MCP
//! servers as the tool box every runner calls. Front ends (`cli`, the interface, a future
//! server) call it and word its errors and notices themselves; it imports no front end.

use std::sync::Arc;

use crate::chat::{ChatOptions, ChatSession};
use crate::config::{Config, ConfigError, Overrides};
use crate::engine::Engine;
use crate::gemini::fake::{Behavior, FakeGemini, FakeOptions};
use crate::gemini::{ApiError, Client, ClientOptions};
use crate::store::{Store, StoreError, StoreHandle};
use crate::turn::Runner;

/// Why something could not be opened (the front end words it).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No key for the model's provider, or a client that could not be built.
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No place for the history database was found.
    #[error("no place for the history database")]
    NoDatabasePath,
    /// Opening the database stopped unexpectedly (its thread ended).
    #[error("opening the history database stopped unexpectedly")]
    StoreThread,
    /// The simulated Gemini of demo mode could not start.
    #[error("the demo server could not start ({0})")]
    DemoServer(String),
}

/// A client ready to use, and the simulated server behind it in demo mode.
pub struct Connection {
    pub client: Client,
    /// Every provider (the built-in Gemini through `client`, and the config's).
    pub providers: crate::provider::ProviderSet,
    pub config: Config,
    /// The configured MCP servers, shared by every turn (`None`: none configured). No server
    /// starts until a tool is used.
    pub tools: Option<Arc<crate::mcp::Hub>>,
    _demo_server: Option<FakeGemini>,
}

impl Connection {
    /// A runner over `session` for this connection's front end: the config's default model and
    /// roles, and the MCP servers as its tool box.
    pub fn runner(&self, session: Arc<ChatSession>) -> Runner {
        with_tools(Runner::new(session, self.config.model.clone(), self.config.roles.clone()), self.tools.as_ref())
    }

    /// Answers come from the built-in simulated Gemini.
    pub fn is_demo(&self) -> bool {
        self._demo_server.is_some()
    }
}

/// Resolves the configuration and builds the client; in demo mode starts the simulated Gemini.
pub async fn connect(overrides: &Overrides) -> Result<Connection, OpenError> {
    let mut config = Config::resolve(overrides)?;
    // The model's provider needs its key: said before anything starts.
    let (provider, _) = crate::provider::name::split_canonical(&config.model, &|p| config.names.is_known(p));
    let endpoint = config.providers.iter().find(|e| e.name == provider);
    match endpoint {
        None if provider == crate::provider::GEMINI && config.api_key.is_none() && !config.demo => {
            return Err(ApiError::NoKey.into());
        }
        Some(e) if e.api_key.is_none() && e.api_key_env.is_some() => {
            let env = e.api_key_env.clone().unwrap_or_default();
            return Err(ApiError::NoProviderKey { provider: e.name.clone(), env }.into());
        }
        _ => {}
    }
    let demo_server = if config.demo {
        let server = FakeGemini::start(FakeOptions::default(), Behavior::demo())
            .await
            .map_err(|e| OpenError::DemoServer(e.to_string()))?;
        config.base_url = server.base_url();
        Some(server)
    } else {
        None
    };
    let client = Client::new(ClientOptions {
        base_url: config.base_url.clone(),
        api_key: config.api_key.clone(),
        timeouts: config.timeouts,
    })?;
    let providers = crate::provider::build(
        client.clone(),
        config.api_key.as_ref(),
        &config.providers,
        &config.pools,
        config.names.default_provider(),
        config.timeouts,
    )?;
    let tools = tool_box(&config);
    Ok(Connection { client, providers, config, tools, _demo_server: demo_server })
}

/// The configured MCP servers as one tool box (`None`: none configured); nothing starts yet.
pub fn tool_box(config: &Config) -> Option<Arc<crate::mcp::Hub>> {
    (!config.mcp.servers.is_empty()).then(|| Arc::new(crate::mcp::Hub::new(&config.mcp, mcp_log_dir(config))))
}

/// `runner` calling tools through `tools` when there are any.
pub fn with_tools(runner: Runner, tools: Option<&Arc<crate::mcp::Hub>>) -> Runner {
    match tools {
        Some(hub) => runner.with_tools(hub.clone()),
        None => runner,
    }
}

/// Where each MCP server's stderr log goes (`NAME.log`): `mcp/` beside the history database.
pub fn mcp_log_dir(config: &Config) -> Option<std::path::PathBuf> {
    config.db_path.as_deref().and_then(std::path::Path::parent).map(|dir| dir.join("mcp"))
}

/// Opens the history database on a blocking thread and hands it to its own thread; also what
/// opening found (recovered answers, a damaged file moved aside, an upgrade), to tell the user.
pub async fn open_store(config: &Config) -> Result<(StoreHandle, Vec<String>), OpenError> {
    let path = config.db_path.clone().ok_or(OpenError::NoDatabasePath)?;
    let explicit = config.db_path_explicit;
    let opened =
        tokio::task::spawn_blocking(move || if explicit { Store::open(&path) } else { Store::open_default(&path) })
            .await
            .map_err(|_| OpenError::StoreThread)?;
    let (store, report) = opened?;
    Ok((StoreHandle::spawn(store)?, report.notices))
}

/// The chat session over a connection and (when it opened) the history: the options every
/// front end runs turns with.
pub fn session(conn: &Connection, store: Option<StoreHandle>, no_cache: bool, save: bool) -> ChatSession {
    let config = &conn.config;
    let options = ChatOptions {
        use_cache: config.cache && !no_cache,
        save,
        cache_max_entries: config.cache_max_entries,
        cache_namespace: config.cache_namespace(),
        cache_ttl: config.cache_ttl,
        inline_max_bytes: config.inline_max_bytes,
        store_max_bytes: config.attachment_store_max_bytes,
        upload_namespace: config.base_url.trim().trim_end_matches('/').to_owned(),
        prices: config.prices.clone(),
    };
    let engine = Engine::with_providers(conn.providers.clone(), config.engine_config());
    ChatSession::new(engine, store, options)
        .with_default_settings(config.settings.clone())
        .with_context_overflow(config.context_overflow)
}
