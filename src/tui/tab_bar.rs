//! The tab bar: each tab's number, title and mark (waiting for approval, error, answer running,
//! unread), as many as
//! fit around the active one with a count of those hidden on each side; and which tab a click
//! on it lands on. Functions of the tabs only.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::tab::Tab;
use crate::render::theme::Theme;

/// The mark after a tab's label: waiting for the user's word on tool calls, error, streaming,
/// unread, or nothing.
fn tab_mark(tab: &Tab, theme: &Theme) -> Span<'static> {
    if tab.approval.is_some() {
        Span::styled("?", theme.warning.add_modifier(Modifier::BOLD | Modifier::REVERSED))
    } else if tab.error.is_some() {
        Span::styled("!", theme.error.add_modifier(Modifier::BOLD))
    } else if tab.streaming {
        Span::styled("●", theme.warning)
    } else if tab.unread {
        Span::styled("•", theme.accent)
    } else {
        Span::raw(" ")
    }
}

/// Columns kept for an overflow marker ("‹12●" plus a space).
const TAB_MARKER_WIDTH: usize = 5;

/// The tabs shown: as many as fit around the active one, which is always among them (more
/// after it than before when both cannot be). Returns the first and last index shown.
pub fn visible_tabs(widths: &[usize], active: usize, width: usize) -> (usize, usize) {
    let last = widths.len().saturating_sub(1);
    let fits = |start: usize, end: usize| {
        let markers = usize::from(start > 0) + usize::from(end < last);
        widths[start..=end].iter().sum::<usize>() + markers * TAB_MARKER_WIDTH <= width
    };
    let (mut start, mut end) = (active.min(last), active.min(last));
    loop {
        let mut grew = false;
        if end < last && fits(start, end + 1) {
            end += 1;
            grew = true;
        }
        if start > 0 && fits(start - 1, end) {
            start -= 1;
            grew = true;
        }
        if !grew {
            return (start, end);
        }
    }
}

/// An overflow marker: how many tabs are hidden on that side, and the most urgent mark among
/// them (a wait for approval before an error before a running answer before unread text), so nothing happens out of sight.
fn overflow_marker(hidden: &[Tab], left: bool, theme: &Theme) -> Vec<Span<'static>> {
    let urgent = hidden
        .iter()
        .map(|tab| tab_mark(tab, theme))
        .max_by_key(|m| match m.content.as_ref() {
            "?" => 4,
            "!" => 3,
            "●" => 2,
            "•" => 1,
            _ => 0,
        })
        .unwrap_or_else(|| Span::raw(" "));
    let count = Span::styled(
        if left { format!("‹{}", hidden.len()) } else { format!("{}›", hidden.len()) },
        theme.accent.add_modifier(Modifier::BOLD),
    );
    if left { vec![count, urgent, Span::raw(" ")] } else { vec![Span::raw(" "), urgent, count] }
}

/// Each tab's label in the bar (" 3 title ").
fn tab_labels(tabs: &[Tab]) -> Vec<String> {
    tabs.iter().enumerate().map(|(i, tab)| format!(" {} {} ", i + 1, crate::format::fit(&tab.title, 18))).collect()
}

/// Which tab a click at column `x` of the tab bar (`width` wide) means: a tab shown, or the
/// nearest hidden one for a click on an overflow marker.
pub fn tab_at(tabs: &[Tab], active: usize, width: u16, x: u16) -> Option<usize> {
    use unicode_width::UnicodeWidthStr;
    let widths: Vec<usize> = tab_labels(tabs).iter().map(|l| l.width() + 2).collect();
    let (start, end) = visible_tabs(&widths, active, usize::from(width));
    let x = usize::from(x);
    let mut at = if start > 0 { TAB_MARKER_WIDTH } else { 0 };
    if x < at {
        return Some(start - 1);
    }
    for (i, w) in widths.iter().enumerate().take(end + 1).skip(start) {
        if x < at + w {
            return Some(i);
        }
        at += w;
    }
    (end + 1 < tabs.len() && x >= usize::from(width).saturating_sub(TAB_MARKER_WIDTH)).then_some(end + 1)
}

/// The tab bar: the tabs that fit around the active one, with a marker for those hidden.
pub fn draw(frame: &mut Frame<'_>, tabs: &[Tab], active: usize, theme: &Theme, area: Rect) {
    use unicode_width::UnicodeWidthStr;
    let labels = tab_labels(tabs);
    // Each tab: its label, its mark and a space.
    let widths: Vec<usize> = labels.iter().map(|l| l.width() + 2).collect();
    let (start, end) = visible_tabs(&widths, active, usize::from(area.width));
    let mut spans = Vec::new();
    if start > 0 {
        spans.extend(overflow_marker(&tabs[..start], true, theme));
    }
    for (i, (tab, label)) in tabs.iter().zip(labels).enumerate().take(end + 1).skip(start) {
        let style =
            if i == active { Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD) } else { theme.muted };
        spans.push(Span::styled(label, style));
        spans.push(tab_mark(tab, theme));
        spans.push(Span::raw(" "));
    }
    if end + 1 < tabs.len() {
        // Right-aligned, so the marker sits at the edge whatever the labels' widths.
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        let marker = overflow_marker(&tabs[end + 1..], false, theme);
        let marker_width: usize = marker.iter().map(|s| s.content.width()).sum();
        let pad = usize::from(area.width).saturating_sub(used + marker_width);
        spans.push(Span::raw(" ".repeat(pad)));
        spans.extend(marker);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
