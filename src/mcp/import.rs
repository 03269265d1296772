//! The `mcpServers` JSON that Claude Desktop, gemini-cli and Cursor use, read into our server
//! settings (`command`/`args`/`env`/`cwd`; `url`, `httpUrl` or `serverUrl` with `headers`), and
//! written as `[mcp.servers.NAME]` tables to append to the config file.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::settings::{ServerSettings, valid_server_name};

/// One server read from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Its name in the file.
    pub original: String,
    /// Its name in our config (made valid).
    pub name: String,
    pub settings: ServerSettings,
    /// Fields of the file that have no counterpart here (left out).
    pub ignored: Vec<String>,
}

#[derive(Deserialize)]
struct Entry {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    url: Option<String>,
    #[serde(rename = "httpUrl")]
    http_url: Option<String>,
    #[serde(rename = "serverUrl")]
    server_url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    trust: Option<bool>,
    #[serde(rename = "includeTools")]
    include_tools: Option<Vec<String>>,
    /// gemini-cli: milliseconds.
    timeout: Option<u64>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// The servers of an `mcpServers` file, in its order; a problem is one sentence.
pub fn parse(json: &str) -> Result<Vec<Imported>, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("it is not JSON ({e})"))?;
    let servers = value
        .get("mcpServers")
        .or_else(|| value.get("servers"))
        .and_then(Value::as_object)
        .ok_or("it has no \"mcpServers\" object")?;
    let mut out = Vec::new();
    for (original, entry) in servers {
        let entry: Entry = serde_json::from_value(entry.clone())
            .map_err(|e| format!("server {:?} could not be read ({e})", crate::sanitize::one_line(original, 40)))?;
        let name: String = original
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
            .take(32)
            .collect();
        if !valid_server_name(&name) {
            return Err(format!("server {original:?} has no usable name"));
        }
        let url = entry.http_url.or(entry.url).or(entry.server_url);
        let mut ignored: Vec<String> =
            entry.rest.keys().filter(|k| !matches!(k.as_str(), "type" | "disabled")).cloned().collect();
        if url.is_some() && entry.command.is_some() {
            ignored.push("command (it has a url)".into());
        }
        let settings = ServerSettings {
            command: if url.is_some() { None } else { entry.command },
            args: if url.is_some() { Vec::new() } else { entry.args },
            env: if url.is_some() { BTreeMap::new() } else { entry.env },
            cwd: if url.is_some() { None } else { entry.cwd.map(Into::into) },
            headers: if url.is_some() { entry.headers } else { BTreeMap::new() },
            url,
            trust: entry.trust.unwrap_or(false),
            tools: entry.include_tools,
            timeout_secs: entry.timeout.map(|ms| ms.div_ceil(1000).max(1)),
        };
        out.push(Imported { original: original.clone(), name, settings, ignored });
    }
    Ok(out)
}

/// The `[mcp.servers.NAME]` tables for these servers, to append to a config file.
pub fn to_toml(servers: &[Imported]) -> String {
    let mut text = String::new();
    for server in servers {
        let s = &server.settings;
        let mut table = toml::Table::new();
        if let Some(command) = &s.command {
            table.insert("command".into(), command.clone().into());
        }
        if !s.args.is_empty() {
            table.insert("args".into(), s.args.clone().into());
        }
        if !s.env.is_empty() {
            table.insert(
                "env".into(),
                toml::Value::Table(s.env.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()),
            );
        }
        if let Some(cwd) = &s.cwd {
            table.insert("cwd".into(), cwd.display().to_string().into());
        }
        if let Some(url) = &s.url {
            table.insert("url".into(), url.clone().into());
        }
        if !s.headers.is_empty() {
            table.insert(
                "headers".into(),
                toml::Value::Table(s.headers.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()),
            );
        }
        if s.trust {
            table.insert("trust".into(), true.into());
        }
        if let Some(tools) = &s.tools {
            table.insert("tools".into(), tools.clone().into());
        }
        if let Some(secs) = s.timeout_secs {
            table.insert("timeout_secs".into(), i64::try_from(secs).unwrap_or(i64::MAX).into());
        }
        // Each value inline (`env = { A = "1" }`), so the server stays one table under its header.
        let body: String = table.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let header = toml::to_string(&toml::Table::from_iter([(server.name.clone(), toml::Value::Boolean(true))]))
            .unwrap_or_default();
        let key = header.split_once(" = ").map_or(server.name.as_str(), |(k, _)| k);
        text.push_str(&format!("\n[mcp.servers.{key}]\n{body}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_desktop_gemini_cli_and_cursor_entries_are_read() {
        let json = r#"{"mcpServers": {
            "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "env": {"A": "1"}},
            "remote": {"httpUrl": "https://e.com/mcp", "headers": {"Authorization": "Bearer t"}, "timeout": 1500, "trust": true, "includeTools": ["x"]},
            "my server!": {"serverUrl": "https://w.com/sse", "type": "sse", "oauth": {}}
        }}"#;
        let servers = parse(json).unwrap();
        assert_eq!(servers.len(), 3);
        assert_eq!(servers[0].settings.command.as_deref(), Some("npx"));
        assert_eq!(servers[1].settings.timeout_secs, Some(2));
        assert!(servers[1].settings.trust);
        assert_eq!(servers[2].name, "my-server-");
        assert_eq!(servers[2].ignored, ["oauth"]);
        let text = to_toml(&servers);
        let back: crate::mcp::McpSettings =
            toml::from_str::<toml::Table>(&text).unwrap()["mcp"].clone().try_into().unwrap();
        assert_eq!(back.servers["filesystem"], servers[0].settings);
        assert_eq!(back.servers["remote"], servers[1].settings);
        assert!(back.check().is_ok());
        assert_eq!(parse("{}").unwrap_err(), "it has no \"mcpServers\" object");
    }
}
