//! Where roles are defined: `[roles.NAME]` tables in the config file, and `roles/NAME.md`
//! files in the config directory (the file's text is the prompt; an optional TOML front
//! matter between `+++` lines holds `model` and generation settings, any of the registry's). When both define a
//! name, the config file's table wins and the file is ignored. What a role does to a turn is
//! `chat::NamedRole`'s business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::chat::{NamedRole, RoleSource, Settings, registry};

/// A role's keys, in `[roles.NAME]` or a role file's front matter (which takes no `system`:
/// the file's text is the prompt): its own, and every generation setting of the registry.
#[derive(Debug, Clone, Default)]
pub struct RoleConfig {
    pub system: Option<String>,
    pub model: Option<String>,
    /// This role's fallback chain (`provider:model` names), instead of the global `fallback`.
    pub fallback: Option<Vec<String>>,
    /// Its generation settings, as read (checked when the role is made).
    pub settings: Settings,
    /// Which MCP servers' tools it offers (`tools = true | [...]`), over the config's `tools`.
    pub tools: Option<crate::mcp::settings::ToolsSetting>,
}

/// A role's own keys; any other key that is not a setting is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleKeys {
    system: Option<String>,
    model: Option<String>,
    fallback: Option<Vec<String>>,
    tools: Option<crate::mcp::settings::ToolsSetting>,
}

impl<'de> Deserialize<'de> for RoleConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let settings = registry::take_from(&mut fields).map_err(|e| D::Error::custom(e.as_reason()))?;
        let keys: RoleKeys = serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| D::Error::custom(registry::with_setting_keys(e.to_string(), |_| true)))?;
        Ok(RoleConfig { system: keys.system, model: keys.model, fallback: keys.fallback, settings, tools: keys.tools })
    }
}

impl RoleConfig {
    fn into_role(self, name: &str, prompt: Option<String>, source: RoleSource) -> Result<NamedRole, String> {
        self.settings.validate().map_err(|e| e.as_reason())?;
        Ok(NamedRole {
            name: name.to_owned(),
            prompt: prompt.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()),
            model: self.model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
            settings: self.settings,
            source,
            fallback: self
                .fallback
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect(),
            tools: self.tools.as_ref().map(crate::mcp::settings::ToolsSetting::selection),
        })
    }
}

/// A role name people can type: letters, digits, `-`, `_` and `.` (not first).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Every role: the config file's tables, then the files of `roles/` beside it that the tables
/// do not name; sorted by name. A problem is one sentence naming the file (no final period).
pub fn load(
    tables: Option<&BTreeMap<String, RoleConfig>>,
    config_path: Option<&Path>,
) -> Result<Vec<NamedRole>, String> {
    let mut roles: BTreeMap<String, NamedRole> = BTreeMap::new();
    let shown = config_path.map(|p| p.display().to_string()).unwrap_or_default();
    for (name, table) in tables.into_iter().flatten() {
        if !valid_name(name) {
            return Err(format!("the role name {name:?} in {shown} may hold only letters, digits, '-', '_' and '.'"));
        }
        let source = RoleSource::Config(config_path.map(Path::to_path_buf).unwrap_or_default());
        let prompt = table.system.clone();
        let role = table.clone().into_role(name, prompt, source).map_err(|e| format!("role {name} in {shown}: {e}"))?;
        roles.insert(name.clone(), role);
    }
    if let Some(dir) = config_path.and_then(Path::parent).map(|d| d.join("roles"))
        && let Ok(entries) = std::fs::read_dir(&dir)
    {
        let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let Some(name) = role_file_name(&path) else { continue };
            if roles.contains_key(&name) {
                continue;
            }
            roles.insert(name.clone(), read_role_file(&path, &name)?);
        }
    }
    Ok(roles.into_values().collect())
}

/// `reviewer` for `roles/reviewer.md`; `None` for anything else.
fn role_file_name(path: &Path) -> Option<String> {
    if path.extension()? != "md" || !path.is_file() {
        return None;
    }
    let name = path.file_stem()?.to_str()?.to_owned();
    valid_name(&name).then_some(name)
}

fn read_role_file(path: &Path, name: &str) -> Result<NamedRole, String> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("the role file {shown} could not be read ({})", e.kind()))?;
    let (front, body) = split_front_matter(&text).map_err(|e| format!("the role file {shown} {e}"))?;
    let config: RoleConfig = match front {
        Some(front) => toml::from_str(front).map_err(|e| {
            format!(
                "the role file {shown} has a front matter that is not valid: {}",
                crate::sanitize::one_line(e.message(), 120).trim_end_matches('.')
            )
        })?,
        None => RoleConfig::default(),
    };
    if config.system.is_some() {
        return Err(format!("the role file {shown} sets system in its front matter: the prompt is the file's text"));
    }
    config
        .into_role(name, Some(body.to_owned()), RoleSource::File(path.to_path_buf()))
        .map_err(|e| format!("{shown}: {e}"))
}

/// Splits `+++\nTOML\n+++\nbody` into the TOML and the body; text without a first `+++` line
/// is all body.
fn split_front_matter(text: &str) -> Result<(Option<&str>, &str), &'static str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("+++\n").or_else(|| text.strip_prefix("+++\r\n")) else {
        return Ok((None, text));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            return Ok((Some(&rest[..offset]), &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err("opens a front matter with +++ but never closes it")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join("roles")).unwrap();
        std::fs::write(dir.join("roles").join(name), text).unwrap();
    }

    #[test]
    fn a_role_file_is_its_prompt_with_an_optional_toml_front_matter() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        write(dir.path(), "poet.md", "+++\nmodel = \"gemini-2.5-pro\"\ntemperature = 1.5\n+++\nYou write haiku.\n");
        write(dir.path(), "plain.md", "Be terse.\n");
        write(dir.path(), "notes.txt", "not a role");
        let roles = load(None, Some(&config)).unwrap();
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["plain", "poet"]);
        assert_eq!(roles[1].prompt.as_deref(), Some("You write haiku."));
        assert_eq!((roles[1].model.as_deref(), roles[1].settings.temperature), (Some("gemini-2.5-pro"), Some(1.5)));
        assert_eq!((roles[0].prompt.as_deref(), roles[0].model.as_deref()), (Some("Be terse."), None));
    }

    #[test]
    fn the_config_files_table_wins_over_a_role_file_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        write(dir.path(), "poet.md", "From the file.");
        let tables: BTreeMap<String, RoleConfig> =
            toml::from_str("[poet]\nsystem = \"From the table.\"\nthinking = \"low\"\n").unwrap();
        let roles = load(Some(&tables), Some(&config)).unwrap();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].prompt.as_deref(), Some("From the table."));
        assert_eq!(roles[0].source, RoleSource::Config(config));
        assert_eq!(roles[0].settings.thinking.map(|t| t.to_string()).as_deref(), Some("low"));
    }

    #[test]
    fn every_generation_setting_of_the_registry_is_a_key_of_a_role() {
        for spec in registry::SETTINGS {
            let mut expected = Settings::default();
            expected.set(spec.name, spec.example).unwrap();
            let value: toml::Value =
                serde_json::from_value(serde_json::to_value(&expected).unwrap()[spec.key].clone()).unwrap();
            let mut role = toml::Table::new();
            role.insert("system".to_owned(), "x".into());
            role.insert(spec.key.to_owned(), value);
            let mut table = toml::Table::new();
            table.insert("r".to_owned(), role.into());
            let text = toml::to_string(&table).unwrap();
            let tables: BTreeMap<String, RoleConfig> = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let roles = load(Some(&tables), None).unwrap();
            assert_eq!(roles[0].settings, expected, "{text}");
        }
        let tables: BTreeMap<String, RoleConfig> = toml::from_str("[r]\nthoughts = true\n").unwrap();
        assert_eq!(load(Some(&tables), None).unwrap()[0].settings.show_thoughts, Some(true), "an old spelling");
    }

    #[test]
    fn bad_roles_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        write(dir.path(), "hot.md", "+++\ntemperature = 5.0\n+++\nx");
        let e = load(None, Some(&config)).unwrap_err();
        assert!(e.contains("hot.md") && e.contains("between 0 and 2"), "{e}");
        write(dir.path(), "hot.md", "+++\ntemprature = 1.0\n+++\nx");
        assert!(load(None, Some(&config)).unwrap_err().contains("temprature"));
        write(dir.path(), "hot.md", "+++\nsystem = \"x\"\n+++\nx");
        assert!(load(None, Some(&config)).unwrap_err().contains("the prompt is the file's text"));
        write(dir.path(), "hot.md", "+++\nmodel = \"m\"\nx");
        assert!(load(None, Some(&config)).unwrap_err().contains("never closes"));
    }
}
