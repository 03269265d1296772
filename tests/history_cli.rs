//! `ask` with history, `history` and `stats` as a user runs them, against the fake.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::process::{Env, Run, finish, wait_bounded};
use geminal::gemini::fake::Behavior;

fn db(env: &Env) -> PathBuf {
    env.home.path().join("data/geminal/history.sqlite3")
}

fn conn(env: &Env) -> rusqlite::Connection {
    rusqlite::Connection::open(db(env)).unwrap()
}

fn router_by_prompt(env: &Env) {
    env.fake.set_router(|r| {
        let prompt = r.prompt();
        let answer =
            if prompt.contains("bird") { "Birds migrate to follow food and daylight." } else { "A plain answer." };
        Some(Behavior::text(format!("{answer} (to: {prompt})")).with_chunks(3))
    });
}

fn no_escapes(run: &Run) {
    for bad in ['\x1b', '\x07', '\u{9b}', '\u{202e}', '\u{200b}'] {
        assert!(!run.stdout.contains(bad) && !run.stderr.contains(bad), "{bad:?} reached the terminal: {run:?}");
    }
}

#[test]
fn asked_questions_can_be_listed_searched_shown_exported_and_removed() {
    let env = Env::new(Behavior::default());
    router_by_prompt(&env);
    for q in ["why do birds migrate?", "what is a monad?", "how far do birds fly?"] {
        assert_eq!(env.run(&["ask", q]).code, 0);
    }
    let list = env.run(&["history"]);
    assert_eq!(list.code, 0, "{list:?}");
    let rows: Vec<&str> = list.stdout.lines().collect();
    assert!(rows[0].contains("TITLE") && rows.len() == 4, "{list:?}");
    assert!(
        rows[1].contains("how far do birds fly?") && rows[3].contains("why do birds migrate?"),
        "newest first: {list:?}"
    );
    assert!(rows[1].contains("gemini-flash-latest") && rows[1].contains(" 2 "), "{list:?}");

    let search = env.run(&["history", "search", "migrat*"]);
    assert_eq!(search.code, 0, "{search:?}");
    assert!(search.stdout.contains("#1 why do birds migrate?"), "{search:?}");
    // One row per conversation, by its best match: #1 by its title, #3 by its answer.
    let rows: Vec<&str> = search.stdout.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(rows.len(), 2, "{search:?}");
    assert!(
        search.stdout.contains("    title: why do birds [migrate]?\n#3 how far do birds fly?")
            && search.stdout.contains("    gemini: Birds [migrate]"),
        "{search:?}"
    );
    let phrase = env.run(&["history", "search", "\"follow food\""]);
    assert_eq!(phrase.stdout.matches("gemini:").count(), 2, "{phrase:?}");
    let none = env.run(&["history", "search", "zebra"]);
    assert!(none.stdout.contains("Nothing matches"), "{none:?}");

    let show = env.run(&["history", "show", "1"]);
    assert_eq!(show.code, 0);
    assert!(show.stdout.starts_with("#1 why do birds migrate?\n"), "{show:?}");
    assert!(
        show.stdout.contains("── you ──\nwhy do birds migrate?\n")
            && show.stdout.contains("── gemini-flash-latest · $0.0")
            && show.stdout.contains(" ──\nBirds migrate"),
        "{show:?}"
    );

    let md = env.run(&["history", "export", "1", "--format", "md"]);
    assert!(
        md.stdout.starts_with("# why do birds migrate?\n")
            && md.stdout.contains("## You\n\nwhy do birds migrate?")
            && md.stdout.contains("## Gemini\n\nBirds"),
        "{md:?}"
    );
    let json = env.run(&["history", "export", "1", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["messages"].as_array().unwrap().len(), 2);
    assert_eq!(value["messages"][1]["status"], "complete");
    let file = env.home.path().join("out.md");
    let to_file = env.run(&["history", "export", "1", "-o", file.to_str().unwrap()]);
    assert_eq!((to_file.code, to_file.stdout.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), md.stdout);

    env.run(&["history", "rm", "1"]).assert_failed(2, "--yes");
    let rm = env.run(&["history", "rm", "1", "--yes"]);
    assert_eq!(rm.code, 0, "{rm:?}");
    assert_eq!(env.run(&["history"]).stdout.lines().count(), 3);
    env.run(&["history", "show", "1"]).assert_failed(2, "no conversation 1");
    let left: i64 =
        conn(&env).query_row("SELECT count(*) FROM messages WHERE conversation_id = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0, "messages go with their conversation");
}

#[test]
fn search_takes_code_words_and_punctuation_as_typed() {
    let env = Env::new(Behavior::default());
    router_by_prompt(&env);
    assert_eq!(env.run(&["ask", "is a use-after-free in c++ undefined? I don't know"]).code, 0);
    assert_eq!(env.run(&["ask", "what is a monad?"]).code, 0);
    assert_eq!(env.run(&["ask", "what does the letter c stand for?"]).code, 0);
    for query in ["c++", "use-after-free", "don't"] {
        let run = env.run(&["history", "search", query]);
        assert_eq!(run.code, 0, "{query}: {run:?}");
        // One row per conversation: its title matched, so its prompt and answer are not listed too.
        assert!(run.stdout.starts_with("#1 is a use-after-free") && run.stdout.contains("    title: "), "{run:?}");
        assert_eq!(run.stdout.lines().count(), 2, "{query}: one conversation, one row: {run:?}");
        no_escapes(&run);
    }
    let plain = env.run(&["history", "search", "letter"]);
    assert_eq!(plain.stdout.lines().filter(|l| l.starts_with('#')).count(), 1, "prompt and answer: one row: {plain:?}");
    let c = env.run(&["history", "search", "c"]);
    assert!(c.stdout.contains("#1 ") && c.stdout.contains("#3 "), "{c:?}");
    for nothing in ["(", "*", "\"", "--", ":"] {
        let run = env.run(&["history", "search", "--", nothing]);
        assert_eq!((run.code, run.stdout.trim()), (0, format!("Nothing matches {nothing}.").as_str()), "{run:?}");
    }
    let plural = env.run(&["history", "search", "monads"]);
    assert!(plural.stdout.contains("#2 what is a monad?") && plural.stdout.contains("[monad]"), "{plural:?}");
}

#[test]
fn ask_can_continue_the_last_or_a_chosen_conversation() {
    let env = Env::new(Behavior::default());
    router_by_prompt(&env);
    env.run(&["ask", "why do birds migrate?"]);
    env.run(&["ask", "what is a monad?"]);
    assert_eq!(env.run(&["ask", "-c", "tell me more"]).code, 0);
    let last = env.fake.requests().last().unwrap().generate_request().unwrap();
    assert_eq!(last.contents.len(), 3);
    assert_eq!(last.contents[0].visible_text(), "what is a monad?");
    assert_eq!(env.run(&["ask", "--conversation", "1", "and then?"]).code, 0);
    let last = env.fake.requests().last().unwrap().generate_request().unwrap();
    assert_eq!(last.contents[0].visible_text(), "why do birds migrate?");
    assert_eq!(last.contents.len(), 3);
    env.run(&["ask", "--conversation", "99", "hi"]).assert_failed(2, "no conversation 99");
}

#[test]
fn a_repeated_question_comes_from_the_cache_and_stats_count_it() {
    let env = Env::new(Behavior::default());
    router_by_prompt(&env);
    let first = env.run(&["ask", "why do birds migrate?"]);
    let second = env.run(&["ask", "why do birds migrate?"]);
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(env.fake.generate_count(), 1);
    env.run(&["ask", "--no-cache", "why do birds migrate?"]);
    assert_eq!(env.fake.generate_count(), 2);
    env.run(&["ask", "--no-save", "unsaved question"]);
    let saved: i64 = conn(&env)
        .query_row("SELECT count(*) FROM conversations WHERE title = 'unsaved question'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(saved, 0);
    let stats = env.run(&["stats"]);
    assert_eq!(stats.code, 0, "{stats:?}");
    assert!(
        stats.stdout.contains("requests     4 (4 ok, 0 failed)") && stats.stdout.contains("cache hits   1 (25%)"),
        "{stats:?}"
    );
    assert!(
        stats.stdout.contains("latency      p50 ") && stats.stdout.contains("history      3 conversations, 6 messages"),
        "{stats:?}"
    );
    let json: serde_json::Value = serde_json::from_str(&env.run(&["stats", "--json"]).stdout).unwrap();
    assert_eq!((json["requests"].as_i64(), json["cache_hits"].as_i64()), (Some(4), Some(1)));
}

#[test]
fn hostile_text_stored_in_the_database_is_shown_harmlessly() {
    let env = Env::new(Behavior::text("fine"));
    env.run(&["ask", "seed"]);
    let evil = "hi \x1b]52;c;aGVsbG8=\x07 \x1b[2J \u{9b}31m \u{202e}gpj.exe \u{200b}x";
    conn(&env)
        .execute_batch(&format!(
            "UPDATE conversations SET title = '{0}'; INSERT INTO messages (conversation_id, role, text, status, created_at, parent_id) VALUES (1, 'model', '{0} evilword', 'complete', 0, 2); UPDATE conversations SET head_id = last_insert_rowid();",
            evil.replace('\'', "''")
        ))
        .unwrap();
    for args in [
        &["history"][..],
        &["history", "show", "1"],
        &["history", "search", "evilword"],
        &["history", "export", "1"],
        &["history", "export", "1", "--format", "json"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        no_escapes(&run);
    }
    assert!(env.run(&["history", "show", "1"]).stdout.contains("␛]52;c;aGVsbG8=␇"));
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["history", "export", "1", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["messages"][2]["text"], format!("{evil} evilword"), "JSON keeps the exact text, escaped");
    let file = env.home.path().join("raw.md");
    env.run(&["history", "export", "1", "-o", file.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&file).unwrap().contains("\x1b]52;"), "a file export stays raw");
}

#[test]
fn an_unclosed_quote_searches_and_a_bad_database_gets_one_clear_line() {
    let env = Env::new(Behavior::text("ok"));
    env.run(&["ask", "seed"]);
    let unclosed = env.run(&["history", "search", "\"seed"]);
    assert_eq!(unclosed.code, 0, "{unclosed:?}");
    assert!(unclosed.stdout.contains("title: [seed]") && unclosed.stderr.is_empty(), "{unclosed:?}");
    conn(&env).execute_batch("PRAGMA user_version = 42;").unwrap();
    env.run(&["ask", "hi"]).assert_failed(9, "newer geminal");
    env.run(&["history"]).assert_failed(9, "newer geminal");
    assert_eq!(env.fake.generate_count(), 1, "nothing is asked when history cannot be kept");
}

#[test]
fn a_damaged_database_is_set_aside_and_the_question_still_answered() {
    let env = Env::new(Behavior::text("still here"));
    std::fs::create_dir_all(db(&env).parent().unwrap()).unwrap();
    std::fs::write(db(&env), b"garbage, not sqlite".repeat(100)).unwrap();
    let run = env.run(&["ask", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "still here\n"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains("damaged") && run.stderr.contains(".corrupt-"), "{run:?}");
}

#[test]
fn two_processes_can_share_one_database() {
    let env = Env::new(Behavior::text("abcdefghij").with_chunks(10).with_chunk_delay(Duration::from_millis(60)));
    let spawn = |q: &str| env.command(&["ask", q]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (spawn("first"), spawn("second"));
    let (a, b) = (wait_bounded(a), wait_bounded(b));
    assert_eq!((a.code, a.stdout.as_str(), a.stderr.as_str()), (0, "abcdefghij\n", ""));
    assert_eq!((b.code, b.stdout.as_str(), b.stderr.as_str()), (0, "abcdefghij\n", ""));
    let complete: i64 = conn(&env)
        .query_row("SELECT count(*) FROM messages WHERE role = 'model' AND status = 'complete'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(complete, 2);
}

/// A pasted 10 MB log made `history search` run for over ten minutes (FTS5's `snippet()` reads
/// and tokenizes the whole text) and a question asked meanwhile waited behind it, unsaved.
/// Now a snippet reads a bounded start of the text, and searches run on a connection of their
/// own: the search returns (the benchmark `search_with_huge_messages` puts it in milliseconds)
/// and the question asked while it runs is saved.
#[test]
fn a_ten_megabyte_message_neither_slows_search_nor_delays_a_question() {
    let env = Env::new(Behavior::text("Noted.").with_chunks(1));
    let log = "lorem ipsum dolor sit amet ".repeat(400_000);
    assert!(log.len() > 10_000_000);
    // A model whose input limit the fake does not list: a listed one would refuse 2.7M tokens
    // before sending (and unsaved), as Gemini refuses them.
    let pasted = env.run_with_stdin(&["ask", "-m", "unlisted-model", "summarize this log"], &log);
    assert_eq!(pasted.code, 0, "{}", pasted.stderr);

    let spawn = |args: &[&str]| env.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let search = spawn(&["history", "search", "lorem"]);
    let question = spawn(&["ask", "a question asked meanwhile"]);
    let (search, question) = (wait_bounded(search), wait_bounded(question));
    assert_eq!((question.code, question.stdout.as_str()), (0, "Noted.\n"), "{question:?}");
    assert_eq!(search.code, 0, "{search:?}");
    assert!(search.stdout.contains("[lorem] ipsum dolor sit amet"), "the hit shows its passage: {search:?}");
    assert!(search.stdout.len() < 2_000, "a snippet, not the message: {} bytes", search.stdout.len());
    let saved: i64 = conn(&env)
        .query_row("SELECT count(*) FROM messages WHERE text = 'a question asked meanwhile'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(saved, 1);
}

#[test]
fn a_given_database_path_in_a_missing_directory_is_refused_not_created() {
    let env = Env::new(Behavior::text("ok"));
    let missing = env.home.path().join("no/such/dir");
    let path = missing.join("h.sqlite3");
    let run = env.run(&["--db", path.to_str().unwrap(), "ask", "hi"]);
    run.assert_failed(9, &format!("The directory {} for the history database does not exist", missing.display()));
    let by_env = finish(env.command(&["history"]).env("GEMINAL_DB", &path));
    by_env.assert_failed(9, "create it or choose another --db path");
    assert!(!env.home.path().join("no").exists(), "no directory was created");
    assert_eq!(env.fake.generate_count(), 0, "nothing is asked when history cannot be kept");
    assert_eq!(env.run(&["ask", "hi"]).code, 0, "the default data directory is still created");
    assert!(db(&env).is_file());
}

/// `geminal args` run with umask 000, so any file not made private on purpose is world-readable.
fn under_umask_000(env: &Env, args: &[&str]) -> std::process::Command {
    let plain = env.command(args);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg("umask 000; exec \"$0\" \"$@\"").arg(plain.get_program()).args(args).env_clear();
    for (key, value) in plain.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn side(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[cfg(unix)]
#[test]
fn history_files_are_private_whatever_the_umask() {
    let env = Env::new(Behavior::text("abcdefghij").with_chunks(10).with_chunk_delay(Duration::from_millis(80)));
    let child = under_umask_000(&env, &["ask", "hi"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (wal, shm) = (side(&db(&env), "-wal"), side(&db(&env), "-shm"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(wal.exists() && shm.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (wal_mode, shm_mode) = (mode(&wal), mode(&shm));
    let run = wait_bounded(child);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!((mode(&db(&env)), wal_mode, shm_mode), (0o600, 0o600, 0o600), "database, WAL and SHM");

    // An older database left readable by others is narrowed at open; its pre-upgrade backup too.
    let old = env.home.path().join("old.sqlite3");
    let sql = std::fs::read_to_string(format!("{}/tests/fixtures/schema_v1.sql", env!("CARGO_MANIFEST_DIR"))).unwrap();
    rusqlite::Connection::open(&old).unwrap().execute_batch(&sql).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = finish(&mut under_umask_000(&env, &["--db", old.to_str().unwrap(), "history"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("old.sqlite3.v1.bak"), "{run:?}");
    assert_eq!(mode(&old), 0o600);
    assert_eq!(mode(&env.home.path().join("old.sqlite3.v1.bak")), 0o600);
}

fn conversations_in(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT title FROM conversations ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn the_database_file_alone_holds_the_history_after_a_clean_exit() {
    let env = Env::new(Behavior::text("kept"));
    assert_eq!(env.run(&["ask", "seed"]).code, 0);
    assert_eq!(env.run(&["history", "search", "seed"]).code, 0);
    // Alone, the last connection to close (the writer's, after the reader's) removes the side files.
    assert!(!side(&db(&env), "-wal").exists() && !side(&db(&env), "-shm").exists(), "no -wal or -shm left");
    // Another program keeps the database open (a TUI, a second geminal, a viewer), so SQLite's
    // own checkpoint at the last close never happens.
    let other = conn(&env);
    other.query_row("SELECT count(*) FROM conversations", [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(env.run(&["ask", "why do birds migrate?"]).code, 0);
    let copy = env.home.path().join("copy.sqlite3");
    std::fs::copy(db(&env), &copy).unwrap();
    assert_eq!(conversations_in(&copy), ["seed", "why do birds migrate?"], "the main file alone");
    drop(other);
}

#[test]
fn history_backup_writes_a_private_standalone_copy_while_another_process_writes() {
    let env = Env::new(Behavior::text("abcdefghij").with_chunks(10).with_chunk_delay(Duration::from_millis(100)));
    env.fake.set_router(|r| (r.prompt() == "seed").then(|| Behavior::text("fast")));
    assert_eq!(env.run(&["ask", "seed"]).code, 0);
    let busy = env.command(&["ask", "slow one"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let streaming = || {
        conn(&env)
            .query_row("SELECT count(*) FROM messages WHERE status = 'streaming'", [], |r| r.get::<_, i64>(0))
            .unwrap()
            > 0
    };
    while !streaming() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let file = env.home.path().join("backup.sqlite3");
    let run = env.run(&["history", "backup", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("copied to"), "{run:?}");
    assert_eq!(wait_bounded(busy).code, 0);
    assert!(!side(&file, "-wal").exists() && !side(&file, "-journal").exists(), "one file");
    assert_eq!(conversations_in(&file), ["seed", "slow one"]);
    let check: String =
        rusqlite::Connection::open(&file).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);

    env.run(&["history", "backup", file.to_str().unwrap()]).assert_failed(2, "--force");
    let forced = env.run(&["history", "backup", "--force", file.to_str().unwrap()]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(conversations_in(&file).len(), 2);
    env.run(&["history", "backup", "--force", db(&env).to_str().unwrap()]).assert_failed(9, "history database itself");
}

#[test]
fn a_damaged_message_stops_writing_until_history_repair_keeps_what_can_be_read() {
    let env = Env::new(Behavior::text("an answer"));
    for q in ["first question", "second question"] {
        assert_eq!(env.run(&["ask", q]).code, 0);
    }
    {
        // Damage inside an otherwise healthy file: the first answer's text is no longer UTF-8.
        let c = conn(&env);
        c.execute("UPDATE messages SET text = CAST(X'616e20616e73776572ff' AS TEXT) WHERE id = 2", []).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    }
    assert_eq!(env.run(&["history"]).code, 0, "the list reads no message text");
    let damaged = "is damaged: run `geminal history repair` to keep what can still be read";
    env.run(&["history", "show", "1"]).assert_failed(9, damaged);
    let bytes = std::fs::read(db(&env)).unwrap();
    env.run(&["ask", "third question"]).assert_failed(9, damaged);
    env.run(&["history", "rm", "2", "--yes"]).assert_failed(9, damaged);
    assert_eq!(env.fake.generate_count(), 2, "nothing is asked when the answer cannot be kept");
    let show = env.run(&["history", "show", "2"]);
    assert!(show.code == 0 && show.stdout.contains("second question"), "what is healthy still reads: {show:?}");
    assert_eq!(std::fs::read(db(&env)).unwrap(), bytes, "nothing more was written into the damaged file");

    let repair = env.run(&["history", "repair"]);
    assert_eq!(repair.code, 0, "{repair:?}");
    assert!(
        repair.stdout.contains(
            "was damaged: kept 2 conversations and 3 messages; 1 message could not be read; the damaged file is kept as "
        ),
        "{repair:?}"
    );
    let kept: Vec<_> = std::fs::read_dir(db(&env).parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("history.sqlite3.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(kept[0].path()).unwrap(), bytes);
    let show = env.run(&["history", "show", "1"]);
    assert!(show.code == 0 && show.stdout.contains("first question"), "{show:?}");
    assert_eq!(env.run(&["ask", "-c", "third question"]).code, 0);
    assert_eq!(env.run(&["history"]).stdout.lines().count(), 3);
    let healthy = std::fs::read(db(&env)).unwrap();
    let again = env.run(&["history", "repair"]);
    assert_eq!(std::fs::read(db(&env)).unwrap(), healthy, "a healthy file is left as it is");
    assert_eq!(
        (again.code, again.stdout.trim_end()),
        (
            0,
            format!(
                "The history database {} is healthy (2 conversations and 5 messages): nothing to repair.",
                db(&env).display()
            )
            .as_str()
        ),
    );
}

#[test]
fn history_rename_changes_the_listed_and_searched_title() {
    let env = Env::new(Behavior::text("An answer."));
    assert_eq!(env.run(&["ask", "what is a monad?"]).code, 0);
    let run = env.run(&["history", "rename", "1", "Category", "theory\tnotes\n"]);
    assert_eq!(run.code, 0, "{run:?}");
    let list = env.run(&["history"]);
    assert!(list.stdout.lines().nth(1).is_some_and(|row| row.ends_with("Category theory notes")), "{list:?}");
    assert!(!list.stdout.contains("monad"), "{list:?}");
    let search = env.run(&["history", "search", "categ"]);
    assert!(search.code == 0 && search.stdout.contains("#1 Category theory notes"), "{search:?}");
    let old = env.run(&["history", "search", "monad"]);
    assert!(!old.stdout.contains("#1 what is a monad?"), "the old title is gone from the index: {old:?}");

    env.run(&["history", "rename", "99", "x"]).assert_failed(2, "99");
    env.run(&["history", "rename", "1", " "]).assert_failed(2, "empty");
    let missing = env.run(&["history", "rename", "1"]);
    assert_eq!(missing.code, 2, "{missing:?}");
}

/// Issue 20: deleting the newest conversation gave its id to the next one, so `--conversation`
/// with the old id (from a script, a note, another window) continued a stranger's conversation.
#[test]
fn a_deleted_conversation_id_is_never_given_again() {
    let env = Env::new(Behavior::text("ok"));
    for prompt in ["one", "two"] {
        assert_eq!(env.run(&["ask", prompt]).code, 0);
    }
    assert_eq!(env.run(&["history", "rm", "2", "--yes"]).code, 0);
    assert_eq!(env.run(&["ask", "three"]).code, 0);
    let ids: Vec<i64> = conn(&env)
        .prepare("SELECT id FROM conversations ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids, [1, 3], "not 2 again");
    let sent = env.generate_requests().len();
    env.run(&["ask", "--conversation", "2", "four"]).assert_failed(2, "There is no conversation 2");
    assert_eq!(env.generate_requests().len(), sent, "nothing was asked");
    let texts: Vec<String> = conn(&env)
        .prepare("SELECT text FROM messages WHERE conversation_id = 3 ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(texts, ["three", "ok"], "conversation 3 holds only its own");
}

#[cfg(unix)]
#[test]
fn an_export_never_replaces_a_file_follows_its_extension_and_is_private() {
    let env = Env::new(Behavior::text("Birds follow the food."));
    assert_eq!(env.run(&["ask", "why do birds migrate?"]).code, 0);
    let keep = env.home.path().join("keep.md");
    std::fs::write(&keep, "my own notes").unwrap();
    env.run(&["history", "export", "1", "-o", keep.to_str().unwrap()]).assert_failed(2, "add --force to replace it");
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "my own notes", "an existing file is left as it was");
    let forced = env.run(&["history", "export", "1", "--force", "-o", keep.to_str().unwrap()]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(std::fs::read_to_string(&keep).unwrap().starts_with("# why do birds migrate?\n"));

    // The format follows the extension unless --format says otherwise; the file is 0600 whatever the umask.
    let json = env.home.path().join("x.json");
    let run = finish(&mut under_umask_000(&env, &["history", "export", "1", "-o", json.to_str().unwrap()]));
    assert_eq!(run.code, 0, "{run:?}");
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["messages"][1]["text"], "Birds follow the food.");
    assert_eq!(mode(&json), 0o600);
    let md = env.home.path().join("y.json");
    assert_eq!(env.run(&["history", "export", "1", "--format", "md", "-o", md.to_str().unwrap()]).code, 0);
    assert!(std::fs::read_to_string(&md).unwrap().starts_with("# why do birds migrate?"));

    // A file in a directory that does not exist is the user's to fix: a usage error (2), for
    // exports and backups alike, and nothing is created.
    let missing = env.home.path().join("no/such/dir");
    for args in [
        vec!["history", "export", "1", "-o", "OUT"],
        vec!["history", "backup", "OUT"],
        vec!["history", "backup", "--force", "OUT"],
    ] {
        let out = missing.join("out.md");
        let args: Vec<&str> = args.iter().map(|a| if *a == "OUT" { out.to_str().unwrap() } else { a }).collect();
        env.run(&args).assert_failed(2, &format!("The directory {} does not exist", missing.display()));
    }
    assert!(!env.home.path().join("no").exists());
    // A directory the user may not write to is theirs to fix too (run without privilege).
    let locked = env.home.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    chmod(&locked, 0o555);
    chmod(env.home.path(), 0o755);
    let out = locked.join("out.md");
    let refused =
        finish(&mut without_privilege(&env, env.command(&["history", "export", "1", "-o", out.to_str().unwrap()])));
    refused.assert_failed(2, "choose a place you may write to");
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn a_new_database_started_after_a_damaged_file_and_the_writer_locks_are_private_whatever_the_umask() {
    let env = Env::new(Behavior::text("abcdefghij").with_chunks(10).with_chunk_delay(Duration::from_millis(80)));
    std::fs::create_dir_all(db(&env).parent().unwrap()).unwrap();
    std::fs::write(db(&env), vec![b'x'; 8192]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(db(&env), std::fs::Permissions::from_mode(0o600)).unwrap();
    let child = under_umask_000(&env, &["ask", "hi"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let writers = side(&db(&env), ".writers");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lock = loop {
        let found = std::fs::read_dir(&writers).ok().and_then(|mut d| d.next()).and_then(Result::ok);
        if let Some(entry) = found {
            break entry.path();
        }
        assert!(std::time::Instant::now() < deadline, "no writer lock appeared");
        std::thread::sleep(Duration::from_millis(2));
    };
    // Seen while the answer streams: the new database, the writers' directory and its lock file.
    let (db_mode, dir_mode, lock_mode) = (mode(&db(&env)), mode(&writers), mode(&lock));
    let run = wait_bounded(child);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("was damaged; it was kept as"), "{run:?}");
    assert_eq!((db_mode, dir_mode, lock_mode), (0o600, 0o700, 0o600), "database, writers/ and lock file");
}

/// Whether this process may ignore file permissions (root): then a test of read-only files
/// runs geminal as the unprivileged user `nobody` (65534), which chmod does stop.
#[cfg(unix)]
fn privileged() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// `cmd` as a user that file permissions apply to; the home is handed to that user first.
#[cfg(unix)]
fn without_privilege(env: &Env, mut cmd: std::process::Command) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    if privileged() {
        let status = std::process::Command::new("chown").args(["-R", "65534:65534"]).arg(env.home.path()).status();
        assert!(status.is_ok_and(|s| s.success()), "chown failed");
        cmd.uid(65534).gid(65534);
    }
    cmd
}

#[cfg(unix)]
fn chmod(path: &std::path::Path, bits: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_read_only_history_still_reads_and_ask_refuses_before_sending() {
    let env = Env::new(Behavior::text("Birds follow the food."));
    for q in ["why do birds migrate?", "what is a monad?"] {
        assert_eq!(env.run(&["ask", q]).code, 0);
    }
    // The home must be reachable by the unprivileged user; the backup goes to a writable place.
    chmod(env.home.path(), 0o755);
    let out_dir = env.home.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let backup = out_dir.join("copy.sqlite3");
    let data_dir = db(&env).parent().unwrap().to_owned();
    let run = |args: &[&str]| finish(&mut without_privilege(&env, env.command(args)));
    let names = || -> Vec<String> {
        std::fs::read_dir(&data_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into()).collect()
    };
    assert_eq!(names(), ["history.sqlite3"], "a clean exit left the database file alone");
    // A read-only file in a read-only directory (as on a read-only mount): every command that
    // only reads works, and nothing is created beside the database.
    chmod(&db(&env), 0o400);
    chmod(&data_dir, 0o555);
    let list = run(&["history"]);
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(list.stdout.lines().count(), 3, "{list:?}");
    let search = run(&["history", "search", "monad"]);
    assert!(search.code == 0 && search.stdout.contains("#2 what is a monad?"), "{search:?}");
    let show = run(&["history", "show", "1"]);
    assert!(show.code == 0 && show.stdout.contains("Birds follow the food."), "{show:?}");
    let export = run(&["history", "export", "1"]);
    assert!(export.code == 0 && export.stdout.starts_with("# why do birds migrate?"), "{export:?}");
    let copied = run(&["history", "backup", backup.to_str().unwrap()]);
    assert_eq!(copied.code, 0, "{copied:?}");
    assert_eq!(names(), ["history.sqlite3"], "nothing was created beside the database");
    run(&["history", "rm", "1", "--yes"]).assert_failed(9, "is read-only");
    // The file alone read-only (0400 is left alone by the narrowing to 0600): `ask` says so
    // before anything is sent, instead of printing an answer it then cannot save.
    chmod(&data_dir, 0o755);
    let ask = run(&["ask", "a third question"]);
    ask.assert_failed(9, "is read-only");
    assert_eq!(env.fake.generate_count(), 2, "nothing was sent: {ask:?}");
    assert_eq!(conversations_in(&backup), ["why do birds migrate?", "what is a monad?"]);
}

/// A failed answer is stored as its kind and detail (no sentence in the database), and
/// `history show` words it as `ask` did when it happened; an error an older version stored as a
/// sentence is shown as it was.
#[test]
fn a_failure_is_stored_as_data_and_shown_with_the_sentence_it_had() {
    use geminal::gemini::fake::Fault;
    let env = Env::new(Behavior::fault(Fault::http(400)));
    let ask = env.run(&["ask", "tell me about foo"]);
    assert_ne!(ask.code, 0, "{ask:?}");
    let (error, kind, detail): (Option<String>, Option<String>, Option<String>) = conn(&env)
        .query_row("SELECT error, error_kind, error_detail FROM messages WHERE role = 'model'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((error, kind.as_deref()), (None, Some("bad_request")), "no sentence stored");
    let detail: serde_json::Value = serde_json::from_str(&detail.unwrap()).unwrap();
    assert!(detail["message"].as_str().unwrap().contains("Unknown name"), "the server's message, as data: {detail}");
    assert!(!detail.to_string().contains("change the request"), "no advice in the detail: {detail}");
    let said = ask.stderr.lines().find(|l| l.contains("rejected the request")).expect("ask says why").to_owned();
    let sentence = said.trim_start_matches("geminal: ").trim_start_matches("error: ");
    let show = env.run(&["history", "show", "1"]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains(&format!("[{sentence}]")), "today's sentence: {show:?} vs {said:?}");

    // A sentence written by an older version (no kind) is shown as it is.
    let old = "Gemini had a server error (HTTP 500): try again in a little while.";
    conn(&env)
        .execute("UPDATE messages SET error = ?1, error_kind = NULL, error_detail = NULL WHERE role = 'model'", [old])
        .unwrap();
    let show = env.run(&["history", "show", "1"]);
    assert!(show.stdout.contains(&format!("[{old}]")), "{show:?}");
}
