//! Makes untrusted text (model output, stored history, server messages) safe for a terminal.
//! Every control character, escape sequence introducer, bidi override and invisible character
//! becomes a visible stand-in, so nothing can move the cursor, set the title, write the
//! clipboard or hide text. Only `\n` and `\t` pass through. Stored text stays raw; this runs
//! at display time, in every output path.
//!
//! Carriage returns follow one rule everywhere, in answers and prompts, on stdout and in the
//! full-screen interface: `\r\n` is a line ending and becomes `\n`; a lone `\r` (which would send
//! the cursor back so later text overwrites earlier text) is shown as `␍`. It is not taken as a
//! line break, since that would hide that the text held one. Markdown rendering runs
//! [`carriage_returns`] before parsing, because a markdown parser reads a lone `\r` as a line end.

use std::borrow::Cow;

/// Whether `c` may reach a terminal as itself.
fn is_safe(c: char) -> bool {
    match c {
        '\n' | '\t' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => false,
        // Bidi embeddings, overrides, isolates and marks ("Trojan Source").
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => false,
        // Invisible characters that can hide or disguise text. ZWNJ/ZWJ (U+200C/D) stay: emoji need them.
        '\u{00ad}' | '\u{180e}' | '\u{200b}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{feff}' => false,
        '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}' => false,
        _ => true,
    }
}

/// The visible stand-in for an unsafe character.
fn push_visible(c: char, out: &mut String) {
    match c {
        '\u{1b}' => out.push('␛'),
        '\r' => out.push('␍'),
        '\u{7f}' => out.push('␡'),
        // C0 controls map onto the Control Pictures block (U+2400 + code).
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
        _ => {
            use std::fmt::Write;
            let _ = write!(out, "<U+{:04X}>", c as u32);
        }
    }
}

/// Sanitizes a whole string. `\r\n` becomes `\n`; every other unsafe character becomes visible.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_safe) {
        return Cow::Borrowed(text);
    }
    let mut s = StreamSanitizer::default();
    let mut out = s.push(text);
    out.push_str(&s.finish());
    Cow::Owned(out)
}

/// Text for a clipboard (OSC 52 or the system one): what [`sanitize`] shows on the screen, so
/// what is pasted is what was seen. It holds no C0 or C1 control character but `\n` and `\t`, no
/// bidi override or invisible character; `\r\n` becomes `\n` and a lone `\r` is `␍`. A copied
/// answer can then never end a shell's bracketed paste (`ESC [201~`) or run a line with `\r`.
/// Every copy geminal makes goes through this.
pub fn clipboard_text(text: &str) -> Cow<'_, str> {
    sanitize(text)
}

/// Applies the carriage-return rule alone (`\r\n` → `\n`, lone `\r` → `␍`) and leaves every
/// other character as it is: for text that is parsed (markdown) before it is sanitized.
pub fn carriage_returns(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "␍"))
}

/// JSON text made safe for a terminal with the data unchanged: every character [`sanitize`]
/// would replace is written as a `\uXXXX` escape (a surrogate pair above U+FFFF), so the text
/// is still valid JSON and parses to the same value. `json` must be JSON text as serde_json
/// writes it: outside strings it holds only ASCII punctuation, letters, digits, spaces and
/// newlines, none of which is escaped, and inside strings serde_json has already escaped C0
/// controls. Used for every JSON that geminal writes to a terminal; a file or pipe gets the
/// text as serde_json wrote it.
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    if json.chars().all(is_safe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_safe(c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                use std::fmt::Write;
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    Cow::Owned(out)
}

/// Sanitizes text that arrives in pieces. Stateless per character except for `\r\n`, which may
/// be split across pieces, so an escape sequence can never be reassembled across chunks.
#[derive(Debug, Default, Clone)]
pub struct StreamSanitizer {
    pending_cr: bool,
}

impl StreamSanitizer {
    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::with_capacity(piece.len());
        for c in piece.chars() {
            if self.pending_cr {
                self.pending_cr = false;
                if c == '\n' {
                    out.push('\n');
                    continue;
                }
                push_visible('\r', &mut out);
            }
            if c == '\r' {
                self.pending_cr = true;
            } else if is_safe(c) {
                out.push(c);
            } else {
                push_visible(c, &mut out);
            }
        }
        out
    }

    /// Flushes a trailing `\r` held back in case `\n` followed.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if std::mem::take(&mut self.pending_cr) {
            push_visible('\r', &mut out);
        }
        out
    }
}

/// What a secret becomes in any text shown or kept.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every non-empty secret of `secrets` replaced by [`REDACTED`]. Run it on the whole
/// text before anything cuts it ([`redacted_line`]): a secret cut in two is no longer found,
/// and its first part would show.
pub fn redact<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().map(AsRef::as_ref).filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// Server text for one line of output: secrets redacted first, then [`one_line`].
pub fn redacted_line<S: AsRef<str>>(text: &str, secrets: &[S], max_chars: usize) -> String {
    one_line(&redact(text, secrets), max_chars)
}

/// Sanitized text on one line: whitespace runs (newlines included) become one space, and the
/// result is cut at `max_chars` with an ellipsis. For error messages, titles and status lines.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let clean = sanitize(text);
    let mut out = String::with_capacity(clean.len().min(max_chars.saturating_mul(4)));
    let mut count = 0;
    for word in clean.split_whitespace() {
        let needed = word.chars().count() + usize::from(count > 0);
        if count + needed > max_chars {
            let room = max_chars.saturating_sub(count + usize::from(count > 0) + 1);
            if room > 0 {
                if count > 0 {
                    out.push(' ');
                }
                out.extend(word.chars().take(room));
            }
            out.push('…');
            return out;
        }
        if count > 0 {
            out.push(' ');
        }
        out.push_str(word);
        count += needed;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(sanitize("a\x1b]52;c;aGk=\x07b"), "a␛]52;c;aGk=␇b");
        assert_eq!(sanitize("\x1b[2J\u{9b}31m"), "␛[2J<U+009B>31m");
        assert_eq!(sanitize("x\u{202e}y\u{200b}z"), "x<U+202E>y<U+200B>z");
    }

    #[test]
    fn clipboard_text_holds_no_control_character_but_newline_and_tab() {
        let hostile =
            "echo safe\x1b[201~\rtouch ~/pwned\r# done\r\n\tnext\u{85}\u{9b}0m\u{202e}cba\u{2066}x\u{7f}\u{0}";
        let copied = clipboard_text(hostile);
        assert_eq!(copied, "echo safe␛[201~␍touch ~/pwned␍# done\n\tnext<U+0085><U+009B>0m<U+202E>cba<U+2066>x␡␀");
        assert!(
            copied
                .chars()
                .all(|c| c == '\n' || c == '\t' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)))
        );
        assert!(matches!(clipboard_text("fn main() {\n\tok\n}"), Cow::Borrowed(_)));
    }

    #[test]
    fn newlines_tabs_and_emoji_pass_through() {
        let s = "fn main() {\n\tprintln!(\"hi\");\n}\n👨‍👩‍👧 世界";
        assert!(matches!(sanitize(s), Cow::Borrowed(_)));
    }

    #[test]
    fn crlf_becomes_lf_and_lone_cr_is_visible_even_when_split() {
        let mut s = StreamSanitizer::default();
        let mut out = s.push("a\r");
        out += &s.push("\nb\r");
        out += &s.push("c\r");
        out += &s.finish();
        assert_eq!(out, "a\nb␍c␍");
    }

    #[test]
    fn a_lone_cr_is_shown_the_same_by_every_function() {
        let text = "over\rwrite\r\nnext\r";
        assert_eq!(sanitize(text), "over␍write\nnext␍");
        assert_eq!(carriage_returns(text), "over␍write\nnext␍");
        assert_eq!(sanitize(&carriage_returns(text)), sanitize(text), "the two compose");
        assert_eq!(one_line(text, 80), "over␍write next␍");
    }

    #[test]
    fn json_for_a_terminal_escapes_what_sanitize_replaces_and_keeps_the_data() {
        let value = serde_json::json!({"t": "a\u{202e}b\u{1b}c\u{9b}d\u{7f}e\u{2028} 世界 🦀 \u{e0041}"});
        let text = serde_json::to_string(&value).unwrap();
        let shown = json_for_terminal(&text);
        assert_eq!(shown, r#"{"t":"a\u202eb\u001bc\u009bd\u007fe\u2028 世界 🦀 \udb40\udc41"}"#);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).unwrap(), value);
        assert!(matches!(json_for_terminal("{\"a\": [1, \"x\"]}\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn one_line_collapses_and_cuts() {
        assert_eq!(one_line("  a\n\nb\tc  ", 80), "a b c");
        assert_eq!(one_line("abcdef ghijkl", 8), "abcdef…");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(one_line("no limit", usize::MAX), "no limit");
    }

    #[test]
    fn a_secret_is_redacted_before_the_text_is_cut_wherever_it_stands() {
        let key = "AIzaSyD-0123456789abcdefghijklmnopqrstu";
        for offset in 0..260 {
            let text = format!("{}{key} and more text after it", "x".repeat(offset));
            let line = redacted_line(&text, &[key], 200);
            for window in 0..key.len() - 3 {
                assert!(!line.contains(&key[window..window + 4]), "offset {offset}: {line}");
            }
        }
        assert_eq!(redact("a  b", &["", " "]), "a[REDACTED][REDACTED]b");
    }
}
