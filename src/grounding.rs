//! An answer's sources (Google Search grounding, URL context): which pages it drew on and which
//! passages each supports. A leaf like `domain`: the wire turns Gemini's `groundingMetadata` into
//! a [`Grounding`], the store keeps it as JSON beside the answer, and front ends add the numbered
//! markers at display time ([`annotate`]), so the answer's text itself (stored, cached, sent back
//! as history) never holds them. Titles and links come from the network: sanitize before display.

use serde::{Deserialize, Serialize};

/// One page an answer drew on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub uri: String,
}

/// A passage of the answer and the sources that support it. `start..end` are UTF-8 byte offsets
/// into the answer text, as Gemini sends them (untrusted: they may be out of range or fall inside
/// a character); `text` is the passage as the server quoted it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    #[serde(default)]
    pub start: usize,
    #[serde(default)]
    pub end: usize,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Indices into [`Grounding::sources`] (0-based).
    #[serde(default)]
    pub sources: Vec<usize>,
}

/// A page URL context was asked to read, and whether it could be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlRead {
    pub url: String,
    /// Gemini's status with its prefix dropped and in lower case: "success", "error", "paywall", "unsafe"…
    pub status: String,
}

impl UrlRead {
    pub fn succeeded(&self) -> bool {
        self.status == "success"
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grounding {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<Citation>,
    /// What Google Search was asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
    /// The pages URL context read (or failed to).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<UrlRead>,
}

/// Private-use characters around a marker's number, for a renderer to style it (see
/// [`Marker::Delimited`]); the model's own text never keeps them (see [`annotate`]).
pub const MARK_OPEN: char = '\u{E002}';
pub const MARK_CLOSE: char = '\u{E003}';

/// How a marker is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `[1]`: plain text (a pipe, a file, an export).
    Plain,
    /// [`MARK_OPEN`] `1` [`MARK_CLOSE`]: for a renderer that shows it as a styled `[1]`.
    Delimited,
}

impl Grounding {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.urls.is_empty() && self.queries.is_empty()
    }

    /// Adds what a later chunk's metadata says: sources are the same source when their links
    /// are, and citations or queries already known are not repeated (a server may send the
    /// whole metadata again, or only what is new).
    pub fn merge(&mut self, other: Grounding) {
        let mut index_of = Vec::with_capacity(other.sources.len());
        for source in other.sources {
            let at = match self.sources.iter().position(|s| s.uri == source.uri && s.title == source.title) {
                Some(at) => at,
                None => {
                    self.sources.push(source);
                    self.sources.len() - 1
                }
            };
            index_of.push(at);
        }
        for mut citation in other.citations {
            citation.sources = citation.sources.iter().filter_map(|i| index_of.get(*i).copied()).collect();
            if !self.citations.contains(&citation) {
                self.citations.push(citation);
            }
        }
        for query in other.queries {
            if !self.queries.contains(&query) {
                self.queries.push(query);
            }
        }
        for url in other.urls {
            match self.urls.iter_mut().find(|u| u.url == url.url) {
                Some(known) => *known = url,
                None => self.urls.push(url),
            }
        }
    }

    /// As stored beside the answer (`None` when there is nothing to keep).
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// Read back from the store; unreadable JSON counts as none.
    pub fn from_stored(text: Option<&str>) -> Option<Grounding> {
        text.and_then(|t| serde_json::from_str::<Grounding>(t).ok()).filter(|g| !g.is_empty())
    }

    /// The sources and citations as JSON for exports and batch lines: sources numbered as the
    /// markers are, citations with byte offsets into the (unmarked) answer.
    pub fn to_json(&self) -> serde_json::Value {
        let sources: Vec<serde_json::Value> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| serde_json::json!({ "n": i + 1, "title": s.title, "uri": s.uri }))
            .collect();
        let citations: Vec<serde_json::Value> = self
            .citations
            .iter()
            .map(|c| {
                let numbers: Vec<usize> =
                    c.sources.iter().filter(|i| **i < self.sources.len()).map(|i| i + 1).collect();
                serde_json::json!({ "start": c.start, "end": c.end, "text": c.text, "sources": numbers })
            })
            .collect();
        let urls: Vec<serde_json::Value> =
            self.urls.iter().map(|u| serde_json::json!({ "url": u.url, "status": u.status })).collect();
        serde_json::json!({ "sources": sources, "citations": citations, "search_queries": self.queries, "urls_read": urls })
    }

    /// Adds the fields of [`Grounding::to_json`] to a JSON object (an export's message, a batch
    /// line); `None` adds `"sources": null`, so every answer has the field.
    pub fn add_json_fields(grounding: Option<&Grounding>, object: &mut serde_json::Value) {
        let Some(map) = object.as_object_mut() else { return };
        match grounding.map(Grounding::to_json) {
            Some(serde_json::Value::Object(fields)) => map.extend(fields),
            _ => {
                map.insert("sources".to_owned(), serde_json::Value::Null);
            }
        }
    }

    /// The sources as a Markdown list of links, numbered as the markers are (one line each; a
    /// title's brackets and a link's angle brackets escaped). Only an http(s) address becomes a
    /// link: any other (`javascript:`, `file:`, `data:`) is dropped, its source kept as text.
    pub fn markdown_sources(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.sources.iter().enumerate() {
            let web = is_web_link(&s.uri);
            let shown = if s.title.trim().is_empty() && web { &s.uri } else { &s.title };
            let escape = |t: &str| {
                let t = t.replace('\\', "\\\\").replace('[', "\\[").replace(']', "\\]");
                t.replace('<', "\\<").replace('`', "\\`").replace('*', "\\*").replace('_', "\\_")
            };
            let title = clean(shown, 200);
            if web {
                let title = title.replace('\\', "\\\\").replace('[', "\\[").replace(']', "\\]");
                let uri = clean(&s.uri, 2000).replace('<', "%3C").replace('>', "%3E").replace(' ', "%20");
                out.push_str(&format!("{}. [{title}](<{uri}>)\n", i + 1));
            } else if title.is_empty() {
                out.push_str(&format!("{}. (a source whose address is not a web link)\n", i + 1));
            } else {
                out.push_str(&format!("{}. {} (its address is not a web link)\n", i + 1, escape(&title)));
            }
        }
        out
    }
}

/// Where each citation's marker goes in `text`: the byte offset just after the passage it
/// supports (moved past punctuation that ends the passage's sentence, so "…sentence.[1]"), and
/// the source numbers (1-based) shown there. Offsets are checked: a passage whose offsets do
/// not hold its quoted text is looked for by that text; one out of range is put at the end;
/// one inside a character moves to the character's end. Never panics.
pub fn marker_positions(text: &str, grounding: &Grounding) -> Vec<(usize, Vec<usize>)> {
    let mut at: Vec<(usize, Vec<usize>)> = Vec::new();
    for citation in &grounding.citations {
        let mut numbers: Vec<usize> =
            citation.sources.iter().filter(|i| **i < grounding.sources.len()).map(|i| i + 1).collect();
        if numbers.is_empty() {
            continue;
        }
        numbers.sort_unstable();
        numbers.dedup();
        let end = passage_end(text, citation);
        let end = past_closing_punctuation(text, end);
        match at.iter_mut().find(|(pos, _)| *pos == end) {
            Some((_, known)) => {
                for n in numbers {
                    if !known.contains(&n) {
                        known.push(n);
                    }
                }
                known.sort_unstable();
            }
            None => at.push((end, numbers)),
        }
    }
    at.sort_by_key(|(pos, _)| *pos);
    at
}

fn passage_end(text: &str, citation: &Citation) -> usize {
    let (start, end) = (citation.start, citation.end);
    let quoted = citation.text.as_str();
    let offsets_hold = start <= end && text.get(start..end).is_some_and(|s| quoted.is_empty() || s == quoted);
    if offsets_hold {
        return end;
    }
    if !quoted.is_empty() {
        // The occurrence nearest to where the server said it was.
        if let Some(found) = text.match_indices(quoted).min_by_key(|(i, _)| i.abs_diff(start)).map(|(i, _)| i) {
            return found + quoted.len();
        }
    }
    let mut end = end.min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    end
}

fn past_closing_punctuation(text: &str, mut end: usize) -> usize {
    for c in text[end..].chars() {
        if matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '。' | '、' | '！' | '？') {
            end += c.len_utf8();
        } else {
            break;
        }
    }
    end
}

/// `text` with the citation markers in place. With [`Marker::Delimited`], any of the private-use
/// delimiters already in `text` become U+FFFD (the same length, so offsets still hold) and only
/// geminal's markers carry them.
pub fn annotate(text: &str, grounding: &Grounding, marker: Marker) -> String {
    let cleaned;
    let text = if marker == Marker::Delimited && text.contains([MARK_OPEN, MARK_CLOSE]) {
        cleaned = text.replace([MARK_OPEN, MARK_CLOSE], "\u{FFFD}");
        cleaned.as_str()
    } else {
        text
    };
    let positions = marker_positions(text, grounding);
    let mut out = String::with_capacity(text.len() + positions.len() * 4);
    let mut from = 0;
    for (pos, numbers) in positions {
        out.push_str(&text[from..pos]);
        for n in numbers {
            match marker {
                Marker::Plain => out.push_str(&format!("[{n}]")),
                Marker::Delimited => out.push_str(&format!("{MARK_OPEN}{n}{MARK_CLOSE}")),
            }
        }
        from = pos;
    }
    out.push_str(&text[from..]);
    out
}

/// Whether `uri` is an http or https address (the only links an export writes).
pub fn is_web_link(uri: &str) -> bool {
    let uri = uri.trim();
    uri.split_once(':').is_some_and(|(scheme, rest)| {
        (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) && rest.starts_with("//")
    })
}

/// A title or link made safe and short for one line of a terminal.
pub fn clean(text: &str, max: usize) -> String {
    crate::sanitize::one_line(text.trim(), max)
}

/// The lines below an answer, as plain text: "Sources:", "[1] Title — link" per source, what
/// was searched, and any page URL context could not read. Sanitized; empty when there is nothing.
pub fn source_lines(grounding: &Grounding) -> Vec<String> {
    let mut lines = Vec::new();
    if !grounding.sources.is_empty() {
        lines.push("Sources:".to_owned());
        for (i, s) in grounding.sources.iter().enumerate() {
            lines.push(source_line(i + 1, s));
        }
    }
    if !grounding.queries.is_empty() {
        let queries: Vec<String> = grounding.queries.iter().map(|q| format!("\"{}\"", clean(q, 80))).collect();
        lines.push(format!("Searched: {}", queries.join(", ")));
    }
    for url in grounding.urls.iter().filter(|u| !u.succeeded()) {
        lines.push(format!("Could not read {} ({})", clean(&url.url, 200), clean(&url.status, 30)));
    }
    lines
}

/// "[n] Title — link" (just the link when there is no title), sanitized.
pub fn source_line(n: usize, source: &Source) -> String {
    let (title, uri) = (clean(&source.title, 120), clean(&source.uri, 300));
    match (title.is_empty(), uri.is_empty()) {
        (false, false) => format!("[{n}] {title} — {uri}"),
        (true, _) => format!("[{n}] {uri}"),
        (false, true) => format!("[{n}] {title}"),
    }
}

/// The answer with its markers and the sources below it, as plain sanitized text (a pipe,
/// `history show`).
pub fn plain_answer(text: &str, grounding: Option<&Grounding>) -> String {
    let Some(g) = grounding else {
        return crate::sanitize::sanitize(text).into_owned();
    };
    let mut out = crate::sanitize::sanitize(&annotate(text, g, Marker::Plain)).into_owned();
    let lines = source_lines(g);
    if !lines.is_empty() {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&lines.join("\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grounding(citations: Vec<Citation>) -> Grounding {
        Grounding {
            sources: vec![
                Source { title: "one.org".into(), uri: "https://one.org/a".into() },
                Source { title: "two.org".into(), uri: "https://two.org/b".into() },
            ],
            citations,
            ..Grounding::default()
        }
    }

    fn cite(start: usize, end: usize, text: &str, sources: &[usize]) -> Citation {
        Citation { start, end, text: text.into(), sources: sources.to_vec() }
    }

    #[test]
    fn markers_go_after_the_passage_and_its_full_stop() {
        let text = "Birds fly south. They come back in spring.";
        let g =
            grounding(vec![cite(0, 15, "Birds fly south", &[0]), cite(17, 41, "They come back in spring", &[1, 0])]);
        assert_eq!(annotate(text, &g, Marker::Plain), "Birds fly south.[1] They come back in spring.[1][2]");
    }

    #[test]
    fn byte_offsets_in_multi_byte_text_land_after_the_right_character() {
        let text = "Zürich liegt am See. 東京は大きい。";
        let first = "Zürich liegt am See";
        let second = "東京は大きい";
        let start2 = text.find(second).unwrap();
        let g = grounding(vec![cite(0, first.len(), first, &[0]), cite(start2, start2 + second.len(), second, &[1])]);
        assert_eq!(annotate(text, &g, Marker::Plain), "Zürich liegt am See.[1] 東京は大きい。[2]");
    }

    #[test]
    fn bad_offsets_never_panic_and_the_answer_stays_whole() {
        let text = "Zürich 東京";
        for (start, end) in [(0, 2), (0, 999), (500, 999), (9, 3), (8, 9), (usize::MAX - 1, usize::MAX)] {
            let g = grounding(vec![cite(start, end, "", &[0, 7])]);
            let shown = annotate(text, &g, Marker::Plain);
            assert_eq!(shown.replace("[1]", ""), text, "({start}, {end}) -> {shown}");
            assert!(shown.contains("[1]") && !shown.contains("[8]"), "unknown sources are dropped: {shown}");
        }
        // Offsets that miss their quoted passage are found by its text instead.
        let g = grounding(vec![cite(0, 3, "東京", &[1])]);
        assert_eq!(annotate(text, &g, Marker::Plain), "Zürich 東京[2]");
    }

    #[test]
    fn delimited_markers_are_the_only_private_delimiters_left() {
        let text = format!("a{MARK_OPEN}9{MARK_CLOSE} b");
        let g = grounding(vec![cite(0, 1, "a", &[0])]);
        let shown = annotate(&text, &g, Marker::Delimited);
        assert_eq!(shown, format!("a{MARK_OPEN}1{MARK_CLOSE}\u{FFFD}9\u{FFFD} b"));
    }

    #[test]
    fn merged_metadata_keeps_one_numbering() {
        let mut g = grounding(vec![cite(0, 1, "a", &[1])]);
        let again = Grounding {
            sources: vec![
                Source { title: "two.org".into(), uri: "https://two.org/b".into() },
                Source { title: "three".into(), uri: "https://three".into() },
            ],
            citations: vec![cite(0, 1, "a", &[0]), cite(2, 3, "b", &[1])],
            queries: vec!["q".into()],
            urls: Vec::new(),
        };
        g.merge(again);
        assert_eq!(g.sources.len(), 3);
        assert_eq!(g.citations, vec![cite(0, 1, "a", &[1]), cite(2, 3, "b", &[2])]);
        assert_eq!(Grounding::from_stored(g.to_stored().as_deref()), Some(g));
    }

    #[test]
    fn markdown_sources_are_links_whatever_the_title_or_link_holds() {
        let g = Grounding {
            sources: vec![
                Source { title: "a [b] c".into(), uri: "https://x.org/a b>".into() },
                Source { title: String::new(), uri: "https://y.org/]".into() },
            ],
            ..Grounding::default()
        };
        assert_eq!(
            g.markdown_sources(),
            "1. [a \\[b\\] c](<https://x.org/a%20b%3E>)\n2. [https://y.org/\\]](<https://y.org/]>)\n"
        );
    }

    #[test]
    fn markdown_sources_link_only_web_addresses() {
        let g = Grounding {
            sources: vec![
                Source { title: "click [me]".into(), uri: "javascript:alert(1)".into() },
                Source { title: String::new(), uri: " JavaScript:alert(document.cookie)".into() },
                Source { title: "local".into(), uri: "file:///etc/passwd".into() },
                Source { title: "data".into(), uri: "data:text/html,<script>x</script>".into() },
                Source { title: "ok".into(), uri: "HTTPS://example.org/a".into() },
            ],
            ..Grounding::default()
        };
        let md = g.markdown_sources();
        assert_eq!(
            md,
            "1. click \\[me\\] (its address is not a web link)\n2. (a source whose address is not a web link)\n\
             3. local (its address is not a web link)\n4. data (its address is not a web link)\n5. [ok](<HTTPS://example.org/a>)\n"
        );
        assert!(!md.to_lowercase().contains("javascript") && !md.contains("file:") && !md.contains("data:"));
    }

    #[test]
    fn source_lines_are_sanitized_one_liners() {
        let g = Grounding {
            sources: vec![Source {
                title: "evil\x1b]52;c;aGk=\x07\ntitle".into(),
                uri: "https://x.org/\x1b[2J".into(),
            }],
            queries: vec!["q1".into()],
            urls: vec![UrlRead { url: "https://gone".into(), status: "error".into() }],
            ..Grounding::default()
        };
        let lines = source_lines(&g);
        assert_eq!(lines[0], "Sources:");
        assert!(lines.iter().all(|l| !l.contains('\x1b') && !l.contains('\x07') && !l.contains('\n')), "{lines:?}");
        assert!(lines[1].starts_with("[1] evil") && lines[1].contains(" — https://x.org/"), "{lines:?}");
        assert_eq!(lines[2], "Searched: \"q1\"");
        assert_eq!(lines[3], "Could not read https://gone (error)");
    }
}
