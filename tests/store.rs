//! The history database: migrations from every released schema, refusal of newer ones, damaged
//! and locked files, a full disk, recovery of interrupted answers, search and the cache store.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use geminal::chat::Role;
use geminal::store::{CachedAnswer, MatchedIn, MessageStatus, NewMessage, Repair, Store, StoreError, now_ms, schema};
use proptest::prelude::*;
use rusqlite::Connection;

fn fixture_db(dir: &Path, version: u32) -> PathBuf {
    let path = dir.join("history.sqlite3");
    let sql = std::fs::read_to_string(format!("{}/tests/fixtures/schema_v{version}.sql", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    Connection::open(&path).unwrap().execute_batch(&sql).unwrap();
    path
}

/// The schema versions released so far: one fixture each, from 1 up (a version made and
/// superseded before a release, such as 15, has none).
fn released_versions() -> Vec<u32> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut versions: Vec<u32> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("schema_v")?.strip_suffix(".sql")?.parse().ok())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=versions.len() as u32).collect::<Vec<_>>(), "a fixture for every released version");
    assert!(versions.len() as i64 >= schema::latest_version() - 2, "the newest release has its fixture");
    versions
}

/// The ids of the messages `query` finds, sorted.
fn message_hits(store: &Store, query: &str) -> Vec<i64> {
    let hits = store.search(query, 50).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    let mut ids: Vec<i64> = hits
        .iter()
        .filter_map(|h| match h.matched_in {
            MatchedIn::Message { id, .. } => Some(id),
            MatchedIn::Title => None,
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// The ids of the conversations whose title `query` finds, sorted.
fn title_hits(store: &Store, query: &str) -> Vec<i64> {
    let hits = store.search(query, 50).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    let mut ids: Vec<i64> =
        hits.iter().filter(|h| h.matched_in == MatchedIn::Title).map(|h| h.conversation_id).collect();
    ids.sort_unstable();
    ids
}

fn add(store: &mut Store, conversation: i64, role: Role, text: &str) -> i64 {
    store
        .add_message(
            conversation,
            &NewMessage { role, text: text.into(), model: None, status: MessageStatus::Complete, cached: false },
        )
        .unwrap()
}

/// A message in a conversation of its own (titled "t"): a search lists each conversation once.
fn add_alone(store: &mut Store, role: Role, text: &str) -> i64 {
    let conversation = store.create_conversation("t", "m", None).unwrap();
    add(store, conversation, role, text)
}

fn pragma<T: rusqlite::types::FromSql>(conn: &Connection, name: &str) -> T {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn a_new_database_is_created_with_the_expected_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/history.sqlite3");
    let (store, report) = Store::open_default(&path).unwrap();
    assert!(report.notices.is_empty(), "{report:?}");
    let conn = store.connection();
    assert_eq!(schema::user_version(conn).unwrap(), schema::latest_version());
    assert_eq!(pragma::<String>(conn, "journal_mode"), "wal");
    assert_eq!(pragma::<i64>(conn, "synchronous"), 1, "NORMAL");
    assert_eq!(pragma::<i64>(conn, "foreign_keys"), 1);
    assert!(pragma::<i64>(conn, "busy_timeout") >= 5000);
    let version: String = conn.query_row("SELECT sqlite_version()", [], |r| r.get(0)).unwrap();
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(parts >= vec![3, 51, 3], "SQLite {version} has the WAL-reset bug");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn every_released_schema_migrates_to_the_latest_keeping_its_data() {
    for version in released_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = fixture_db(dir.path(), version);
        let (store, report) = Store::open(&path).unwrap();
        assert_eq!(schema::user_version(store.connection()).unwrap(), schema::latest_version());
        let backup = dir.path().join(format!("history.sqlite3.v{version}.bak"));
        assert!(backup.exists(), "a backup is taken before migrating v{version}");
        assert_eq!(schema::user_version(&Connection::open(&backup).unwrap()).unwrap(), i64::from(version));
        assert!(report.notices.iter().any(|n| n.contains("upgraded")), "{report:?}");
        let messages = store.messages(2).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].status, MessageStatus::Interrupted, "a streaming row from a dead writer is recovered");
        assert_eq!(messages[1].text, "Warm the milk, then pour it into strong coffee");
        // One row per conversation: words of its title list it by its title, so these avoid them.
        assert_eq!(message_hits(&store, "make cafe"), [3], "old rows are searchable (v{version})");
        assert_eq!(message_hits(&store, "migrate food"), [2]);
        assert_eq!(title_hits(&store, "migrate"), [1]);
        assert_eq!(message_hits(&store, "coffee"), [4], "the recovered answer is indexed once it stops");
        assert_eq!(title_hits(&store, "cafe"), [2], "old titles are searchable (v{version})");
        assert_eq!(store.list_conversations(10, 0).unwrap().len(), 2);
        // Tool calls came with v18: an older conversation reads with none.
        assert_eq!(store.tool_calls_of_conversation(2).unwrap(), [], "v{version}");
        // A released answer's cost is carried into the spending ledger (costs date from v13).
        let ledger: i64 = store
            .connection()
            .query_row("SELECT coalesce(sum(cost_nanos), 0) FROM spend_ledger", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ledger, if version >= 13 { 8_800 } else { 0 }, "v{version}");
    }
}

#[test]
fn a_database_from_a_newer_geminal_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE future (x); INSERT INTO future VALUES (1); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::TooNew { found: 99, .. }), "{error}");
    assert!(error.to_string().contains("newer geminal"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join("history.sqlite3-wal").exists());
}

#[test]
fn a_failed_migration_leaves_version_and_data_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_db(dir.path(), 2);
    // A table in the way makes migration 3 fail halfway through.
    Connection::open(&path).unwrap().execute_batch("CREATE TABLE request_metrics (x);").unwrap();
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Migration { .. }), "{error}");
    assert!(error.to_string().contains("left unchanged"));
    let conn = Connection::open(&path).unwrap();
    assert_eq!(schema::user_version(&conn).unwrap(), 2);
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'answer_cache'", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 0, "the first statement of the migration was rolled back too");
    let messages: i64 = conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap();
    assert_eq!(messages, 4);
}

#[test]
fn a_file_that_is_not_a_database_is_moved_aside_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let junk = b"this is not a database, it is a grocery list\n".repeat(200);
    std::fs::write(&path, &junk).unwrap();
    let (store, report) = Store::open(&path).unwrap();
    assert_eq!(report.notices.len(), 1, "{report:?}");
    assert!(report.notices[0].contains("damaged") && report.notices[0].contains(".corrupt-"), "{report:?}");
    let kept: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(&kept[0]).unwrap(), junk, "the damaged file is kept byte for byte");
    assert_eq!(store.list_conversations(10, 0).unwrap().len(), 0);
}

#[test]
fn a_truncated_database_is_moved_aside_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    {
        let (mut store, _) = Store::open(&path).unwrap();
        let id = store.create_conversation("t", "m", None).unwrap();
        let text = "lorem ipsum dolor ".repeat(400);
        for _ in 0..200 {
            store
                .add_message(
                    id,
                    &NewMessage {
                        role: Role::User,
                        text: text.clone(),
                        model: None,
                        status: MessageStatus::Complete,
                        cached: false,
                    },
                )
                .unwrap();
        }
        store.connection().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 3).unwrap();
    match Store::open(&path) {
        Ok((store, report)) => {
            assert!(report.notices.iter().any(|n| n.contains("damaged")), "{report:?}");
            assert_eq!(store.list_conversations(10, 0).unwrap().len(), 0);
        }
        Err(e) => assert!(matches!(e, StoreError::Corrupt { .. }), "a clear error at worst: {e}"),
    }
}

#[test]
fn a_full_disk_is_an_error_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let (mut store, _) = Store::open(&path).unwrap();
    let id = store.create_conversation("t", "m", None).unwrap();
    let pages: i64 = pragma(store.connection(), "page_count");
    store.connection().pragma_update(None, "max_page_count", pages + 2).unwrap();
    let big = "x".repeat(64 * 1024);
    let error = store
        .add_message(
            id,
            &NewMessage { role: Role::User, text: big, model: None, status: MessageStatus::Complete, cached: false },
        )
        .unwrap_err();
    assert!(matches!(error, StoreError::DiskFull { .. }), "{error}");
    assert!(error.to_string().contains(&path.display().to_string()));
}

#[test]
fn search_finds_prompts_and_answers_with_quotes_prefixes_and_accents() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let birds = add_alone(&mut store, Role::User, "Why do birds migrate every autumn?");
    let tern = add_alone(&mut store, Role::Model, "Migration follows food. The Arctic tern flies farthest.");
    let cafe = add_alone(&mut store, Role::User, "Un café crème, s'il vous plaît");
    let privet = add_alone(&mut store, Role::Model, "Привет, мир! 你好 世界");
    let hits = |q: &str| message_hits(&store, q);
    assert_eq!(hits("birds"), [birds], "a prompt");
    assert_eq!(hits("tern"), [tern], "an answer");
    assert_eq!(hits("migrat*"), [birds, tern], "a prefix matches migrate and Migration");
    assert_eq!(hits("\"arctic tern\""), [tern], "a phrase");
    assert!(hits("\"tern arctic\"").is_empty(), "order matters in a phrase");
    assert_eq!(hits("cafe"), [cafe], "accents fold");
    assert_eq!(hits("CAFÉ"), [cafe]);
    assert_eq!(hits("привет"), [privet], "Cyrillic, case-insensitive");
    assert_eq!(hits("世界"), [privet], "CJK words separated by spaces");
    assert_eq!(hits("birds OR tern").len(), 2);
    assert!(hits("birds NOT autumn").is_empty());
    let hit = &store.search("tern", 5).unwrap()[0];
    assert!(hit.snippet.contains("\u{E000}tern\u{E001}"), "{:?}", hit.snippet);
}

#[test]
fn plain_words_match_as_prefixes_and_simple_inflections() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let birds = add_alone(&mut store, Role::User, "birds migrate south");
    let running = add_alone(&mut store, Role::Model, "She was running configurations all night.");
    let hits = |q: &str| message_hits(&store, q);
    assert_eq!(hits("migr"), [birds]);
    assert_eq!(hits("bird"), [birds]);
    assert_eq!(hits("migr bird"), [birds], "both words, in any order");
    assert_eq!(hits("migrating"), [birds], "an inflection of the query finds the text's");
    assert_eq!(hits("bird migration"), [birds]);
    assert_eq!(hits("run configuration"), [running]);
    for typed in (2..="configurations".len()).map(|n| &"configurations"[..n]) {
        assert_eq!(hits(typed), [running], "every prefix typed on the way finds it: {typed:?}");
    }
    assert!(hits("birdz").is_empty());
    assert!(hits("s").is_empty(), "a single letter is a whole word, not every word starting with it");
    assert_eq!(hits("s*"), [birds, running], "unless starred");
}

#[test]
fn punctuation_and_operator_words_are_searched_literally() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let dont = add_alone(&mut store, Role::User, "I don't like it");
    let cpp = add_alone(&mut store, Role::Model, "In C++ templates are compiled per use.");
    let tcp = add_alone(&mut store, Role::User, "Is DNS over TCP/UDP or both?");
    let version = add_alone(&mut store, Role::Model, "Python 3.5 added async and await.");
    let string = add_alone(&mut store, Role::Model, "Take a &str instead of a String.");
    let uaf = add_alone(&mut store, Role::Model, "That is a use-after-free: the buffer was freed.");
    let near = add_alone(&mut store, Role::User, "the NEAR(column, caret) call, text:foo (see ^caret) - and + too");
    let hits = |q: &str| message_hits(&store, q);
    assert_eq!(hits("don't"), [dont]);
    assert_eq!(hits("c++"), [cpp]);
    assert_eq!(hits("TCP/UDP"), [tcp]);
    assert_eq!(hits("3.5"), [version]);
    assert_eq!(hits("&str"), [string]);
    assert_eq!(hits("use-after-free"), [uaf]);
    assert_eq!(hits("\"use after free\""), [uaf]);
    assert_eq!(hits("text:foo"), [near], "not a column filter");
    assert_eq!(hits("NEAR(column caret)"), [near]);
    assert_eq!(hits("^caret -"), [near]);
    assert_eq!(hits("(see"), [near]);
    assert_eq!(hits("AND too"), [near], "a leading operator is a word");
    assert_eq!(hits("too AND"), [near], "so is a trailing one");
    assert!(hits("too and dns").is_empty(), "lower-case and is a word, and this message has no dns");
    assert_eq!(hits("too OR dns"), [tcp, near]);
    assert_eq!(hits("dns OR OR"), [tcp], "the first of two operators is a word, and so is a trailing one");
    assert_eq!(hits("\"use after"), [uaf], "an unclosed quote runs to the end");
    for nothing in ["", "  ", "\"", "*", "++", "()", "\"\"", "- + ^ :"] {
        assert_eq!(store.search(nothing, 10).unwrap(), [], "{nothing:?}");
    }
}

#[test]
fn titles_are_searched_and_listed_first() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let kayak = store.create_conversation("Kayaking in Norway", "m", None).unwrap();
    add(&mut store, kayak, Role::User, "Which fjord is calmest?");
    let other = store.create_conversation("packing list", "m", None).unwrap();
    let tent = add(&mut store, other, Role::User, "a tent for my kayak trip");
    let hits = store.search("kayak", 10).unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!((hits[0].conversation_id, hits[0].matched_in), (kayak, MatchedIn::Title));
    assert_eq!(hits[0].snippet, "\u{E000}Kayaking\u{E001} in Norway");
    assert_eq!(hits[1].matched_in, MatchedIn::Message { id: tent, role: Role::User });
    assert!(message_hits(&store, "norway").is_empty() && title_hits(&store, "norway") == [kayak]);
    store.delete_conversation(kayak).unwrap();
    assert!(title_hits(&store, "kayak").is_empty(), "a deleted conversation leaves the title index");
    store.connection().execute("UPDATE conversations SET title = 'canoe trip' WHERE id = ?1", [other]).unwrap();
    assert_eq!(title_hits(&store, "canoe"), [other]);
    let integrity = "INSERT INTO titles_fts(titles_fts) VALUES ('integrity-check')";
    store.connection().execute(integrity, []).unwrap();
}

#[test]
fn title_matches_take_at_most_half_the_results_when_messages_match_too() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    for i in 0..10 {
        let id = store.create_conversation(&format!("otter {i}"), "m", None).unwrap();
        add(&mut store, id, Role::User, "otters hold hands");
    }
    let hits = store.search("otter", 6).unwrap();
    let titles = hits.iter().filter(|h| h.matched_in == MatchedIn::Title).count();
    assert_eq!((hits.len(), titles), (6, 3));
    let hits = store.search("otter 3", 6).unwrap();
    assert_eq!(hits.len(), 1, "only the title has a 3: {hits:?}");
}

#[test]
fn the_best_matching_messages_come_first() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let filler = "a long answer about rivers, lakes, weather and many other things ".repeat(4);
    let once = add_alone(&mut store, Role::Model, &format!("{filler} and one otter"));
    let often = add_alone(&mut store, Role::Model, "otters: an otter and another otter");
    let twice = add_alone(&mut store, Role::Model, &format!("an otter, {filler} and an otter"));
    let order: Vec<MatchedIn> = store.search("otter", 10).unwrap().into_iter().map(|h| h.matched_in).collect();
    let message = |id| MatchedIn::Message { id, role: Role::Model };
    assert_eq!(order, [message(often), message(twice), message(once)]);
}

#[test]
fn each_conversation_is_listed_once_by_its_best_match() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let filler = "a long answer about rivers, lakes, weather and many other things ".repeat(4);
    let titled = store.create_conversation("Otter facts", "m", None).unwrap();
    add(&mut store, titled, Role::User, "tell me about otters");
    add(&mut store, titled, Role::Model, "otters: an otter and another otter");
    let river = store.create_conversation("river notes", "m", None).unwrap();
    let asked = add(&mut store, river, Role::User, "is there an otter here?");
    add(&mut store, river, Role::Model, &format!("{filler} and one otter"));
    let lake = store.create_conversation("lakes", "m", None).unwrap();
    add(&mut store, lake, Role::User, "what lives in lakes?");
    let often = add(&mut store, lake, Role::Model, "otters otter otter, and an otter");
    let hits = store.search("otter", 10).unwrap();
    let rows: Vec<(i64, MatchedIn)> = hits.iter().map(|h| (h.conversation_id, h.matched_in)).collect();
    assert_eq!(
        rows,
        [
            (titled, MatchedIn::Title),
            (lake, MatchedIn::Message { id: often, role: Role::Model }),
            (river, MatchedIn::Message { id: asked, role: Role::User }),
        ],
        "the title first, then each other conversation once, by its best message, best first"
    );
    let limited = store.search("otter", 2).unwrap();
    assert_eq!(limited.iter().map(|h| h.conversation_id).collect::<Vec<_>>(), [titled, lake]);
}

#[test]
fn punctuation_inside_a_term_is_part_of_it() {
    let (mut store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let cpp = add_alone(&mut store, Role::User, "Templates in C++ are compiled per use.");
    let bare_c = add_alone(&mut store, Role::Model, "The letter c, as in cat.");
    let tcp = add_alone(&mut store, Role::User, "Is DNS over TCP/UDP?");
    add_alone(&mut store, Role::User, "TCP UDP and tcp-udp are not it");
    let version = add_alone(&mut store, Role::Model, "Python 3.5 added await.");
    add_alone(&mut store, Role::Model, "a ratio of 3,5 or 3 5, version 3.55, or 13.5");
    let dont = add_alone(&mut store, Role::User, "Don’t panic");
    let hits = |q: &str| message_hits(&store, q);
    assert_eq!(hits("c++"), [cpp], "a bare c is not c++");
    assert_eq!(hits("C++ templates"), [cpp]);
    assert_eq!(hits("c"), [cpp, bare_c], "the word c is in both");
    assert_eq!(hits("TCP/UDP"), [tcp]);
    assert_eq!(hits("tcp/ud"), [tcp], "its last word is a prefix");
    assert_eq!(hits("3.5"), [version]);
    assert_eq!(hits("don't"), [dont], "a typographic apostrophe is an apostrophe");
    assert_eq!(hits("c++ OR nothing"), [cpp, bare_c], "in an OR group the index's words decide");
    let titled = store.create_conversation("C++ tips", "m", None).unwrap();
    store.create_conversation("c tips", "m", None).unwrap();
    assert_eq!(title_hits(&store, "c++"), [titled]);
}

#[test]
fn a_v4_database_migrates_and_plain_words_find_its_old_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_db(dir.path(), 4);
    let before: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'bird'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, 0, "in the v4 index a word was not a prefix: bird missed birds");
    let (store, _) = Store::open(&path).unwrap();
    assert_eq!(title_hits(&store, "bird"), [1]);
    assert_eq!(message_hits(&store, "bird food"), [2], "the title has no food: the answer shows the conversation");
    assert_eq!(message_hits(&store, "migr daylight"), [2]);
    assert_eq!(message_hits(&store, "milk"), [4], "the answer left streaming is indexed once recovered");
    assert_eq!(title_hits(&store, "recipes"), [2]);
    for table in ["messages_fts", "titles_fts"] {
        let check = format!("INSERT INTO {table}({table}) VALUES ('integrity-check')");
        store.connection().execute(&check, []).unwrap();
    }
}

#[test]
fn every_released_conversation_becomes_one_branch_in_the_order_it_was_written() {
    for version in released_versions() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&fixture_db(dir.path(), version)).unwrap();
        for (conversation, ids) in [(1, [1, 2]), (2, [3, 4])] {
            let path = store.active_path(conversation).unwrap();
            let links: Vec<(i64, Option<i64>)> = path.iter().map(|m| (m.id, m.parent_id)).collect();
            assert_eq!(links, [(ids[0], None), (ids[1], Some(ids[0]))], "v{version}");
            assert!(path.iter().all(|m| m.alternatives.count == 1), "v{version}");
            assert_eq!(store.conversation(conversation).unwrap().head_id, Some(ids[1]), "v{version}");
        }
    }
}

#[test]
fn each_fixture_is_the_schema_that_the_migrations_up_to_it_build() {
    let objects = |conn: &Connection| -> Vec<(String, String)> {
        let mut stmt = conn.prepare("SELECT type, name FROM sqlite_schema ORDER BY type, name").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    for version in released_versions() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Connection::open(fixture_db(dir.path(), version)).unwrap();
        let built = Connection::open_in_memory().unwrap();
        // As `migrate` runs them: a rebuild (15) with foreign keys off.
        built.pragma_update(None, "foreign_keys", false).unwrap();
        for sql in &schema::MIGRATIONS[..version as usize] {
            built.execute_batch(sql).unwrap();
        }
        assert_eq!(objects(&fixture), objects(&built), "v{version}");
    }
}

/// Queries made of the characters that mean something to FTS5, words and anything at all.
fn typed_query() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\"".to_owned()),
        Just("*".to_owned()),
        Just("AND".to_owned()),
        Just("OR".to_owned()),
        Just("NOT".to_owned()),
        Just("NEAR".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(":".to_owned()),
        Just("^".to_owned()),
        Just("-".to_owned()),
        Just("+".to_owned()),
        Just("{text}".to_owned()),
        Just("c++".to_owned()),
        Just("don't".to_owned()),
        Just("birds".to_owned()),
        Just("a".to_owned()),
        Just("café".to_owned()),
        Just("世界".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{301}".to_owned()),
        Just("\u{E000}".to_owned()),
        "[a-z]{1,6}",
        any::<String>(),
    ];
    let separator = prop_oneof![Just(""), Just(" "), Just("\t"), Just("\n")];
    prop::collection::vec((piece, separator), 0..24).prop_map(|pieces| pieces.into_iter().map(|(p, s)| p + s).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn anything_typed_into_search_gives_results_or_nothing_never_an_error(query in typed_query()) {
        thread_local! {
            static STORE: Store = {
                let mut store = Store::open_in_memory().unwrap();
                let id = store.create_conversation("why do birds migrate? (c++)", "m", None).unwrap();
                add(&mut store, id, Role::User, "why do birds migrate? I don't know: c++ AND (NEAR) text:foo");
                add(&mut store, id, Role::Model, "Un café, 世界, a \"quoted\" word* and OR NOT");
                store
            };
        }
        STORE.with(|store| {
            let found = store.search(&query, 20);
            prop_assert!(found.is_ok(), "{query:?}: {:?}", found.err());
            Ok(())
        })?;
    }
}

fn cached(text: &str, created_at: i64) -> CachedAnswer {
    CachedAnswer {
        model: "m".into(),
        text: text.into(),
        prompt_tokens: Some(1),
        output_tokens: Some(2),
        cost: None,
        created_at,
    }
}

const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: i64 = 86_400_000;

#[test]
fn the_cache_evicts_the_least_recently_used() {
    let (store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let answer = |t: &str| cached(t, now_ms());
    store.cache_put(&[1; 32], &answer("one"), 3, Some(DAY)).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    store.cache_put(&[2; 32], &answer("two"), 3, Some(DAY)).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    store.cache_put(&[3; 32], &answer("three"), 3, Some(DAY)).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    assert_eq!(store.cache_get(&[1; 32], Some(DAY)).unwrap().unwrap().text, "one", "touching one makes two the oldest");
    std::thread::sleep(Duration::from_millis(3));
    store.cache_put(&[4; 32], &answer("four"), 3, Some(DAY)).unwrap();
    assert_eq!(store.cache_len().unwrap(), 3);
    assert!(store.cache_get(&[2; 32], Some(DAY)).unwrap().is_none());
    assert!(store.cache_get(&[1; 32], Some(DAY)).unwrap().is_some());
    assert_eq!(store.cache_get(&[9; 32], Some(DAY)).unwrap(), None);
}

#[test]
fn an_expired_answer_is_never_returned_and_is_deleted_when_met() {
    let (store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let two_days_ago = now_ms() - 2 * DAY_MS;
    store.cache_put(&[1; 32], &cached("old", two_days_ago), 100, None).unwrap();
    store.cache_put(&[2; 32], &cached("new", now_ms()), 100, None).unwrap();
    assert_eq!(store.cache_get(&[1; 32], None).unwrap().map(|a| a.created_at), Some(two_days_ago), "no TTL");
    assert_eq!(store.cache_get(&[1; 32], Some(3 * DAY)).unwrap().map(|a| a.text), Some("old".into()));
    assert_eq!(store.cache_get(&[1; 32], Some(DAY)).unwrap(), None, "older than a day");
    assert_eq!(store.cache_len().unwrap(), 1, "the expired answer is gone");
    assert!(store.cache_get(&[2; 32], Some(DAY)).unwrap().is_some());
}

#[test]
fn storing_an_answer_purges_expired_ones_that_nobody_used() {
    let (store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    let conn = store.connection();
    for (key, age_days) in [(1u8, 3), (2, 2), (3, 0)] {
        let at = now_ms() - age_days * DAY_MS;
        conn.execute(
            "INSERT INTO answer_cache (key, model, text, created_at, last_used_at) VALUES (?1, 'm', 't', ?2, ?2)",
            rusqlite::params![vec![key; 32], at],
        )
        .unwrap();
    }
    store.cache_put(&[4; 32], &cached("fresh", now_ms()), 100, Some(DAY)).unwrap();
    let mut left: Vec<Vec<u8>> =
        conn.prepare("SELECT key FROM answer_cache").unwrap().query_map([], |r| r.get(0)).unwrap().flatten().collect();
    left.sort();
    assert_eq!(left, vec![vec![3; 32], vec![4; 32]]);
    store.cache_put(&[5; 32], &cached("forever", now_ms()), 100, None).unwrap();
    assert_eq!(store.cache_len().unwrap(), 3, "without a TTL nothing expires");
}

#[test]
fn cache_stats_and_clearing() {
    let (store, _) = Store::open(&tempfile::tempdir().unwrap().path().join("h.sqlite3")).unwrap();
    assert_eq!(store.cache_stats(Some(DAY)).unwrap(), geminal::store::CacheStats::default());
    let old = now_ms() - 2 * DAY_MS;
    store.cache_put(&[1; 32], &cached("héllo", old), 100, None).unwrap();
    let new = now_ms();
    store.cache_put(&[2; 32], &cached("world", new), 100, None).unwrap();
    store.cache_get(&[2; 32], Some(DAY)).unwrap();
    store.cache_get(&[2; 32], Some(DAY)).unwrap();
    let stats = store.cache_stats(Some(DAY)).unwrap();
    assert_eq!((stats.entries, stats.text_bytes, stats.hits, stats.expired), (2, 11, 2, 1), "{stats:?}");
    assert_eq!((stats.oldest_at, stats.newest_at), (Some(old), Some(new)));
    assert_eq!(store.cache_stats(None).unwrap().expired, 0);
    assert_eq!(store.cache_clear_expired(None).unwrap(), 0);
    assert_eq!(store.cache_clear_expired(Some(DAY)).unwrap(), 1);
    assert_eq!(store.cache_len().unwrap(), 1);
    assert_eq!(store.cache_clear().unwrap(), 1);
    assert_eq!(store.cache_len().unwrap(), 0);
}

#[test]
fn a_live_writer_keeps_its_streaming_answer_and_a_dead_one_loses_it_to_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let (mut live, _) = Store::open(&path).unwrap();
    let id = live.create_conversation("t", "m", None).unwrap();
    let msg = live
        .add_message(
            id,
            &NewMessage {
                role: Role::Model,
                text: "growing".into(),
                model: None,
                status: MessageStatus::Streaming,
                cached: false,
            },
        )
        .unwrap();
    // A second process (here: a second store) opening the same file must not touch it.
    let (other, report) = Store::open(&path).unwrap();
    assert!(report.notices.is_empty(), "{report:?}");
    assert_eq!(other.messages(id).unwrap()[0].status, MessageStatus::Streaming);
    drop(live);
    let (_, report) = Store::open(&path).unwrap();
    assert_eq!(report.notices.len(), 1, "{report:?}");
    let messages = other.messages(id).unwrap();
    assert_eq!(
        (messages[0].id, messages[0].status, messages[0].text.as_str()),
        (msg, MessageStatus::Interrupted, "growing")
    );
}

/// Not a test on its own: the child process of `a_locked_database_names_the_process_holding_it`.
#[test]
#[ignore = "helper process, run by another test"]
fn hold_the_database_lock() {
    let Ok(path) = std::env::var("GEMINAL_TEST_HOLD_DB") else {
        return;
    };
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    println!("locked");
    std::thread::sleep(Duration::from_secs(20));
}

#[test]
fn a_locked_database_names_the_process_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let (store, _) = Store::open(&path).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_the_database_lock", "--ignored", "--nocapture", "--test-threads=1"])
        .env("GEMINAL_TEST_HOLD_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("locked") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0, "the holder died");
    }
    let error = store.create_conversation("t", "m", None).unwrap_err();
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    assert!(error.to_string().contains(&format!("process {}", child.id())), "{error}");
}

/// Writes garbage over page `page` (1-based) of the file, as a failing disk or a stray write would.
fn scribble_over_page(path: &Path, page: i64, page_size: i64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(((page - 1) * page_size) as u64)).unwrap();
    file.write_all(&vec![0xa5; page_size as usize]).unwrap();
}

#[test]
fn a_damaged_page_stops_writing_and_repair_keeps_every_row_still_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let (mut store, _) = Store::open(&path).unwrap();
    for i in 0..60 {
        let c = store.create_conversation(&format!("conversation {i}"), "m", None).unwrap();
        add(&mut store, c, Role::User, &format!("question {i} {}", "q".repeat(300)));
        add(&mut store, c, Role::Model, &format!("answer {i} {}", "a".repeat(300)));
    }
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let leaves: Vec<i64> = conn
        .prepare("SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY pageno")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let page_size: i64 = pragma(&conn, "page_size");
    drop(conn);
    assert!(leaves.len() > 10, "a multi-page table: {leaves:?}");
    scribble_over_page(&path, leaves[leaves.len() / 2], page_size);

    let (store, _) = Store::open(&path).unwrap();
    let unreadable: Vec<i64> = (1..=60).filter(|id| store.active_path(*id).is_err()).collect();
    assert!(!unreadable.is_empty() && unreadable.len() < 10, "{unreadable:?}");
    assert!(matches!(store.active_path(unreadable[0]), Err(StoreError::Corrupt { .. })));
    let before = std::fs::read(&path).unwrap();
    let refused = store.create_conversation("one more", "m", None).unwrap_err();
    assert!(refused.to_string().contains("geminal history repair"), "{refused}");
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing more was written into the damaged file");

    // The next process is told too: it reads what it can and writes nothing.
    let (store, _) = Store::open(&path).unwrap();
    assert_eq!(store.list_conversations(100, 0).unwrap().len(), 60);
    assert!(matches!(store.create_conversation("one more", "m", None), Err(StoreError::Corrupt { .. })));
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let Repair::Rebuilt { conversations, messages, lost_messages, kept_as, .. } = Store::repair(&path).unwrap() else {
        panic!("the file is damaged");
    };
    // Those that lost both their messages are gone; every other is kept.
    assert!(conversations >= 60 - unreadable.len() && conversations <= 60, "{conversations}");
    assert!(lost_messages > 0 && messages + lost_messages == 120, "{messages} kept, {lost_messages} lost");
    assert_eq!(std::fs::read(&kept_as).unwrap(), before, "the damaged file is kept as it was");
    let (mut store, _) = Store::open(&path).unwrap();
    assert_eq!(store.list_conversations(100, 0).unwrap().len(), conversations);
    assert!(store.list_conversations(100, 0).unwrap().iter().all(|c| c.messages > 0), "no empty conversation");
    for id in 1..=60 {
        if !unreadable.contains(&id) {
            let path = store.active_path(id).unwrap();
            assert_eq!(path.len(), 2, "conversation {id} is whole");
            assert!(path[1].text.starts_with(&format!("answer {} ", id - 1)));
        }
    }
    let whole = (1..=60).find(|id| !unreadable.contains(id)).unwrap();
    let prompt = store.active_path(whole).unwrap()[0].id;
    assert_eq!(message_hits(&store, &format!("\"question {}\"", whole - 1)), [prompt], "the search index is rebuilt");
    let c = store.create_conversation("one more", "m", None).unwrap();
    add(&mut store, c, Role::User, "writing works again");
    drop(store);
    let healthy = Store::repair(&path).unwrap();
    assert!(matches!(healthy, Repair::Healthy { conversations: n, .. } if n == conversations + 1), "{healthy:?}");
}

#[test]
fn repair_keeps_the_attachments_open_tabs_and_jobs_of_what_it_keeps() {
    use geminal::domain::AttachmentInfo;
    use geminal::store::{NewAttachment, OpenTab};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let (mut store, _) = Store::open(&path).unwrap();
    let kept = store.create_conversation("kept", "m", None).unwrap();
    let prompt = add(&mut store, kept, Role::User, "what is in this file?");
    let info = |name: &str, sha: char| AttachmentInfo {
        name: name.into(),
        mime: "text/plain".into(),
        size: 4,
        sha256: sha.to_string().repeat(64),
    };
    let attachments = [
        NewAttachment { info: info("a.txt", 'a'), data: Some(bytes::Bytes::from_static(b"test")), path: None },
        NewAttachment { info: info("b.bin", 'b'), data: None, path: Some("/data/b.bin".into()) },
    ];
    store.add_attachments(prompt, &attachments).unwrap();
    let damaged = store.create_conversation("damaged", "m", None).unwrap();
    let lost = add(&mut store, damaged, Role::User, "this one is lost");
    store.add_attachments(lost, &[NewAttachment { info: info("c.txt", 'c'), data: None, path: None }]).unwrap();
    store
        .save_open_tabs(&[
            OpenTab { conversation_id: Some(kept), draft: "a draft".into(), active: true },
            OpenTab { conversation_id: None, draft: "another".into(), active: false },
        ])
        .unwrap();
    let job = store
        .create_job(&geminal::store::NewJob {
            kind: "remote".into(),
            model: "gemini-2.5-flash".into(),
            input_path: Some("prompts.jsonl".into()),
            output_path: None,
            input_hash: "ab".repeat(32),
            priority: 0,
        })
        .unwrap();
    store.add_job_lines(job, &[("1".into(), 1, "{}".into()), ("2".into(), 2, "{}".into())]).unwrap();
    let before = store.attachment_contents(prompt).unwrap();
    assert_eq!(before.len(), 2);
    store.connection().execute("UPDATE messages SET text = CAST(X'ff00' AS TEXT) WHERE id = ?1", [lost]).unwrap();
    drop(store);

    let Repair::Rebuilt { lost_messages, .. } = Store::repair(&path).unwrap() else {
        panic!("the file is damaged");
    };
    assert_eq!(lost_messages, 1);
    let (store, _) = Store::open(&path).unwrap();
    let listed: Vec<(i64, i64)> = store.list_conversations(10, 0).unwrap().iter().map(|c| (c.id, c.messages)).collect();
    assert_eq!(listed, [(kept, 1)], "a conversation whose every message was lost does not stay behind empty");
    assert_eq!(store.attachment_contents(prompt).unwrap(), before, "the kept prompt's attachments, bytes and all");
    assert!(store.attachment_contents(lost).unwrap().is_empty());
    let tabs = store.open_tabs().unwrap();
    assert_eq!(tabs.iter().map(|t| t.draft.as_str()).collect::<Vec<_>>(), ["a draft", "another"]);
    assert_eq!(tabs[0].conversation_id, Some(kept));
    let kept_job = store.job(job).unwrap().expect("the job is kept");
    assert_eq!((kept_job.kind.as_str(), kept_job.total), ("remote", 2));
    let lines = store.job_lines(job, None, 0, 10).unwrap();
    assert_eq!(lines.iter().map(|l| l.key.as_str()).collect::<Vec<_>>(), ["1", "2"], "its lines, still to collect");
}

#[test]
fn moving_a_damaged_database_away_lets_a_new_one_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let (mut store, _) = Store::open(&path).unwrap();
    let c = store.create_conversation("hello", "m", None).unwrap();
    add(&mut store, c, Role::User, "hello");
    store.connection().execute("UPDATE conversations SET title = CAST(X'ff00' AS TEXT)", []).unwrap();
    assert!(matches!(store.conversation(c), Err(StoreError::Corrupt { .. })), "text that is not UTF-8");
    assert!(matches!(store.create_conversation("more", "m", None), Err(StoreError::Corrupt { .. })));
    drop(store);
    assert!(Store::open(&path).unwrap().0.is_damaged(), "the next process knows");

    std::fs::rename(&path, dir.path().join("old.sqlite3")).unwrap();
    let (mut store, _) = Store::open(&path).unwrap();
    assert!(!store.is_damaged(), "a new file in its place is not the damaged one");
    let c = store.create_conversation("fresh", "m", None).unwrap();
    add(&mut store, c, Role::User, "works");
}

#[test]
fn recent_prompts_are_newest_first_each_once_without_pasted_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    let log = "x".repeat(geminal::store::RECALLED_PROMPT_MAX_BYTES + 1);
    for prompt in ["first", "second", log.as_str(), "first", "third"] {
        let id = store.create_conversation("t", "m", None).unwrap();
        let message = NewMessage {
            role: Role::User,
            text: prompt.into(),
            model: None,
            status: MessageStatus::Complete,
            cached: false,
        };
        store.add_message(id, &message).unwrap();
    }
    assert_eq!(store.recent_prompts(10).unwrap(), ["third", "first", "second"]);
    assert_eq!(store.recent_prompts(2).unwrap(), ["third", "first"]);
}

/// Two processes starting together on a new file both switch it to WAL; SQLite answers the one
/// that finds the file reserved by the other with "database is locked" at once, without
/// consulting the busy timeout. Opening waits instead (one `ask` of two started together on a new
/// database failed with exit 9 about once in fifteen runs on a loaded machine).
#[test]
fn opening_a_new_file_waits_while_another_connection_is_about_to_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    let opened = Store::open(&path);
    release.join().unwrap();
    let (store, _) = opened.unwrap();
    assert_eq!(pragma::<String>(store.connection(), "journal_mode"), "wal");
}

#[test]
fn spending_counts_this_utc_day_and_month_and_stats_group_answers_by_model_and_day() {
    let mut store = Store::open_in_memory().unwrap();
    let c = store.create_conversation("t", "gemini-flash-latest", None).unwrap();
    let conn = store.connection();
    let start_of_day: i64 = conn
        .query_row("SELECT CAST(strftime('%s', 'now', 'start of day') AS INTEGER) * 1000", [], |r| r.get(0))
        .unwrap();
    let start_of_month: i64 = conn
        .query_row("SELECT CAST(strftime('%s', 'now', 'start of month') AS INTEGER) * 1000", [], |r| r.get(0))
        .unwrap();
    let answer = |store: &mut Store, at: i64, cost: Option<i64>, priced_as: Option<&str>| {
        let id = add(store, c, Role::Model, "a");
        store
            .connection()
            .execute(
                "UPDATE messages SET created_at = ?2, cost_nanos = ?3, priced_as = ?4, prompt_tokens = 10,
                 model = 'gemini-flash-latest' WHERE id = ?1",
                rusqlite::params![id, at, cost, priced_as],
            )
            .unwrap();
        // Spending is counted in the ledger, beside the history.
        let spend = geminal::store::SpendEntry {
            model: "gemini-flash-latest".into(),
            priced_as: priced_as.map(str::to_owned),
            cost: cost.map(geminal::money::Usd::from_nanos),
            prompt_tokens: Some(10),
            ..Default::default()
        };
        store.record_spend(&spend).unwrap();
        store
            .connection()
            .execute("UPDATE spend_ledger SET at = ?1 WHERE id = (SELECT max(id) FROM spend_ledger)", [at])
            .unwrap();
    };
    answer(&mut store, start_of_day + 1, Some(3_000), Some("gemini:gemini-2.5-flash"));
    answer(&mut store, start_of_day - 1, Some(20_000), Some("gemini:gemini-2.5-pro"));
    answer(&mut store, start_of_month - 1, Some(500_000), Some("gemini:gemini-2.5-pro"));
    answer(&mut store, start_of_day + 2, None, None);
    let spent = store.spending().unwrap();
    if start_of_day == start_of_month {
        // The first day of a month: yesterday is last month.
        assert_eq!((spent.today.nanos(), spent.month.nanos()), (3_000, 3_000));
    } else {
        assert_eq!((spent.today.nanos(), spent.month.nanos()), (3_000, 23_000));
    }
    let stats = store.spend_stats(None).unwrap();
    let by_model: Vec<(&str, i64, i64, i64)> =
        stats.by_model.iter().map(|r| (r.group.as_str(), r.answers, r.cost_nanos, r.unknown)).collect();
    assert_eq!(
        by_model,
        [
            ("gemini:gemini-2.5-pro", 2, 520_000, 0),
            ("gemini:gemini-2.5-flash", 1, 3_000, 0),
            ("gemini-flash-latest", 1, 0, 1),
        ],
        "an answer of unknown price is counted under the model asked for"
    );
    assert_eq!(stats.by_day.first().map(|r| (r.cost_nanos, r.unknown)), Some((3_000, 1)), "today first");
}

/// Issue 20: `history rm 11` then a new `ask` gave the new conversation id 11, and a tab (or a
/// script) still holding 11 reached it. Released databases are rebuilt so that no id of a
/// conversation or a message is ever handed out twice, the highest one included (the case
/// plain rowids reuse), and everything that points at them by id still does.
#[test]
fn no_id_is_handed_out_twice_after_migrating_a_released_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_db(dir.path(), 14);
    let (mut store, _) = Store::open(&path).unwrap();
    let count = |store: &Store, sql: &str| -> i64 { store.connection().query_row(sql, [], |r| r.get(0)).unwrap() };
    // The rows keep their ids, and what points at them by id still finds them.
    assert_eq!(store.active_path(1).unwrap().iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(store.active_path(1).unwrap()[0].attachments.len(), 1, "the attachment of prompt 1");
    assert_eq!(store.active_path(2).unwrap().iter().map(|m| m.id).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(count(&store, "SELECT message_id FROM job_lines WHERE job_id = 1"), 2, "the job line's answer");
    let tabs: Vec<_> = store.open_tabs().unwrap().into_iter().map(|t| (t.conversation_id, t.active)).collect();
    assert_eq!(tabs, [(Some(2), true), (None, false)]);
    // Found by its title, by its answer (message 2) and by the other title: the indexes follow the rows.
    assert_eq!(title_hits(&store, "migrate"), [1]);
    assert_eq!(message_hits(&store, "follow food daylight"), [2]);
    assert_eq!(title_hits(&store, "cafe"), [2]);
    let check: String = store.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert_eq!(count(&store, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    assert_eq!(count(&store, "PRAGMA foreign_keys"), 1, "foreign keys are enforced again after the rebuild");
    store.connection().execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')", []).unwrap();
    store.connection().execute("INSERT INTO titles_fts(titles_fts) VALUES ('integrity-check')", []).unwrap();

    // Delete the newest conversation (holding the highest message ids too): its ids stay taken.
    assert!(store.delete_conversation(2).unwrap());
    assert_eq!(
        count(&store, "SELECT count(*) FROM messages WHERE conversation_id = 2"),
        0,
        "its messages went with it"
    );
    let next = store.create_conversation("a new one", "m", None).unwrap();
    assert_eq!(next, 3, "not 2 again");
    let prompt = add(&mut store, next, Role::User, "fresh question");
    assert_eq!(prompt, 5, "not 3 again");
    assert_eq!(message_hits(&store, "fresh"), [5]);
    assert_eq!(title_hits(&store, "cafe"), Vec::<i64>::new(), "the deleted title left the index");
    // The tab that showed conversation 2 (the active one) keeps its place, not the new conversation.
    let tabs: Vec<_> = store.open_tabs().unwrap().into_iter().map(|t| (t.conversation_id, t.active)).collect();
    assert_eq!(tabs, [(None, true), (None, false)]);
    // And again with the new highest: deleted, then never given again, also after reopening.
    assert!(store.delete_conversation(next).unwrap());
    drop(store);
    let (mut store, _) = Store::open(&path).unwrap();
    let again = store.create_conversation("another", "m", None).unwrap();
    assert_eq!(again, 4);
    assert_eq!(add(&mut store, again, Role::User, "another question"), 6);
    assert!(store.conversation(2).is_err() && store.conversation(3).is_err());
}

/// A released database's errors (sentences) stay readable after the upgrade to kind + detail,
/// and a new failure is stored as data only.
#[test]
fn old_error_sentences_survive_the_upgrade_and_new_failures_are_stored_as_data() {
    use geminal::error_data::{ErrorKind, StoredError};
    use geminal::format::stored_sentence;
    use geminal::gemini::ApiError;
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_db(dir.path(), 16);
    let old = "Gemini's rate limit was reached: wait 7s and try again, or lower the request rate.";
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE messages SET status = 'error', error = ?1 WHERE id = 2", [old]).unwrap();
        conn.execute(
            "INSERT INTO job_lines (job_id, key, line, input, state, error_kind, error_message)
             VALUES (1, '2', 2, '{}', 'failed', 'rate_limited', ?1)",
            [old],
        )
        .unwrap();
        conn.execute("UPDATE jobs SET error = 'not submitted: the input could not be read' WHERE id = 1", []).unwrap();
    }
    let (mut store, _) = Store::open(&path).unwrap();
    let message = store.messages(1).unwrap().into_iter().find(|m| m.id == 2).unwrap();
    assert_eq!(message.error, Some(StoredError::Legacy(old.to_owned())));
    assert_eq!(stored_sentence(message.error.as_ref().unwrap()), old);
    let failed = store.job_lines(1, Some("failed"), 0, 10).unwrap();
    assert_eq!(failed[0].error.as_ref().map(stored_sentence).as_deref(), Some(old), "{failed:?}");
    assert_eq!(failed[0].error.as_ref().and_then(StoredError::kind), None, "a legacy line keeps its text");
    assert_eq!(failed[0].error_kind.as_deref(), Some("rate_limited"));
    let job = store.job(1).unwrap().unwrap();
    assert_eq!(job.error, Some(StoredError::Legacy("not submitted: the input could not be read".to_owned())));

    // A new failure: kind and detail, no sentence.
    let error = ApiError::Server { status: 503, overloaded: true, retry_after: Some(Duration::from_secs(30)) };
    let id = add(&mut store, 1, Role::Model, "");
    let update = geminal::store::MessageUpdate {
        status: Some(MessageStatus::Error),
        error: Some(error.to_stored()),
        ..Default::default()
    };
    store.update_message(id, &update).unwrap();
    let row: (Option<String>, Option<String>, Option<String>) = store
        .connection()
        .query_row("SELECT error, error_kind, error_detail FROM messages WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(
        row,
        (
            None,
            Some("server".to_owned()),
            Some(r#"{"status":503,"retry_after_ms":30000,"overloaded":true}"#.to_owned())
        )
    );
    let message = store.messages(1).unwrap().into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(message.error.as_ref().and_then(StoredError::kind), Some(ErrorKind::Server));
    assert_eq!(stored_sentence(message.error.as_ref().unwrap()), error.to_string());
}

/// The history's version moves when another connection (another process) commits: what the
/// interface's open history browser watches to show what `geminal serve` saved.
#[test]
fn the_data_version_moves_when_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let (watcher, _) = geminal::store::Store::open(&path).unwrap();
    let (writer, _) = geminal::store::Store::open(&path).unwrap();
    let before = watcher.data_version().unwrap();
    assert_eq!(watcher.data_version().unwrap(), before, "nothing written: it stands");
    writer.create_conversation("served", "m", None).unwrap();
    assert_ne!(watcher.data_version().unwrap(), before);
}
