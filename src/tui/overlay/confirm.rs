//! The y/n question (deleting a conversation, closing a tab with work in it, quitting while
//! answers run): what it asks, its keys (y, anything else is no) and its drawing. Keys go back
//! where they were once it is answered.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::render::theme::Theme;
use crate::sanitize::one_line;
use crate::tui::app::{App, Command};
use crate::tui::keys::{Action, Focus};

/// A question awaiting y/n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    DeleteConversation {
        id: i64,
        title: String,
    },
    /// Close tab `tab` (shown as number `number`), which has an answer running and/or an
    /// unsent draft.
    CloseTab {
        tab: u64,
        number: usize,
        running: bool,
        draft: bool,
    },
    /// Quit while `running` answers are being written (they are kept, marked interrupted).
    Quit {
        running: usize,
    },
}

impl App {
    /// Opens a y/n question; keys go back where they were once it is answered.
    pub(in crate::tui) fn ask(&mut self, confirm: Confirm) {
        if self.focus != Focus::Confirm {
            self.confirm_from = self.focus;
        }
        self.confirm = Some(confirm);
        self.focus = Focus::Confirm;
    }

    /// An action while a question is open: `None` when it answered it, else the action for
    /// the rest of the interface.
    pub(in crate::tui) fn confirm_action(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Yes => {
                self.focus = self.confirm_from;
                match self.confirm.take() {
                    Some(Confirm::DeleteConversation { id, .. }) => self.commands.push(Command::Delete { id }),
                    Some(Confirm::CloseTab { tab, .. }) => {
                        if let Some(index) = self.tabs.iter().position(|t| t.id == tab) {
                            self.close_tab_at(index);
                        }
                    }
                    Some(Confirm::Quit { .. }) => self.quit = true,
                    None => {}
                }
            }
            Action::No => {
                self.confirm = None;
                self.focus = self.confirm_from;
            }
            other => return Some(other),
        }
        None
    }
}

/// The sentence a y/n question asks.
fn question(confirm: &Confirm) -> String {
    match confirm {
        Confirm::DeleteConversation { id, title } => {
            format!("Delete conversation {id} “{}”? y / n", one_line(title, 40))
        }
        Confirm::CloseTab { number, running, draft, .. } => {
            let what = match (running, draft) {
                (true, true) => "Its answer stops (kept, marked interrupted) and its unsent draft is lost",
                (true, false) => "Its answer stops (kept, marked interrupted)",
                _ => "Its unsent draft is lost",
            };
            format!("Close tab {number}? {what}. y / n")
        }
        Confirm::Quit { running } => {
            let (answers, them) = if *running == 1 {
                ("1 answer is".to_owned(), "it")
            } else {
                (format!("{running} answers are"), "them")
            };
            format!("{answers} running: quit and keep {them} interrupted? y (or Ctrl-Q again) / n")
        }
    }
}

/// The question in a box in the middle of the screen.
pub(in crate::tui) fn draw(frame: &mut Frame<'_>, area: Rect, theme: &Theme, confirm: &Confirm) {
    let text = question(confirm);
    // Wrapped to at most 70 columns (and the screen), the box as tall as the text needs.
    let chars = text.chars().count();
    let width = (chars + 4).min(74).min(usize::from(area.width)).max(10);
    let rows = chars.div_ceil(width.saturating_sub(10).max(1)) + 2;
    let popup = centered(area, width as u16, rows as u16);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).border_style(theme.error)),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quit_question_agrees_with_the_number_of_answers() {
        assert_eq!(
            question(&Confirm::Quit { running: 1 }),
            "1 answer is running: quit and keep it interrupted? y (or Ctrl-Q again) / n"
        );
        assert_eq!(
            question(&Confirm::Quit { running: 3 }),
            "3 answers are running: quit and keep them interrupted? y (or Ctrl-Q again) / n"
        );
    }
}
