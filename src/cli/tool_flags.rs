//! The tool flags of `ask` (`--tools`, `--no-tools`, `--approve-tools`, `--max-tool-steps`)
//! and what they make of a turn's [`ToolUse`], over the config's `tools` and `max_tool_steps`.

use clap::Args;

use super::exit::Failure;
use crate::config::Config;
use crate::tools::{Selection, ToolUse};

#[derive(Debug, Clone, Default, Args)]
pub struct ToolArgs {
    /// Let the model call the tools of the configured MCP servers: `--tools` for every server,
    /// `--tools=fs,remote` for these (`geminal mcp list` shows them). Overrides the config's `tools`.
    #[arg(long, value_name = "NAMES", num_args = 0..=1, require_equals = true, default_missing_value = "", help_heading = "Tools")]
    pub tools: Option<String>,
    /// No tools for this answer, whatever the config's `tools` says.
    #[arg(long, conflicts_with = "tools", help_heading = "Tools")]
    pub no_tools: bool,
    /// Run every tool call of this answer without asking (else an untrusted call is asked about
    /// on a terminal, and refused on a pipe).
    #[arg(long, help_heading = "Tools")]
    pub approve_tools: bool,
    /// Model-tool rounds this answer may take (default: the config's max_tool_steps, else 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Tools")]
    pub max_tool_steps: Option<u32>,
}

impl ToolArgs {
    /// `--tools fs,remote "question"` reads `fs,remote` as the prompt's first word (the names
    /// need `--tools=`): refused when that word names only configured servers and more follows.
    pub fn check_prompt(&self, prompt: &[String], config: &Config) -> Result<(), Failure> {
        let bare = self.tools.as_deref().is_some_and(|t| t.trim().is_empty());
        if let (true, [first, _, ..]) = (bare, prompt) {
            let names: Vec<&str> = first.split(',').map(str::trim).collect();
            if names.iter().all(|n| config.mcp.servers.contains_key(*n)) {
                return Err(Failure::usage(format!(
                    "--tools takes its servers after an equals sign (--tools={first}); a bare --tools offers every server's tools."
                )));
            }
        }
        Ok(())
    }

    /// How the turn uses tools (no one to approve yet: the front end gives its approver): the
    /// flags', else the role's `tools`, else the config's.
    pub fn tool_use(&self, config: &Config, role: Option<&crate::chat::NamedRole>) -> Result<ToolUse, Failure> {
        let selection = match (&self.tools, self.no_tools) {
            (_, true) => Selection::Off,
            (None, false) => role.and_then(|r| r.tools.clone()).unwrap_or_else(|| config.tools.clone()),
            (Some(list), false) if list.trim().is_empty() => Selection::All,
            (Some(list), false) => {
                let names: Vec<String> =
                    list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
                if let Some(unknown) = names.iter().find(|n| !config.mcp.servers.contains_key(n.as_str())) {
                    let have: Vec<&str> = config.mcp.servers.keys().map(String::as_str).collect();
                    let have = if have.is_empty() { "none is configured".to_owned() } else { have.join(", ") };
                    return Err(Failure::usage(format!(
                        "--tools names {}, which is not an MCP server in the config ({have}).",
                        crate::sanitize::one_line(unknown, 40)
                    )));
                }
                Selection::Servers(names)
            }
        };
        if !selection.is_off() && config.mcp.servers.is_empty() {
            return Err(Failure::usage(
                "--tools: no MCP servers are configured (add [mcp.servers.NAME] to the config file, or `geminal mcp import FILE`).",
            ));
        }
        Ok(ToolUse {
            selection,
            max_steps: self.max_tool_steps.unwrap_or(config.max_tool_steps),
            approve_all: self.approve_tools,
            approver: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        tools: ToolArgs,
        #[arg(short, long)]
        role: Option<String>,
        prompt: Vec<String>,
    }

    fn config(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let overrides = crate::config::Overrides { config: Some(path), ..Default::default() };
        Config::resolve_with(&overrides, &|_| None).unwrap()
    }

    fn tool_use(config: &Config, args: &[&str]) -> Result<(ToolUse, Vec<String>), String> {
        let cmd = Cmd::try_parse_from(std::iter::once("ask").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        let role = cmd.role.as_deref().map(|name| config.role(name).unwrap());
        cmd.tools.tool_use(config, role).map(|u| (u, cmd.prompt)).map_err(|f| f.message)
    }

    const SERVERS: &str =
        "max_tool_steps = 4\n[mcp.servers.fs]\ncommand = \"x\"\n[mcp.servers.web]\nurl = \"http://127.0.0.1:1/mcp\"\n";

    #[test]
    fn the_flags_fill_the_turns_tool_use() {
        let c = config(SERVERS);
        let (u, prompt) = tool_use(&c, &["--tools", "tidy my notes"]).unwrap();
        assert_eq!((u.selection, u.max_steps, u.approve_all, u.approver.is_none()), (Selection::All, 4, false, true));
        assert_eq!(prompt, ["tidy my notes"], "a bare --tools takes no value: the prompt stays the prompt");
        let (u, _) = tool_use(&c, &["--tools=fs, web", "--approve-tools", "--max-tool-steps", "2", "q"]).unwrap();
        assert_eq!(u.selection, Selection::Servers(vec!["fs".into(), "web".into()]));
        assert_eq!((u.max_steps, u.approve_all), (2, true));
        let (u, _) = tool_use(&c, &["q"]).unwrap();
        assert_eq!((u.selection, u.max_steps), (Selection::Off, 4), "off unless the config turns them on");
        assert!(tool_use(&c, &["--max-tool-steps", "0", "q"]).is_err());
        // Names after a bare --tools would be read as the prompt: refused, saying how to write them.
        let misread = |args: &[&str]| {
            let cmd = Cmd::try_parse_from(std::iter::once("ask").chain(args.iter().copied())).unwrap();
            cmd.tools.check_prompt(&cmd.prompt, &c).map_err(|f| f.message)
        };
        assert_eq!(
            misread(&["--tools", "fs,web", "tidy my notes"]).unwrap_err(),
            "--tools takes its servers after an equals sign (--tools=fs,web); a bare --tools offers every server's tools."
        );
        assert!(misread(&["--tools", "tidy my notes"]).is_ok());
        assert!(misread(&["--tools", "fs"]).is_ok(), "one word is the prompt");
        assert!(misread(&["--tools=fs", "web", "tidy"]).is_ok());
    }

    #[test]
    fn the_config_turns_tools_on_and_no_tools_turns_them_off() {
        let c = config(&format!("tools = [\"web\"]\n{SERVERS}"));
        assert_eq!(tool_use(&c, &["q"]).unwrap().0.selection, Selection::Servers(vec!["web".into()]));
        assert_eq!(tool_use(&c, &["--no-tools", "q"]).unwrap().0.selection, Selection::Off);
        let c = config(&format!("tools = true\n{SERVERS}"));
        assert_eq!(tool_use(&c, &["q"]).unwrap().0.selection, Selection::All);
        assert_eq!(c.max_tool_steps, 4);
        assert_eq!(config("").max_tool_steps, crate::tools::DEFAULT_MAX_STEPS);
        // A role's tools win over the config's; a flag over the role's.
        let c = config(&format!(
            "tools = true\n{SERVERS}[roles.clock]\nsystem = \"x\"\ntools = [\"fs\"]\n[roles.plain]\nsystem = \"y\"\ntools = false\n"
        ));
        let fs = Selection::Servers(vec!["fs".into()]);
        assert_eq!(tool_use(&c, &["-r", "clock", "q"]).unwrap().0.selection, fs);
        assert_eq!(tool_use(&c, &["-r", "plain", "q"]).unwrap().0.selection, Selection::Off);
        assert_eq!(tool_use(&c, &["-r", "plain", "--tools", "q"]).unwrap().0.selection, Selection::All);
    }

    #[test]
    fn an_unknown_server_or_none_configured_is_one_sentence() {
        assert_eq!(
            tool_use(&config(SERVERS), &["--tools=fs,nope", "q"]).unwrap_err(),
            "--tools names nope, which is not an MCP server in the config (fs, web)."
        );
        assert!(
            tool_use(&config(""), &["--tools", "q"]).unwrap_err().starts_with("--tools: no MCP servers are configured")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, format!("tools = [\"*\"]\n{SERVERS}")).unwrap();
        let overrides = crate::config::Overrides { config: Some(path), ..Default::default() };
        let e = Config::resolve_with(&overrides, &|_| None).unwrap_err().to_string();
        assert!(
            e.contains("tools names *, which is not a server in [mcp.servers] (tools = true means every server)"),
            "{e}"
        );
    }
}
