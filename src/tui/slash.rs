//! The slash commands of the prompt, as the interface carries them out: the table, the parser
//! and the completions live in [`crate::commands`], shared with the line chat; what each
//! command does to a tab is here.

pub use crate::commands::*;

use super::app::{App, Command};
use super::keys::Action;

impl App {
    /// Carries out a slash command typed in the prompt. The prompt is emptied when it worked;
    /// a mistake (an unknown command, a missing argument) stays there to be corrected.
    pub(in crate::tui) fn slash(&mut self, command: Slash) {
        let done = match command {
            Slash::Help => {
                self.open_help();
                true
            }
            Slash::ShowSystem => {
                let shown = match &self.tab().system {
                    Some(system) => format!("System prompt: {system} (/system clear removes it)."),
                    None => "No system prompt in this tab: /system TEXT sets one.".to_owned(),
                };
                self.say(shown);
                true
            }
            Slash::ClearSystem => {
                self.tab_mut().system = None;
                self.say("System prompt cleared.");
                true
            }
            Slash::SetSystem(text) => {
                self.tab_mut().system = Some(text);
                self.say("System prompt set for this tab.");
                true
            }
            Slash::ModelPicker => {
                self.on_action(Action::OpenModels);
                true
            }
            Slash::Model(name) => {
                // A bare name means the default provider; `provider:model` names another.
                let name = self.names.canonical(&name);
                self.say(format!("This tab now uses {name}."));
                self.tab_mut().model = name;
                true
            }
            Slash::Rename(title) => match self.tab().conversation_id {
                Some(id) => {
                    self.commands.push(Command::Rename { id, title });
                    true
                }
                None => {
                    let when = self.not_saved_yet();
                    self.say(format!("Nothing to rename yet: {when}"));
                    false
                }
            },
            Slash::Export(file) => match self.tab().conversation_id {
                Some(id) => {
                    let tab = self.tab().id;
                    self.commands.push(Command::Export { tab, id, file });
                    true
                }
                None => {
                    let when = self.not_saved_yet();
                    self.say(format!("Nothing to export yet: {when}"));
                    false
                }
            },
            Slash::Attach(path) => {
                let tab = self.tab().id;
                let path = super::slash::expand_home(&path);
                self.commands.push(Command::Attach { tab, paths: vec![path], then_send: false });
                true
            }
            Slash::ShowAttachments => {
                let pending = &self.tab().pending;
                let shown = if pending.is_empty() {
                    "Nothing is attached to the next prompt: /attach PATH (or @path in the prompt) adds a file."
                        .to_owned()
                } else {
                    let list: Vec<String> = pending.iter().map(|a| crate::attach::label(&a.info)).collect();
                    format!("Attached to the next prompt: {} (/attach clear removes them).", list.join(", "))
                };
                self.say(shown);
                true
            }
            Slash::ClearAttachments => {
                let n = std::mem::take(&mut self.tab_mut().pending).len();
                self.say(match n {
                    0 => "Nothing was attached.".to_owned(),
                    1 => "The attachment was removed.".to_owned(),
                    n => format!("The {n} attachments were removed."),
                });
                true
            }
            Slash::Clear => {
                let base = self.base_settings.clone();
                let tab = self.tab_mut();
                let saved = tab.conversation_id.is_some();
                tab.messages.clear();
                tab.context_used = None;
                tab.tokens = 0;
                tab.conversation_id = None;
                tab.conversation_settings = base;
                tab.title = "new chat".into();
                tab.editing = None;
                tab.error = None;
                tab.revision += 1;
                tab.scroll_from_bottom = 0;
                self.say(if saved {
                    "A new conversation; the last one is in the history (Ctrl-R)."
                } else {
                    "A new conversation."
                });
                true
            }
            Slash::MissingArgument(name) => {
                let args = super::slash::COMMANDS.iter().find(|c| c.name == name).map_or("", |c| c.args);
                self.say(format!("{name} needs {args}."));
                false
            }
            Slash::Unknown(word) => {
                self.say(format!(
                    "{} is not a command (type / to see them); start with // to send a line that begins with /.",
                    crate::sanitize::one_line(&word, 30)
                ));
                false
            }
            Slash::Literal(_) => false,
            Slash::Thinking(level) => self.set_thinking(level.as_deref()),
            Slash::Role(name) => self.set_role(name.as_deref()),
            Slash::Tools(choice) => self.set_tools(choice),
            Slash::Thoughts(on) => {
                let on = on.unwrap_or(!self.tab_settings().shows_thoughts());
                self.tab_mut().settings.show_thoughts = Some(on);
                self.say(if on {
                    "Thoughts are asked for and shown above the answers in this tab."
                } else {
                    "Thoughts are no longer asked for in this tab."
                });
                true
            }
            Slash::Set(None) => {
                let summary = self.tab_settings().summary();
                self.say(if summary.is_empty() {
                    format!(
                        "No settings in this tab (the model's defaults): /set NAME VALUE ({}).",
                        crate::chat::registry::names()
                    )
                } else {
                    format!("This tab: {summary}.")
                });
                true
            }
            Slash::Set(Some((name, value))) => {
                // A switch alone flips what the tab sends now, wherever that came from.
                let current = self.tab_settings();
                let value = match crate::chat::registry::find(&name) {
                    Some(spec) if spec.is_switch() && matches!(value.as_str(), "" | "toggle") => {
                        let on = spec.get(&current) == Some(crate::chat::registry::Value::Switch(true));
                        if on { "off" } else { "on" }.to_owned()
                    }
                    _ => value,
                };
                self.set_setting(&name, &value)
            }
        };
        if done {
            self.tab_mut().clear_input();
        }
    }

    /// The settings the active tab's next request carries ([`Tab::effective_settings`]).
    pub fn tab_settings(&self) -> crate::chat::Settings {
        self.tab().effective_settings(&self.roles)
    }

    /// `/set NAME VALUE` on the active tab; whether it was taken.
    pub(in crate::tui) fn set_setting(&mut self, name: &str, value: &str) -> bool {
        match self.tab_mut().settings.set(name, value) {
            Ok(said) => {
                self.say(said);
                true
            }
            Err(e) => {
                self.say(e.to_string());
                false
            }
        }
    }

    /// `/thinking LEVEL`: checked against the tab's model at once; alone, says what it is.
    pub(in crate::tui) fn set_thinking(&mut self, level: Option<&str>) -> bool {
        let Some(level) = level else {
            let shown = match self.tab_settings().thinking {
                Some(t) => format!("Thinking: {t} in this tab (/thinking off|low|medium|high|N changes it)."),
                None => "Thinking: the model's default (/thinking off|low|medium|high|N changes it).".to_owned(),
            };
            self.say(shown);
            return true;
        };
        let parsed = level.parse::<crate::llm::Thinking>();
        let checked = parsed.and_then(|t| {
            let params = crate::llm::Params { thinking: Some(t), ..crate::llm::Params::default() };
            crate::provider::check_params(&self.tab().model, &params).map(|_| t)
        });
        match checked {
            Ok(t) => {
                self.tab_mut().settings.thinking = Some(t);
                self.say(format!("Thinking: {t} in this tab."));
                true
            }
            Err(e) => {
                let mut e = e;
                if !e.ends_with('.') {
                    e.push('.');
                }
                let mut chars = e.chars();
                let e: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
                self.say(e);
                false
            }
        }
    }

    /// `/tools`: lists the configured servers (alone), or sets which ones this tab's turns offer
    /// the model. Whether it was taken.
    pub(in crate::tui) fn set_tools(&mut self, choice: ToolsChoice) -> bool {
        use crate::tools::Selection;
        let configured = self.tool_servers.clone();
        if configured.is_empty() && choice != ToolsChoice::Off {
            self.say(
                "No MCP servers are configured: add [mcp.servers.NAME] to the config file (geminal mcp import FILE reads another client's).",
            );
            return choice == ToolsChoice::Show;
        }
        let selection = match choice {
            ToolsChoice::Show => {
                let current = &self.tab().tools;
                let list: Vec<String> = configured
                    .iter()
                    .map(|name| {
                        let on = match current {
                            Selection::All => true,
                            Selection::Servers(names) => names.contains(name),
                            Selection::Off => false,
                        };
                        format!("{} ({})", crate::sanitize::one_line(name, 40), if on { "on" } else { "off" })
                    })
                    .collect();
                self.say(format!("Tools: {} · /tools on, off or NAME,NAME changes them.", list.join(", ")));
                return true;
            }
            ToolsChoice::On => Selection::All,
            ToolsChoice::Off => Selection::Off,
            ToolsChoice::Servers(names) if names.is_empty() => {
                self.say("/tools needs on, off or the names of servers.");
                return false;
            }
            ToolsChoice::Servers(names) => {
                if let Some(unknown) = names.iter().find(|n| !configured.contains(n)) {
                    self.say(format!(
                        "No server named {} is configured (there are: {}).",
                        crate::sanitize::one_line(unknown, 40),
                        configured.join(", ")
                    ));
                    return false;
                }
                Selection::Servers(names)
            }
        };
        self.say(match super::view::tools_in_use(&selection, &configured) {
            Some(names) => format!("Tools on in this tab: {names}; each call asks first (y, n, a)."),
            None => "Tools off in this tab.".to_owned(),
        });
        self.tab_mut().tools = selection;
        self.tab_mut().tools_chosen = true;
        true
    }

    /// `t` on a selected answer: folds or unfolds its thoughts.
    pub(in crate::tui) fn toggle_thoughts(&mut self) {
        let Some(index) = self.selection() else { return };
        let tab = self.tab_mut();
        let Some(m) = tab.messages.get_mut(index).filter(|m| !m.thoughts.is_empty()) else {
            self.say("This message has no thoughts to show.");
            return;
        };
        m.thoughts_folded = !m.thoughts_folded;
        tab.revision += 1;
    }

    /// Why the active tab has no saved conversation to act on, and when it will.
    pub(in crate::tui) fn not_saved_yet(&self) -> &'static str {
        if self.tab().streaming {
            "the conversation is saved once this first answer ends; try again then."
        } else {
            "the conversation starts with the first answer."
        }
    }
}
