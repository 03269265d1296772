//! The full-screen interface: tabs of conversations streaming at once and a history browser.
//! One `tokio::select!` loop over terminal events, turn events, a frame tick and a timer that
//! saves the open tabs and drafts as they change (so a crash keeps them); state changes
//! in `app`, drawing in `view` (which only reads), a frame only when something changed (at
//! most ~60 per second). All I/O goes through `turn` (each tab's turns, set up as every front end's
//! are) and the store's handle (history); what a refused turn says is in `words`.
//! The terminal is restored on every way out: normal exit, panic, SIGTERM and SIGHUP
//! (`terminal`). The open tabs are kept across runs in `kept_tabs`, `/export` writes in `export`.

pub mod app;
pub mod clipboard;
pub mod conversation;
pub mod editor;
mod events;
mod export;
mod kept_tabs;
pub mod keys;
mod messages;
pub mod overlay;
pub mod slash;
pub mod tab_bar;
mod terminal;
pub mod view;
mod words;

/// The theme lives with the renderers that use it ([`crate::render`]).
pub use crate::render::theme;
/// A tab's state and its messages.
pub use conversation::tab;
pub use kept_tabs::keep_tabs;
/// The history browser's state (its rows are what the runner's searches return).
pub use overlay::history;
pub use terminal::restore_terminal;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use futures::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::chat::{Branch, ChatError, ChatSession, Shown, Target};
use crate::domain::Stop;
use crate::store::{StoreError, StoreHandle};
use crate::turn::{BudgetPolicy, Refused, RoleChoice, System, TurnSpec, TurnUpdate, Update};
use app::{App, AppEvent, Command};
use export::export_to_file;
use history::HistoryRow;
use kept_tabs::restorable_tabs;
#[cfg(unix)]
use terminal::quit_signals;
use terminal::{PANIC, enter_terminal, run_editor};
use tokio_util::sync::CancellationToken;

/// Time between frames when something changed: at most ~60 frames per second.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(16);
/// How long quitting waits for running answers to be saved.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How often the open tabs and drafts are saved when they changed: a crash (`kill -9`) loses
/// at most this much typing.
pub const TABS_SAVE_INTERVAL: Duration = Duration::from_millis(250);
/// How often the open history browser checks whether anything was saved (by any process).
pub const HISTORY_WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What the interface starts with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The model of a new tab.
    pub model: String,
    /// The system prompt of the first tab.
    pub system: Option<String>,
    pub demo: bool,
    /// A conversation to open at start (`-c`, `--conversation N`).
    pub open: Option<i64>,
    /// Whether to take the mouse at start (F4 switches).
    pub mouse: bool,
    pub clipboard: crate::config::ClipboardMode,
    /// Generation settings every new tab starts with (launch flags over the config file).
    pub settings: crate::chat::Settings,
    /// The roles `/role` offers.
    pub roles: Vec<crate::chat::NamedRole>,
    /// The role every new tab answers as (`geminal -r NAME`; one of `roles`).
    pub role: Option<String>,
    /// Provider names (what `/model NAME` means).
    pub names: crate::provider::Names,
    /// The budgets every prompt is checked against, unless `over_budget`.
    pub budgets: crate::config::Budgets,
    pub over_budget: bool,
    /// Each answer's deadline, its setup included (`timeout_secs`).
    pub deadline: Option<Duration>,
    /// The theme to draw in (colourless under `NO_COLOR`; F3 switches).
    pub theme: theme::ThemeName,
    /// The configured MCP servers' names (`/tools` lists and takes them).
    pub tool_servers: Vec<String>,
    /// The servers whose tools a new tab offers (the config file's `tools`).
    pub tools: crate::tools::Selection,
    /// Model-tool rounds a turn takes at most (`max_tool_steps`).
    pub max_tool_steps: u32,
    /// Where the tabs' tool calls go (the configured MCP servers; `None`: none).
    pub tool_box: Option<Arc<crate::mcp::Hub>>,
}

/// Runs the interface until the user quits, or a signal (SIGTERM, SIGHUP) ends it: then that
/// signal, for the exit code. Returns a message for stderr on failure.
pub async fn run(session: ChatSession, options: Options) -> Result<Option<Stop>, String> {
    let session = Arc::new(session);
    let budgets = if options.over_budget { crate::config::Budgets::default() } else { options.budgets };
    let mut app = App::new(&options.model, options.demo);
    app.theme = theme::Theme::for_terminal(options.theme);
    app.tab_mut().system = options.system.clone();
    app.default_system = options.system.clone();
    app.roles = options.roles.clone();
    app.names = options.names.clone();
    app.tool_servers = options.tool_servers.clone();
    app.default_tools = options.tools.clone();
    app.tab_mut().tools = options.tools.clone();
    app.max_tool_steps = options.max_tool_steps;
    app.mouse_capture = options.mouse;
    app.tab_mut().settings = options.settings.clone();
    app.default_settings = options.settings;
    // A new conversation starts from the config file's settings; the tabs show them.
    app.base_settings = session.default_settings().clone();
    app.tab_mut().conversation_settings = app.base_settings.clone();
    if let Some(role) = &options.role {
        app.use_launch_role(role);
    }
    if let Some(store) = session.store() {
        // The tabs of last time come back; if they cannot be read, a fresh start is no loss.
        if let Ok(tabs) = store.read(restorable_tabs).await {
            app.restore(tabs);
        }
    }
    if let Some(id) = options.open {
        app.open_conversation(id);
    }
    let mut terminal = enter_terminal(options.mouse).map_err(|e| {
        restore_terminal();
        format!("The terminal could not be set up ({e}): run geminal in a terminal, or use `geminal ask`.")
    })?;
    let outcome = AssertUnwindSafe(event_loop(
        &mut terminal,
        &mut app,
        session,
        options.clipboard,
        (budgets, options.deadline, options.tool_box),
    ))
    .catch_unwind()
    .await;
    restore_terminal();
    let panic = PANIC.lock().ok().and_then(|mut p| p.take());
    match (outcome, panic) {
        (Ok(result), None) => result,
        (Ok(_), Some(message)) | (Err(_), Some(message)) => Err(format!(
            "geminal hit an internal error and closed ({}); your saved history is intact.",
            crate::sanitize::one_line(&message, 200)
        )),
        (Err(_), None) => Err("geminal hit an internal error and closed; your saved history is intact.".to_owned()),
    }
}

async fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    session: Arc<ChatSession>,
    clipboard: crate::config::ClipboardMode,
    (budgets, deadline, tools): (crate::config::Budgets, Option<Duration>, Option<Arc<crate::mcp::Hub>>),
) -> Result<Option<Stop>, String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<AppEvent>();
    let mut runner = Runner::new(session, clipboard, tx, app, budgets, deadline);
    if let Some(tools) = tools {
        runner.turns_runner = runner.turns_runner.clone().with_tools(tools);
    }
    let mut events = EventStream::new();
    let mut frames = tokio::time::interval(FRAME_INTERVAL);
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    #[cfg(unix)]
    let (mut sigterm, mut sighup) = quit_signals().map_err(|e| format!("Signals could not be set up ({e})."))?;
    // Ctrl-C is a key here; while an editor (Ctrl-X) has the terminal in its own mode it may
    // arrive as SIGINT instead, which must not end geminal: held, never acted on.
    #[cfg(unix)]
    let _interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let mut stopped = None;
    // The tabs as last saved (restored from there), and a timer to save them as they change.
    let mut kept_tabs = app.open_tabs();
    let mut tab_saves = tokio::time::interval(TABS_SAVE_INTERVAL);
    tab_saves.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // While the history browser is open, what other processes save shows up in it.
    let mut history_watch = tokio::time::interval(HISTORY_WATCH_INTERVAL);
    history_watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    draw(terminal, app)?;
    // The prompts asked before, for ↑ in an empty prompt.
    runner.perform(Command::LoadPrompts, app);
    // Each model's input limit, once, for the context meters.
    runner.perform(Command::LoadInputLimits, app);
    loop {
        #[cfg(unix)]
        let signals = async {
            tokio::select! {
                _ = sigterm.recv() => Stop::Terminate,
                _ = sighup.recv() => Stop::HangUp,
            }
        };
        #[cfg(not(unix))]
        let signals = std::future::pending::<Stop>();
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => app.on_terminal(event),
                _ => app.quit = true,
            },
            Some(event) = rx.recv() => {
                if let AppEvent::TurnDone { turn, .. }
                | AppEvent::TurnFailedToStart { turn, .. }
                | AppEvent::ConversationGone { turn, .. } = &event
                {
                    runner.turns.remove(turn);
                }
                app.on_event(event);
            }
            _ = frames.tick() => {
                if app.expire_flashes(std::time::Instant::now()) {
                    app.dirty = true;
                }
                let live = runner.session.engine().metrics().live();
                if live != app.metrics {
                    app.metrics = live;
                    app.dirty = true;
                }
                if app.dirty {
                    draw(terminal, app)?;
                }
            }
            _ = tab_saves.tick() => {
                if let Some(store) = runner.store() {
                    keep_tabs(app, &store, &mut kept_tabs);
                }
            }
            _ = history_watch.tick(), if app.focus == keys::Focus::History => {
                runner.perform(Command::WatchHistory, app);
            }
            stop = signals => {
                stopped = Some(stop);
                app.quit = true;
            }
        }
        for command in std::mem::take(&mut app.commands) {
            match command {
                Command::EditPrompt { tab, text } => {
                    // The editor owns the terminal until it exits: nothing else may read keys.
                    drop(events);
                    let result = run_editor(text, app.mouse_capture).await;
                    events = EventStream::new();
                    // The screen was cleared on the way back; a blank frame tells ratatui so,
                    // and the next frame draws every cell. (`Terminal::clear` would ask the
                    // terminal for its cursor, an answer the event stream then eats.)
                    terminal
                        .draw(|frame| frame.render_widget(ratatui::widgets::Clear, frame.area()))
                        .map_err(|e| format!("Drawing failed ({e})."))?;
                    app.edited(tab, result);
                }
                command => runner.perform(command, app),
            }
        }
        if app.quit {
            break;
        }
    }
    // Stop running answers and give their final saves a moment, so nothing shown is lost.
    for (_, running) in runner.turns.drain() {
        if let Some(cancel) = running.cancel {
            cancel.cancel();
        }
    }
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    while app.tabs.iter().any(|t| t.streaming) {
        tokio::select! {
            Some(event) = rx.recv() => app.on_event(event),
            _ = &mut grace => break,
        }
    }
    // Which tabs were open (and their drafts), for the next start.
    // A turn still waiting for the user's word is told to stop.
    app.stop_all_waiting();
    if let Some(store) = runner.store() {
        let tabs = app.open_tabs();
        let _ = store.call(move |s| s.save_open_tabs(&tabs)).await;
    }
    Ok(stopped)
}

/// Brings caches up to date, then draws from `&App`.
pub fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &mut App) -> Result<(), String> {
    let size = terminal.size().map_err(|e| format!("The terminal size could not be read ({e})."))?;
    let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
    prepare(app, area);
    terminal.draw(|frame| view::draw(frame, app)).map_err(|e| format!("Drawing failed ({e})."))?;
    app.dirty = false;
    Ok(())
}

/// Renders what the next frame needs (the active tab's messages at the current width).
pub fn prepare(app: &mut App, area: ratatui::layout::Rect) {
    app.width = area.width;
    if app.focus == keys::Focus::Help {
        app.help_scroll = app.help_scroll.min(overlay::help::help_max_scroll(area, &app.theme));
    }
    let input_rows = app.tab().input.lines().len() as u16;
    let [_, body, ..] = view::layout(area, input_rows);
    let (body, _) = view::split_body(app, body);
    app.page_height = usize::from(body.height);
    let theme = app.theme;
    let tab = app.tab_mut();
    tab.prepare(body.width, usize::from(body.height), &theme);
    tab.clamp_scroll(usize::from(body.height));
}

/// A turn the runner started, by its turn id.
struct Running {
    /// The tab it runs in.
    tab: u64,
    /// Cancelling stops the turn (its answer is kept, marked interrupted).
    cancel: Option<CancellationToken>,
    /// The conversation it writes into (0 until its prompt is saved, for a new one).
    conversation: Arc<AtomicI64>,
    /// The task running it: done once its final save is.
    task: Option<tokio::task::JoinHandle<()>>,
}

struct Runner {
    session: Arc<ChatSession>,
    clipboard: clipboard::Clipboard,
    tx: mpsc::UnboundedSender<AppEvent>,
    /// The turns running, by turn id.
    turns: HashMap<u64, Running>,
    /// Checked before each prompt is sent (none with `--over-budget`).
    budgets: crate::config::Budgets,
    /// Sets up and runs every tab's turns.
    turns_runner: crate::turn::Runner,
    /// Each turn's deadline (`timeout_secs`).
    deadline: Option<Duration>,
}

impl Runner {
    fn new(
        session: Arc<ChatSession>,
        clipboard: crate::config::ClipboardMode,
        tx: mpsc::UnboundedSender<AppEvent>,
        app: &App,
        budgets: crate::config::Budgets,
        deadline: Option<Duration>,
    ) -> Runner {
        // A tab always names its model and its role, so the runner's defaults are never used.
        let turns_runner = crate::turn::Runner::new(session.clone(), app.tab().model.clone(), app.roles.clone());
        let clipboard = clipboard::Clipboard::new(clipboard);
        Runner { session, clipboard, tx, turns: HashMap::new(), budgets, turns_runner, deadline }
    }

    fn store(&self) -> Option<StoreHandle> {
        self.session.store().cloned()
    }

    /// What tab `t`'s turn `turn` runs with. What the tab shows is what is sent: its
    /// conversation's settings as the tab loaded them (so a setting cleared in the tab stays
    /// cleared), its role's over them (its model and system prompt are the tab's already, since
    /// /role set them), the tab's own over both; what the model cannot take is refused.
    fn spec(
        &self,
        app: &App,
        t: &tab::Tab,
        turn: u64,
        prompt: String,
        branch: Branch,
        attachments: Vec<crate::attach::Attachment>,
    ) -> TurnSpec {
        let role = t.role.as_ref().and_then(|name| app.roles.iter().find(|r| &r.name == name)).cloned();
        TurnSpec {
            target: t.conversation_id.map_or(Target::New, Target::Conversation),
            branch,
            attachments,
            model: Some(t.model.clone()),
            keep_model: true,
            system: System::Override(t.system.clone()),
            role: role.map_or(RoleChoice::Nothing, |r| RoleChoice::Use(Box::new(r))),
            base_settings: Some(t.conversation_settings.clone()),
            settings: t.settings.clone(),
            // Checked before each prompt (80% warns in the tab, a spent budget refuses),
            // its worst case held while it runs (other tabs and processes count it).
            budget: BudgetPolicy::per_turn(self.budgets, false),
            deadline: self.deadline,
            // Its questions about tool calls come back to this tab, by this turn's id.
            tools: app.tool_use(t, Arc::new(overlay::approve::TuiApprover::new(self.tx.clone(), turn))),
            // Until `/tools` in this tab, the tab's role (or its conversation's) chooses.
            role_tools: !t.tools_chosen,
            ..TurnSpec::new(Target::New, prompt)
        }
    }

    fn perform(&mut self, command: Command, app: &App) {
        let tx = self.tx.clone();
        match command {
            Command::Send { tab, turn, prompt, branch, attachments } => {
                let Some(t) = app.tabs.iter().find(|t| t.id == tab) else { return };
                let conversation = t.conversation_id;
                let writes_into = Arc::new(AtomicI64::new(conversation.unwrap_or(0)));
                let saved_into = writes_into.clone();
                // Kept to give back if the conversation is gone.
                let mut asked = (!matches!(branch, Branch::Regenerate { .. })).then(|| prompt.clone());
                let mut kept = attachments.clone();
                let spec = self.spec(app, t, turn, prompt, branch, attachments);
                let mut handle = self.turns_runner.start_as(turn, spec);
                let cancel = handle.canceller();
                let task = tokio::spawn(async move {
                    while let Some(TurnUpdate { update, .. }) = handle.next().await {
                        let event = match update {
                            Update::BudgetNear(near) => AppEvent::TurnNote { turn, text: words::near_text(&near) },
                            Update::OverBudget(_) | Update::NotCounted | Update::Composed(_) => continue,
                            Update::Uploading(progress) => AppEvent::Uploading { turn, progress },
                            Update::Shown(shown) => {
                                if let Shown::Saved { conversation_id, .. } = &shown {
                                    saved_into.store(*conversation_id, Ordering::SeqCst);
                                }
                                AppEvent::Turn { turn, shown }
                            }
                            // Deleted by another tab or process since this tab showed it: nothing
                            // is sent, and the prompt goes back.
                            Update::Refused(Refused::Chat(ChatError::Store(StoreError::NoConversation { id })))
                                if conversation == Some(id) =>
                            {
                                AppEvent::ConversationGone {
                                    turn,
                                    conversation_id: id,
                                    prompt: asked.take(),
                                    attachments: std::mem::take(&mut kept),
                                }
                            }
                            Update::Refused(refused) => {
                                AppEvent::TurnFailedToStart { turn, message: words::refused(&refused) }
                            }
                            Update::Done(report) => AppEvent::TurnDone { turn, report },
                        };
                        let _ = tx.send(event);
                    }
                });
                self.turns
                    .insert(turn, Running { tab, cancel: Some(cancel), conversation: writes_into, task: Some(task) });
            }
            Command::Attach { tab, paths, then_send } => {
                tokio::spawn(async move {
                    let read = tokio::task::spawn_blocking(move || {
                        let mut attachments = Vec::new();
                        let mut errors = Vec::new();
                        for path in paths {
                            match crate::attach::read_path(&path) {
                                Ok(a) => attachments.push(a),
                                Err(e) => errors.push(words::attach_text(&e)),
                            }
                        }
                        (attachments, errors)
                    })
                    .await;
                    let (attachments, errors) =
                        read.unwrap_or_else(|_| (Vec::new(), vec!["The files could not be read.".to_owned()]));
                    let _ = tx.send(AppEvent::Attached { tab, attachments, errors, then_send });
                });
            }
            Command::Cancel { tab } => {
                for running in self.turns.values_mut().filter(|r| r.tab == tab) {
                    if let Some(cancel) = running.cancel.take() {
                        cancel.cancel();
                    }
                }
            }
            Command::Search { query, generation } => {
                let Some(store) = self.store() else { return };
                tokio::spawn(async move {
                    let rows = if query.trim().is_empty() {
                        store.cancel_searches();
                        store.read(|s| s.list_conversations(200, 0)).await.map(|list| {
                            list.into_iter()
                                .map(|c| HistoryRow {
                                    conversation_id: c.id,
                                    title: c.title,
                                    updated_at: c.updated_at,
                                    snippet: None,
                                    messages: Some(c.messages),
                                })
                                .collect()
                        })
                    } else {
                        store.search(query, 100).await.map(|hits| {
                            let mut seen = std::collections::HashSet::new();
                            hits.into_iter()
                                .filter(|h| seen.insert(h.conversation_id))
                                .map(|h| HistoryRow {
                                    conversation_id: h.conversation_id,
                                    title: h.title,
                                    updated_at: h.updated_at,
                                    snippet: Some(h.snippet),
                                    messages: None,
                                })
                                .collect()
                        })
                    };
                    let _ = tx.send(AppEvent::SearchResults { generation, rows: rows.map_err(|e| e.to_string()) });
                });
            }
            Command::WatchHistory => {
                let Some(store) = self.store() else { return };
                tokio::spawn(async move {
                    if let Ok(version) = store.read(|s| s.data_version()).await {
                        let _ = tx.send(AppEvent::HistoryVersion(version));
                    }
                });
            }
            Command::Preview { id } => {
                let Some(store) = self.store() else { return };
                tokio::spawn(async move {
                    if let Ok(messages) = store.read(move |s| s.active_path(id)).await {
                        let _ = tx.send(AppEvent::Preview { id, messages });
                    }
                });
            }
            Command::Open { id } => {
                let Some(store) = self.store() else { return };
                tokio::spawn(async move {
                    let read = move |s: &crate::store::Store| {
                        Ok((s.conversation(id)?, s.active_path(id)?, s.tool_calls_of_conversation(id)?))
                    };
                    let event = match store.read(read).await {
                        Ok((c, messages, tool_calls)) => {
                            let role = AppEvent::TabRole { conversation_id: id, role: c.role };
                            let _ = tx.send(AppEvent::Opened {
                                id,
                                title: c.title,
                                model: c.model,
                                system: c.system_prompt,
                                settings: crate::chat::Settings::from_stored(c.settings.as_deref()),
                                messages,
                                tool_calls,
                            });
                            role
                        }
                        Err(e) => AppEvent::Error(e.to_string()),
                    };
                    let _ = tx.send(event);
                });
            }
            Command::SwitchAlternative { tab, message_id, step } => {
                let Some(store) = self.store() else { return };
                let Some(conversation_id) = app.tabs.iter().find(|t| t.id == tab).and_then(|t| t.conversation_id)
                else {
                    return;
                };
                tokio::spawn(async move {
                    let switched = store
                        .call(move |s| {
                            let chosen = s.switch_alternative(message_id, step)?;
                            Ok((chosen, s.active_path(conversation_id)?))
                        })
                        .await;
                    let event = match switched {
                        Ok((chosen, messages)) => AppEvent::Reloaded { tab, conversation_id, messages, chosen },
                        Err(e) => AppEvent::Error(e.to_string()),
                    };
                    let _ = tx.send(event);
                });
            }
            Command::Delete { id } => {
                let Some(store) = self.store() else { return };
                // A turn writing into it is stopped first, and its last save awaited, so
                // nothing is written into the conversation after it is deleted.
                let mut stopping = Vec::new();
                for running in self.turns.values_mut() {
                    if running.conversation.load(Ordering::SeqCst) == id {
                        if let Some(cancel) = running.cancel.take() {
                            cancel.cancel();
                        }
                        stopping.extend(running.task.take());
                    }
                }
                tokio::spawn(async move {
                    for task in stopping {
                        let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
                    }
                    let event = match store.call(move |s| s.delete_conversation(id)).await {
                        Ok(_) => AppEvent::Deleted { id },
                        Err(e) => AppEvent::Error(e.to_string()),
                    };
                    let _ = tx.send(event);
                });
            }
            Command::MouseCapture(on) => {
                let mut out = std::io::stdout();
                let _ = if on {
                    crossterm::execute!(out, EnableMouseCapture)
                } else {
                    crossterm::execute!(out, DisableMouseCapture)
                };
            }
            Command::Rename { id, title } => {
                let Some(store) = self.store() else { return };
                tokio::spawn(async move {
                    let event = match store
                        .call(move |s| {
                            s.rename_conversation(id, &title)
                                .map(|()| title.split_whitespace().collect::<Vec<_>>().join(" "))
                        })
                        .await
                    {
                        Ok(title) => AppEvent::Renamed { id, title },
                        Err(e) => AppEvent::Error(e.to_string()),
                    };
                    let _ = tx.send(event);
                });
            }
            Command::LoadPrompts => {
                let Some(store) = self.store() else { return };
                tokio::spawn(async move {
                    if let Ok(prompts) = store.read(|s| s.recent_prompts(500)).await {
                        let _ = tx.send(AppEvent::Prompts(prompts));
                    }
                });
            }
            Command::LoadInputLimits => {
                let session = self.session.clone();
                tokio::spawn(async move {
                    if let Ok(limits) = session.load_input_limits().await {
                        let _ = tx.send(AppEvent::InputLimits(limits));
                    }
                });
            }
            Command::LoadModels => {
                let session = self.session.clone();
                tokio::spawn(async move {
                    let models = session.list_models().await;
                    let _ = tx.send(AppEvent::Models(models.map_err(|e| e.to_string())));
                });
            }
            Command::Copy { text } => {
                let copied = self.clipboard.copy(&text, &mut std::io::stdout());
                let _ = tx.send(AppEvent::Copied(copied));
            }
            Command::Export { tab, id, file } => {
                let Some(store) = self.store() else { return };
                tokio::spawn(async move {
                    let loaded =
                        store.read(move |s| Ok((s.conversation(id)?, s.active_path(id)?, s.messages(id)?))).await;
                    let written = match loaded {
                        Ok((conversation, shown, all)) => tokio::task::spawn_blocking(move || {
                            export_to_file(&conversation, &shown, &all, file.as_deref())
                        })
                        .await
                        .unwrap_or_else(|_| Err("The export failed unexpectedly: try again.".to_owned())),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(AppEvent::Exported { tab, written });
                });
            }
            // Run by the event loop, which owns the terminal.
            Command::EditPrompt { .. } => {}
        }
    }
}

#[cfg(test)]
mod turn_tests;
