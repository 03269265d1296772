//! How search ranks what it finds: among the 2,000 newest matching messages, best first by BM25
//! (a phrase by its instances, the words of a query of several weighed by how rare each is among
//! the newest messages), equally good ones newest first, each conversation once; titles likewise.

use geminal::store::{MatchedIn, Store};
use rusqlite::params;

/// How many of the newest matches a search ranks (the store's `SEARCH_WINDOW`).
const WINDOW: usize = 2_000;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    (dir, store)
}

/// Adds one conversation per text (titled `title`), each holding one user message, in one
/// transaction, oldest first; returns the messages' ids.
fn add_each(store: &Store, title: &str, texts: &[String]) -> Vec<i64> {
    let conn = store.connection();
    conn.execute_batch("BEGIN").unwrap();
    let ids = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            conn.execute(
                "INSERT INTO conversations (title, model, created_at, updated_at) VALUES (?1, 'm', ?2, ?2)",
                params![title, 1_000 + i as i64],
            )
            .unwrap();
            let conversation = conn.last_insert_rowid();
            conn.execute(
                "INSERT INTO messages (conversation_id, role, text, status, cached, created_at)
                 VALUES (?1, 'user', ?2, 'complete', 0, ?3)",
                params![conversation, text, 1_000 + i as i64],
            )
            .unwrap();
            conn.last_insert_rowid()
        })
        .collect();
    conn.execute_batch("COMMIT").unwrap();
    ids
}

/// The ids of the messages shown for `query`, in the order shown.
fn shown(store: &Store, query: &str, limit: usize) -> Vec<i64> {
    store
        .search(query, limit)
        .unwrap()
        .into_iter()
        .filter_map(|h| match h.matched_in {
            MatchedIn::Message { id, .. } => Some(id),
            MatchedIn::Title => None,
        })
        .collect()
}

#[test]
fn equally_good_matches_come_newest_first_and_older_than_the_window_are_not_ranked() {
    let (_dir, store) = store();
    // Five strong matches, then a full window of weaker ones: the strong ones are too old.
    let mut texts: Vec<String> = (0..5).map(|_| "otter otter otter otter".to_owned()).collect();
    texts.extend((0..WINDOW).map(|i| format!("an otter seen on day {i} by the river")));
    let ids = add_each(&store, "notes", &texts);
    let newest: Vec<i64> = ids.iter().rev().take(20).copied().collect();
    assert_eq!(shown(&store, "otter", 20), newest, "the window's 20 newest, newest first");
    // One strong match inside the window comes first, the rest follow newest first.
    let strong = add_each(&store, "notes", &["otter otter otter".to_owned()])[0];
    let mut expected = vec![strong];
    expected.extend(ids.iter().rev().take(19));
    assert_eq!(shown(&store, "otter", 20), expected);
}

#[test]
fn a_phrase_is_ranked_by_its_instances_not_by_its_words() {
    let (_dir, store) = store();
    let words = "water water time time water time: the words, and once the phrase".to_owned();
    let phrase = "water time, water time, then water time again".to_owned();
    // Many candidates hold both words but not the phrase (FTS5 checks each one's positions).
    let mut texts: Vec<String> = (0..3_000).map(|i| format!("time for water number {i}, water and time")).collect();
    texts.push(phrase);
    texts.push(words);
    let ids = add_each(&store, "notes", &texts);
    let (phrase, words) = (ids[3_000], ids[3_001]);
    assert_eq!(shown(&store, "\"water time\"", 20), [phrase, words], "only these two hold the phrase");
    assert_eq!(shown(&store, "water time", 3), [phrase, words, ids[2_999]], "both words anywhere: every candidate");
}

#[test]
fn a_rare_phrase_is_ranked_among_its_newest_matches_however_far_back_they_go() {
    let (_dir, store) = store();
    // A phrase in every fifth of 15,000 messages: its 2,000 newest matches reach 10,000 messages
    // back (a phrase's matches are looked for in spans of the history, newest first).
    let mut texts: Vec<String> = (0..15_000)
        .map(|i| if i % 5 == 0 { format!("water time on day {i}") } else { format!("time and water on day {i}") })
        .collect();
    texts[1_000] = "water time water time water time".to_owned(); // the best, but older than the window
    texts[5_500] = "water time water time, day 5500".to_owned(); // better than the rest, far back in the window
    texts[14_995] = "water time and water time".to_owned(); // as good, newer
    let ids = add_each(&store, "notes", &texts);
    let shown_ids = shown(&store, "\"water time\"", 20);
    assert_eq!(shown_ids[..3], [ids[14_995], ids[5_500], ids[14_990]], "the best two, then newest first");
    assert!(!shown_ids.contains(&ids[1_000]), "a match older than the window is not ranked");
    let all = shown(&store, "\"water time\"", WINDOW + 10);
    assert_eq!(all.len(), WINDOW, "the window is full");
    assert_eq!(all.last(), Some(&ids[5_000]), "the oldest ranked is the 2,000th newest match");
}

#[test]
fn of_several_words_the_rarer_one_weighs_more() {
    let (_dir, store) = store();
    let mut texts: Vec<String> = (0..50).map(|i| format!("the cat number {i} sat on the mat")).collect();
    texts.push("the otter, the river, the bank, the stones and the water".to_owned());
    texts.push("an otter and another otter in the water".to_owned());
    let ids = add_each(&store, "notes", &texts);
    let (common, rare) = (ids[50], ids[51]);
    // "the" is in every message: its five instances in one weigh less than a second otter.
    assert_eq!(shown(&store, "the otter", 10), [rare, common]);
    assert_eq!(shown(&store, "otter the", 10), [rare, common], "the order of the words does not matter");
}

#[test]
fn a_long_message_is_ranked_from_its_start_and_its_literal_terms_found_anywhere_indexed() {
    let (_dir, store) = store();
    // 200 KB of text, its C++ far beyond what ranking reads (but well within what is indexed).
    let long = format!("{} and C++ at last", "a filler word ".repeat(15_000));
    let short = "C++ templates, C++ concepts".to_owned();
    let ids = add_each(&store, "notes", &[long, short, "C and c, no plus".to_owned()]);
    assert_eq!(shown(&store, "c++", 10), [ids[1], ids[0]], "the short one holds two in few words");
    assert_eq!(shown(&store, "filler", 10), [ids[0]]);
}

#[test]
fn titles_are_ranked_best_first_and_equally_good_ones_most_recently_updated_first() {
    let (_dir, store) = store();
    let mut titles = Vec::new();
    for (i, title) in
        ["otter notes", "otter otter otter", "otter notes", "about an otter and a long river trip"].iter().enumerate()
    {
        titles.push(add_each(&store, title, &[format!("message {i}")])[0]);
    }
    let conversation_of = |message: i64| -> i64 {
        store
            .connection()
            .query_row("SELECT conversation_id FROM messages WHERE id = ?1", [message], |r| r.get(0))
            .unwrap()
    };
    let expected: Vec<i64> = [1, 2, 0, 3].iter().map(|&i| conversation_of(titles[i])).collect();
    let found: Vec<i64> = store
        .search("otter", 10)
        .unwrap()
        .into_iter()
        .inspect(|h| assert_eq!(h.matched_in, MatchedIn::Title))
        .map(|h| h.conversation_id)
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn rare_and_common_words_are_ranked_alike() {
    // The same three matches, once among messages that hold the word (ranked from their texts),
    // once among many that do not (ranked by FTS5): the same order.
    let filler = "a long answer about rivers, lakes, weather and many other things ".repeat(4);
    let matches = [
        format!("{filler} and one otter"),
        "otters: an otter and another otter".to_owned(),
        format!("an otter, {filler} and an otter"),
    ];
    for others in ["an otter", "a beaver"] {
        let (_dir, store) = store();
        let mut texts: Vec<String> = (0..200).map(|i| format!("{others} number {i}, {filler}")).collect();
        texts.extend(matches.iter().cloned());
        let ids = add_each(&store, "notes", &texts);
        let (once, often, twice) = (ids[200], ids[201], ids[202]);
        assert_eq!(shown(&store, "otter", 3), [often, twice, once], "among messages with {others:?}");
    }
}

#[test]
fn a_long_prefix_finds_every_word_it_starts_however_many_there_are() {
    let (_dir, store) = store();
    // A few words start with "rust" (the prefix is then searched as those words), twenty start
    // with "abcd" (searched as a prefix): either way every message is found.
    let mut texts: Vec<String> = ["Rust is fine", "a rusty nail", "the Rustacean way", "trust me", "RUSTS"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    texts.extend((0..20).map(|i| format!("word abcd{i}x here")));
    let ids = add_each(&store, "notes", &texts);
    let mut found = shown(&store, "rust", 50);
    found.sort_unstable();
    assert_eq!(found, [ids[0], ids[1], ids[2], ids[4]], "not \"trust\"");
    let mut found = shown(&store, "abcd", 50);
    found.sort_unstable();
    assert_eq!(found, ids[5..].to_vec());
    assert_eq!(shown(&store, "rusty nail", 50), [ids[1]], "with other words");
    assert_eq!(shown(&store, "rusty NOT nail", 50), Vec::<i64>::new());
}

#[test]
fn a_database_opened_for_reading_only_is_searched_alike() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let ids = {
        let (store, _) = Store::open(&path).unwrap();
        add_each(&store, "notes", &["a rusty nail".to_owned(), "Rust and rustaceans".to_owned(), "trust".to_owned()])
    };
    let store = Store::open_read_only(&path).unwrap();
    let mut found = shown(&store, "rust", 10);
    found.sort_unstable();
    assert_eq!(found, [ids[0], ids[1]]);
}
