//! Copies from the interface: the terminal's OSC 52 (works over SSH and in terminals that allow
//! it), or the system clipboard through `arboard` when geminal runs on a local display. Which
//! one was used is reported, so the user knows where to paste from. Only text the user chose is
//! ever copied; model output never reaches the clipboard on its own, and what is copied holds
//! no control character but `\n` and `\t` (both ways go through one sanitizing step).

use std::io::Write;

use crate::config::ClipboardMode;

/// The clipboard gets at most this much.
pub const MAX_COPY_BYTES: usize = 100_000;

/// Where a copy went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    System,
    Terminal,
    /// OSC 52, because the system clipboard failed (why).
    TerminalInstead(String),
}

impl Via {
    /// The end of "Copied the answer (12 characters) …".
    pub fn said(&self) -> String {
        match self {
            Via::System => "to the system clipboard".to_owned(),
            Via::Terminal => "through the terminal (OSC 52)".to_owned(),
            Via::TerminalInstead(why) => format!("through the terminal (OSC 52): the system clipboard failed ({why})"),
        }
    }
}

/// Whether the system clipboard is the one the user pastes from: a local graphical session
/// (not over SSH, where the clipboard that matters is the one on the user's own machine).
fn local_display(var: &dyn Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    if set("SSH_CONNECTION") || set("SSH_TTY") {
        return false;
    }
    cfg!(any(target_os = "macos", target_os = "windows")) || set("DISPLAY") || set("WAYLAND_DISPLAY")
}

/// Whether a copy tries the system clipboard first.
fn wants_system(mode: ClipboardMode, var: &dyn Fn(&str) -> Option<String>) -> bool {
    match mode {
        ClipboardMode::Terminal => false,
        ClipboardMode::System => true,
        ClipboardMode::Auto => local_display(var),
    }
}

pub struct Clipboard {
    mode: ClipboardMode,
    /// Made at the first copy that needs it, then kept: on X11 the copied text lives as long
    /// as its owner does.
    system: Option<arboard::Clipboard>,
}

impl Clipboard {
    pub fn new(mode: ClipboardMode) -> Clipboard {
        Clipboard { mode, system: None }
    }

    /// Copies `text` made clipboard-safe ([`crate::sanitize::clipboard_text`]: no control
    /// character but `\n` and `\t`) and cut to at most [`MAX_COPY_BYTES`], writing OSC 52 to
    /// `terminal` when that is the way; `Err` is the sentence to show when nothing was copied.
    pub fn copy(&mut self, text: &str, terminal: &mut dyn Write) -> Result<Via, String> {
        let safe = crate::sanitize::clipboard_text(text);
        let text = cut(&safe);
        if !wants_system(self.mode, &|name| std::env::var(name).ok()) {
            return osc52(text, terminal).map(|()| Via::Terminal);
        }
        match self.system_copy(text) {
            Ok(()) => Ok(Via::System),
            Err(why) if self.mode == ClipboardMode::Auto => osc52(text, terminal).map(|()| Via::TerminalInstead(why)),
            Err(why) => Err(format!(
                "Nothing was copied: the system clipboard failed ({why}); set clipboard = \"terminal\" in the config to use OSC 52."
            )),
        }
    }

    fn system_copy(&mut self, text: &str) -> Result<(), String> {
        let clipboard = match &mut self.system {
            Some(clipboard) => clipboard,
            slot => slot.insert(arboard::Clipboard::new().map_err(|e| crate::sanitize::one_line(&e.to_string(), 80))?),
        };
        clipboard.set_text(text).map_err(|e| crate::sanitize::one_line(&e.to_string(), 80))
    }
}

/// At most [`MAX_COPY_BYTES`] of `text`, cut at a character boundary.
fn cut(text: &str) -> &str {
    let mut end = text.len().min(MAX_COPY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The terminal's clipboard sequence, written by geminal itself for text the user chose.
fn osc52(text: &str, terminal: &mut dyn Write) -> Result<(), String> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    write!(terminal, "\x1b]52;c;{encoded}\x07")
        .and_then(|()| terminal.flush())
        .map_err(|e| format!("Nothing was copied: the terminal could not be written ({}).", e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn auto_uses_the_system_clipboard_only_on_a_local_display() {
        assert!(wants_system(ClipboardMode::Auto, &env(&[("DISPLAY", ":0")])));
        assert!(wants_system(ClipboardMode::Auto, &env(&[("WAYLAND_DISPLAY", "wayland-0")])));
        // Over SSH the clipboard the user pastes from is on their own machine: OSC 52 reaches it.
        assert!(!wants_system(ClipboardMode::Auto, &env(&[("DISPLAY", "localhost:10.0"), ("SSH_CONNECTION", "a b")])));
        if cfg!(target_os = "linux") {
            assert!(!wants_system(ClipboardMode::Auto, &env(&[])), "a console has no system clipboard");
        }
        assert!(!wants_system(ClipboardMode::Terminal, &env(&[("DISPLAY", ":0")])));
        assert!(wants_system(ClipboardMode::System, &env(&[("SSH_TTY", "/dev/pts/1")])));
    }

    #[test]
    fn the_terminal_way_writes_one_osc_52_sequence_of_the_text() {
        let mut out = Vec::new();
        let via = Clipboard::new(ClipboardMode::Terminal).copy("fn main() {}\n", &mut out).unwrap();
        assert_eq!(via, Via::Terminal);
        assert_eq!(String::from_utf8(out).unwrap(), "\x1b]52;c;Zm4gbWFpbigpIHt9Cg==\x07");
    }

    #[test]
    fn hostile_text_reaches_the_clipboard_without_its_control_characters() {
        use base64::Engine as _;
        let mut out = Vec::new();
        let text = "echo safe\x1b[201~\rtouch ~/pwned\r# done\r\n\u{9b}1m\u{202e}x";
        Clipboard::new(ClipboardMode::Terminal).copy(text, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let encoded = out.strip_prefix("\x1b]52;c;").and_then(|o| o.strip_suffix('\x07')).unwrap();
        let copied = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(String::from_utf8(copied).unwrap(), "echo safe␛[201~␍touch ~/pwned␍# done\n<U+009B>1m<U+202E>x");
    }

    #[test]
    fn a_long_copy_is_cut_at_a_character_boundary() {
        let text = "é".repeat(MAX_COPY_BYTES);
        let kept = cut(&text);
        assert!(kept.len() <= MAX_COPY_BYTES && kept.len() >= MAX_COPY_BYTES - 1);
        assert!(kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn every_way_says_where_the_text_went() {
        assert_eq!(Via::System.said(), "to the system clipboard");
        assert_eq!(Via::Terminal.said(), "through the terminal (OSC 52)");
        assert!(Via::TerminalInstead("no display".into()).said().contains("system clipboard failed (no display)"));
    }
}
