//! The help (F1, `/help`): every key, then every slash command from the one command table
//! ([`crate::commands`]), wrapped to the screen and scrolled when it is short. Its keys and its
//! drawing.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::render::theme::Theme;
use crate::tui::app::App;
use crate::tui::keys::{Action, Focus, HELP};

impl App {
    /// F1: the help, from its top.
    pub(in crate::tui) fn open_help(&mut self) {
        self.focus = Focus::Help;
        self.help_scroll = 0;
    }

    /// An action while the help is open: `None` when it scrolled the help, else the action for
    /// the rest of the interface.
    pub(in crate::tui) fn help_action(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::ScrollUp(n) => self.help_scroll = self.help_scroll.saturating_sub(n.max(1)),
            Action::ScrollDown(n) => self.help_scroll += n.max(1),
            Action::ScrollTop => self.help_scroll = 0,
            Action::ScrollBottom => self.help_scroll = usize::MAX,
            Action::Up => self.help_scroll = self.help_scroll.saturating_add_signed(-1),
            Action::Down => self.help_scroll = self.help_scroll.saturating_add_signed(1),
            other => return Some(other),
        }
        None
    }
}

/// The help's lines for a screen `max_width` wide: every key, then every slash command; what a
/// key does wraps at words under its own column when the screen is narrower than the longest.
/// Returns the lines and the popup's width.
pub(in crate::tui) fn help_lines(theme: &Theme, max_width: usize) -> (Vec<Line<'static>>, usize) {
    // A command's name in the key column, its arguments at the start of what it does: the
    // longest arguments would otherwise widen the key column for every row.
    let commands: Vec<(String, String)> = crate::commands::COMMANDS
        .iter()
        .map(|c| (c.name.to_owned(), format!("{} {}", c.args, c.what).trim_start().to_owned()))
        .collect();
    let keys_width = HELP.iter().map(|(k, _)| k.chars().count()).chain(commands.iter().map(|(c, _)| c.chars().count()));
    let keys_width = keys_width.max().unwrap_or(10);
    let what_width = HELP.iter().map(|(_, w)| w.chars().count()).chain(commands.iter().map(|(_, w)| w.chars().count()));
    let width = (keys_width + what_width.max().unwrap_or(10) + 6).min(max_width);
    // Borders, the margin and the gap between the columns.
    let room = width.saturating_sub(keys_width + 6).max(10);
    let row = |lines: &mut Vec<Line<'static>>, key: &str, what: &str| {
        let mut wrapper = crate::render::wrap::Wrapper::new(room);
        wrapper.push(what, Style::default());
        for (i, spans) in wrapper.finish().into_iter().enumerate() {
            let key = if i == 0 { key } else { "" };
            let mut line = vec![Span::styled(format!(" {key:<keys_width$}  "), theme.accent)];
            line.extend(spans);
            lines.push(Line::from(line));
        }
    };
    let mut lines: Vec<Line<'static>> = Vec::new();
    for (key, what) in HELP {
        row(&mut lines, key, what);
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        " Commands, typed in the prompt (// sends a line that starts with /)",
        theme.muted,
    )));
    for (key, what) in &commands {
        row(&mut lines, key, what);
    }
    (lines, width)
}

/// How far the help can scroll on a screen of `area`.
pub fn help_max_scroll(area: Rect, theme: &Theme) -> usize {
    let (lines, _) = help_lines(theme, usize::from(area.width));
    lines.len().saturating_sub(usize::from(area.height.saturating_sub(2)))
}

/// The help in the middle of the screen, scrolled `scroll` lines down.
pub(in crate::tui) fn draw(frame: &mut Frame<'_>, area: Rect, theme: &Theme, scroll: usize) {
    let (lines, width) = help_lines(theme, usize::from(area.width));
    let total = lines.len();
    let popup = centered(area, width as u16, total as u16 + 2);
    let shown = usize::from(popup.height.saturating_sub(2));
    let scroll = scroll.min(total.saturating_sub(shown));
    let title = if shown < total {
        format!(" keys {}-{} of {total} · ↑↓ PgUp PgDn scroll · Esc closes ", scroll + 1, scroll + shown)
    } else {
        " keys · Esc closes ".to_owned()
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).scroll((scroll as u16, 0)).block(Block::default().borders(Borders::ALL).title(title)),
        popup,
    );
}
