//! Roles: a named system prompt with an optional model and generation settings, chosen with
//! `ask -r NAME`, a batch line's `"role"` or `/role NAME`. Where roles are defined (the config
//! file, `roles/NAME.md`) is the business of the `roles` module; here is only what a role does to a turn.

use std::path::PathBuf;

use super::settings::Settings;

/// In a role's prompt, where the user's text goes. A role whose prompt holds it is a template:
/// the filled-in prompt is sent as the user's message, with no system instruction (as aichat
/// does with its placeholder).
pub const INPUT_PLACEHOLDER: &str = "{{input}}";

/// Where a role was defined (`geminal roles` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleSource {
    /// `[roles.NAME]` in this config file.
    Config(PathBuf),
    /// `roles/NAME.md` in the config directory.
    File(PathBuf),
}

impl std::fmt::Display for RoleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoleSource::Config(path) => write!(f, "{} [roles]", path.display()),
            RoleSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NamedRole {
    pub name: String,
    /// The role's prompt: a system instruction, or a template holding [`INPUT_PLACEHOLDER`].
    pub prompt: Option<String>,
    /// The model it asks (a `--model` flag still wins).
    pub model: Option<String>,
    /// Its generation settings, over the config file's and under the flags.
    pub settings: Settings,
    pub source: RoleSource,
    /// Its fallback chain (canonical model names); empty: the global one.
    pub fallback: Vec<String>,
    /// Which MCP servers' tools it offers (`tools` in the role); `None`: the config's.
    pub tools: Option<crate::tools::Selection>,
}

impl NamedRole {
    /// Whether the prompt is a template for the user's text.
    pub fn is_template(&self) -> bool {
        self.prompt.as_deref().is_some_and(|p| p.contains(INPUT_PLACEHOLDER))
    }

    /// The system instruction the role gives (none for a template, or a role without a prompt).
    pub fn system_instruction(&self) -> Option<&str> {
        self.prompt.as_deref().filter(|_| !self.is_template())
    }

    /// The user's message as sent: the template filled in with `input`, else `input` itself.
    pub fn message_for(&self, input: &str) -> String {
        match self.prompt.as_deref() {
            Some(template) if self.is_template() => template.replace(INPUT_PLACEHOLDER, input),
            _ => input.to_owned(),
        }
    }

    /// What the user typed for `message`, a message this template filled in (so editing it
    /// offers the user's own text, which sending fills in again); `None` when the role is no
    /// template or `message` is not one it filled in.
    pub fn input_of(&self, message: &str) -> Option<String> {
        let template = self.prompt.as_deref().filter(|_| self.is_template())?;
        let mut pieces = template.split(INPUT_PLACEHOLDER);
        let (before, after) = (pieces.next()?, pieces.next()?);
        let rest = message.strip_prefix(before)?;
        // With the placeholder once, the input runs to the template's tail; with it more often,
        // up to the text that follows its first use. Either way, filling it in must give back
        // exactly `message`.
        let end = if template.matches(INPUT_PLACEHOLDER).count() == 1 {
            rest.len().checked_sub(after.len()).filter(|&end| rest[end..] == *after && rest.is_char_boundary(end))?
        } else if after.is_empty() {
            return None;
        } else {
            rest.find(after)?
        };
        let input = &rest[..end];
        (self.message_for(input) == message).then(|| input.to_owned())
    }

    /// The start of the prompt on one line (for lists).
    pub fn prompt_start(&self, chars: usize) -> String {
        let text = self.prompt.as_deref().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
        crate::sanitize::one_line(&text, chars)
    }
}

/// An unknown role name, as one sentence naming the known ones.
pub fn unknown_role(name: &str, known: &[NamedRole]) -> String {
    let name = crate::sanitize::one_line(name, 40);
    if known.is_empty() {
        format!(
            "There is no role named {name}: no roles are defined (add [roles.{name}] to the config file or a roles/{name}.md file beside it)."
        )
    } else {
        let names: Vec<&str> = known.iter().map(|r| r.name.as_str()).collect();
        format!("There is no role named {name}: the roles are {} (see `geminal roles`).", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(prompt: &str) -> NamedRole {
        NamedRole {
            name: "r".into(),
            prompt: Some(prompt.into()),
            model: None,
            settings: Settings::default(),
            source: RoleSource::File("roles/r.md".into()),
            fallback: Vec::new(),
            tools: None,
        }
    }

    #[test]
    fn editing_a_filled_in_message_gets_back_the_users_own_text() {
        let once = role("Translate into French:\n\n{{input}}\n\nOnly the translation.");
        let sent = once.message_for("good morning, {{input}} café");
        assert_eq!(once.input_of(&sent).as_deref(), Some("good morning, {{input}} café"));
        assert_eq!(once.input_of("something typed before the role was chosen"), None);
        let twice = role("Q: {{input}}\nAgain: {{input}}");
        assert_eq!(twice.input_of(&twice.message_for("héllo")).as_deref(), Some("héllo"));
        assert_eq!(twice.input_of("Q: a\nAgain: b"), None, "no single input fills it in");
        assert_eq!(role("be brief").input_of("be brief"), None, "not a template");
    }

    #[test]
    fn a_template_role_fills_in_the_input_and_gives_no_system_instruction() {
        let r = role("Translate to French: {{input}}");
        assert!(r.is_template());
        assert_eq!(r.message_for("good morning"), "Translate to French: good morning");
        assert_eq!(r.system_instruction(), None);
    }

    #[test]
    fn a_plain_role_is_a_system_instruction_and_leaves_the_input_alone() {
        let r = role("You review Rust code.");
        assert_eq!(r.message_for("fn main() {}"), "fn main() {}");
        assert_eq!(r.system_instruction(), Some("You review Rust code."));
    }

    #[test]
    fn an_unknown_role_names_the_known_ones() {
        let text = unknown_role("revewer", &[role("a"), NamedRole { name: "poet".into(), ..role("b") }]);
        assert_eq!(text, "There is no role named revewer: the roles are r, poet (see `geminal roles`).");
        assert!(unknown_role("x", &[]).contains("no roles are defined"));
    }
}
