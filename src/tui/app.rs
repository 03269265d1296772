//! The TUI's state and how it changes. Handlers only change state, mark it dirty and queue
//! [`Command`]s (send a turn, cancel, search, load, copy); the runner performs them. So every
//! behaviour here is a unit test with no terminal and no network.

use crossterm::event::{Event, KeyEvent, KeyModifiers, MouseEventKind};
use ratatui_textarea::Input;

use super::history::{HistoryBrowser, HistoryRow};
use super::keys::{Action, Focus, action_for};
use super::slash::Slash;
use super::tab::{ChatMessage, Editing, Flash, Tab};
use crate::attach::Attachment;
use crate::chat::{Branch, Outcome, Role, Shown, TurnReport};
use crate::engine::MetricsSnapshot;
use crate::store::{Alternatives, MessageStatus, StoredMessage};

/// How long a flash stays in the note line when no key is pressed.
pub const FLASH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// PgUp / PgDn move a message selection this far.
const MESSAGES_PER_PAGE: usize = 6;

/// Work for the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start turn `turn` (an id never reused) in tab `tab` for `prompt`, joining its
    /// conversation as `branch` says (a regenerated answer skips the cache).
    Send {
        tab: u64,
        turn: u64,
        prompt: String,
        branch: Branch,
        /// Files attached to this prompt (read already; uploaded when too big to go inline).
        attachments: Vec<Attachment>,
    },
    /// Read the files at `paths` for tab `tab`'s next prompt; then send the prompt if `then_send`
    /// (its `@path` words named them).
    Attach {
        tab: u64,
        paths: Vec<std::path::PathBuf>,
        then_send: bool,
    },
    /// Show another alternative of a saved message in tab `tab` (`step` places away).
    SwitchAlternative {
        tab: u64,
        message_id: i64,
        step: isize,
    },
    Cancel {
        tab: u64,
    },
    Search {
        query: String,
        generation: u64,
    },
    Preview {
        id: i64,
    },
    Open {
        id: i64,
    },
    Delete {
        id: i64,
    },
    LoadModels,
    /// Read each model's input limit once (for the context meters).
    LoadInputLimits,
    /// Take the mouse (true) or leave it to the terminal's text selection.
    MouseCapture(bool),
    /// Give conversation `id` a new title.
    Rename {
        id: i64,
        title: String,
    },
    /// Load the prompts asked before (for ↑ in an empty prompt).
    LoadPrompts,
    Copy {
        text: String,
    },
    /// Write conversation `id` (shown in tab `tab`) to `file`, or to a name made from its title.
    Export {
        tab: u64,
        id: i64,
        file: Option<String>,
    },
    /// Hand tab `tab`'s prompt to the user's editor; the result comes back through [`App::edited`].
    EditPrompt {
        tab: u64,
        text: String,
    },
}

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
}

/// Tab pressed on a start several completions share.
#[derive(Debug, Clone)]
struct Cycle {
    tab: u64,
    /// Each completion, as the whole prompt it makes.
    texts: Vec<String>,
    next: usize,
    /// The prompt as the last Tab left it (anything typed since ends the cycle).
    last: String,
}

/// A question awaiting y/n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    DeleteConversation {
        id: i64,
        title: String,
    },
    /// Close tab `tab` (shown as number `number`), which has an answer running and/or an
    /// unsent draft.
    CloseTab {
        tab: u64,
        number: usize,
        running: bool,
        draft: bool,
    },
    /// Quit while `running` answers are being written (they are kept, marked interrupted).
    Quit {
        running: usize,
    },
}

/// What the runner reports back. What a turn reports is keyed by its turn id, never reused,
/// and lands only in the tab still running that turn: a tab closed, rebuilt or running a newer
/// turn ignores it.
#[derive(Debug)]
pub enum AppEvent {
    Turn {
        turn: u64,
        shown: Shown,
    },
    TurnDone {
        turn: u64,
        report: Box<TurnReport>,
    },
    TurnFailedToStart {
        turn: u64,
        message: String,
    },
    /// Turn `turn` was not sent: its conversation was deleted (by another tab or process).
    /// The prompt (none for a regenerated answer) and its attachments go back to the tab.
    ConversationGone {
        turn: u64,
        conversation_id: i64,
        prompt: Option<String>,
        attachments: Vec<Attachment>,
    },
    /// Files read for tab `tab`'s next prompt, and the sentences of those that could not be.
    Attached {
        tab: u64,
        attachments: Vec<Attachment>,
        errors: Vec<String>,
        then_send: bool,
    },
    /// An attachment of turn `turn`'s prompt is being uploaded.
    Uploading {
        turn: u64,
        progress: crate::chat::UploadProgress,
    },
    SearchResults {
        generation: u64,
        rows: Result<Vec<HistoryRow>, String>,
    },
    Preview {
        id: i64,
        messages: Vec<StoredMessage>,
    },
    Opened {
        id: i64,
        title: String,
        model: String,
        system: Option<String>,
        /// The generation settings it was saved with (`None`: none saved).
        settings: Option<crate::chat::Settings>,
        messages: Vec<StoredMessage>,
    },
    /// The branch shown in tab `tab` changed (another alternative): its messages now, and the
    /// alternative chosen.
    Reloaded {
        tab: u64,
        conversation_id: i64,
        messages: Vec<StoredMessage>,
        chosen: i64,
    },
    Deleted {
        id: i64,
    },
    Models(Result<Vec<String>, String>),
    /// Prompts asked before, newest first.
    Prompts(Vec<String>),
    /// Conversation `conversation_id`, just opened, runs with this role.
    TabRole {
        conversation_id: i64,
        role: Option<String>,
    },
    /// Each model's input limit, in tokens (for the context meters).
    InputLimits(std::collections::HashMap<String, u64>),
    /// Conversation `id` now has this title.
    Renamed {
        id: i64,
        title: String,
    },
    Error(String),
    /// Tab `tab`'s conversation was written to this file (or why not).
    Exported {
        tab: u64,
        written: Result<String, String>,
    },
    /// Where the last copy went, or why nothing was copied.
    Copied(Result<super::clipboard::Via, String>),
}

pub struct App {
    pub tabs: Vec<Tab>,
    pub active: usize,
    pub focus: Focus,
    pub history: HistoryBrowser,
    pub models: Vec<String>,
    pub model_selected: usize,
    /// The tab and description of the copy under way (for the flash that reports it).
    copying: Option<(u64, String)>,
    /// Tab on a start several completions share: each in turn at every further Tab.
    cycle: Option<Cycle>,
    /// The first line of the help shown (it scrolls when the screen is short).
    pub help_scroll: usize,
    /// What is typed in the find bar (Ctrl-F).
    pub find: String,
    /// What is typed in the model picker: only models containing every word of it are shown.
    pub model_filter: String,
    pub confirm: Option<Confirm>,
    /// Where keys go once the question is answered.
    confirm_from: Focus,
    pub demo: bool,
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
    next_tab_id: u64,
    /// The id of the next turn: each turn's own, never reused.
    next_turn_id: u64,
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
            next_tab_id: 2,
            next_turn_id: 1,
        }
    }

    /// A short sentence about the last action, shown in the active tab's note line until the
    /// next action or [`FLASH_FOR`] has passed (see [`App::expire_flashes`]).
    fn say(&mut self, text: impl Into<String>) {
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

    fn tab_by_id(&mut self, id: u64) -> Option<(usize, &mut Tab)> {
        self.tabs.iter_mut().enumerate().find(|(_, t)| t.id == id)
    }

    /// The tab running turn `turn`, if one still is.
    fn tab_by_turn(&mut self, turn: u64) -> Option<&mut Tab> {
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
    fn fresh_tab(&mut self) -> Tab {
        let mut tab = Tab::new(self.next_tab_id, &self.default_model);
        self.next_tab_id += 1;
        tab.settings = self.default_settings.clone();
        tab.conversation_settings = self.base_settings.clone();
        tab.system = self.default_system.clone();
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

    fn switch_to(&mut self, index: usize) {
        if index < self.tabs.len() {
            self.leave_messages();
            self.active = index;
            self.tabs[index].unread = false;
        }
    }

    /// Back from selecting messages to the prompt.
    fn leave_messages(&mut self) {
        if self.focus == Focus::Messages {
            self.focus = Focus::Chat;
        }
        if self.tab().selected.is_some() {
            let tab = self.tab_mut();
            tab.selected = None;
        }
    }

    /// Moves the message selection by `delta`, staying within the conversation.
    fn move_selection(&mut self, delta: isize) {
        let tab = self.tab_mut();
        let last = tab.messages.len().saturating_sub(1) as isize;
        let at = tab.selected.map_or(last, |i| i as isize);
        tab.selected = Some((at + delta).clamp(0, last.max(0)) as usize);
    }

    /// The selected message while selecting, else none.
    fn selection(&self) -> Option<usize> {
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
                Focus::History => {
                    self.history.paste(&text);
                    self.search();
                }
                _ => {}
            },
            Event::Mouse(mouse) => match mouse.kind {
                MouseEventKind::ScrollUp => self.on_action(Action::ScrollUp(3)),
                MouseEventKind::ScrollDown => self.on_action(Action::ScrollDown(3)),
                MouseEventKind::Down(crossterm::event::MouseButton::Left)
                    if mouse.row == 0 && matches!(self.focus, Focus::Chat | Focus::Messages) =>
                {
                    if let Some(index) = super::view::tab_at(self, self.width, mouse.column) {
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
        match action {
            Action::Quit => {
                let running = self.tabs.iter().filter(|t| t.streaming).count();
                if running == 0 || matches!(self.confirm, Some(Confirm::Quit { .. })) {
                    self.quit = true;
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
                Focus::Find => {
                    self.focus = Focus::Chat;
                    self.tab_mut().selected = None;
                }
                _ => self.focus = Focus::Chat,
            },
            Action::Regenerate => self.regenerate(),
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
                    let (text, what) = (m.text.clone(), if m.role == Role::User { "the prompt" } else { "the answer" });
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
            Action::OpenFind => {
                if self.focus != Focus::Find {
                    self.focus = Focus::Find;
                    self.find_step(0);
                } else {
                    self.find_step(-1);
                }
            }
            Action::OpenHistory => {
                self.focus = Focus::History;
                self.history.field.select_all();
                self.search();
            }
            Action::OpenHelp => {
                self.focus = Focus::Help;
                self.help_scroll = 0;
            }
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
                let theme = super::theme::current().toggled();
                super::theme::set(theme);
                // Rendered messages carry the old theme's styles: render them again.
                for tab in &mut self.tabs {
                    tab.revision += 1;
                }
                let name = match theme.name {
                    super::theme::ThemeName::Dark => "dark",
                    super::theme::ThemeName::Light => "light",
                };
                self.say(format!("The {name} theme (F3 switches)."));
            }
            Action::OpenModels => {
                self.picking_roles = false;
                self.focus = Focus::ModelPicker;
                self.model_filter.clear();
                self.model_selected = self.shown_models().iter().position(|m| *m == self.tab().model).unwrap_or(0);
                if self.models.is_empty() {
                    self.commands.push(Command::LoadModels);
                }
            }
            Action::ScrollUp(n) | Action::ScrollDown(n) if self.focus == Focus::Help => {
                let n = n.max(1);
                self.help_scroll = match action {
                    Action::ScrollUp(_) => self.help_scroll.saturating_sub(n),
                    _ => self.help_scroll + n,
                };
            }
            Action::ScrollTop if self.focus == Focus::Help => self.help_scroll = 0,
            Action::ScrollBottom if self.focus == Focus::Help => self.help_scroll = usize::MAX,
            Action::ScrollUp(n) => match self.focus {
                Focus::History => {
                    self.history.move_selection(-(n.max(1) as isize));
                    self.preview();
                }
                Focus::ModelPicker => self.move_model(-(n.max(1) as isize)),
                Focus::Messages => self.move_selection(-(MESSAGES_PER_PAGE as isize)),
                _ => {
                    let n = if n == 0 { page.saturating_sub(2).max(1) } else { n };
                    self.tab_mut().scroll_up(n, page);
                }
            },
            Action::ScrollDown(n) => match self.focus {
                Focus::History => {
                    self.history.move_selection(n.max(1) as isize);
                    self.preview();
                }
                Focus::ModelPicker => self.move_model(n.max(1) as isize),
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
                match self.focus {
                    Focus::Find => self.find_step(delta),
                    Focus::Messages => self.move_selection(delta),
                    Focus::History => {
                        self.history.move_selection(delta);
                        self.preview();
                    }
                    Focus::ModelPicker => self.move_model(delta),
                    Focus::Help => self.help_scroll = self.help_scroll.saturating_add_signed(delta),
                    _ => {}
                }
            }
            Action::Select => match self.focus {
                Focus::History => {
                    if let Some(id) = self.history.selected_id() {
                        self.focus = Focus::Chat;
                        self.open(id);
                    }
                }
                Focus::ModelPicker if self.picking_roles => {
                    self.focus = Focus::Chat;
                    if let Some(role) = self.shown_models().get(self.model_selected).map(|r| r.to_string()) {
                        self.set_role(Some(&role));
                    }
                }
                Focus::ModelPicker => {
                    if let Some(model) = self.shown_models().get(self.model_selected).map(|m| m.to_string()) {
                        self.tab_mut().model = model.clone();
                        self.say(format!("This tab now uses {model}."));
                    }
                    self.focus = Focus::Chat;
                }
                _ => {}
            },
            Action::Delete => {
                if let Some(row) = self.history.rows.get(self.history.selected) {
                    let (id, title) = (row.conversation_id, row.title.clone());
                    self.ask(Confirm::DeleteConversation { id, title });
                }
            }
            Action::Yes => {
                self.focus = self.confirm_from;
                match self.confirm.take() {
                    Some(Confirm::DeleteConversation { id, .. }) => self.commands.push(Command::Delete { id }),
                    Some(Confirm::CloseTab { tab, .. }) => {
                        if let Some(index) = self.tabs.iter().position(|t| t.id == tab) {
                            self.close_tab_at(index);
                        }
                    }
                    Some(Confirm::Quit { .. }) => self.quit = true,
                    None => {}
                }
            }
            Action::No => {
                self.confirm = None;
                self.focus = self.confirm_from;
            }
            Action::Input(key) => self.type_key(key),
        }
    }

    fn type_key(&mut self, key: KeyEvent) {
        if self.focus == Focus::Messages {
            // Typing goes back to the prompt.
            self.leave_messages();
        }
        match self.focus {
            Focus::Chat => {
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
            Focus::Find => {
                if !edit_line(&mut self.find, key) {
                    return;
                }
                self.find_step(0);
            }
            Focus::ModelPicker => {
                if !edit_line(&mut self.model_filter, key) {
                    return;
                }
                self.model_selected = 0;
            }
            Focus::History => {
                if !self.history.edit(key) {
                    return;
                }
                self.search();
            }
            _ => {}
        }
    }

    /// What ↑ goes through: this tab's prompts, newest first, then those asked anywhere before.
    fn recall_entries(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        let own = self.tab().messages.iter().rev().filter(|m| m.role == Role::User).map(|m| m.text.as_str());
        own.chain(self.past_prompts.iter().map(String::as_str)).filter(|p| seen.insert(*p)).collect()
    }

    /// ↑ (`step` 1) shows the prompt before the one recalled, ↓ (-1) the one after; ↓ from the
    /// newest empties the prompt again.
    fn recall(&mut self, step: isize) {
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
        tab.recall = Some(super::tab::Recall { at: at as usize, shown: text });
    }

    /// The messages of this tab that contain what the find bar holds (any case).
    pub fn find_matches(&self) -> Vec<usize> {
        let needle = self.find.to_lowercase();
        if needle.is_empty() {
            return Vec::new();
        }
        let tab = self.tab();
        (0..tab.messages.len()).filter(|&i| tab.messages[i].text.to_lowercase().contains(&needle)).collect()
    }

    /// Selects a message that matches: the latest one (`step` 0, as the text changes), or the
    /// one before (-1) or after (1) the message selected now, staying at the ends.
    fn find_step(&mut self, step: isize) {
        let matches = self.find_matches();
        let current = self.tab().selected;
        let chosen = match (step, current) {
            (0, _) | (_, None) => matches.last().copied(),
            (s, Some(at)) if s < 0 => matches.iter().rev().find(|&&i| i < at).or(matches.first()).copied(),
            (_, Some(at)) => matches.iter().find(|&&i| i > at).or(matches.last()).copied(),
        };
        self.tab_mut().selected = chosen;
    }

    /// The models the picker shows: those containing every word typed (any case), in order.
    /// What the picker lists, filtered by what is typed: the models, or the roles (and "none"
    /// when the tab has one).
    pub fn shown_models(&self) -> Vec<&str> {
        let words: Vec<String> = self.model_filter.split_whitespace().map(str::to_lowercase).collect();
        let items: Vec<&str> = if self.picking_roles {
            let none = self.tab().role.is_some().then_some("none");
            self.roles.iter().map(|r| r.name.as_str()).chain(none).collect()
        } else {
            self.models.iter().map(String::as_str).collect()
        };
        items
            .into_iter()
            .filter(|m| {
                let m = m.to_lowercase();
                words.iter().all(|w| m.contains(w.as_str()))
            })
            .collect()
    }

    fn move_model(&mut self, delta: isize) {
        let shown = self.shown_models().len();
        if shown > 0 {
            let last = shown as isize - 1;
            self.model_selected = (self.model_selected as isize + delta).clamp(0, last) as usize;
        }
    }

    fn search(&mut self) {
        let generation = self.history.query_changed();
        self.commands.push(Command::Search { query: self.history.query.clone(), generation });
    }

    fn preview(&mut self) {
        if let Some(id) = self.history.selected_id()
            && self.history.preview.as_ref().map(|(p, _)| *p) != Some(id)
        {
            self.commands.push(Command::Preview { id });
        }
    }

    /// `c` on a selected message: copies its first code block, then the next at each press.
    fn copy_next_block(&mut self) {
        let Some(index) = self.selection() else { return };
        let blocks = code_blocks(&self.tab().messages[index].text);
        if blocks.is_empty() {
            self.say("This message has no code block.");
            return;
        }
        let tab = self.tab_mut();
        let next = match tab.copied_block {
            Some((i, b)) if i == index => (b + 1) % blocks.len(),
            _ => 0,
        };
        tab.copied_block = Some((index, next));
        let what = format!("code block {} of {}", next + 1, blocks.len());
        self.copy(blocks[next].clone(), &what);
    }

    /// Asks for `text` to be copied; the flash says where it went once it has ([`AppEvent::Copied`]).
    fn copy(&mut self, text: String, what: &str) {
        self.copying = Some((self.tab().id, format!("{what} ({} characters)", text.chars().count())));
        self.commands.push(Command::Copy { text });
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

    /// Opens a y/n question; keys go back where they were once it is answered.
    fn ask(&mut self, confirm: Confirm) {
        if self.focus != Focus::Confirm {
            self.confirm_from = self.focus;
        }
        self.confirm = Some(confirm);
        self.focus = Focus::Confirm;
    }

    fn close_tab(&mut self) {
        self.close_tab_at(self.active);
    }

    fn close_tab_at(&mut self, index: usize) {
        self.leave_messages();
        let id = self.tabs[index].id;
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
    fn open(&mut self, id: i64) {
        match self.tabs.iter().position(|t| t.conversation_id == Some(id)) {
            Some(index) => {
                self.switch_to(index);
                self.say(format!("Conversation {id} is open in tab {}.", index + 1));
            }
            None => self.commands.push(Command::Open { id }),
        }
    }

    /// Enter: commands (`/system`) or a prompt (an edited prompt starts a branch).
    fn send(&mut self) {
        let text = self.tab().input_text();
        let prompt = text.trim();
        if prompt.is_empty() {
            return;
        }
        let prompt = match super::slash::parse(prompt) {
            None => prompt.to_owned(),
            Some(Slash::Literal(text)) => text,
            Some(command) => return self.slash(command),
        };
        let prompt = prompt.as_str();
        if self.tab().streaming {
            self.say("An answer is still being written: wait, or press Esc to stop it.");
            return;
        }
        // `@path` words that name files not attached yet are read first; the prompt goes after.
        let unread: Vec<std::path::PathBuf> = super::slash::at_paths(prompt)
            .into_iter()
            .filter(|p| {
                let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                !self.tab().pending.iter().any(|a| a.path.as_ref() == Some(&p))
            })
            .collect();
        if !unread.is_empty() {
            let tab = self.tab().id;
            self.commands.push(Command::Attach { tab, paths: unread, then_send: true });
            return;
        }
        let prompt = prompt.to_owned();
        let id = self.tab().id;
        let attachments = std::mem::take(&mut self.tab_mut().pending);
        self.tab_mut().recall = None;
        self.past_prompts.retain(|p| *p != prompt);
        self.past_prompts.insert(0, prompt.clone());
        let branch = match self.tab_mut().editing.take() {
            Some(Editing { prompt_id, draft }) => {
                // The draft put aside for the edit comes back.
                match draft {
                    Some(draft) => {
                        self.tab_mut().set_input(&draft);
                        self.say("Sent as a new branch; your unsent draft is back in the prompt.");
                    }
                    None => self.tab_mut().clear_input(),
                }
                Branch::Edit { prompt_id }
            }
            None => {
                self.tab_mut().clear_input();
                Branch::Continue
            }
        };
        self.start(id, prompt, branch, attachments);
    }

    /// Carries out a slash command typed in the prompt. The prompt is emptied when it worked;
    /// a mistake (an unknown command, a missing argument) stays there to be corrected.
    fn slash(&mut self, command: Slash) {
        let done = match command {
            Slash::Help => {
                self.focus = Focus::Help;
                self.help_scroll = 0;
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
                if self.tab().streaming {
                    self.say("An answer is still being written: wait, or press Esc to stop it.");
                    false
                } else {
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
                    "No settings in this tab (the model's defaults): /set NAME VALUE (temperature, top-p, max-tokens, seed, stop, thinking, thoughts, search, url-context).".to_owned()
                } else {
                    format!("This tab: {summary}.")
                });
                true
            }
            Slash::Set(Some((name, value))) => {
                // A switch alone flips what the tab sends now, wherever that came from.
                let current = self.tab_settings();
                let value = match name.as_str() {
                    "search" | "url-context" | "urlcontext" if matches!(value.as_str(), "" | "toggle") => {
                        let on = if name == "search" { current.search } else { current.url_context };
                        if on == Some(true) { "off" } else { "on" }.to_owned()
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
    fn set_setting(&mut self, name: &str, value: &str) -> bool {
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

    /// `/role NAME`: the tab answers as role NAME from now on (its prompt as the system prompt,
    /// its model; its settings under the tab's own); `none` goes back to no role; alone, the
    /// list of roles.
    fn set_role(&mut self, name: Option<&str>) -> bool {
        let Some(name) = name else {
            if self.roles.is_empty() {
                self.say(
                    "No roles are defined: add [roles.NAME] to the config file, or a roles/NAME.md file beside it.",
                );
                return true;
            }
            // The picker: the tab's role first in view, type to filter, Enter takes one.
            self.picking_roles = true;
            self.focus = Focus::ModelPicker;
            self.model_filter.clear();
            let current = self.tab().role.clone();
            self.model_selected = self.shown_models().iter().position(|r| Some(*r) == current.as_deref()).unwrap_or(0);
            return true;
        };
        if name == "none" {
            let system = self.default_system.clone();
            let tab = self.tab_mut();
            tab.role = None;
            tab.system = system;
            self.say("No role in this tab; the system prompt is the default again.");
            return true;
        }
        let Some(role) = self.roles.iter().find(|r| r.name == name).cloned() else {
            self.say(crate::chat::unknown_role(name, &self.roles));
            return false;
        };
        apply_role(self.tab_mut(), &role);
        let model = role.model.as_deref().map(|m| format!(" on {m}")).unwrap_or_default();
        let template = if role.is_template() { " (your text fills in its template)" } else { "" };
        self.say(format!("This tab now answers as {}{model}{template}.", role.name));
        true
    }

    /// `/thinking LEVEL`: checked against the tab's model at once; alone, says what it is.
    fn set_thinking(&mut self, level: Option<&str>) -> bool {
        let Some(level) = level else {
            let shown = match self.tab_settings().thinking {
                Some(t) => format!("Thinking: {t} in this tab (/thinking off|low|medium|high|N changes it)."),
                None => "Thinking: the model's default (/thinking off|low|medium|high|N changes it).".to_owned(),
            };
            self.say(shown);
            return true;
        };
        let parsed = level.parse::<crate::llm::Thinking>();
        let checked = parsed.and_then(|t| crate::gemini::thinking::thinking_config(&self.tab().model, t).map(|_| t));
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

    /// `t` on a selected answer: folds or unfolds its thoughts.
    fn toggle_thoughts(&mut self) {
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
    fn not_saved_yet(&self) -> &'static str {
        if self.tab().streaming {
            "the conversation is saved once this first answer ends; try again then."
        } else {
            "the conversation starts with the first answer."
        }
    }

    /// Tab in the prompt: completes a command name; anywhere else it is typed.
    fn complete(&mut self, key: KeyEvent) {
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
        if let Some(completed) = super::slash::complete_role(&text, &self.roles) {
            self.tab_mut().set_input(&completed);
            return;
        }
        let roles = super::slash::role_completions(&text, &self.roles);
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
            if let Some(completed) = super::slash::complete_path(&text[at..]) {
                self.tab_mut().set_input(&format!("{}{completed}", &text[..at]));
                return;
            }
            let paths = super::slash::path_candidates(&text[at..]);
            if paths.len() > 1 {
                let names = paths.iter().map(|p| p.rsplit_once('/').map_or(p.as_str(), |(_, n)| n).to_owned());
                let names = paths.iter().zip(names).map(|(p, n)| if n.is_empty() { p.clone() } else { n }).collect();
                let texts = paths.iter().map(|p| format!("{}{p}", &text[..at])).collect();
                self.start_cycle(text, texts, names);
            }
            return;
        }
        match super::slash::complete(&text) {
            Some(completed) => self.tab_mut().set_input(&completed),
            None if text.starts_with('/') => {
                let commands = super::slash::completions(&text);
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
    fn start_cycle(&mut self, text: String, texts: Vec<String>, shown: Vec<String>) {
        self.say(format!("{} · Tab again takes each in turn", shown.join("  ")));
        self.cycle = Some(Cycle { tab: self.tab().id, texts, next: 0, last: text });
    }

    /// While a command name is being typed: the commands it could become, for the note line.
    pub fn slash_hint(&self) -> Option<String> {
        if self.focus != Focus::Chat {
            return None;
        }
        let roles = super::slash::role_completions(&self.tab().input_text(), &self.roles);
        if !roles.is_empty() {
            return Some(format!("{} · Tab completes", roles.join("  ")));
        }
        let matches = super::slash::completions(&self.tab().input_text());
        match matches.as_slice() {
            [] => None,
            [one] => Some(format!("{} {} · {} · Tab completes", one.name, one.args, one.what)),
            many => Some(format!("{} · Tab completes", many.iter().map(|c| c.name).collect::<Vec<_>>().join("  "))),
        }
    }

    /// The prompt that regenerate or edit acts on: the selected message's, else the last.
    fn target_prompt(&self) -> Option<usize> {
        let tab = self.tab();
        match self.selection() {
            Some(i) => tab.prompt_of(i),
            None => tab.messages.iter().rposition(|m| m.role == Role::User),
        }
    }

    /// Checks that a saved prompt can start a branch now; says why not otherwise.
    fn branchable(&mut self, prompt: Option<usize>, what: &str) -> Option<(usize, i64)> {
        let tab = self.tab();
        let found = prompt.and_then(|i| Some((i, tab.messages[i].id?)));
        let why = if tab.streaming {
            "An answer is still being written: wait, or press Esc to stop it."
        } else if prompt.is_none() {
            "There is no prompt here yet."
        } else if found.is_none() || tab.conversation_id.is_none() {
            "This prompt was not saved in the history, so it cannot be answered again or edited."
        } else {
            return found;
        };
        self.say(format!("Cannot {what}: {}", why.to_lowercase()));
        None
    }

    /// Ctrl-G / r: the prompt is asked again; the new answer replaces the one shown.
    fn regenerate(&mut self) {
        let Some((_, prompt_id)) = self.branchable(self.target_prompt(), "regenerate") else { return };
        self.leave_messages();
        let id = self.tab().id;
        self.start(id, String::new(), Branch::Regenerate { prompt_id }, Vec::new());
    }

    /// Ctrl-E / e: the prompt goes into the input for editing; a draft there is put aside.
    fn begin_edit(&mut self) {
        let Some((index, prompt_id)) = self.branchable(self.target_prompt(), "edit") else { return };
        self.leave_messages();
        let mut text = self.tab().messages[index].text.clone();
        // A template role filled this prompt in: the user edits what they typed, which sending
        // fills in again (editing the filled-in text would wrap it in the template twice).
        let role = self.tab().role.as_ref().and_then(|name| self.roles.iter().find(|r| &r.name == name));
        if let Some(input) = role.and_then(|role| role.input_of(&text)) {
            text = input;
        }
        let tab = self.tab_mut();
        let draft = match tab.editing.take() {
            Some(previous) => previous.draft,
            None => Some(tab.input_text()).filter(|t| !t.trim().is_empty()),
        };
        let kept = draft.is_some();
        tab.editing = Some(Editing { prompt_id, draft });
        tab.set_input(&text);
        self.say(if kept {
            "Editing: Enter sends it as a new branch, Esc cancels. Your draft is kept and comes back after."
        } else {
            "Editing: Enter sends it as a new branch, Esc cancels."
        });
    }

    /// Esc while editing: the prompt goes back to what it held before.
    fn cancel_edit(&mut self) {
        let tab = self.tab_mut();
        if let Some(editing) = tab.editing.take() {
            match editing.draft {
                Some(draft) => tab.set_input(&draft),
                None => tab.clear_input(),
            }
            self.say("Edit cancelled.");
        }
    }

    /// [ / ]: another alternative of the selected message, else of the last answer.
    fn alternative(&mut self, step: isize) {
        let tab = self.tab();
        let index = self.selection().or_else(|| tab.messages.iter().rposition(|m| m.role == Role::Model));
        let Some(message) = index.and_then(|i| tab.messages.get(i)) else {
            self.say("There is no answer here yet.");
            return;
        };
        let what = if message.role == Role::User { "prompt" } else { "answer" };
        let flash = if tab.streaming {
            Some("An answer is still being written: wait, or press Esc to stop it.".to_owned())
        } else if message.alternatives.count <= 1 {
            Some(format!("This {what} has no alternatives (Ctrl-G regenerates an answer, Ctrl-E edits a prompt)."))
        } else if (step < 0 && message.alternatives.index == 1)
            || (step > 0 && message.alternatives.index == message.alternatives.count)
        {
            let end = if step < 0 { "first" } else { "last" };
            Some(format!("This is the {end} of {} alternatives.", message.alternatives.count))
        } else {
            None
        };
        if let Some(flash) = flash {
            self.say(flash);
            return;
        }
        if let Some(message_id) = message.id {
            let tab = tab.id;
            self.commands.push(Command::SwitchAlternative { tab, message_id, step });
        }
    }

    fn start(&mut self, tab_id: u64, prompt: String, branch: Branch, attachments: Vec<Attachment>) {
        let turn = self.next_turn_id;
        let Some((_, tab)) = self.tab_by_id(tab_id) else { return };
        // What a deleted conversation left on screen goes: this prompt starts a new one.
        let branch = if tab.unsaved {
            tab.forget_conversation();
            Branch::Continue
        } else {
            branch
        };
        let infos: Vec<crate::domain::AttachmentInfo> = attachments.iter().map(|a| a.info.clone()).collect();
        let position = |tab: &Tab, id: i64| tab.messages.iter().position(|m| m.id == Some(id));
        let next = |a: Alternatives| Alternatives { index: a.count + 1, count: a.count + 1 };
        let mut answer = ChatMessage::answer(&tab.model);
        let prompt = match branch {
            Branch::Continue => {
                if tab.messages.is_empty() {
                    tab.title = crate::store::title_from(&prompt);
                }
                let mut message = ChatMessage::user(prompt.clone());
                message.attachments = infos;
                tab.messages.push(message);
                prompt
            }
            Branch::Regenerate { prompt_id } => {
                let Some(index) = position(tab, prompt_id) else { return };
                if let Some(old) = tab.answer_of(index) {
                    answer.alternatives = next(tab.messages[old].alternatives);
                }
                tab.messages.truncate(index + 1);
                tab.messages[index].text.clone()
            }
            Branch::Edit { prompt_id } => {
                let Some(index) = position(tab, prompt_id) else { return };
                let alternatives = next(tab.messages[index].alternatives);
                // An edited prompt keeps what the original had attached.
                let mut kept = std::mem::take(&mut tab.messages[index].attachments);
                tab.messages.truncate(index);
                let mut edited = ChatMessage::user(prompt.clone());
                edited.alternatives = alternatives;
                kept.extend(infos);
                edited.attachments = kept;
                tab.messages.push(edited);
                prompt
            }
        };
        tab.messages.push(answer);
        tab.revision += 1;
        tab.selected = None;
        tab.streaming = true;
        tab.turn = Some(turn);
        tab.error = None;
        tab.notice = None;
        tab.scroll_from_bottom = 0;
        self.next_turn_id += 1;
        self.commands.push(Command::Send { tab: tab_id, turn, prompt, branch, attachments });
    }

    /// Handles what the runner reports.
    pub fn on_event(&mut self, event: AppEvent) {
        self.dirty = true;
        let active_id = self.tab().id;
        match event {
            AppEvent::Turn { turn, shown } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let tab = t.id;
                if let Shown::Saved { conversation_id, prompt_id } = shown {
                    // Known now, not when the answer ends: deleting it stops this turn first.
                    t.conversation_id = Some(conversation_id);
                    let count = t.messages.len();
                    if count >= 2 && t.messages[count - 2].role == Role::User {
                        t.messages[count - 2].id = Some(prompt_id);
                    }
                    return;
                }
                let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) else { return };
                match shown {
                    Shown::Text(text) => {
                        answer.text.push_str(&text);
                        t.notice = None;
                        t.retrying = false;
                    }
                    Shown::Thought(text) => {
                        if !answer.thoughts.is_empty() && !answer.thoughts.ends_with('\n') {
                            answer.thoughts.push('\n');
                        }
                        answer.thoughts.push_str(&text);
                        t.revision += 1;
                    }
                    Shown::Restart => {
                        answer.text.clear();
                        answer.thoughts.clear();
                        t.revision += 1;
                        t.notice = Some("The answer was cut off and starts again.".into());
                    }
                    // Said once, in the tab's own line, and kept out of the running notice.
                    Shown::Notice(crate::chat::Notice::ContextTrimmed(trimmed)) => {
                        t.flash = Some(Flash { text: trimmed.to_string(), at: std::time::Instant::now() });
                    }
                    Shown::Notice(notice) => {
                        t.retrying = matches!(notice, crate::chat::Notice::Retrying { .. });
                        t.notice = Some(notice.to_string());
                    }
                    Shown::Saved { .. } => {}
                }
                if tab != active_id {
                    t.unread = true;
                }
            }
            AppEvent::TurnDone { turn, report } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let tab = t.id;
                t.streaming = false;
                t.turn = None;
                t.notice = None;
                t.retrying = false;
                // Deleted while the answer was written (the runner asked the store): the answer
                // stays on screen, said unsaved, and the next prompt starts a new conversation.
                let gone = match &report.save_error {
                    Some(crate::store::StoreError::NoConversation { id }) => Some(*id),
                    _ => None,
                };
                if gone.is_none() && report.conversation_id.is_some() {
                    t.conversation_id = report.conversation_id;
                }
                if let Some(u) = report.usage {
                    // What the next request sends again: this prompt and this answer.
                    t.context_used = Some(u64::from(u.prompt_token_count) + u64::from(u.candidates_token_count));
                    // Thinking tokens are billed as output: they count too.
                    t.tokens += u64::from(u.prompt_token_count)
                        + u64::from(u.candidates_token_count)
                        + u64::from(u.thoughts_token_count);
                }
                let count = t.messages.len();
                if count >= 2 && t.messages[count - 2].role == Role::User && report.prompt_id.is_some() {
                    t.messages[count - 2].id = report.prompt_id;
                }
                if let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) {
                    answer.id = report.answer_id;
                    answer.text = report.text.clone();
                    answer.thoughts = report.thoughts.clone();
                    answer.grounding = report.grounding.clone();
                    answer.cached = report.cached;
                    answer.cost = (report.usage.is_some() || report.cached).then(|| report.cost.clone());
                    answer.status = report.status;
                    t.revision += 1;
                    if let Outcome::Failed(e) = &report.outcome {
                        answer.error = Some(e.to_string());
                        t.error = Some(e.to_string());
                    }
                }
                if let Some(id) = gone {
                    t.conversation_id = None;
                    t.unsaved = true;
                    t.error = Some(format!(
                        "Conversation {id} was deleted while this answer was written: it is shown here but not saved; your next prompt starts a new conversation."
                    ));
                } else if let Some(e) = &report.save_error {
                    t.error = Some(e.to_string());
                }
                if tab != active_id {
                    t.unread = true;
                }
            }
            AppEvent::ConversationGone { turn, conversation_id, prompt, attachments } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let typed = t.input_text();
                let back = match prompt {
                    Some(prompt) if typed.trim().is_empty() => prompt,
                    Some(prompt) => format!("{prompt}\n{typed}"),
                    None => typed,
                };
                t.forget_conversation();
                t.set_input(&back);
                let mut kept = attachments;
                kept.append(&mut t.pending);
                t.pending = kept;
                t.error = Some(format!(
                    "Conversation {conversation_id} was deleted; your prompt was not sent and is back in the input: send it again to start a new conversation."
                ));
                if t.id != active_id {
                    t.unread = true;
                }
            }
            AppEvent::Attached { tab, attachments, errors, then_send } => {
                let Some((_, t)) = self.tab_by_id(tab) else { return };
                for a in attachments {
                    if !t.pending.iter().any(|p| p.info.sha256 == a.info.sha256 && p.info.name == a.info.name) {
                        t.pending.push(a);
                    }
                }
                if let Some(first) = errors.into_iter().next() {
                    t.flash = Some(Flash { text: first, at: std::time::Instant::now() });
                } else if then_send && tab == active_id && self.focus == Focus::Chat {
                    self.send();
                }
            }
            AppEvent::Uploading { turn, progress } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let percent = (progress.sent * 100).checked_div(progress.total).unwrap_or(100);
                t.notice = Some(format!(
                    "Uploading {}: {percent}% of {}…",
                    crate::sanitize::one_line(&progress.name, 40),
                    crate::format::bytes(progress.total)
                ));
            }
            AppEvent::TurnFailedToStart { turn, message } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                t.streaming = false;
                t.turn = None;
                if let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) {
                    answer.status = MessageStatus::Error;
                    answer.error = Some(message.clone());
                    t.revision += 1;
                }
                t.error = Some(message);
            }
            AppEvent::SearchResults { generation, rows } => {
                if self.history.results(generation, rows) {
                    self.preview();
                }
            }
            AppEvent::Preview { id, messages } => {
                if self.history.selected_id() == Some(id) {
                    self.history.preview = Some((id, messages));
                }
            }
            AppEvent::Opened { id, title, model, system, settings, messages } => {
                if let Some(index) = self.tabs.iter().position(|t| t.conversation_id == Some(id)) {
                    self.switch_to(index);
                    return;
                }
                let base = self.base_settings.clone();
                let tab = if self.tab().messages.is_empty() && !self.tab().streaming {
                    self.tab_mut()
                } else {
                    self.new_tab()
                };
                tab.show(id, title, model, system, messages);
                // The tab shows and sends what the conversation was saved with.
                tab.conversation_settings = settings.unwrap_or(base);
            }
            AppEvent::Reloaded { tab, conversation_id, messages, chosen } => {
                let selecting = self.focus == Focus::Messages && self.tab().id == tab;
                let Some((_, t)) = self.tab_by_id(tab) else { return };
                if t.conversation_id != Some(conversation_id) || t.streaming {
                    return;
                }
                t.messages = messages.into_iter().map(ChatMessage::from).collect();
                t.revision += 1;
                let at = t.messages.iter().position(|m| m.id == Some(chosen));
                t.selected = if selecting { at } else { None };
                if !selecting {
                    t.scroll_from_bottom = 0;
                }
                if let Some(m) = at.map(|i| &t.messages[i]) {
                    // Said in the tab that changed, whichever tab is shown now.
                    let what = if m.role == Role::User { "Prompt" } else { "Answer" };
                    let text = format!("{what} {} of {}.", m.alternatives.index, m.alternatives.count);
                    t.flash = Some(Flash { text, at: std::time::Instant::now() });
                }
            }
            AppEvent::Deleted { id } => {
                self.say(format!("Deleted conversation {id}."));
                // A tab showing it closes; one holding an unsent draft keeps the draft and starts afresh.
                while let Some(index) = self.tabs.iter().position(|t| t.conversation_id == Some(id)) {
                    let tab = &mut self.tabs[index];
                    if tab.input_is_empty() {
                        self.close_tab_at(index);
                    } else {
                        if tab.streaming {
                            let tab_id = tab.id;
                            self.commands.push(Command::Cancel { tab: tab_id });
                        }
                        tab.forget_conversation();
                        tab.notice =
                            Some(format!("Conversation {id} was deleted; your draft is kept and starts a new one."));
                    }
                }
                self.search();
            }
            AppEvent::Models(Ok(mut models)) => {
                models.sort_by_key(|m| model_order(m));
                self.models = models;
                self.model_selected = self.shown_models().iter().position(|m| *m == self.tab().model).unwrap_or(0);
            }
            AppEvent::Renamed { id, title } => {
                for tab in self.tabs.iter_mut().filter(|t| t.conversation_id == Some(id)) {
                    tab.title = title.clone();
                }
                self.say(format!("Renamed to “{}”.", crate::sanitize::one_line(&title, 40)));
            }
            AppEvent::TabRole { conversation_id, role } => {
                if let Some(t) = self.tabs.iter_mut().find(|t| t.conversation_id == Some(conversation_id)) {
                    t.role = role;
                    self.dirty = true;
                }
            }
            AppEvent::InputLimits(limits) => {
                self.input_limits = limits;
                self.dirty = true;
            }
            AppEvent::Prompts(prompts) => {
                // Prompts sent since the load began stay first.
                for p in prompts {
                    if !self.past_prompts.contains(&p) {
                        self.past_prompts.push(p);
                    }
                }
            }
            AppEvent::Models(Err(e)) | AppEvent::Error(e) => {
                self.tab_mut().error = Some(e);
                if self.focus == Focus::ModelPicker {
                    self.focus = Focus::Chat;
                }
            }
            AppEvent::Exported { tab, written } => {
                let said = written.unwrap_or_else(|why| why);
                if let Some((_, t)) = self.tab_by_id(tab) {
                    t.flash = Some(Flash { text: said, at: std::time::Instant::now() });
                }
            }
            AppEvent::Copied(copied) => {
                let Some((tab, what)) = self.copying.take() else { return };
                let said = match copied {
                    Ok(via) => format!("Copied {what} {}.", via.said()),
                    Err(why) => why,
                };
                if let Some((_, t)) = self.tab_by_id(tab) {
                    t.flash = Some(Flash { text: said, at: std::time::Instant::now() });
                }
            }
        }
    }
}

/// The last fenced code block of a markdown text (its content, without the fences).
pub fn last_code_block(text: &str) -> Option<String> {
    code_blocks(text).pop()
}

/// A one-line text field (history search, find, model filter) takes a typed character or a
/// Backspace; false for any other key (the field does not take it).
fn edit_line(text: &mut String, key: KeyEvent) -> bool {
    use crossterm::event::KeyCode;
    match key.code {
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
        KeyCode::Backspace => {
            text.pop();
        }
        _ => return false,
    }
    true
}

/// How the model picker orders models: the `-latest` aliases first, then the numbered
/// families newest first (gemini-3 before gemini-2.5 before gemini-2.0), then the rest, each
/// group by name.
fn model_order(name: &str) -> (u8, std::cmp::Reverse<(u32, u32)>, String) {
    let version = name.strip_prefix("gemini-").and_then(|rest| rest.split('-').next()).and_then(|v| {
        let mut parts = v.split('.');
        let major = parts.next()?.parse().ok()?;
        Some((major, parts.next().and_then(|m| m.parse().ok()).unwrap_or(0)))
    });
    let group = if name.ends_with("-latest") {
        0
    } else if version.is_some() {
        1
    } else {
        2
    };
    (group, std::cmp::Reverse(version.unwrap_or((0, 0))), name.to_owned())
}

/// Every fenced code block of `text`, in order, without its fences.
pub fn code_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(lines) => blocks.push(lines.join("\n")),
                None => current = Some(Vec::new()),
            }
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    blocks
}

/// Makes `role` the tab's: its prompt the tab's system prompt (a template gives none), its model
/// the tab's model.
fn apply_role(tab: &mut Tab, role: &crate::chat::NamedRole) {
    if role.prompt.is_some() {
        tab.system = role.system_instruction().map(str::to_owned);
    }
    if let Some(model) = &role.model {
        tab.model = model.clone();
    }
    tab.role = Some(role.name.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ApiError;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            app.on_terminal(key(KeyCode::Char(c)));
        }
    }

    /// A turn's report as `ChatSession` gives it (status as the turn state machine decides it).
    fn report(text: &str, outcome: Outcome) -> Box<TurnReport> {
        report_ids(text, outcome, 1, 2)
    }

    fn report_ids(text: &str, outcome: Outcome, prompt_id: i64, answer_id: i64) -> Box<TurnReport> {
        let status = match &outcome {
            Outcome::Complete => MessageStatus::Complete,
            Outcome::Cancelled => MessageStatus::Interrupted,
            Outcome::Failed(_) if !text.is_empty() => MessageStatus::Interrupted,
            Outcome::Failed(_) => MessageStatus::Error,
        };
        Box::new(TurnReport {
            conversation_id: Some(7),
            prompt_id: Some(prompt_id),
            answer_id: Some(answer_id),
            text: text.into(),
            outcome,
            status,
            cached: false,
            usage: None,
            cost: Default::default(),
            thoughts: String::new(),
            grounding: None,
            save_error: None,
            answered_by: None,
        })
    }

    use super::super::clipboard::Via;

    fn ctrl(c: char) -> Event {
        Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }

    #[test]
    fn ctrl_x_hands_the_prompt_to_the_editor_and_takes_back_what_it_left() {
        let mut app = App::new("m", false);
        typed(&mut app, "first draft");
        app.on_terminal(ctrl('x'));
        let tab = app.tab().id;
        assert_eq!(app.commands, [Command::EditPrompt { tab, text: "first draft".into() }]);
        app.edited(tab, Ok(Some("first draft\nrewritten at length".into())));
        assert_eq!(app.tab().input_text(), "first draft\nrewritten at length");
        assert!(app.flash().is_some_and(|f| f.contains("back from the editor")));
        // Undo gives the draft back as it was before the editor (the text in, the draft out).
        app.on_terminal(ctrl('z'));
        app.on_terminal(ctrl('z'));
        assert_eq!(app.tab().input_text(), "first draft");
        // A failed editor leaves the prompt alone and says why.
        app.edited(tab, Err("There is no editor nope: set $VISUAL or $EDITOR to one that is installed.".into()));
        assert_eq!(app.tab().input_text(), "first draft");
        assert!(app.flash().is_some_and(|f| f.starts_with("There is no editor nope")));
        app.edited(tab, Ok(None));
        assert_eq!(app.tab().input_text(), "first draft");
    }

    /// An app whose tab 1 is writing an answer to "q".
    fn answering() -> App {
        let mut app = App::new("m", false);
        typed(&mut app, "q");
        app.on_terminal(key(KeyCode::Enter));
        assert!(app.tab().streaming);
        app
    }

    #[test]
    fn ctrl_c_clears_a_typed_prompt_which_ctrl_z_brings_back_and_never_quits() {
        let mut app = App::new("m", false);
        typed(&mut app, "a long question");
        app.on_terminal(ctrl('c'));
        assert!(!app.quit, "text in the prompt: Ctrl-C does not quit");
        assert_eq!(app.tab().input_text(), "");
        assert!(app.flash().unwrap().contains("Ctrl-Z"), "{:?}", app.flash());
        app.on_terminal(ctrl('z'));
        assert_eq!(app.tab().input_text(), "a long question", "restored");
        app.on_terminal(ctrl('u'));
        assert_eq!(app.tab().input_text(), "", "Ctrl-U deletes to the start of the line");
        app.on_terminal(ctrl('c'));
        assert!(app.quit, "an empty prompt and nothing running: Ctrl-C quits");
    }

    #[test]
    fn quitting_with_answers_running_asks_once_and_a_second_press_quits() {
        let mut app = answering();
        app.on_terminal(ctrl('t'));
        typed(&mut app, "r");
        app.on_terminal(key(KeyCode::Enter));
        app.on_terminal(ctrl('q'));
        assert!(!app.quit);
        assert_eq!((app.focus, &app.confirm), (Focus::Confirm, &Some(Confirm::Quit { running: 2 })));
        app.on_terminal(key(KeyCode::Char('n')));
        assert_eq!((app.focus, app.quit), (Focus::Chat, false), "n stays");
        app.on_terminal(ctrl('c'));
        assert!(!app.quit, "asks again");
        app.on_terminal(ctrl('c'));
        assert!(app.quit, "the second press quits");
        let mut app = answering();
        app.on_terminal(ctrl('q'));
        app.on_terminal(key(KeyCode::Char('y')));
        assert!(app.quit, "y quits");
    }

    #[test]
    fn closing_a_tab_with_a_draft_or_a_running_answer_asks_first() {
        let mut app = App::new("m", false);
        app.on_terminal(ctrl('t'));
        typed(&mut app, "unsent draft");
        app.on_terminal(ctrl('w'));
        assert_eq!(
            app.confirm,
            Some(Confirm::CloseTab { tab: app.tabs[1].id, number: 2, running: false, draft: true })
        );
        app.on_terminal(key(KeyCode::Esc));
        assert_eq!((app.tabs.len(), app.tab().input_text(), app.focus), (2, "unsent draft".into(), Focus::Chat));
        app.on_terminal(ctrl('w'));
        app.on_terminal(ctrl('w'));
        assert_eq!(app.tabs.len(), 1, "Ctrl-W twice closes it");

        let mut app = answering();
        app.on_terminal(ctrl('t'));
        app.on_terminal(ctrl('w'));
        assert_eq!((app.tabs.len(), app.confirm.is_none()), (1, true), "an empty idle tab closes at once");
        app.on_terminal(ctrl('w'));
        assert!(matches!(app.confirm, Some(Confirm::CloseTab { running: true, draft: false, .. })));
        app.on_terminal(key(KeyCode::Char('y')));
        assert!(app.commands.contains(&Command::Cancel { tab: 1 }), "its answer is stopped, and so kept");
        assert!(!app.tab().streaming && app.tab().messages.is_empty(), "a fresh tab takes its place");
    }

    #[test]
    fn up_in_an_empty_prompt_recalls_this_tabs_prompts_then_earlier_ones() {
        let mut app = App::new("m", false);
        app.on_event(AppEvent::Prompts(vec!["from yesterday".into(), "second".into(), "older still".into()]));
        for prompt in ["first", "second"] {
            typed(&mut app, prompt);
            app.on_terminal(key(KeyCode::Enter));
            let turn = app.tab().turn.unwrap();
            app.on_event(AppEvent::TurnDone { turn, report: report("ok", Outcome::Complete) });
        }
        let up = |app: &mut App| {
            app.on_terminal(key(KeyCode::Up));
            app.tab().input_text()
        };
        let down = |app: &mut App| {
            app.on_terminal(key(KeyCode::Down));
            app.tab().input_text()
        };
        assert_eq!(up(&mut app), "second");
        assert_eq!(up(&mut app), "first");
        assert_eq!(up(&mut app), "from yesterday", "then history's, each once");
        assert_eq!(up(&mut app), "older still");
        assert_eq!(up(&mut app), "older still", "the oldest stays");
        assert_eq!(app.flash(), Some("No earlier prompt."));
        assert_eq!(down(&mut app), "from yesterday");
        assert_eq!(down(&mut app), "first");
        assert_eq!(down(&mut app), "second");
        assert_eq!(down(&mut app), "", "past the newest: empty again");
        // Once a recalled prompt is changed, the arrows move the cursor in it.
        up(&mut app);
        typed(&mut app, " again");
        assert_eq!(up(&mut app), "second again");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.past_prompts[0], "second again", "a sent prompt is recalled first everywhere");
        app.on_terminal(ctrl('t'));
        assert_eq!(up(&mut app), "second again", "a new tab recalls the other tabs' prompts too");
    }

    #[test]
    fn tabs_are_kept_with_their_drafts_and_put_back_in_order() {
        let mut app = App::new("m", false);
        typed(&mut app, "q");
        app.on_terminal(key(KeyCode::Enter));
        app.on_event(AppEvent::TurnDone { turn: 1, report: report("ok", Outcome::Complete) });
        app.on_terminal(ctrl('t'));
        typed(&mut app, "half a question");
        app.on_terminal(ctrl('t'));
        app.on_terminal(alt(KeyCode::Char('2')));
        let kept = app.open_tabs();
        assert_eq!(
            kept.iter().map(|t| (t.conversation_id, t.draft.as_str(), t.active)).collect::<Vec<_>>(),
            [(Some(7), "", false), (None, "half a question", true), (None, "", false)]
        );
        let stored = |id, role, text: &str| StoredMessage {
            id,
            conversation_id: 7,
            parent_id: None,
            thought_tokens: None,
            thoughts: None,
            grounding: None,
            role,
            text: text.into(),
            model: None,
            status: MessageStatus::Complete,
            error: None,
            cached: false,
            created_at: 0,
            prompt_tokens: None,
            output_tokens: None,
            alternatives: Alternatives::default(),
            attachments: Vec::new(),
            cost: Default::default(),
        };
        let mut fresh = App::new("m", false);
        fresh.tab_mut().system = Some("be brief".into());
        fresh.restore(vec![
            Restored {
                conversation: Some(RestoredConversation {
                    id: 7,
                    title: "q".into(),
                    model: "gemini-2.5-pro".into(),
                    system: None,
                    role: None,
                    settings: None,
                    messages: vec![stored(1, Role::User, "q"), stored(2, Role::Model, "ok")],
                }),
                draft: String::new(),
                active: false,
            },
            Restored { conversation: None, draft: "half a question".into(), active: true },
        ]);
        assert_eq!(fresh.tabs.len(), 2);
        assert_eq!(fresh.active, 1, "the tab that was active");
        assert_eq!(fresh.tab().input_text(), "half a question", "its draft");
        assert_eq!(fresh.tab().system.as_deref(), Some("be brief"), "a new tab gets the configured system prompt");
        let first = &fresh.tabs[0];
        assert_eq!((first.conversation_id, first.model.as_str(), first.messages.len()), (Some(7), "gemini-2.5-pro", 2));
        fresh.open_conversation(7);
        assert_eq!(fresh.active, 0, "opening a restored conversation focuses its tab");
        assert!(fresh.commands.is_empty(), "nothing to load");
    }

    fn enter(app: &mut App, line: &str) {
        typed(app, line);
        app.on_terminal(key(KeyCode::Enter));
    }

    #[test]
    fn slash_commands_act_and_are_never_sent_to_the_model() {
        let mut app = App::new("m", false);
        enter(&mut app, "/system be brief");
        assert_eq!(app.tab().system.as_deref(), Some("be brief"));
        enter(&mut app, "/system");
        assert_eq!(app.tab().system.as_deref(), Some("be brief"), "bare /system shows, it does not clear");
        assert!(app.flash().unwrap().contains("be brief"), "{:?}", app.flash());
        enter(&mut app, "/system clear");
        assert_eq!(app.tab().system, None);
        enter(&mut app, "/model gemini-2.5-pro");
        assert_eq!(app.tab().model, "gemini-2.5-pro");
        enter(&mut app, "/frobnicate the data");
        assert!(app.flash().unwrap().contains("/frobnicate is not a command"), "{:?}", app.flash());
        assert_eq!(app.tab().input_text(), "/frobnicate the data", "kept to be corrected");
        app.on_terminal(ctrl('u'));
        enter(&mut app, "/rename Bird notes");
        assert!(app.flash().unwrap().contains("Nothing to rename yet"), "{:?}", app.flash());
        app.on_terminal(ctrl('u'));
        assert!(app.commands.iter().all(|c| !matches!(c, Command::Send { .. })), "nothing reached the model");
        enter(&mut app, "//etc/hosts: what is it?");
        assert!(app.commands.contains(&Command::Send {
            tab: 1,
            turn: 1,
            prompt: "/etc/hosts: what is it?".into(),
            branch: Branch::Continue,
            attachments: Vec::new(),
        }));
        app.on_event(AppEvent::TurnDone { turn: 1, report: report("A file.", Outcome::Complete) });
        enter(&mut app, "/rename Bird notes");
        assert!(app.commands.contains(&Command::Rename { id: 7, title: "Bird notes".into() }));
        app.on_event(AppEvent::Renamed { id: 7, title: "Bird notes".into() });
        assert_eq!(app.tab().title, "Bird notes");
        enter(&mut app, "/clear");
        assert!(app.tab().messages.is_empty() && app.tab().conversation_id.is_none());
        assert!(app.flash().unwrap().contains("in the history"), "{:?}", app.flash());
        enter(&mut app, "/help");
        assert_eq!(app.focus, Focus::Help);
    }

    #[test]
    fn a_command_completes_as_it_is_typed() {
        let mut app = App::new("m", false);
        typed(&mut app, "/");
        assert!(app.slash_hint().unwrap().contains("/system  /model"), "{:?}", app.slash_hint());
        typed(&mut app, "sy");
        assert!(app.slash_hint().unwrap().starts_with("/system [TEXT | clear]"), "{:?}", app.slash_hint());
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.tab().input_text(), "/system ");
        assert_eq!(app.slash_hint(), None, "the name is whole");
    }

    #[test]
    fn tab_on_an_ambiguous_start_shows_the_candidates_and_then_takes_each_in_turn() {
        let mut app = App::new("m", false);
        typed(&mut app, "/th");
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.tab().input_text(), "/th");
        assert_eq!(app.flash(), Some("/thinking  /thoughts · Tab again takes each in turn"));
        let mut seen = Vec::new();
        for _ in 0..3 {
            app.on_terminal(key(KeyCode::Tab));
            seen.push(app.tab().input_text());
        }
        assert_eq!(seen, ["/thinking ", "/thoughts ", "/thinking "]);
        // Typing ends the round: Tab completes what is typed now.
        app.tab_mut().set_input("/sea");
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.tab().input_text(), "/search ");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report-2025.pdf"), "x").unwrap();
        std::fs::write(dir.path().join("report-2026.pdf"), "x").unwrap();
        let base = format!("{}/", dir.path().display());
        app.tab_mut().set_input(&format!("/attach {base}rep"));
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.tab().input_text(), format!("/attach {base}report-202"), "the shared start first");
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.flash(), Some("report-2025.pdf  report-2026.pdf · Tab again takes each in turn"));
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.tab().input_text(), format!("/attach {base}report-2025.pdf"));
        app.on_terminal(key(KeyCode::Tab));
        assert_eq!(app.tab().input_text(), format!("/attach {base}report-2026.pdf"));
    }

    #[test]
    fn c_on_a_selected_message_copies_each_of_its_code_blocks_in_turn() {
        let mut app = App::new("m", false);
        enter(&mut app, "two snippets");
        let answer = "First:\n```sh\nls -l\n```\nSecond:\n```rust\nfn main() {}\n```\n";
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text(answer.into()) });
        app.on_event(AppEvent::TurnDone { turn: 1, report: report(answer, Outcome::Complete) });
        app.commands.clear();
        app.on_terminal(alt(KeyCode::Up));
        let c = || key(KeyCode::Char('c'));
        app.on_terminal(c());
        assert_eq!(app.commands.last(), Some(&Command::Copy { text: "ls -l".into() }));
        app.on_event(AppEvent::Copied(Ok(Via::Terminal)));
        assert!(app.flash().unwrap().contains("code block 1 of 2"), "{:?}", app.flash());
        app.on_terminal(c());
        assert_eq!(app.commands.last(), Some(&Command::Copy { text: "fn main() {}".into() }));
        app.on_terminal(c());
        assert_eq!(app.commands.last(), Some(&Command::Copy { text: "ls -l".into() }), "round again");
        app.on_terminal(key(KeyCode::Up));
        app.on_terminal(c());
        assert_eq!(app.flash(), Some("This message has no code block."), "the prompt has none");
    }

    #[test]
    fn the_model_picker_sorts_newest_first_and_filters_as_you_type() {
        let mut app = App::new("gemini-2.5-flash", false);
        app.on_action(Action::OpenModels);
        let list = [
            "gemini-2.0-flash",
            "gemma-3-27b-it",
            "gemini-2.5-pro",
            "gemini-flash-latest",
            "gemini-3-pro-preview",
            "gemini-2.5-flash",
        ];
        app.on_event(AppEvent::Models(Ok(list.iter().map(|m| m.to_string()).collect())));
        assert_eq!(
            app.shown_models(),
            [
                "gemini-flash-latest",
                "gemini-3-pro-preview",
                "gemini-2.5-flash",
                "gemini-2.5-pro",
                "gemini-2.0-flash",
                "gemma-3-27b-it"
            ]
        );
        assert_eq!(app.model_selected, 2, "the tab's model is selected");
        typed(&mut app, "PRO");
        assert_eq!(app.shown_models(), ["gemini-3-pro-preview", "gemini-2.5-pro"]);
        typed(&mut app, " 2.5");
        assert_eq!(app.shown_models(), ["gemini-2.5-pro"]);
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.tab().model, "gemini-2.5-pro");
        app.on_action(Action::OpenModels);
        assert_eq!((app.model_filter.as_str(), app.model_selected), ("", 3), "a fresh filter, the new model selected");
    }

    #[test]
    fn ctrl_f_finds_text_in_the_conversation_and_moves_between_matches() {
        let mut app = App::new("m", false);
        for (q, a) in
            [("about rust", "Rust has ownership."), ("about go", "Go has goroutines."), ("more rust", "RUST again.")]
        {
            enter(&mut app, q);
            let turn = app.tab().turn.unwrap();
            app.on_event(AppEvent::TurnDone { turn, report: report(a, Outcome::Complete) });
        }
        app.on_terminal(ctrl('f'));
        assert_eq!(app.focus, Focus::Find);
        typed(&mut app, "rust");
        assert_eq!(app.find_matches(), [0, 1, 4, 5], "any case, prompts and answers");
        assert_eq!(app.tab().selected, Some(5), "the latest match first");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.tab().selected, Some(4), "Enter goes to the earlier one");
        app.on_terminal(key(KeyCode::Up));
        app.on_terminal(key(KeyCode::Up));
        app.on_terminal(key(KeyCode::Up));
        assert_eq!(app.tab().selected, Some(0), "and stops at the first");
        app.on_terminal(key(KeyCode::Down));
        assert_eq!(app.tab().selected, Some(1));
        typed(&mut app, "x");
        assert_eq!((app.find_matches().len(), app.tab().selected), (0, None), "no match, nothing selected");
        app.on_terminal(key(KeyCode::Esc));
        assert_eq!((app.focus, app.tab().selected), (Focus::Chat, None));
    }

    #[test]
    fn a_flash_belongs_to_its_tab_and_fades() {
        let mut app = App::new("m", false);
        app.on_action(Action::CopyAnswer);
        assert_eq!(app.flash(), Some("Nothing to copy yet."));
        app.on_terminal(ctrl('t'));
        assert_eq!(app.flash(), None, "another tab does not show it");
        app.tabs[0].flash = Some(Flash { text: "model changed".into(), at: std::time::Instant::now() });
        assert_eq!(app.flash(), None, "a model change in tab 1 is not announced in tab 2");
        app.on_terminal(alt(KeyCode::Char('1')));
        assert_eq!(app.flash(), None, "the next action ends it");
        app.on_action(Action::CopyAnswer);
        let later = std::time::Instant::now() + FLASH_FOR;
        assert!(app.expire_flashes(later));
        assert_eq!(app.flash(), None, "faded");
        assert!(!app.expire_flashes(later), "nothing left to fade");
    }

    fn alt(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::ALT))
    }

    /// A tab holding `exchanges` saved prompt/answer pairs (ids 1, 2, 3, ...).
    fn conversation(exchanges: usize) -> App {
        let mut app = App::new("m", false);
        for i in 0..exchanges {
            typed(&mut app, &format!("question {i}"));
            app.on_terminal(key(KeyCode::Enter));
            let id = 2 * i as i64 + 1;
            app.on_event(AppEvent::TurnDone {
                turn: i as u64 + 1,
                report: report_ids(&format!("answer {i}"), Outcome::Complete, id, id + 1),
            });
        }
        app.commands.clear();
        app.tab_mut().flash = None;
        app
    }

    #[test]
    fn enter_sends_the_prompt_and_starts_an_answer() {
        let mut app = App::new("gemini-flash-latest", false);
        typed(&mut app, "hello there");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(
            app.commands,
            [Command::Send {
                tab: 1,
                turn: 1,
                prompt: "hello there".into(),
                branch: Branch::Continue,
                attachments: Vec::new()
            }]
        );
        let tab = app.tab();
        assert!(tab.streaming && tab.input_is_empty());
        assert_eq!(tab.title, "hello there");
        assert_eq!(tab.messages.len(), 2);
        assert_eq!(tab.messages[1].status, MessageStatus::Streaming);
    }

    #[test]
    fn text_streams_into_the_answer_and_a_restart_replaces_it() {
        let mut app = App::new("m", false);
        typed(&mut app, "q");
        app.on_terminal(key(KeyCode::Enter));
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text("partial ".into()) });
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Restart });
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text("whole".into()) });
        assert_eq!(app.tab().messages[1].text, "whole");
        app.on_event(AppEvent::TurnDone { turn: 1, report: report("whole", Outcome::Complete) });
        let tab = app.tab();
        assert!(!tab.streaming);
        assert_eq!((tab.messages[1].status, tab.conversation_id), (MessageStatus::Complete, Some(7)));
    }

    #[test]
    fn esc_stops_the_answer_which_stays_marked_interrupted() {
        let mut app = App::new("m", false);
        typed(&mut app, "q");
        app.on_terminal(key(KeyCode::Enter));
        app.commands.clear();
        app.on_terminal(key(KeyCode::Esc));
        assert_eq!(app.commands, [Command::Cancel { tab: 1 }]);
        app.on_event(AppEvent::TurnDone { turn: 1, report: report("half", Outcome::Cancelled) });
        assert_eq!(
            (app.tab().messages[1].text.as_str(), app.tab().messages[1].status),
            ("half", MessageStatus::Interrupted)
        );
    }

    #[test]
    fn an_error_lands_in_the_tab_that_caused_it() {
        let mut app = App::new("m", false);
        typed(&mut app, "q");
        app.on_terminal(key(KeyCode::Enter));
        app.on_action(Action::NewTab);
        let error = ApiError::Server { status: 503, overloaded: true, retry_after: None };
        app.on_event(AppEvent::TurnDone { turn: 1, report: report("", Outcome::Failed(error.clone())) });
        assert_eq!(app.tabs[0].error.as_deref(), Some(error.to_string().as_str()));
        assert!(app.tabs[0].unread, "the tab in the background shows it");
        assert_eq!(app.tabs[1].error, None);
        assert_eq!(app.tabs[0].messages[1].status, MessageStatus::Error);
    }

    #[test]
    fn a_retry_is_known_by_its_kind_not_its_wording() {
        let mut app = App::new("m", false);
        typed(&mut app, "q");
        app.on_terminal(key(KeyCode::Enter));
        let notice = crate::chat::Notice::Retrying {
            attempt: 2,
            of: 3,
            after: std::time::Duration::from_secs(2),
            reason: ApiError::Server { status: 503, overloaded: true, retry_after: None },
        };
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Notice(notice) });
        assert!(app.tab().retrying);
        let fallback = crate::chat::Notice::Fallback {
            from: "a".into(),
            to: "retrying-model".into(),
            reason: crate::engine::FallbackReason::QuotaSpent,
        };
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Notice(fallback) });
        assert!(!app.tab().retrying, "a model named 'retrying' is not a retry");
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text("back".into()) });
        assert!(!app.tab().retrying);
    }

    #[test]
    fn a_dns_retry_shows_one_whole_sentence_in_the_tab() {
        let mut app = App::new("m", false);
        typed(&mut app, "q");
        app.on_terminal(key(KeyCode::Enter));
        let reason = ApiError::Network { detail: "failed to lookup address information: no such host".into() };
        let after = std::time::Duration::from_millis(800);
        let notice = crate::chat::Notice::Retrying { attempt: 2, of: 5, after, reason };
        app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Notice(notice) });
        assert_eq!(
            app.tab().notice.as_deref(),
            Some(
                "Could not reach Gemini (failed to lookup address information: no such host); retrying in 0.8s (attempt 2 of 5)."
            )
        );
    }

    #[test]
    fn tabs_open_switch_and_close() {
        let mut app = App::new("m", false);
        app.on_action(Action::NewTab);
        app.on_action(Action::NewTab);
        assert_eq!((app.tabs.len(), app.active), (3, 2));
        app.on_action(Action::NextTab);
        assert_eq!(app.active, 0);
        app.on_action(Action::PrevTab);
        assert_eq!(app.active, 2);
        app.on_action(Action::GoToTab(1));
        assert_eq!(app.active, 1);
        app.on_action(Action::CloseTab);
        assert_eq!((app.tabs.len(), app.active), (2, 1));
        app.on_action(Action::CloseTab);
        app.on_action(Action::CloseTab);
        assert_eq!(app.tabs.len(), 1, "the last tab is replaced, never removed");
    }

    #[test]
    fn the_history_browser_searches_as_you_type_and_opens_a_conversation() {
        let mut app = App::new("m", false);
        app.on_action(Action::OpenHistory);
        typed(&mut app, "mig");
        let searches: Vec<_> = app.commands.iter().filter(|c| matches!(c, Command::Search { .. })).collect();
        assert_eq!(searches.len(), 4, "one for opening and one per key");
        assert_eq!(searches[3], &Command::Search { query: "mig".into(), generation: 4 });
        let row =
            HistoryRow { conversation_id: 9, title: "birds".into(), updated_at: 0, snippet: None, messages: Some(2) };
        app.on_event(AppEvent::SearchResults { generation: 4, rows: Ok(vec![row]) });
        assert!(app.commands.contains(&Command::Preview { id: 9 }));
        app.on_terminal(key(KeyCode::Enter));
        assert!(app.commands.contains(&Command::Open { id: 9 }));
        assert_eq!(app.focus, Focus::Chat);
    }

    #[test]
    fn the_preview_never_shows_a_conversation_that_is_not_the_selected_result() {
        let mut app = App::new("m", false);
        app.on_action(Action::OpenHistory);
        typed(&mut app, "bird");
        let row = |id: i64| HistoryRow {
            conversation_id: id,
            title: format!("t{id}"),
            updated_at: 0,
            snippet: None,
            messages: None,
        };
        app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(vec![row(9), row(4)]) });
        app.on_event(AppEvent::Preview { id: 9, messages: Vec::new() });
        assert_eq!(app.history.preview.as_ref().map(|p| p.0), Some(9));

        typed(&mut app, "z");
        app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(Vec::new()) });
        assert_eq!(app.history.preview, None, "no match: nothing previewed");

        app.on_terminal(key(KeyCode::Backspace));
        app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(vec![row(9)]) });
        app.on_event(AppEvent::Preview { id: 9, messages: Vec::new() });
        typed(&mut app, "(");
        let failed = Err("The search failed.".to_owned());
        app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: failed });
        assert_eq!(app.history.preview, None, "an error: nothing previewed");

        app.on_terminal(key(KeyCode::Backspace));
        app.commands.clear();
        app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(vec![row(4), row(9)]) });
        assert_eq!(app.history.preview, None, "another conversation on top: the old preview goes");
        assert_eq!(app.commands, [Command::Preview { id: 4 }]);
        app.on_event(AppEvent::Preview { id: 4, messages: Vec::new() });
        app.commands.clear();
        app.on_terminal(key(KeyCode::PageDown));
        assert_eq!((app.history.selected_id(), app.history.preview.as_ref().map(|p| p.0)), (Some(9), None));
        assert_eq!(app.commands, [Command::Preview { id: 9 }], "scrolling asks for the new one");
    }

    #[test]
    fn deleting_asks_first() {
        let mut app = App::new("m", false);
        app.on_action(Action::OpenHistory);
        let g = app.history.generation;
        app.on_event(AppEvent::SearchResults {
            generation: g,
            rows: Ok(vec![HistoryRow {
                conversation_id: 3,
                title: "t".into(),
                updated_at: 0,
                snippet: None,
                messages: None,
            }]),
        });
        app.commands.clear();
        app.on_terminal(key(KeyCode::Delete));
        assert_eq!(app.focus, Focus::Confirm);
        app.on_terminal(key(KeyCode::Char('n')));
        assert!(app.commands.is_empty());
        app.on_terminal(key(KeyCode::Delete));
        app.on_terminal(key(KeyCode::Char('y')));
        assert_eq!(app.commands, [Command::Delete { id: 3 }]);
    }

    #[test]
    fn copy_works_on_the_last_answer_and_its_code() {
        let mut app = App::new("m", false);
        typed(&mut app, "show code");
        app.on_terminal(key(KeyCode::Enter));
        app.on_event(AppEvent::TurnDone {
            turn: 1,
            report: report("Here:\n```rust\nfn main() {}\n```\n", Outcome::Complete),
        });
        app.commands.clear();
        app.on_action(Action::CopyCode);
        assert_eq!(app.commands, [Command::Copy { text: "fn main() {}".into() }]);
        // The flash says where the text went once it has gone, or why it did not.
        app.on_event(AppEvent::Copied(Ok(Via::System)));
        assert_eq!(app.flash(), Some("Copied the last code block (12 characters) to the system clipboard."));
        app.on_action(Action::CopyAnswer);
        app.on_event(AppEvent::Copied(Ok(Via::TerminalInstead("no display".into()))));
        assert_eq!(
            app.flash(),
            Some(
                "Copied the last answer (31 characters) through the terminal (OSC 52): the system clipboard failed (no display)."
            )
        );
        app.on_action(Action::CopyAnswer);
        app.on_event(AppEvent::Copied(Err("Nothing was copied: the terminal could not be written.".into())));
        assert_eq!(app.flash(), Some("Nothing was copied: the terminal could not be written."));
    }

    #[test]
    fn ctrl_g_replaces_the_last_answer_and_keeps_the_old_one_as_an_alternative() {
        let mut app = conversation(2);
        app.on_terminal(ctrl('g'));
        assert_eq!(
            app.commands,
            [Command::Send {
                tab: 1,
                turn: 3,
                prompt: "question 1".into(),
                branch: Branch::Regenerate { prompt_id: 3 },
                attachments: Vec::new()
            }]
        );
        let tab = app.tab();
        let texts: Vec<&str> = tab.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["question 0", "answer 0", "question 1", ""], "one answer to the prompt, being written");
        assert_eq!(tab.messages[3].alternatives, Alternatives { index: 2, count: 2 });
        app.on_event(AppEvent::TurnDone { turn: 3, report: report_ids("again", Outcome::Complete, 3, 5) });
        assert_eq!((app.tab().messages[3].id, app.tab().messages.len()), (Some(5), 4));
    }

    #[test]
    fn an_edited_earlier_prompt_starts_a_branch_from_it() {
        let mut app = conversation(2);
        app.on_terminal(alt(KeyCode::Up));
        assert_eq!((app.focus, app.tab().selected), (Focus::Messages, Some(3)));
        for _ in 0..3 {
            app.on_terminal(key(KeyCode::Up));
        }
        assert_eq!(app.tab().selected, Some(0));
        app.on_terminal(key(KeyCode::Char('e')));
        assert_eq!((app.focus, app.tab().input_text().as_str()), (Focus::Chat, "question 0"));
        typed(&mut app, " in spring");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(
            app.commands,
            [Command::Send {
                tab: 1,
                turn: 3,
                prompt: "question 0 in spring".into(),
                branch: Branch::Edit { prompt_id: 1 },
                attachments: Vec::new()
            }]
        );
        let tab = app.tab();
        assert_eq!(tab.messages.len(), 2, "the old continuation is no longer shown");
        assert_eq!(tab.messages[0].text, "question 0 in spring");
        assert_eq!(tab.messages[0].alternatives, Alternatives { index: 2, count: 2 });
        assert!(tab.editing.is_none() && tab.input_is_empty());
    }

    #[test]
    fn the_launch_role_is_every_new_tabs_until_role_changes_one() {
        let mut app = App::new("gemini-flash-latest", false);
        app.default_system = Some("be brief".into());
        app.roles = vec![crate::chat::NamedRole {
            name: "reviewer".into(),
            prompt: Some("You review code.".into()),
            model: Some("gemini-2.5-pro".into()),
            settings: Default::default(),
            fallback: Vec::new(),
            source: crate::chat::RoleSource::File("roles/reviewer.md".into()),
        }];
        app.use_launch_role("reviewer");
        let shows = |app: &App| (app.tab().role.clone(), app.tab().system.clone(), app.tab().model.clone());
        let reviewer = (Some("reviewer".to_owned()), Some("You review code.".to_owned()), "gemini-2.5-pro".to_owned());
        assert_eq!(shows(&app), reviewer);
        typed(&mut app, "/role none");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.tab().role, None);
        assert_eq!(app.tab().system.as_deref(), Some("be brief"));
        app.on_terminal(ctrl('t'));
        assert_eq!(shows(&app), reviewer, "a new tab starts with the launch role");
        app.on_terminal(ctrl('w'));
        app.on_terminal(ctrl('w'));
        assert_eq!(app.tabs.len(), 1);
        assert_eq!(shows(&app), reviewer, "closing the last tab leaves a fresh one, as launched");
    }

    #[test]
    fn editing_a_prompt_a_template_role_filled_in_offers_what_was_typed() {
        let mut app = conversation(1);
        app.roles = vec![crate::chat::NamedRole {
            name: "french".into(),
            prompt: Some("Translate into French:\n{{input}}".into()),
            model: None,
            settings: Default::default(),
            fallback: Vec::new(),
            source: crate::chat::RoleSource::File("roles/french.md".into()),
        }];
        // As a reopened conversation shows it: the prompt as sent, filled in.
        app.tab_mut().messages[0].text = "Translate into French:\ngood morning".into();
        app.tab_mut().role = Some("french".into());
        app.on_terminal(ctrl('e'));
        assert_eq!(app.tab().input_text(), "good morning");
        typed(&mut app, " to you");
        app.on_terminal(key(KeyCode::Enter));
        assert!(
            matches!(&app.commands[0], Command::Send { prompt, .. } if prompt == "good morning to you"),
            "sending fills it in once: {:?}",
            app.commands
        );
    }

    #[test]
    fn an_unsent_draft_survives_an_edit_sent_or_cancelled() {
        let mut app = conversation(1);
        typed(&mut app, "my half-written thought");
        app.on_terminal(ctrl('e'));
        assert_eq!(app.tab().input_text(), "question 0");
        assert!(app.flash().unwrap().contains("draft is kept"), "{:?}", app.flash());
        app.on_terminal(key(KeyCode::Esc));
        assert_eq!(app.tab().input_text(), "my half-written thought", "Esc brings the draft back");
        assert!(app.commands.is_empty(), "Esc while editing stops nothing");
        app.on_terminal(ctrl('e'));
        typed(&mut app, "!");
        app.on_terminal(key(KeyCode::Enter));
        assert!(matches!(app.commands[0], Command::Send { branch: Branch::Edit { prompt_id: 1 }, .. }));
        assert_eq!(app.tab().input_text(), "my half-written thought", "sending the edit brings the draft back");
    }

    #[test]
    fn alt_brackets_browse_the_alternatives_of_the_last_answer() {
        let mut app = conversation(1);
        app.on_terminal(alt(KeyCode::Char(']')));
        assert!(app.commands.is_empty());
        assert!(app.flash().unwrap().contains("no alternatives"), "{:?}", app.flash());
        app.tab_mut().messages[1].alternatives = Alternatives { index: 2, count: 2 };
        app.on_terminal(alt(KeyCode::Char('[')));
        assert_eq!(app.commands, [Command::SwitchAlternative { tab: 1, message_id: 2, step: -1 }]);
        let stored = |id, role, text: &str, index| StoredMessage {
            id,
            conversation_id: 7,
            role,
            text: text.into(),
            model: None,
            status: MessageStatus::Complete,
            error: None,
            prompt_tokens: None,
            output_tokens: None,
            cached: false,
            created_at: 0,
            parent_id: None,
            thought_tokens: None,
            thoughts: None,
            grounding: None,
            alternatives: Alternatives { index, count: 2 },
            attachments: Vec::new(),
            cost: Default::default(),
        };
        app.tab_mut().conversation_id = Some(7);
        app.on_event(AppEvent::Reloaded {
            tab: 1,
            conversation_id: 7,
            messages: vec![stored(1, Role::User, "question 0", 1), stored(9, Role::Model, "the first answer", 1)],
            chosen: 9,
        });
        assert_eq!(app.tab().messages[1].text, "the first answer");
        assert_eq!(app.flash(), Some("Answer 1 of 2."));
        typed(&mut app, "a [b]");
        assert_eq!(app.tab().input_text(), "a [b]", "brackets typed into a prompt are text");
    }

    #[test]
    fn a_prompt_starting_with_a_bracket_or_question_mark_is_typed_whole_and_switches_nothing() {
        for prompt in ["[note] remember this", "[1,2,3] sort these", "]", "? what is this"] {
            let mut app = conversation(1);
            app.tab_mut().messages[1].alternatives = Alternatives { index: 2, count: 2 };
            typed(&mut app, prompt);
            assert_eq!(app.tab().input_text(), prompt);
            assert_eq!(app.focus, Focus::Chat, "no help or other window opened");
            app.on_terminal(key(KeyCode::Enter));
            assert!(
                !app.commands.iter().any(|c| matches!(c, Command::SwitchAlternative { .. })),
                "{prompt}: {:?}",
                app.commands
            );
            assert!(
                matches!(&app.commands[..], [Command::Send { prompt: sent, .. }] if sent == prompt),
                "{:?}",
                app.commands
            );
        }
        // With a message selected, plain [ and ] still browse its alternatives.
        let mut app = conversation(1);
        app.tab_mut().messages[1].alternatives = Alternatives { index: 2, count: 2 };
        app.on_terminal(alt(KeyCode::Up));
        app.on_terminal(key(KeyCode::Char('[')));
        assert_eq!(app.commands, [Command::SwitchAlternative { tab: 1, message_id: 2, step: -1 }]);
    }

    #[test]
    fn nothing_branches_while_an_answer_is_written() {
        let mut app = conversation(1);
        typed(&mut app, "next");
        app.on_terminal(key(KeyCode::Enter));
        app.commands.clear();
        app.on_terminal(ctrl('g'));
        app.on_terminal(ctrl('e'));
        assert!(app.commands.is_empty());
        assert!(app.flash().unwrap().contains("still being written"));
    }

    #[test]
    fn a_conversation_lives_in_one_tab() {
        let mut app = conversation(1);
        app.tab_mut().conversation_id = Some(7);
        app.on_action(Action::NewTab);
        app.on_action(Action::OpenHistory);
        let g = app.history.generation;
        let row = HistoryRow { conversation_id: 7, title: "q".into(), updated_at: 0, snippet: None, messages: None };
        app.on_event(AppEvent::SearchResults { generation: g, rows: Ok(vec![row]) });
        app.commands.clear();
        app.on_terminal(key(KeyCode::Enter));
        assert!(!app.commands.iter().any(|c| matches!(c, Command::Open { .. })), "{:?}", app.commands);
        assert_eq!((app.active, app.tabs.len()), (0, 2), "its tab is focused");
        // Deleting it closes its tab...
        app.on_event(AppEvent::Deleted { id: 7 });
        assert_eq!(app.tabs.len(), 1);
        assert!(app.tabs.iter().all(|t| t.conversation_id != Some(7)));
        // ...or, with a draft in it, keeps the draft in a fresh tab.
        let mut app = conversation(1);
        app.tab_mut().conversation_id = Some(7);
        typed(&mut app, "unsent");
        app.on_event(AppEvent::Deleted { id: 7 });
        let tab = app.tab();
        assert_eq!((tab.conversation_id, tab.messages.len(), tab.input_text().as_str()), (None, 0, "unsent"));
        assert!(tab.notice.as_deref().unwrap().contains("deleted"));
    }

    #[test]
    fn system_prompts_are_set_per_tab() {
        let mut app = App::new("m", false);
        typed(&mut app, "/system answer in French");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.tab().system.as_deref(), Some("answer in French"));
        assert!(app.commands.is_empty(), "a command is not a prompt");
    }

    #[test]
    fn pasted_text_goes_into_the_prompt_whole() {
        let mut app = App::new("m", false);
        app.on_terminal(Event::Paste("line one\r\nline two".into()));
        assert_eq!(app.tab().input_text(), "line one\nline two");
    }

    /// Issue 20: a conversation deleted in the history browser while its first answer streams.
    /// The tab knew no conversation until the answer ended, so the delete passed it by, the
    /// cancelled turn's late "done" gave it the deleted id, and the next prompt failed and was
    /// lost. Now the saved prompt names the conversation at once, and events of a turn the tab
    /// no longer runs land nowhere.
    #[test]
    fn a_conversation_deleted_while_its_first_answer_streams_never_takes_the_next_prompt() {
        let mut app = App::new("m", false);
        typed(&mut app, "first question");
        app.on_terminal(key(KeyCode::Enter));
        let turn = app.tab().turn.expect("a turn runs");
        app.on_event(AppEvent::Turn { turn, shown: Shown::Saved { conversation_id: 10, prompt_id: 1 } });
        assert_eq!(app.tab().conversation_id, Some(10), "known as soon as the prompt is saved");
        assert_eq!(app.tab().messages[0].id, Some(1));
        app.on_event(AppEvent::Turn { turn, shown: Shown::Text("Half an ans".into()) });
        typed(&mut app, "a draft typed meanwhile");
        app.commands.clear();
        app.on_event(AppEvent::Deleted { id: 10 });
        assert!(app.commands.contains(&Command::Cancel { tab: 1 }), "its answer is stopped: {:?}", app.commands);
        // The stopped turn's last words arrive late, naming the deleted conversation.
        app.on_event(AppEvent::Turn { turn, shown: Shown::Text("swer".into()) });
        let mut late = report_ids("Half an answer", Outcome::Cancelled, 1, 2);
        late.conversation_id = Some(10);
        app.on_event(AppEvent::TurnDone { turn, report: late });
        let tab = app.tab();
        assert_eq!(
            (tab.conversation_id, tab.messages.len(), tab.streaming, tab.input_text().as_str()),
            (None, 0, false, "a draft typed meanwhile"),
            "nothing of the stopped turn landed"
        );
        assert!(tab.notice.as_deref().is_some_and(|n| n.contains("Conversation 10 was deleted")), "{:?}", tab.notice);
        app.commands.clear();
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(
            app.commands,
            [Command::Send {
                tab: 1,
                turn: turn + 1,
                prompt: "a draft typed meanwhile".into(),
                branch: Branch::Continue,
                attachments: Vec::new()
            }]
        );
        assert_eq!(app.tab().conversation_id, None, "the draft starts a new conversation");
    }

    /// A turn replaced by a newer one in the same tab (stopped, then a new prompt sent before the
    /// old one reported back) never writes into the newer one.
    #[test]
    fn a_late_event_of_an_earlier_turn_never_lands_in_the_turn_after_it() {
        let mut app = conversation(1);
        typed(&mut app, "slow one");
        app.on_terminal(key(KeyCode::Enter));
        let old = app.tab().turn.unwrap();
        app.on_terminal(key(KeyCode::Esc));
        // The stop is reported as failed to start (say, the budget check raced it); a newer
        // turn begins before the old turn's own words arrive.
        app.on_event(AppEvent::TurnFailedToStart { turn: old, message: "Stopped.".into() });
        typed(&mut app, "fast one");
        app.on_terminal(key(KeyCode::Enter));
        let new = app.tab().turn.unwrap();
        assert_ne!(old, new, "turn ids are never reused");
        app.on_event(AppEvent::Turn { turn: old, shown: Shown::Text("stale words".into()) });
        app.on_event(AppEvent::TurnDone { turn: old, report: report_ids("stale words", Outcome::Complete, 9, 9) });
        let tab = app.tab();
        assert!(tab.streaming, "the newer turn still runs");
        assert_eq!(tab.messages.last().unwrap().text, "", "no stale text in the newer answer");
        app.on_event(AppEvent::Turn { turn: new, shown: Shown::Text("fresh".into()) });
        assert_eq!(app.tab().messages.last().unwrap().text, "fresh");
    }

    /// Issue 20: the conversation a tab shows was deleted by another process. Sending finds it
    /// gone before anything reaches the model: the prompt comes back into the input, the tab
    /// says so, and the next prompt starts a new conversation.
    #[test]
    fn a_prompt_for_a_conversation_deleted_elsewhere_comes_back_unsent() {
        let mut app = conversation(1);
        assert_eq!(app.tab().conversation_id, Some(7));
        typed(&mut app, "and then?");
        app.on_terminal(key(KeyCode::Enter));
        let turn = app.tab().turn.unwrap();
        assert!(matches!(&app.commands[..], [Command::Send { prompt, .. }] if prompt == "and then?"));
        typed(&mut app, "more");
        let note = Attachment {
            info: crate::domain::AttachmentInfo {
                name: "n.txt".into(),
                mime: "text/plain".into(),
                size: 1,
                sha256: "ab".into(),
            },
            data: crate::attach::AttachmentData::Bytes(vec![b'x'].into()),
            path: None,
            remote: None,
        };
        app.on_event(AppEvent::ConversationGone {
            turn,
            conversation_id: 7,
            prompt: Some("and then?".into()),
            attachments: vec![note.clone()],
        });
        let tab = app.tab();
        assert_eq!(tab.input_text(), "and then?\nmore", "the prompt, then what was typed since");
        assert_eq!((tab.conversation_id, tab.messages.len(), tab.streaming), (None, 0, false));
        assert_eq!(tab.pending, [note], "its attachment is kept for the next prompt");
        let said = tab.error.clone().unwrap();
        assert!(said.starts_with("Conversation 7 was deleted; your prompt was not sent"), "{said}");
        app.commands.clear();
        app.on_terminal(key(KeyCode::Enter));
        match &app.commands[..] {
            [Command::Send { turn: next, prompt, branch: Branch::Continue, attachments, .. }] => {
                assert_eq!((*next, prompt.as_str(), attachments.len()), (turn + 1, "and then?\nmore", 1));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((app.tab().conversation_id, app.tab().error.as_ref()), (None, None));
    }

    /// Issue 20: an answer streaming when another process deleted its conversation. Its final
    /// save finds nothing to write into: the answer stays on screen, the tab says it was not
    /// saved, and the next prompt starts a new conversation without it.
    #[test]
    fn an_answer_whose_conversation_was_deleted_while_it_streamed_is_said_unsaved() {
        let mut app = conversation(1);
        typed(&mut app, "next");
        app.on_terminal(key(KeyCode::Enter));
        let turn = app.tab().turn.unwrap();
        app.on_event(AppEvent::Turn { turn, shown: Shown::Text("An answer nobody saved".into()) });
        let mut done = report_ids("An answer nobody saved", Outcome::Complete, 3, 4);
        done.save_error = Some(crate::store::StoreError::NoConversation { id: 7 });
        app.on_event(AppEvent::TurnDone { turn, report: done });
        let tab = app.tab();
        assert_eq!(tab.messages.last().unwrap().text, "An answer nobody saved", "still shown");
        assert_eq!(tab.conversation_id, None);
        let said = tab.error.clone().unwrap();
        assert!(said.starts_with("Conversation 7 was deleted while this answer was written"), "{said}");
        app.commands.clear();
        typed(&mut app, "new question");
        app.on_terminal(key(KeyCode::Enter));
        assert!(matches!(&app.commands[..], [Command::Send { branch: Branch::Continue, .. }]), "{:?}", app.commands);
        let texts: Vec<&str> = app.tab().messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["new question", ""], "the unsaved conversation is not continued");
        assert_eq!(app.tab().conversation_id, None);
    }

    /// Issue 20 item 3: the tab that was active comes back active, wherever it stood.
    #[test]
    fn the_active_tab_comes_back_active_wherever_it_stood() {
        let tab = |draft: &str, active| Restored { conversation: None, draft: draft.into(), active };
        let mut app = App::new("m", false);
        app.restore(vec![tab("one", false), tab("two", true), tab("three", false)]);
        assert_eq!((app.active, app.tab().input_text().as_str()), (1, "two"));
        let kept: Vec<bool> = app.open_tabs().iter().map(|t| t.active).collect();
        assert_eq!(kept, [false, true, false]);
    }
}
