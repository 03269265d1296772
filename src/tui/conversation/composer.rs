//! The composer: the prompt being written in a tab. Keys typed into it, ↑↓ through earlier
//! prompts, Tab completing commands, role names, `/tools` server names and paths (each further
//! Tab the next of several), the hint of what a command being typed could become, and the
//! prompt back from the editor.

use crossterm::event::{KeyEvent, KeyModifiers};
use ratatui_textarea::Input;

use crate::chat::Role;
use crate::tui::app::App;
use crate::tui::keys::Focus;

/// Tab pressed on a start several completions share.
#[derive(Debug, Clone)]
pub(in crate::tui) struct Cycle {
    tab: u64,
    /// Each completion, as the whole prompt it makes.
    texts: Vec<String>,
    next: usize,
    /// The prompt as the last Tab left it (anything typed since ends the cycle).
    last: String,
}

impl App {
    pub(in crate::tui) fn type_key(&mut self, key: KeyEvent) {
        if self.focus == Focus::Messages {
            // Typing goes back to the prompt.
            self.leave_messages();
        }
        // Only the prompt takes keys here: each overlay takes its own.
        if self.focus == Focus::Chat {
            use crossterm::event::KeyCode;
            let tab = self.tab();
            let recalling = tab.recall.as_ref().is_some_and(|r| r.shown == tab.input_text());
            let plain = key.modifiers.difference(KeyModifiers::SHIFT).is_empty();
            match key.code {
                KeyCode::Tab if plain => self.complete(key),
                KeyCode::Up if plain && (tab.input_is_empty() || recalling) => self.recall(1),
                KeyCode::Down if plain && recalling => self.recall(-1),
                _ => {
                    self.tab_mut().input.input(Input::from(key));
                }
            }
        }
    }

    /// What ↑ goes through: this tab's prompts, newest first, then those asked anywhere before.
    pub(in crate::tui) fn recall_entries(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        let own = self.tab().messages.iter().rev().filter(|m| m.role == Role::User).map(|m| m.text.as_str());
        own.chain(self.past_prompts.iter().map(String::as_str)).filter(|p| seen.insert(*p)).collect()
    }

    /// ↑ (`step` 1) shows the prompt before the one recalled, ↓ (-1) the one after; ↓ from the
    /// newest empties the prompt again.
    pub(in crate::tui) fn recall(&mut self, step: isize) {
        let at = self.tab().recall.as_ref().map_or(-1, |r| r.at as isize) + step;
        if at < 0 {
            let tab = self.tab_mut();
            tab.recall = None;
            tab.clear_input();
            return;
        }
        let Some(text) = self.recall_entries().get(at as usize).map(|p| p.to_string()) else {
            self.say(if at == 0 { "No prompt asked yet." } else { "No earlier prompt." });
            return;
        };
        let tab = self.tab_mut();
        tab.set_input(&text);
        tab.recall = Some(crate::tui::tab::Recall { at: at as usize, shown: text });
    }

    /// Tab in the prompt: completes a command name; anywhere else it is typed.
    pub(in crate::tui) fn complete(&mut self, key: KeyEvent) {
        let text = self.tab().input_text();
        // A further Tab, the prompt as the last one left it: the next candidate.
        if let Some(cycle) = self.cycle.as_mut().filter(|c| c.tab == self.tabs[self.active].id && c.last == text) {
            let next = cycle.texts[cycle.next].clone();
            cycle.next = (cycle.next + 1) % cycle.texts.len();
            cycle.last = next.clone();
            self.tab_mut().set_input(&next);
            return;
        }
        self.cycle = None;
        // Server names after `/tools `.
        let tools = crate::tui::slash::tools_completions(&text, &self.tool_servers);
        if tools.len() == 1 {
            self.tab_mut().set_input(&tools[0]);
            return;
        } else if tools.len() > 1 {
            let names = tools.iter().map(|t| t.rsplit([' ', ',']).next().unwrap_or(t).to_owned()).collect();
            self.start_cycle(text, tools, names);
            return;
        }
        if let Some(completed) = crate::tui::slash::complete_role(&text, &self.roles) {
            self.tab_mut().set_input(&completed);
            return;
        }
        let roles = crate::tui::slash::role_completions(&text, &self.roles);
        if roles.len() > 1 {
            let texts = roles.iter().map(|r| format!("/role {r}")).collect();
            self.start_cycle(text, texts, roles.iter().map(|r| (*r).to_owned()).collect());
            return;
        }
        // A path after `/attach ` or `@` completes from the file system.
        let path_start = match text.strip_prefix("/attach ") {
            Some(_) => Some("/attach ".len()),
            None => text
                .rfind(|c: char| c.is_whitespace())
                .map_or(Some(0), |at| Some(at + 1))
                .filter(|at| text[*at..].starts_with('@') && !text[*at..].contains(char::is_whitespace))
                .map(|at| at + 1),
        };
        if let Some(at) = path_start {
            if let Some(completed) = crate::tui::slash::complete_path(&text[at..]) {
                self.tab_mut().set_input(&format!("{}{completed}", &text[..at]));
                return;
            }
            let paths = crate::tui::slash::path_candidates(&text[at..]);
            if paths.len() > 1 {
                let names = paths.iter().map(|p| p.rsplit_once('/').map_or(p.as_str(), |(_, n)| n).to_owned());
                let names = paths.iter().zip(names).map(|(p, n)| if n.is_empty() { p.clone() } else { n }).collect();
                let texts = paths.iter().map(|p| format!("{}{p}", &text[..at])).collect();
                self.start_cycle(text, texts, names);
            }
            return;
        }
        match crate::tui::slash::complete(&text) {
            Some(completed) => self.tab_mut().set_input(&completed),
            None if text.starts_with('/') => {
                let commands = crate::tui::slash::completions(&text);
                if commands.len() > 1 {
                    let texts = commands.iter().map(|c| format!("{} ", c.name)).collect();
                    self.start_cycle(text, texts, commands.iter().map(|c| c.name.to_owned()).collect());
                }
            }
            None => {
                self.tab_mut().input.input(Input::from(key));
            }
        }
    }

    /// Tab on `text`, which several completions share with nothing more in common: says what
    /// they are (`shown`), and every further Tab puts the next one (`texts`) in the prompt.
    pub(in crate::tui) fn start_cycle(&mut self, text: String, texts: Vec<String>, shown: Vec<String>) {
        self.say(format!("{} · Tab again takes each in turn", shown.join("  ")));
        self.cycle = Some(Cycle { tab: self.tab().id, texts, next: 0, last: text });
    }

    /// While a command name is being typed: the commands it could become, for the note line.
    pub fn slash_hint(&self) -> Option<String> {
        if self.focus != Focus::Chat {
            return None;
        }
        let roles = crate::tui::slash::role_completions(&self.tab().input_text(), &self.roles);
        if !roles.is_empty() {
            return Some(format!("{} · Tab completes", roles.join("  ")));
        }
        let matches = crate::tui::slash::completions(&self.tab().input_text());
        match matches.as_slice() {
            [] => None,
            [one] => Some(format!("{} {} · {} · Tab completes", one.name, one.args, one.what)),
            many => Some(format!("{} · Tab completes", many.iter().map(|c| c.name).collect::<Vec<_>>().join("  "))),
        }
    }

    /// The prompt of tab `tab` as the editor left it: `Ok(None)` keeps the prompt as it was (the
    /// editor failed or left nothing), `Err` is why the editor could not run. Ctrl-Z undoes it.
    pub fn edited(&mut self, tab: u64, result: Result<Option<String>, String>) {
        self.dirty = true;
        let Some((_, t)) = self.tab_by_id(tab) else { return };
        let flash = match result {
            Ok(Some(text)) => {
                t.input.select_all();
                t.input.cut();
                t.input.insert_str(&text);
                "The prompt is back from the editor: Enter sends it, Ctrl-Z undoes the edit."
            }
            Ok(None) => "The editor left no text (or failed): the prompt is as it was.",
            Err(message) => {
                self.say(message);
                return;
            }
        };
        self.say(flash);
    }
}
