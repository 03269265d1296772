//! Ranking the window of a search: BM25 as FTS5's `bm25()` computes it (k1 = 1.2, b = 0.75,
//! each phrase's instances in a text, the text's length in words against the table's average),
//! but from the candidates' own texts. FTS5's `bm25()` first counts, for each phrase, every
//! message in the history that holds it, to weigh rare phrases above common ones: a whole
//! doclist read per phrase (950,000 entries for "the" in a million messages), most of a search's
//! time. Here a query of one phrase needs no such weight (it scales every score alike and
//! changes no order), and a query of several weighs each phrase by how many of the newest
//! [`IDF_SAMPLE`] messages (or titles) hold it. Titles are always ranked so; messages when
//! [`from_texts_is_cheaper`] (for rarer words, whose matches lie far apart, FTS5 ranks them).

use rusqlite::{Connection, params};

use super::query::{Phrase, words};

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// How many of the newest rows the weight of each phrase is counted in (queries of two phrases
/// or more): enough to tell a word in most messages from one in a few percent.
pub(crate) const IDF_SAMPLE: i64 = 10_000;

/// How much of a text (from its start) is read to count its matches: beyond, the counts and the
/// length are extrapolated from this start.
pub(crate) const RANK_SCAN_BYTES: usize = 64 * 1024;

/// How many of the newest messages [`from_texts_is_cheaper`] looks at, and the share of them
/// (in percent) a word must be in for its doclist to count as long.
const PROBE_ROWS: i64 = 1_000;
const COMMON_PERCENT: i64 = 30;

/// Whether ranking the window from its texts costs less than FTS5's `bm25()`. That reads the
/// whole doclist of each word of the query first: too much for a word in a large share of the
/// messages, whose newest matches are then close together (their texts are read at little
/// cost), and for a phrase of several words, whose matches are few (each word's doclist is
/// read to find them, then again to count them). For a query of rarer words, whose matches are
/// spread over the history, `bm25()` costs less than reading their texts.
pub(crate) fn from_texts_is_cheaper(conn: &Connection, phrases: &[Phrase]) -> rusqlite::Result<bool> {
    if phrases.iter().any(|p| p.words.len() > 1) {
        return Ok(true);
    }
    let newest: i64 = conn.query_row("SELECT coalesce(max(rowid), 0) FROM messages", [], |r| r.get(0))?;
    let mut probe = conn.prepare_cached(
        "SELECT count(*) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid > ?2)",
    )?;
    for word in phrases.iter().flat_map(|p| &p.words) {
        let Some(term) = word.probe() else { return Ok(true) };
        let found: i64 = probe.query_row(params![term, newest - PROBE_ROWS], |r| r.get(0))?;
        if found * 100 >= PROBE_ROWS.min(newest) * COMMON_PERCENT {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An FTS5 table that search ranks in, and the table its rows' text is kept in.
#[derive(Clone, Copy)]
pub(crate) enum Index {
    Messages,
    Titles,
}

impl Index {
    fn fts(self) -> &'static str {
        match self {
            Index::Messages => "messages_fts",
            Index::Titles => "titles_fts",
        }
    }

    fn content(self) -> &'static str {
        match self {
            Index::Messages => "messages",
            Index::Titles => "conversations",
        }
    }
}

/// Scores texts for one query: higher is better.
pub(crate) struct Bm25<'a> {
    phrases: &'a [Phrase],
    idf: Vec<f64>,
    avgdl: f64,
}

impl<'a> Bm25<'a> {
    /// The weights of `phrases` in `index`, read from the database.
    pub(crate) fn new(conn: &Connection, index: Index, phrases: &'a [Phrase]) -> rusqlite::Result<Bm25<'a>> {
        let idf = if phrases.len() < 2 { vec![1.0; phrases.len()] } else { sampled_idf(conn, index, phrases)? };
        Ok(Bm25 { phrases, idf, avgdl: average_length(conn, index)?.unwrap_or(0.0) })
    }

    /// The score of a text of which `start` was read, `total_bytes` long in all.
    pub(crate) fn score(&self, start: &str, total_bytes: usize) -> f64 {
        // Phrases of one word (most) are counted word by word; longer ones need the words in order.
        let mut counts = vec![0u32; self.phrases.len()];
        let mut all: Vec<&str> = Vec::new();
        let keep = self.phrases.iter().any(|p| p.words.len() > 1);
        let mut length = 0usize;
        for_each_word(start, |word| {
            length += 1;
            for (count, phrase) in counts.iter_mut().zip(self.phrases) {
                if let [only] = phrase.words.as_slice()
                    && only.matches(word)
                {
                    *count += 1;
                }
            }
            if keep {
                all.push(word);
            }
        });
        for (count, phrase) in counts.iter_mut().zip(self.phrases) {
            if phrase.words.len() > 1 {
                *count = phrase.count_in(&all);
            }
        }
        // A text read only in part: its counts and length as if the rest were like its start.
        let scale =
            if start.is_empty() || total_bytes <= start.len() { 1.0 } else { total_bytes as f64 / start.len() as f64 };
        let length = length as f64 * scale;
        let avgdl = if self.avgdl > 0.0 { self.avgdl } else { length.max(1.0) };
        let norm = K1 * (1.0 - B + B * length / avgdl);
        counts
            .iter()
            .zip(&self.idf)
            .map(|(&count, idf)| {
                let tf = f64::from(count) * scale;
                idf * tf * (K1 + 1.0) / (tf + norm)
            })
            .sum()
    }
}

/// Calls `f` with each word of `text` as the index's tokenizer splits it ([`words`]), by bytes
/// for ASCII text.
fn for_each_word<'t>(text: &'t str, mut f: impl FnMut(&'t str)) {
    if !text.is_ascii() {
        words(text).for_each(|(_, w)| f(w));
        return;
    }
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        while at < bytes.len() && !bytes[at].is_ascii_alphanumeric() {
            at += 1;
        }
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_alphanumeric() {
            at += 1;
        }
        if at > start {
            f(&text[start..at]);
        }
    }
}

/// Each phrase's inverse document frequency (as `bm25()` computes it, at least 1e-6) among the
/// newest [`IDF_SAMPLE`] rows of `index`: rows are counted by their ids, and FTS5 finds those of
/// the phrase from the first of them on (a seek, not a whole doclist).
fn sampled_idf(conn: &Connection, index: Index, phrases: &[Phrase]) -> rusqlite::Result<Vec<f64>> {
    let newest: i64 =
        conn.query_row(&format!("SELECT coalesce(max(rowid), 0) FROM {}", index.content()), [], |r| r.get(0))?;
    let from = (newest - IDF_SAMPLE).max(0);
    let rows = (newest - from) as f64;
    let mut count = conn.prepare_cached(&format!(
        "SELECT count(*) FROM {fts} WHERE {fts} MATCH ?1 AND rowid > ?2",
        fts = index.fts()
    ))?;
    phrases
        .iter()
        .map(|phrase| {
            let hits = count.query_row(params![phrase.fts, from], |r| r.get::<_, i64>(0))? as f64;
            let idf = ((rows - hits + 0.5) / (hits + 0.5)).ln();
            Ok(if idf > 0.0 { idf } else { 1e-6 })
        })
        .collect()
}

/// The average length in words of the texts in `index`, as FTS5 keeps it for `bm25()`: its
/// "averages" record (the row count, then the total words, as SQLite varints).
fn average_length(conn: &Connection, index: Index) -> rusqlite::Result<Option<f64>> {
    let record: Option<Vec<u8>> = conn
        .query_row(&format!("SELECT block FROM {}_data WHERE id = 1", index.fts()), [], |r| r.get(0))
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
    let Some(record) = record else { return Ok(None) };
    let Some((rows, used)) = varint(&record) else { return Ok(None) };
    let Some((total, _)) = varint(&record[used..]) else { return Ok(None) };
    Ok((rows > 0).then(|| total as f64 / rows as f64))
}

/// A SQLite varint (big-endian, 7 bits a byte, the ninth byte whole): its value and length.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some(((value << 8) | u64::from(byte), 9));
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_text_is_split_into_words_as_any_text_is() {
        for text in ["", "  ", "Birds, migrating: 3.5 c++ tcp/udp don't!", "a", "end."] {
            let mut fast = Vec::new();
            for_each_word(text, |w| fast.push(w));
            assert_eq!(fast, words(text).map(|(_, w)| w).collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn varints_read_as_sqlite_writes_them() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x83, 0xE8, 0x07]), Some((((3 << 7) | 0x68) << 7 | 7, 3)));
        assert_eq!(varint(&[0x81]), None, "cut short");
        assert_eq!(varint(&[0xFF; 9]), Some((u64::MAX, 9)));
    }
}
