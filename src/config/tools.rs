//! The tools settings of the config file: `[mcp]` and its servers (checked by `mcp`), which of
//! them a turn offers (`tools = true` for every server, `tools = ["fs", "remote"]` for these,
//! `false` or `[]` for none: the default) and `max_tool_steps`.

use serde::Deserialize;

use crate::mcp::McpSettings;
use crate::tools::Selection;

/// `tools = true | false | ["NAME", ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ToolsSetting {
    All(bool),
    Servers(Vec<String>),
}

impl ToolsSetting {
    /// The selection it means, its server names checked against the configured ones.
    pub fn selection(&self, mcp: &McpSettings, key: &str) -> Result<Selection, String> {
        match self {
            ToolsSetting::All(true) => Ok(Selection::All),
            ToolsSetting::All(false) => Ok(Selection::Off),
            ToolsSetting::Servers(names) => {
                if let Some(name) = names.iter().find(|n| !mcp.servers.contains_key(n.as_str())) {
                    let hint = if name == "*" { " (tools = true means every server)" } else { "" };
                    return Err(format!(
                        "{key} names {}, which is not a server in [mcp.servers]{hint}",
                        crate::sanitize::one_line(name, 40)
                    ));
                }
                Ok(if names.is_empty() { Selection::Off } else { Selection::Servers(names.clone()) })
            }
        }
    }
}

/// What the file says about tools, checked: the servers, the default selection, the step limit.
pub(super) fn resolve(
    mcp: Option<&McpSettings>,
    tools: Option<&ToolsSetting>,
    max_tool_steps: Option<u32>,
) -> Result<(McpSettings, Selection, u32), String> {
    let mcp = mcp.cloned().unwrap_or_default();
    mcp.check()?;
    let selection = tools.map(|t| t.selection(&mcp, "tools")).transpose()?.unwrap_or_default();
    let steps = match max_tool_steps {
        Some(0) => return Err("max_tool_steps must be at least 1".into()),
        Some(n) => n,
        None => crate::tools::DEFAULT_MAX_STEPS,
    };
    Ok((mcp, selection, steps))
}
