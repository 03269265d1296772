//! Search: what the user types, parsed into an FTS5 expression that is always valid, then run
//! over message texts and conversation titles; each conversation is one hit, by its best match.
//! Nothing typed reaches FTS5 unquoted. Punctuation inside a term (`c++`), which the index does
//! not hold, is checked on the candidates' texts.
//!
//! The query language is described on [`Store::search`]. Inflections are handled on the query
//! side (a stem of the typed word, matched as a prefix) while the index keeps words as written:
//! a porter index would store "migrat" for "migration", and "migrati", typed on the way there,
//! would find nothing.

use std::collections::HashSet;
use std::io::Read;

use rusqlite::{MAIN_DB, OptionalExtension, params};
use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;

use super::{Store, StoreError};
use crate::domain::Role;

/// How many of the most recent matching messages a search ranks. Ranking every match of a
/// common word over years of history would cost more than a keystroke allows, and recent
/// conversations are the likelier target.
pub(crate) const SEARCH_WINDOW: i64 = 2000;

/// How many candidates at most a search with terms to hold as typed (`c++`) reads the text of,
/// newest first: their punctuation is not in the index, so each candidate's text is checked.
pub(crate) const LITERAL_CHECKS: i64 = 20_000;

/// Terms beyond this many are ignored (a pasted paragraph is not a query).
pub(crate) const MAX_TERMS: usize = 32;

/// How many characters of each message (from its start) the search index holds: words beyond
/// are not found. Ranking walks every occurrence of a matching word, so a pasted 10 MB log
/// would make each search that matches it slow; this bounds what any one message costs. The
/// number is written into the index's triggers (schema migration 7).
pub const INDEXED_CHARS: usize = 1_048_576;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    Not,
}

/// One piece of the typed query, before operators are told from words.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Text between spaces (never containing a quote).
    Bare(String),
    /// The text inside quotes, and whether a `*` followed the closing quote.
    Phrase(String, bool),
}

impl Item {
    fn operator(&self) -> Option<Op> {
        match self {
            Item::Bare(w) if w == "AND" => Some(Op::And),
            Item::Bare(w) if w == "OR" => Some(Op::Or),
            Item::Bare(w) if w == "NOT" => Some(Op::Not),
            _ => None,
        }
    }

    fn has_word_chars(&self) -> bool {
        match self {
            Item::Bare(t) | Item::Phrase(t, _) => t.chars().any(char::is_alphanumeric),
        }
    }
}

/// Splits at spaces (and control characters); a `"` starts a phrase wherever it stands.
fn lex(query: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut chars = query.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, items: &mut Vec<Item>| {
        if !word.is_empty() {
            items.push(Item::Bare(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        if c == '"' {
            flush(&mut word, &mut items);
            let mut phrase = String::new();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                phrase.push(if c.is_control() { ' ' } else { c });
            }
            let star = chars.next_if_eq(&'*').is_some();
            items.push(Item::Phrase(phrase, star));
        } else if c.is_whitespace() || c.is_control() {
            flush(&mut word, &mut items);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut items);
    items
}

/// A query ready to run: the FTS5 expression, the words a snippet highlights, and the terms
/// with punctuation inside (`c++`, `TCP/UDP`, `3.5`) that a text must hold as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub expr: String,
    pub highlights: Vec<Pattern>,
    pub literals: Vec<Literal>,
}

/// A term whose punctuation is part of it. The index splits text at punctuation (so `c++` is
/// the word "c" there, and `TCP/UDP` the words "tcp" "udp"): it finds the candidates, and a
/// candidate is kept only if its text holds the term itself, starting at a word's start, folded
/// as the index folds words, and ending at a word's end unless its last word is a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Literal {
    text: String,
    prefix: bool,
}

impl Literal {
    /// The term's first run of punctuation, which a text holding it holds as typed (punctuation
    /// has no case): most candidates of `c++` have a "c" but no "++". Empty for an apostrophe,
    /// which may be typographic in the text.
    fn punctuation(&self) -> String {
        let run: String =
            self.text.chars().skip_while(|c| c.is_alphanumeric()).take_while(|c| !c.is_alphanumeric()).collect();
        if run.contains('\'') { String::new() } else { run }
    }

    /// Whether `text` holds this term.
    pub(crate) fn found_in(&self, text: &str) -> bool {
        let folded = fold_for_literal(text);
        let mut from = 0;
        while let Some(at) = folded[from..].find(&self.text).map(|i| i + from) {
            let end = at + self.text.len();
            let starts_word = !folded[..at].chars().next_back().is_some_and(char::is_alphanumeric);
            let ends_word = self.prefix || !folded[end..].chars().next().is_some_and(char::is_alphanumeric);
            if starts_word && ends_word {
                return true;
            }
            from = at + folded[at..].chars().next().map_or(1, char::len_utf8);
        }
        false
    }
}

/// Lower case without diacritics (as [`fold`]), with typographic apostrophes made plain, so
/// `don't` finds "Don’t".
fn fold_for_literal(text: &str) -> String {
    let plain = |c: char| if matches!(c, '\u{2019}' | '\u{02BC}') { '\'' } else { c };
    if text.is_ascii() { text.to_ascii_lowercase() } else { fold(text).chars().map(plain).collect() }
}

/// The term as typed without what surrounds it: punctuation before its first letter or digit,
/// and after its last, except a closing run of `+` or `#` (`c++`, `c#`), which is part of it.
fn literal_core(text: &str) -> &str {
    let start = text.trim_start_matches(|c: char| !c.is_alphanumeric());
    let word_end = start.trim_end_matches(|c: char| !c.is_alphanumeric()).len();
    let tail = &start[word_end..];
    let kept = tail.len() - tail.trim_start_matches(['+', '#']).len();
    &start[..word_end + kept]
}

/// One word to highlight, folded as the index folds words (lower case, no diacritics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    word: String,
    prefix: bool,
}

impl Pattern {
    fn new(word: &str, prefix: bool) -> Pattern {
        Pattern { word: fold(word), prefix }
    }

    /// Whether `word` (one word of the text, as the tokenizer splits it) matches.
    fn matches(&self, word: &str) -> bool {
        if word.is_ascii() {
            let n = self.word.len();
            return if self.prefix {
                word.len() >= n && word.as_bytes()[..n].eq_ignore_ascii_case(self.word.as_bytes())
            } else {
                word.eq_ignore_ascii_case(&self.word)
            };
        }
        let folded = fold(word);
        if self.prefix { folded.starts_with(&self.word) } else { folded == self.word }
    }
}

/// Lower case without diacritics, like the index's `unicode61 remove_diacritics 2`.
fn fold(word: &str) -> String {
    word.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// The words of `text` as the index's tokenizer splits them: runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(move |w| {
        // `split` yields subslices of `text`: their offset is their distance from its start.
        (w.as_ptr() as usize - text.as_ptr() as usize, w)
    })
}

/// Patterns for every word of `text`: exact, but the last one a prefix when `last_prefix`.
fn word_patterns(text: &str, last_prefix: bool) -> Vec<Pattern> {
    let all: Vec<&str> = words(text).map(|(_, w)| w).collect();
    let last = all.len().saturating_sub(1);
    all.iter().enumerate().map(|(i, w)| Pattern::new(w, last_prefix && i == last)).collect()
}

/// The query to run for what the user typed, or `None` when it has no term to search for.
pub(crate) fn parse(query: &str) -> Option<Parsed> {
    let items: Vec<Item> = lex(query).into_iter().filter(Item::has_word_chars).collect();
    // Tell operators from words: an operator stands between two terms, and is not followed by
    // another operator word.
    let mut terms: Vec<(Op, String, Option<Literal>)> = Vec::new();
    let mut highlights: Vec<Pattern> = Vec::new();
    let mut pending: Option<Op> = None;
    let stemmer = Stemmer::create(Algorithm::English);
    for (i, item) in items.iter().enumerate() {
        let next_is_term = items.get(i + 1).is_some_and(|n| n.operator().is_none());
        if let Some(op) = item.operator()
            && pending.is_none()
            && !terms.is_empty()
            && next_is_term
        {
            pending = Some(op);
            continue;
        }
        if terms.len() == MAX_TERMS {
            break;
        }
        let op = pending.take().unwrap_or(Op::And);
        let (term, patterns) = render(item, &stemmer);
        if op != Op::Not {
            highlights.extend(patterns);
        }
        terms.push((op, term, literal(item)));
    }
    if terms.is_empty() {
        return None;
    }
    // OR binds tightest: runs joined by OR form groups; each group is required or excluded.
    let mut groups: Vec<(Op, Vec<String>, Vec<Option<Literal>>)> = Vec::new();
    for (op, term, literal) in terms {
        match (op, groups.last_mut()) {
            (Op::Or, Some((_, group, literals))) => {
                group.push(term);
                literals.push(literal);
            }
            _ => groups.push((op, vec![term], vec![literal])),
        }
    }
    // A required term on its own must hold its punctuation. (In an OR group, or excluded, the
    // index's words decide: which alternative matched is not known.)
    let literals: Vec<Literal> = groups
        .iter_mut()
        .filter(|(op, group, _)| *op != Op::Not && group.len() == 1)
        .filter_map(|(_, _, literals)| literals.pop().flatten())
        .collect();
    let group = |terms: &[String]| {
        if terms.len() == 1 { terms[0].clone() } else { format!("({})", terms.join(" OR ")) }
    };
    let required: Vec<String> = groups.iter().filter(|(op, ..)| *op != Op::Not).map(|(_, g, _)| group(g)).collect();
    let excluded: Vec<String> = groups.iter().filter(|(op, ..)| *op == Op::Not).map(|(_, g, _)| group(g)).collect();
    let mut expr = format!("({})", required.join(" AND "));
    if !excluded.is_empty() {
        expr.push_str(&format!(" NOT ({})", excluded.join(" OR ")));
    }
    Some(Parsed { expr, highlights, literals })
}

/// The term a text must hold as typed, for a bare term with punctuation inside it.
fn literal(item: &Item) -> Option<Literal> {
    let Item::Bare(text) = item else { return None };
    let explicit_prefix = text.ends_with('*');
    let core = literal_core(text);
    if core.chars().all(char::is_alphanumeric) {
        return None;
    }
    // As for the index's words: the last word is a prefix when starred, or when it has two
    // characters or more and nothing follows it (`TCP/UDP` finds "TCP/UDPv6", `3.5` not "3.55").
    let last_word = core.rsplit(|c: char| !c.is_alphanumeric()).next().unwrap_or_default();
    let prefix = explicit_prefix || (last_word.chars().count() >= 2 && core.ends_with(char::is_alphanumeric));
    Some(Literal { text: fold_for_literal(core), prefix })
}

/// An FTS5 string: inside double quotes nothing is syntax, and FTS5 splits it into words with
/// the same tokenizer as the indexed text.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The FTS5 term for one item, and the words it makes a snippet highlight.
fn render(item: &Item, stemmer: &Stemmer) -> (String, Vec<Pattern>) {
    match item {
        Item::Phrase(text, star) => {
            (format!("{}{}", quoted(text), if *star { "*" } else { "" }), word_patterns(text, *star))
        }
        Item::Bare(text) => {
            let explicit_prefix = text.ends_with('*');
            // Punctuation at either end separates nothing: the tokenizer would drop it.
            let core = text.trim_matches(|c: char| !c.is_alphanumeric());
            if explicit_prefix {
                return (format!("{}*", quoted(core)), word_patterns(core, true));
            }
            let last_word = core.rsplit(|c: char| !c.is_alphanumeric()).next().unwrap_or(core);
            if last_word.chars().count() < 2 {
                return (quoted(core), word_patterns(core, false));
            }
            if core.chars().count() >= 4 && core.chars().all(char::is_alphabetic) {
                let lower = core.to_lowercase();
                let stem = stemmer.stem(&lower);
                if stem.chars().count() >= 3 && stem != lower {
                    return if lower.starts_with(stem.as_ref()) {
                        (format!("{}*", quoted(&stem)), vec![Pattern::new(&stem, true)])
                    } else {
                        (
                            format!("({}* OR {}*)", quoted(&lower), quoted(&stem)),
                            vec![Pattern::new(&lower, true), Pattern::new(&stem, true)],
                        )
                    };
                }
            }
            (format!("{}*", quoted(core)), word_patterns(core, true))
        }
    }
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

    /// Conversations whose title matches, best first (one row each).
    fn title_hits(&self, parsed: &Parsed, limit: usize) -> rusqlite::Result<Vec<SearchHit>> {
        // Highlighting happens here, for the titles kept: FTS5's highlight() in the query ran
        // for every title of the window (2,000 for a two-letter prefix), a third of the search.
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, title, updated_at FROM (
                 SELECT c.id, c.title, c.updated_at, rank
                 FROM titles_fts JOIN conversations c ON c.id = titles_fts.rowid
                 WHERE titles_fts MATCH ?1 ORDER BY titles_fts.rowid DESC LIMIT ?3)
             ORDER BY rank, updated_at DESC LIMIT ?2",
        )?;
        // Titles are short: with terms to hold as typed, every title of the window is checked.
        let asked = if parsed.literals.is_empty() { limit as i64 } else { SEARCH_WINDOW };
        let rows = stmt.query_map(params![parsed.expr, asked, SEARCH_WINDOW], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })?;
        let mut hits = Vec::new();
        for row in rows {
            let (conversation_id, title, updated_at) = row?;
            if hits.len() == limit {
                break;
            }
            if parsed.literals.iter().all(|l| l.found_in(&title)) {
                hits.push(SearchHit {
                    conversation_id,
                    snippet: highlighted(&title, &parsed.highlights),
                    title,
                    matched_in: MatchedIn::Title,
                    updated_at,
                });
            }
        }
        Ok(hits)
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

    /// The ids of the most recent matching messages (at most [`SEARCH_WINDOW`]), best first.
    /// Terms to hold as typed are checked on each candidate's indexed text, newest first, until
    /// the window is full or [`LITERAL_CHECKS`] candidates were read.
    fn message_window(&self, parsed: &Parsed) -> rusqlite::Result<Vec<i64>> {
        if parsed.literals.is_empty() {
            let mut best = self.conn.prepare_cached(
                "SELECT id FROM (SELECT rowid AS id, rank FROM messages_fts WHERE messages_fts MATCH ?1
                                 ORDER BY rowid DESC LIMIT ?2)
                 ORDER BY rank",
            )?;
            return best.query_map(params![parsed.expr, SEARCH_WINDOW], |r| r.get(0))?.collect();
        }
        // Candidates without their rank (ranking is done only for those kept), newest first;
        // SQLite passes over those without the first term's punctuation before Rust folds any.
        let mut candidates = self.conn.prepare_cached(
            "SELECT m.id, m.text FROM
                 (SELECT rowid AS id FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2) w
                 JOIN messages m ON m.id = w.id
             WHERE instr(m.text, ?3) > 0 ORDER BY m.id DESC",
        )?;
        let punctuation = parsed.literals.first().map(Literal::punctuation).unwrap_or_default();
        let mut ids: Vec<i64> = Vec::new();
        let mut rows = candidates.query(params![parsed.expr, LITERAL_CHECKS, punctuation])?;
        while let Some(row) = rows.next()? {
            let text = match row.get_ref(1)? {
                rusqlite::types::ValueRef::Text(bytes) => String::from_utf8_lossy(bytes),
                _ => continue,
            };
            let indexed: &str = match text.char_indices().nth(INDEXED_CHARS) {
                Some((end, _)) => &text[..end],
                None => &text,
            };
            if parsed.literals.iter().all(|l| l.found_in(indexed)) {
                ids.push(row.get(0)?);
                if ids.len() as i64 == SEARCH_WINDOW {
                    break;
                }
            }
        }
        let mut rank =
            self.conn.prepare_cached("SELECT rank FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid = ?2")?;
        let mut kept: Vec<(i64, f64)> = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = rank.query_row(params![parsed.expr, id], |r| r.get(0)).optional()? {
                kept.push((id, r));
            }
        }
        // Best first; equally good ones newest first, as they came.
        kept.sort_by(|a, b| a.1.total_cmp(&b.1));
        Ok(kept.into_iter().map(|(id, _)| id).collect())
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

    fn q(text: &str) -> Option<String> {
        parse(text).map(|p| p.expr)
    }

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

    #[test]
    fn plain_words_are_stemmed_prefixes_joined_by_and() {
        assert_eq!(q("migr birds").as_deref(), Some(r#"("migr"* AND "bird"*)"#));
        assert_eq!(q("migrating").as_deref(), Some(r#"("migrat"*)"#));
        assert_eq!(q("Café").as_deref(), Some(r#"("Café"*)"#));
    }

    #[test]
    fn a_single_letter_is_a_whole_word_unless_starred() {
        assert_eq!(q("a x*").as_deref(), Some(r#"("a" AND "x"*)"#));
    }

    #[test]
    fn punctuation_is_literal_and_splits_like_the_index() {
        assert_eq!(q("c++").as_deref(), Some(r#"("c")"#));
        assert_eq!(q("use-after-free").as_deref(), Some(r#"("use-after-free"*)"#));
        assert_eq!(q("3.5 don't").as_deref(), Some(r#"("3.5" AND "don't")"#));
        assert_eq!(q("text:foo NEAR(a").as_deref(), Some(r#"("text:foo"* AND "NEAR(a")"#));
        assert_eq!(q("migrate?").as_deref(), Some(r#"("migrat"*)"#));
    }

    #[test]
    fn inner_punctuation_is_kept_and_outer_punctuation_dropped() {
        let lit = |t: &str| literal(&Item::Bare(t.to_owned())).map(|l| (l.text, l.prefix));
        assert_eq!(lit("c++"), Some(("c++".into(), false)));
        assert_eq!(lit("C#,"), Some(("c#".into(), false)));
        assert_eq!(lit("(TCP/UDP)?"), Some(("tcp/udp".into(), true)));
        assert_eq!(lit("3.5."), Some(("3.5".into(), false)), "the last word is one digit: whole");
        assert_eq!(lit("don’t"), Some(("don't".into(), false)));
        assert_eq!(lit("migrate?"), None, "no punctuation inside: the index decides");
        assert_eq!(lit("--force"), None);
        let found = |t: &str, text: &str| literal(&Item::Bare(t.to_owned())).unwrap().found_in(text);
        assert!(found("c++", "I write C++.") && !found("c++", "c and c") && !found("c++", "abc++"));
        assert!(found("3.5", "v3 is 3.5, not 3.55") && !found("3.5", "13.5 or 3.55"));
        assert!(found("tcp/ud", "TCP/UDP") && found("don't", "Don’t"));
    }

    #[test]
    fn phrases_are_exact_and_an_unclosed_quote_runs_to_the_end() {
        assert_eq!(q(r#""arctic tern" "bo"#).as_deref(), Some(r#"("arctic tern" AND "bo")"#));
        assert_eq!(q(r#""arctic te"*"#).as_deref(), Some(r#"("arctic te"*)"#));
        assert_eq!(q(r#"say"hi there"#).as_deref(), Some(r#"("say"* AND "hi there")"#));
    }

    #[test]
    fn only_upper_case_operators_between_two_terms_are_operators() {
        assert_eq!(q("birds OR bees NOT wasps").as_deref(), Some(r#"(("bird"* OR "bee"*)) NOT ("wasp"*)"#));
        assert_eq!(q("birds or bees").as_deref(), Some(r#"("bird"* AND "or"* AND "bee"*)"#));
        assert_eq!(q("NOT birds AND").as_deref(), Some(r#"("NOT"* AND "bird"* AND "AND"*)"#));
        assert_eq!(q("AND").as_deref(), Some(r#"("AND"*)"#), "alone, an operator is a word");
        assert_eq!(q("a OR OR b").as_deref(), Some(r#"("a" AND ("OR"* OR "b"))"#));
    }

    #[test]
    fn a_query_without_letters_or_digits_searches_nothing() {
        for nothing in ["", "   ", "*", "\"\"", "++ -- ()", "\" \"*", "\u{0}\u{7}"] {
            assert_eq!(q(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn terms_beyond_the_limit_are_ignored() {
        let many = (0..100).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        assert_eq!(q(&many).unwrap().matches(" AND ").count(), MAX_TERMS - 1);
    }
}
