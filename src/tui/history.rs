//! The history browser's state: a query typed live (in a one-line field that edits like the
//! prompt), the matching conversations, a selection and its preview. Searches run elsewhere; each
//! carries a generation so an answer to an older query (typed faster than the database replied)
//! is dropped.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::{Input, TextArea};

use crate::store::StoredMessage;

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

    /// Results for `generation`; false (and ignored) if a newer query was typed since.
    pub fn results(&mut self, generation: u64, rows: Result<Vec<HistoryRow>, String>) -> bool {
        if generation != self.generation {
            return false;
        }
        self.loading = false;
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
