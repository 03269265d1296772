//! The cells of a conversation: a message as the view keeps it ([`ChatMessage`]), and how each
//! kind of cell ([`CellKind`]: a prompt, an answer, a tool call or result) is drawn into lines
//! (tool cells in [`super::tools`]).

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::chat::Role;
use crate::render::markdown::render_markdown;
use crate::render::theme::Theme;
use crate::render::wrap::wrap_plain;
use crate::store::{Alternatives, MessageStatus, StoredMessage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// The saved message (none until its turn reports it, or if saving failed).
    pub id: Option<i64>,
    pub role: Role,
    pub text: String,
    pub status: MessageStatus,
    pub model: Option<String>,
    pub cached: bool,
    pub error: Option<String>,
    /// Regenerated answers / edited prompts at this place ("2/3").
    pub alternatives: Alternatives,
    /// The model's thought summaries before this answer (shown dimmed above it, never part of it).
    pub thoughts: String,
    /// Thoughts are folded to one line (`t` on the selected message unfolds them).
    pub thoughts_folded: bool,
    /// What a prompt had attached ("📎 report.pdf · 2.1 MiB" above its text).
    pub attachments: Vec<crate::domain::AttachmentInfo>,
    /// The answer's sources: markers in its text and the list below it, added when drawn.
    /// Boxed: few answers have any, and a message no bigger than a [`StoredMessage`] lets a
    /// reopened conversation's messages be made in place (no second buffer of thousands).
    pub grounding: Option<Box<crate::grounding::Grounding>>,
    /// What the answer cost (`None`: nothing was reported, as for a prompt).
    pub cost: Option<crate::money::AnswerCost>,
    /// A tool call or result shown as its own cell (`text` is then its safe text).
    pub tool: Option<Box<super::tools::ToolCell>>,
    /// An answer of a tool turn: where in `text` its part after the last call starts (what it
    /// wrote before each call is shown above that call, as a [`super::tools::ToolBody::Said`]).
    pub shown_from: usize,
}

impl ChatMessage {
    pub fn user(text: impl Into<String>) -> Self {
        ChatMessage::new(Role::User, text.into(), MessageStatus::Complete, None)
    }

    /// An answer about to be written by `model`.
    pub fn answer(model: &str) -> Self {
        ChatMessage::new(Role::Model, String::new(), MessageStatus::Streaming, Some(model.to_owned()))
    }

    fn new(role: Role, text: String, status: MessageStatus, model: Option<String>) -> Self {
        ChatMessage {
            id: None,
            role,
            text,
            status,
            model,
            cached: false,
            error: None,
            alternatives: Alternatives::default(),
            thoughts: String::new(),
            thoughts_folded: false,
            attachments: Vec::new(),
            grounding: None,
            cost: None,
            tool: None,
            shown_from: 0,
        }
    }
}

impl From<StoredMessage> for ChatMessage {
    fn from(m: StoredMessage) -> Self {
        ChatMessage {
            id: Some(m.id),
            role: m.role,
            text: m.text,
            error: m.error.as_ref().filter(|_| m.status != MessageStatus::Complete).map(crate::format::stored_sentence),
            status: m.status,
            model: m.model,
            cached: m.cached,
            alternatives: m.alternatives,
            thoughts: m.thoughts.unwrap_or_default(),
            thoughts_folded: false,
            attachments: m.attachments,
            grounding: crate::grounding::Grounding::from_stored(m.grounding.as_deref()).map(Box::new),
            cost: (m.role == Role::Model && (m.prompt_tokens.is_some() || m.cached)).then_some(m.cost),
            tool: None,
            shown_from: 0,
        }
    }
}

fn status_note(m: &ChatMessage) -> String {
    let mut note = String::new();
    if m.alternatives.count > 1 {
        note.push_str(&format!(" ‹{}/{}›", m.alternatives.index, m.alternatives.count));
    }
    if let Some(label) = crate::format::status_label(m.status, m.cached) {
        note.push_str(&format!(" · {label}"));
    }
    if let Some(cost) = m.cost.as_ref().and_then(|c| c.label(true, m.cached)) {
        note.push_str(&format!(" · {cost}"));
    }
    note
}

/// What a message is drawn as: each kind of cell renders its own body under the shared header
/// (who, alternatives, status, cost) and attachments. A new kind of thing shown (a tool call
/// and its result) is one more kind here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// What the user asked: plain text, as typed.
    Prompt,
    /// The model's answer: its thoughts, then its markdown with its sources.
    Answer,
    /// A tool call the model asked for, or what it gave.
    Tool,
}

impl CellKind {
    pub fn of(m: &ChatMessage) -> CellKind {
        if m.tool.is_some() {
            return CellKind::Tool;
        }
        match m.role {
            Role::User => CellKind::Prompt,
            Role::Model => CellKind::Answer,
        }
    }
}

/// The lines of message `m` at `width` (its header marked when `selected`), then a blank line.
pub(in crate::tui) fn render_message(m: &ChatMessage, width: u16, selected: bool, theme: &Theme) -> Vec<Line<'static>> {
    let kind = CellKind::of(m);
    if let Some(cell) = &m.tool {
        return super::tools::render_tool(cell, width, selected, theme);
    }
    let mut lines = vec![header(m, kind, selected, theme)];
    for a in &m.attachments {
        lines.extend(wrap_plain(&crate::attach::label(a), width, theme.muted));
    }
    match kind {
        CellKind::Prompt => lines.extend(prompt_body(m, width)),
        CellKind::Answer | CellKind::Tool => lines.extend(answer_body(m, width, theme)),
    }
    if let Some(error) = &m.error {
        lines.extend(wrap_plain(error, width, theme.error));
    }
    lines.push(Line::default());
    lines
}

/// Who wrote it ("you", or the model), with its alternatives, status and cost.
fn header(m: &ChatMessage, kind: CellKind, selected: bool, theme: &Theme) -> Line<'static> {
    let (who, color) = match kind {
        CellKind::Prompt => ("you".to_owned(), theme.user),
        CellKind::Answer | CellKind::Tool => {
            (crate::sanitize::one_line(m.model.as_deref().unwrap_or("gemini"), 40), theme.model)
        }
    };
    let mut who_style = color.add_modifier(Modifier::BOLD);
    let mut header = Vec::new();
    if selected {
        who_style = who_style.add_modifier(Modifier::REVERSED);
        header.push(Span::styled("▶ ", theme.accent.add_modifier(Modifier::BOLD)));
    }
    header.push(Span::styled(who, who_style));
    header.push(Span::styled(status_note(m), theme.muted));
    Line::from(header)
}

/// A prompt's text, wrapped as typed.
fn prompt_body(m: &ChatMessage, width: u16) -> Vec<Line<'static>> {
    wrap_plain(&m.text, width, Style::default())
}

/// An answer's thoughts, then its markdown (with its citation markers and sources when grounded).
fn answer_body(m: &ChatMessage, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = render_thoughts(m, width, theme);
    match &m.grounding {
        Some(g) => {
            let marked = crate::grounding::annotate(&m.text, g, crate::grounding::Marker::Delimited);
            lines.extend(crate::render::sources::style_markers(render_markdown(&marked, width, theme), theme));
            lines.extend(crate::render::sources::render_sources(g, width, theme));
        }
        // The part after its last tool call (the rest sits above the calls).
        None => lines.extend(render_markdown(m.text.get(m.shown_from..).unwrap_or(&m.text), width, theme)),
    }
    lines
}

/// The thoughts above an answer: dimmed, or folded to one line; "thinking…" while only
/// thoughts have arrived.
fn render_thoughts(m: &ChatMessage, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let dim = theme.muted.add_modifier(Modifier::DIM | Modifier::ITALIC);
    let mut lines = Vec::new();
    let thoughts = m.thoughts.trim_matches('\n');
    if !thoughts.is_empty() {
        if m.thoughts_folded {
            let count = thoughts.lines().filter(|l| !l.trim().is_empty()).count();
            let plural = if count == 1 { "" } else { "s" };
            lines.push(Line::styled(format!("▸ thoughts ({count} line{plural}; t shows them)"), dim));
        } else {
            lines.push(Line::styled("▾ thoughts (t folds them)".to_owned(), dim));
            // Rendered as the markdown they are (headings, bold), all of it dimmed.
            lines.extend(render_markdown(thoughts, width, theme).into_iter().map(|mut line| {
                line.style = line.style.patch(dim);
                for span in &mut line.spans {
                    span.style = span.style.patch(dim);
                }
                line
            }));
        }
    }
    if m.status == MessageStatus::Streaming && m.text.is_empty() && !thoughts.is_empty() {
        lines.push(Line::styled("thinking…".to_owned(), dim));
    } else if !thoughts.is_empty() && !m.thoughts_folded {
        lines.push(Line::default());
    }
    lines
}
