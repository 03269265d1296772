//! Tool cells: each call the model asked for and each result it got is its own cell in the tab,
//! between the prompt and the answer, folded to one line until Enter or `t` on it (selected)
//! unfolds it; a new round or the step limit is a quiet line. Arguments and results are
//! untrusted: made safe here once (JSON escaped for the terminal, text sanitized) and cut to a
//! bound, so what is drawn, found and copied is the same safe text. A cell is built from plain
//! data (server, tool, arguments, result), from a turn's [`ToolStep`] or from a stored row.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use serde_json::Value;

use super::cells::ChatMessage;
use super::tab::Tab;
use crate::chat::Role;
use crate::render::theme::Theme;
use crate::render::wrap::wrap_plain;
use crate::store::MessageStatus;
use crate::tools::{ToolFailure, ToolOutput, ToolStep};

/// A result is shown up to this many bytes (the rest is cut, with its size said).
pub const SHOWN_MAX_BYTES: usize = 8 * 1024;
/// And up to this many lines.
pub const SHOWN_MAX_LINES: usize = 200;

/// One tool cell: a call, what it gave, or a step of the turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCell {
    /// The call's id within its turn (empty for a step).
    pub call_id: String,
    pub server: String,
    pub tool: String,
    pub body: ToolBody,
    /// Shown as one line (Enter or `t` on the selected cell unfolds it).
    pub folded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolBody {
    /// The arguments, as JSON made safe for a terminal (indented), cut to the bound.
    Call { arguments: String },
    /// What the call gave: its text made safe and cut to the bound.
    Output {
        text: String,
        /// The whole result's size in bytes.
        size: u64,
        /// Cut here, in the cell.
        cut: bool,
        /// The tool said the call failed (MCP's `isError`).
        is_error: bool,
        /// The server's result was over the configured limit and the model got it cut.
        truncated: bool,
        /// Images or other media it returned.
        media: usize,
    },
    /// The call gave nothing: why, in one sentence.
    Failed(String),
    /// A quiet line: a new round, or the step limit reached.
    Step(String),
    /// What the answer wrote before the calls that follow (its markdown, shown as the answer is).
    Said(String),
}

impl ToolCell {
    /// A call the model asked for.
    pub fn call(id: &str, server: &str, tool: &str, arguments: &Value) -> ToolCell {
        let json = serde_json::to_string_pretty(arguments).unwrap_or_default();
        let (arguments, _) = bounded(&crate::sanitize::json_for_terminal(&json));
        ToolCell {
            call_id: id.into(),
            server: server.into(),
            tool: tool.into(),
            body: ToolBody::Call { arguments },
            folded: true,
        }
    }

    /// What a call gave, as the turn reports it.
    pub fn returned(id: &str, server: &str, tool: &str, result: &Result<ToolOutput, ToolFailure>) -> ToolCell {
        match result {
            Ok(out) => ToolCell::output(
                id,
                server,
                tool,
                &output_text(&out.content),
                out.is_error,
                out.truncated,
                out.media.len(),
            ),
            Err(failure) => ToolCell::failed(id, server, tool, &failure_sentence(failure)),
        }
    }

    /// What a call gave, as plain data (a stored row): its text, untrusted.
    pub fn output(
        id: &str,
        server: &str,
        tool: &str,
        text: &str,
        is_error: bool,
        truncated: bool,
        media: usize,
    ) -> ToolCell {
        let (shown, cut) = bounded(&crate::sanitize::sanitize(text));
        let body = ToolBody::Output { text: shown, size: text.len() as u64, cut, is_error, truncated, media };
        ToolCell { call_id: id.into(), server: server.into(), tool: tool.into(), body, folded: true }
    }

    /// A call that gave nothing, with the sentence saying why (untrusted parts are sanitized).
    pub fn failed(id: &str, server: &str, tool: &str, sentence: &str) -> ToolCell {
        let body = ToolBody::Failed(crate::sanitize::one_line(sentence, 300));
        ToolCell { call_id: id.into(), server: server.into(), tool: tool.into(), body, folded: true }
    }

    /// A step of the turn that is no call: a new round or the step limit.
    pub fn step(text: &str) -> ToolCell {
        let body = ToolBody::Step(text.to_owned());
        ToolCell { call_id: String::new(), server: String::new(), tool: String::new(), body, folded: true }
    }

    /// The answer's words before the calls that follow it.
    pub fn said(text: &str) -> ToolCell {
        let body = ToolBody::Said(text.to_owned());
        ToolCell { call_id: String::new(), server: String::new(), tool: String::new(), body, folded: false }
    }

    /// "fs · read_text_file", made safe.
    fn name(&self) -> String {
        format!("{} · {}", crate::sanitize::one_line(&self.server, 40), crate::sanitize::one_line(&self.tool, 64))
    }

    /// What its one line says after the name.
    fn summary(&self) -> String {
        match &self.body {
            ToolBody::Call { arguments } => crate::sanitize::one_line(arguments, 400),
            ToolBody::Output { text, size, is_error, media, .. } => {
                let mut s = if *is_error { "the tool said it failed" } else { "ok" }.to_owned();
                s.push_str(&format!(" · {}", crate::format::bytes(*size)));
                if *media > 0 {
                    s.push_str(&format!(" · {media} media"));
                }
                let first = crate::sanitize::one_line(text, 200);
                if !first.is_empty() {
                    s.push_str(&format!(" · {first}"));
                }
                s
            }
            ToolBody::Failed(sentence) => sentence.clone(),
            ToolBody::Step(text) | ToolBody::Said(text) => text.clone(),
        }
    }

    /// The cell as text (already safe): what `y` copies and Ctrl-F finds.
    pub fn text(&self) -> String {
        match &self.body {
            ToolBody::Call { arguments } => format!("{}\n{arguments}", self.name()),
            ToolBody::Output { text, .. } => format!("{} · {}\n{text}", self.name(), self.header_note()),
            ToolBody::Failed(sentence) => format!("{} · {sentence}", self.name()),
            ToolBody::Step(text) | ToolBody::Said(text) => text.clone(),
        }
    }

    fn header_note(&self) -> String {
        match &self.body {
            ToolBody::Output { size, cut, is_error, truncated, media, .. } => {
                let mut s = if *is_error { "the tool said it failed" } else { "ok" }.to_owned();
                s.push_str(&format!(" · {}", crate::format::bytes(*size)));
                if *media > 0 {
                    s.push_str(&format!(" · {media} media"));
                }
                if *truncated {
                    s.push_str(" · cut by the result limit");
                }
                if *cut {
                    s.push_str(&format!(" · first {} shown", crate::format::bytes(SHOWN_MAX_BYTES as u64)));
                }
                s
            }
            _ => String::new(),
        }
    }
}

impl ChatMessage {
    /// A tool cell as a message of the tab (between its prompt and its answer).
    pub fn tool(cell: ToolCell) -> ChatMessage {
        let mut m = ChatMessage::answer("");
        m.model = None;
        m.status = MessageStatus::Complete;
        m.text = cell.text();
        m.tool = Some(Box::new(cell));
        m
    }
}

/// `text` cut to [`SHOWN_MAX_BYTES`] and [`SHOWN_MAX_LINES`] (at a character boundary), and
/// whether it was.
fn bounded(text: &str) -> (String, bool) {
    let mut end = text.len().min(SHOWN_MAX_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if let Some((at, _)) = text[..end].match_indices('\n').nth(SHOWN_MAX_LINES - 1) {
        end = at;
    }
    (text[..end].to_owned(), end < text.len())
}

/// A result's text: a string as itself, an object of one string as that string, anything else
/// as indented JSON.
fn output_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Object(map) if map.len() == 1 => match map.values().next() {
            Some(Value::String(s)) => s.clone(),
            _ => serde_json::to_string_pretty(content).unwrap_or_default(),
        },
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// Why a call gave nothing, in one sentence for the tab.
pub fn failure_sentence(failure: &ToolFailure) -> String {
    match failure {
        ToolFailure::Refused { needs_flag: false } => "Refused: the model was told it may not run this.".to_owned(),
        ToolFailure::Refused { needs_flag: true } => {
            "Refused: no one could be asked, and the model was told it may not run this.".to_owned()
        }
        ToolFailure::UnknownTool(name) => {
            format!("The model asked for {}, a tool it was not offered.", crate::sanitize::one_line(name, 64))
        }
        ToolFailure::ServerStopped { server, last_stderr } => match last_stderr {
            Some(line) => format!(
                "Server {} stopped: {}",
                crate::sanitize::one_line(server, 40),
                crate::sanitize::one_line(line, 200)
            ),
            None => format!("Server {} stopped.", crate::sanitize::one_line(server, 40)),
        },
        ToolFailure::TimedOut(secs) => format!("No result within {secs} s: the call was stopped."),
        ToolFailure::Cancelled => "Cancelled: the turn was stopped.".to_owned(),
        ToolFailure::Failed(message) => format!("The server said: {}", crate::sanitize::one_line(message, 200)),
    }
}

/// Servers left out of a turn because they did not start, in one sentence for the tab.
pub fn unavailable_sentence(servers: &[crate::tools::ListError]) -> String {
    let each: Vec<String> = servers
        .iter()
        .map(|e| match e {
            crate::tools::ListError::ServerStopped { server, last_stderr: Some(line) } if !line.trim().is_empty() => {
                format!("{} ({})", crate::sanitize::one_line(server, 40), crate::sanitize::one_line(line, 120))
            }
            crate::tools::ListError::ServerStopped { server, .. } => crate::sanitize::one_line(server, 40),
            crate::tools::ListError::UnknownServer(name) => crate::sanitize::one_line(name, 40),
        })
        .collect();
    match each.as_slice() {
        [one] => format!("Server {one} did not start: this turn goes on without its tools."),
        _ => format!("Servers {} did not start: this turn goes on without their tools.", each.join(", ")),
    }
}

/// The cells of a saved call (a reopened conversation): the call, then how it ended.
pub fn stored_cells(saved: &crate::store::StoredToolCall) -> Vec<ChatMessage> {
    let call = &saved.call;
    let server = call.server.as_deref().unwrap_or("");
    let arguments: Value =
        serde_json::from_str(&call.arguments).unwrap_or_else(|_| Value::String(call.arguments.clone()));
    let mut cells = vec![ChatMessage::tool(ToolCell::call(&call.call_id, server, &call.name, &arguments))];
    let ended = match &saved.end {
        None => ToolCell::failed(&call.call_id, server, &call.name, "The call did not return (the turn stopped)."),
        Some(end) => match end.error_kind.as_deref() {
            Some(kind) => {
                let sentence = crate::chat::failure_from_stored(kind, end.error_detail.as_deref())
                    .map(|f| failure_sentence(&f))
                    .unwrap_or_else(|| format!("The call ended: {}.", crate::sanitize::one_line(kind, 40)));
                ToolCell::failed(&call.call_id, server, &call.name, &sentence)
            }
            None => {
                let result = end.result.as_deref().unwrap_or("");
                let text = serde_json::from_str::<Value>(result)
                    .map(|v| output_text(&v))
                    .unwrap_or_else(|_| result.to_owned());
                ToolCell::output(
                    &call.call_id,
                    server,
                    &call.name,
                    &text,
                    end.status == "error",
                    false,
                    end.media.len(),
                )
            }
        },
    };
    cells.push(ChatMessage::tool(ended));
    cells
}

impl Tab {
    /// Puts the saved calls of the answers shown in, each answer's before it (as they stood
    /// while it ran). Calls of answers not shown (another branch) are left out.
    pub fn show_tool_calls(&mut self, calls: &[crate::store::StoredToolCall]) {
        if calls.is_empty() {
            return;
        }
        let mut messages = Vec::with_capacity(self.messages.len() + 3 * calls.len());
        for mut m in std::mem::take(&mut self.messages) {
            if m.role == Role::Model
                && m.tool.is_none()
                && let Some(id) = m.id
            {
                let mine: Vec<&crate::store::StoredToolCall> = calls.iter().filter(|c| c.message_id == id).collect();
                // What the answer wrote before each round's calls goes above them (a grounded
                // answer's markers count in its whole text: it stays whole).
                let split = m.grounding.is_none();
                let mut from = 0;
                for (at, saved) in crate::export::split_at_calls(&m.text, &mine) {
                    if split && !m.text[from..at].trim().is_empty() {
                        messages.push(ChatMessage::tool(ToolCell::said(&m.text[from..at])));
                    }
                    from = at;
                    messages.extend(stored_cells(saved));
                }
                if split {
                    m.shown_from = from;
                }
            }
            messages.push(m);
        }
        self.messages = messages;
        self.revision += 1;
    }

    /// A step of the running turn: a cell before the answer being written. A result is shown
    /// only for a call of this turn with its id that has none yet (the id is checked).
    pub fn add_tool_step(&mut self, step: ToolStep) {
        let turn_start = self.messages.iter().rposition(|m| m.role == Role::User).map_or(0, |i| i + 1);
        let answer_last = self.messages.last().is_some_and(|m| m.role == Role::Model && m.tool.is_none());
        let at = if answer_last { self.messages.len() - 1 } else { self.messages.len() };
        let this_turn = || self.messages[turn_start.min(at)..at].iter().filter_map(|m| m.tool.as_deref());
        let cell = match step {
            ToolStep::Called { id, server, tool, arguments } => {
                // What the answer wrote since its last call goes above this one.
                if answer_last {
                    let answer = &mut self.messages[at];
                    let lead = answer.text.get(answer.shown_from..).unwrap_or_default().to_owned();
                    answer.shown_from = answer.text.len();
                    if !lead.trim().is_empty() {
                        self.insert_cell(at, ToolCell::said(&lead));
                        return self.add_tool_step(ToolStep::Called { id, server, tool, arguments });
                    }
                }
                ToolCell::call(&id, &server, &tool, &arguments)
            }
            ToolStep::Returned { id, result } => {
                let is_call = |c: &&ToolCell| c.call_id == id && matches!(c.body, ToolBody::Call { .. });
                let Some(call) = this_turn().find(is_call) else { return };
                let answered = this_turn().any(|c| c.call_id == id && !matches!(c.body, ToolBody::Call { .. }));
                if answered {
                    return;
                }
                ToolCell::returned(&id, &call.server.clone(), &call.tool.clone(), &result)
            }
            ToolStep::Round { round, max } => {
                ToolCell::step(&format!("round {round} of {max}: the results went back to the model"))
            }
            ToolStep::StepLimit { max } => ToolCell::step(&format!(
                "the turn used its {max} tool rounds: the model was asked to answer without tools"
            )),
            ToolStep::Unavailable { servers } => ToolCell::step(&unavailable_sentence(&servers)),
        };
        self.insert_cell(at, cell);
    }

    fn insert_cell(&mut self, at: usize, cell: ToolCell) {
        self.messages.insert(at, ChatMessage::tool(cell));
        if let Some(selected) = self.selected.as_mut().filter(|s| **s >= at) {
            *selected += 1;
        }
        // Every message after the insertion moved: render them all again.
        self.revision += 1;
    }

    /// The running answer's text was cleared (a restart) or replaced (its end): the words it
    /// wrote before its calls stay above them only while its text still starts with them.
    pub fn keep_said(&mut self) {
        let Some(last) = self.messages.len().checked_sub(1) else { return };
        let answer = &self.messages[last];
        if answer.role != Role::Model || answer.tool.is_some() || answer.shown_from == 0 {
            return;
        }
        let turn_start = self.messages.iter().rposition(|m| m.role == Role::User).map_or(0, |i| i + 1);
        let said: String = self.messages[turn_start.min(last)..last]
            .iter()
            .filter_map(|m| match m.tool.as_deref().map(|c| &c.body) {
                Some(ToolBody::Said(text)) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let answer = &self.messages[last];
        let holds = answer.grounding.is_none()
            && answer.shown_from <= answer.text.len()
            && answer.text.is_char_boundary(answer.shown_from)
            && answer.text[..answer.shown_from].trim() == said.trim();
        if !holds {
            // Shown whole again, below the calls.
            let mut i = turn_start;
            while i < self.messages.len() - 1 {
                if matches!(self.messages[i].tool.as_deref().map(|c| &c.body), Some(ToolBody::Said(_))) {
                    self.messages.remove(i);
                } else {
                    i += 1;
                }
            }
            if let Some(answer) = self.messages.last_mut() {
                answer.shown_from = 0;
            }
            self.selected = None;
            self.revision += 1;
        }
    }

    /// Enter or `t` on a selected tool cell: folds or unfolds it. Whether it was one.
    pub fn toggle_tool(&mut self, index: usize) -> bool {
        let Some(cell) = self.messages.get_mut(index).and_then(|m| m.tool.as_deref_mut()) else { return false };
        if matches!(cell.body, ToolBody::Step(_) | ToolBody::Said(_)) {
            return true;
        }
        cell.folded = !cell.folded;
        self.revision += 1;
        true
    }
}

/// The lines of a tool cell at `width` (marked when `selected`).
pub(in crate::tui) fn render_tool(cell: &ToolCell, width: u16, selected: bool, theme: &Theme) -> Vec<Line<'static>> {
    let columns = usize::from(width);
    if let ToolBody::Said(text) = &cell.body {
        let mut lines = crate::render::markdown::render_markdown(text, width, theme);
        if selected && let Some(first) = lines.first_mut() {
            first.spans.insert(0, Span::styled("▶ ", theme.accent.add_modifier(Modifier::BOLD)));
        }
        lines.push(Line::default());
        return lines;
    }
    if let ToolBody::Step(text) = &cell.body {
        let style = theme.muted.add_modifier(Modifier::DIM | Modifier::ITALIC);
        let mut lines = vec![Line::styled(crate::format::fit(&format!("· {text}"), columns), style)];
        lines.push(Line::default());
        return lines;
    }
    let mut spans = Vec::new();
    if selected {
        spans.push(Span::styled("▶ ", theme.accent.add_modifier(Modifier::BOLD)));
    }
    let (arrow, color) = match &cell.body {
        ToolBody::Call { .. } => ("→ ", theme.accent),
        ToolBody::Output { is_error: false, .. } => ("← ", theme.success),
        _ => ("← ", theme.error),
    };
    spans.push(Span::styled(if cell.folded { "▸ " } else { "▾ " }, theme.muted));
    spans.push(Span::styled(arrow, color));
    let mut name_style = color.add_modifier(Modifier::BOLD);
    if selected {
        name_style = name_style.add_modifier(Modifier::REVERSED);
    }
    let name = cell.name();
    let used: usize = spans.iter().map(|s| unicode_width::UnicodeWidthStr::width(s.content.as_ref())).sum();
    let name = crate::format::fit(&name, columns.saturating_sub(used));
    let used = used + unicode_width::UnicodeWidthStr::width(name.as_str());
    spans.push(Span::styled(name, name_style));
    let rest = if cell.folded {
        cell.summary()
    } else {
        match &cell.body {
            ToolBody::Output { .. } => cell.header_note(),
            ToolBody::Failed(sentence) => sentence.clone(),
            _ => String::new(),
        }
    };
    if !rest.is_empty() && used + 4 < columns {
        // (`fit` trims the text it fits: the separator goes apart.)
        spans.push(Span::styled(" · ", theme.muted));
        spans.push(Span::styled(crate::format::fit(&rest, columns - used - 3), theme.muted));
    }
    let mut lines = vec![Line::from(spans)];
    if !cell.folded {
        match &cell.body {
            ToolBody::Call { arguments } => lines.extend(wrap_plain(arguments, width, theme.muted)),
            ToolBody::Output { text, cut, size, .. } => {
                lines.extend(wrap_plain(text, width, ratatui::style::Style::default()));
                if *cut {
                    let said = format!(
                        "… cut here: the first {} of {} are shown",
                        crate::format::bytes(text.len() as u64),
                        crate::format::bytes(*size)
                    );
                    lines.extend(wrap_plain(&said, width, theme.warning));
                }
            }
            ToolBody::Failed(_) | ToolBody::Step(_) | ToolBody::Said(_) => {}
        }
    }
    // A call and its result sit together; a blank line after each result.
    if !matches!(cell.body, ToolBody::Call { .. }) || !cell.folded {
        lines.push(Line::default());
    }
    lines
}
