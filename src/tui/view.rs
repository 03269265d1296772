//! Drawing: functions of `&App` only, never changing state. The screen (conversation, the
//! approval line of tool calls when a turn waits, note line, prompt, status bar) is drawn here, the tab bar by [`super::tab_bar`]; each overlay
//! draws itself ([`super::overlay`]). Every string from the model, the history or a server
//! passes through `sanitize` (directly or via the markdown renderer).

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::app::{App, Confirm};
use super::keys::Focus;
use super::overlay;
use crate::chat::{Role, short_tokens};
use crate::render::wrap::wrap_plain;
use crate::sanitize::one_line;

pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;

/// The conversation area's height for a terminal of `height` rows with `input_rows` of prompt.
pub fn layout(area: Rect, input_rows: u16) -> [Rect; 5] {
    let input = (input_rows + 2).clamp(3, 10).min(area.height.saturating_sub(6).max(3));
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(input),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// The conversation's part of `body` and, below it, the approval line's (no rows when the
/// active tab waits for nothing).
pub fn split_body(app: &App, body: Rect) -> (Rect, Rect) {
    let rows = overlay::approve::height(app.tab(), body.width, &app.theme, body.height);
    let [conversation, approval] = Layout::vertical([Constraint::Min(1), Constraint::Length(rows)]).areas(body);
    (conversation, approval)
}

pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    let theme = app.theme;
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text =
            format!("Terminal too small: geminal needs {MIN_WIDTH}×{MIN_HEIGHT} (now {}×{}).", area.width, area.height);
        frame.render_widget(Paragraph::new(wrap_plain(&text, area.width, theme.warning)), area);
        return;
    }
    let tab = app.tab();
    let [tabs_area, body, note, input_area, status] = layout(area, tab.input.lines().len() as u16);
    super::tab_bar::draw(frame, &app.tabs, app.active, &theme, tabs_area);
    let (body, approval) = split_body(app, body);
    draw_conversation(frame, app, body);
    overlay::approve::draw(frame, app, approval);
    draw_note(frame, app, note);
    let mut input = tab.input.clone();
    input.set_placeholder_style(theme.muted);
    let mut title = match &tab.system {
        Some(s) => format!(" prompt · system: {} ", one_line(s, 40)),
        None => " prompt ".to_owned(),
    };
    if !tab.pending.is_empty() {
        // What goes with the next prompt, on its top border.
        let list: Vec<String> = tab.pending.iter().map(|a| crate::attach::label(&a.info)).collect();
        let text = format!("{}· {} · /attach clear ", title, list.join("  "));
        title = crate::format::fit(&text, usize::from(input_area.width.saturating_sub(2)));
    }
    let mut border = if app.focus == Focus::Chat { theme.accent } else { theme.muted };
    if tab.editing.is_some() {
        title = " editing a prompt · Enter sends it as a new branch · Esc cancels ".to_owned();
        border = theme.warning;
    }
    input.set_block(Block::default().borders(Borders::ALL).border_style(border).title(title));
    frame.render_widget(&input, input_area);
    draw_status(frame, app, status);
    match app.focus {
        Focus::Help => overlay::help::draw(frame, area, &theme, app.help_scroll),
        Focus::History => overlay::history::draw(frame, app, area),
        Focus::Confirm if matches!(app.confirm, Some(Confirm::DeleteConversation { .. })) => {
            overlay::history::draw(frame, app, area)
        }
        Focus::ModelPicker => overlay::models::draw(frame, app, area),
        Focus::Chat | Focus::Messages | Focus::Confirm | Focus::Find | Focus::Approve => {}
    }
    if let (Focus::Confirm, Some(confirm)) = (app.focus, &app.confirm) {
        overlay::confirm::draw(frame, area, &theme, confirm);
    }
}

fn draw_conversation(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = app.theme;
    let tab = app.tab();
    if tab.messages.is_empty() {
        let hint = vec![
            Line::default(),
            Line::styled("Ask anything.", Style::default().add_modifier(Modifier::BOLD)),
            Line::styled("Enter sends · Ctrl-T new tab · Ctrl-R history · F2 model · F1 help", theme.muted),
        ];
        frame.render_widget(Paragraph::new(hint).alignment(Alignment::Center), area);
        return;
    }
    let mut lines = tab.visible_lines(usize::from(area.height));
    if app.focus == Focus::Find && !app.find.is_empty() {
        let mark = theme.warning.add_modifier(Modifier::REVERSED);
        lines = lines.into_iter().map(|line| overlay::find::highlight_found(line, &app.find, mark)).collect();
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn draw_note(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = app.theme;
    let tab = app.tab();
    let line = if let Some(error) = &tab.error {
        Line::styled(one_line(error, usize::from(area.width)), theme.error)
    } else if let Some(notice) = &tab.notice {
        Line::styled(one_line(notice, usize::from(area.width)), theme.warning)
    } else if let Some(flash) = app.flash() {
        Line::styled(one_line(flash, usize::from(area.width)), theme.success)
    } else if let Some(hint) = app.slash_hint() {
        Line::styled(one_line(&hint, usize::from(area.width)), theme.accent)
    } else if app.focus == Focus::Find {
        let matches = app.find_matches();
        let at = tab.selected.and_then(|s| matches.iter().position(|&m| m == s));
        let count = match (at, matches.len()) {
            (_, 0) if app.find.is_empty() => "type to find".to_owned(),
            (_, 0) => "no match".to_owned(),
            (Some(at), n) => format!("message {} of {n} with it", at + 1),
            (None, n) => format!("{n} messages with it"),
        };
        let text = format!("find: {}▏ · {count} · Enter/↑ earlier · ↓ later · Esc", one_line(&app.find, 40));
        Line::styled(one_line(&text, usize::from(area.width)), theme.accent)
    } else if let (Focus::Messages, Some(i), true) =
        (app.focus, tab.selected, tab.selected.and_then(|i| tab.messages.get(i)).is_some_and(|m| m.tool.is_some()))
    {
        let hint = format!(
            "message {} of {} · ↑↓ move · Enter or t unfold/fold · y copy · Esc back",
            i + 1,
            tab.messages.len()
        );
        Line::styled(one_line(&hint, usize::from(area.width)), theme.accent)
    } else if let (Focus::Messages, Some(i)) = (app.focus, tab.selected) {
        let hint = format!(
            "message {} of {} · ↑↓ move · e edit · r regenerate · [ ] alternatives · y copy · c code blocks · t thoughts · Esc back",
            i + 1,
            tab.messages.len()
        );
        Line::styled(one_line(&hint, usize::from(area.width)), theme.accent)
    } else if tab.scroll_from_bottom > 0 {
        Line::styled(format!("↑ {} lines above the bottom · End to follow", tab.scroll_from_bottom), theme.muted)
    } else {
        Line::default()
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The servers a selection offers, for the status bar ("fs, time"); `None` when tools are off.
pub fn tools_in_use(selection: &crate::tools::Selection, configured: &[String]) -> Option<String> {
    match selection {
        _ if selection.is_off() => None,
        crate::tools::Selection::All if configured.is_empty() => Some("all".to_owned()),
        crate::tools::Selection::All => Some(configured.join(", ")),
        crate::tools::Selection::Servers(names) => Some(names.join(", ")),
        crate::tools::Selection::Off => None,
    }
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let tab = app.tab();
    let m = &app.metrics;
    let retrying = app.tabs.iter().filter(|t| t.retrying).count();
    // The thinking the next request asks for (`/thinking`, the launch flag, the conversation's
    // saved one) beside its model.
    let settings = tab.effective_settings(&app.roles);
    let mut thinking = settings.thinking.map(|t| format!(" · thinking {t}")).unwrap_or_default();
    // And its tools (`/search`, `/url-context`).
    if settings.search == Some(true) {
        thinking.push_str(" · search");
    }
    if settings.url_context == Some(true) {
        thinking.push_str(" · URL context");
    }
    // And the MCP servers whose tools it offers (`/tools`, else its role's).
    if let Some(names) = tools_in_use(&tab.effective_tools(&app.roles), &app.tool_servers) {
        thinking.push_str(&format!(" · tools: {}", one_line(&names, 40)));
    }
    let role = tab.role.as_deref().map(|r| format!(" · role {}", one_line(r, 20))).unwrap_or_default();
    // The context meter, once the model's input limit is known.
    let context = app.input_limits.get(&tab.model).map(|&limit| (tab.context_tokens(), limit));
    let meter = context.map(|(used, limit)| format!("ctx {}/{}", short_tokens(used), short_tokens(limit)));
    let head = format!("{}{role}{thinking} · ", one_line(&tab.model, 30));
    // This conversation's tokens and cost, then the engine's counts (those at zero left out,
    // so a narrow bar keeps what matters).
    // Each part whole or not at all: on a narrow bar the least useful go first (the order of
    // `drop`), so no count is cut mid-word.
    let mut parts: Vec<(u8, String)> = Vec::new();
    if let Some(m) = &meter {
        parts.push((6, m.clone()));
    }
    parts.push((5, format!("{} tokens", tab.tokens)));
    if let Some(cost) = tab.cost() {
        parts.push((4, cost.short()));
    }
    parts.push((2, format!("{} running", m.in_flight.max(0))));
    if m.queued > 0 {
        parts.push((3, format!("{} queued", m.queued)));
    }
    if m.cache_hits > 0 {
        parts.push((1, format!("{} cached", m.cache_hits)));
    }
    if retrying > 0 {
        parts.push((7, format!("{retrying} retrying")));
    }
    // The last answer's alternatives stay in sight when its header has scrolled away.
    if let Some(a) = tab.messages.iter().rev().find(|m| m.role == Role::Model).map(|m| m.alternatives)
        && a.count > 1
    {
        parts.push((8, format!("answer {}/{}", a.index, a.count)));
    }
    let right = if app.demo { " demo · F1 help " } else { " F1 help " };
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(right.len() as u16)]).areas(area);
    let room = usize::from(left_area.width);
    let joined = |parts: &[(u8, String)]| {
        format!("{head}{}", parts.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>().join(" · "))
    };
    while parts.len() > 1 && UnicodeWidthStr::width(joined(&parts).as_str()) > room {
        let least = parts.iter().enumerate().min_by_key(|(_, (rank, _))| *rank).map_or(0, |(i, _)| i);
        parts.remove(least);
    }
    let text = joined(&parts);
    let theme = app.theme;
    let style = theme.status_bar;
    let fitted = crate::format::fit(&text, room);
    // Near the limit (80% and more) the meter takes the warning colour.
    let near = context.is_some_and(|(used, limit)| used.saturating_mul(5) >= limit.saturating_mul(4));
    let line = match meter.filter(|_| near) {
        Some(meter) if fitted.starts_with(&format!("{head}{meter}")) => {
            let rest = fitted[head.len() + meter.len()..].to_owned();
            let warning = style.patch(theme.warning).add_modifier(Modifier::BOLD);
            Line::from(vec![Span::styled(head, style), Span::styled(meter, warning), Span::styled(rest, style)])
        }
        _ => Line::styled(fitted, style),
    };
    frame.render_widget(Paragraph::new(line).style(style), left_area);
    let right_style = if app.demo { style.add_modifier(Modifier::BOLD) } else { style };
    frame.render_widget(Paragraph::new(right).style(right_style), right_area);
}
