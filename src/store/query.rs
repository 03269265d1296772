//! The query language of history search (described on `Store::search`): what the user types,
//! parsed into an FTS5 expression that is always valid, the words a snippet highlights, and the
//! terms whose inner punctuation a text must hold. Inflections are handled on the query side (a
//! stem of the typed word, matched as a prefix) while the index keeps words as written: a porter
//! index would store "migrat" for "migration", and "migrati", typed on the way there, would find
//! nothing.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;

/// Terms beyond this many are ignored (a pasted paragraph is not a query).
pub(crate) const MAX_TERMS: usize = 32;

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

/// A query ready to run: the FTS5 expression, the words a snippet highlights, the phrases a
/// match is ranked by, and the terms with punctuation inside (`c++`, `TCP/UDP`, `3.5`) that a
/// text must hold as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub expr: String,
    pub highlights: Vec<Pattern>,
    /// The FTS5 phrases of the expression that a match may hold (not the excluded ones), in order.
    pub phrases: Vec<Phrase>,
    pub literals: Vec<Literal>,
}

/// One FTS5 phrase of the expression: its FTS5 text (`"arctic tern"`, `"migrat"*`) and its
/// words in order, as patterns over the index's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Phrase {
    pub fts: String,
    pub words: Vec<Pattern>,
}

impl Phrase {
    fn new(fts: String, words: Vec<Pattern>) -> Phrase {
        Phrase { fts, words }
    }

    /// The word (as the index folds it) of a phrase that is one prefix of four characters or
    /// more (`"migrat"*`), which the index keeps no prefix doclist for.
    pub(crate) fn long_prefix(&self) -> Option<&str> {
        match self.words.as_slice() {
            [only] if only.prefix && only.word.chars().count() >= 4 => Some(&only.word),
            _ => None,
        }
    }

    /// How many times the phrase occurs in `words` (a text's words, in order), as FTS5 counts
    /// a phrase's instances: at each position where its words follow one another.
    pub(crate) fn count_in(&self, words: &[&str]) -> u32 {
        let n = self.words.len();
        if n == 0 || words.len() < n {
            return 0;
        }
        (0..=words.len() - n).filter(|&at| self.words.iter().zip(&words[at..]).all(|(p, w)| p.matches(w))).count()
            as u32
    }
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
    pub(super) fn punctuation(&self) -> String {
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

    /// An FTS5 term that finds at least the messages this pattern's word is in, served by a
    /// single doclist: the word itself, or for a prefix its first three characters or fewer (the
    /// index keeps the prefixes of two and three characters); `None` for a prefix of one letter.
    pub(crate) fn probe(&self) -> Option<String> {
        if !self.prefix {
            return Some(quoted(&self.word));
        }
        let start: String = self.word.chars().take(3).collect();
        (start.chars().count() >= 2).then(|| format!("{}*", quoted(&start)))
    }

    /// Whether `word` (one word of the text, as the tokenizer splits it) matches.
    pub(super) fn matches(&self, word: &str) -> bool {
        // Most words differ at once: an ASCII first letter folds only to itself in lower case.
        if let (Some(&p), Some(&w)) = (self.word.as_bytes().first(), word.as_bytes().first())
            && p.is_ascii()
            && w.is_ascii()
            && p != w.to_ascii_lowercase()
        {
            return false;
        }
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
pub(super) fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
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
    let mut phrases: Vec<Phrase> = Vec::new();
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
        let (term, rendered) = render(item, &stemmer);
        if op != Op::Not {
            highlights.extend(rendered.iter().flat_map(|p| p.words.iter().cloned()));
            phrases.extend(rendered);
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
    Some(Parsed { expr, highlights, phrases, literals })
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

/// The FTS5 term for one item, and its phrases (whose words a snippet highlights).
fn render(item: &Item, stemmer: &Stemmer) -> (String, Vec<Phrase>) {
    let one = |fts: String, words: Vec<Pattern>| (fts.clone(), vec![Phrase::new(fts, words)]);
    match item {
        Item::Phrase(text, star) => {
            one(format!("{}{}", quoted(text), if *star { "*" } else { "" }), word_patterns(text, *star))
        }
        Item::Bare(text) => {
            let explicit_prefix = text.ends_with('*');
            // Punctuation at either end separates nothing: the tokenizer would drop it.
            let core = text.trim_matches(|c: char| !c.is_alphanumeric());
            if explicit_prefix {
                return one(format!("{}*", quoted(core)), word_patterns(core, true));
            }
            let last_word = core.rsplit(|c: char| !c.is_alphanumeric()).next().unwrap_or(core);
            if last_word.chars().count() < 2 {
                return one(quoted(core), word_patterns(core, false));
            }
            if core.chars().count() >= 4 && core.chars().all(char::is_alphabetic) {
                let lower = core.to_lowercase();
                let stem = stemmer.stem(&lower);
                if stem.chars().count() >= 3 && stem != lower {
                    if lower.starts_with(stem.as_ref()) {
                        return one(format!("{}*", quoted(&stem)), vec![Pattern::new(&stem, true)]);
                    }
                    let (whole, stemmed) = (format!("{}*", quoted(&lower)), format!("{}*", quoted(&stem)));
                    return (
                        format!("({whole} OR {stemmed})"),
                        vec![
                            Phrase::new(whole, vec![Pattern::new(&lower, true)]),
                            Phrase::new(stemmed, vec![Pattern::new(&stem, true)]),
                        ],
                    );
                }
            }
            one(format!("{}*", quoted(core)), word_patterns(core, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Option<String> {
        parse(text).map(|p| p.expr)
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
