//! An answer's sources on screen: its citation markers styled where the renderer left them
//! (`grounding::Marker::Delimited`), and the numbered list of sources below it. Shared by the
//! interface and `ask` on a terminal. Titles and links are sanitized (they come from the web).

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::theme::Theme;
use crate::grounding::{Grounding, MARK_CLOSE, MARK_OPEN, source_line, source_lines};

fn marker_style(theme: &Theme) -> Style {
    theme.accent.add_modifier(Modifier::BOLD)
}

/// `lines` with every delimited marker shown as a styled `[n]` (and nothing else changed).
pub fn style_markers(lines: Vec<Line<'static>>, theme: &Theme) -> Vec<Line<'static>> {
    lines.into_iter().map(|line| style_line(line, theme)).collect()
}

fn style_line(mut line: Line<'static>, theme: &Theme) -> Line<'static> {
    if !line.spans.iter().any(|s| s.content.contains(MARK_OPEN) || s.content.contains(MARK_CLOSE)) {
        return line;
    }
    let marker = marker_style(theme);
    let mut spans = Vec::with_capacity(line.spans.len() + 2);
    let mut inside = false;
    for span in std::mem::take(&mut line.spans) {
        let mut piece = String::new();
        for c in span.content.chars() {
            match c {
                MARK_OPEN | MARK_CLOSE => {
                    let style = if inside { span.style.patch(marker) } else { span.style };
                    if !piece.is_empty() {
                        spans.push(Span::styled(std::mem::take(&mut piece), style));
                    }
                    let bracket = if c == MARK_OPEN { "[" } else { "]" };
                    spans.push(Span::styled(bracket, span.style.patch(marker)));
                    inside = c == MARK_OPEN;
                }
                _ => piece.push(c),
            }
        }
        if !piece.is_empty() {
            let style = if inside { span.style.patch(marker) } else { span.style };
            spans.push(Span::styled(piece, style));
        }
    }
    line.spans = spans;
    line
}

/// The sources below an answer, `width` columns wide: a muted "Sources" heading, then
/// "[n] Title — link" per source (the number styled as the markers are), what was searched, and
/// pages that could not be read.
pub fn render_sources(grounding: &Grounding, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let plain = source_lines(grounding);
    if plain.is_empty() {
        return lines;
    }
    lines.push(Line::default());
    let numbered = grounding.sources.len();
    for (i, text) in plain.iter().enumerate() {
        if i == 0 && numbered > 0 {
            lines.push(Line::styled(text.clone(), theme.muted.add_modifier(Modifier::BOLD)));
            continue;
        }
        let source = (numbered > 0 && i <= numbered).then(|| &grounding.sources[i - 1]);
        let wrapped = super::wrap::wrap_plain(text, width, theme.muted);
        match source {
            Some(source) => {
                // The number in the marker style, the rest muted; continuation lines muted.
                let full = source_line(i, source);
                let number = format!("[{i}]");
                for (k, mut line) in wrapped.into_iter().enumerate() {
                    if k == 0 && full.starts_with(&number) {
                        let content: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
                        let rest = content.strip_prefix(&number).unwrap_or(&content).to_owned();
                        line = Line::from(vec![
                            Span::styled(number.clone(), marker_style(theme)),
                            Span::styled(rest, theme.muted),
                        ]);
                    }
                    lines.push(line);
                }
            }
            None => lines.extend(wrapped),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounding::{Citation, Marker, Source, annotate};

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn delimited_markers_become_styled_brackets() {
        let g = Grounding {
            sources: vec![Source { title: "a".into(), uri: "https://a".into() }],
            citations: vec![Citation { start: 0, end: 5, text: "Hello".into(), sources: vec![0] }],
            ..Grounding::default()
        };
        let marked = annotate("Hello world", &g, Marker::Delimited);
        let theme = Theme::new(super::super::theme::ThemeName::Dark, true);
        let lines = style_markers(super::super::markdown::render_markdown(&marked, 40, &theme), &theme);
        assert_eq!(text(&lines), ["Hello[1] world"]);
        let styled: Vec<&Span<'_>> = lines[0].spans.iter().filter(|s| s.style == marker_style(&theme)).collect();
        assert_eq!(styled.iter().map(|s| s.content.as_ref()).collect::<String>(), "[1]");
        let sources = render_sources(&g, 40, &theme);
        assert_eq!(text(&sources), ["", "Sources:", "[1] a — https://a"]);
        assert_eq!(sources[2].spans[0].style, marker_style(&theme));
    }
}
