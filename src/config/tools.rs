//! The tools settings of the config file: `[mcp]` and its servers (checked by `mcp`), which of
//! them a turn offers (`tools = true` for every server, `tools = ["fs", "remote"]` for these,
//! `false` or `[]` for none: the default) and `max_tool_steps`.

use crate::mcp::McpSettings;
pub use crate::mcp::settings::ToolsSetting;
use crate::tools::Selection;

/// What the file says about tools, checked: the servers, the default selection, the step limit.
pub(super) fn resolve(
    mcp: Option<&McpSettings>,
    tools: Option<&ToolsSetting>,
    max_tool_steps: Option<u32>,
) -> Result<(McpSettings, Selection, u32), String> {
    let mcp = mcp.cloned().unwrap_or_default();
    mcp.check()?;
    let selection = tools.map(|t| check(&t.selection(), &mcp, "tools")).transpose()?.unwrap_or_default();
    let steps = match max_tool_steps {
        Some(0) => return Err("max_tool_steps must be at least 1".into()),
        Some(n) => n,
        None => crate::tools::DEFAULT_MAX_STEPS,
    };
    Ok((mcp, selection, steps))
}

/// `selection`, its server names checked against the configured ones (`key` says where).
pub(super) fn check(selection: &Selection, mcp: &McpSettings, key: &str) -> Result<Selection, String> {
    if let Selection::Servers(names) = selection
        && let Some(name) = names.iter().find(|n| !mcp.servers.contains_key(n.as_str()))
    {
        let hint = if name == "*" { " (tools = true means every server)" } else { "" };
        return Err(format!(
            "{key} names {}, which is not a server in [mcp.servers]{hint}",
            crate::sanitize::one_line(name, 40)
        ));
    }
    Ok(selection.clone())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, Overrides};

    #[cfg(unix)]
    #[test]
    fn a_config_with_server_headers_must_be_private_and_env_alone_need_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let resolve = |text: &str| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            Config::resolve_with(&Overrides { config: Some(path.clone()), ..Overrides::default() }, &|_| None)
        };
        let headers = "[mcp.servers.r]\nurl = \"https://e.com/mcp\"\nheaders = { Authorization = \"Bearer t\" }\n";
        assert!(matches!(resolve(headers), Err(ConfigError::KeyFileTooOpen { .. })));
        let env = "[mcp.servers.fs]\ncommand = \"npx\"\nenv = { LOG_LEVEL = \"warn\" }\n";
        assert_eq!(resolve(env).unwrap().mcp.servers["fs"].env["LOG_LEVEL"], "warn");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, headers).unwrap();
        let config = Config::resolve_with(&Overrides { config: Some(path.clone()), ..Overrides::default() }, &|_| None);
        assert!(!format!("{:?}", config.unwrap()).contains("Bearer t"), "Debug never shows a header");
    }
}
