//! Search at a million messages (issue 22): 100,000 conversations of 10 messages (a question
//! of 10–60 words, an answer of 60–200), English-like text in which "the" is in ~95% of the
//! messages, and words planted at known rates so that each search below has the scale.
//!
//! * `search_rare_word` (`quokka`, in exactly 3 messages), `search_one_percent` (`kubernetes`,
//!   in 1% of the answers), `search_prefix` (`migr`, ~50,000), `search_the` (~950,000),
//!   `search_th_star` (`th*`), `search_phrase` (`"water time"`, a few hundred),
//!   `search_two_words` (`rust async`, ~3.5%): `Store::search` with the history's limit of 20.
//! * `list_conversations_20`: the page `geminal history` prints.
//! * `tui_startup_to_first_frame`: opening the database as `geminal` does, building the
//!   interface and drawing its first frame.
//!
//! The database (~1.3 GB) is built once and kept as `target/bench-history-1m/history.db`; it is
//! built again only when [`SEED_VERSION`] changes (or the file is missing). Building it takes
//! minutes. Opening it with a newer geminal upgrades its schema: the time that took is printed.
//! The path is printed too, for whole-process timing (`scripts/bench-search.sh`); only building
//! it, without measuring: `cargo bench --bench search_1m -- --list`.
//!
//! Run: `cargo bench --bench search_1m` (or `-- --quick` for a short run).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use geminal::store::{Store, StoreHandle};
use rusqlite::params;

mod history_text;
use history_text::{CONTENT_WORDS, FUNCTION_WORDS, Rng, sentences};

/// Bump when the generated history changes: the kept database is then built again.
const SEED_VERSION: u32 = 1;
const CONVERSATIONS: usize = 100_000;
const MESSAGES_PER_CONVERSATION: usize = 10;
const MESSAGES: usize = CONVERSATIONS * MESSAGES_PER_CONVERSATION;
const SEARCH_LIMIT: usize = 20;
const LIST_LIMIT: usize = 20;
const MODEL: &str = "gemini-flash-latest";

/// Content words beyond the shared vocabulary, drawn as often as any of it.
const MORE_CONTENT_WORDS: &[&str] = &["water", "rust"];

/// How often "the" is drawn for a function word, besides its share of the uniform draw: about
/// 6% of all words, as in English prose.
const THE_PERCENT: usize = 12;

/// Words planted at a known rate, each in a short sentence of its own: (1 in n messages, word).
const SPRINKLES: &[(usize, &str)] = &[
    (25, "migration"),   // ~40,000 messages
    (150, "migrations"), // ~6,700
    (300, "migrate"),    // ~3,300
    (600, "migrated"),   // ~1,700
];

/// In 1 in 100 answers (~5,000 messages).
const ONE_PERCENT_WORD: &str = "kubernetes";

/// In exactly these three messages (by insertion index): one old, one middle, one recent.
const RARE_WORD: &str = "quokka";
const RARE_MESSAGES: &[usize] = &[3_141, 500_001, 999_990];

/// The searches measured (label, query).
pub const SEARCHES: &[(&str, &str)] = &[
    ("search_rare_word", "quokka"),
    ("search_one_percent", "kubernetes"),
    ("search_prefix", "migr"),
    ("search_the", "the"),
    ("search_th_star", "th*"),
    ("search_phrase", "\"water time\""),
    ("search_two_words", "rust async"),
];

fn content_word(rng: &mut Rng) -> &'static str {
    let i = rng.below(CONTENT_WORDS.len() + MORE_CONTENT_WORDS.len());
    CONTENT_WORDS.get(i).copied().unwrap_or_else(|| MORE_CONTENT_WORDS[i - CONTENT_WORDS.len()])
}

/// A word of English-like text: 40% function words ("the" the most frequent), 60% content.
fn any_word(rng: &mut Rng) -> &'static str {
    if rng.below(10) >= 4 {
        content_word(rng)
    } else if rng.below(100) < THE_PERCENT {
        "the"
    } else {
        rng.pick(FUNCTION_WORDS)
    }
}

fn message_text(rng: &mut Rng, index: usize, answer: bool) -> String {
    let words = if answer { rng.between(60, 200) } else { rng.between(10, 60) };
    let mut text = sentences(rng, words, any_word);
    for &(n, word) in SPRINKLES {
        if rng.one_in(n) {
            text.push_str(" About the ");
            text.push_str(word);
            text.push('.');
        }
    }
    if answer && rng.one_in(100) {
        text.push_str(" Deploy it with ");
        text.push_str(ONE_PERCENT_WORD);
        text.push('.');
    }
    if RARE_MESSAGES.contains(&index) {
        text.push_str(" A ");
        text.push_str(RARE_WORD);
        text.push_str(" smiles.");
    }
    text
}

/// Fills a freshly opened store.
fn seed(store: &Store) -> rusqlite::Result<()> {
    const MODELS: &[&str] = &["gemini-flash-latest", "gemini-2.5-pro", "gemini-2.5-flash"];
    let mut rng = Rng(0x0100_0000_5EED);
    // Three years of history ending an hour ago.
    let end = geminal::store::now_ms() - 3_600_000;
    let span: i64 = 3 * 365 * 24 * 3_600_000;
    let step = span / CONVERSATIONS as i64;
    let start = end - span;
    let conn = store.connection();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    {
        let mut add_conversation = conn.prepare(
            "INSERT INTO conversations (title, model, system_prompt, created_at, updated_at)
             VALUES (?1, ?2, NULL, ?3, ?4)",
        )?;
        let mut add_message = conn.prepare(
            "INSERT INTO messages (conversation_id, role, text, model, status, cached, created_at, parent_id)
             VALUES (?1, ?2, ?3, ?4, 'complete', 0, ?5, ?6)",
        )?;
        let mut set_head = conn.prepare("UPDATE conversations SET head_id = ?2 WHERE id = ?1")?;
        let mut index = 0;
        for c in 0..CONVERSATIONS {
            let created = start + c as i64 * step + rng.below(600_000) as i64;
            let gaps: Vec<i64> = (0..MESSAGES_PER_CONVERSATION).map(|_| rng.between(20_000, 180_000) as i64).collect();
            let updated = created + gaps.iter().sum::<i64>();
            let model = rng.pick(MODELS);
            let title_words = rng.between(3, 9);
            let title = geminal::store::title_from(&sentences(&mut rng, title_words, any_word));
            add_conversation.execute(params![title, model, created, updated])?;
            let id = conn.last_insert_rowid();
            let mut at = created;
            let mut parent: Option<i64> = None;
            for (i, gap) in gaps.iter().enumerate() {
                let answer = i % 2 == 1;
                let text = message_text(&mut rng, index, answer);
                let (role, message_model) = if answer { ("model", Some(model)) } else { ("user", None) };
                add_message.execute(params![id, role, text, message_model, at, parent])?;
                parent = Some(conn.last_insert_rowid());
                at += gap;
                index += 1;
            }
            set_head.execute(params![id, parent])?;
            if (c + 1) % 10_000 == 0 {
                eprintln!("search_1m: seeded {} of {MESSAGES} messages", index);
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    // As after a normal session: statistics for the planner, WAL folded into the file.
    conn.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(&name).map(|m| m.len()).unwrap_or(0)
        })
        .sum()
}

/// The kept database, built first when missing or of another [`SEED_VERSION`].
fn kept_database() -> PathBuf {
    let dir = target_dir().join("bench-history-1m");
    let path = dir.join("history.db");
    let version_file = dir.join("seed-version");
    let current = std::fs::read_to_string(&version_file).ok().and_then(|v| v.trim().parse::<u32>().ok());
    if current == Some(SEED_VERSION) && path.is_file() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the bench directory is made");
    // Built under another name, so that an interrupted build is never taken for a whole one.
    let building = dir.join("building.db");
    let seeding = Instant::now();
    {
        let (store, _) = Store::open(&building).expect("the store opens");
        seed(&store).expect("the database seeds");
    }
    std::fs::rename(&building, &path).expect("the built database is kept");
    std::fs::write(&version_file, format!("{SEED_VERSION}\n")).expect("the seed version is written");
    eprintln!(
        "search_1m: built {CONVERSATIONS} conversations, {MESSAGES} messages in {:.1} s; database {:.2} GB",
        seeding.elapsed().as_secs_f64(),
        file_size(&path) as f64 / 1e9
    );
    path
}

fn count(store: &Store, sql: &str, query: &str) -> i64 {
    store.connection().query_row(sql, [query], |r| r.get(0)).expect("a count query runs")
}

fn history_1m(c: &mut Criterion) {
    let path = kept_database();
    eprintln!("search_1m: the database is {} ({:.2} GB)", path.display(), file_size(&path) as f64 / 1e9);
    let before = Store::open_read_only(&path).ok().map(|_| ());
    let opening = Instant::now();
    let (store, _) = Store::open(&path).expect("the store opens");
    if before.is_none() {
        // Only an older schema keeps a read-only open from working: this open upgraded it.
        eprintln!("search_1m: schema upgraded on opening in {:.1} s", opening.elapsed().as_secs_f64());
    }
    let messages: i64 = store.connection().query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap();
    assert_eq!(messages, MESSAGES as i64);
    for (label, query) in SEARCHES {
        let hits = store.search(query, SEARCH_LIMIT).expect("the search runs");
        assert!(!hits.is_empty(), "{query} finds something");
        let expr = geminal_expr(query);
        let matched = count(&store, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1", &expr);
        eprintln!("search_1m: {label} ({query}) matches {matched} messages");
    }
    let rare = store.search(RARE_WORD, SEARCH_LIMIT).expect("the search runs");
    assert_eq!(rare.len(), RARE_MESSAGES.len(), "the rare word is in three conversations");

    let mut group = c.benchmark_group("history_1m");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.bench_function("list_conversations_20", |b| {
        b.iter(|| {
            let page = store.list_conversations(LIST_LIMIT, 0).expect("the list loads");
            assert_eq!(page.len(), LIST_LIMIT);
            page
        })
    });
    for (label, query) in SEARCHES {
        group.bench_function(*label, |b| {
            b.iter(|| {
                let hits = store.search(black_box(query), SEARCH_LIMIT).expect("the search runs");
                assert!(!hits.is_empty());
                hits
            })
        });
    }
    drop(store);
    group.bench_function("tui_startup_to_first_frame", |b| {
        b.iter(|| {
            let (store, _) = Store::open(&path).expect("the store opens again");
            let handle = StoreHandle::spawn(store).expect("the store thread starts");
            let mut app = geminal::tui::app::App::new(MODEL, false);
            let mut terminal =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("a test terminal");
            geminal::tui::draw(&mut terminal, &mut app).expect("the first frame draws");
            black_box(handle)
        })
    });
    group.finish();
}

/// The FTS5 expression for a query as the user types it, for counting its matches: the same
/// words, each a prefix as a plain word is (stemming aside, which changes none of these).
fn geminal_expr(query: &str) -> String {
    if query.starts_with('"') || query.ends_with('*') {
        return query.to_owned();
    }
    query.split_whitespace().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" AND ")
}

criterion_group!(benches, history_1m);
criterion_main!(benches);
