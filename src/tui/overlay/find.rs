//! Find (Ctrl-F, `/` on a selected message): text typed in the find bar selects the messages of
//! the conversation that contain it, Enter / ↑ the one before, ↓ the one after; the conversation
//! view marks every occurrence ([`highlight_found`]). Its keys and its drawing.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::edit_line;
use crate::tui::app::App;
use crate::tui::keys::{Action, Focus};

impl App {
    /// Ctrl-F: the find bar opens on the latest match; pressed again, the match before.
    pub(in crate::tui) fn open_find(&mut self) {
        if self.focus != Focus::Find {
            self.focus = Focus::Find;
            self.find_step(0);
        } else {
            self.find_step(-1);
        }
    }

    /// An action while the find bar is open: `None` when it took it, else the action for the
    /// rest of the interface.
    pub(in crate::tui) fn find_action(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Stop => {
                self.focus = Focus::Chat;
                self.tab_mut().selected = None;
            }
            Action::Up => self.find_step(-1),
            Action::Down => self.find_step(1),
            Action::Input(key) => {
                if edit_line(&mut self.find, key) {
                    self.find_step(0);
                }
            }
            other => return Some(other),
        }
        None
    }

    /// The messages of this tab that contain what the find bar holds (any case).
    pub fn find_matches(&self) -> Vec<usize> {
        let needle = self.find.to_lowercase();
        if needle.is_empty() {
            return Vec::new();
        }
        let tab = self.tab();
        (0..tab.messages.len()).filter(|&i| tab.messages[i].text.to_lowercase().contains(&needle)).collect()
    }

    /// Selects a message that matches: the latest one (`step` 0, as the text changes), or the
    /// one before (-1) or after (1) the message selected now, staying at the ends.
    pub(in crate::tui) fn find_step(&mut self, step: isize) {
        let matches = self.find_matches();
        let current = self.tab().selected;
        let chosen = match (step, current) {
            (0, _) | (_, None) => matches.last().copied(),
            (s, Some(at)) if s < 0 => matches.iter().rev().find(|&&i| i < at).or(matches.first()).copied(),
            (_, Some(at)) => matches.iter().find(|&&i| i > at).or(matches.last()).copied(),
        };
        self.tab_mut().selected = chosen;
    }
}

/// `line` with every occurrence of `needle` (any case) in `mark`'s style, even across spans.
pub(in crate::tui) fn highlight_found(line: Line<'static>, needle: &str, mark: Style) -> Line<'static> {
    let chars: Vec<(char, Style)> =
        line.spans.iter().flat_map(|span| span.content.chars().map(move |c| (c, span.style))).collect();
    let lower: Vec<char> = chars.iter().map(|(c, _)| c.to_lowercase().next().unwrap_or(*c)).collect();
    let needle: Vec<char> = needle.chars().map(|c| c.to_lowercase().next().unwrap_or(c)).collect();
    if needle.is_empty() || lower.len() < needle.len() {
        return line;
    }
    let mut marked = vec![false; chars.len()];
    let mut i = 0;
    while i + needle.len() <= lower.len() {
        if lower[i..i + needle.len()] == needle[..] {
            marked[i..i + needle.len()].iter_mut().for_each(|m| *m = true);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    if !marked.contains(&true) {
        return line;
    }
    let mut spans: Vec<Span<'static>> = Vec::new();
    for ((c, style), found) in chars.into_iter().zip(marked) {
        let style = if found { style.patch(mark) } else { style };
        match spans.last_mut() {
            Some(last) if last.style == style => last.content.to_mut().push(c),
            _ => spans.push(Span::styled(c.to_string(), style)),
        }
    }
    Line { spans, ..line }
}
