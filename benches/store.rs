//! History-store benchmarks on a large database: 200,000 messages over 5,000 conversations
//! (one of them 5,000 messages long; ten of the messages are 10 MB pasted logs) and 10,000
//! cached answers.
//!
//! Targets (from the issues): listing, search and opening a long conversation each ≤ 20 ms,
//! whatever the size of the messages searched; a cache hit ≤ 2 ms; saving while searches run
//! no slower than saving alone.
//!
//! * `list_conversations_50`: the first page of the history list.
//! * `fts_search_*`: full-text search (limit 20) for a common word, a rare word, a prefix and a
//!   two-word phrase, plus a near-universal word as a worst case, and words and a phrase found
//!   only in (all ten of) the 10 MB messages.
//! * `open_5000_message_conversation`: `conversation(id)` + `active_path(id)` (the branch shown).
//! * `tui_startup_to_first_frame`: opening this database as `geminal` does, building the
//!   interface and drawing its first frame (target ≤ 100 ms).
//! * `cache_hit_store`: `Store::cache_get` for a present key (a read plus its LRU update).
//! * `cache_hit_session_*`: a whole cache-hit turn through `ChatSession` (prepare + run) with the
//!   store on its own thread: `warm` answers from the session's memory layer, `cold` uses a new
//!   session each time so the answer comes from SQLite; `save` also writes the turn to history
//!   as a real `ask` does, `nosave` does not.
//! * `save_answer_idle` / `save_answer_during_searches`: saving a question and its answer
//!   through the `StoreHandle` (as a turn does), alone and while another thread searches the
//!   10 MB messages without pause.
//!
//! The database is seeded once per run in a temporary directory (seeding takes a while; its
//! time and the file size are printed). Set `GEMINAL_BENCH_KEEP_DB=<path>` to keep a copy of
//! the seeded database there for inspection.
//!
//! Set `GEMINAL_BENCH_REUSE_DB=<path>` to start from such a copy instead of seeding again.
//!
//! Run: `cargo bench --bench store` (or `-- --quick` for a short run).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use geminal::chat::Role;
use geminal::chat::{ChatOptions, ChatSession, Shown, Target, TurnEvent, TurnReport};
use geminal::engine::{Engine, EngineConfig};
use geminal::gemini::fake::{Behavior, FakeGemini, FakeOptions};
use geminal::gemini::{Client, ClientOptions, Timeouts};
use geminal::store::{CachedAnswer, MessageStatus, NewMessage, Store, StoreHandle};
use rusqlite::params;

mod history_text;
use history_text::{CONTENT_WORDS, FUNCTION_WORDS, Rng, sentences};

const CONVERSATIONS: usize = 5_000;
const MESSAGES: usize = 200_000;
/// Messages in the one long conversation.
const LONG_CONVERSATION_MESSAGES: usize = 5_000;
/// Messages in each of the other 4,999 conversations. 195,000 / 4,999 is not whole: the first
/// 39 of them get one more (39 × 40 + 4,960 × 39 = 195,000).
const OTHER_CONVERSATION_MESSAGES: usize = 39;
/// Which conversation (1-based, in insertion order) is the long one.
const LONG_CONVERSATION_INDEX: usize = 2_500;
const CACHE_ENTRIES: usize = 10_000;
const SEARCH_LIMIT: usize = 20;
const MODEL: &str = "gemini-flash-latest";
const CACHED_PROMPT: &str = "How do I benchmark a SQLite history database in Rust?";

/// Rarer words, each put into a known fraction of messages so searches have between one and
/// thousands of hits. (`1 in n` messages, word.)
const SPRINKLES: &[(usize, &str)] = &[
    (40, "migration"),     // ~5,000 messages
    (150, "migrations"),   // ~1,300
    (300, "migrate"),      // ~670
    (600, "migrated"),     // ~330
    (200, "ownership"),    // ~1,000
    (1_000, "sqlite"),     // ~200
    (4_000, "café"),       // ~50
    (20_000, "naïve"),     // ~10
    (50_000, "zeitgeist"), // ~4
];

/// The one message that contains "Привет" (index in insertion order).
const PRIVET_MESSAGE: usize = 123_457;

/// Ten messages (by insertion index) are 10 MB logs pasted as prompts.
const HUGE_EVERY: usize = 20_000;
const HUGE_OFFSET: usize = 4_321;
const HUGE_BYTES: usize = 10_000_000;

fn is_huge(index: usize) -> bool {
    index % HUGE_EVERY == HUGE_OFFSET
}

/// A 10 MB "log": ordinary words (so common searches match it too) in lines that repeat a
/// lorem-ipsum trace, the kind of text a user pastes.
fn huge_text(rng: &mut Rng) -> String {
    let mut text = String::with_capacity(HUGE_BYTES + 4_096);
    let mut line = 0;
    while text.len() < HUGE_BYTES {
        line += 1;
        let words = rng.between(8, 20);
        text.push_str(&format!("[{line:07}] lorem ipsum dolor sit amet: "));
        text.push_str(&message_text(rng, words, usize::MAX));
        text.push('\n');
    }
    text
}

/// One message of `words` words in sentences of 6–18 words.
fn message_text(rng: &mut Rng, words: usize, index: usize) -> String {
    let mut text =
        sentences(rng, words, |rng| if rng.below(10) < 4 { rng.pick(FUNCTION_WORDS) } else { rng.pick(CONTENT_WORDS) });
    for &(n, word) in SPRINKLES {
        if rng.one_in(n) {
            text.push_str(" About the ");
            text.push_str(word);
            text.push('.');
        }
    }
    // A fixed phrase for the phrase search (~1 in 500 messages).
    if rng.one_in(500) {
        text.push_str(" The borrow checker rejects this because of ownership rules.");
    }
    if index == PRIVET_MESSAGE {
        text.push_str(" Привет, мир!");
    }
    text
}

/// Number of messages of the conversation at `index` (1-based, in insertion order).
fn messages_in(index: usize) -> usize {
    if index == LONG_CONVERSATION_INDEX {
        LONG_CONVERSATION_MESSAGES
    } else if index <= (MESSAGES - LONG_CONVERSATION_MESSAGES) % (CONVERSATIONS - 1) {
        OTHER_CONVERSATION_MESSAGES + 1
    } else {
        OTHER_CONVERSATION_MESSAGES
    }
}

struct Seeded {
    long_conversation: i64,
    cache_key: Vec<u8>,
}

/// Fills a freshly opened store; returns the long conversation's id and a cached key.
fn seed(store: &Store) -> rusqlite::Result<Seeded> {
    const MODELS: &[&str] = &["gemini-flash-latest", "gemini-2.5-pro", "gemini-2.5-flash"];
    let mut rng = Rng(0x5EED_0F6E_4D1A);
    // Two years of history ending an hour ago, one conversation every ~3.5 hours.
    let end = geminal::store::now_ms() - 3_600_000;
    let span: i64 = 2 * 365 * 24 * 3_600_000;
    let step = span / CONVERSATIONS as i64;
    let start = end - span;

    let conn = store.connection();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut long_conversation = 0;
    let mut cache_key = Vec::new();
    {
        let mut add_conversation = conn.prepare(
            "INSERT INTO conversations (title, model, system_prompt, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut add_message = conn.prepare(
            "INSERT INTO messages (conversation_id, role, text, model, status, cached, created_at, parent_id)
             VALUES (?1, ?2, ?3, ?4, 'complete', ?5, ?6, ?7)",
        )?;
        let mut set_head = conn.prepare("UPDATE conversations SET head_id = ?2 WHERE id = ?1")?;
        let mut message_index = 0;
        for index in 1..=CONVERSATIONS {
            let count = messages_in(index);
            let created = start + (index as i64 - 1) * step + rng.below(600_000) as i64;
            // 20 s–3 min between messages: about an hour per short conversation.
            let gaps: Vec<i64> = (0..count).map(|_| rng.between(20_000, 180_000) as i64).collect();
            let updated = created + gaps.iter().sum::<i64>();
            let model = rng.pick(MODELS);
            let system = rng.one_in(10).then_some("You are a concise assistant.");
            let title_words = rng.between(3, 9);
            let title = geminal::store::title_from(&message_text(&mut rng, title_words, usize::MAX));
            add_conversation.execute(params![title, model, system, created, updated])?;
            let id = conn.last_insert_rowid();
            if index == LONG_CONVERSATION_INDEX {
                long_conversation = id;
            }
            let mut at = created;
            let mut parent: Option<i64> = None;
            for (i, gap) in gaps.iter().enumerate() {
                let user = i % 2 == 0;
                let words = if user { rng.between(20, 60) } else { rng.between(40, 120) };
                let text = if is_huge(message_index) {
                    huge_text(&mut rng)
                } else {
                    message_text(&mut rng, words, message_index)
                };
                let (role, message_model, cached) =
                    if user { ("user", None, false) } else { ("model", Some(model), rng.one_in(50)) };
                add_message.execute(params![id, role, text, message_model, cached, at, parent])?;
                parent = Some(conn.last_insert_rowid());
                at += gap;
                message_index += 1;
            }
            set_head.execute(params![id, parent])?;
        }
        assert_eq!(message_index, MESSAGES, "the message count is exact");

        // The answer cache, filled directly (cache_put evicts on every call, which is slow to
        // repeat 10,000 times and not what is being measured).
        let mut add_answer = conn.prepare(
            "INSERT INTO answer_cache (key, model, text, prompt_tokens, output_tokens, created_at, last_used_at, hits)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for i in 0..CACHE_ENTRIES {
            let key: Vec<u8> = (0..4).flat_map(|_| rng.next().to_le_bytes()).collect();
            let words = rng.between(40, 120);
            let text = message_text(&mut rng, words, usize::MAX);
            let created = end - rng.below(90 * 24 * 3_600_000) as i64;
            let used = created + rng.below(3_600_000) as i64;
            add_answer.execute(params![
                key,
                rng.pick(MODELS),
                text,
                rng.between(10, 2_000) as i64,
                words as i64 * 4 / 3,
                created,
                used,
                rng.below(5) as i64
            ])?;
            if i == CACHE_ENTRIES / 2 {
                cache_key = key;
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    // As after a normal session: statistics for the planner, WAL folded into the file.
    conn.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(Seeded { long_conversation, cache_key })
}

/// What `seed` returns, read back from a database it seeded earlier.
fn reseeded(store: &Store) -> Seeded {
    let conn = store.connection();
    let long_conversation = conn
        .query_row(
            "SELECT conversation_id FROM messages GROUP BY conversation_id HAVING count(*) = ?1",
            [LONG_CONVERSATION_MESSAGES as i64],
            |r| r.get(0),
        )
        .expect("the long conversation is there");
    let cache_key = conn
        .query_row("SELECT key FROM answer_cache ORDER BY key LIMIT 1 OFFSET ?1", [CACHE_ENTRIES as i64 / 2], |r| {
            r.get(0)
        })
        .expect("the cached key is there");
    Seeded { long_conversation, cache_key }
}

fn file_size(path: &Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        total += std::fs::metadata(&name).map(|m| m.len()).unwrap_or(0);
    }
    total
}

fn count(store: &Store, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).expect("a count query runs")
}

/// Prints the query plan of `sql` (the same SQL as the store's, for the report).
fn explain(store: &Store, label: &str, sql: &str, params: &[&dyn rusqlite::ToSql]) {
    let conn = store.connection();
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("the plan prepares");
    let rows: Vec<String> =
        stmt.query_map(params, |r| r.get::<_, String>(3)).and_then(|rows| rows.collect()).expect("the plan runs");
    eprintln!("plan of {label}: {}", rows.join(" | "));
}

/// The searches measured, with the number of messages each matches.
const SEARCHES: &[(&str, &str)] = &[
    ("fts_search_common_word", "function"),
    ("fts_search_rare_word", "sqlite"),
    ("fts_search_prefix", "migrat*"),
    ("fts_search_phrase", "\"borrow checker\""),
    ("fts_search_very_common_word", "the"),
    // What the history browser searches after the first two keystrokes (a 2-letter prefix).
    ("fts_search_two_letters", "th*"),
    // Found only in the ten 10 MB messages (every hit is a huge one).
    ("fts_search_huge_messages_word", "lorem"),
    ("fts_search_huge_messages_phrase", "\"ipsum dolor\""),
];

fn session(engine: &Engine, handle: &StoreHandle, save: bool) -> ChatSession {
    ChatSession::new(engine.clone(), Some(handle.clone()), ChatOptions { save, ..ChatOptions::default() })
}

async fn turn(session: &ChatSession) -> TurnReport {
    let prepared =
        session.prepare(Target::New, CACHED_PROMPT.to_owned(), None, MODEL, None).await.expect("the turn prepares");
    let mut shown = 0;
    let mut show = |shown_now: Shown| {
        if let Shown::Text(t) = shown_now {
            shown += t.len();
        }
    };
    session.run(prepared, &mut show, std::future::pending::<TurnEvent>()).await
}

fn assert_hit(report: &TurnReport) {
    assert!(report.cached, "the answer must come from the cache: {:?}", report.outcome);
    assert!(report.save_error.is_none(), "{:?}", report.save_error);
}

fn history_200k(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("history.db");
    // A copy kept by an earlier run (GEMINAL_BENCH_KEEP_DB) spares the minute of seeding.
    let reuse = std::env::var_os("GEMINAL_BENCH_REUSE_DB");
    if let Some(copy) = &reuse {
        std::fs::copy(copy, &path).expect("the kept database copies");
    }
    let (store, _) = Store::open(&path).expect("the store opens");

    let seeding = Instant::now();
    let seeded = if reuse.is_some() { reseeded(&store) } else { seed(&store).expect("the database seeds") };
    eprintln!(
        "store: seeded {CONVERSATIONS} conversations, {MESSAGES} messages, {CACHE_ENTRIES} cached answers in {:.1} s; database {:.1} MB",
        seeding.elapsed().as_secs_f64(),
        file_size(&path) as f64 / 1e6
    );
    assert_eq!(count(&store, "SELECT count(*) FROM messages"), MESSAGES as i64);
    assert_eq!(count(&store, "SELECT count(*) FROM conversations"), CONVERSATIONS as i64);
    let huge =
        count(&store, &format!("SELECT count(*) FROM messages WHERE length(CAST(text AS BLOB)) >= {HUGE_BYTES}"));
    assert_eq!(huge, 10, "ten 10 MB messages");
    for (label, query) in SEARCHES {
        let hits: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1", [query], |r| r.get(0))
            .expect("the count runs");
        eprintln!("store: {label} ({query}) matches {hits} messages");
        assert!(hits >= 1, "{query} must match something");
    }
    if let Some(keep) = std::env::var_os("GEMINAL_BENCH_KEEP_DB") {
        // A copy of the seeded database, for poking at with the sqlite3 shell.
        let _ = std::fs::remove_file(&keep);
        store
            .connection()
            .execute("VACUUM INTO ?1", [Path::new(&keep).to_string_lossy()])
            .expect("the copy is written");
        eprintln!("store: kept a copy of the seeded database as {}", Path::new(&keep).display());
    }
    let privet = store.search("Привет", SEARCH_LIMIT).expect("search runs");
    assert_eq!(privet.len(), 1, "exactly one message says Привет");

    let mut group = c.benchmark_group("history_200k");
    group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));

    group.bench_function("list_conversations_50", |b| {
        b.iter(|| {
            let page = store.list_conversations(50, 0).expect("the list loads");
            assert_eq!(page.len(), 50);
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

    // What `geminal` does before its first frame: open the database (version check, recovery of
    // interrupted answers), start its thread, build the interface and draw it.
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

    let long = seeded.long_conversation;
    group.bench_function("open_5000_message_conversation", |b| {
        b.iter(|| {
            let conversation = store.conversation(black_box(long)).expect("it exists");
            let messages = store.active_path(long).expect("its messages load");
            assert_eq!(messages.len(), LONG_CONVERSATION_MESSAGES);
            (conversation, messages)
        })
    });

    group.bench_function("cache_hit_store", |b| {
        b.iter(|| {
            // No time to live: the seeded entries are up to 90 days old.
            store.cache_get(black_box(&seeded.cache_key), None).expect("the lookup runs").expect("the key is cached")
        })
    });

    // For the report: how the slow candidates are planned.
    explain(
        &store,
        "list_conversations",
        "SELECT c.id, c.title, c.model, c.updated_at,
                (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
         FROM conversations c ORDER BY c.updated_at DESC, c.id DESC LIMIT 50 OFFSET 0",
        &[],
    );
    explain(
        &store,
        "search",
        "SELECT id FROM (SELECT rowid AS id, rank FROM messages_fts WHERE messages_fts MATCH ?1
                         ORDER BY rowid DESC LIMIT 2000)
         ORDER BY rank LIMIT ?2",
        &[&"function", &(SEARCH_LIMIT as i64)],
    );

    // Whole turns through ChatSession, with the store on its own thread as in the app. One
    // real turn against the fake server puts the answer in the cache first.
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let fake = rt
        .block_on(FakeGemini::start(
            FakeOptions::default(),
            Behavior::text("Use criterion, seed a temp database once, and time each query."),
        ))
        .expect("the fake server starts");
    let client = Client::new(ClientOptions {
        base_url: fake.base_url(),
        api_key: Some(secrecy::SecretString::from("k")),
        timeouts: Timeouts::default(),
    })
    .expect("the client builds");
    let engine = Engine::new(client, EngineConfig::default());
    let handle = StoreHandle::spawn(store).expect("the store thread starts");
    let primer = session(&engine, &handle, true);
    let first = rt.block_on(turn(&primer));
    assert!(!first.cached, "the first turn asks the fake server");
    assert!(first.save_error.is_none() && !first.text.is_empty(), "{first:?}");
    let cached: Option<CachedAnswer> = rt.block_on(async {
        let key = geminal::chat::cache_key(
            &ChatOptions::default().cache_namespace,
            &geminal::chat::Turn::new(MODEL, CACHED_PROMPT),
        );
        handle.call(move |s| s.cache_get(&key, None)).await.expect("the lookup runs")
    });
    assert_eq!(cached.map(|a| a.text), Some(first.text.clone()), "the first turn cached its answer");

    for save in [false, true] {
        let suffix = if save { "save" } else { "nosave" };
        let warm = session(&engine, &handle, save);
        assert_hit(&rt.block_on(turn(&warm)));
        group.bench_function(format!("cache_hit_session_warm_{suffix}"), |b| {
            b.iter(|| {
                let report = rt.block_on(turn(&warm));
                assert_hit(&report);
                report
            })
        });
        group.bench_function(format!("cache_hit_session_cold_{suffix}"), |b| {
            b.iter_batched(
                || session(&engine, &handle, save),
                |cold| {
                    let report = rt.block_on(turn(&cold));
                    assert_hit(&report);
                    (report, cold)
                },
                BatchSize::SmallInput,
            )
        });
    }
    // Saving while searches run: the reader thread searches the huge messages without pause
    // while the writer saves a question and its answer.
    let conversation = rt
        .block_on(handle.call(|s| s.create_conversation("saving during searches", MODEL, None)))
        .expect("a conversation for the saves");
    let save = |handle: &StoreHandle| {
        let handle = handle.clone();
        async move {
            handle
                .call(move |s| {
                    let question = NewMessage {
                        role: Role::User,
                        text: "A question typed while a search runs.".into(),
                        model: None,
                        status: MessageStatus::Complete,
                        cached: false,
                    };
                    s.add_message(conversation, &question)?;
                    let answer = NewMessage { role: Role::Model, text: "Its answer.".into(), ..question };
                    s.add_message(conversation, &answer)
                })
                .await
                .expect("the save lands")
        }
    };
    group.bench_function("save_answer_idle", |b| b.iter(|| rt.block_on(save(&handle))));
    let searching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let searches_done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let searcher = std::thread::spawn({
        let (handle, searching, done) = (handle.clone(), searching.clone(), searches_done.clone());
        move || {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            while searching.load(std::sync::atomic::Ordering::Relaxed) {
                let hits = rt.block_on(handle.search("lorem".into(), SEARCH_LIMIT)).expect("the search runs");
                assert_eq!(hits.len(), 10);
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    group.bench_function("save_answer_during_searches", |b| b.iter(|| rt.block_on(save(&handle))));
    searching.store(false, std::sync::atomic::Ordering::Relaxed);
    searcher.join().expect("the searching thread ends");
    eprintln!(
        "store: {} searches of the 10 MB messages ran during save_answer_during_searches",
        searches_done.load(std::sync::atomic::Ordering::Relaxed)
    );
    group.finish();

    let conversations = rt.block_on(handle.call(|s| {
        s.connection()
            .query_row("SELECT count(*) FROM conversations", [], |r| r.get::<_, i64>(0))
            .map_err(|e| geminal::store::StoreError::from_sqlite(Path::new("bench"), e))
    }));
    eprintln!(
        "store: after the session benchmarks: {} conversations, database {:.1} MB",
        conversations.map_or_else(|e| e.to_string(), |n| n.to_string()),
        file_size(&path) as f64 / 1e6
    );
    drop(handle);
    drop(fake);
}

criterion_group!(benches, history_200k);
criterion_main!(benches);
