//! Search: what the user types, parsed into an FTS5 expression that is always valid, then run
//! over message texts and conversation titles (and the names of the tools a conversation
//! called, `tool_calls.rs`); each conversation is one hit, by its best match.
//! Nothing typed reaches FTS5 unquoted. Punctuation inside a term (`c++`), which the index does
//! not hold, is checked on the candidates' texts.
//!
//! The query language is described on [`Store::search`] and parsed in `query.rs`.

use std::collections::HashSet;
use std::io::Read;

use rusqlite::{MAIN_DB, OptionalExtension, params};

use super::query::{Parsed, Pattern, parse, words};
use super::rank::{self, Bm25, Index, RANK_SCAN_BYTES};
use super::{Store, StoreError};
use crate::domain::Role;

/// How many of the most recent matching messages a search ranks. Ranking every match of a
/// common word over years of history would cost more than a keystroke allows, and recent
/// conversations are the likelier target.
pub(crate) const SEARCH_WINDOW: i64 = 2000;

/// How many words at most a prefix is replaced by (see `expanded`).
const EXPANDED_WORDS: usize = 16;

/// How many candidates at most a search with terms to hold as typed (`c++`) reads the text of,
/// newest first: their punctuation is not in the index, so each candidate's text is checked.
pub(crate) const LITERAL_CHECKS: i64 = 20_000;

/// How many ids the newest span of a search for a phrase of several words covers (see
/// `message_window`); each older span at most twice the one before, fewer where the matches
/// found so far say fewer will fill the window.
const PHRASE_SPAN_ROWS: i64 = 8_192;

/// How many characters of each message (from its start) the search index holds: words beyond
/// are not found. Ranking walks every occurrence of a matching word, so a pasted 10 MB log
/// would make each search that matches it slow; this bounds what any one message costs. The
/// number is written into the index's triggers (schema migration 7).
pub const INDEXED_CHARS: usize = 1_048_576;

/// The most bytes [`INDEXED_CHARS`] characters take in UTF-8.
const INDEXED_BYTES_MAX: usize = 4 * INDEXED_CHARS;

/// How much of a message's text (from its start) is read to find the passage shown for a hit.
/// A snippet costs at most this much, whatever the message's size: FTS5's own `snippet()`
/// reads and tokenizes the whole text, which takes seconds for a megabyte and minutes for a
/// pasted 10 MB log. A match further in shows the message's start.
pub(crate) const SNIPPET_SCAN_BYTES: usize = 256 * 1024;

/// Words in a snippet, and how many of them come before the first match.
const SNIPPET_WORDS: usize = 16;
const SNIPPET_WORDS_BEFORE: usize = 4;
/// Characters kept after the last word at the end of a text.
const SNIPPET_TAIL_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub conversation_id: i64,
    pub title: String,
    pub matched_in: MatchedIn,
    /// The matching passage (or the whole title); matches are wrapped in
    /// [`SearchHit::MARK_START`] / [`SearchHit::MARK_END`].
    pub snippet: String,
    pub updated_at: i64,
}

/// Where a hit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedIn {
    Title,
    Message { id: i64, role: Role },
}

impl SearchHit {
    /// Private-use characters: they survive sanitizing and never occur in real text.
    pub const MARK_START: char = '\u{E000}';
    pub const MARK_END: char = '\u{E001}';
}

/// `text` whole, every highlighted word wrapped in the hit markers (for short texts: titles).
pub(crate) fn highlighted(text: &str, highlights: &[Pattern]) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut at = 0;
    for (offset, word) in words(text) {
        if highlights.iter().any(|p| p.matches(word)) {
            out.push_str(&text[at..offset]);
            out.push(SearchHit::MARK_START);
            out.push_str(word);
            out.push(SearchHit::MARK_END);
            at = offset + word.len();
        }
    }
    out.push_str(&text[at..]);
    out
}

/// The passage shown for a hit: about [`SNIPPET_WORDS`] words from `text` starting a little
/// before the first highlighted word, each highlight wrapped in the hit markers, with `…`
/// where text was left out (`more` says whether `text` is only the start of the message).
/// Without a highlight in `text`, its first words.
pub(crate) fn snippet(text: &str, highlights: &[Pattern], more: bool) -> String {
    let is_match = |w: &str| highlights.iter().any(|p| p.matches(w));
    let mut first_words: Vec<(usize, &str)> = Vec::with_capacity(SNIPPET_WORDS);
    let mut before: std::collections::VecDeque<(usize, &str)> = std::collections::VecDeque::new();
    let mut window: Vec<(usize, &str)> = Vec::new();
    let mut seen = 0usize;
    let mut rest = false;
    for (offset, word) in words(text) {
        if !window.is_empty() {
            if window.len() == SNIPPET_WORDS {
                rest = true;
                break;
            }
            window.push((offset, word));
            continue;
        }
        seen += 1;
        if first_words.len() < SNIPPET_WORDS {
            first_words.push((offset, word));
        }
        if is_match(word) {
            window.extend(before.drain(..));
            window.push((offset, word));
            continue;
        }
        if before.len() == SNIPPET_WORDS_BEFORE {
            before.pop_front();
        }
        before.push_back((offset, word));
    }
    if window.is_empty() {
        rest = seen > first_words.len();
        window = first_words;
    }
    let (Some(&(start, _)), Some(&(last, last_word))) = (window.first(), window.last()) else {
        return String::new();
    };
    let mut out = String::new();
    if text[..start].chars().any(char::is_alphanumeric) {
        out.push('…');
    }
    let mut at = start;
    for (offset, word) in window {
        out.push_str(&text[at..offset]);
        if is_match(word) {
            out.push(SearchHit::MARK_START);
            out.push_str(word);
            out.push(SearchHit::MARK_END);
        } else {
            out.push_str(word);
        }
        at = offset + word.len();
    }
    debug_assert_eq!(at, last + last_word.len());
    if !rest {
        // The text's end: keep its closing punctuation (within reason).
        out.extend(text[at..].chars().take(SNIPPET_TAIL_CHARS));
    }
    if rest || more {
        out.push('…');
    }
    out
}

impl Store {
    /// Searches message texts and conversation titles: one hit per conversation, its best
    /// match. Any text is a valid query: one with nothing to search for finds nothing.
    /// Conversations whose title matches come first (best first) but take at most half of
    /// `limit` when messages of others match too; then the conversations of the best messages
    /// among the 2,000 most recent that match, each shown by its best message.
    ///
    /// The query language, as a user expects it:
    /// - Terms are separated by spaces; every term must match (implicit AND).
    /// - A plain word matches as a word prefix and with simple inflections: `migr` finds
    ///   "migrate", `bird` finds "birds", `migrating` finds "migration" (an English Snowball stem of
    ///   the word, matched as a prefix). A single letter or digit matches only that whole word.
    /// - `word*` is an explicit prefix (even of one letter), without stemming.
    /// - `"..."` is an exact phrase; an unclosed quote runs to the end; `"..."*` makes its last
    ///   word a prefix.
    /// - Upper-case `AND`, `OR`, `NOT` between two terms are operators; anywhere else (leading,
    ///   trailing, the first of two in a row) they are words, as are lower-case and/or/not. `OR`
    ///   binds tighter than AND and NOT: `birds OR bees NOT wasps` is (birds or bees) without wasps.
    /// - Everything else is literal: `c++`, `TCP/UDP`, `3.5`, `&str`, `use-after-free`, `don't`,
    ///   parentheses, `:`, `^`, `-`, `+`, `NEAR`, `text:foo`. Punctuation before or after a term
    ///   is dropped (`migrate?`, `(see`), except a closing `+` or `#` (`c++`, `c#`); punctuation
    ///   inside it is part of it: `c++` finds "C++" but not a bare "c", `TCP/UDP` not "TCP UDP",
    ///   `3.5` not "3,5". Its last word is a prefix when it has two characters or more.
    /// - A term with no letter or digit is ignored; a query with no term finds nothing. Only the
    ///   first 32 terms count.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let Some(parsed) = parse(query) else {
            return Ok(Vec::new());
        };
        let found = (|| -> rusqlite::Result<Vec<SearchHit>> {
            let titles = self.title_hits(&parsed, limit)?;
            let with_title: HashSet<i64> = titles.iter().map(|h| h.conversation_id).collect();
            // Enough conversations matched by a message that those with a matching title can
            // be left out and `limit` still be reached.
            let messages = self.message_hits(&parsed, limit + titles.len())?;
            let others = messages.iter().filter(|h| !with_title.contains(&h.conversation_id)).count();
            let titles_kept = titles.len().min(limit - others.min(limit / 2));
            let mut hits: Vec<SearchHit> = titles.into_iter().take(titles_kept).collect();
            // One row per conversation: its title when that matched, else its best message.
            let shown: HashSet<i64> = hits.iter().map(|h| h.conversation_id).collect();
            hits.extend(messages.into_iter().filter(|h| !shown.contains(&h.conversation_id)).take(limit - titles_kept));
            // Then conversations that called a tool of that name.
            if hits.len() < limit {
                let shown: HashSet<i64> = hits.iter().map(|h| h.conversation_id).collect();
                hits.extend(self.tool_hits(query, limit - hits.len(), &shown)?);
            }
            Ok(hits)
        })();
        // The expression is valid by construction; should FTS5 still reject it (a limit we
        // do not know of), say so as a bad query rather than a database failure.
        found.map_err(|e| match (&e, e.sqlite_error_code()) {
            (rusqlite::Error::SqliteFailure(_, msg), Some(rusqlite::ErrorCode::Unknown)) => StoreError::BadQuery {
                query: crate::sanitize::one_line(query, 60),
                reason: crate::sanitize::one_line(msg.as_deref().unwrap_or("syntax error"), 80),
            },
            _ => self.err(e),
        })
    }

    /// Conversations whose title matches, best first (one row each): ranked among the
    /// [`SEARCH_WINDOW`] most recent matching titles.
    fn title_hits(&self, parsed: &Parsed, limit: usize) -> rusqlite::Result<Vec<SearchHit>> {
        let mut window = self.conn.prepare_cached(
            "SELECT c.id, c.title, c.updated_at
             FROM (SELECT rowid AS id FROM titles_fts WHERE titles_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2) w
             JOIN conversations c ON c.id = w.id ORDER BY c.id DESC",
        )?;
        let bm25 = Bm25::new(&self.conn, Index::Titles, &parsed.phrases)?;
        let rows = window.query_map(params![parsed.expr, SEARCH_WINDOW], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })?;
        let mut ranked: Vec<(f64, i64, String, i64)> = Vec::new();
        for row in rows {
            let (conversation_id, title, updated_at) = row?;
            // Titles are short: terms to hold as typed are checked on every title of the window.
            if parsed.literals.iter().all(|l| l.found_in(&title)) {
                ranked.push((bm25.score(&title, title.len()), conversation_id, title, updated_at));
            }
        }
        // Best first; equally good ones most recently updated first.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.3.cmp(&a.3)));
        // Highlighting happens here, for the titles kept.
        Ok(ranked
            .into_iter()
            .take(limit)
            .map(|(_, conversation_id, title, updated_at)| SearchHit {
                conversation_id,
                snippet: highlighted(&title, &parsed.highlights),
                title,
                matched_in: MatchedIn::Title,
                updated_at,
            })
            .collect())
    }

    /// The best matching message of each conversation, best first, for up to `limit`
    /// conversations: ranked among the [`SEARCH_WINDOW`] most recent matching messages.
    fn message_hits(&self, parsed: &Parsed, limit: usize) -> rusqlite::Result<Vec<SearchHit>> {
        let window = self.message_window(parsed)?;
        // The columns read here all come before `text` in the row, so a huge message costs no
        // more than a small one; its text is then read only as far as a snippet needs.
        let mut about = self.conn.prepare_cached(
            "SELECT m.conversation_id, c.title, m.role, c.updated_at
             FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?1",
        )?;
        let mut seen = HashSet::new();
        let mut hits = Vec::with_capacity(limit.min(window.len()));
        for id in window {
            if hits.len() == limit {
                break;
            }
            let Some((conversation_id, title, role, updated_at)) =
                about.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()?
            else {
                continue;
            };
            if !seen.insert(conversation_id) {
                continue;
            }
            let (start, more) = self.text_start(id, SNIPPET_SCAN_BYTES)?;
            hits.push(SearchHit {
                conversation_id,
                title,
                matched_in: MatchedIn::Message { id, role },
                snippet: snippet(&start, &parsed.highlights, more),
                updated_at,
            });
        }
        Ok(hits)
    }

    /// The ids of the most recent matching messages (at most [`SEARCH_WINDOW`]), best first
    /// (equally good ones newest first). Terms to hold as typed are checked on each candidate's
    /// indexed text, newest first, until the window is full or [`LITERAL_CHECKS`] candidates
    /// were read.
    fn message_window(&self, parsed: &Parsed) -> rusqlite::Result<Vec<i64>> {
        let expr = self.expanded(parsed)?;
        if parsed.literals.is_empty() && !rank::from_texts_is_cheaper(&self.conn, &parsed.phrases)? {
            // FTS5 ranks as it finds: its bm25() reads the doclists of the query's words once
            // more, which costs less than reading the texts of matches spread over the history.
            let mut best = self.conn.prepare_cached(
                "SELECT id FROM (SELECT rowid AS id, rank FROM messages_fts WHERE messages_fts MATCH ?1
                                 ORDER BY rowid DESC LIMIT ?2)
                 ORDER BY rank",
            )?;
            return best.query_map(params![expr, SEARCH_WINDOW], |r| r.get(0))?.collect();
        }
        let bm25 = Bm25::new(&self.conn, Index::Messages, &parsed.phrases)?;
        // Candidates newest first (FTS5 walks its doclists backwards and stops at the limit;
        // SQLite looks the rows up in that order, without sorting texts), each with its text
        // when that is short; SQLite passes over those without the first literal term's
        // punctuation before Rust folds any. For a phrase of several words, whose matches are
        // few, FTS5 reads the whole doclist of each of its words to find 2,000 of them, and
        // walking a doclist backwards costs more than forwards (each page's row offsets are
        // found first): the history is then searched in spans of ids instead, newest first,
        // each read forwards ([`PHRASE_SPAN_ROWS`], growing), which finds the same candidates
        // in the same order.
        let spans = parsed.literals.is_empty() && parsed.phrases.iter().any(|p| p.words.len() > 1);
        let mut candidates = self.conn.prepare_cached(if spans {
            "SELECT m.id, CASE WHEN octet_length(m.text) <= ?4 THEN m.text END, octet_length(m.text)
             FROM messages m
             WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid > ?2 AND rowid <= ?5)
               AND (?3 = '' OR instr(m.text, ?3) > 0)
             ORDER BY m.id DESC"
        } else {
            "SELECT m.id, CASE WHEN octet_length(m.text) <= ?4 THEN m.text END, octet_length(m.text)
             FROM messages m
             WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)
               AND (?3 = '' OR instr(m.text, ?3) > 0)
             ORDER BY m.id DESC"
        })?;
        let (asked, punctuation) = match parsed.literals.first() {
            None => (SEARCH_WINDOW, String::new()),
            Some(first) => (LITERAL_CHECKS, first.punctuation()),
        };
        let mut span = PHRASE_SPAN_ROWS;
        let mut above: i64 = if spans {
            self.conn.query_row("SELECT coalesce(max(rowid), 0) FROM messages", [], |r| r.get(0))?
        } else {
            0
        };
        let mut ranked: Vec<(f64, i64)> = Vec::new();
        'spans: loop {
            let ranked_before = ranked.len() as i64;
            let mut rows = if spans {
                candidates.query(params![expr, above - span, punctuation, RANK_SCAN_BYTES as i64, above])?
            } else {
                candidates.query(params![expr, asked, punctuation, RANK_SCAN_BYTES as i64])?
            };
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let bytes = row.get::<_, i64>(2)?.max(0) as usize;
                let start = match row.get_ref(1)? {
                    rusqlite::types::ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned(),
                    // A long text: only its start is read.
                    _ => self.text_start(id, RANK_SCAN_BYTES)?.0,
                };
                if !parsed.literals.is_empty() {
                    let text =
                        if bytes > start.len() { self.text_start(id, INDEXED_BYTES_MAX)?.0 } else { start.clone() };
                    let indexed: &str = match text.char_indices().nth(INDEXED_CHARS) {
                        Some((end, _)) => &text[..end],
                        None => &text,
                    };
                    if !parsed.literals.iter().all(|l| l.found_in(indexed)) {
                        continue;
                    }
                }
                ranked.push((bm25.score(&start, bytes), id));
                if ranked.len() as i64 == SEARCH_WINDOW {
                    break 'spans;
                }
            }
            if !spans || above - span <= 0 {
                break;
            }
            above -= span;
            // The next span: as many ids as this one's matches say the rest of the window
            // needs (a quarter more), between the first span's size and twice this one.
            let found = ranked.len() as i64 - ranked_before;
            let missing = SEARCH_WINDOW - ranked.len() as i64;
            let wanted = if found == 0 { i64::MAX } else { span.saturating_mul(missing) / found / 4 * 5 };
            span = wanted.clamp(PHRASE_SPAN_ROWS, span.saturating_mul(2));
        }
        // Best first; equally good ones newest first, as they came (the sort is stable).
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(ranked.into_iter().map(|(_, id)| id).collect())
    }

    /// The expression for the messages' index, each prefix of four characters or more replaced
    /// by the words of the index it starts, when there are few. The index keeps the prefixes of
    /// two and three characters only: for a longer one, FTS5 merges the doclists of every word
    /// it starts, whole, before the first row (160,000 entries for `rust` in a million
    /// messages), where words joined by OR are read newest first and only as far as needed.
    /// Finding the words reads the doclists of those other than the prefix itself (the rarer
    /// inflections, mostly). Where the list cannot be read (a read-only database), the prefix.
    fn expanded(&self, parsed: &Parsed) -> rusqlite::Result<String> {
        let mut expr = parsed.expr.clone();
        let prefixes: Vec<(&str, &str)> =
            parsed.phrases.iter().filter_map(|p| Some((p.fts.as_str(), p.long_prefix()?))).collect();
        if prefixes.is_empty()
            || self
                .conn
                .execute_batch(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.messages_terms USING fts5vocab(main, 'messages_fts', 'row')",
                )
                .is_err()
        {
            return Ok(expr);
        }
        let mut terms = self
            .conn
            .prepare_cached("SELECT term FROM temp.messages_terms WHERE term >= ?1 AND term <= ?2 LIMIT ?3")?;
        for (fts, prefix) in prefixes {
            // Words that start with the prefix and go on (every character of a word sorts above
            // U+0001 and below U+10FFFF), then the prefix as a word of its own.
            let longer: Vec<String> = terms
                .query_map(
                    params![format!("{prefix}\u{1}"), format!("{prefix}\u{10FFFF}"), EXPANDED_WORDS as i64 + 1],
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            if longer.len() > EXPANDED_WORDS {
                continue;
            }
            let words: Vec<String> = std::iter::once(prefix.to_owned())
                .chain(longer)
                .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                .collect();
            expr = expr.replace(fts, &format!("({})", words.join(" OR ")));
        }
        Ok(expr)
    }

    /// The first `max` bytes of message `id`'s text (cut back to a whole character), read
    /// incrementally so the rest of a long text is never loaded, and whether there is more.
    fn text_start(&self, id: i64, max: usize) -> rusqlite::Result<(String, bool)> {
        let blob = self.conn.blob_open(MAIN_DB, c"messages", c"text", id, true)?;
        let len = blob.len();
        let mut bytes = Vec::with_capacity(len.min(max));
        blob.take(max as u64).read_to_end(&mut bytes).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(format!("reading a message failed: {e}")),
            )
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                bytes.truncate(valid);
                String::from_utf8(bytes).unwrap_or_default()
            }
        };
        Ok((text, len > max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snip(query: &str, text: &str) -> String {
        let marked = snippet(text, &parse(query).unwrap().highlights, false);
        marked.replace(SearchHit::MARK_START, "[").replace(SearchHit::MARK_END, "]")
    }

    #[test]
    fn a_snippet_highlights_what_the_query_matches_as_the_index_does() {
        assert_eq!(
            snip("migrating birds", "Birds migrate; the migration of birds."),
            "[Birds] [migrate]; the [migration] of [birds]."
        );
        assert_eq!(snip("cafe", "Un café, CAFÉ et cafés."), "Un [café], [CAFÉ] et [cafés].");
        assert_eq!(snip(r#""arctic tern""#, "An arctic tern, arctics."), "An [arctic] [tern], arctics.");
        assert_eq!(snip("use-after-free", "a use after freedom"), "a [use] [after] [freedom]");
        assert_eq!(snip("a", "a b ab"), "[a] b ab", "one letter is a whole word");
        assert_eq!(snip("birds NOT wasps", "birds and wasps"), "[birds] and wasps", "excluded terms are not marked");
    }

    #[test]
    fn a_title_is_shown_whole_with_every_match_marked() {
        let marked = highlighted("Why birds migrate, and birding", &parse("bird").unwrap().highlights);
        let shown = marked.replace(SearchHit::MARK_START, "[").replace(SearchHit::MARK_END, "]");
        assert_eq!(shown, "Why [birds] migrate, and [birding]");
        assert_eq!(highlighted("no match", &parse("x").unwrap().highlights), "no match");
    }

    #[test]
    fn a_snippet_is_a_window_around_the_first_match() {
        let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let mut text = words.join(" ");
        text.push_str(" target");
        text.push_str(&format!(" {}", words.join(" ")));
        let s = snip("target", &text);
        assert_eq!(s, "…w96 w97 w98 w99 [target] w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10…");
        assert_eq!(snip("target", "target at the start"), "[target] at the start");
        assert_eq!(snip("nothing", "no match here"), "no match here", "without a match, the start");
        let many = words.join(" ");
        assert_eq!(snip("nothing", &many), format!("{}…", words[..16].join(" ")));
        assert_eq!(snippet("", &parse("x").unwrap().highlights, true), "");
        assert!(snippet("cut short", &parse("cut").unwrap().highlights, true).ends_with('…'), "more text follows");
    }
}
