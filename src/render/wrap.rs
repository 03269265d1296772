//! Laying text out in columns: grapheme-like clusters with their widths, a greedy word wrapper
//! over styled pieces, hard cuts for code and cells, and plain text wrapped at words
//! ([`wrap_plain`]). No markdown here: the renderer in `markdown.rs` decides what goes on a line,
//! this decides where lines break.

use std::borrow::Cow;

use ratatui::style::Style;
use ratatui::text::Span;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Tab stops inside code blocks.
const CODE_TAB: usize = 4;
/// A word longer than a whole line starts on the current line only if this much room is left there.
const LONG_WORD_MIN_FILL: usize = 5;

fn is_regional_indicator(c: char) -> bool {
    ('\u{1f1e6}'..='\u{1f1ff}').contains(&c)
}

/// Splits text into the units a line may never break inside, with their display widths: a character
/// with its zero-width followers (combining marks, variation selectors, joiners), a character a ZWJ
/// joins into one emoji, a flag's pair of regional indicators. The widths of a string's clusters add up
/// to at least the string's width, so lines measured cluster by cluster never overflow.
pub(crate) fn clusters(text: &str) -> Clusters<'_> {
    Clusters { rest: text }
}

pub(crate) struct Clusters<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Clusters<'a> {
    type Item = (&'a str, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        let mut end = first.len_utf8();
        if first.is_ascii() && rest.as_bytes().get(end).is_none_or(u8::is_ascii) {
            self.rest = &rest[end..];
            return Some((&rest[..end], usize::from(first.is_ascii_graphic() || first == ' ')));
        }
        let mut prev = first;
        let mut open_flag = is_regional_indicator(first);
        for (i, c) in chars {
            let next_end = i + c.len_utf8();
            let join = c.width() == Some(0)
                || (prev == '\u{200d}' && rest[..next_end].width() <= 2)
                || (open_flag && is_regional_indicator(c));
            if !join {
                break;
            }
            open_flag = false;
            end = next_end;
            prev = c;
        }
        self.rest = &rest[end..];
        let cluster = &rest[..end];
        Some((cluster, cluster.width()))
    }
}

/// Appends text to a list of styled pieces, merging with the last piece when the style matches.
pub(crate) fn push_piece(pieces: &mut Vec<(String, Style)>, text: &str, style: Style) {
    match pieces.last_mut() {
        Some((last, last_style)) if *last_style == style => last.push_str(text),
        _ => pieces.push((text.to_string(), style)),
    }
}

pub(crate) fn to_spans(pieces: Vec<(String, Style)>) -> Vec<Span<'static>> {
    pieces.into_iter().map(|(text, style)| Span::styled(text, style)).collect()
}

/// Greedy word wrapper over styled text. Spaces separate words (runs collapse to one); a word wider
/// than the line is cut between clusters.
pub(crate) struct Wrapper {
    width: usize,
    lines: Vec<Vec<Span<'static>>>,
    line: Vec<(String, Style)>,
    line_width: usize,
    word: Vec<(String, Style)>,
    word_width: usize,
    /// The style of a space seen after the line's last word.
    space: Option<Style>,
}

impl Wrapper {
    pub(crate) fn new(width: usize) -> Self {
        Wrapper {
            width: width.max(1),
            lines: Vec::new(),
            line: Vec::new(),
            line_width: 0,
            word: Vec::new(),
            word_width: 0,
            space: None,
        }
    }

    pub(crate) fn push(&mut self, text: &str, style: Style) {
        for (cluster, width) in clusters(text) {
            if cluster == " " {
                self.end_word();
                if !self.line.is_empty() {
                    self.space = Some(style);
                }
            } else {
                push_piece(&mut self.word, cluster, style);
                self.word_width += width;
            }
        }
    }

    pub(crate) fn hard_break(&mut self) {
        self.end_word();
        self.break_line();
    }

    pub(crate) fn finish(mut self) -> Vec<Vec<Span<'static>>> {
        self.end_word();
        if !self.line.is_empty() {
            self.break_line();
        }
        self.lines
    }

    fn break_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.lines.push(to_spans(line));
        self.line_width = 0;
        self.space = None;
    }

    fn push_space(&mut self, style: Style) {
        push_piece(&mut self.line, " ", style);
        self.line_width += 1;
    }

    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        let word = std::mem::take(&mut self.word);
        let word_width = std::mem::take(&mut self.word_width);
        let space = self.space.take().filter(|_| !self.line.is_empty());
        let space_width = usize::from(space.is_some());
        if self.line_width + space_width + word_width <= self.width {
            if let Some(style) = space {
                self.push_space(style);
            }
        } else if word_width <= self.width {
            self.break_line();
        } else {
            // Longer than a whole line: fill this line if there is room worth using, then cut.
            if !self.line.is_empty() {
                match space {
                    Some(style) if self.width.saturating_sub(self.line_width + space_width) >= LONG_WORD_MIN_FILL => {
                        self.push_space(style)
                    }
                    _ => self.break_line(),
                }
            }
            for (text, style) in &word {
                for (cluster, width) in clusters(text) {
                    if self.line_width + width > self.width && !self.line.is_empty() {
                        self.break_line();
                    }
                    push_piece(&mut self.line, cluster, *style);
                    self.line_width += width;
                }
            }
            return;
        }
        for (text, style) in &word {
            push_piece(&mut self.line, text, *style);
        }
        self.line_width += word_width;
    }
}

/// Expands tabs to the next multiple of [`CODE_TAB`] columns.
pub(crate) fn expand_tabs(line: &str) -> Cow<'_, str> {
    if !line.contains('\t') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut column = 0;
    for (cluster, width) in clusters(line) {
        match cluster.strip_prefix('\t') {
            Some(rest) => {
                let spaces = CODE_TAB - column % CODE_TAB;
                out.extend(std::iter::repeat_n(' ', spaces));
                out.push_str(rest);
                column += spaces;
            }
            None => {
                out.push_str(cluster);
                column += width;
            }
        }
    }
    Cow::Owned(out)
}

/// Cuts a line into rows of at most `width` columns without splitting a cluster; always at least one row.
pub(crate) fn hard_wrap(line: &str, width: usize) -> Vec<(String, usize)> {
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut row_width = 0;
    for (cluster, w) in clusters(line) {
        if row_width + w > width && !row.is_empty() {
            rows.push((std::mem::take(&mut row), row_width));
            row_width = 0;
        }
        row.push_str(cluster);
        row_width += w;
    }
    rows.push((row, row_width));
    rows
}

/// Styled pieces cut into rows of at most `width` columns without splitting a cluster; always at
/// least one row.
pub(crate) fn hard_wrap_styled(pieces: &[(String, Style)], width: usize) -> Vec<(Vec<(String, Style)>, usize)> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut row_width = 0;
    for (text, style) in pieces {
        for (cluster, w) in clusters(text) {
            if row_width + w > width && !row.is_empty() {
                rows.push((std::mem::take(&mut row), row_width));
                row_width = 0;
            }
            push_piece(&mut row, cluster, *style);
            row_width += w;
        }
    }
    rows.push((row, row_width));
    rows
}

/// `text` cut to `max` columns, ending with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.width() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for (cluster, width) in clusters(text) {
        if used + width + 1 > max {
            break;
        }
        out.push_str(cluster);
        used += width;
    }
    out.push('…');
    out
}

/// Sanitized text wrapped at word boundaries to `width` columns (wide characters never split).
pub fn wrap_plain(text: &str, width: u16, style: Style) -> Vec<ratatui::text::Line<'static>> {
    let width = usize::from(width.max(1));
    let clean = crate::sanitize::sanitize(text).replace('\t', "    ");
    let mut out = Vec::new();
    for para in clean.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for word in para.split_inclusive(' ') {
            let w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
            if used + w > width && used > 0 {
                out.push(ratatui::text::Line::styled(std::mem::take(&mut line).trim_end().to_owned(), style));
                used = 0;
            }
            if w > width {
                for c in word.chars() {
                    let cw = c.width().unwrap_or(0);
                    if used + cw > width {
                        out.push(ratatui::text::Line::styled(std::mem::take(&mut line), style));
                        used = 0;
                    }
                    line.push(c);
                    used += cw;
                }
            } else {
                line.push_str(word);
                used += w;
            }
        }
        out.push(ratatui::text::Line::styled(line.trim_end().to_owned(), style));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[ratatui::text::Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn plain_text_wraps_at_words_and_never_splits_wide_characters() {
        assert_eq!(text(&wrap_plain("one two three four", 9, Style::default())), ["one two", "three", "four"]);
        let cjk = wrap_plain("世界世界世界", 5, Style::default());
        assert_eq!(text(&cjk), ["世界", "世界", "世界"]);
        assert_eq!(text(&wrap_plain("a\tb\x1b[2J", 40, Style::default())), ["a    b␛[2J"]);
    }
}
