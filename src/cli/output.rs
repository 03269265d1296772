//! Where answers go: stdout, sanitized (unless raw), streamed to a terminal and held whole for
//! a pipe or file, with a spinner on a terminal's stderr while waiting. A closed pipe (`| head`)
//! ends output quietly.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::markdown::MarkdownStream;
use crate::chat::Shown;
use crate::grounding::{Grounding, Marker, annotate, source_lines};
use crate::sanitize::StreamSanitizer;

pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// A spinner on stderr when stderr is a terminal; nothing otherwise.
    pub fn start(message: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::term_like(Box::new(SpinnerTerm)));
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(90));
        Spinner(Some(bar))
    }

    /// Runs `f` with the spinner hidden (so text written meanwhile is not drawn over).
    pub fn suspend(&self, f: impl FnOnce()) {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    pub fn set_message(&self, message: &'static str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    pub fn stop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// "waiting for Gemini…", or for the provider that answers `model`.
fn waiting_message(model: &str, names: &crate::provider::Names) -> String {
    match crate::provider::name::split_canonical(model, &|p| names.is_known(p)).0 {
        crate::provider::name::GEMINI => "waiting for Gemini…".to_owned(),
        provider => format!("waiting for provider {}…", crate::sanitize::one_line(provider, 40)),
    }
}

/// Stderr for the spinner, two columns narrower than the terminal. indicatif fills the
/// spinner's line to the terminal's width, so the `^C` the terminal echoes for Ctrl-C would
/// wrap to a new line and clearing the spinner would clear that one, leaving "waiting for
/// Gemini…" above the answer. Two spare columns keep the echo on the spinner's line.
#[derive(Debug)]
struct SpinnerTerm;

impl SpinnerTerm {
    fn put(&self, text: &str) -> std::io::Result<()> {
        let mut err = std::io::stderr();
        err.write_all(text.as_bytes())
    }
}

impl indicatif::TermLike for SpinnerTerm {
    fn width(&self) -> u16 {
        ratatui::crossterm::terminal::size().map_or(80, |(columns, _)| columns).saturating_sub(2).max(10)
    }

    fn height(&self) -> u16 {
        ratatui::crossterm::terminal::size().map_or(24, |(_, rows)| rows)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n == 0 { Ok(()) } else { self.put(&format!("\x1b[{n}A")) }
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n == 0 { Ok(()) } else { self.put(&format!("\x1b[{n}B")) }
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n == 0 { Ok(()) } else { self.put(&format!("\x1b[{n}C")) }
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n == 0 { Ok(()) } else { self.put(&format!("\x1b[{n}D")) }
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// When answer text reaches stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// As it arrives; a restart begins again on a fresh line, and stderr says why.
    Stream,
    /// Once the turn is over, so stdout receives exactly one answer: the complete one, or on a
    /// failure or Ctrl-C the part that was saved. A restart silently drops the held text.
    Whole,
}

impl Delivery {
    /// Streams to a terminal (or when asked to); holds the answer for anything else.
    pub fn for_stdout(stream: bool) -> Delivery {
        if stream || std::io::stdout().is_terminal() { Delivery::Stream } else { Delivery::Whole }
    }
}

/// Writes one answer to stdout.
pub struct AnswerPrinter {
    sanitizer: StreamSanitizer,
    raw: bool,
    delivery: Delivery,
    /// The answer so far, when it is delivered whole.
    held: String,
    spinner: Spinner,
    /// Set when the answer is shown as rendered markdown (`ask` on a terminal).
    markdown: Option<MarkdownStream>,
    /// The width markdown is rendered at (thought summaries are rendered too).
    markdown_width: u16,
    ends_with_newline: bool,
    pipe_closed: bool,
    /// Thought summaries go to stdout, dimmed, above the answer (a terminal); else to stderr.
    thoughts_on_stdout: bool,
    /// The answer's sources, written below it (see [`AnswerPrinter::sources`]).
    source_lines: Vec<String>,
}

impl AnswerPrinter {
    pub fn new(raw: bool, delivery: Delivery) -> Self {
        AnswerPrinter {
            sanitizer: StreamSanitizer::default(),
            raw,
            delivery,
            held: String::new(),
            spinner: Spinner::start("waiting for Gemini…"),
            markdown: None,
            markdown_width: 0,
            ends_with_newline: true,
            pipe_closed: false,
            thoughts_on_stdout: false,
            source_lines: Vec::new(),
        }
    }

    /// The spinner names who is awaited: Gemini, or the provider of `model` (a canonical name).
    pub fn waiting_for(self, model: &str, names: &crate::provider::Names) -> Self {
        if let Some(bar) = &self.spinner.0 {
            bar.set_message(waiting_message(model, names));
        }
        self
    }

    /// Shows thought summaries dimmed on stdout, above the answer (for a terminal). Without
    /// this they go to stderr (dimmed when it is a terminal), so stdout holds only the answer.
    pub fn with_thoughts_on_stdout(mut self, on_stdout: bool) -> Self {
        self.thoughts_on_stdout = on_stdout && self.delivery == Delivery::Stream;
        self
    }

    /// Renders the answer as markdown `width` columns wide: a block at a time when streaming, the
    /// whole of it at the end when held (the text stays sanitized; the only escapes added are the
    /// renderer's styles). For a terminal only.
    pub fn with_markdown(mut self, width: u16) -> Self {
        if !self.raw {
            self.markdown = Some(MarkdownStream::new(width));
            self.markdown_width = width;
        }
        self
    }

    /// The answer's sources, once the turn is over (call before [`AnswerPrinter::finish`]): a
    /// held answer gets its numbered markers (placed in `text`, the raw answer, so stored
    /// text never holds them), and any answer gets the list of sources below it.
    pub fn sources(&mut self, text: &str, grounding: &Grounding) {
        // --raw writes the model's text exactly as sent: no markers (the sources go to stderr).
        if self.delivery == Delivery::Whole && !self.raw {
            let marker = if self.markdown.is_some() { Marker::Delimited } else { Marker::Plain };
            self.held = crate::sanitize::sanitize(&annotate(text, grounding, marker)).into_owned();
            self.sanitizer = StreamSanitizer::default();
        }
        self.source_lines = source_lines(grounding);
    }

    /// Shows what a running turn produced. When streaming, a restart cannot take back what is
    /// on stdout, so the new answer begins on a fresh line and stderr says why; when the answer
    /// is held, the cut text is simply replaced.
    pub fn show(&mut self, shown: Shown) {
        match shown {
            Shown::Text(text) => self.push(&text),
            Shown::Thought(text) => self.thought(&text),
            Shown::Restart if self.delivery == Delivery::Whole => {
                self.held.clear();
                self.sanitizer = StreamSanitizer::default();
            }
            Shown::Restart => {
                self.spinner.stop();
                self.flush_sanitizer();
                if !self.ends_with_newline {
                    self.write("\n");
                }
                eprintln!("geminal: the answer was cut off and starts again below.");
            }
            // Where the prompt was saved: `ask` reports it with the answer.
            Shown::Saved { .. } | Shown::Answering { .. } => {}
            // Tool steps are told on stderr by the front end (`cli/tool_steps.rs`); the spinner
            // goes first, so neither the line nor an approval question is drawn over.
            Shown::Tool(_) => self.spinner.stop(),
            Shown::Notice(notice) => {
                self.spinner.stop();
                eprintln!("geminal: {}", crate::sanitize::one_line(&notice.to_string(), 240));
            }
        }
    }

    /// One thought summary: sanitized always (even with --raw: it is not the answer), dimmed.
    fn thought(&mut self, text: &str) {
        let clean = crate::sanitize::sanitize(text.trim_matches('\n'));
        if clean.trim().is_empty() {
            return;
        }
        self.spinner.set_message("thinking…");
        if self.thoughts_on_stdout {
            // Rendered as the answer is (a heading in bold, not "**Heading**"), all of it dimmed,
            // and set off from what follows by a blank line.
            let shown = if self.markdown.is_some() {
                let mut thought = MarkdownStream::new(self.markdown_width);
                let rendered = thought.push(&clean) + &thought.finish();
                format!("{}\n", dim_rendered(&rendered))
            } else {
                format!("{}\n\n", dimmed(&clean))
            };
            let mut failed = false;
            self.spinner.suspend(|| failed = write_flush(&mut std::io::stdout(), shown.as_bytes()).is_err());
            self.pipe_closed |= failed;
        } else {
            let shown = if std::io::stderr().is_terminal() { dimmed(&clean) } else { clean.into_owned() };
            self.spinner.suspend(|| {
                let _ = write_flush(&mut std::io::stderr(), format!("{shown}\n\n").as_bytes());
            });
        }
    }

    fn push(&mut self, text: &str) {
        let shown = if self.raw { text.to_owned() } else { self.sanitizer.push(text) };
        match self.delivery {
            Delivery::Stream => match &mut self.markdown {
                Some(markdown) => {
                    let rendered = markdown.push(&shown);
                    if rendered.is_empty() {
                        self.spinner.set_message("receiving the answer…");
                    } else {
                        self.spinner.stop();
                        self.write(&rendered);
                    }
                }
                None => {
                    self.spinner.stop();
                    self.write(&shown);
                }
            },
            Delivery::Whole => {
                if self.held.is_empty() {
                    self.spinner.set_message("receiving the answer…");
                }
                self.held.push_str(&shown);
            }
        }
    }

    /// Ends the answer: writes what was held, flushes a held-back `\r` and ends the line.
    pub fn finish(&mut self) {
        self.spinner.stop();
        let held = std::mem::take(&mut self.held);
        match &mut self.markdown {
            Some(markdown) if self.delivery == Delivery::Whole => {
                // Whatever the sanitizer held back belongs to the last block.
                let held = held + &self.sanitizer.finish();
                let mut rendered = markdown.push(&held);
                rendered.push_str(&markdown.finish());
                self.write(&rendered);
            }
            _ => self.write(&held),
        }
        self.flush_sanitizer();
        if !self.ends_with_newline {
            self.write("\n");
        }
        let lines = std::mem::take(&mut self.source_lines);
        if let Some((header, rest)) = lines.split_first() {
            // Styled on a terminal only (markdown is rendered only there).
            let header = if self.markdown.is_some() { format!("\x1b[1m{header}\x1b[22m") } else { header.clone() };
            let mut text = format!("\n{header}\n");
            for line in rest {
                text.push_str(line);
                text.push('\n');
            }
            if self.raw {
                let _ = write_flush(&mut std::io::stderr(), text.trim_start_matches('\n').as_bytes());
            } else {
                self.write(&text);
            }
        }
    }

    /// Writes the text the sanitizer held back, and with markdown the block still pending.
    fn flush_sanitizer(&mut self) {
        let tail = self.sanitizer.finish();
        match &mut self.markdown {
            Some(markdown) => {
                let mut rendered = markdown.push(&tail);
                rendered.push_str(&markdown.finish());
                self.write(&rendered);
            }
            None => self.write(&tail),
        }
    }

    /// The reader of stdout went away.
    pub fn pipe_closed(&self) -> bool {
        self.pipe_closed
    }

    fn write(&mut self, text: &str) {
        if text.is_empty() || self.pipe_closed {
            return;
        }
        self.ends_with_newline = text.ends_with('\n');
        if write_flush(&mut std::io::stdout(), text.as_bytes()).is_err() {
            self.pipe_closed = true;
        }
    }
}

/// `text` dimmed (SGR 2), line by line, so each line stands alone if a terminal wraps or clears.
pub fn dimmed(text: &str) -> String {
    text.split('\n')
        .map(|line| if line.is_empty() { String::new() } else { format!("\x1b[2m{line}\x1b[22m") })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rendered ANSI text dimmed line by line: dim again after each of the renderer's resets, so a
/// bold heading stays dim too.
fn dim_rendered(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let (body, end) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
            if body.is_empty() {
                end.to_owned()
            } else {
                format!("\x1b[2m{}\x1b[22m{end}", body.replace("\x1b[0m", "\x1b[0m\x1b[2m"))
            }
        })
        .collect()
}

/// JSON text as it should reach its destination: escaped for a terminal (see
/// [`crate::sanitize::json_for_terminal`]), exact for a file or pipe.
pub fn json_for(text: &str, to_terminal: bool) -> std::borrow::Cow<'_, str> {
    if to_terminal { crate::sanitize::json_for_terminal(text) } else { std::borrow::Cow::Borrowed(text) }
}

/// Writes JSON text to stdout, escaped when stdout is a terminal. A closed pipe ends quietly.
pub fn print_json(text: &str) {
    let shown = json_for(text, std::io::stdout().is_terminal());
    let _ = write_flush(&mut std::io::stdout(), shown.as_bytes());
}

pub fn write_flush(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Upload progress on stderr: a bar per file on a terminal, nothing on a pipe.
pub struct UploadBar {
    bar: indicatif::ProgressBar,
    current: std::sync::Mutex<Option<String>>,
}

impl UploadBar {
    pub fn new() -> Self {
        use std::io::IsTerminal;
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
            let style = indicatif::ProgressStyle::with_template(
                "uploading {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        UploadBar { bar, current: std::sync::Mutex::new(None) }
    }

    pub fn show(&self, progress: &crate::chat::UploadProgress) {
        if let Ok(mut current) = self.current.lock()
            && current.as_deref() != Some(progress.name.as_str())
        {
            *current = Some(progress.name.clone());
            self.bar.reset();
            self.bar.set_length(progress.total);
            self.bar.set_message(crate::format::fit(&progress.name, 40));
        }
        self.bar.set_position(progress.sent);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for UploadBar {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod waiting_tests {
    use super::*;

    #[test]
    fn the_spinner_waits_for_the_provider_that_answers() {
        let names = crate::provider::Names::new(["gemini".to_owned(), "local".to_owned()], None);
        assert_eq!(waiting_message("gemini-2.5-flash", &names), "waiting for Gemini…");
        assert_eq!(waiting_message("local:qwen3:8b", &names), "waiting for provider local…");
    }
}
