//! What the config file says about MCP servers (`[mcp]` and `[mcp.servers.NAME]`), checked
//! once, and the environment a server's process starts with: a minimal one plus its own `env`,
//! never geminal's keys unless the config names them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// A call's result longer than this is cut (`mcp.max_result_bytes`).
pub const DEFAULT_MAX_RESULT_BYTES: usize = 64 * 1024;
/// How long a server may take to start, and each call (`timeout_secs`).
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The variables a server's process inherits from geminal's environment (`LC_*` too); every
/// other one it gets only when its `env` names it.
pub const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "TERM", "TMPDIR", "USER", "LOGNAME", "SHELL"];

/// `tools = true | false | ["NAME", ...]` (at the top of the config file, or in a role): every
/// configured server's tools, none, or these servers'.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ToolsSetting {
    All(bool),
    Servers(Vec<String>),
}

impl ToolsSetting {
    /// The selection it means (its names not yet checked against the configured servers).
    pub fn selection(&self) -> crate::tools::Selection {
        use crate::tools::Selection;
        match self {
            ToolsSetting::All(true) => Selection::All,
            ToolsSetting::All(false) => Selection::Off,
            ToolsSetting::Servers(names) if names.is_empty() => Selection::Off,
            ToolsSetting::Servers(names) => Selection::Servers(names.clone()),
        }
    }
}

/// `[mcp]`: the servers and the limit on a result.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpSettings {
    #[serde(default)]
    pub servers: BTreeMap<String, ServerSettings>,
    /// A result longer than this many bytes is cut (default 64 KiB).
    pub max_result_bytes: Option<usize>,
}

/// `[mcp.servers.NAME]`: a program to run (stdio) or an address (Streamable HTTP).
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Added to the minimal environment (may hold secrets: never shown).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub url: Option<String>,
    /// Sent with every request (secrets: never shown).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Its tools run without asking.
    #[serde(default)]
    pub trust: bool,
    /// Only these of its tools are offered (its own names).
    pub tools: Option<Vec<String>>,
    pub timeout_secs: Option<u64>,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("trust", &self.trust)
            .field("tools", &self.tools)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl McpSettings {
    pub fn max_result_bytes(&self) -> usize {
        self.max_result_bytes.unwrap_or(DEFAULT_MAX_RESULT_BYTES)
    }

    /// Some server sends headers (an `Authorization`, a token): the file must be private.
    pub fn holds_secrets(&self) -> bool {
        self.servers.values().any(|s| !s.headers.is_empty())
    }

    /// The first problem, as one sentence (the config words where it is).
    pub fn check(&self) -> Result<(), String> {
        if self.max_result_bytes == Some(0) {
            return Err("mcp.max_result_bytes must be at least 1".into());
        }
        for (name, server) in &self.servers {
            server.check(name)?;
        }
        Ok(())
    }
}

/// A server's name may be what a tool name is prefixed with: letters, digits, `_` and `-`.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl ServerSettings {
    pub fn timeout_secs(&self) -> u64 {
        self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)
    }

    fn check(&self, name: &str) -> Result<(), String> {
        let at = format!("mcp.servers.{name}");
        if !valid_server_name(name) {
            return Err(format!(
                "{at}: a server's name is 1 to 32 letters, digits, '_' or '-' (it may prefix its tools' names)"
            ));
        }
        match (&self.command, &self.url) {
            (None, None) => return Err(format!("{at} needs either command (a program to run) or url")),
            (Some(_), Some(_)) => return Err(format!("{at} has both command and url; give one")),
            (Some(command), None) => {
                if command.trim().is_empty() {
                    return Err(format!("{at}.command is empty"));
                }
                if !self.headers.is_empty() {
                    return Err(format!("{at}.headers are for a url server; a program gets env"));
                }
            }
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("{at}.url must start with http:// or https://"));
                }
                if !self.args.is_empty() || !self.env.is_empty() || self.cwd.is_some() {
                    return Err(format!("{at}: args, env and cwd are for a program; a url server gets headers"));
                }
                for (key, value) in &self.headers {
                    if reqwest::header::HeaderName::from_bytes(key.as_bytes()).is_err()
                        || reqwest::header::HeaderValue::from_str(value).is_err()
                    {
                        return Err(format!("{at}.headers: {key} is not a valid HTTP header"));
                    }
                }
            }
        }
        if self.timeout_secs == Some(0) {
            return Err(format!("{at}.timeout_secs must be at least 1"));
        }
        if let Some(key) = self.env.keys().find(|k| k.is_empty() || k.contains('=') || k.contains('\0')) {
            return Err(format!("{at}.env: {key:?} is not a variable name"));
        }
        Ok(())
    }

    /// The environment its process starts with: the inherited few from `parent`, then its own.
    pub fn child_env(&self, parent: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = parent
            .into_iter()
            .filter(|(key, _)| INHERITED_ENV.contains(&key.as_str()) || key.starts_with("LC_"))
            .collect();
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> Result<McpSettings, String> {
        let settings: McpSettings = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        settings.check().map(|()| settings)
    }

    #[test]
    fn the_child_environment_is_minimal_plus_its_own() {
        let s = ServerSettings {
            command: Some("x".into()),
            env: [("LOG_LEVEL".to_owned(), "warn".to_owned()), ("GEMINI_API_KEY".to_owned(), "named".to_owned())]
                .into(),
            ..ServerSettings::default()
        };
        let parent = [
            ("PATH", "/bin"),
            ("HOME", "/h"),
            ("LC_ALL", "C"),
            ("GEMINI_API_KEY", "k1"),
            ("GOOGLE_API_KEY", "k2"),
            ("GEMINAL_CONFIG", "c"),
            ("OPENAI_API_KEY", "k3"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let env = s.child_env(parent);
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(keys, ["GEMINI_API_KEY", "HOME", "LC_ALL", "LOG_LEVEL", "PATH"]);
        // Named in env: its configured value, never the parent's.
        assert_eq!(env["GEMINI_API_KEY"], "named");
    }

    #[test]
    fn a_server_is_a_program_or_an_address_and_problems_are_one_sentence() {
        assert!(server("[servers.fs]\ncommand = \"npx\"\nargs = [\"-y\"]\n").is_ok());
        assert!(
            server("[servers.r]\nurl = \"https://e.com/mcp\"\nheaders = { Authorization = \"Bearer x\" }\n").is_ok()
        );
        assert_eq!(
            server("[servers.fs]\nargs = []\n").unwrap_err(),
            "mcp.servers.fs needs either command (a program to run) or url"
        );
        assert_eq!(
            server("[servers.r]\nurl = \"ftp://e\"\n").unwrap_err(),
            "mcp.servers.r.url must start with http:// or https://"
        );
        assert!(server("[servers.\"a b\"]\ncommand = \"x\"\n").unwrap_err().contains("a server's name"));
        assert!(
            server("[servers.fs]\ncommand = \"x\"\ntimeout = 3\n").unwrap_err().contains("unknown field `timeout`")
        );
    }

    #[test]
    fn debug_shows_no_header_or_env_value() {
        let s =
            server("[servers.r]\nurl = \"https://e.com\"\nheaders = { Authorization = \"Bearer s3cret\" }\n").unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret") && shown.contains("Authorization"), "{shown}");
    }
}
