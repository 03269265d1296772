//! `geminal config path | show | init`: where the config file is, what every setting resolves
//! to and where each came from (the key only as `[REDACTED]`), and a commented example to start.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::exit::{self, Failure};
use super::{ConnectArgs, GlobalArgs, output};
use crate::config::{Config, KeySource, Source};
use crate::sanitize::one_line;

/// The example `config init` writes: every setting, commented.
const EXAMPLE: &str = include_str!("../../assets/config.example.toml");

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the path of the config file geminal reads (--config, GEMINAL_CONFIG, or the default).
    Path,
    /// Print every setting as geminal resolves it, and where it came from (flag, env, config file, default).
    Show(ShowArgs),
    /// Write a commented example config (mode 0600) where geminal reads it.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing config file.
    #[arg(long)]
    pub force: bool,
}

/// Runs `config ...`; `outer` holds the connection flags given before the command (for `show`).
pub fn run(global: &GlobalArgs, outer: &ConnectArgs, args: &ConfigArgs) -> Result<u8, Failure> {
    match &args.command {
        ConfigCommand::Path => {
            let path = config_file(global)?;
            print(&format!("{}\n", path.display()));
            Ok(exit::OK)
        }
        ConfigCommand::Show(show_args) => {
            let config = Config::resolve(&global.connect_overrides(&show_args.connect.or(outer), None))?;
            print(&show(&config));
            Ok(exit::OK)
        }
        ConfigCommand::Init(init_args) => {
            let path = config_file(global)?;
            init(&path, init_args.force)?;
            print(&format!(
                "Wrote an example config to {} (readable only by you): uncomment what you want to change.\n",
                path.display()
            ));
            Ok(exit::OK)
        }
    }
}

fn config_file(global: &GlobalArgs) -> Result<std::path::PathBuf, Failure> {
    crate::config::config_path(&global.overrides()).0.ok_or_else(|| {
        Failure::new(exit::CONFIG, "No config directory was found: pass --config PATH or set GEMINAL_CONFIG.")
    })
}

fn print(text: &str) {
    let _ = output::write_flush(&mut std::io::stdout(), text.as_bytes());
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// One line per setting: name, value, source; the key never appears, only whether it is set.
fn show(config: &Config) -> String {
    let engine = &config.engine;
    let path =
        |p: &Option<std::path::PathBuf>| p.as_ref().map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
    let value = |name: &str| -> String {
        match name {
            "config" => {
                let shown = path(&config.config_path);
                match &config.config_path {
                    Some(p) if !p.exists() => format!("{shown} (not found)"),
                    _ => shown,
                }
            }
            "db" => path(&config.db_path),
            "api_key" => match config.key_source {
                KeySource::None => "(not set)".to_owned(),
                KeySource::Demo => "(the demo's own)".to_owned(),
                _ => "[REDACTED]".to_owned(),
            },
            "model" => config.model.clone(),
            "base_url" if config.demo => "(the demo's own server)".to_owned(),
            "base_url" => config.base_url.clone(),
            "system_prompt" => config.system_prompt.clone().unwrap_or_else(|| "(none)".to_owned()),
            "connect_timeout_secs" => secs(config.timeouts.connect),
            "first_token_timeout_secs" => secs(config.timeouts.first_token),
            "idle_timeout_secs" => secs(config.timeouts.idle),
            "timeout_secs" => config.total_timeout.map_or_else(|| "(none)".to_owned(), secs),
            "cache" => config.cache.to_string(),
            "cache_max_entries" => config.cache_max_entries.to_string(),
            "cache_ttl" => config.cache_ttl.map_or_else(|| "never".to_owned(), ttl),
            "max_concurrent" => engine.max_concurrent.to_string(),
            "retries" => engine.retry.max_attempts.saturating_sub(1).to_string(),
            "rpm" => engine.default_rpm.map_or_else(|| "(unlimited)".to_owned(), |r| r.to_string()),
            "rate_limits" if engine.rpm.is_empty() => "(none)".to_owned(),
            "rate_limits" => {
                let mut limits: Vec<String> = engine.rpm.iter().map(|(m, r)| format!("{m}={r}")).collect();
                limits.sort();
                limits.join(", ")
            }
            // `fallback_model` is the last entry of the chain (added unless already listed).
            "fallback_model" | "fallback" if engine.fallback.is_empty() => "(none)".to_owned(),
            "fallback_model" => engine.fallback.last().cloned().unwrap_or_default(),
            "fallback" => engine.fallback.join(", "),
            "default_provider" => config.names.default_provider().to_owned(),
            // Each provider with its kind, address and whether its key is set: never the key.
            "providers" if config.providers.is_empty() => "(only the built-in gemini)".to_owned(),
            "providers" => config
                .providers
                .iter()
                .map(|p| {
                    let key = match (&p.api_key, &p.api_key_env) {
                        (Some(_), _) => "key set".to_owned(),
                        (None, Some(env)) => format!("{env} not set"),
                        (None, None) => "no key".to_owned(),
                    };
                    let url = p.base_url.as_deref().unwrap_or("(Gemini's)");
                    format!("{} ({} at {url}, {key})", p.name, p.kind.as_str())
                })
                .collect::<Vec<_>>()
                .join("; "),
            "pools" if config.pools.is_empty() => "(none)".to_owned(),
            "pools" => config
                .pools
                .iter()
                .map(|p| format!("{} = {}", p.name, p.members.join(" + ")))
                .collect::<Vec<_>>()
                .join("; "),
            // Each MCP server with what it runs or where: header and env values never shown.
            "mcp.servers" if config.mcp.servers.is_empty() => "(none)".to_owned(),
            "mcp.servers" => config
                .mcp
                .servers
                .iter()
                .map(|(name, s)| {
                    let what = match (&s.command, &s.url) {
                        (Some(command), _) => std::iter::once(command.as_str())
                            .chain(s.args.iter().map(String::as_str))
                            .collect::<Vec<_>>()
                            .join(" "),
                        (None, url) => url.clone().unwrap_or_default(),
                    };
                    let mut secrets: Vec<String> = s.env.keys().map(|k| format!("env {k} set")).collect();
                    secrets.extend(s.headers.keys().map(|k| format!("header {k} set")));
                    let trust = if s.trust { ", trusted" } else { "" };
                    let extra = if secrets.is_empty() { String::new() } else { format!(", {}", secrets.join(", ")) };
                    crate::sanitize::one_line(&format!("{name} ({what}{trust}{extra})"), 300)
                })
                .collect::<Vec<_>>()
                .join("; "),
            "tools" => match &config.tools {
                crate::tools::Selection::Off => "false (off)".to_owned(),
                crate::tools::Selection::All => "true (every server)".to_owned(),
                crate::tools::Selection::Servers(names) => names.join(", "),
            },
            "max_tool_steps" => config.max_tool_steps.to_string(),
            "theme" => match config.theme {
                crate::config::ThemeName::Dark => "dark".to_owned(),
                crate::config::ThemeName::Light => "light".to_owned(),
            },
            "mouse" => config.mouse.to_string(),
            "clipboard" => match config.clipboard {
                crate::config::ClipboardMode::Auto => "auto".to_owned(),
                crate::config::ClipboardMode::Terminal => "terminal".to_owned(),
                crate::config::ClipboardMode::System => "system".to_owned(),
            },
            // Every generation setting, as the registry shows it.
            name if let Some(spec) = crate::chat::registry::by_key(name) => spec.show(&config.settings),
            "attachments.store_max_bytes" => config.attachment_store_max_bytes.to_string(),
            "context_overflow" => config.context_overflow.to_string(),
            "roles" if config.roles.is_empty() => "(none)".to_owned(),
            "roles" => config.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "),
            "prices" if config.prices.overridden().is_empty() => format!("(the table of {})", config.prices.as_of()),
            "prices" => format!("table of {}; set: {}", config.prices.as_of(), config.prices.overridden().join(", ")),
            "budget.daily" => config.budgets.daily.map_or_else(|| "(none)".to_owned(), |b| b.to_string()),
            "budget.monthly" => config.budgets.monthly.map_or_else(|| "(none)".to_owned(), |b| b.to_string()),
            _ => String::new(),
        }
    };
    let rows: Vec<(&str, String, Source)> =
        config.sources.iter().map(|(name, source)| (*name, one_line(&value(name), 200), *source)).collect();
    let name_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let value_width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, value, source) in rows {
        let from = match (name, config.key_source) {
            // No key has a default: say plainly that none was found.
            ("api_key", KeySource::None) => "not set".to_owned(),
            _ => source.to_string(),
        };
        out.push_str(&format!("{name:<name_width$}  {value:<value_width$}  {from}\n"));
    }
    out
}

/// Writes the example at `path`: mode 0600, its directory (when created) 0700; an existing
/// file is kept unless `force`.
fn init(path: &Path, force: bool) -> Result<(), Failure> {
    let fail = |what: &str, e: std::io::Error| {
        Failure::new(exit::CONFIG, format!("Could not {what} {} ({}): check the path.", path.display(), e.kind()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| fail("create the directory of", e))?;
    }
    let mut file = match crate::export::open_private(path, force) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::usage(format!(
                "The config file {} already exists: edit it, or pass --force to replace it with the example.",
                path.display()
            )));
        }
        Err(e) => return Err(fail("write", e)),
    };
    file.write_all(EXAMPLE.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| fail("write", e))
}

/// A time to live as the config file writes it: "24h", "7d", "30m", "90s" (whole units, days
/// from two days up, so the default reads "24h" as in the README and the example).
fn ttl(ttl: std::time::Duration) -> String {
    let secs = ttl.as_secs();
    match secs {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 && s >= 2 * 86_400 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    #[test]
    fn every_setting_shown_has_a_value_and_a_source_and_the_key_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "rpm = 10\n[rate_limits]\n\"gemini-2.5-pro\" = 5\n").unwrap();
        let o = Overrides { config: Some(path), ..Overrides::default() };
        let config = Config::resolve_with(&o, &|k| (k == "GOOGLE_API_KEY").then(|| "AIzaSECRET".to_owned())).unwrap();
        let shown = show(&config);
        assert_eq!(shown.lines().count(), config.sources.len());
        for line in shown.lines() {
            assert!(line.split_whitespace().count() >= 3, "a name, a value and a source: {line:?}");
        }
        assert!(!shown.contains("AIzaSECRET"), "{shown}");
        let row = |name: &str| shown.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_owned();
        assert!(row("api_key").contains("[REDACTED]") && row("api_key").ends_with("env GOOGLE_API_KEY"));
        assert!(row("rate_limits").contains("gemini-2.5-pro=5") && row("rate_limits").ends_with("config file"));
        assert!(row("rpm").contains(" 10 ") && row("cache_ttl").ends_with("default"));
        assert!(row("cache_ttl").contains(" 24h "), "as the README writes the default: {}", row("cache_ttl"));
    }

    #[test]
    fn every_generation_setting_of_the_registry_is_a_config_key_shown_with_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let o = Overrides { config: Some(path.clone()), ..Overrides::default() };
        let example = include_str!("../../assets/config.example.toml");
        for spec in crate::chat::registry::SETTINGS {
            assert!(example.contains(&format!("# {} = ", spec.key)), "config init documents {}", spec.key);
            let mut expected = crate::chat::Settings::default();
            expected.set(spec.name, spec.example).unwrap();
            let value: toml::Value = serde_json::from_value(serde_json::to_value(&expected).unwrap()[spec.key].clone())
                .unwrap_or_else(|e| panic!("{}: {e}", spec.key));
            let mut table = toml::Table::new();
            table.insert(spec.key.to_owned(), value);
            std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
            let config = Config::resolve_with(&o, &|_| None).unwrap_or_else(|e| panic!("{}: {e}", spec.key));
            assert_eq!(config.settings, expected, "{}", spec.key);
            assert_eq!(config.source_of(spec.key), Some(Source::File), "{}", spec.key);
            let shown = show(&config);
            let row = shown.lines().find(|l| l.starts_with(&format!("{} ", spec.key))).unwrap();
            assert!(row.contains(&spec.show(&expected)) && row.ends_with("config file"), "{row}");
            let default = Config::resolve_with(&Overrides::default(), &|_| None).unwrap();
            assert_eq!(default.source_of(spec.key), Some(Source::Default), "{}", spec.key);
        }
        // A typo is refused naming the settings too; an old spelling is taken.
        std::fs::write(&path, "temprature = 0.3\n").unwrap();
        let e = Config::resolve_with(&o, &|_| None).unwrap_err().to_string();
        assert!(e.contains("unknown field `temprature`: did you mean `temperature`?"), "{e}");
        std::fs::write(&path, "[budget]\nseeds = 1\n").unwrap();
        let e = Config::resolve_with(&o, &|_| None).unwrap_err().to_string();
        assert!(e.contains("unknown field `seeds`, expected `daily` or `monthly`"), "a table's own fields: {e}");
        std::fs::write(&path, "urlcontext = true\ntop-p = 0.5\n").unwrap();
        let c = Config::resolve_with(&o, &|_| None).unwrap();
        assert_eq!((c.settings.url_context, c.settings.top_p), (Some(true), Some(0.5)));
        std::fs::write(&path, "search = \"yes\"\n").unwrap();
        let e = Config::resolve_with(&o, &|_| None).unwrap_err().to_string();
        assert!(e.ends_with("is not valid: search must be true or false, not \"yes\"."), "{e}");
    }

    #[test]
    fn a_time_to_live_is_shown_as_the_config_file_writes_it_and_reads_back() {
        use std::time::Duration;
        for (secs, shown) in [(86_400, "24h"), (7 * 86_400, "7d"), (1_800, "30m"), (90, "90s"), (3_600, "1h")] {
            assert_eq!(ttl(Duration::from_secs(secs)), shown);
            assert_eq!(humantime::parse_duration(shown).unwrap(), Duration::from_secs(secs));
        }
    }
}
