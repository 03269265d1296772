//! The history browser (Ctrl-R): its state, its keys and its drawing. A query typed live (in a
//! one-line field that edits like the prompt), the matching conversations, a selection and its
//! preview. Searches run elsewhere (the runner, on a [`Command::Search`]); each carries a
//! generation so an answer to an older query (typed faster than the database replied) is dropped.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::{Input, TextArea};

use super::centered;
use crate::chat::Role;
use crate::render::theme::Theme;
use crate::render::wrap::wrap_plain;
use crate::sanitize::one_line;
use crate::store::{SearchHit, StoredMessage};
use crate::tui::app::{App, Command};
use crate::tui::keys::{Action, Focus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub conversation_id: i64,
    pub title: String,
    pub updated_at: i64,
    /// The matching passage (with the store's match markers), for a search.
    pub snippet: Option<String>,
    pub messages: Option<i64>,
}

/// The search field: one line, edited with the prompt's widget and keys (Ctrl-A / Ctrl-E or
/// Home / End, ← →, Ctrl-U and Ctrl-K to the start and end, Ctrl-W and Alt-Backspace a word).
#[derive(Debug, Default)]
pub struct SearchField {
    area: TextArea<'static>,
}

impl SearchField {
    pub fn text(&self) -> &str {
        self.area.lines().first().map_or("", String::as_str)
    }

    /// The text before the cursor, after it, and whether it is all selected (typing replaces it).
    pub fn parts(&self) -> (&str, &str, bool) {
        let text = self.text();
        let at = text.char_indices().nth(self.area.cursor().1).map_or(text.len(), |(i, _)| i);
        (&text[..at], &text[at..], self.area.selection_range().is_some())
    }

    /// Opening the browser again: the old text is selected, so typing replaces it (and the
    /// arrows or Home/End keep it to edit).
    pub fn select_all(&mut self) {
        self.area.cancel_selection();
        if !self.text().is_empty() {
            self.area.select_all();
        }
    }

    /// Applies one key; returns whether the text changed. Keys that would make a second line
    /// or a tab do nothing.
    pub fn edit(&mut self, key: KeyEvent) -> bool {
        let before = self.text().to_owned();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => {
                self.area.delete_line_by_head();
            }
            KeyCode::Char('m' | 'j') if ctrl => return false,
            KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab => return false,
            // Typing over the selection replaces it; an arrow ends it.
            _ => {
                self.area.input(Input::from(key));
            }
        }
        self.text() != before
    }

    /// Pasted text, on one line.
    pub fn paste(&mut self, text: &str) {
        self.area.insert_str(text.replace(['\n', '\r'], " "));
    }
}

#[derive(Debug, Default)]
pub struct HistoryBrowser {
    /// What the search field holds (kept in step with it by [`HistoryBrowser::edit`]).
    pub query: String,
    pub field: SearchField,
    pub rows: Vec<HistoryRow>,
    pub selected: usize,
    pub generation: u64,
    pub preview: Option<(i64, Vec<StoredMessage>)>,
    pub error: Option<String>,
    pub loading: bool,
    /// The history's version when the rows were last asked for (`None`: not read yet).
    pub seen_version: Option<i64>,
    /// The results coming are a refresh: the selected conversation stays selected.
    keep_selected: Option<i64>,
}

impl HistoryBrowser {
    /// A key for the search field; true when the query changed (the caller searches again).
    pub fn edit(&mut self, key: KeyEvent) -> bool {
        let changed = self.field.edit(key);
        self.query = self.field.text().to_owned();
        changed
    }

    /// Pasted text for the search field.
    pub fn paste(&mut self, text: &str) {
        self.field.paste(text);
        self.query = self.field.text().to_owned();
    }

    /// A new query: bump the generation; the caller asks the store.
    pub fn query_changed(&mut self) -> u64 {
        self.generation += 1;
        self.loading = true;
        self.generation
    }

    /// The same query again, the history having changed: quietly (no "searching"), the
    /// selected conversation kept selected where it still is.
    pub fn refreshed(&mut self) -> u64 {
        self.generation += 1;
        self.keep_selected = self.selected_id();
        self.generation
    }

    /// Results for `generation`; false (and ignored) if a newer query was typed since.
    pub fn results(&mut self, generation: u64, rows: Result<Vec<HistoryRow>, String>) -> bool {
        if generation != self.generation {
            return false;
        }
        self.loading = false;
        let keep = self.keep_selected.take();
        match rows {
            Ok(rows) => {
                self.rows = rows;
                self.error = None;
            }
            Err(e) => {
                self.rows.clear();
                self.error = Some(e);
            }
        }
        if let Some(at) = keep.and_then(|id| self.rows.iter().position(|r| r.conversation_id == id)) {
            self.selected = at;
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        self.forget_stale_preview();
        true
    }

    pub fn selected_id(&self) -> Option<i64> {
        self.rows.get(self.selected).map(|r| r.conversation_id)
    }

    pub fn move_selection(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let last = self.rows.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
        self.forget_stale_preview();
    }

    /// The preview shows the selected conversation or nothing, never another one: with no
    /// results, after an error, or once the selection moves on, it is dropped (and the caller
    /// asks for the selected one).
    fn forget_stale_preview(&mut self) {
        if self.preview.as_ref().map(|(id, _)| *id) != self.selected_id() {
            self.preview = None;
        }
    }
}

impl App {
    /// Ctrl-R: the browser opens on the last query (selected: typing replaces it), searching at once.
    pub(in crate::tui) fn open_history(&mut self) {
        self.focus = Focus::History;
        self.history.field.select_all();
        // What is saved from now on is watched from the version read next.
        self.history.seen_version = None;
        self.search();
    }

    /// An action while the browser is open: `None` when the browser took it, else the action
    /// for the rest of the interface.
    pub(in crate::tui) fn history_action(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::ScrollUp(n) => {
                self.history.move_selection(-(n.max(1) as isize));
                self.preview();
            }
            Action::ScrollDown(n) => {
                self.history.move_selection(n.max(1) as isize);
                self.preview();
            }
            Action::Up | Action::Down => {
                let delta = if action == Action::Up { -1 } else { 1 };
                self.history.move_selection(delta);
                self.preview();
            }
            Action::Select => {
                if let Some(id) = self.history.selected_id() {
                    self.focus = Focus::Chat;
                    self.open(id);
                }
            }
            Action::Delete => {
                if let Some(row) = self.history.rows.get(self.history.selected) {
                    let (id, title) = (row.conversation_id, row.title.clone());
                    self.ask(super::confirm::Confirm::DeleteConversation { id, title });
                }
            }
            Action::Input(key) => {
                if self.history.edit(key) {
                    self.search();
                }
            }
            other => return Some(other),
        }
        None
    }

    /// Text pasted into the query.
    pub(in crate::tui) fn history_paste(&mut self, text: &str) {
        self.history.paste(text);
        self.search();
    }

    /// Searches for the query as it is now.
    pub(in crate::tui) fn search(&mut self) {
        let generation = self.history.query_changed();
        self.commands.push(Command::Search { query: self.history.query.clone(), generation });
    }

    /// The history's version, read while the browser is open: when another process (or a tab)
    /// saved something since the rows were asked for, they are asked for again.
    pub(in crate::tui) fn history_version(&mut self, version: i64) {
        if self.focus != Focus::History {
            return;
        }
        match self.history.seen_version.replace(version) {
            Some(seen) if seen != version => {
                let generation = self.history.refreshed();
                self.commands.push(Command::Search { query: self.history.query.clone(), generation });
            }
            _ => {}
        }
    }

    /// Loads the preview of the selected conversation, unless it shows already.
    pub(in crate::tui) fn preview(&mut self) {
        if let Some(id) = self.history.selected_id()
            && self.history.preview.as_ref().map(|(p, _)| *p) != Some(id)
        {
            self.commands.push(Command::Preview { id });
        }
    }
}

/// A snippet with its match markers turned into highlighted spans.
fn snippet_line(snippet: &str, width: usize, theme: &Theme) -> Line<'static> {
    let clean = one_line(snippet, width.saturating_sub(4));
    let mut spans = vec![Span::raw("   ")];
    let mut highlighted = false;
    for part in clean.split_inclusive([SearchHit::MARK_START, SearchHit::MARK_END]) {
        let (text, marker) = match part.chars().last() {
            Some(c @ (SearchHit::MARK_START | SearchHit::MARK_END)) => (&part[..part.len() - c.len_utf8()], Some(c)),
            _ => (part, None),
        };
        let style = if highlighted { theme.matched } else { theme.muted };
        spans.push(Span::styled(text.to_owned(), style));
        if let Some(m) = marker {
            highlighted = m == SearchHit::MARK_START;
        }
    }
    Line::from(spans)
}

/// How much of each message the history browser's preview lays out.
const PREVIEW_BYTES: usize = 8 * 1024;

/// The browser over the whole screen: the query, the results, the selected one's preview.
pub(in crate::tui) fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = app.theme;
    let popup = centered(area, area.width.saturating_sub(4), area.height.saturating_sub(2));
    frame.render_widget(Clear, popup);
    let block =
        Block::default().borders(Borders::ALL).title(" history · type to search · Enter opens · Del deletes · Esc ");
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [query_area, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(inner);
    let h = &app.history;
    let status = if h.loading { " …" } else { "" };
    // The cursor where it is; old text selected (typing replaces it) shown reversed.
    let (before, after, selected) = h.field.parts();
    let text_style = if selected { ratatui::style::Style::default().reversed() } else { Default::default() };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" search: ", theme.accent),
            Span::styled(one_line(before, 200), text_style),
            Span::styled("▏", theme.accent),
            Span::styled(one_line(after, 200), text_style),
            Span::styled(status, theme.muted),
        ])),
        query_area,
    );
    let [list_area, preview_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    let width = usize::from(list_area.width);
    let mut lines = Vec::new();
    if let Some(error) = &h.error {
        lines.extend(wrap_plain(error, list_area.width, theme.error));
    } else if h.rows.is_empty() && !h.loading {
        lines.push(Line::styled(" no conversations match", theme.muted));
    }
    let now = crate::store::now_ms();
    for (i, row) in h.rows.iter().enumerate() {
        let selected = i == h.selected;
        let style = if selected { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
        let size = row.messages.map(|n| format!(" · {n} msgs")).unwrap_or_default();
        let head = format!(
            " #{} {} ({}{size})",
            row.conversation_id,
            one_line(&row.title, 60),
            crate::format::ago(row.updated_at, now)
        );
        lines.push(Line::styled(crate::format::fit(&head, width), style));
        if let Some(snippet) = &row.snippet {
            lines.push(snippet_line(snippet, width, &theme));
        }
    }
    // Keep the selection in view.
    let selected_line = h.rows.iter().take(h.selected).map(|r| 1 + usize::from(r.snippet.is_some())).sum::<usize>();
    let skip = selected_line.saturating_sub(usize::from(list_area.height).saturating_sub(3));
    frame.render_widget(Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()), list_area);
    let mut preview = Vec::new();
    if let Some((_, messages)) = &h.preview {
        for m in messages.iter().take(40) {
            let (who, style) = if m.role == Role::User { ("you", theme.user) } else { ("gemini", theme.model) };
            preview.push(Line::styled(who, style.add_modifier(Modifier::BOLD)));
            let width = preview_area.width.saturating_sub(1);
            // Twelve lines show at most a few kilobytes: a pasted 10 MB log is not wrapped
            // whole on every frame.
            let mut end = m.text.len().min(PREVIEW_BYTES);
            while !m.text.is_char_boundary(end) {
                end -= 1;
            }
            let text = &m.text[..end];
            let body = match m.role {
                Role::User => wrap_plain(text, width, Style::default()),
                Role::Model => crate::render::markdown::render_markdown(text, width, &theme),
            };
            preview.extend(body.into_iter().take(12));
        }
    }
    frame.render_widget(
        Paragraph::new(preview).block(Block::default().borders(Borders::LEFT).border_style(theme.muted)),
        preview_area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> HistoryRow {
        HistoryRow { conversation_id: id, title: format!("t{id}"), updated_at: 0, snippet: None, messages: None }
    }

    #[test]
    fn results_of_an_older_query_are_dropped() {
        let mut b = HistoryBrowser::default();
        let first = b.query_changed();
        let second = b.query_changed();
        assert!(!b.results(first, Ok(vec![row(1)])));
        assert!(b.rows.is_empty() && b.loading);
        assert!(b.results(second, Ok(vec![row(2), row(3)])));
        assert_eq!(b.selected_id(), Some(2));
    }

    fn previewing(b: &mut HistoryBrowser, id: i64) {
        let g = b.query_changed();
        b.results(g, Ok(vec![row(id), row(id + 1)]));
        b.preview = Some((id, Vec::new()));
    }

    #[test]
    fn no_results_clear_the_preview() {
        let mut b = HistoryBrowser::default();
        previewing(&mut b, 1);
        let g = b.query_changed();
        assert!(b.results(g, Ok(Vec::new())));
        assert_eq!(b.preview, None);
    }

    #[test]
    fn an_error_clears_the_preview() {
        let mut b = HistoryBrowser::default();
        previewing(&mut b, 1);
        let g = b.query_changed();
        b.results(g, Err("The search failed.".into()));
        assert_eq!(b.preview, None);
    }

    #[test]
    fn results_without_the_previewed_conversation_on_the_selected_row_clear_it() {
        let mut b = HistoryBrowser::default();
        previewing(&mut b, 1);
        let g = b.query_changed();
        b.results(g, Ok(vec![row(5), row(1)]));
        assert_eq!((b.selected_id(), b.preview.as_ref().map(|p| p.0)), (Some(5), None));
    }

    #[test]
    fn results_that_keep_the_previewed_conversation_selected_keep_its_preview() {
        let mut b = HistoryBrowser::default();
        previewing(&mut b, 1);
        let g = b.query_changed();
        b.results(g, Ok(vec![row(1)]));
        assert_eq!(b.preview.as_ref().map(|p| p.0), Some(1));
    }

    #[test]
    fn moving_the_selection_drops_the_old_preview() {
        let mut b = HistoryBrowser::default();
        previewing(&mut b, 1);
        b.move_selection(1);
        assert_eq!((b.selected_id(), b.preview.as_ref().map(|p| p.0)), (Some(2), None));
    }

    #[test]
    fn the_selection_stays_in_range() {
        let mut b = HistoryBrowser::default();
        let g = b.query_changed();
        b.results(g, Ok(vec![row(1), row(2)]));
        b.move_selection(5);
        assert_eq!(b.selected_id(), Some(2));
        b.move_selection(-9);
        assert_eq!(b.selected_id(), Some(1));
        let g = b.query_changed();
        b.results(g, Err("bad query".into()));
        assert_eq!((b.selected_id(), b.error.as_deref()), (None, Some("bad query")));
    }
}
