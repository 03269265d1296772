//! The answer cache as a user meets it, against the fake: demo answers stay in the demo, a
//! repeat is answered once, `cache stats` and `cache clear` report and empty it, and an answer
//! past its time to live is asked again.

mod common;

use std::path::PathBuf;

use common::process::{Env, Run, finish};
use geminal::gemini::fake::Behavior;

const Q: &str = "why do birds migrate?";
const REAL_ANSWER: &str = "Real birds follow food and daylight.";

fn data_dir(env: &Env) -> PathBuf {
    env.home.path().join("data/geminal")
}

/// `args` as a user without a key or an endpoint runs them (demo mode, or store-only commands).
fn run_keyless(env: &Env, args: &[&str]) -> Run {
    finish(env.command(args).env_remove("GEMINI_API_KEY").env_remove("GOOGLE_GEMINI_BASE_URL"))
}

fn json(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

/// The `cached` flag of every saved answer, oldest first.
fn cached_flags(env: &Env) -> Vec<bool> {
    let conn = rusqlite::Connection::open(data_dir(env).join("history.sqlite3")).unwrap();
    let mut stmt = conn.prepare("SELECT cached FROM messages WHERE role = 'model' ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_demo_answer_never_answers_a_real_question_and_stays_out_of_the_real_history() {
    let env = Env::new(Behavior::text(REAL_ANSWER));
    let demo = run_keyless(&env, &["--demo", "ask", Q]);
    assert_eq!(demo.code, 0, "{demo:?}");
    assert!(data_dir(&env).join("history-demo.sqlite3").exists(), "the demo has a database of its own");

    let real = env.run(&["ask", Q]);
    assert_eq!(real.code, 0, "{real:?}");
    assert_eq!(real.stdout.trim(), REAL_ANSWER, "the real question reached the real endpoint: {real:?}");
    assert_eq!(env.fake.generate_count(), 1);
    assert_eq!(cached_flags(&env), vec![false]);

    let history = env.run(&["history"]);
    assert_eq!(history.stdout.lines().count(), 2, "a header and the one real conversation: {history:?}");
    let shown = env.run(&["history", "show", "1"]);
    assert!(shown.stdout.contains(REAL_ANSWER) && !shown.stdout.contains(demo.stdout.trim()), "{shown:?}");
    let stats = json(&env.run(&["stats", "--json"]));
    assert_eq!((stats["requests"].as_i64(), stats["conversations"].as_i64()), (Some(1), Some(1)), "{stats}");

    // The demo keeps its own cache across runs (its port changes every run; its namespace does not).
    let again = run_keyless(&env, &["--demo", "ask", Q]);
    assert_eq!(again.stdout, demo.stdout, "{again:?}");
    let demo_history = run_keyless(&env, &["--demo", "history"]);
    assert_eq!(demo_history.stdout.lines().count(), 3, "a header and both demo conversations: {demo_history:?}");
    let demo_stats = json(&run_keyless(&env, &["--demo", "stats", "--json"]));
    assert_eq!((demo_stats["requests"].as_i64(), demo_stats["cache_hits"].as_i64()), (Some(2), Some(1)));
    assert_eq!(env.fake.generate_count(), 1, "the demo never talks to the real endpoint");

    // Even in one database (`--db` given), a demo answer never answers for the real endpoint.
    let db = data_dir(&env).join("history.sqlite3");
    let shared = run_keyless(&env, &["--demo", "--db", db.to_str().unwrap(), "ask", "what is a monad?"]);
    assert_eq!(shared.code, 0, "{shared:?}");
    let real = env.run(&["ask", "what is a monad?"]);
    assert_eq!(real.stdout.trim(), REAL_ANSWER, "{real:?}");
    assert_eq!(env.fake.generate_count(), 2);
}

#[test]
fn a_repeat_is_answered_once_counted_by_cache_stats_and_asked_again_after_cache_clear() {
    let env = Env::new(Behavior::text(REAL_ANSWER));
    let first = env.run(&["ask", Q]);
    let second = env.run(&["ask", Q]);
    assert_eq!((first.code, second.code), (0, 0), "{first:?} {second:?}");
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(env.fake.generate_count(), 1, "the repeat made no request");
    assert_eq!(cached_flags(&env), vec![false, true], "the second answer came from the cache");

    // No key needed: the cache commands only open the database.
    let text = run_keyless(&env, &["cache", "stats"]);
    assert_eq!(text.code, 0, "{text:?}");
    for line in ["entries       1\n", "hits          1\n", "time to live  24h\n", "expired       0\n"] {
        assert!(text.stdout.contains(line), "{line:?} in {text:?}");
    }
    assert!(text.stdout.contains(&format!("size          {} B of answers", REAL_ANSWER.len())), "{text:?}");
    let stats = json(&run_keyless(&env, &["cache", "stats", "--json"]));
    assert_eq!((stats["entries"].as_i64(), stats["hits"].as_i64()), (Some(1), Some(1)), "{stats}");
    assert_eq!((stats["ttl_secs"].as_i64(), stats["bytes"].as_u64()), (Some(86_400), Some(REAL_ANSWER.len() as u64)));

    let refused = run_keyless(&env, &["cache", "clear"]);
    refused.assert_failed(2, "add --yes");
    let nothing_expired = run_keyless(&env, &["cache", "clear", "--expired", "--yes"]);
    assert!(nothing_expired.code == 0 && nothing_expired.stderr.contains("nothing removed"), "{nothing_expired:?}");
    assert_eq!(json(&run_keyless(&env, &["cache", "stats", "--json"]))["entries"], 1, "still cached");

    let cleared = run_keyless(&env, &["cache", "clear", "--yes"]);
    assert_eq!(cleared.code, 0, "{cleared:?}");
    assert!(cleared.stderr.contains("removed 1 cached answer."), "{cleared:?}");
    assert_eq!(json(&run_keyless(&env, &["cache", "stats", "--json"]))["entries"], 0);
    let third = env.run(&["ask", Q]);
    assert_eq!(third.stdout, first.stdout, "{third:?}");
    assert_eq!(env.fake.generate_count(), 2, "after clearing, the question is asked again");
}

#[test]
fn an_answer_past_its_time_to_live_is_asked_again() {
    let env = Env::new(Behavior::text(REAL_ANSWER));
    std::fs::write(env.home.path().join("config/geminal/config.toml"), "retries = 0\ncache_ttl = \"1h\"\n").unwrap();
    assert_eq!(env.run(&["ask", Q]).code, 0);
    assert_eq!(env.run(&["ask", "and where to?"]).code, 0);
    assert_eq!(env.run(&["ask", Q]).code, 0);
    assert_eq!(env.fake.generate_count(), 2, "fresh within its time to live");
    // An hour and a second pass: the answers are made that much older (no test waits an hour,
    // and none depends on how fast a loaded machine runs the asks above).
    let conn = rusqlite::Connection::open(data_dir(&env).join("history.sqlite3")).unwrap();
    conn.execute(
        "UPDATE answer_cache SET created_at = created_at - 3601000, last_used_at = last_used_at - 3601000",
        [],
    )
    .unwrap();
    drop(conn);

    let stats = json(&env.run(&["cache", "stats", "--json"]));
    assert_eq!(
        (stats["entries"].as_i64(), stats["expired"].as_i64(), stats["ttl_secs"].as_i64()),
        (Some(2), Some(2), Some(3600))
    );
    let late = env.run(&["ask", Q]);
    assert_eq!(late.stdout.trim(), REAL_ANSWER, "{late:?}");
    assert_eq!(env.fake.generate_count(), 3, "the expired answer was not served");
    assert_eq!(cached_flags(&env), vec![false, false, true, false]);
    let stats = json(&env.run(&["cache", "stats", "--json"]));
    assert_eq!(
        (stats["entries"].as_i64(), stats["expired"].as_i64()),
        (Some(1), Some(0)),
        "expired ones purged: {stats}"
    );
}
