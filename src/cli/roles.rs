//! `geminal roles`: every role (name, where it is defined, its model, the start of its prompt),
//! from the config file's `[roles.NAME]` tables and the `roles/NAME.md` files beside it.

use clap::Args;

use super::GlobalArgs;
use super::exit::{self, Failure};
use crate::chat::RoleSource;
use crate::config::Config;
use crate::sanitize::one_line;

#[derive(Debug, Args)]
#[command(
    after_help = "A role is a [roles.NAME] table in the config file (keys: system, model, fallback, and any generation setting: thinking, show_thoughts, temperature, top_p, max_tokens, seed, stop, json_schema, search, url_context) or a file roles/NAME.md in the config file's directory: its text is the prompt, and an optional TOML front matter between +++ lines holds the other keys. A table wins over a file of the same name. A prompt holding {{input}} is a template: the user's text takes its place and it is sent as the user's message, with no system instruction."
)]
pub struct RolesArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: &RolesArgs) -> Result<u8, Failure> {
    let config = Config::resolve(&global.overrides())?;
    let mut out = String::new();
    if args.json {
        for role in &config.roles {
            let (kind, path) = match &role.source {
                RoleSource::Config(path) => ("config", path),
                RoleSource::File(path) => ("file", path),
            };
            let line = serde_json::json!({
                "name": role.name, "source": kind, "path": path.display().to_string(), "model": role.model,
                "prompt": role.prompt, "template": role.is_template(), "settings": role.settings,
            });
            out.push_str(&format!("{line}\n"));
        }
        super::output::print_json(&out);
        return Ok(exit::OK);
    }
    if config.roles.is_empty() {
        let dir = config.config_path.as_deref().and_then(std::path::Path::parent).map(|d| d.join("roles"));
        let place = dir.map(|d| format!(" or a file NAME.md in {}", d.display())).unwrap_or_default();
        exit::say(&format!("No roles are defined: add [roles.NAME] to the config file{place}."));
        return Ok(exit::OK);
    }
    let width = config.roles.iter().map(|r| r.name.chars().count()).max().unwrap_or(4).max(4);
    let source_of = |r: &crate::chat::NamedRole| match &r.source {
        RoleSource::Config(_) => "config".to_owned(),
        RoleSource::File(path) => format!("roles/{}", path.file_name().unwrap_or_default().to_string_lossy()),
    };
    let source_width = config.roles.iter().map(|r| source_of(r).chars().count()).max().unwrap_or(6).max(6);
    let model_width = config.roles.iter().map(|r| r.model.as_deref().unwrap_or("-").len()).max().unwrap_or(5).max(5);
    out.push_str(&format!("{:<width$}  {:<source_width$}  {:<model_width$}  PROMPT\n", "NAME", "SOURCE", "MODEL"));
    for role in &config.roles {
        out.push_str(&format!(
            "{:<width$}  {:<source_width$}  {:<model_width$}  {}\n",
            one_line(&role.name, 64),
            one_line(&source_of(role), 80),
            one_line(role.model.as_deref().unwrap_or("-"), 60),
            role.prompt_start(60),
        ));
    }
    let _ = super::output::write_flush(&mut std::io::stdout(), out.as_bytes());
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_help_names_every_generation_setting() {
        let command = <super::RolesArgs as clap::Args>::augment_args(clap::Command::new("roles"));
        let help = command.get_after_help().unwrap().to_string();
        for spec in crate::chat::registry::SETTINGS {
            assert!(
                help.contains(&format!(" {},", spec.key)) || help.contains(&format!(" {})", spec.key)),
                "{}",
                spec.key
            );
        }
    }
}
