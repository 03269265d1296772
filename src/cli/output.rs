//! Where answers go: stdout, sanitized (unless raw), flushed per piece, with a spinner on a
//! terminal's stderr until the first word. A closed pipe (`| head`) ends output quietly.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::chat::Shown;
use crate::sanitize::StreamSanitizer;

pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// A spinner on stderr when stderr is a terminal; nothing otherwise.
    pub fn start(message: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(90));
        Spinner(Some(bar))
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

/// Streams answer text to stdout.
pub struct AnswerPrinter {
    sanitizer: StreamSanitizer,
    raw: bool,
    spinner: Spinner,
    ends_with_newline: bool,
    pipe_closed: bool,
}

impl AnswerPrinter {
    pub fn new(raw: bool) -> Self {
        AnswerPrinter {
            sanitizer: StreamSanitizer::default(),
            raw,
            spinner: Spinner::start("waiting for Gemini…"),
            ends_with_newline: true,
            pipe_closed: false,
        }
    }

    /// Shows what a running turn produced. A restart cannot take back what is on stdout, so
    /// the new answer begins on a fresh line and stderr says why.
    pub fn show(&mut self, shown: Shown) {
        match shown {
            Shown::Text(text) => self.push(&text),
            Shown::Restart => {
                self.spinner.stop();
                let tail = self.sanitizer.finish();
                self.write(&tail);
                if !self.ends_with_newline {
                    self.write("\n");
                }
                eprintln!("geminal: the answer was cut off and starts again below.");
            }
            Shown::Notice(notice) => {
                self.spinner.stop();
                eprintln!("geminal: {}", crate::sanitize::one_line(&notice.to_string(), 240));
            }
        }
    }

    pub fn push(&mut self, text: &str) {
        self.spinner.stop();
        let shown = if self.raw { text.to_owned() } else { self.sanitizer.push(text) };
        self.write(&shown);
    }

    /// Ends the answer: flushes a held-back `\r` and ends the line.
    pub fn finish(&mut self) {
        self.spinner.stop();
        let tail = self.sanitizer.finish();
        self.write(&tail);
        if !self.ends_with_newline {
            self.write("\n");
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

pub fn write_flush(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}
