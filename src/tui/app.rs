//! The TUI's state and how it changes. Handlers only change state, mark it dirty and queue
//! [`Command`]s (send a turn, cancel, search, load, copy); the runner performs them. So every
//! behaviour here is a unit test with no terminal and no network.

use crossterm::event::{Event, KeyEvent, KeyModifiers, MouseEventKind};
use ratatui_textarea::Input;

use super::history::{HistoryBrowser, HistoryRow};
use super::keys::{Action, Focus, action_for};
use super::tab::{ChatMessage, Tab};
use crate::chat::{Outcome, Role, Shown, TurnReport};
use crate::engine::MetricsSnapshot;
use crate::store::{MessageStatus, StoredMessage};

/// Work for the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start a turn in tab `tab` for `prompt` (`fresh`: skip the cache).
    Send {
        tab: u64,
        prompt: String,
        fresh: bool,
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
    Copy {
        text: String,
    },
}

/// A question awaiting y/n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    DeleteConversation { id: i64, title: String },
}

/// What the runner reports back.
#[derive(Debug)]
pub enum AppEvent {
    Turn { tab: u64, shown: Shown },
    TurnDone { tab: u64, report: Box<TurnReport> },
    TurnFailedToStart { tab: u64, message: String },
    SearchResults { generation: u64, rows: Result<Vec<HistoryRow>, String> },
    Preview { id: i64, messages: Vec<StoredMessage> },
    Opened { id: i64, title: String, model: String, system: Option<String>, messages: Vec<StoredMessage> },
    Deleted { id: i64 },
    Models(Result<Vec<String>, String>),
    Error(String),
}

pub struct App {
    pub tabs: Vec<Tab>,
    pub active: usize,
    pub focus: Focus,
    pub history: HistoryBrowser,
    pub models: Vec<String>,
    pub model_selected: usize,
    pub confirm: Option<Confirm>,
    pub demo: bool,
    pub default_model: String,
    pub metrics: MetricsSnapshot,
    /// A short message for the status bar ("copied 120 characters").
    pub flash: Option<String>,
    pub quit: bool,
    pub dirty: bool,
    /// Height of the conversation area at the last frame (for paging).
    pub page_height: usize,
    pub commands: Vec<Command>,
    next_tab_id: u64,
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
            confirm: None,
            demo,
            default_model: default_model.to_owned(),
            metrics: MetricsSnapshot::default(),
            flash: None,
            quit: false,
            dirty: true,
            page_height: 20,
            commands: Vec::new(),
            next_tab_id: 2,
        }
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

    pub fn new_tab(&mut self) -> &mut Tab {
        let tab = Tab::new(self.next_tab_id, &self.default_model);
        self.next_tab_id += 1;
        self.tabs.push(tab);
        self.active = self.tabs.len() - 1;
        self.tabs[self.active].unread = false;
        &mut self.tabs[self.active]
    }

    fn switch_to(&mut self, index: usize) {
        if index < self.tabs.len() {
            self.active = index;
            self.tabs[index].unread = false;
        }
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
                    self.history.query.push_str(&text.replace(['\n', '\r'], " "));
                    self.search();
                }
                _ => {}
            },
            Event::Mouse(mouse) => match mouse.kind {
                MouseEventKind::ScrollUp => self.on_action(Action::ScrollUp(3)),
                MouseEventKind::ScrollDown => self.on_action(Action::ScrollDown(3)),
                _ => {}
            },
            Event::Resize(..) => {}
            _ => {}
        }
    }

    pub fn on_action(&mut self, action: Action) {
        self.dirty = true;
        let page = self.page_height.max(1);
        match action {
            Action::Quit => self.quit = true,
            Action::Ignore => {}
            Action::Send => self.send(),
            Action::Newline => self.tab_mut().input.insert_newline(),
            Action::NewTab => {
                self.new_tab();
            }
            Action::CloseTab => self.close_tab(),
            Action::NextTab => self.switch_to((self.active + 1) % self.tabs.len()),
            Action::PrevTab => self.switch_to((self.active + self.tabs.len() - 1) % self.tabs.len()),
            Action::GoToTab(i) => self.switch_to(i),
            Action::Stop => match self.focus {
                Focus::Chat => {
                    if self.tab().streaming {
                        let id = self.tab().id;
                        self.commands.push(Command::Cancel { tab: id });
                    }
                }
                _ => self.focus = Focus::Chat,
            },
            Action::Regenerate => {
                if let Some(prompt) = self.tab().last_prompt().map(|m| m.text.clone())
                    && !self.tab().streaming
                {
                    let id = self.tab().id;
                    self.start(id, prompt, true);
                }
            }
            Action::EditLast => {
                if let Some(prompt) = self.tab().last_prompt().map(|m| m.text.clone()) {
                    self.tab_mut().set_input(&prompt);
                }
            }
            Action::CopyAnswer => match self.tab().last_answer().map(|m| m.text.clone()) {
                Some(text) => self.copy(text, "the last answer"),
                None => self.flash = Some("Nothing to copy yet.".into()),
            },
            Action::CopyCode => match self.tab().last_answer().and_then(|m| last_code_block(&m.text)) {
                Some(code) => self.copy(code, "the last code block"),
                None => self.flash = Some("The last answer has no code block.".into()),
            },
            Action::OpenHistory => {
                self.focus = Focus::History;
                self.search();
            }
            Action::OpenHelp => self.focus = Focus::Help,
            Action::OpenModels => {
                self.focus = Focus::ModelPicker;
                if self.models.is_empty() {
                    self.commands.push(Command::LoadModels);
                }
            }
            Action::ScrollUp(n) => match self.focus {
                Focus::History => {
                    self.history.move_selection(-(n.max(1) as isize));
                    self.preview();
                }
                Focus::ModelPicker => self.move_model(-(n.max(1) as isize)),
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
                _ => {
                    let n = if n == 0 { page.saturating_sub(2).max(1) } else { n };
                    self.tab_mut().scroll_down(n);
                }
            },
            Action::ScrollTop => self.tab_mut().on_home(page),
            Action::ScrollBottom => self.tab_mut().scroll_from_bottom = 0,
            Action::Up | Action::Down => {
                let delta = if action == Action::Up { -1 } else { 1 };
                match self.focus {
                    Focus::History => {
                        self.history.move_selection(delta);
                        self.preview();
                    }
                    Focus::ModelPicker => self.move_model(delta),
                    _ => {}
                }
            }
            Action::Select => match self.focus {
                Focus::History => {
                    if let Some(id) = self.history.selected_id() {
                        self.commands.push(Command::Open { id });
                        self.focus = Focus::Chat;
                    }
                }
                Focus::ModelPicker => {
                    if let Some(model) = self.models.get(self.model_selected).cloned() {
                        self.tab_mut().model = model.clone();
                        self.flash = Some(format!("This tab now uses {model}."));
                    }
                    self.focus = Focus::Chat;
                }
                _ => {}
            },
            Action::Delete => {
                if let Some(row) = self.history.rows.get(self.history.selected) {
                    self.confirm =
                        Some(Confirm::DeleteConversation { id: row.conversation_id, title: row.title.clone() });
                    self.focus = Focus::Confirm;
                }
            }
            Action::Yes => {
                if let Some(Confirm::DeleteConversation { id, .. }) = self.confirm.take() {
                    self.commands.push(Command::Delete { id });
                }
                self.focus = Focus::History;
            }
            Action::No => {
                self.confirm = None;
                self.focus = Focus::History;
            }
            Action::Input(key) => self.type_key(key),
        }
    }

    fn type_key(&mut self, key: KeyEvent) {
        match self.focus {
            Focus::Chat => {
                self.tab_mut().input.input(Input::from(key));
            }
            Focus::History => {
                use crossterm::event::KeyCode;
                match key.code {
                    KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => self.history.query.push(c),
                    KeyCode::Backspace => {
                        self.history.query.pop();
                    }
                    _ => return,
                }
                self.search();
            }
            _ => {}
        }
    }

    fn move_model(&mut self, delta: isize) {
        if !self.models.is_empty() {
            let last = self.models.len() as isize - 1;
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

    fn copy(&mut self, text: String, what: &str) {
        self.flash = Some(format!("Copied {what} ({} characters).", text.chars().count()));
        self.commands.push(Command::Copy { text });
    }

    fn close_tab(&mut self) {
        let id = self.tab().id;
        if self.tab().streaming {
            self.commands.push(Command::Cancel { tab: id });
        }
        if self.tabs.len() == 1 {
            self.tabs[0] = Tab::new(self.next_tab_id, &self.default_model);
            self.next_tab_id += 1;
        } else {
            self.tabs.remove(self.active);
            self.active = self.active.min(self.tabs.len() - 1);
        }
    }

    /// Enter: commands (`/system`) or a prompt.
    fn send(&mut self) {
        let text = self.tab().input_text();
        let prompt = text.trim();
        if prompt.is_empty() {
            return;
        }
        if let Some(rest) = prompt.strip_prefix("/system") {
            let system = rest.trim();
            let tab = self.tab_mut();
            tab.system = (!system.is_empty()).then(|| system.to_owned());
            tab.clear_input();
            self.flash = Some(if system.is_empty() {
                "System prompt cleared.".into()
            } else {
                "System prompt set for this tab.".into()
            });
            return;
        }
        if self.tab().streaming {
            self.flash = Some("An answer is still being written: wait, or press Esc to stop it.".into());
            return;
        }
        let prompt = prompt.to_owned();
        let id = self.tab().id;
        self.tab_mut().clear_input();
        self.start(id, prompt, false);
    }

    fn start(&mut self, tab_id: u64, prompt: String, fresh: bool) {
        let Some((_, tab)) = self.tab_by_id(tab_id) else { return };
        if tab.messages.is_empty() {
            tab.title = crate::store::title_from(&prompt);
        }
        tab.messages.push(ChatMessage::user(prompt.clone()));
        let model = tab.model.clone();
        tab.messages.push(ChatMessage::answer(&model));
        tab.streaming = true;
        tab.error = None;
        tab.notice = None;
        tab.scroll_from_bottom = 0;
        self.commands.push(Command::Send { tab: tab_id, prompt, fresh });
    }

    /// Handles what the runner reports.
    pub fn on_event(&mut self, event: AppEvent) {
        self.dirty = true;
        let active_id = self.tab().id;
        match event {
            AppEvent::Turn { tab, shown } => {
                let Some((_, t)) = self.tab_by_id(tab) else { return };
                let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) else { return };
                match shown {
                    Shown::Text(text) => {
                        answer.text.push_str(&text);
                        t.notice = None;
                    }
                    Shown::Restart => {
                        answer.text.clear();
                        t.revision += 1;
                        t.notice = Some("The answer was cut off and starts again.".into());
                    }
                    Shown::Notice(notice) => t.notice = Some(notice.to_string()),
                }
                if tab != active_id {
                    t.unread = true;
                }
            }
            AppEvent::TurnDone { tab, report } => {
                let Some((_, t)) = self.tab_by_id(tab) else { return };
                t.streaming = false;
                t.notice = None;
                if report.conversation_id.is_some() {
                    t.conversation_id = report.conversation_id;
                }
                if let Some(u) = report.usage {
                    t.tokens += u64::from(u.prompt_token_count) + u64::from(u.candidates_token_count);
                }
                if let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) {
                    answer.text = report.text.clone();
                    answer.cached = report.cached;
                    t.revision += 1;
                    answer.status = match &report.outcome {
                        Outcome::Complete => MessageStatus::Complete,
                        Outcome::Cancelled => MessageStatus::Interrupted,
                        Outcome::Failed(
                            crate::gemini::ApiError::PromptBlocked { .. }
                            | crate::gemini::ApiError::AnswerStopped { .. },
                        ) => MessageStatus::Blocked,
                        Outcome::Failed(_) if !report.text.is_empty() => MessageStatus::Interrupted,
                        Outcome::Failed(_) => MessageStatus::Error,
                    };
                    if let Outcome::Failed(e) = &report.outcome {
                        answer.error = Some(e.to_string());
                        t.error = Some(e.to_string());
                    }
                }
                if let Some(e) = &report.save_error {
                    t.error = Some(e.to_string());
                }
                if tab != active_id {
                    t.unread = true;
                }
            }
            AppEvent::TurnFailedToStart { tab, message } => {
                let Some((_, t)) = self.tab_by_id(tab) else { return };
                t.streaming = false;
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
            AppEvent::Opened { id, title, model, system, messages } => {
                let tab = if self.tab().messages.is_empty() && !self.tab().streaming {
                    self.tab_mut()
                } else {
                    self.new_tab()
                };
                tab.conversation_id = Some(id);
                tab.title = title;
                tab.model = model;
                tab.system = system;
                tab.messages = messages
                    .into_iter()
                    .map(|m| ChatMessage {
                        role: m.role,
                        text: m.text,
                        status: m.status,
                        model: m.model,
                        cached: m.cached,
                        error: m.error.filter(|_| m.status != MessageStatus::Complete),
                    })
                    .collect();
                tab.revision += 1;
                tab.scroll_from_bottom = 0;
            }
            AppEvent::Deleted { id } => {
                self.flash = Some(format!("Deleted conversation {id}."));
                for t in &mut self.tabs {
                    if t.conversation_id == Some(id) {
                        t.conversation_id = None;
                    }
                }
                self.search();
            }
            AppEvent::Models(Ok(models)) => {
                self.model_selected = models.iter().position(|m| *m == self.tab().model).unwrap_or(0);
                self.models = models;
            }
            AppEvent::Models(Err(e)) | AppEvent::Error(e) => {
                self.tab_mut().error = Some(e);
                if self.focus == Focus::ModelPicker {
                    self.focus = Focus::Chat;
                }
            }
        }
    }
}

/// The last fenced code block of a markdown text (its content, without the fences).
pub fn last_code_block(text: &str) -> Option<String> {
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
    blocks.pop()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemini::ApiError;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            app.on_terminal(key(KeyCode::Char(c)));
        }
    }

    fn report(text: &str, outcome: Outcome) -> Box<TurnReport> {
        Box::new(TurnReport {
            conversation_id: Some(7),
            text: text.into(),
            outcome,
            cached: false,
            usage: None,
            save_error: None,
        })
    }

    #[test]
    fn enter_sends_the_prompt_and_starts_an_answer() {
        let mut app = App::new("gemini-flash-latest", false);
        typed(&mut app, "hello there");
        app.on_terminal(key(KeyCode::Enter));
        assert_eq!(app.commands, [Command::Send { tab: 1, prompt: "hello there".into(), fresh: false }]);
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
        app.on_event(AppEvent::Turn { tab: 1, shown: Shown::Text("partial ".into()) });
        app.on_event(AppEvent::Turn { tab: 1, shown: Shown::Restart });
        app.on_event(AppEvent::Turn { tab: 1, shown: Shown::Text("whole".into()) });
        assert_eq!(app.tab().messages[1].text, "whole");
        app.on_event(AppEvent::TurnDone { tab: 1, report: report("whole", Outcome::Complete) });
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
        app.on_event(AppEvent::TurnDone { tab: 1, report: report("half", Outcome::Cancelled) });
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
        let error = ApiError::Server { status: 503, overloaded: true };
        app.on_event(AppEvent::TurnDone { tab: 1, report: report("", Outcome::Failed(error.clone())) });
        assert_eq!(app.tabs[0].error.as_deref(), Some(error.to_string().as_str()));
        assert!(app.tabs[0].unread, "the tab in the background shows it");
        assert_eq!(app.tabs[1].error, None);
        assert_eq!(app.tabs[0].messages[1].status, MessageStatus::Error);
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
    fn copy_regenerate_and_edit_work_on_the_last_exchange() {
        let mut app = App::new("m", false);
        typed(&mut app, "show code");
        app.on_terminal(key(KeyCode::Enter));
        app.on_event(AppEvent::TurnDone {
            tab: 1,
            report: report("Here:\n```rust\nfn main() {}\n```\n", Outcome::Complete),
        });
        app.commands.clear();
        app.on_action(Action::CopyCode);
        assert_eq!(app.commands, [Command::Copy { text: "fn main() {}".into() }]);
        app.on_action(Action::EditLast);
        assert_eq!(app.tab().input_text(), "show code");
        app.commands.clear();
        app.on_action(Action::Regenerate);
        assert_eq!(app.commands, [Command::Send { tab: 1, prompt: "show code".into(), fresh: true }]);
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
}
