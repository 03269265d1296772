//! Streams an answer to a writer: sanitized (unless raw), flushed per chunk, with a spinner on
//! a terminal's stderr until the first token. A closed pipe ends the answer quietly.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::gemini::{AnswerStream, ApiError, StreamEvent, UsageMetadata};
use crate::sanitize::StreamSanitizer;

/// What came of one streamed answer.
#[derive(Debug, Default)]
pub struct Streamed {
    /// The raw answer text as received (for history; never printed unsanitized).
    pub text: String,
    pub usage: Option<UsageMetadata>,
    /// Whether output ended with a newline (so the caller knows whether to add one).
    pub ends_with_newline: bool,
    /// The reader of stdout went away (`| head`).
    pub pipe_closed: bool,
}

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

/// Writes the answer as it arrives. On error, `streamed` holds what was shown before it.
pub async fn stream_to(
    stream: &mut AnswerStream,
    out: &mut dyn Write,
    raw: bool,
    spinner: &mut Spinner,
    streamed: &mut Streamed,
) -> Result<(), ApiError> {
    let mut sanitizer = StreamSanitizer::default();
    streamed.ends_with_newline = true;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Text(text) => {
                spinner.stop();
                streamed.text.push_str(&text);
                let shown = if raw { text } else { sanitizer.push(&text) };
                if !shown.is_empty() {
                    streamed.ends_with_newline = shown.ends_with('\n');
                }
                if !streamed.pipe_closed && write_flush(out, shown.as_bytes()).is_err() {
                    streamed.pipe_closed = true;
                }
            }
            StreamEvent::Usage(usage) => streamed.usage = Some(usage),
            StreamEvent::Finished(reason) => {
                let tail = sanitizer.finish();
                if !tail.is_empty() && !streamed.pipe_closed {
                    streamed.ends_with_newline = false;
                    let _ = write_flush(out, tail.as_bytes());
                }
                if let Some(error) = reason.into_error() {
                    return Err(error);
                }
            }
            StreamEvent::Thought(_) | StreamEvent::ModelVersion(_) => {}
        }
    }
    Ok(())
}

pub fn write_flush(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}
