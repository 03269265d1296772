//! The approval line: a tab whose turn waits for the user's word on tool calls shows them above
//! its prompt (server, tool, arguments escaped; every call of the round), with `y run · n
//! refuse · a always · Esc stop the turn`, and takes those keys in a modal focus of its own
//! ([`Focus::Approve`]; nothing typed becomes text, other keys are ignored). Calls are answered
//! one at a time; "always" is remembered per conversation and answers later calls of the tool
//! at once. The interface's [`Approver`] sends the calls to the app loop with a oneshot reply;
//! every way a wait can end without an answer (tab closed, turn ended, app quitting, the reply
//! dropped) answers [`Approval::Stop`], so a turn never hangs.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use tokio::sync::{mpsc, oneshot};

use crate::render::theme::Theme;
use crate::render::wrap::wrap_plain;
use crate::tools::{Approval, Approver, PendingCall};
use crate::tui::app::{App, AppEvent};
use crate::tui::keys::{Action, Focus};
use crate::tui::tab::Tab;

/// y, n and a are taken only once the line has been in sight this long: a key typed for the
/// prompt just as the line appears is not an answer.
pub const ARMS_AFTER: Duration = Duration::from_millis(400);

/// The keys, as the line says them.
pub const KEYS: &str = "y run · n refuse · a always (this tool, this conversation) · Esc stop the turn";

/// The current call's arguments take at most this many lines of the approval line.
const ARGUMENT_LINES: usize = 6;
/// And are kept to this many bytes.
const ARGUMENT_BYTES: usize = 2048;

/// A round of calls waiting in a tab.
#[derive(Debug)]
pub struct Waiting {
    pub turn: u64,
    pub conversation_id: i64,
    pub calls: Vec<PendingCall>,
    /// The word on each call so far.
    pub answers: Vec<Option<Approval>>,
    /// When the line came into sight (keys are taken from [`ARMS_AFTER`] later).
    pub shown_at: Instant,
    /// Each call's arguments as shown: one line of JSON made safe, cut to a bound (made once,
    /// not at every frame).
    arguments: Vec<String>,
    reply: Option<oneshot::Sender<Vec<Approval>>>,
}

impl Waiting {
    /// The first call not answered yet.
    pub fn current(&self) -> Option<usize> {
        self.answers.iter().position(Option::is_none)
    }

    /// Sends the answers (any not given: Stop) and ends the wait.
    fn finish(&mut self) {
        let answers = self.answers.iter().map(|a| a.unwrap_or(Approval::Stop)).collect();
        if let Some(reply) = self.reply.take() {
            // The turn may have ended already: then no one is waiting.
            let _ = reply.send(answers);
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Tab {
    /// Ends a wait for approval with Stop for every call not answered (the tab closes, the turn
    /// ended, the conversation went, the app quits).
    pub fn stop_waiting(&mut self) {
        if let Some(mut waiting) = self.approval.take() {
            waiting.finish();
        }
    }
}

/// The interface's [`Approver`] for one turn: asks the app loop (by an [`AppEvent::Approve`]
/// carrying a oneshot reply) and awaits the user's word. It is made for the turn it asks
/// about, so the question lands in the tab running that turn whatever the turn calls itself.
#[derive(Debug, Clone)]
pub struct TuiApprover {
    tx: mpsc::UnboundedSender<AppEvent>,
    turn: u64,
}

impl TuiApprover {
    /// The approver of the interface's turn `turn`.
    pub fn new(tx: mpsc::UnboundedSender<AppEvent>, turn: u64) -> TuiApprover {
        TuiApprover { tx, turn }
    }
}

impl Approver for TuiApprover {
    fn approve<'a>(
        &'a self,
        _turn: u64,
        conversation_id: i64,
        calls: &'a [PendingCall],
    ) -> BoxFuture<'a, Vec<Approval>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let event = AppEvent::Approve { turn: self.turn, conversation_id, calls: calls.to_vec(), reply };
            if self.tx.send(event).is_err() {
                return vec![Approval::Stop; calls.len()];
            }
            match answer.await {
                Ok(answers) if answers.len() == calls.len() => answers,
                // The app went (the reply was dropped): stop, never hang.
                _ => vec![Approval::Stop; calls.len()],
            }
        })
    }
}

impl App {
    /// Turn `turn` asks about `calls`: those of a tool allowed "always" in this conversation
    /// are answered at once; the rest wait in the turn's tab. No tab runs the turn: Stop.
    pub(in crate::tui) fn on_approve(
        &mut self,
        turn: u64,
        conversation_id: i64,
        calls: Vec<PendingCall>,
        reply: oneshot::Sender<Vec<Approval>>,
    ) {
        let always = self.always.get(&conversation_id);
        let answers: Vec<Option<Approval>> = calls
            .iter()
            .map(|c| always.is_some_and(|a| a.contains(&(c.server.clone(), c.tool.clone()))).then_some(Approval::Run))
            .collect();
        let active = self.tab().id;
        let arguments = calls.iter().map(arguments_line).collect();
        let shown_at = Instant::now();
        let waiting = Waiting { turn, conversation_id, calls, answers, shown_at, arguments, reply: Some(reply) };
        let Some(tab) = self.tab_by_turn(turn) else { return };
        if waiting.current().is_none() {
            return;
        }
        // One round at a time; an older wait of this tab can no longer be answered.
        tab.stop_waiting();
        if tab.id != active {
            tab.unread = true;
        }
        tab.approval = Some(waiting);
        // Keys go to the line at once, even from a message selected in this tab.
        if self.tab().approval.is_some() {
            self.leave_messages();
        }
        self.settle_focus();
    }

    /// Keys go to the approval line while the active tab shows one, and back to the prompt after.
    /// (Alt-↑ from the line selects messages, to read or unfold the calls; Esc comes back.)
    pub(in crate::tui) fn settle_focus(&mut self) {
        let waits = self.tab().approval.is_some();
        if waits && self.focus == Focus::Chat {
            self.focus = Focus::Approve;
            // In sight from now.
            if let Some(w) = self.tab_mut().approval.as_mut() {
                w.shown_at = Instant::now();
            }
        } else if !waits && self.focus == Focus::Approve {
            self.focus = Focus::Chat;
        }
    }

    /// A key while the approval line has the keys: y, n, a and Esc answer; the keys that cannot
    /// be text (tabs, quit, help) go on; anything else is ignored.
    pub(in crate::tui) fn approve_action(&mut self, action: Action) -> Option<Action> {
        let word = match action {
            Action::Yes => Approval::Run,
            Action::No => Approval::Refuse,
            Action::Always => Approval::Run,
            Action::Stop => Approval::Stop,
            Action::Input(_) | Action::Send | Action::Newline => return None,
            other => return Some(other),
        };
        let waiting = self.tab_mut().approval.as_mut()?;
        if word != Approval::Stop && waiting.shown_at.elapsed() < ARMS_AFTER {
            return None;
        }
        let at = waiting.current()?;
        if word == Approval::Stop {
            // Esc stops the turn: every call not answered yet is Stop.
            for answer in waiting.answers.iter_mut().filter(|a| a.is_none()) {
                *answer = Some(Approval::Stop);
            }
        } else {
            waiting.answers[at] = Some(word);
        }
        if action == Action::Always {
            let call = &waiting.calls[at];
            let tool = (call.server.clone(), call.tool.clone());
            // Later calls of the same tool in this round are answered with it.
            for (answer, call) in waiting.answers.iter_mut().zip(&waiting.calls) {
                if answer.is_none() && call.server == tool.0 && call.tool == tool.1 {
                    *answer = Some(Approval::Run);
                }
            }
            let conversation = waiting.conversation_id;
            self.always.entry(conversation).or_default().insert(tool);
        }
        let tab = self.tab_mut();
        if tab.approval.as_ref().is_some_and(|w| w.current().is_none()) {
            tab.stop_waiting();
        }
        self.settle_focus();
        None
    }

    /// How tab `tab`'s next turn uses tools: its `/tools` choice, the configured step limit, and
    /// `approver` to ask (the user is asked about every call of a server not trusted).
    pub fn tool_use(&self, tab: &Tab, approver: std::sync::Arc<dyn Approver>) -> crate::tools::ToolUse {
        crate::tools::ToolUse {
            selection: tab.tools.clone(),
            max_steps: self.max_tool_steps,
            approve_all: false,
            approver: Some(approver),
        }
    }

    /// Every wait in every tab ends with Stop (the app quits).
    pub fn stop_all_waiting(&mut self) {
        for tab in &mut self.tabs {
            tab.stop_waiting();
        }
        self.settle_focus();
    }
}

/// The arguments as one line of JSON made safe for a terminal.
fn arguments_line(call: &PendingCall) -> String {
    let json = serde_json::to_string(&call.arguments).unwrap_or_default();
    let safe = crate::sanitize::json_for_terminal(&json);
    if safe.len() <= ARGUMENT_BYTES {
        return safe.into_owned();
    }
    let mut end = ARGUMENT_BYTES;
    while !safe.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} in all)", &safe[..end], crate::format::bytes(json.len() as u64))
}

/// The lines of the approval line at `width` (its top border not counted).
fn lines(waiting: &Waiting, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    lines_at(waiting, width, theme, &mut 0)
}

/// [`lines`], and where the call being asked about starts among them.
fn lines_at(waiting: &Waiting, width: u16, theme: &Theme, current_at: &mut usize) -> Vec<Line<'static>> {
    let columns = usize::from(width);
    let current = waiting.current();
    let mut out = Vec::new();
    for (i, (call, answer)) in waiting.calls.iter().zip(&waiting.answers).enumerate() {
        let (mark, style) = match answer {
            Some(Approval::Run) => ("✓ ", theme.success),
            Some(Approval::Refuse) => ("✗ ", theme.error),
            Some(Approval::Stop) => ("■ ", theme.error),
            None if Some(i) == current => ("▶ ", theme.accent.add_modifier(Modifier::BOLD)),
            None => ("  ", theme.muted),
        };
        let name =
            format!("{} · {}", crate::sanitize::one_line(&call.server, 40), crate::sanitize::one_line(&call.tool, 64));
        let name = crate::format::fit(&name, columns.saturating_sub(2));
        let used = 2 + unicode_width::UnicodeWidthStr::width(name.as_str());
        let mut spans = vec![Span::styled(mark, style), Span::styled(name, style.add_modifier(Modifier::BOLD))];
        let args = &waiting.arguments[i];
        if Some(i) == current {
            *current_at = out.len();
            out.push(Line::from(spans));
            // The call being asked about: its arguments whole, up to a few lines.
            let mut wrapped = wrap_plain(args, width.saturating_sub(2).max(1), ratatui::style::Style::default());
            if wrapped.len() > ARGUMENT_LINES {
                let more = wrapped.len() - (ARGUMENT_LINES - 1);
                wrapped.truncate(ARGUMENT_LINES - 1);
                wrapped.push(Line::styled(format!("… {more} more lines"), theme.muted));
            }
            out.extend(wrapped.into_iter().map(|mut l| {
                l.spans.insert(0, Span::raw("  "));
                l
            }));
        } else {
            if used + 2 < columns {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(crate::format::fit(args, columns - used - 1), theme.muted));
            }
            out.push(Line::from(spans));
        }
    }
    out.extend(wrap_plain(KEYS, width, theme.accent));
    out
}

/// Rows the approval line of `tab` takes at `width` (0: none), leaving `height` rows at least
/// three for the conversation.
pub fn height(tab: &Tab, width: u16, theme: &Theme, height: u16) -> u16 {
    let Some(waiting) = &tab.approval else { return 0 };
    let rows = lines(waiting, width, theme).len() as u16 + 1;
    rows.min(height.saturating_sub(3))
}

/// Draws the approval line of the active tab in `area`.
pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(waiting) = &app.tab().approval else { return };
    let theme = app.theme;
    let count = waiting.calls.len();
    let mut title = match waiting.current() {
        Some(at) if count > 1 => format!(" the model asks to run {count} tool calls · call {} of {count} ", at + 1),
        _ => " the model asks to run a tool call ".to_owned(),
    };
    if title.chars().count() > usize::from(area.width) {
        // Narrow: what is asked, still whole.
        title = match waiting.current() {
            Some(at) if count > 1 => format!(" run tool call {} of {count}? ", at + 1),
            _ => " run this tool call? ".to_owned(),
        };
    }
    let block = Block::default().borders(Borders::TOP).border_style(theme.warning).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut current_at = 0;
    let mut shown = lines_at(waiting, inner.width, &theme, &mut current_at);
    // On a short screen the keys stay in sight, the calls are cut.
    let room = usize::from(inner.height);
    if shown.len() > room {
        let keys = wrap_plain(KEYS, inner.width, theme.accent).len();
        let calls = room.saturating_sub(keys);
        let tail = shown.split_off(shown.len() - keys);
        // The calls around the one asked about, which stays in sight.
        let start = current_at.saturating_sub(1).min(shown.len().saturating_sub(calls));
        shown = shown.into_iter().skip(start).take(calls).collect();
        shown.extend(tail);
    }
    frame.render_widget(Paragraph::new(shown), inner);
}

#[cfg(test)]
#[path = "../tests/tools.rs"]
mod tests;
