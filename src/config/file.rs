//! The config file (`config.toml`): what it may hold ([`FileConfig`] and its tables), how its
//! text is read (generation settings by `chat::registry`, the rest by serde, unknown keys
//! refused), and loading it from disk, refusing a file that holds a key yet others can read.
//! Resolving it against flags and the environment is the parent module's.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// The config file (`config.toml`). Every field is optional; unknown fields are an error so a
/// typo does not silently do nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    pub connect_timeout_secs: Option<f64>,
    pub first_token_timeout_secs: Option<f64>,
    pub idle_timeout_secs: Option<f64>,
    pub timeout_secs: Option<f64>,
    /// Answer repeated questions from the cache (default true).
    pub cache: Option<bool>,
    /// Most answers kept in the persistent cache (default 10,000).
    pub cache_max_entries: Option<usize>,
    /// How long a cached answer stays usable: "30m", "24h", "7d" or "never" (default 24h).
    pub cache_ttl: Option<String>,
    /// Answers in flight at once (default 16).
    pub max_concurrent: Option<usize>,
    /// Extra attempts after a failed one (default 4).
    pub retries: Option<u32>,
    /// Requests per minute for every model (unless listed in `rate_limits`).
    pub rpm: Option<u32>,
    /// Requests per minute, per model.
    pub rate_limits: Option<std::collections::HashMap<String, u32>>,
    /// Model used once another model's quota is exhausted (a one-entry `fallback`).
    pub fallback_model: Option<String>,
    /// Where a turn goes, in order, when its model's quota is spent, the model is unknown or
    /// its provider is down after its retries: `provider:model` names.
    pub fallback: Option<Vec<String>>,
    /// The provider a bare model name means (default "gemini").
    pub default_provider: Option<String>,
    /// Named endpoints: `[providers.NAME]` with `kind`, `base_url`, `api_key_env`...
    pub providers: Option<std::collections::BTreeMap<String, crate::provider::settings::ProviderFile>>,
    /// Equivalent endpoints sharing the load: `[pools.NAME]` with `members`.
    pub pools: Option<std::collections::BTreeMap<String, crate::provider::settings::PoolFile>>,
    /// The interface's colours: "dark" (the default) or "light".
    pub theme: Option<ThemeName>,
    /// Whether the interface takes the mouse at start (default true; F4 switches).
    pub mouse: Option<bool>,
    /// Where copies go: "auto" (the default), "terminal" (OSC 52) or "system".
    pub clipboard: Option<ClipboardMode>,
    /// The generation settings (`thinking`, `temperature`, `top_p`, ...: every key of
    /// `chat::registry`), read by the registry before serde reads the rest ([`FileConfig::parse`]).
    #[serde(skip)]
    pub settings: crate::chat::Settings,
    /// `[attachments]`: how files sent with prompts are kept.
    pub attachments: Option<AttachmentsConfig>,
    /// Named roles: `[roles.NAME]` with `system`, `model` and generation settings.
    pub roles: Option<std::collections::BTreeMap<String, crate::roles::RoleConfig>>,
    /// A conversation longer than the model's input limit: "drop-oldest" (the default) sends
    /// only its newest turns; "refuse" sends nothing.
    pub context_overflow: Option<crate::chat::ContextOverflow>,
    /// `[prices."provider:model"]`: fields laid over the shipped price table, or new models.
    pub prices: Option<std::collections::BTreeMap<String, crate::money::PriceFields>>,
    /// `[budget]`: how much may be spent a day and a month (USD).
    pub budget: Option<BudgetConfig>,
    /// `[mcp]`: MCP servers (`[mcp.servers.NAME]`) whose tools the model may call.
    pub mcp: Option<crate::mcp::McpSettings>,
    /// Which servers' tools a turn offers: `true` (all), `["NAME", ...]`, `false` (default).
    pub tools: Option<super::tools::ToolsSetting>,
    /// Model-tool rounds a turn may take (default 10).
    pub max_tool_steps: Option<u32>,
    /// `[serve]` and `[serve.keys.NAME]`: `geminal serve`.
    pub serve: Option<super::serve::ServeFile>,
}

impl FileConfig {
    /// Reads a config file's text: the generation settings by the registry (checked: a reason
    /// starts in lower case, without a final period), the rest by serde.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        let reason = |message: String| crate::sanitize::one_line(&message, 160).trim_end_matches('.').to_owned();
        let mut table: toml::Table = toml::from_str(text).map_err(|e| reason(e.message().to_owned()))?;
        let mut fields = serde_json::Map::new();
        let keys: Vec<String> = table.keys().filter(|k| crate::chat::registry::find(k).is_some()).cloned().collect();
        for key in keys {
            if let Some(value) = table.remove(&key) {
                fields.insert(key, serde_json::to_value(value).map_err(|e| reason(e.to_string()))?);
            }
        }
        let settings = crate::chat::registry::take_from(&mut fields).map_err(|e| e.as_reason())?;
        settings.validate().map_err(|e| e.as_reason())?;
        let top: Vec<String> = table.keys().cloned().collect();
        let at_top = |key: &str| top.iter().any(|k| k == key);
        let file: FileConfig = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            reason(crate::chat::registry::with_setting_keys(e.message().to_owned(), at_top))
        })?;
        Ok(FileConfig { settings, ..file })
    }
}

/// `[budget]` in the config file: USD a UTC day / a UTC month may cost.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub daily: Option<f64>,
    pub monthly: Option<f64>,
}

/// Where the interface's copies go (`clipboard = "auto" | "terminal" | "system"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardMode {
    /// The system clipboard when geminal runs on a local display, else the terminal's OSC 52.
    #[default]
    Auto,
    /// Always the terminal's OSC 52 (works over SSH and in tmux with `set-clipboard on`).
    Terminal,
    /// Always the system clipboard (X11, or Wayland through XWayland; macOS; Windows).
    System,
}

/// `[attachments]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentsConfig {
    /// Attachments up to this many bytes are kept in the history (default 4 MiB, at most 20 MiB).
    pub store_max_bytes: Option<u64>,
}

/// The interface's colour theme (`theme = "dark" | "light"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
}

pub(super) fn load_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing { path: shown });
        }
        Err(e) => {
            return Err(ConfigError::Unreadable { path: shown, reason: e.kind().to_string() });
        }
    };
    let file = FileConfig::parse(&text).map_err(|reason| ConfigError::Invalid { path: shown.clone(), reason })?;
    let holds_key = file.api_key.is_some()
        || crate::provider::settings::holds_a_key(file.providers.as_ref())
        || file.mcp.as_ref().is_some_and(crate::mcp::McpSettings::holds_secrets);
    if holds_key && readable_by_others(path) {
        return Err(ConfigError::KeyFileTooOpen { path: shown });
    }
    Ok(file)
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o077 != 0).unwrap_or(false)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}
