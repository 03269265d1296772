//! Markdown for `ask` on a terminal: the shared renderer ([`crate::render`]), written as ANSI
//! text a block at a time. A block is printed once the blank line after it arrives (never
//! inside a code fence), so the answer still appears as it is written, and a printed block
//! never changes. The renderer sanitizes every piece of the model's text, so the only escape
//! sequences written are our own SGR styles (colours dropped under `NO_COLOR`).

use ratatui::backend::IntoCrossterm;
use ratatui::crossterm::style::ContentStyle;
use ratatui::style::Style;
use ratatui::text::Line;

use crate::render::markdown::render_markdown;
use crate::render::theme::{Theme, ThemeName};

/// Narrower terminals (or none reported) are rendered at this width.
const FALLBACK_WIDTH: u16 = 80;

/// The width to render at: the terminal's, or 80 when it reports none.
pub fn terminal_width() -> u16 {
    match ratatui::crossterm::terminal::size() {
        Ok((columns, _)) if columns >= 20 => columns,
        _ => FALLBACK_WIDTH,
    }
}

/// An answer's markdown, rendered block by block as its text arrives.
#[derive(Debug)]
pub struct MarkdownStream {
    width: u16,
    /// Text not yet rendered: the block still being written.
    pending: String,
    /// Whether a block was written (the next one is set off by a blank line).
    wrote_any: bool,
    /// The styles it renders with: the dark theme as this terminal shows it.
    theme: Theme,
}

impl MarkdownStream {
    pub fn new(width: u16) -> Self {
        MarkdownStream { width, pending: String::new(), wrote_any: false, theme: Theme::for_terminal(ThemeName::Dark) }
    }

    /// Adds text; returns the ANSI text of the blocks it completed (often nothing).
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        match complete_blocks_len(&self.pending) {
            0 => String::new(),
            len => {
                let done: String = self.pending.drain(..len).collect();
                self.render(&done)
            }
        }
    }

    /// Renders what is left (the last block, or the part of it received).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.render(&rest)
    }

    fn render(&mut self, markdown: &str) -> String {
        let lines =
            crate::render::sources::style_markers(render_markdown(markdown, self.width, &self.theme), &self.theme);
        if lines.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        if self.wrote_any {
            out.push('\n');
        }
        self.wrote_any = true;
        for line in &lines {
            out.push_str(&to_ansi(line));
            out.push('\n');
        }
        out
    }
}

/// The length of the leading part of `text` made of whole blocks: up to the last blank line
/// that is outside a code fence and followed by a line starting at the margin (an indented
/// line may continue a list item, so the cut waits). 0 when there is none yet.
fn complete_blocks_len(text: &str) -> usize {
    let mut fence: Option<(char, usize)> = None;
    let mut cut = 0;
    let mut offset = 0;
    let mut after_blank = false;
    for line in text.split_inclusive('\n') {
        let complete = line.ends_with('\n');
        let body = line.trim_end_matches(['\n', '\r']);
        if fence.is_none() && after_blank && body.starts_with(|c: char| !c.is_whitespace()) {
            cut = offset;
        }
        if !complete {
            break;
        }
        let trimmed = body.trim_start_matches(' ');
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        if body.len() - trimmed.len() <= 3 && run >= 3 {
            fence = match (fence, marker) {
                (None, Some(m)) => Some((m, run)),
                (Some((open, len)), Some(m)) if open == m && run >= len && trimmed[run..].trim().is_empty() => None,
                (kept, _) => kept,
            };
        }
        after_blank = body.trim().is_empty();
        offset += line.len();
    }
    cut
}

/// One rendered line as text with SGR styles (each styled span resets after itself).
fn to_ansi(line: &Line<'_>) -> String {
    let mut out = String::new();
    for span in &line.spans {
        let style = line.style.patch(span.style);
        if style == Style::default() {
            out.push_str(&span.content);
        } else {
            let style: ContentStyle = style.into_crossterm();
            out.push_str(&style.apply(span.content.as_ref()).to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escapes(text: &str) -> Vec<String> {
        // Every escape sequence, up to its final byte.
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find('\x1b') {
            let seq: String = rest[at..].chars().take_while(|c| !c.is_ascii_alphabetic()).collect();
            let end = rest[at + seq.len()..].chars().next().map(String::from).unwrap_or_default();
            found.push(format!("{seq}{end}"));
            rest = &rest[at + 1..];
        }
        found
    }

    #[test]
    fn a_block_is_released_once_the_next_one_starts() {
        assert_eq!(complete_blocks_len("# Title\n"), 0);
        assert_eq!(complete_blocks_len("# Title\n\n"), 0, "the next block has not started");
        assert_eq!(complete_blocks_len("# Title\n\nSo"), "# Title\n\n".len());
        assert_eq!(complete_blocks_len("a\n\nb\n\nc"), "a\n\nb\n\n".len());
        assert_eq!(complete_blocks_len("1. one\n\n   more of one"), 0, "an indented line may continue the item");
    }

    #[test]
    fn blank_lines_inside_a_code_fence_do_not_cut_it() {
        let fenced = "```rust\nfn a() {}\n\nfn b() {}\n";
        assert_eq!(complete_blocks_len(fenced), 0);
        let closed = format!("{fenced}```\n\nAfter");
        assert_eq!(complete_blocks_len(&closed), closed.len() - "After".len());
        assert_eq!(complete_blocks_len("~~~\n```\n\nstill code"), 0, "a fence closes only with its own marker");
    }

    #[test]
    fn blocks_stream_as_they_complete_and_match_a_whole_render() {
        let answer = "# Birds\n\nThey **migrate**.\n\n- food\n- light\n\n```\nx = 1\n\ny = 2\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let mut stream = MarkdownStream::new(60);
        let mut out = String::new();
        let mut firsts = Vec::new();
        for piece in answer.split_inclusive(['\n', ' ']) {
            let shown = stream.push(piece);
            if !shown.is_empty() {
                firsts.push(piece.to_owned());
            }
            out.push_str(&shown);
        }
        out.push_str(&stream.finish());
        assert!(firsts.len() >= 3, "blocks appear before the end: {firsts:?}");
        let whole: String = render_markdown(answer, 60, &stream.theme).iter().map(|l| to_ansi(l) + "\n").collect();
        assert_eq!(out, whole, "streamed block by block, the same as rendered at once");
        assert!(!out.contains("**") && !out.contains("# Birds") && out.contains("migrate"), "{out}");
    }

    #[test]
    fn styles_are_sgr_and_the_models_escapes_are_not_passed_on() {
        let mut stream = MarkdownStream::new(60);
        let out = stream.push("**bold** \x1b]52;c;aGk=\x07 \x1b[2J\x1b[31mred\n\nnext") + &stream.finish();
        let found = escapes(&out);
        assert!(!found.is_empty(), "bold is styled: {out:?}");
        for seq in found {
            assert!(seq.starts_with("\x1b[") && seq.ends_with('m'), "not an SGR: {seq:?} in {out:?}");
        }
        assert!(out.contains('␛') && !out.contains("\x1b[2J") && !out.contains("\x1b]52"), "{out:?}");
    }
}
