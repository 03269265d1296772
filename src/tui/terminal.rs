//! The terminal the interface takes: raw mode, the alternate screen, bracketed paste and the
//! mouse on the way in; everything put back on every way out (normal exit, panic, a signal),
//! and around the user's editor (Ctrl-X). A panic while the screen is taken is kept to be
//! printed once it is restored.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::editor;

pub(super) static ACTIVE: AtomicBool = AtomicBool::new(false);
pub(super) static PANIC: Mutex<Option<String>> = Mutex::new(None);
pub(super) static HOOK: Once = Once::new();

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

pub(super) fn enter_terminal(mouse: bool) -> std::io::Result<Terminal<CrosstermBackend<std::io::Stdout>>> {
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

/// Leaves the full screen for the user's editor and comes back when it exits. Answers keep
/// streaming (and being saved) meanwhile; the screen catches up on return.
pub(super) async fn run_editor(text: String, mouse: bool) -> Result<Option<String>, String> {
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
pub(super) fn quit_signals() -> std::io::Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok((signal(SignalKind::terminate())?, signal(SignalKind::hangup())?))
}
