//! Server-sent-events decoder shared by every provider's stream. It owns byte framing only:
//! lines, `data:` fields, event boundaries and bare JSON error objects; it knows no JSON schema.
//!
//! The decoder yields the same items for any split of the byte stream (mid-line, mid-UTF-8,
//! inside `\r\n`), accepts LF, CRLF and CR line endings, `data:` with or without the space,
//! several `data:` lines per event, comments and a leading BOM, and never buffers more than
//! `max_event_bytes` for one event.

use std::fmt;

/// Default cap on one event (and on one unterminated line): 8 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One decoded item of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// The `data:` lines of one event, joined with `\n`.
    Data(String),
    /// A JSON value written outside any `data:` line (how Gemini reports an error inside a
    /// 200 stream: a bare, often pretty-printed `{"error": ...}` object).
    Json(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// One event (or one line) grew past the limit.
    EventTooLarge { limit: usize },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge { limit } => {
                write!(f, "a stream event was larger than {} MiB", limit / (1024 * 1024))
            }
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental decoder: `feed` bytes as they arrive, then `finish` at end of stream.
#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a line end without finding one.
    scanned: usize,
    data: String,
    has_data: bool,
    json: String,
    json_depth: JsonDepth,
    bom_checked: bool,
    max_event_bytes: usize,
    failed: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    pub fn with_limit(max_event_bytes: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            scanned: 0,
            data: String::new(),
            has_data: false,
            json: String::new(),
            json_depth: JsonDepth::default(),
            bom_checked: false,
            max_event_bytes,
            failed: false,
        }
    }

    /// Decodes what `bytes` completes, appending items to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if self.failed {
            return Err(self.too_large());
        }
        self.buf.extend_from_slice(bytes);
        if !self.bom_checked {
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return Ok(());
            }
            self.strip_bom();
        }
        let result = self.drain_lines(false, out);
        self.fail_on_err(result)
    }

    /// Ends the stream: a last line without a line ending and a last event without its blank
    /// line are still delivered (a truncated stream is judged by the caller, not here).
    pub fn finish(&mut self, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if self.failed {
            return Err(self.too_large());
        }
        if !self.bom_checked {
            self.strip_bom();
        }
        let result = self.drain_lines(true, out);
        self.fail_on_err(result)?;
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.scanned = 0;
            let result = self.line(&rest, out);
            self.fail_on_err(result)?;
        }
        self.dispatch(out);
        if !self.json.trim().is_empty() {
            out.push(SseItem::Json(std::mem::take(&mut self.json)));
        }
        self.json.clear();
        self.json_depth = JsonDepth::default();
        Ok(())
    }

    /// Removes a byte-order mark at the very start of the stream (and only there).
    fn strip_bom(&mut self) {
        self.bom_checked = true;
        if self.buf.starts_with(BOM) {
            self.buf.drain(..BOM.len());
            self.scanned = 0;
        }
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge { limit: self.max_event_bytes }
    }

    fn fail_on_err(&mut self, result: Result<(), SseError>) -> Result<(), SseError> {
        if result.is_err() {
            self.failed = true;
            self.buf = Vec::new();
            self.data = String::new();
            self.json = String::new();
        }
        result
    }

    fn drain_lines(&mut self, at_eof: bool, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let buf = std::mem::take(&mut self.buf);
        let mut start = 0;
        let mut from = start + self.scanned;
        let outcome = loop {
            let Some(offset) = memchr::memchr2(b'\n', b'\r', &buf[from..]) else {
                // Remember how far we looked, so a long line is scanned once, not once per feed.
                from = buf.len();
                break Ok(());
            };
            let end = from + offset;
            let next = if buf[end] == b'\n' {
                end + 1
            } else if end + 1 < buf.len() {
                if buf[end + 1] == b'\n' { end + 2 } else { end + 1 }
            } else if at_eof {
                end + 1
            } else {
                // A `\r` at the end of what we have may be the first half of `\r\n`.
                from = end;
                break Ok(());
            };
            if let Err(e) = self.line(&buf[start..end], out) {
                break Err(e);
            }
            start = next;
            from = next;
        };
        self.buf = buf;
        self.buf.drain(..start);
        self.scanned = from - start;
        outcome?;
        if self.buf.len() > self.max_event_bytes {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        // Checked as `str` first: `from_utf8_lossy` looks at each byte alone, and a line is
        // almost always valid (a fifth of replaying a stream went to it, benches/sse).
        let line = match std::str::from_utf8(raw) {
            Ok(line) => std::borrow::Cow::Borrowed(line),
            Err(_) => String::from_utf8_lossy(raw),
        };
        if !self.json.is_empty() {
            return self.json_line(&line, out);
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        if let Some(value) = field_value(&line, "data") {
            if self.data.len() + value.len() + 1 > self.max_event_bytes {
                return Err(self.too_large());
            }
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
            return Ok(());
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return self.json_line(&line, out);
        }
        // `event:`, `id:`, `retry:` and unknown fields carry nothing for us.
        Ok(())
    }

    fn json_line(&mut self, line: &str, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if self.json.len() + line.len() + 1 > self.max_event_bytes {
            return Err(self.too_large());
        }
        self.json.push_str(line);
        self.json.push('\n');
        self.json_depth.scan(line);
        if self.json_depth.is_closed() {
            out.push(SseItem::Json(std::mem::take(&mut self.json)));
            self.json_depth = JsonDepth::default();
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        if self.has_data {
            out.push(SseItem::Data(std::mem::take(&mut self.data)));
            self.has_data = false;
        }
    }
}

/// The value of field `name` on an SSE line (`name:value`, `name: value`, or bare `name`).
fn field_value<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some("");
    }
    let value = rest.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

/// Tracks bracket depth of JSON text outside strings, to find where a bare object ends.
#[derive(Debug, Default, Clone)]
struct JsonDepth {
    depth: i64,
    opened: bool,
    in_string: bool,
    escaped: bool,
}

impl JsonDepth {
    fn scan(&mut self, text: &str) {
        for b in text.bytes() {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.opened = true;
                }
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.opened && self.depth <= 0
    }
}

/// Decodes a whole byte string at once (tests, benchmarks, replay).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<SseItem>, SseError> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out)?;
    decoder.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> SseItem {
        SseItem::Data(s.to_owned())
    }

    fn split_every_byte(bytes: &[u8]) -> Vec<SseItem> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for b in bytes {
            d.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn crlf_lf_and_cr_delimiters_give_the_same_events() {
        for sep in ["\n", "\r\n", "\r"] {
            let text = format!("data: {{\"a\":1}}{sep}{sep}data:{{\"b\":2}}{sep}{sep}");
            assert_eq!(decode_all(text.as_bytes()).unwrap(), [data("{\"a\":1}"), data("{\"b\":2}")], "{sep:?}");
            assert_eq!(split_every_byte(text.as_bytes()), [data("{\"a\":1}"), data("{\"b\":2}")]);
        }
    }

    #[test]
    fn several_data_lines_join_with_newline_and_comments_are_ignored() {
        let text = ": keep-alive\nevent: message\nid: 7\ndata: one\ndata\ndata:  two\n\n";
        assert_eq!(decode_all(text.as_bytes()).unwrap(), [data("one\n\n two")]);
    }

    #[test]
    fn a_last_event_without_blank_line_is_still_delivered() {
        assert_eq!(decode_all(b"data: {\"x\":1}").unwrap(), [data("{\"x\":1}")]);
        assert_eq!(decode_all(b"data: {\"x\":1}\r").unwrap(), [data("{\"x\":1}")]);
    }

    #[test]
    fn a_bare_pretty_printed_error_object_is_one_json_item() {
        let body = "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"over {loaded}\"\n  }\n}\n";
        let items = decode_all(body.as_bytes()).unwrap();
        assert_eq!(items.len(), 1);
        let SseItem::Json(json) = &items[0] else { panic!("{items:?}") };
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["error"]["code"], 503);
        assert_eq!(split_every_byte(body.as_bytes()), items);
    }

    #[test]
    fn a_bom_is_skipped_even_when_split() {
        let text = b"\xEF\xBB\xBFdata: a\n\n";
        assert_eq!(split_every_byte(text), [data("a")]);
    }

    #[test]
    fn utf8_split_between_feeds_survives() {
        let text = "data: {\"t\":\"héllo 世界 🦀\"}\r\n\r\n";
        assert_eq!(split_every_byte(text.as_bytes()), [data("{\"t\":\"héllo 世界 🦀\"}")]);
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters_and_the_rest_stays() {
        let text = b"data: {\"t\":\"ok \xff\xfe caf\xc3\xa9\"}\n\n";
        assert_eq!(decode_all(text).unwrap(), [data("{\"t\":\"ok \u{FFFD}\u{FFFD} caf\u{e9}\"}")]);
    }

    #[test]
    fn an_endless_line_is_an_error_with_bounded_memory() {
        let mut d = SseDecoder::with_limit(1024);
        let mut out = Vec::new();
        let chunk = [b'x'; 100];
        let mut failed = false;
        for _ in 0..100 {
            if d.feed(&chunk, &mut out).is_err() {
                failed = true;
                break;
            }
            assert!(d.buf.len() <= 1024 + 100);
        }
        assert!(failed);
        assert_eq!(d.feed(b"\n\n", &mut out), Err(SseError::EventTooLarge { limit: 1024 }));
    }

    #[test]
    fn many_data_lines_cannot_exceed_the_limit() {
        let mut d = SseDecoder::with_limit(64);
        let mut out = Vec::new();
        let r = (0..20).try_for_each(|_| d.feed(b"data: 0123456789\n", &mut out));
        assert!(r.is_err());
    }
}
