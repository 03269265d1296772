//! Renders model markdown into width-bounded terminal lines: wrapped text, lists, quotes, framed code and tables.
//! Every piece of text passes through [`sanitize`] first, so the output never holds a control or bidi character.

use std::borrow::Cow;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::highlight::{StyledLines, highlight};
use super::theme::Theme;
use super::wrap::{Wrapper, clusters, expand_tabs, hard_wrap, hard_wrap_styled, push_piece, to_spans, truncate};
use crate::sanitize::sanitize;

/// Widths below this are rendered at this width (the caller's clipping hides the overflow).
const MIN_WIDTH: usize = 4;
/// Code blocks need this much room for a frame; below it they render unframed.
const MIN_FRAME_WIDTH: usize = 6;
/// Table columns at least this wide wrap their cells onto more lines; narrower ones cut them with `…`.
const MIN_WRAP_COLUMN: usize = 3;

/// Renders model markdown into terminal lines of at most `width` display columns.
///
/// Works on partial markdown (a streamed answer): an unclosed fence renders as a closed frame, half a
/// table as the rows so far. Code lines are never word-wrapped: a line longer than the frame is cut at
/// the frame's inner width and each continuation row starts with a dim `↪` in the frame's left margin.
/// Table columns keep their natural width when they fit; otherwise the widest columns shrink first and
/// their cells wrap onto more lines (only a column too narrow to wrap in cuts its cells with `…`).
/// A single line break inside a paragraph is kept as a line break.
pub fn render_markdown(text: &str, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut renderer = Renderer::new(usize::from(width).max(MIN_WIDTH), *theme);
    // A lone `\r` would be parsed as a line end (shown as a space); the one rule shows it as `␍`.
    let text = crate::sanitize::carriage_returns(text);
    for event in Parser::new_ext(&text, options) {
        renderer.event(event);
    }
    renderer.finish()
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

fn heading_style(level: HeadingLevel, theme: &Theme) -> Style {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    match level {
        HeadingLevel::H1 => bold.patch(theme.accent).add_modifier(Modifier::UNDERLINED),
        HeadingLevel::H2 => bold.patch(theme.accent),
        _ => bold,
    }
}

/// Inline content waiting to be wrapped. Text is already sanitized and holds no `\t` or `\n`.
enum Frag {
    Text(String, Style),
    Break,
}

/// A block that prefixes every line of its content.
enum Container {
    Quote,
    /// A list item: its marker goes on the first line, blanks of the same width on the others.
    Item {
        marker: String,
        shown: bool,
    },
}

impl Container {
    fn width(&self) -> usize {
        match self {
            Container::Quote => 2,
            Container::Item { marker, .. } => marker.width(),
        }
    }
}

struct CodeBlock {
    label: String,
    text: String,
}

struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Vec<Frag>>>,
    head_rows: usize,
    row: Vec<Vec<Frag>>,
}

/// Styled pieces of one table cell with their total width.
struct Cell {
    pieces: Vec<(String, Style)>,
    width: usize,
}

struct Renderer {
    width: usize,
    theme: Theme,
    out: Vec<Line<'static>>,
    /// A blank line is due before the next line; it carries the prefixes of this many containers.
    pending_blank: Option<usize>,
    last_blank: bool,
    containers: Vec<Container>,
    /// One entry per open list: the next number of an ordered list.
    lists: Vec<Option<u64>>,
    inline: Vec<Frag>,
    bold: usize,
    italic: usize,
    strike: usize,
    heading: Option<HeadingLevel>,
    /// Open links: where their text starts in `inline`, and the destination.
    links: Vec<(usize, String)>,
    /// Open images: where their alt text starts in `inline`.
    images: Vec<usize>,
    code: Option<CodeBlock>,
    table: Option<Table>,
}

impl Renderer {
    fn new(width: usize, theme: Theme) -> Self {
        Renderer {
            width,
            theme,
            out: Vec::new(),
            pending_blank: None,
            last_blank: false,
            containers: Vec::new(),
            lists: Vec::new(),
            inline: Vec::new(),
            bold: 0,
            italic: 0,
            strike: 0,
            heading: None,
            links: Vec::new(),
            images: Vec::new(),
            code: None,
            table: None,
        }
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        self.table = self.table.take().map(|mut table| {
            if !table.row.is_empty() {
                table.rows.push(std::mem::take(&mut table.row));
            }
            table
        });
        if let Some(table) = self.table.take() {
            self.render_table(table);
        }
        self.flush();
        if let Some(code) = self.code.take() {
            self.render_code(&code);
        }
        self.out
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => match &mut self.code {
                Some(code) => code.text.push_str(&text),
                None => self.push_text(&text, self.style()),
            },
            Event::Code(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                self.push_text(&text, self.style().patch(self.theme.inline_code))
            }
            Event::Html(text) => {
                for (i, line) in text.split('\n').enumerate() {
                    if i > 0 {
                        self.inline.push(Frag::Break);
                    }
                    self.push_text(line, self.style());
                }
            }
            Event::InlineHtml(text) => self.push_text(&text, self.style()),
            Event::FootnoteReference(label) => self.push_text(&format!("[^{label}]"), self.style()),
            // A single line break inside a paragraph is kept: poems, addresses and lyrics are not flattened.
            Event::SoftBreak => self.inline.push(Frag::Break),
            Event::HardBreak => self.inline.push(Frag::Break),
            Event::Rule => {
                self.flush();
                let rule = "─".repeat(self.content_width());
                self.emit(vec![Span::styled(rule, dim())]);
                self.blank_after();
            }
            Event::TaskListMarker(done) => self.push_text(if done { "[x] " } else { "[ ] " }, self.style()),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.flush();
                self.heading = Some(level);
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                let label = match kind {
                    CodeBlockKind::Fenced(info) => {
                        let lang = info.split(|c: char| c.is_whitespace() || c == ',' || c == '{').next();
                        clean_inline(lang.unwrap_or(""))
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some(CodeBlock { label, text: String::new() });
            }
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{number}. ");
                        *number = number.saturating_add(1);
                        marker
                    }
                    _ if depth.is_multiple_of(2) => "• ".to_string(),
                    _ => "◦ ".to_string(),
                };
                self.containers.push(Container::Item { marker, shown: false });
            }
            Tag::Table(aligns) => {
                self.flush();
                self.table = Some(Table { aligns, rows: Vec::new(), head_rows: 0, row: Vec::new() });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = &mut self.table {
                    table.row.clear();
                }
            }
            Tag::TableCell => self.inline.clear(),
            Tag::Emphasis => self.italic += 1,
            Tag::Strong => self.bold += 1,
            Tag::Strikethrough => self.strike += 1,
            Tag::Link { dest_url, .. } => self.links.push((self.inline.len(), dest_url.to_string())),
            Tag::Image { .. } => {
                self.images.push(self.inline.len());
                self.push_text("[image: ", self.style());
            }
            Tag::Superscript | Tag::Subscript => {}
            Tag::Paragraph
            | Tag::HtmlBlock
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => self.flush(),
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock | TagEnd::FootnoteDefinition | TagEnd::DefinitionList => {
                self.flush();
                self.blank_after();
            }
            TagEnd::Heading(_) => {
                self.flush();
                self.heading = None;
                self.blank_after();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                if matches!(self.containers.last(), Some(Container::Quote)) {
                    self.containers.pop();
                }
                self.blank_after();
            }
            TagEnd::CodeBlock => {
                if let Some(code) = self.code.take() {
                    self.render_code(&code);
                }
                self.blank_after();
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                // A nested list ends inside its parent item: no gap before the parent's next item.
                if !matches!(self.containers.last(), Some(Container::Item { .. })) {
                    self.blank_after();
                }
            }
            TagEnd::Item => {
                self.flush();
                if matches!(self.containers.last(), Some(Container::Item { shown: false, .. })) {
                    self.emit(Vec::new()); // an empty item still shows its marker
                }
                if matches!(self.containers.last(), Some(Container::Item { .. })) {
                    self.containers.pop();
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.render_table(table);
                }
                self.blank_after();
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some(table) = &mut self.table {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                    if tag == TagEnd::TableHead {
                        table.head_rows = table.rows.len();
                    }
                }
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.inline);
                if let Some(table) = &mut self.table {
                    table.row.push(cell);
                }
            }
            TagEnd::Emphasis => self.italic = self.italic.saturating_sub(1),
            TagEnd::Strong => self.bold = self.bold.saturating_sub(1),
            TagEnd::Strikethrough => self.strike = self.strike.saturating_sub(1),
            TagEnd::Link => self.end_link(),
            TagEnd::Image => {
                let start = self.images.pop().unwrap_or(0);
                let only_opener = self.inline.len() == start + 1;
                match self.inline.last_mut() {
                    // Nothing after "[image: ": no alt text.
                    Some(Frag::Text(text, _)) if only_opener && text == "[image: " => *text = "[image]".to_string(),
                    _ => self.push_text("]", self.style()),
                }
            }
            TagEnd::Superscript | TagEnd::Subscript => {}
            TagEnd::DefinitionListTitle | TagEnd::DefinitionListDefinition | TagEnd::MetadataBlock(_) => self.flush(),
        }
    }

    fn end_link(&mut self) {
        let Some((start, url)) = self.links.pop() else { return };
        let url = clean_inline(&url);
        let text: String = self
            .inline
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter_map(|frag| match frag {
                Frag::Text(text, _) => Some(text.as_str()),
                Frag::Break => None,
            })
            .collect();
        if url.is_empty() || text == url || url.strip_prefix("mailto:") == Some(text.as_str()) {
            return;
        }
        self.push_text(" ", self.style());
        self.inline.push(Frag::Text(format!("({url})"), dim()));
    }

    /// The style of inline text at this point: heading, emphasis and link state.
    fn style(&self) -> Style {
        let mut style = self.heading.map(|level| heading_style(level, &self.theme)).unwrap_or_default();
        if self.bold > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if self.italic > 0 {
            style = style.add_modifier(Modifier::ITALIC);
        }
        if self.strike > 0 {
            style = style.add_modifier(Modifier::CROSSED_OUT);
        }
        if !self.links.is_empty() {
            style = style.patch(self.theme.link);
        }
        style
    }

    fn push_text(&mut self, text: &str, style: Style) {
        let text = clean_inline(text);
        if !text.is_empty() {
            self.inline.push(Frag::Text(text, style));
        }
    }

    /// Marks that the block just ended wants a blank line before whatever comes next.
    fn blank_after(&mut self) {
        let depth = self.containers.len();
        self.pending_blank = Some(self.pending_blank.map_or(depth, |d| d.min(depth)));
    }

    /// The widest prefix allowed, so deep nesting never squeezes the content below a readable width.
    fn max_prefix(&self) -> usize {
        self.width - self.width.min(8).max(self.width / 2)
    }

    fn content_width(&self) -> usize {
        let prefix: usize = self.containers.iter().map(Container::width).sum();
        self.width - prefix.min(self.max_prefix())
    }

    /// The prefix spans of the next line; `blank` lines show no list markers and no trailing spaces.
    fn prefix(&mut self, blank: bool, depth: usize) -> Vec<Span<'static>> {
        let max = self.max_prefix();
        let mut spans: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for container in self.containers.iter_mut().take(depth) {
            let (text, style) = match container {
                Container::Quote => ("│ ".to_string(), dim()),
                Container::Item { marker, shown } if !blank && !*shown => {
                    *shown = true;
                    (marker.clone(), Style::default())
                }
                Container::Item { marker, .. } => (" ".repeat(marker.width()), Style::default()),
            };
            // Prefix characters are all one column wide.
            let take = text.chars().count().min(max - used);
            if take == 0 {
                break;
            }
            used += take;
            let text: String = text.chars().take(take).collect();
            match spans.last_mut() {
                Some(last) if last.style == style => last.content.to_mut().push_str(&text),
                _ => spans.push(Span::styled(text, style)),
            }
        }
        if blank {
            while let Some(last) = spans.last_mut() {
                let trimmed = last.content.trim_end().len();
                if trimmed == 0 {
                    spans.pop();
                } else {
                    last.content.to_mut().truncate(trimmed);
                    break;
                }
            }
        }
        spans
    }

    /// Adds one line of content under the current prefixes, after a pending blank line if one is due.
    fn emit(&mut self, content: Vec<Span<'static>>) {
        if let Some(depth) = self.pending_blank.take()
            && !self.out.is_empty()
            && !self.last_blank
        {
            let prefix = self.prefix(true, depth);
            self.out.push(Line::from(prefix));
        }
        let mut spans = self.prefix(false, self.containers.len());
        spans.extend(content);
        self.out.push(Line::from(spans));
        self.last_blank = false;
    }

    /// Wraps and emits the buffered inline content (a paragraph, heading, item text or HTML block).
    fn flush(&mut self) {
        if self.inline.is_empty() || self.table.is_some() {
            return;
        }
        let mut frags = std::mem::take(&mut self.inline);
        while matches!(frags.last(), Some(Frag::Break)) {
            frags.pop();
        }
        let mut wrapper = Wrapper::new(self.content_width());
        for frag in &frags {
            match frag {
                Frag::Text(text, style) => wrapper.push(text, *style),
                Frag::Break => wrapper.hard_break(),
            }
        }
        for line in wrapper.finish() {
            self.emit(line);
        }
    }

    fn render_code(&mut self, code: &CodeBlock) {
        let avail = self.content_width();
        let text = sanitize(&code.text);
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        if avail < MIN_FRAME_WIDTH {
            for line in lines {
                for (row, _) in hard_wrap(&expand_tabs(line), avail) {
                    self.emit(vec![Span::raw(row)]);
                }
            }
            return;
        }
        let inner = avail - 4;
        let top = if code.label.is_empty() {
            format!("┌{}┐", "─".repeat(avail - 2))
        } else {
            let label = truncate(&code.label, avail - MIN_FRAME_WIDTH);
            let fill = avail - 5 - label.width();
            format!("┌─ {label} {}┐", "─".repeat(fill))
        };
        self.emit(vec![Span::styled(top, dim())]);
        let expanded: Vec<Cow<'_, str>> = lines.iter().map(|line| expand_tabs(line)).collect();
        let expanded: Vec<&str> = expanded.iter().map(AsRef::as_ref).collect();
        let styled: StyledLines = highlight(&expanded, &code.label, text.ends_with('\n'), &self.theme)
            .unwrap_or_else(|| expanded.iter().map(|line| vec![((*line).to_owned(), Style::default())]).collect());
        for pieces in &styled {
            for (i, (row, row_width)) in hard_wrap_styled(pieces, inner).into_iter().enumerate() {
                let left = if i == 0 { "│ " } else { "│↪" };
                let mut spans = vec![Span::styled(left, dim())];
                spans.extend(to_spans(row));
                spans.push(Span::raw(" ".repeat(inner - row_width.min(inner))));
                spans.push(Span::styled(" │", dim()));
                self.emit(spans);
            }
        }
        self.emit(vec![Span::styled(format!("└{}┘", "─".repeat(avail - 2)), dim())]);
    }

    fn render_table(&mut self, table: Table) {
        let avail = self.content_width();
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0).max(table.aligns.len());
        if columns == 0 {
            return;
        }
        let rows: Vec<Vec<Cell>> =
            table.rows.iter().map(|row| row.iter().map(|cell| to_cell(cell)).collect()).collect();
        let overhead = 3 * columns + 1;
        if avail < overhead + 2 * columns {
            return self.render_table_as_text(&rows, table.head_rows);
        }
        let mut natural = vec![1; columns];
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                natural[i] = natural[i].max(cell.width);
            }
        }
        let widths = fit_columns(&natural, avail - overhead);
        let border = |left: &str, mid: &str, right: &str| {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            vec![Span::styled(format!("{left}{}{right}", parts.join(mid)), dim())]
        };
        self.emit(border("┌", "┬", "┐"));
        for (r, row) in rows.iter().enumerate() {
            if r == table.head_rows && r > 0 {
                self.emit(border("├", "┼", "┤"));
            }
            let header = r < table.head_rows;
            let cells: Vec<Vec<Vec<Span<'static>>>> = widths
                .iter()
                .enumerate()
                .map(|(i, &width)| {
                    let align = table.aligns.get(i).copied().unwrap_or(Alignment::None);
                    let empty = Cell { pieces: Vec::new(), width: 0 };
                    wrap_cell(row.get(i).unwrap_or(&empty), width, align, header)
                })
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for k in 0..height {
                let mut spans = vec![Span::styled("│ ", dim())];
                for (i, &width) in widths.iter().enumerate() {
                    if i > 0 {
                        spans.push(Span::styled(" │ ", dim()));
                    }
                    match cells[i].get(k) {
                        Some(line) => spans.extend(line.iter().cloned()),
                        None => spans.push(Span::raw(" ".repeat(width))),
                    }
                }
                spans.push(Span::styled(" │", dim()));
                self.emit(spans);
            }
        }
        self.emit(border("└", "┴", "┘"));
    }

    /// Too narrow for a box: one wrapped line per row, cells separated by `│`.
    fn render_table_as_text(&mut self, rows: &[Vec<Cell>], head_rows: usize) {
        for (r, row) in rows.iter().enumerate() {
            let mut wrapper = Wrapper::new(self.content_width());
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    wrapper.push(" │ ", dim());
                }
                for (text, style) in &cell.pieces {
                    let style = if r < head_rows { style.add_modifier(Modifier::BOLD) } else { *style };
                    wrapper.push(text, style);
                }
            }
            for line in wrapper.finish() {
                self.emit(line);
            }
        }
    }
}

/// Sanitized text for one line: tabs and newlines become spaces.
fn clean_inline(text: &str) -> String {
    let clean = sanitize(text);
    if clean.contains(['\t', '\n']) { clean.replace(['\t', '\n'], " ") } else { clean.into_owned() }
}

fn to_cell(frags: &[Frag]) -> Cell {
    let mut pieces = Vec::new();
    let mut width = 0;
    for frag in frags {
        let (text, style) = match frag {
            Frag::Text(text, style) => (text.as_str(), *style),
            Frag::Break => (" ", Style::default()),
        };
        width += clusters(text).map(|(_, w)| w).sum::<usize>();
        push_piece(&mut pieces, text, style);
    }
    Cell { pieces, width }
}

/// Column widths that fit `room`: natural widths when they fit, otherwise each column, narrowest
/// first, gets at most an equal share of what is left, so the widest columns shrink first.
fn fit_columns(natural: &[usize], room: usize) -> Vec<usize> {
    if natural.iter().sum::<usize>() <= room {
        return natural.to_vec();
    }
    let mut order: Vec<usize> = (0..natural.len()).collect();
    order.sort_by_key(|&i| natural[i]);
    let mut widths = vec![0; natural.len()];
    let mut left = room;
    for (k, &i) in order.iter().enumerate() {
        let share = left / (natural.len() - k);
        widths[i] = natural[i].min(share);
        left -= widths[i];
    }
    widths
}

/// One cell's lines, each exactly `width` columns: the text wrapped at words (a word longer than the
/// column is split across lines), each line aligned and padded. A column narrower than
/// [`MIN_WRAP_COLUMN`] cannot hold a readable piece of a word, so its cell is cut with `…` instead.
fn wrap_cell(cell: &Cell, width: usize, align: Alignment, header: bool) -> Vec<Vec<Span<'static>>> {
    if cell.width <= width || width < MIN_WRAP_COLUMN {
        return vec![fit_cell(cell, width, align, header)];
    }
    let mut wrapper = Wrapper::new(width);
    for (text, style) in &cell.pieces {
        wrapper.push(text, if header { style.add_modifier(Modifier::BOLD) } else { *style });
    }
    wrapper
        .finish()
        .into_iter()
        .map(|mut spans| {
            let used: usize = spans.iter().map(|span| span.content.width()).sum();
            pad_to(&mut spans, width.saturating_sub(used), align);
            spans
        })
        .collect()
}

/// Pads a cell's spans with `pad` spaces placed as `align` says.
fn pad_to(spans: &mut Vec<Span<'static>>, pad: usize, align: Alignment) {
    let (before, after) = match align {
        Alignment::Right => (pad, 0),
        Alignment::Center => (pad / 2, pad - pad / 2),
        Alignment::Left | Alignment::None => (0, pad),
    };
    if before > 0 {
        spans.insert(0, Span::raw(" ".repeat(before)));
    }
    if after > 0 {
        spans.push(Span::raw(" ".repeat(after)));
    }
}

/// One cell's spans, exactly `width` columns: aligned and padded, or cut with `…`.
fn fit_cell(cell: &Cell, width: usize, align: Alignment, header: bool) -> Vec<Span<'static>> {
    let style_of = |style: Style| if header { style.add_modifier(Modifier::BOLD) } else { style };
    let mut spans = Vec::new();
    let used = if cell.width <= width {
        spans.extend(cell.pieces.iter().map(|(text, style)| Span::styled(text.clone(), style_of(*style))));
        cell.width
    } else {
        let mut pieces = Vec::new();
        let mut used = 0;
        'cut: for (text, style) in &cell.pieces {
            for (cluster, w) in clusters(text) {
                if used + w + 1 > width {
                    break 'cut;
                }
                push_piece(&mut pieces, cluster, style_of(*style));
                used += w;
            }
        }
        push_piece(&mut pieces, "…", Style::default().add_modifier(Modifier::DIM));
        spans.extend(to_spans(pieces));
        used + 1
    };
    pad_to(&mut spans, width - used, align);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::theme::ThemeName;
    use ratatui::style::Color;
    use unicode_width::UnicodeWidthChar;

    /// Renders in the dark theme with colour, whatever the environment's `NO_COLOR`.
    fn render_markdown(text: &str, width: u16) -> Vec<Line<'static>> {
        super::render_markdown(text, width, &Theme::new(ThemeName::Dark, true))
    }

    fn text_of(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines.iter().map(text_of).collect()
    }

    fn render(text: &str, width: u16) -> Vec<String> {
        texts(&render_markdown(text, width))
    }

    #[test]
    fn a_lone_carriage_return_shows_as_in_a_prompt() {
        let answer = render("over\rwrite", 40);
        let prompt = texts(&crate::render::wrap::wrap_plain("over\rwrite", 40, Style::default()));
        assert_eq!(answer, ["over␍write"]);
        assert_eq!(prompt, answer, "prompts and answers follow one rule");
        assert_eq!(render("a\r\nb", 40), render("a\nb", 40), "CRLF is a line ending");
    }

    fn line_width(line: &Line) -> usize {
        line.spans.iter().map(|s| s.content.width()).sum()
    }

    /// The first span whose content is exactly `text`.
    fn span<'a>(lines: &'a [Line<'static>], text: &str) -> &'a Span<'static> {
        lines
            .iter()
            .flat_map(|line| line.spans.iter())
            .find(|s| s.content == text)
            .unwrap_or_else(|| panic!("no span {text:?} in {:?}", texts(lines)))
    }

    fn assert_fits(lines: &[Line], width: usize, context: &str) {
        for line in lines {
            assert!(line_width(line) <= width, "{context}: width {} > {width}: {:?}", line_width(line), text_of(line));
        }
    }

    #[test]
    fn paragraphs_wrap_at_words_and_separate_with_one_blank_line() {
        let text = "The quick brown fox jumps over the lazy dog.\n\n\n\nSecond   paragraph\nwith a soft break.";
        assert_eq!(
            render(text, 20),
            ["The quick brown fox", "jumps over the lazy", "dog.", "", "Second paragraph", "with a soft break."]
        );
    }

    #[test]
    fn long_words_are_cut_and_hard_breaks_start_new_lines() {
        assert_eq!(render("abcdefghijklmnopqrstuvwxyz", 10), ["abcdefghij", "klmnopqrst", "uvwxyz"]);
        assert_eq!(render("see https://example.com/a/long/path", 14), ["see https://ex", "ample.com/a/lo", "ng/path"]);
        assert_eq!(render("one  \ntwo\\\nthree", 20), ["one", "two", "three"]);
    }

    #[test]
    fn headings_drop_markers_and_are_styled_by_level() {
        let lines = render_markdown("# Title\n## Sub\n### Small\ntext", 40);
        assert_eq!(texts(&lines), ["Title", "", "Sub", "", "Small", "", "text"]);
        let h1 = span(&lines, "Title").style;
        assert!(h1.add_modifier.contains(Modifier::BOLD | Modifier::UNDERLINED));
        assert_eq!(h1.fg, Some(Color::Cyan));
        let h2 = span(&lines, "Sub").style;
        assert!(h2.add_modifier.contains(Modifier::BOLD) && !h2.add_modifier.contains(Modifier::UNDERLINED));
        assert_eq!(h2.fg, Some(Color::Cyan));
        let h3 = span(&lines, "Small").style;
        assert!(h3.add_modifier.contains(Modifier::BOLD));
        assert_eq!(h3.fg, None);
        assert_eq!(span(&lines, "text").style, Style::default());
    }

    #[test]
    fn emphasis_strike_and_inline_code_are_styled() {
        let lines = render_markdown("*it* **bo** ~~st~~ `a  b` ***both***", 60);
        assert_eq!(texts(&lines), ["it bo st a b both"]);
        assert!(span(&lines, "it").style.add_modifier.contains(Modifier::ITALIC));
        assert!(span(&lines, "bo").style.add_modifier.contains(Modifier::BOLD));
        assert!(span(&lines, "st").style.add_modifier.contains(Modifier::CROSSED_OUT));
        assert_eq!(span(&lines, "a b").style.fg, Some(Color::Yellow));
        assert!(span(&lines, "both").style.add_modifier.contains(Modifier::BOLD | Modifier::ITALIC));
    }

    #[test]
    fn code_block_has_a_labelled_frame_spanning_the_width() {
        let lines = render_markdown("Run:\n\n```rust\nfn main() {\n\tprintln!(\"hi\");\n}\n```\nDone.", 30);
        assert_eq!(
            texts(&lines),
            [
                "Run:",
                "",
                "┌─ rust ─────────────────────┐",
                "│ fn main() {                │",
                "│     println!(\"hi\");        │",
                "│ }                          │",
                "└────────────────────────────┘",
                "",
                "Done.",
            ]
        );
        assert!(lines[2].spans[0].style.add_modifier.contains(Modifier::DIM));
        assert_eq!(render("    indented\n", 14), ["┌────────────┐", "│ indented   │", "└────────────┘"]);
    }

    #[test]
    fn long_code_lines_are_cut_at_the_frame_with_a_continuation_mark() {
        assert_eq!(
            render("```\nlet x = 0123456789abcdef;\n```", 16),
            ["┌──────────────┐", "│ let x = 0123 │", "│↪456789abcdef │", "│↪;            │", "└──────────────┘"]
        );
    }

    #[test]
    fn an_unclosed_fence_still_renders_a_closed_frame() {
        assert_eq!(
            render("Here:\n\n```python\nprint(1)\nfor x in", 24),
            [
                "Here:",
                "",
                "┌─ python ─────────────┐",
                "│ print(1)             │",
                "│ for x in             │",
                "└──────────────────────┘",
            ]
        );
        assert_eq!(render("```sh\n", 12), ["┌─ sh ─────┐", "└──────────┘"]);
    }

    #[test]
    fn tables_are_boxed_with_a_bold_header_and_alignment() {
        let lines = render_markdown("| Name | Qty |\n|:-----|----:|\n| apple | 3 |\n| kiwi | 12 |\n", 40);
        assert_eq!(
            texts(&lines),
            [
                "┌───────┬─────┐",
                "│ Name  │ Qty │",
                "├───────┼─────┤",
                "│ apple │   3 │",
                "│ kiwi  │  12 │",
                "└───────┴─────┘",
            ]
        );
        assert!(span(&lines, "Name").style.add_modifier.contains(Modifier::BOLD));
        assert!(!span(&lines, "apple").style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn wide_tables_shrink_their_widest_columns_and_wrap_cells() {
        let text = "| Aspect | WAL |\n|---|---|\n| Concurrent readers during a write | Yes |\n";
        assert_eq!(
            render(text, 24),
            [
                "┌────────────────┬─────┐",
                "│ Aspect         │ WAL │",
                "├────────────────┼─────┤",
                "│ Concurrent     │ Yes │",
                "│ readers during │     │",
                "│ a write        │     │",
                "└────────────────┴─────┘",
            ]
        );
        // A word longer than its column continues on the next line; nothing is lost.
        assert_eq!(
            render("| k | v |\n|---|--:|\n| x | abcdefghij |", 13),
            ["┌───┬───────┐", "│ k │     v │", "├───┼───────┤", "│ x │ abcde │", "│   │ fghij │", "└───┴───────┘"]
        );
        // Too narrow for a box: rows become lines.
        assert_eq!(
            render("| a | b | c | d |\n|---|---|---|---|\n| 1 | 2 | 3 | 4 |", 12),
            ["a │ b │ c │", "d", "1 │ 2 │ 3 │", "4"]
        );
    }

    /// Each line as its spans, a coloured span written `text«colour»`.
    fn styled_texts(lines: &[Line]) -> String {
        let mut out = String::new();
        for line in lines {
            for span in &line.spans {
                match span.style.fg {
                    Some(color) => out.push_str(&format!("{}«{color}»", span.content)),
                    None => out.push_str(&span.content),
                }
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn code_blocks_are_coloured_by_language_and_keep_their_text() {
        let text = "```rust\nfn main() {\n    let s = \"hi\"; // greet\n}\n```";
        let lines = render_markdown(text, 40);
        let keyword = span(&lines, "fn");
        assert!(keyword.style.fg.is_some(), "{keyword:?}");
        assert_ne!(span(&lines, "\"hi\"").style.fg, keyword.style.fg, "strings and keywords differ");
        let plain = render("```\nfn main() {\n    let s = \"hi\"; // greet\n}\n```", 40);
        assert_eq!(texts(&lines)[1..], plain[1..], "colour never changes the text");
        assert!(lines.iter().flat_map(|l| &l.spans).all(|s| !s.content.contains('\x1b')));
        insta::assert_snapshot!("highlighted_rust_40", styled_texts(&lines));
        // Without colour the same block is plain.
        let lines = super::render_markdown(text, 40, &Theme::new(ThemeName::Dark, false));
        assert!(lines.iter().flat_map(|l| &l.spans).all(|s| s.style.fg.is_none() && s.style.bg.is_none()));
    }

    #[test]
    fn single_line_breaks_inside_a_paragraph_are_kept() {
        let poem = "Roses are red,\nviolets are blue,\nsugar is sweet.\n\nNew stanza\nhere.";
        assert_eq!(
            render(poem, 40),
            ["Roses are red,", "violets are blue,", "sugar is sweet.", "", "New stanza", "here."]
        );
        // A kept break still wraps a long line at words, and lists and quotes keep their prefixes.
        assert_eq!(render("> one\n> two", 20), ["│ one", "│ two"]);
        assert_eq!(render("- first line\n  second line", 20), ["• first line", "  second line"]);
    }

    #[test]
    fn poem_snapshot_60() {
        let poem = "Here is a short poem:\n\nThe fog comes\non little cat feet.\n\nIt sits looking\n\
                    over harbor and city\non silent haunches\nand then moves on, a line long enough to wrap \
                    at sixty columns.\n\n*Ada Lovelace*  \n12 Example Street\nLondon";
        insta::assert_snapshot!("poem_60", render(poem, 60).join("\n"));
    }

    #[test]
    fn wide_table_snapshot_60() {
        let table = "| Setting | Default | What it does |\n|---|:---:|---|\n\
                     | `journal_mode` | `delete` | Chooses how SQLite keeps its rollback journal; WAL lets readers \
                     and a writer work at the same time |\n\
                     | `synchronous` | `full` | How often SQLite waits for the disk: `normal` is safe with WAL and \
                     much faster |\n| `busy_timeout` | 0 | Milliseconds to wait for a lock before failing |";
        let lines = render(table, 60);
        assert!(!lines.iter().any(|line| line.contains('…')), "a cell was cut: {lines:#?}");
        assert_fits(&render_markdown(table, 60), 60, "wide table");
        insta::assert_snapshot!("wide_table_60", lines.join("\n"));
    }

    #[test]
    fn half_a_table_renders_what_has_arrived() {
        assert_eq!(
            render("| a | b |\n|---|---|\n| 1 |", 20),
            ["┌───┬───┐", "│ a │ b │", "├───┼───┤", "│ 1 │   │", "└───┴───┘"]
        );
        assert_eq!(render("| a | b |\n|--", 20), ["| a | b |", "|--"]);
    }

    #[test]
    fn nested_lists_indent_and_number_from_their_start() {
        let text = "- one\n  - two wraps here\n    - three\n- four\n\n3. x\n4. y that wraps\n\n- [x] done\n- [ ] todo";
        assert_eq!(
            render(text, 16),
            [
                "• one",
                "  ◦ two wraps",
                "    here",
                "    • three",
                "• four",
                "",
                "3. x",
                "4. y that wraps",
                "",
                "• [x] done",
                "• [ ] todo",
            ]
        );
    }

    #[test]
    fn loose_lists_keep_a_blank_line_between_items() {
        assert_eq!(
            render("1. a\n\n2. b\n\n   more b\n\nafter", 20),
            ["1. a", "", "2. b", "", "   more b", "", "after"]
        );
    }

    #[test]
    fn quotes_prefix_each_line_and_nest() {
        let lines = render_markdown("> quoted text that wraps\n>\n> > nested\n\nafter", 16);
        assert_eq!(texts(&lines), ["│ quoted text", "│ that wraps", "│", "│ │ nested", "", "after"]);
        assert!(lines[0].spans[0].style.add_modifier.contains(Modifier::DIM));
        assert_eq!(render("para\n\n> q", 20), ["para", "", "│ q"]);
    }

    #[test]
    fn links_images_rules_and_html() {
        let lines = render_markdown("[docs](https://d.rs) and <https://x.io> ![a cat](c.png) ![](x.png)", 80);
        assert_eq!(texts(&lines), ["docs (https://d.rs) and https://x.io [image: a cat] [image]"]);
        assert!(span(&lines, "(https://d.rs)").style.add_modifier.contains(Modifier::DIM));
        assert!(span(&lines, "docs").style.add_modifier.contains(Modifier::UNDERLINED));
        assert_eq!(render("a\n\n---\n\nb", 10), ["a", "", "──────────", "", "b"]);
        assert_eq!(
            render("<div>\n<b>hi</b>\n</div>\n\ntext <i>x</i>", 20),
            ["<div>", "<b>hi</b>", "</div>", "", "text <i>x</i>"]
        );
    }

    #[test]
    fn no_leading_trailing_or_double_blank_lines() {
        let text = "\n\n# T\n\n\n---\n\n```\nx\n```\n\n> q\n\n- a\n\n\n";
        let lines = render(text, 12);
        assert_eq!(
            lines,
            ["T", "", "────────────", "", "┌──────────┐", "│ x        │", "└──────────┘", "", "│ q", "", "• a"]
        );
        assert!(render("", 20).is_empty());
    }

    #[test]
    fn wide_characters_never_overflow_or_split() {
        let samples = [
            "日本語のテキストはスペースなしで折り返されます。中文句子也没有空格，需要逐字换行。",
            "Mixed 混合 text with emoji 🎉🚀 and family 👨‍👩‍👧 and flags 🇯🇵🇫🇷 and ❤\u{fe0f} hearts e\u{301}tudes",
            "# 見出し 🎉 heading\n\n- 項目 🍣 item with 長い説明文がここに入ります\n  - ネスト 🐍\n\n> 引用 quote 😀😀😀😀😀😀",
            "```\nlet s = \"日本語の文字列🎉🎉🎉を含む長いコード行です\";\n\tlet t = 1;\n```",
            "| 名前 | 説明 |\n|---|---|\n| 寿司 🍣 | 日本の伝統的な料理で、とても長い説明 |\n| ramen | noodles 🍜 |",
        ];
        for sample in samples {
            let expected: String = sample.chars().filter(|c| !c.is_ascii() && c.width().unwrap_or(0) == 2).collect();
            for width in 10..=120u16 {
                let lines = render_markdown(sample, width);
                assert_fits(&lines, usize::from(width), &format!("{sample:?} at {width}"));
                if !sample.starts_with('|') {
                    // Every wide character arrives whole and in order (tables may cut cells instead).
                    let got: String = texts(&lines)
                        .concat()
                        .chars()
                        .filter(|c| !c.is_ascii() && c.width().unwrap_or(0) == 2)
                        .collect();
                    assert_eq!(got, expected, "{sample:?} at {width}");
                }
            }
        }
    }

    #[test]
    fn flags_and_emoji_sequences_stay_in_one_cluster() {
        let units: Vec<&str> = clusters("a🇯🇵👨‍👩‍👧e\u{301}❤\u{fe0f}").map(|(c, _)| c).collect();
        assert_eq!(units, ["a", "🇯🇵", "👨‍👩‍👧", "e\u{301}", "❤\u{fe0f}"]);
        let lines = render_markdown("🇯🇵🇯🇵🇯🇵🇯🇵🇯🇵🇯🇵", 10);
        assert_eq!(texts(&lines), ["🇯🇵🇯🇵🇯🇵🇯🇵🇯🇵", "🇯🇵"]);
    }

    #[test]
    fn every_width_and_every_streamed_prefix_fits() {
        let answer = crate::gemini::fake::demo_answer("sqlite wal checkpoint");
        let mut cuts: Vec<usize> = answer.char_indices().map(|(i, _)| i).step_by(7).collect();
        cuts.push(answer.len());
        for width in [0, 1, 3, 5, 9, 10, 17, 33, 80] {
            for &cut in &cuts {
                let lines = render_markdown(&answer[..cut], width);
                if width >= 10 {
                    assert_fits(&lines, usize::from(width), &format!("cut {cut}"));
                }
            }
        }
        for width in 10..=120u16 {
            assert_fits(&render_markdown(answer, width), usize::from(width), "whole answer");
        }
    }

    #[test]
    fn deep_nesting_keeps_room_for_content() {
        let text = format!("{}text that is long enough to wrap", "> ".repeat(40));
        for width in 10..=40u16 {
            let lines = render_markdown(&text, width);
            assert_fits(&lines, usize::from(width), "deep quotes");
            assert!(lines.iter().any(|l| text_of(l).contains("text")));
        }
    }

    #[test]
    fn hostile_text_never_reaches_the_terminal_raw() {
        use crate::gemini::fake::HOSTILE_PAYLOADS;
        let forbidden = |c: char| {
            c.is_control()
                || matches!(c, '\u{061c}' | '\u{00ad}' | '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{feff}')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || ('\u{2060}'..='\u{2064}').contains(&c)
        };
        for payload in HOSTILE_PAYLOADS {
            let docs = [
                format!("para {payload} end"),
                format!("# head {payload}"),
                format!("```{payload}\n{payload}\n\tx{payload}\n```"),
                format!("    {payload}"),
                format!("| h {payload} | x |\n|---|---|\n| {payload} | `{payload}` |"),
                format!("- item {payload}\n  1. nested {payload}"),
                format!("> quote *{payload}* [{payload}]({payload}) ![{payload}](x)"),
                format!("<div>{payload}</div>\n\ntext <b>{payload}</b>"),
                format!("```\n{payload}"),
            ];
            for doc in &docs {
                for width in [10, 24, 80] {
                    let lines = render_markdown(doc, width);
                    for line in texts(&lines) {
                        assert!(!line.chars().any(forbidden), "{doc:?} at {width} leaked: {line:?}");
                    }
                    assert_fits(&lines, usize::from(width), doc);
                }
            }
        }
        let lines = texts(&render_markdown("```\n\x1b]52;c;aGk=\x07\n```", 30));
        assert_eq!(lines[1], "│ ␛]52;c;aGk=␇               │");
    }

    #[test]
    fn tiny_widths_do_not_panic() {
        let answer = crate::gemini::fake::demo_answer("explain rust ownership");
        for width in 0..10 {
            assert!(!render_markdown(answer, width).is_empty());
        }
    }

    #[test]
    fn rust_ownership_answer_snapshot() {
        let answer = crate::gemini::fake::demo_answer("explain rust ownership and borrowing");
        assert!(answer.starts_with("## Ownership and borrowing in Rust"));
        insta::assert_snapshot!("rust_ownership_60", render(answer, 60).join("\n"));
    }

    #[test]
    fn crafted_answer_snapshot() {
        let answer = "# Plan\n\nA *short* answer with `code`, a [link](https://example.com) and ~~old~~ text.\n\n\
                      1. First step\n2. Second step\n   - detail 🎉\n\n> Note: quotes wrap inside their bar when \
                      the text is long.\n\n```toml\n[server]\nport = 8080\n```\n\n| Key | Default | Meaning |\n\
                      |---|:---:|---|\n| `port` | 8080 | Where the server listens for connections |\n\n---\n\nDone.";
        insta::assert_snapshot!("crafted_answer_40", render(answer, 40).join("\n"));
    }

    /// `cargo test --release --lib render::markdown::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing() {
        let answer = crate::gemini::fake::demo_answer("sqlite wal checkpoint");
        let long = answer.repeat(15);
        let start = std::time::Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(render_markdown(std::hint::black_box(answer), 100));
        }
        println!("{} bytes x 1000: {:?}", answer.len(), start.elapsed());
        let start = std::time::Instant::now();
        for _ in 0..100 {
            std::hint::black_box(render_markdown(std::hint::black_box(&long), 100));
        }
        let words = long.split_whitespace().count();
        println!("{words} words: {:?} per render", start.elapsed() / 100);
    }
}
