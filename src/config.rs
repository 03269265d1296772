//! Configuration, resolved in one place: flags > environment > config file > defaults.
//! The API key comes only from the environment (`GOOGLE_API_KEY` wins over `GEMINI_API_KEY`,
//! as Google's SDKs do) or the config file; it is held as a secret and never printed.
//! What the config file may hold, and reading it, is `config/file.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::engine::{EngineConfig, RetryPolicy};
use crate::net::Timeouts;
use crate::provider::GEMINI_BASE_URL as DEFAULT_BASE_URL;

mod file;
mod serve;
mod tools;

use file::load_file;
pub use file::{AttachmentsConfig, BudgetConfig, ClipboardMode, FileConfig, ThemeName};
pub use serve::{ServeFile, ServeKeyFile};
pub use tools::ToolsSetting;

pub const DEFAULT_MODEL: &str = "gemini-flash-latest";

/// How long a cached answer may answer again, and the size up to which attachments are kept in
/// the history: the conversation layer's defaults, which the config file can change.
pub use crate::chat::{DEFAULT_ATTACHMENT_STORE_MAX_BYTES, DEFAULT_CACHE_TTL};
/// The most `attachments.store_max_bytes` may be: bytes kept are the ones held in memory.
pub const ATTACHMENT_STORE_MAX_BYTES_LIMIT: u64 = crate::attach::IN_MEMORY_MAX_BYTES;

/// What the command line says; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub demo: bool,
    pub connect_timeout: Option<Duration>,
    pub first_token_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub total_timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub max_concurrent: Option<usize>,
    pub rpm: Option<u32>,
}

/// The budgets in force (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budgets {
    pub daily: Option<crate::money::Usd>,
    pub monthly: Option<crate::money::Usd>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    GoogleApiKey,
    GeminiApiKey,
    ConfigFile,
    Demo,
    None,
}

/// Where a setting's value came from (`config show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, by name.
    Flag(&'static str),
    /// An environment variable, by name.
    Env(&'static str),
    /// The config file.
    File,
    /// `--demo` (its key, its database).
    Demo,
    /// Nothing set it.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::File => f.write_str("config file"),
            Source::Demo => f.write_str("flag --demo"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// The first source that gave a value: the flag, else the variable, else the file.
fn source(flag: Option<&'static str>, env: Option<&'static str>, file: bool) -> Source {
    match (flag, env) {
        (Some(name), _) => Source::Flag(name),
        (None, Some(name)) => Source::Env(name),
        (None, None) if file => Source::File,
        (None, None) => Source::Default,
    }
}

/// The resolved configuration.
#[derive(Clone)]
pub struct Config {
    pub api_key: Option<SecretString>,
    pub key_source: KeySource,
    pub base_url: String,
    pub model: String,
    /// Whether the model was chosen by a flag or `GEMINAL_MODEL` (else a continued
    /// conversation keeps its own model).
    pub model_explicit: bool,
    pub system_prompt: Option<String>,
    pub cache: bool,
    pub cache_max_entries: usize,
    /// How long a cached answer stays usable; `None` is forever.
    pub cache_ttl: Option<Duration>,
    pub engine: EngineConfig,
    pub db_path: Option<PathBuf>,
    /// Whether the database path was given (`--db`, `GEMINAL_DB`): then its directory must
    /// exist; only the default data directory is created.
    pub db_path_explicit: bool,
    pub config_path: Option<PathBuf>,
    pub timeouts: Timeouts,
    /// A deadline for a whole answer, retries included (`timeout_secs`, `--timeout`; 10 minutes
    /// by default): the engine holds every front end's answers to it.
    pub total_timeout: Option<Duration>,
    pub demo: bool,
    /// Where each setting came from, by its config-file name (`config show`), in file order.
    pub sources: Vec<(&'static str, Source)>,
    pub theme: ThemeName,
    pub mouse: bool,
    pub clipboard: ClipboardMode,
    /// Generation settings a new conversation starts with (flags and tabs override them).
    pub settings: crate::chat::Settings,
    /// Attachments up to this size are kept in the history (`attachments.store_max_bytes`).
    pub attachment_store_max_bytes: u64,
    /// Requests with inline attachments stay under this size; larger files are uploaded. Only
    /// tests change it (`GEMINAL_INLINE_MAX_BYTES`), to upload without 20 MB files.
    pub inline_max_bytes: usize,
    /// Every role, by name (the config file's `[roles.NAME]`, then `roles/NAME.md` files).
    pub roles: Vec<crate::chat::NamedRole>,
    pub context_overflow: crate::chat::ContextOverflow,
    /// The price table: the shipped one with the config's `[prices]` over it.
    pub prices: std::sync::Arc<crate::money::PriceBook>,
    pub budgets: Budgets,
    /// `[providers.NAME]`, resolved (keys read from their variables).
    pub providers: Vec<crate::provider::settings::Endpoint>,
    /// `[pools.NAME]`, resolved.
    pub pools: Vec<crate::provider::settings::PoolSpec>,
    /// Which provider names exist and which one a bare model name means.
    pub names: crate::provider::Names,
    /// `[mcp]`: the MCP servers (checked) and the limit on a tool's result.
    pub mcp: crate::mcp::McpSettings,
    /// Which servers' tools a turn offers unless a flag says (`tools`; off by default).
    pub tools: crate::tools::Selection,
    /// Model-tool rounds a turn may take (`max_tool_steps`).
    pub max_tool_steps: u32,
    /// `[serve]`, as written (`geminal serve` resolves its keys).
    pub serve: ServeFile,
}

impl Config {
    /// The role named `name`, or the sentence naming the known ones.
    pub fn role(&self, name: &str) -> Result<&crate::chat::NamedRole, String> {
        self.roles.iter().find(|r| r.name == name.trim()).ok_or_else(|| crate::chat::unknown_role(name, &self.roles))
    }

    /// Where the setting named as in the config file came from.
    pub fn source_of(&self, name: &str) -> Option<Source> {
        self.sources.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("key_source", &self.key_source)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("model_explicit", &self.model_explicit)
            .field("cache", &self.cache)
            .field("cache_max_entries", &self.cache_max_entries)
            .field("cache_ttl", &self.cache_ttl)
            .field("engine", &self.engine)
            .field("system_prompt", &self.system_prompt)
            .field("db_path", &self.db_path)
            .field("db_path_explicit", &self.db_path_explicit)
            .field("config_path", &self.config_path)
            .field("timeouts", &self.timeouts)
            .field("total_timeout", &self.total_timeout)
            .field("demo", &self.demo)
            .field("sources", &self.sources)
            .field("theme", &self.theme)
            .field("mouse", &self.mouse)
            .field("clipboard", &self.clipboard)
            .field("settings", &self.settings)
            .field("attachment_store_max_bytes", &self.attachment_store_max_bytes)
            .field("inline_max_bytes", &self.inline_max_bytes)
            .field("roles", &self.roles)
            .field("context_overflow", &self.context_overflow)
            .field("prices", &self.prices.overridden())
            .field("budgets", &self.budgets)
            .field("providers", &self.providers)
            .field("pools", &self.pools)
            .field("mcp", &self.mcp)
            .field("names", &self.names)
            .finish()
    }
}

/// A configuration problem, as one sentence with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("The config file {path} does not exist: create it or drop --config / GEMINAL_CONFIG.")]
    Missing { path: String },
    #[error("The config file {path} could not be read ({reason}): check its permissions.")]
    Unreadable { path: String, reason: String },
    #[error("The config file {path} is not valid: {reason}.")]
    Invalid { path: String, reason: String },
    #[error(
        "The config file {path} holds a secret (an api_key or a provider's headers) but other users can read it: run `chmod 600 {path}`."
    )]
    KeyFileTooOpen { path: String },
    #[error("The setting {name} must be a positive number of seconds, not {value}.")]
    BadDuration { name: String, value: String },
    #[error(
        "The setting cache_ttl must be a duration such as \"30m\", \"24h\" or \"7d\", or \"never\", not \"{value}\"."
    )]
    BadCacheTtl { value: String },
    #[error("The base URL '{value}' from {source_name} {reason}: use an address such as {default}, or remove it.", default = DEFAULT_BASE_URL)]
    BadBaseUrl { value: String, source_name: String, reason: String },
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "geminal")
}

pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

pub fn default_db_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.data_dir().join("history.sqlite3"))
}

/// The demo's own database beside `path`: `history.sqlite3` → `history-demo.sqlite3`, so
/// simulated conversations stay out of the real history and its stats.
pub fn demo_db_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-demo.{}", ext.to_string_lossy()),
        None => format!("{stem}-demo"),
    };
    path.with_file_name(name)
}

/// Parses `cache_ttl`: a positive duration ("90s", "30m", "24h", "7d") or "never".
pub fn parse_cache_ttl(text: &str) -> Result<Option<Duration>, ConfigError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    match humantime::parse_duration(text) {
        Ok(ttl) if !ttl.is_zero() => Ok(Some(ttl)),
        _ => Err(ConfigError::BadCacheTtl { value: crate::sanitize::one_line(text, 40) }),
    }
}

impl Config {
    /// Resolves from the process environment.
    pub fn resolve(overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::resolve_with(overrides, &|name| std::env::var(name).ok())
    }

    pub fn engine_config(&self) -> EngineConfig {
        self.engine.clone()
    }

    /// Which answers the cache may give: those from this endpoint. Demo mode is one fixed
    /// namespace (its loopback port changes every run); a real endpoint is its base URL.
    pub fn cache_namespace(&self) -> String {
        if self.demo { "demo".to_owned() } else { self.base_url.trim().trim_end_matches('/').to_owned() }
    }

    /// Resolves with `env` standing in for the environment (tests).
    pub fn resolve_with(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let (config_path, config_source) = config_path_with(overrides, env);
        let explicit = config_source != Source::Default;
        let env = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        // The variable's name when it is set, for `source`.
        let set = |name: &'static str| env(name).map(|_| name);
        let file = match &config_path {
            Some(path) => load_file(path, explicit)?,
            None => FileConfig::default(),
        };

        let (api_key, key_source) = if overrides.demo {
            (Some(SecretString::from("demo-key")), KeySource::Demo)
        } else if let Some(key) = env("GOOGLE_API_KEY") {
            (Some(SecretString::from(key)), KeySource::GoogleApiKey)
        } else if let Some(key) = env("GEMINI_API_KEY") {
            (Some(SecretString::from(key)), KeySource::GeminiApiKey)
        } else if let Some(key) = file.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            (Some(SecretString::from(key.to_owned())), KeySource::ConfigFile)
        } else {
            (None, KeySource::None)
        };

        let (base_url, base_url_source) = if let Some(url) = overrides.base_url.clone() {
            (url, "--base-url".to_owned())
        } else if let Some(url) = env("GOOGLE_GEMINI_BASE_URL") {
            (url, "GOOGLE_GEMINI_BASE_URL".to_owned())
        } else if let Some(url) = file.base_url.clone() {
            let path = config_path.as_deref().map_or_else(String::new, |p| format!(" in {}", p.display()));
            (url, format!("base_url{path}"))
        } else {
            (DEFAULT_BASE_URL.to_owned(), "the default".to_owned())
        };
        // A malformed address is a configuration mistake, found before anything connects.
        // (Demo mode replaces the address with its own server's.)
        if !overrides.demo
            && let Err(reason) = crate::net::check_base_url(&base_url)
        {
            return Err(ConfigError::BadBaseUrl {
                value: crate::sanitize::one_line(&base_url, 80),
                source_name: base_url_source,
                reason: reason.to_owned(),
            });
        }
        let model_explicit = overrides.model.is_some() || env("GEMINAL_MODEL").is_some();
        let model = overrides
            .model
            .clone()
            .or_else(|| env("GEMINAL_MODEL"))
            .or(file.model.clone())
            .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        // `--db` is taken as given; otherwise the demo keeps its own file beside the real one.
        let db_path_explicit = overrides.db.is_some() || env("GEMINAL_DB").is_some();
        let db_path = match &overrides.db {
            Some(path) => Some(path.clone()),
            None => env("GEMINAL_DB")
                .map(PathBuf::from)
                .or_else(default_db_path)
                .map(|path| if overrides.demo { demo_db_path(&path) } else { path }),
        };
        let cache_ttl = match &file.cache_ttl {
            Some(text) => parse_cache_ttl(text)?,
            None => Some(DEFAULT_CACHE_TTL),
        };

        // Read and checked with the file ([`FileConfig::parse`]).
        let settings = file.settings.clone();

        let defaults = Timeouts::default();
        let timeouts = Timeouts {
            connect: pick(overrides.connect_timeout, file.connect_timeout_secs, "connect_timeout_secs")?
                .unwrap_or(defaults.connect),
            first_token: pick(
                overrides.first_token_timeout,
                file.first_token_timeout_secs,
                "first_token_timeout_secs",
            )?
            .unwrap_or(defaults.first_token),
            idle: pick(overrides.idle_timeout, file.idle_timeout_secs, "idle_timeout_secs")?.unwrap_or(defaults.idle),
        };
        let total_timeout = pick(overrides.total_timeout, file.timeout_secs, "timeout_secs")?
            .or(Some(crate::engine::DEFAULT_TOTAL_TIMEOUT));

        let flag = |given: bool, name: &'static str| given.then_some(name);
        let key_env = match key_source {
            KeySource::GoogleApiKey => Some("GOOGLE_API_KEY"),
            KeySource::GeminiApiKey => Some("GEMINI_API_KEY"),
            _ => None,
        };
        let db_source = match (overrides.db.is_some(), set("GEMINAL_DB")) {
            (true, _) => Source::Flag("--db"),
            (false, Some(name)) => Source::Env(name),
            (false, None) if overrides.demo => Source::Demo,
            (false, None) => Source::Default,
        };
        let mut sources = vec![
            ("config", config_source),
            ("db", db_source),
            (
                "api_key",
                if overrides.demo { Source::Demo } else { source(None, key_env, key_source == KeySource::ConfigFile) },
            ),
            ("model", source(flag(overrides.model.is_some(), "--model"), set("GEMINAL_MODEL"), file.model.is_some())),
            (
                "base_url",
                source(
                    flag(overrides.base_url.is_some(), "--base-url"),
                    set("GOOGLE_GEMINI_BASE_URL"),
                    file.base_url.is_some(),
                ),
            ),
            ("system_prompt", source(None, None, file.system_prompt.as_deref().is_some_and(|s| !s.trim().is_empty()))),
            (
                "connect_timeout_secs",
                source(
                    flag(overrides.connect_timeout.is_some(), "--connect-timeout"),
                    None,
                    file.connect_timeout_secs.is_some(),
                ),
            ),
            (
                "first_token_timeout_secs",
                source(
                    flag(overrides.first_token_timeout.is_some(), "--first-token-timeout"),
                    None,
                    file.first_token_timeout_secs.is_some(),
                ),
            ),
            (
                "idle_timeout_secs",
                source(
                    flag(overrides.idle_timeout.is_some(), "--idle-timeout"),
                    None,
                    file.idle_timeout_secs.is_some(),
                ),
            ),
            (
                "timeout_secs",
                source(flag(overrides.total_timeout.is_some(), "--timeout"), None, file.timeout_secs.is_some()),
            ),
            ("cache", source(None, None, file.cache.is_some())),
            ("cache_max_entries", source(None, None, file.cache_max_entries.is_some())),
            ("cache_ttl", source(None, None, file.cache_ttl.is_some())),
            (
                "max_concurrent",
                source(flag(overrides.max_concurrent.is_some(), "--jobs"), None, file.max_concurrent.is_some()),
            ),
            ("retries", source(flag(overrides.retries.is_some(), "--retries"), None, file.retries.is_some())),
            ("rpm", source(flag(overrides.rpm.is_some(), "--rpm"), None, file.rpm.is_some())),
            ("rate_limits", source(None, None, file.rate_limits.is_some())),
            (
                "fallback_model",
                source(None, None, file.fallback_model.as_deref().is_some_and(|m| !m.trim().is_empty())),
            ),
            ("theme", source(None, None, file.theme.is_some())),
            ("mouse", source(None, None, file.mouse.is_some())),
            ("clipboard", source(None, None, file.clipboard.is_some())),
        ];
        // Every generation setting of the registry, in its order.
        let given = |spec: &crate::chat::registry::Spec| spec.get(&file.settings).is_some();
        sources.extend(crate::chat::registry::SETTINGS.iter().map(|s| (s.key, source(None, None, given(s)))));
        sources.extend([
            (
                "attachments.store_max_bytes",
                source(None, None, file.attachments.as_ref().is_some_and(|a| a.store_max_bytes.is_some())),
            ),
            ("context_overflow", source(None, None, file.context_overflow.is_some())),
            ("roles", source(None, None, file.roles.as_ref().is_some_and(|r| !r.is_empty()))),
            ("prices", source(None, None, file.prices.as_ref().is_some_and(|p| !p.is_empty()))),
            ("budget.daily", source(None, None, file.budget.as_ref().is_some_and(|b| b.daily.is_some()))),
            ("budget.monthly", source(None, None, file.budget.as_ref().is_some_and(|b| b.monthly.is_some()))),
            ("fallback", source(None, None, file.fallback.as_ref().is_some_and(|f| !f.is_empty()))),
            ("default_provider", source(None, None, file.default_provider.is_some())),
            ("providers", source(None, None, file.providers.as_ref().is_some_and(|p| !p.is_empty()))),
            ("pools", source(None, None, file.pools.as_ref().is_some_and(|p| !p.is_empty()))),
            ("mcp.servers", source(None, None, file.mcp.as_ref().is_some_and(|m| !m.servers.is_empty()))),
            ("tools", source(None, None, file.tools.is_some())),
            ("max_tool_steps", source(None, None, file.max_tool_steps.is_some())),
        ]);
        let invalid = |reason: String| ConfigError::Invalid {
            path: config_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            reason: reason.trim_end_matches('.').to_owned(),
        };
        let prices = std::sync::Arc::new(
            crate::money::PriceBook::with_overrides(&file.prices.clone().unwrap_or_default()).map_err(invalid)?,
        );
        let budget_amount = |name: &str, value: Option<f64>| -> Result<Option<crate::money::Usd>, ConfigError> {
            value
                .map(|v| {
                    crate::money::Usd::from_dollars(v).filter(|u| *u > crate::money::Usd::ZERO).ok_or_else(|| {
                        invalid(format!("budget.{name} must be a positive amount of US dollars, not {v}"))
                    })
                })
                .transpose()
        };
        let budget = file.budget.clone().unwrap_or_default();
        let budgets = Budgets {
            daily: budget_amount("daily", budget.daily)?,
            monthly: budget_amount("monthly", budget.monthly)?,
        };
        let attachment_store_max_bytes = file
            .attachments
            .as_ref()
            .and_then(|a| a.store_max_bytes)
            .unwrap_or(DEFAULT_ATTACHMENT_STORE_MAX_BYTES)
            .min(ATTACHMENT_STORE_MAX_BYTES_LIMIT);
        let inline_max_bytes = env("GEMINAL_INLINE_MAX_BYTES")
            .and_then(|v| v.parse().ok())
            .unwrap_or(crate::chat::INLINE_REQUEST_MAX_BYTES);
        let roles =
            crate::roles::load(file.roles.as_ref(), config_path.as_deref()).map_err(|reason| ConfigError::Invalid {
                path: config_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                reason,
            })?;

        let invalid = |reason: String| ConfigError::Invalid {
            path: config_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            reason,
        };
        let (mcp, tools, max_tool_steps) =
            tools::resolve(file.mcp.as_ref(), file.tools.as_ref(), file.max_tool_steps).map_err(invalid)?;
        for role in &roles {
            if let Some(selection) = &role.tools {
                tools::check(selection, &mcp, &format!("role {}: tools", role.name)).map_err(invalid)?;
            }
        }
        let (providers, pools) =
            crate::provider::settings::resolve(file.providers.as_ref(), file.pools.as_ref(), &env).map_err(invalid)?;
        let default_provider = file.default_provider.as_deref().map(str::trim).filter(|d| !d.is_empty());
        let names = crate::provider::Names::new(
            providers.iter().map(|p| p.name.clone()).chain(pools.iter().map(|p| p.name.clone())),
            default_provider,
        );
        if let Some(name) = default_provider.filter(|d| !names.is_known(d)) {
            return Err(invalid(format!(
                "default_provider names {}, which is not a provider",
                crate::sanitize::one_line(name, 40)
            )));
        }
        // Every model name a user wrote, made canonical: a bare name means the default provider.
        let mut fallback: Vec<String> = file.fallback.iter().flatten().map(|m| names.canonical(m)).collect();
        if let Some(one) = file.fallback_model.as_deref().filter(|m| !m.trim().is_empty()) {
            let one = names.canonical(one);
            if !fallback.contains(&one) {
                fallback.push(one);
            }
        }
        fallback.retain(|m| !m.is_empty());
        let model = names.canonical(&model);
        let roles = roles
            .into_iter()
            .map(|mut role| {
                role.model = role.model.map(|m| names.canonical(&m));
                role.fallback = role.fallback.iter().map(|m| names.canonical(m)).collect();
                role
            })
            .collect();

        Ok(Config {
            mcp,
            tools,
            max_tool_steps,
            providers,
            pools,
            names,
            sources,
            api_key,
            key_source,
            base_url,
            model,
            model_explicit,
            cache: file.cache.unwrap_or(true),
            cache_max_entries: file.cache_max_entries.unwrap_or(10_000),
            cache_ttl,
            engine: EngineConfig {
                max_concurrent: overrides.max_concurrent.or(file.max_concurrent).unwrap_or(16).clamp(1, 4096),
                rpm: file.rate_limits.clone().unwrap_or_default(),
                default_rpm: overrides.rpm.or(file.rpm).filter(|r| *r > 0),
                retry: RetryPolicy {
                    max_attempts: overrides.retries.or(file.retries).unwrap_or(4).min(20) + 1,
                    ..RetryPolicy::default()
                },
                fallback,
                total_timeout,
            },
            system_prompt: file.system_prompt.filter(|s| !s.trim().is_empty()),
            db_path,
            db_path_explicit,
            config_path,
            timeouts,
            total_timeout,
            demo: overrides.demo,
            theme: file.theme.unwrap_or_default(),
            mouse: file.mouse.unwrap_or(true),
            clipboard: file.clipboard.unwrap_or_default(),
            settings,
            attachment_store_max_bytes,
            inline_max_bytes,
            roles,
            context_overflow: file.context_overflow.unwrap_or_default(),
            prices,
            budgets,
            serve: file.serve.clone().unwrap_or_default(),
        })
    }
}

/// The config file to read and where that choice came from: `--config`, `GEMINAL_CONFIG`, or
/// the default place (`None` when the system has no config directory).
pub fn config_path(overrides: &Overrides) -> (Option<PathBuf>, Source) {
    config_path_with(overrides, &|name| std::env::var(name).ok())
}

fn config_path_with(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> (Option<PathBuf>, Source) {
    let from_env = env("GEMINAL_CONFIG").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match (&overrides.config, from_env) {
        (Some(path), _) => (Some(path.clone()), Source::Flag("--config")),
        (None, Some(path)) => (Some(PathBuf::from(path)), Source::Env("GEMINAL_CONFIG")),
        (None, None) => (default_config_path(), Source::Default),
    }
}

fn pick(flag: Option<Duration>, file: Option<f64>, name: &str) -> Result<Option<Duration>, ConfigError> {
    if flag.is_some() {
        return Ok(flag);
    }
    file.map(|secs| {
        if secs.is_finite() && secs > 0.0 && secs < 1e9 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(ConfigError::BadDuration { name: name.to_owned(), value: secs.to_string() })
        }
    })
    .transpose()
}

/// Parses a positive number of seconds from a flag value.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 =
        text.trim().trim_end_matches('s').parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("'{text}' must be a positive number of seconds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    /// Resolves with `vars` as the whole environment; with no config given, an empty one is
    /// used so the developer's own config file cannot leak into the test.
    fn resolve(overrides: &Overrides, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let dir = tempfile::tempdir().unwrap();
        let mut o = overrides.clone();
        if o.config.is_none() {
            let path = dir.path().join("empty.toml");
            std::fs::write(&path, "").unwrap();
            o.config = Some(path);
        }
        Config::resolve_with(&o, &|k| map.get(k).cloned())
    }

    fn key(c: &Config) -> Option<String> {
        c.api_key.as_ref().map(|k| k.expose_secret().to_owned())
    }

    #[test]
    fn google_api_key_wins_over_gemini_api_key() {
        let c = resolve(&Overrides::default(), &[("GEMINI_API_KEY", "gem"), ("GOOGLE_API_KEY", "goo")]).unwrap();
        assert_eq!((key(&c).as_deref(), c.key_source), (Some("goo"), KeySource::GoogleApiKey));
        let c = resolve(&Overrides::default(), &[("GEMINI_API_KEY", " gem \n")]).unwrap();
        assert_eq!(key(&c).as_deref(), Some("gem"));
        let c = resolve(&Overrides::default(), &[("GEMINI_API_KEY", "  ")]).unwrap();
        assert_eq!(c.key_source, KeySource::None);
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "model = \"file-model\"\nbase_url = \"http://file\"\nidle_timeout_secs = 7\n").unwrap();
        let with_file = Overrides { config: Some(path.clone()), ..Overrides::default() };
        let c = resolve(&with_file, &[]).unwrap();
        assert_eq!((c.model.as_str(), c.base_url.as_str()), ("file-model", "http://file"));
        assert_eq!(c.timeouts.idle, Duration::from_secs(7));
        let c =
            resolve(&with_file, &[("GEMINAL_MODEL", "env-model"), ("GOOGLE_GEMINI_BASE_URL", "http://env")]).unwrap();
        assert_eq!((c.model.as_str(), c.base_url.as_str()), ("env-model", "http://env"));
        let flags = Overrides { model: Some("flag-model".into()), base_url: Some("http://flag".into()), ..with_file };
        let c = resolve(&flags, &[("GEMINAL_MODEL", "env-model"), ("GOOGLE_GEMINI_BASE_URL", "http://env")]).unwrap();
        assert_eq!((c.model.as_str(), c.base_url.as_str()), ("flag-model", "http://flag"));
        let c = resolve(&Overrides::default(), &[]).unwrap();
        assert_eq!((c.model.as_str(), c.base_url.as_str()), (DEFAULT_MODEL, DEFAULT_BASE_URL));
    }

    #[test]
    fn the_theme_is_dark_unless_the_file_chooses_light() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(resolve(&Overrides::default(), &[]).unwrap().theme, ThemeName::Dark);
        std::fs::write(&path, "theme = \"light\"\n").unwrap();
        let o = Overrides { config: Some(path.clone()), ..Overrides::default() };
        assert_eq!(resolve(&o, &[]).unwrap().theme, ThemeName::Light);
        std::fs::write(&path, "theme = \"blue\"\n").unwrap();
        let err = resolve(&o, &[]).unwrap_err().to_string();
        assert!(err.contains("is not valid") && err.contains("dark") && err.contains("light"), "{err}");
    }

    #[test]
    fn mouse_and_clipboard_default_to_taking_the_mouse_and_choosing_the_clipboard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let c = resolve(&Overrides::default(), &[]).unwrap();
        assert_eq!((c.mouse, c.clipboard), (true, ClipboardMode::Auto));
        std::fs::write(&path, "mouse = false\nclipboard = \"terminal\"\n").unwrap();
        let o = Overrides { config: Some(path.clone()), ..Overrides::default() };
        let c = resolve(&o, &[]).unwrap();
        assert_eq!((c.mouse, c.clipboard), (false, ClipboardMode::Terminal));
        assert_eq!(c.source_of("mouse"), Some(Source::File));
        std::fs::write(&path, "clipboard = \"xclip\"\n").unwrap();
        let err = resolve(&o, &[]).unwrap_err().to_string();
        assert!(err.contains("is not valid") && err.contains("terminal") && err.contains("system"), "{err}");
    }

    #[test]
    fn a_base_url_that_is_not_an_http_address_is_refused_naming_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "base_url = \"generativelanguage.googleapis.com\"\n").unwrap();
        let from_file = Overrides { config: Some(path.clone()), ..Overrides::default() };
        let source = |o: &Overrides, env: &[(&str, &str)]| match resolve(o, env) {
            Err(ConfigError::BadBaseUrl { source_name, .. }) => source_name,
            other => panic!("{other:?}"),
        };
        assert_eq!(source(&from_file, &[]), format!("base_url in {}", path.display()));
        assert_eq!(source(&from_file, &[("GOOGLE_GEMINI_BASE_URL", "http://")]), "GOOGLE_GEMINI_BASE_URL");
        for bad in ["not a url", "ftp://x", "http://", "http://h?x=1"] {
            let flag = Overrides { base_url: Some(bad.into()), ..from_file.clone() };
            assert_eq!(source(&flag, &[]), "--base-url", "{bad}");
        }
        let demo = Overrides { demo: true, ..from_file };
        assert!(resolve(&demo, &[]).is_ok(), "the demo uses its own server's address");
    }

    #[cfg(unix)]
    #[test]
    fn a_config_with_provider_headers_holds_a_secret_and_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let text = "[providers.proxy]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nheaders = { x-proxy-token = \"tok-0123456789\" }\n";
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = Overrides { config: Some(path.clone()), ..Overrides::default() };
        let err = resolve(&o, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::KeyFileTooOpen { .. }), "{err}");
        assert!(!err.to_string().contains("tok-"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(resolve(&o, &[]).is_ok());
    }

    #[test]
    fn config_file_key_is_last_and_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "api_key = \"file-key\"\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = resolve(&Overrides { config: Some(path.clone()), ..Overrides::default() }, &[]).unwrap_err();
            assert!(matches!(err, ConfigError::KeyFileTooOpen { .. }), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let o = Overrides { config: Some(path), ..Overrides::default() };
        assert_eq!(key(&resolve(&o, &[]).unwrap()).as_deref(), Some("file-key"));
        assert_eq!(key(&resolve(&o, &[("GEMINI_API_KEY", "env")]).unwrap()).as_deref(), Some("env"));
    }

    #[test]
    fn config_problems_are_one_clear_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "modle = \"x\"\n").unwrap();
        let err =
            resolve(&Overrides { config: Some(path.clone()), ..Overrides::default() }, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field") && err.contains("modle") && !err.contains('\n'), "{err}");
        let missing = resolve(&Overrides { config: Some(dir.path().join("nope.toml")), ..Overrides::default() }, &[])
            .unwrap_err();
        assert!(matches!(missing, ConfigError::Missing { .. }));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = resolve(&Overrides::default(), &[("GEMINI_API_KEY", "AIzaSECRET")]).unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("AIzaSECRET") && text.contains("[REDACTED]"), "{text}");
    }

    #[test]
    fn the_example_config_is_valid() {
        let file = FileConfig::parse(include_str!("../assets/config.example.toml")).unwrap();
        // Its commented role, uncommented, is a valid role too.
        let example = include_str!("../assets/config.example.toml");
        let role: String = example[example.find("# [roles.").unwrap()..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start().split("  #").next().unwrap()))
            .collect();
        let with_role = FileConfig::parse(&role).unwrap();
        // Its commented providers and pool, uncommented, resolve too.
        let providers: String = example[example.find("# [providers.").unwrap()..]
            .lines()
            .filter(|l| l.starts_with("# [") || l.starts_with("# ") && l.contains(" = "))
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let with_providers = FileConfig::parse(&providers).unwrap();
        let (endpoints, pools) = crate::provider::settings::resolve(
            with_providers.providers.as_ref(),
            with_providers.pools.as_ref(),
            &|_| None,
        )
        .unwrap_or_else(|reason| panic!("{reason}"));
        assert_eq!((endpoints.len(), pools.len()), (4, 1), "{providers}");
        assert!(with_role.roles.unwrap().contains_key("reviewer"), "{role}");
        assert_eq!(file.model.as_deref(), Some(DEFAULT_MODEL));
        assert_eq!(file.cache, Some(true));
        assert_eq!(parse_cache_ttl(file.cache_ttl.as_deref().unwrap()), Ok(Some(DEFAULT_CACHE_TTL)));
    }

    #[test]
    fn the_cache_ttl_is_a_human_duration_or_never() {
        assert_eq!(parse_cache_ttl("24h"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse_cache_ttl("30m"), Ok(Some(Duration::from_secs(1_800))));
        assert_eq!(parse_cache_ttl(" 7d "), Ok(Some(Duration::from_secs(7 * 86_400))));
        assert_eq!(parse_cache_ttl("1h 30m"), Ok(Some(Duration::from_secs(5_400))));
        assert_eq!(parse_cache_ttl("never"), Ok(None));
        for bad in ["0s", "soon", "24", "-1h", ""] {
            assert!(matches!(parse_cache_ttl(bad), Err(ConfigError::BadCacheTtl { .. })), "{bad}");
        }
        assert_eq!(resolve(&Overrides::default(), &[]).unwrap().cache_ttl, Some(DEFAULT_CACHE_TTL));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "cache_ttl = \"never\"\n").unwrap();
        let c = resolve(&Overrides { config: Some(path.clone()), ..Overrides::default() }, &[]).unwrap();
        assert_eq!(c.cache_ttl, None);
        std::fs::write(&path, "cache_ttl = \"tomorrow\"\n").unwrap();
        let err = resolve(&Overrides { config: Some(path), ..Overrides::default() }, &[]).unwrap_err();
        assert!(err.to_string().contains("cache_ttl") && err.to_string().contains("tomorrow"), "{err}");
    }

    #[test]
    fn the_demo_keeps_its_own_database_unless_db_is_given() {
        assert_eq!(demo_db_path(Path::new("/d/history.sqlite3")), PathBuf::from("/d/history-demo.sqlite3"));
        assert_eq!(demo_db_path(Path::new("/d/mine")), PathBuf::from("/d/mine-demo"));
        let demo = Overrides { demo: true, ..Overrides::default() };
        let c = resolve(&demo, &[("GEMINAL_DB", "/d/h.sqlite3")]).unwrap();
        assert_eq!(c.db_path, Some(PathBuf::from("/d/h-demo.sqlite3")));
        let real = resolve(&Overrides::default(), &[("GEMINAL_DB", "/d/h.sqlite3")]).unwrap();
        assert_eq!(real.db_path, Some(PathBuf::from("/d/h.sqlite3")));
        assert!(real.db_path_explicit && !resolve(&Overrides::default(), &[]).unwrap().db_path_explicit);
        let flag = Overrides { db: Some("/d/h.sqlite3".into()), ..demo };
        assert_eq!(resolve(&flag, &[]).unwrap().db_path, Some(PathBuf::from("/d/h.sqlite3")));
    }

    #[test]
    fn the_cache_namespace_names_the_endpoint_or_the_demo() {
        let c = resolve(&Overrides::default(), &[("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:8080/")]).unwrap();
        assert_eq!(c.cache_namespace(), "http://127.0.0.1:8080");
        let mut demo = resolve(&Overrides { demo: true, ..Overrides::default() }, &[]).unwrap();
        demo.base_url = "http://127.0.0.1:41234".into();
        assert_eq!(demo.cache_namespace(), "demo", "the demo's port changes every run; its cache must not");
    }

    #[test]
    fn every_setting_says_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "model = \"file-model\"\nretries = 2\ncache_ttl = \"1h\"\n").unwrap();
        let o = Overrides { config: Some(path), idle_timeout: Some(Duration::from_secs(5)), ..Overrides::default() };
        let c = resolve(&o, &[("GEMINI_API_KEY", "k"), ("GOOGLE_GEMINI_BASE_URL", "http://env")]).unwrap();
        assert_eq!(c.source_of("config"), Some(Source::Flag("--config")));
        assert_eq!(c.source_of("api_key"), Some(Source::Env("GEMINI_API_KEY")));
        assert_eq!(c.source_of("model"), Some(Source::File));
        assert_eq!(c.source_of("base_url"), Some(Source::Env("GOOGLE_GEMINI_BASE_URL")));
        assert_eq!(c.source_of("idle_timeout_secs"), Some(Source::Flag("--idle-timeout")));
        assert_eq!(c.source_of("retries"), Some(Source::File));
        assert_eq!(c.source_of("cache_ttl"), Some(Source::File));
        assert_eq!(c.source_of("connect_timeout_secs"), Some(Source::Default));
        assert_eq!(c.source_of("db"), Some(Source::Default));
        let flags = Overrides { model: Some("m".into()), ..o };
        let c = resolve(&flags, &[("GEMINAL_MODEL", "e"), ("GEMINAL_DB", "/d/h.sqlite3")]).unwrap();
        assert_eq!(c.source_of("model"), Some(Source::Flag("--model")));
        assert_eq!(c.source_of("db"), Some(Source::Env("GEMINAL_DB")));
        assert_eq!(c.source_of("api_key"), Some(Source::Default), "no key anywhere");
        let demo = resolve(&Overrides { demo: true, ..Overrides::default() }, &[("GOOGLE_API_KEY", "k")]).unwrap();
        assert_eq!((demo.source_of("api_key"), demo.source_of("db")), (Some(Source::Demo), Some(Source::Demo)));
        // Every setting of the config file is accounted for (the rest are `config` and `db`).
        let names: Vec<&str> = demo.sources.iter().map(|(n, _)| *n).collect();
        let mut table = String::new();
        // A role's keys (under `[roles.NAME]`) are the role's, not settings of their own.
        let example = include_str!("../assets/config.example.toml");
        let settings_part = example.split("# [roles.").next().unwrap_or(example);
        assert!(settings_part.len() < example.len(), "the example shows a role");
        for line in settings_part.lines() {
            let bare = line.trim_start_matches(['#', ' ']);
            if let Some(name) = bare.strip_prefix('[') {
                table = name.split(']').next().unwrap_or("").to_owned();
                continue;
            }
            let setting = bare.split([' ', '=']).next().unwrap_or("");
            if line.contains(" = ")
                && setting.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !setting.is_empty()
            {
                let name = if table.is_empty() { setting.to_owned() } else { format!("{table}.{setting}") };
                assert!(names.contains(&name.as_str()), "{name} has no source");
            }
        }
        assert!(names.contains(&"rate_limits") && names.contains(&"roles"));
    }

    #[test]
    fn generation_settings_come_from_the_file_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let o = Overrides { config: Some(path.clone()), ..Overrides::default() };
        std::fs::write(&path, "thinking = 2048\ntemperature = 0.4\nstop = [\"END\"]\nshow_thoughts = true\n").unwrap();
        let c = resolve(&o, &[]).unwrap();
        assert_eq!(c.settings.thinking, Some(crate::llm::Thinking::Budget(2048)));
        assert_eq!((c.settings.temperature, c.settings.show_thoughts), (Some(0.4), Some(true)));
        assert_eq!(c.source_of("temperature"), Some(Source::File));
        std::fs::write(&path, "thinking = \"high\"\n").unwrap();
        assert_eq!(resolve(&o, &[]).unwrap().settings.thinking, Some(crate::llm::Thinking::High));
        std::fs::write(&path, "temperature = 3.0\n").unwrap();
        let e = resolve(&o, &[]).unwrap_err().to_string();
        assert!(e.contains("the temperature must be between 0 and 2") && e.ends_with('.') && !e.ends_with(".."), "{e}");
        std::fs::write(&path, "thinking = \"lots\"\n").unwrap();
        assert!(resolve(&o, &[]).unwrap_err().to_string().contains("thinking must be off, low"));
    }

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_seconds("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_seconds("0").is_err() && parse_seconds("x").is_err());
    }
}
