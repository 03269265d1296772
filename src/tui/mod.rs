//! The full-screen interface: tabs of conversations streaming at once and a history browser.
//! One `tokio::select!` loop over terminal events, turn events, a frame tick and a timer that
//! saves the open tabs and drafts as they change (so a crash keeps them); state changes
//! in `app`, drawing in `view` (which only reads), a frame only when something changed (at
//! most ~60 per second). All I/O goes through `chat` (turns) and the store's handle (history).
//! The terminal is restored on every way out: normal exit, panic, SIGTERM and SIGHUP.

pub mod app;
pub mod clipboard;
pub mod editor;
pub mod highlight;
pub mod history;
pub mod keys;
pub mod markdown;
pub mod slash;
pub mod sources;
pub mod tab;
pub mod theme;
pub mod view;
mod wrap;

use std::collections::HashMap;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, EventStream,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use futures::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use tokio::sync::{mpsc, oneshot};

use crate::chat::{Branch, ChatError, ChatSession, Outcome, Shown, Target, TurnEvent, TurnReport};
use crate::cli::signals::Stop;
use crate::llm::ApiError;
use crate::store::{StoreError, StoreHandle};
use app::{App, AppEvent, Command};
use history::HistoryRow;

/// Time between frames when something changed: at most ~60 frames per second.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(16);
/// How long quitting waits for running answers to be saved.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How often the open tabs and drafts are saved when they changed: a crash (`kill -9`) loses
/// at most this much typing.
pub const TABS_SAVE_INTERVAL: Duration = Duration::from_millis(250);

static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC: Mutex<Option<String>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// Puts the terminal back as it was: cooked mode, main screen, cursor, no mouse reporting or
/// bracketed paste. Safe to call more than once; only the first call acts.
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        leave_screen();
    }
}

/// Cooked mode, the main screen and its cursor, no mouse reporting or bracketed paste.
fn leave_screen() {
    let _ = disable_raw_mode();
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = out.flush();
}

fn enter_terminal(mouse: bool) -> std::io::Result<Terminal<CrosstermBackend<std::io::Stdout>>> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.load(Ordering::SeqCst) {
                // Printing now would land in the alternate screen; keep it for after restoring.
                if let Ok(mut slot) = PANIC.lock() {
                    slot.get_or_insert_with(|| info.to_string());
                }
            } else {
                previous(info);
            }
        }));
    });
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = std::io::stdout();
    crossterm::execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
    if mouse {
        crossterm::execute!(out, EnableMouseCapture)?;
    }
    Terminal::new(CrosstermBackend::new(out))
}

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
}

/// Runs the interface until the user quits, or a signal (SIGTERM, SIGHUP) ends it: then that
/// signal, for the exit code. Returns a message for stderr on failure.
pub async fn run(session: ChatSession, options: Options) -> Result<Option<Stop>, String> {
    let session = Arc::new(session);
    let budgets = if options.over_budget { crate::config::Budgets::default() } else { options.budgets };
    let mut app = App::new(&options.model, options.demo);
    app.tab_mut().system = options.system.clone();
    app.default_system = options.system.clone();
    app.roles = options.roles.clone();
    app.names = options.names.clone();
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
    let outcome =
        AssertUnwindSafe(event_loop(&mut terminal, &mut app, session, options.clipboard, budgets)).catch_unwind().await;
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

/// The tabs kept when the interface last closed, each with its conversation as it is now.
fn restorable_tabs(store: &crate::store::Store) -> Result<Vec<app::Restored>, crate::store::StoreError> {
    let mut restored = Vec::new();
    for tab in store.open_tabs()? {
        let conversation = match tab.conversation_id {
            Some(id) => {
                let c = store.conversation(id)?;
                Some(app::RestoredConversation {
                    id,
                    title: c.title,
                    model: c.model,
                    system: c.system_prompt,
                    role: c.role,
                    settings: crate::chat::Settings::from_stored(c.settings.as_deref()),
                    messages: store.active_path(id)?,
                })
            }
            None => None,
        };
        restored.push(app::Restored { conversation, draft: tab.draft, active: tab.active });
    }
    Ok(restored)
}

/// Leaves the full screen for the user's editor and comes back when it exits. Answers keep
/// streaming (and being saved) meanwhile; the screen catches up on return.
async fn run_editor(text: String, mouse: bool) -> Result<Option<String>, String> {
    leave_screen();
    let command = editor::editor_command();
    let result = tokio::task::spawn_blocking(move || editor::edit(&text, &command))
        .await
        .unwrap_or_else(|_| Err("The editor could not be run.".to_owned()));
    let _ = enable_raw_mode();
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        EnterAlternateScreen,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All),
        EnableBracketedPaste
    );
    if mouse {
        let _ = crossterm::execute!(out, EnableMouseCapture);
    }
    result
}

#[cfg(unix)]
fn quit_signals() -> std::io::Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok((signal(SignalKind::terminate())?, signal(SignalKind::hangup())?))
}

async fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    session: Arc<ChatSession>,
    clipboard: crate::config::ClipboardMode,
    budgets: crate::config::Budgets,
) -> Result<Option<Stop>, String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<AppEvent>();
    let mut runner =
        Runner { session, clipboard: clipboard::Clipboard::new(clipboard), tx, turns: HashMap::new(), budgets };
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
            let _ = cancel.send(());
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
    if let Some(store) = runner.store() {
        let tabs = app.open_tabs();
        let _ = store.call(move |s| s.save_open_tabs(&tabs)).await;
    }
    Ok(stopped)
}

/// Saves the open tabs, their drafts and which is active if they changed since `kept` (queued
/// on the store's writer, coalesced with a save still waiting there).
pub fn keep_tabs(app: &App, store: &StoreHandle, kept: &mut Vec<crate::store::OpenTab>) {
    let tabs = app.open_tabs();
    if tabs != *kept {
        store.save_open_tabs_soon(tabs.clone());
        *kept = tabs;
    }
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
        app.help_scroll = app.help_scroll.min(view::help_max_scroll(area));
    }
    let input_rows = app.tab().input.lines().len() as u16;
    let [_, body, ..] = view::layout(area, input_rows);
    app.page_height = usize::from(body.height);
    let tab = app.tab_mut();
    tab.prepare(body.width, usize::from(body.height));
    tab.clamp_scroll(usize::from(body.height));
}

/// The sentence refusing a prompt when what is spent and held leaves nothing of a budget.
fn held_text(r: &crate::money::Refusal) -> String {
    let (name, period) = match r.period {
        crate::money::Period::Day => ("daily", "today"),
        crate::money::Period::Month => ("monthly", "this month"),
    };
    format!(
        "Nothing is left of the {name} budget of {}: {} spent {period} and {} held by requests still running; nothing was sent; wait for them, or start geminal with --over-budget to ask anyway.",
        r.limit, r.spent, r.reserved
    )
}

/// The sentence refusing a prompt when a budget is spent (`None`: send it).
async fn spent_budget(session: &ChatSession, budgets: crate::config::Budgets) -> Option<String> {
    if budgets.daily.is_none() && budgets.monthly.is_none() {
        return None;
    }
    let spent = session.store()?.read(|s| s.spending()).await.ok()?;
    match crate::money::check_budgets(spent, budgets.daily, budgets.monthly) {
        crate::money::BudgetCheck::Over(r) => {
            let (name, period) = match r.period {
                crate::money::Period::Day => ("daily", "today"),
                crate::money::Period::Month => ("monthly", "this month"),
            };
            Some(format!(
                "The {name} budget of {} is spent ({} {period}): nothing was sent; start geminal with --over-budget to ask anyway, or raise budget.{name} in the config.",
                r.limit, r.spent
            ))
        }
        _ => None,
    }
}

/// A turn the runner started, by its turn id.
struct Running {
    /// The tab it runs in.
    tab: u64,
    /// Sending stops the turn (its answer is kept, marked interrupted).
    cancel: Option<oneshot::Sender<()>>,
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
}

impl Runner {
    fn store(&self) -> Option<StoreHandle> {
        self.session.store().cloned()
    }

    fn perform(&mut self, command: Command, app: &App) {
        let tx = self.tx.clone();
        match command {
            Command::Send { tab, turn, prompt, branch, attachments } => {
                let Some(t) = app.tabs.iter().find(|t| t.id == tab) else { return };
                let (cancel_tx, cancel_rx) = oneshot::channel();
                let conversation = t.conversation_id;
                let writes_into = Arc::new(AtomicI64::new(conversation.unwrap_or(0)));
                let saved_into = writes_into.clone();
                let (model, system, session) = (t.model.clone(), t.system.clone(), self.session.clone());
                let settings = t.settings.clone();
                let conversation_settings = t.conversation_settings.clone();
                let tab_role = t.role.clone();
                let role = tab_role.as_ref().and_then(|name| app.roles.iter().find(|r| &r.name == name)).cloned();
                let budgets = self.budgets;
                let task = tokio::spawn(async move {
                    // A budget spent during the session refuses before anything is sent.
                    if let Some(text) = spent_budget(&session, budgets).await {
                        let _ = tx.send(AppEvent::TurnFailedToStart { turn, message: text });
                        return;
                    }
                    // Kept to give back if the conversation is gone.
                    let asked = (!matches!(branch, Branch::Regenerate { .. })).then(|| prompt.clone());
                    let prepared = match conversation {
                        Some(id) => session.prepare_branch(id, branch, prompt, Some(model), system).await,
                        None => session.prepare(Target::New, prompt, Some(model.clone()), &model, system).await,
                    };
                    let mut prepared = match prepared {
                        Ok(p) => p,
                        // Deleted by another tab or process since this tab showed it: nothing is
                        // sent, and the prompt goes back.
                        Err(ChatError::Store(StoreError::NoConversation { id })) if conversation == Some(id) => {
                            let _ = tx.send(AppEvent::ConversationGone {
                                turn,
                                conversation_id: id,
                                prompt: asked,
                                attachments,
                            });
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send(AppEvent::TurnFailedToStart { turn, message: e.to_string() });
                            return;
                        }
                    };
                    // What the tab shows is what is sent: its conversation's settings as the tab
                    // loaded them (so a setting cleared in the tab stays cleared), its role's
                    // over them (its model and system prompt are the tab's already, since /role
                    // set them), the tab's own over both; what the model cannot take is refused.
                    prepared.settings = conversation_settings;
                    let configured = match &role {
                        Some(role) => prepared.use_role(role, true, true, &settings),
                        None => prepared.configure(&settings),
                    };
                    prepared.role = tab_role;
                    if let Err(e) = configured {
                        let _ = tx.send(AppEvent::TurnFailedToStart { turn, message: e.to_string() });
                        return;
                    }
                    // Large files are uploaded now; the tab's note shows how far.
                    let upload_tx = tx.clone();
                    let progress = move |progress| drop(upload_tx.send(AppEvent::Uploading { turn, progress }));
                    if let Err(e) = session.attach(&mut prepared, attachments, &progress).await {
                        let _ = tx.send(AppEvent::TurnFailedToStart { turn, message: e.to_string() });
                        return;
                    }
                    // A conversation longer than the model takes: its newest turns, or nothing.
                    match session.fit_context(&mut prepared).await {
                        Ok(Some(trimmed)) => {
                            let shown = crate::chat::Shown::Notice(crate::chat::Notice::ContextTrimmed(trimmed));
                            let _ = tx.send(AppEvent::Turn { turn, shown });
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let _ = tx.send(AppEvent::TurnFailedToStart { turn, message: e.to_string() });
                            return;
                        }
                    }
                    let cancel = async move {
                        match cancel_rx.await {
                            Ok(()) => TurnEvent::Cancelled,
                            Err(_) => std::future::pending().await,
                        }
                    };
                    let shown_tx = tx.clone();
                    let mut show = move |shown| {
                        if let Shown::Saved { conversation_id, .. } = &shown {
                            saved_into.store(*conversation_id, Ordering::SeqCst);
                        }
                        let _ = shown_tx.send(AppEvent::Turn { turn, shown });
                    };
                    // Its worst case is held against the budgets while it runs (other tabs and
                    // processes count it); nothing is left of one: refused, unsent.
                    let hold = match session.hold(&prepared, budgets.daily, budgets.monthly).await {
                        Ok(hold) => hold,
                        Err(refusal) => {
                            let _ = tx.send(AppEvent::TurnFailedToStart { turn, message: held_text(&refusal) });
                            return;
                        }
                    };
                    let run = AssertUnwindSafe(session.run(prepared, &mut show, cancel)).catch_unwind().await;
                    session.release(hold).await;
                    let mut report = run.unwrap_or_else(|_| TurnReport {
                        conversation_id: None,
                        prompt_id: None,
                        answer_id: None,
                        status: crate::store::MessageStatus::Error,
                        text: String::new(),
                        outcome: Outcome::Failed(ApiError::Protocol {
                            detail: "an internal error stopped this answer".into(),
                        }),
                        cached: false,
                        usage: None,
                        cost: Default::default(),
                        thoughts: String::new(),
                        grounding: None,
                        save_error: None,
                        answered_by: None,
                    });
                    // A save that failed may mean the conversation was deleted meanwhile (by
                    // another process): the store says whether it is still there.
                    if let (Some(_), Some(id), Some(store)) =
                        (&report.save_error, report.conversation_id, session.store())
                        && let Ok(false) = store.read(move |s| s.conversation_exists(id)).await
                    {
                        report.save_error = Some(StoreError::NoConversation { id });
                    }
                    let _ = tx.send(AppEvent::TurnDone { turn, report: Box::new(report) });
                });
                self.turns.insert(
                    turn,
                    Running { tab, cancel: Some(cancel_tx), conversation: writes_into, task: Some(task) },
                );
            }
            Command::Attach { tab, paths, then_send } => {
                tokio::spawn(async move {
                    let read = tokio::task::spawn_blocking(move || {
                        let mut attachments = Vec::new();
                        let mut errors = Vec::new();
                        for path in paths {
                            match crate::attach::read_path(&path) {
                                Ok(a) => attachments.push(a),
                                Err(crate::attach::AttachError::Directory { path }) => errors.push(format!(
                                    "Cannot attach {path}: it is a directory; attach the files inside instead, one /attach each."
                                )),
                                Err(e) => errors.push(e.to_string()),
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
                        let _ = cancel.send(());
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
                    let event = match store.read(move |s| Ok((s.conversation(id)?, s.active_path(id)?))).await {
                        Ok((c, messages)) => {
                            let role = AppEvent::TabRole { conversation_id: id, role: c.role };
                            let _ = tx.send(AppEvent::Opened {
                                id,
                                title: c.title,
                                model: c.model,
                                system: c.system_prompt,
                                settings: crate::chat::Settings::from_stored(c.settings.as_deref()),
                                messages,
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
                            let _ = cancel.send(());
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

/// Writes a conversation for `/export`: JSON when the file name ends in `.json`, else Markdown,
/// to `file` (a leading `~/` is the home directory) or to `geminal-<id>-<title>.md` in the
/// current directory. An existing file is never replaced. Returns the sentence for the tab.
fn export_to_file(
    conversation: &crate::store::Conversation,
    shown: &[crate::store::StoredMessage],
    all: &[crate::store::StoredMessage],
    file: Option<&str>,
) -> Result<String, String> {
    use std::path::PathBuf;
    let path = match file.map(str::trim) {
        Some(name) => match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => PathBuf::from(name),
        },
        None => PathBuf::from(default_export_name(conversation.id, &conversation.title)),
    };
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text =
        if json { crate::export::json(conversation, shown, all) } else { crate::export::markdown(conversation, shown) };
    let shown_path = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let shown_path = crate::sanitize::one_line(&shown_path.display().to_string(), 120);
    crate::export::write_private(&path, &text, false).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{shown_path} already exists: give /export another file name.")
        }
        kind => format!("Could not write {shown_path} ({kind}): check the path and free space."),
    })?;
    Ok(format!("Exported {} message{} to {shown_path}.", shown.len(), if shown.len() == 1 { "" } else { "s" }))
}

/// `geminal-42-why-do-birds-migrate.md`: the id and up to 40 characters of the title.
fn default_export_name(id: i64, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { format!("geminal-{id}.md") } else { format!("geminal-{id}-{slug}.md") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

    fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
        app.on_terminal(Event::Key(KeyEvent::new(code, modifiers)));
    }

    fn type_in(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, KeyCode::Char(c), KeyModifiers::NONE);
        }
    }

    /// Issue 20 item 3: tabs opened and drafts typed since the last clean exit were lost to a
    /// `kill -9`. They are saved as they change; here the process "dies" without the exit's
    /// save, and the next start brings back the tabs, their drafts and the active one.
    #[tokio::test]
    async fn tabs_drafts_and_the_active_tab_survive_a_crash() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("history.sqlite3");
        let (mut store, _) = crate::store::Store::open(&path).unwrap();
        let id = store.create_conversation("birds", "m", None).unwrap();
        let hi = crate::store::NewMessage {
            role: crate::domain::Role::User,
            text: "why do birds migrate?".into(),
            model: None,
            status: crate::store::MessageStatus::Complete,
            cached: false,
        };
        store.add_message(id, &hi).unwrap();
        let messages = store.active_path(id).unwrap();
        let handle = StoreHandle::spawn(store).unwrap();

        let mut app = App::new("m", false);
        let mut kept = app.open_tabs();
        app.on_event(AppEvent::Opened {
            id,
            title: "birds".into(),
            model: "m".into(),
            system: None,
            settings: None,
            messages,
        });
        type_in(&mut app, "and in wint");
        keep_tabs(&app, &handle, &mut kept);
        press(&mut app, KeyCode::Char('t'), KeyModifiers::CONTROL);
        type_in(&mut app, "a second draft");
        keep_tabs(&app, &handle, &mut kept);
        press(&mut app, KeyCode::Char('1'), KeyModifiers::ALT);
        type_in(&mut app, "er?");
        keep_tabs(&app, &handle, &mut kept);
        // The writer has done what was queued (a fraction of a second in a live process); then
        // the process dies: no exit save.
        handle.call(|_| Ok(())).await.unwrap();
        drop(handle);

        let (store, _) = crate::store::Store::open(&path).unwrap();
        let mut next = App::new("m", false);
        next.restore(restorable_tabs(&store).unwrap());
        let tabs: Vec<(Option<i64>, String)> = next.tabs.iter().map(|t| (t.conversation_id, t.input_text())).collect();
        assert_eq!(tabs, [(Some(id), "and in winter?".to_owned()), (None, "a second draft".to_owned())]);
        assert_eq!(next.active, 0, "the first tab was active");
        assert_eq!(next.tab().messages.len(), 1, "with its conversation");
    }

    #[test]
    fn an_export_is_named_after_its_conversation() {
        assert_eq!(default_export_name(42, "Why do birds migrate?"), "geminal-42-why-do-birds-migrate.md");
        assert_eq!(default_export_name(7, "../../etc/passwd"), "geminal-7-etc-passwd.md");
        assert_eq!(default_export_name(3, "🦀🦀"), "geminal-3.md");
        assert_eq!(default_export_name(1, "Café: crème brûlée"), "geminal-1-café-crème-brûlée.md");
    }
}
