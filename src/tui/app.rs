//! The TUI's state and the router: a key, a paste or a click becomes an [`Action`], which goes
//! to the overlay that has the keys ([`super::overlay`]) and else acts on the tabs and the
//! conversation ([`super::conversation`]); slash commands are carried out in [`super::slash`],
//! what the runner reports in `events`. Handlers only change state, mark it dirty and queue
//! [`Command`]s (send a turn, cancel, search, load, copy); the runner performs them. So every
//! behaviour here is a unit test with no terminal and no network.

use crossterm::event::{Event, MouseEventKind};

use super::conversation::composer::Cycle;
use super::conversation::turns::last_code_block;
use super::keys::{Action, Focus, action_for};
pub use super::messages::{AppEvent, Command};
pub use super::overlay::confirm::Confirm;
use super::overlay::history::HistoryBrowser;
use super::overlay::roles::apply_role;
use super::tab::{Flash, Tab};
use crate::chat::Role;
use crate::engine::MetricsSnapshot;
use crate::store::StoredMessage;

/// How long a flash stays in the note line when no key is pressed.
pub const FLASH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// PgUp / PgDn move a message selection this far.
const MESSAGES_PER_PAGE: usize = 6;

/// A tab to put back at start ([`App::restore`]).
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The conversation it showed, if it still exists.
    pub conversation: Option<RestoredConversation>,
    pub draft: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct RestoredConversation {
    pub id: i64,
    pub title: String,
    pub model: String,
    pub system: Option<String>,
    /// The role it runs with.
    pub role: Option<String>,
    /// The generation settings it was saved with (`None`: none saved).
    pub settings: Option<crate::chat::Settings>,
    pub messages: Vec<StoredMessage>,
    /// Its saved tool calls.
    pub tool_calls: Vec<crate::store::StoredToolCall>,
}

pub struct App {
    pub tabs: Vec<Tab>,
    pub active: usize,
    pub focus: Focus,
    pub history: HistoryBrowser,
    pub models: Vec<String>,
    pub model_selected: usize,
    /// The tab and description of the copy under way (for the flash that reports it).
    pub(in crate::tui) copying: Option<(u64, String)>,
    /// Tab on a start several completions share: each in turn at every further Tab.
    pub(in crate::tui) cycle: Option<Cycle>,
    /// The first line of the help shown (it scrolls when the screen is short).
    pub help_scroll: usize,
    /// What is typed in the find bar (Ctrl-F).
    pub find: String,
    /// What is typed in the model picker: only models containing every word of it are shown.
    pub model_filter: String,
    pub confirm: Option<Confirm>,
    /// Where keys go once the question is answered.
    pub(in crate::tui) confirm_from: Focus,
    pub demo: bool,
    /// The theme everything is drawn in (F3 switches).
    pub theme: super::theme::Theme,
    pub default_model: String,
    pub metrics: MetricsSnapshot,
    pub quit: bool,
    pub dirty: bool,
    /// Height of the conversation area at the last frame (for paging).
    pub page_height: usize,
    /// Width of the screen at the last frame (for mouse clicks on the tab bar).
    pub width: u16,
    /// Whether geminal takes the mouse (clicks, wheel) or leaves it to the terminal's own
    /// text selection (F4 switches).
    pub mouse_capture: bool,
    pub commands: Vec<Command>,
    /// Prompts asked before in any conversation, newest first (↑ recalls them after the tab's own).
    pub past_prompts: Vec<String>,
    /// Generation settings every new tab starts with (the launch flags).
    pub default_settings: crate::chat::Settings,
    /// The settings under them in a new conversation (the config file's), and in a reopened one
    /// saved without any.
    pub base_settings: crate::chat::Settings,
    /// The roles `/role` offers.
    pub roles: Vec<crate::chat::NamedRole>,
    /// Provider names, for `/model NAME` (`provider:model`, or bare for the default provider).
    pub names: crate::provider::Names,
    /// The picker (F2, `/model`, `/role`) lists roles instead of models.
    pub picking_roles: bool,
    /// The system prompt of a tab without a role (the config file's).
    pub default_system: Option<String>,
    /// The role every new tab starts with (`geminal -r NAME`).
    pub default_role: Option<String>,
    /// Each model's input limit in tokens, once read (the status bar's context meter).
    pub input_limits: std::collections::HashMap<String, u64>,
    /// The configured MCP servers' names (what `/tools` lists and takes).
    pub tool_servers: Vec<String>,
    /// The servers whose tools a new tab offers (the config file's `tools`).
    pub default_tools: crate::tools::Selection,
    /// Model-tool rounds a turn takes at most (`max_tool_steps`).
    pub max_tool_steps: u32,
    /// The tools allowed "always" (`a` on the approval line), by conversation: (server, tool).
    pub(in crate::tui) always: std::collections::HashMap<i64, std::collections::HashSet<(String, String)>>,
    pub(in crate::tui) next_tab_id: u64,
    /// The id of the next turn: each turn's own, never reused.
    pub(in crate::tui) next_turn_id: u64,
}

impl App {
    pub fn new(default_model: &str, demo: bool) -> Self {
        App {
            tabs: vec![Tab::new(1, default_model)],
            active: 0,
            focus: Focus::Chat,
            history: HistoryBrowser::default(),
            models: Vec::new(),
            model_selected: 0,
            picking_roles: false,
            help_scroll: 0,
            copying: None,
            cycle: None,
            model_filter: String::new(),
            find: String::new(),
            confirm: None,
            confirm_from: Focus::Chat,
            demo,
            theme: super::theme::Theme::for_terminal(super::theme::ThemeName::Dark),
            default_model: default_model.to_owned(),
            metrics: MetricsSnapshot::default(),
            quit: false,
            dirty: true,
            page_height: 20,
            width: 80,
            mouse_capture: true,
            commands: Vec::new(),
            past_prompts: Vec::new(),
            default_settings: crate::chat::Settings::default(),
            base_settings: crate::chat::Settings::default(),
            roles: Vec::new(),
            names: crate::provider::Names::default(),
            default_system: None,
            default_role: None,
            input_limits: std::collections::HashMap::new(),
            tool_servers: Vec::new(),
            default_tools: crate::tools::Selection::Off,
            max_tool_steps: crate::tools::DEFAULT_MAX_STEPS,
            always: std::collections::HashMap::new(),
            next_tab_id: 2,
            next_turn_id: 1,
        }
    }

    /// A short sentence about the last action, shown in the active tab's note line until the
    /// next action or [`FLASH_FOR`] has passed (see [`App::expire_flashes`]).
    pub(in crate::tui) fn say(&mut self, text: impl Into<String>) {
        self.tab_mut().flash = Some(Flash { text: text.into(), at: std::time::Instant::now() });
    }

    /// The active tab's flash, if any.
    pub fn flash(&self) -> Option<&str> {
        self.tab().flash.as_ref().map(|f| f.text.as_str())
    }

    /// Clears flashes shown for longer than [`FLASH_FOR`]; tells whether any was.
    pub fn expire_flashes(&mut self, now: std::time::Instant) -> bool {
        let mut cleared = false;
        for tab in &mut self.tabs {
            if tab.flash.as_ref().is_some_and(|f| now.saturating_duration_since(f.at) >= FLASH_FOR) {
                tab.flash = None;
                cleared = true;
            }
        }
        cleared
    }

    pub fn tab(&self) -> &Tab {
        &self.tabs[self.active]
    }

    pub fn tab_mut(&mut self) -> &mut Tab {
        &mut self.tabs[self.active]
    }

    pub(in crate::tui) fn tab_by_id(&mut self, id: u64) -> Option<(usize, &mut Tab)> {
        self.tabs.iter_mut().enumerate().find(|(_, t)| t.id == id)
    }

    /// The tab running turn `turn`, if one still is.
    pub(in crate::tui) fn tab_by_turn(&mut self, turn: u64) -> Option<&mut Tab> {
        self.tabs.iter_mut().find(|t| t.turn == Some(turn))
    }

    pub fn new_tab(&mut self) -> &mut Tab {
        let tab = self.fresh_tab();
        self.tabs.push(tab);
        self.active = self.tabs.len() - 1;
        self.tabs[self.active].unread = false;
        &mut self.tabs[self.active]
    }

    /// A tab with nothing in it yet, as the launch flags and config start every one: the model,
    /// system prompt, settings and role.
    pub(in crate::tui) fn fresh_tab(&mut self) -> Tab {
        let mut tab = Tab::new(self.next_tab_id, &self.default_model);
        self.next_tab_id += 1;
        tab.settings = self.default_settings.clone();
        tab.conversation_settings = self.base_settings.clone();
        tab.system = self.default_system.clone();
        tab.tools = self.default_tools.clone();
        // The launch role (`geminal -r NAME`) is every new tab's until /role changes it.
        if let Some(role) = self.default_role.as_ref().and_then(|name| self.roles.iter().find(|r| &r.name == name)) {
            apply_role(&mut tab, role);
        }
        tab
    }

    /// Makes role `name` (one of [`App::roles`]) the launch role: the first tab's now, and every
    /// new tab's.
    pub fn use_launch_role(&mut self, name: &str) {
        self.default_role = Some(name.to_owned());
        if let Some(role) = self.roles.iter().find(|r| r.name == name).cloned() {
            apply_role(self.tab_mut(), &role);
        }
    }

    pub(in crate::tui) fn switch_to(&mut self, index: usize) {
        if index < self.tabs.len() {
            self.leave_messages();
            self.active = index;
            self.tabs[index].unread = false;
            self.settle_focus();
        }
    }

    /// Back from selecting messages to the prompt.
    pub(in crate::tui) fn leave_messages(&mut self) {
        if self.focus == Focus::Messages {
            self.focus = Focus::Chat;
        }
        if self.tab().selected.is_some() {
            let tab = self.tab_mut();
            tab.selected = None;
        }
    }

    /// Moves the message selection by `delta`, staying within the conversation.
    pub(in crate::tui) fn move_selection(&mut self, delta: isize) {
        let tab = self.tab_mut();
        let last = tab.messages.len().saturating_sub(1) as isize;
        let at = tab.selected.map_or(last, |i| i as isize);
        tab.selected = Some((at + delta).clamp(0, last.max(0)) as usize);
    }

    /// The selected message while selecting, if it is a tool cell.
    pub(in crate::tui) fn selected_tool(&self) -> Option<usize> {
        self.selection().filter(|i| self.tab().messages.get(*i).is_some_and(|m| m.tool.is_some()))
    }

    /// The selected message while selecting, else none.
    pub(in crate::tui) fn selection(&self) -> Option<usize> {
        if self.focus == Focus::Messages { self.tab().selected } else { None }
    }

    /// Handles a terminal event.
    pub fn on_terminal(&mut self, event: Event) {
        self.dirty = true;
        match event {
            Event::Key(key) => {
                let action = action_for(key, self.focus, self.tab().input_is_empty());
                self.on_action(action);
            }
            Event::Paste(text) => match self.focus {
                Focus::Chat => {
                    self.tab_mut().input.insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
                }
                Focus::History => self.history_paste(&text),
                _ => {}
            },
            Event::Mouse(mouse) => match mouse.kind {
                MouseEventKind::ScrollUp => self.on_action(Action::ScrollUp(3)),
                MouseEventKind::ScrollDown => self.on_action(Action::ScrollDown(3)),
                MouseEventKind::Down(crossterm::event::MouseButton::Left)
                    if mouse.row == 0 && matches!(self.focus, Focus::Chat | Focus::Messages | Focus::Approve) =>
                {
                    if let Some(index) = super::tab_bar::tab_at(&self.tabs, self.active, self.width, mouse.column) {
                        self.on_action(Action::GoToTab(index));
                    }
                }
                _ => {}
            },
            Event::Resize(..) => {}
            _ => {}
        }
    }

    pub fn on_action(&mut self, action: Action) {
        self.dirty = true;
        // A flash is about the last action; the next one (in any tab) replaces or clears it.
        for tab in &mut self.tabs {
            tab.flash = None;
        }
        let page = self.page_height.max(1);
        // The overlay that has the keys takes what it handles; the rest acts as anywhere.
        let routed = match self.focus {
            Focus::History => self.history_action(action),
            Focus::ModelPicker => self.picker_action(action),
            Focus::Help => self.help_action(action),
            Focus::Find => self.find_action(action),
            Focus::Confirm => self.confirm_action(action),
            Focus::Approve => self.approve_action(action),
            Focus::Chat | Focus::Messages => Some(action),
        };
        if let Some(action) = routed {
            self.act(action, page);
        }
        // A tab shown now may wait for approval (or no longer).
        self.settle_focus();
    }

    fn act(&mut self, action: Action, page: usize) {
        match action {
            Action::Quit => {
                let running = self.tabs.iter().filter(|t| t.streaming).count();
                if running == 0 || matches!(self.confirm, Some(Confirm::Quit { .. })) {
                    self.quit = true;
                    self.stop_all_waiting();
                } else {
                    self.ask(Confirm::Quit { running });
                }
            }
            Action::ClearInput => {
                let tab = self.tab_mut();
                if !tab.input_is_empty() {
                    tab.input.select_all();
                    tab.input.cut();
                    self.say("Prompt cleared: Ctrl-Z brings it back.");
                }
            }
            Action::DeleteToLineStart => {
                self.tab_mut().input.delete_line_by_head();
            }
            Action::Undo => {
                self.tab_mut().input.undo();
            }
            Action::Redo => {
                self.tab_mut().input.redo();
            }
            Action::OpenEditor => {
                let (tab, text) = (self.tab().id, self.tab().input_text());
                self.commands.push(Command::EditPrompt { tab, text });
            }
            Action::Ignore => {}
            Action::Send => self.send(),
            Action::Newline => self.tab_mut().input.insert_newline(),
            Action::NewTab => {
                self.new_tab();
            }
            Action::CloseTab => match self.confirm.take() {
                Some(Confirm::CloseTab { tab, .. }) => {
                    self.focus = self.confirm_from;
                    if let Some(index) = self.tabs.iter().position(|t| t.id == tab) {
                        self.close_tab_at(index);
                    }
                }
                other => {
                    self.confirm = other;
                    let tab = self.tab();
                    let (running, draft) = (tab.streaming, !tab.input_is_empty() || tab.editing.is_some());
                    if running || draft {
                        let (tab, number) = (tab.id, self.active + 1);
                        self.ask(Confirm::CloseTab { tab, number, running, draft });
                    } else {
                        self.close_tab();
                    }
                }
            },
            Action::NextTab => self.switch_to((self.active + 1) % self.tabs.len()),
            Action::PrevTab => self.switch_to((self.active + self.tabs.len() - 1) % self.tabs.len()),
            Action::GoToTab(i) => self.switch_to(i),
            Action::Stop => match self.focus {
                Focus::Chat => {
                    if self.tab().editing.is_some() {
                        self.cancel_edit();
                    } else if self.tab().streaming {
                        let id = self.tab().id;
                        self.commands.push(Command::Cancel { tab: id });
                    }
                }
                Focus::Messages => self.leave_messages(),
                _ => self.focus = Focus::Chat,
            },
            Action::Regenerate => self.regenerate(),
            Action::ToggleThoughts | Action::Edit if self.selected_tool().is_some() => {
                if let Some(index) = self.selected_tool() {
                    self.tab_mut().toggle_tool(index);
                }
            }
            Action::ToggleThoughts => self.toggle_thoughts(),
            Action::Edit => self.begin_edit(),
            Action::SelectMessages => {
                if let Some(last) = self.tab().messages.len().checked_sub(1) {
                    self.focus = Focus::Messages;
                    self.tab_mut().selected = Some(last);
                }
            }
            Action::Alternative(step) => self.alternative(step),
            Action::CopyAnswer if self.selection().is_some() => {
                if let Some(m) = self.selection().and_then(|i| self.tab().messages.get(i)) {
                    let what = match (&m.tool, m.role) {
                        (Some(_), _) => "the tool cell",
                        (None, Role::User) => "the prompt",
                        (None, Role::Model) => "the answer",
                    };
                    let text = m.text.clone();
                    self.copy(text, what);
                }
            }
            Action::CopyAnswer => match self.tab().last_answer().map(|m| m.text.clone()) {
                Some(text) => self.copy(text, "the last answer"),
                None => self.say("Nothing to copy yet."),
            },
            Action::CopyCode if self.selection().is_some() => self.copy_next_block(),
            Action::CopyCode => match self.tab().last_answer().and_then(|m| last_code_block(&m.text)) {
                Some(code) => self.copy(code, "the last code block"),
                None => self.say("The last answer has no code block."),
            },
            Action::OpenFind => self.open_find(),
            Action::OpenHistory => self.open_history(),
            Action::OpenHelp => self.open_help(),
            Action::ToggleMouse => {
                self.mouse_capture = !self.mouse_capture;
                self.commands.push(Command::MouseCapture(self.mouse_capture));
                self.say(if self.mouse_capture {
                    "geminal takes the mouse again: click a tab, scroll with the wheel (F4 gives it back)."
                } else {
                    "The mouse is the terminal's again: select and copy text as usual (F4 takes it back)."
                });
            }
            Action::ToggleTheme => {
                // Each tab renders its messages again in the new theme when next drawn.
                self.theme = self.theme.toggled();
                let theme = self.theme;
                let name = match theme.name {
                    super::theme::ThemeName::Dark => "dark",
                    super::theme::ThemeName::Light => "light",
                };
                self.say(format!("The {name} theme (F3 switches)."));
            }
            Action::OpenModels => self.open_models(),
            Action::ScrollUp(n) => match self.focus {
                Focus::Messages => self.move_selection(-(MESSAGES_PER_PAGE as isize)),
                _ => {
                    let n = if n == 0 { page.saturating_sub(2).max(1) } else { n };
                    self.tab_mut().scroll_up(n, page);
                }
            },
            Action::ScrollDown(n) => match self.focus {
                Focus::Messages => self.move_selection(MESSAGES_PER_PAGE as isize),
                _ => {
                    let n = if n == 0 { page.saturating_sub(2).max(1) } else { n };
                    self.tab_mut().scroll_down(n);
                }
            },
            Action::ScrollTop if self.focus == Focus::Messages => self.tab_mut().selected = Some(0),
            Action::ScrollBottom if self.focus == Focus::Messages => {
                let last = self.tab().messages.len().saturating_sub(1);
                self.tab_mut().selected = Some(last);
            }
            Action::ScrollTop => self.tab_mut().on_home(page),
            Action::ScrollBottom => self.tab_mut().scroll_from_bottom = 0,
            Action::Up | Action::Down => {
                let delta = if action == Action::Up { -1 } else { 1 };
                if self.focus == Focus::Messages {
                    self.move_selection(delta);
                }
            }
            // Taken by the overlay that has the keys (the only place they come from).
            Action::Select | Action::Delete | Action::Yes | Action::No | Action::Always => {}
            Action::Input(key) => self.type_key(key),
        }
    }

    pub(in crate::tui) fn close_tab(&mut self) {
        self.close_tab_at(self.active);
    }

    pub(in crate::tui) fn close_tab_at(&mut self, index: usize) {
        self.leave_messages();
        let id = self.tabs[index].id;
        // A turn waiting for approval is told to stop (it never waits on a closed tab).
        self.tabs[index].stop_waiting();
        if self.tabs[index].streaming {
            self.commands.push(Command::Cancel { tab: id });
        }
        if self.tabs.len() == 1 {
            self.tabs[0] = self.fresh_tab();
        } else {
            self.tabs.remove(index);
            if self.active > index {
                self.active -= 1;
            }
            self.active = self.active.min(self.tabs.len() - 1);
        }
    }

    /// Puts back the tabs open when the interface last closed, in order, with their drafts,
    /// and makes the one that was active active again. Replaces the (empty) tabs there are.
    pub fn restore(&mut self, tabs: Vec<Restored>) {
        if tabs.is_empty() {
            return;
        }
        let system = self.tab().system.clone();
        self.tabs.clear();
        let mut active = 0;
        for (i, restored) in tabs.into_iter().enumerate() {
            let tab = self.new_tab();
            tab.system = system.clone();
            if let Some(c) = restored.conversation {
                tab.show(c.id, c.title, c.model, c.system, c.messages);
                tab.show_tool_calls(&c.tool_calls);
                tab.role = c.role;
                if let Some(settings) = c.settings {
                    tab.conversation_settings = settings;
                }
            }
            tab.set_input(&restored.draft);
            if restored.active {
                active = i;
            }
        }
        // Each new tab became active as it was made: the one that was active is again.
        self.switch_to(active);
    }

    /// The tabs to keep for the next start.
    pub fn open_tabs(&self) -> Vec<crate::store::OpenTab> {
        self.tabs
            .iter()
            .enumerate()
            .map(|(i, tab)| crate::store::OpenTab {
                conversation_id: tab.conversation_id,
                // While a prompt is being edited, the draft put aside is the unsent work.
                draft: match &tab.editing {
                    Some(editing) => editing.draft.clone().unwrap_or_default(),
                    None => tab.input_text(),
                },
                active: i == self.active,
            })
            .collect()
    }

    /// Opens saved conversation `id` (from the command line): its tab if one shows it already,
    /// else a tab.
    pub fn open_conversation(&mut self, id: i64) {
        self.open(id);
    }

    /// Opens saved conversation `id`: its tab if one shows it already, else a tab.
    pub(in crate::tui) fn open(&mut self, id: i64) {
        match self.tabs.iter().position(|t| t.conversation_id == Some(id)) {
            Some(index) => {
                self.switch_to(index);
                self.say(format!("Conversation {id} is open in tab {}.", index + 1));
            }
            None => self.commands.push(Command::Open { id }),
        }
    }
}

#[cfg(test)]
#[path = "tests/app.rs"]
mod tests;
