//! `geminal` as a process against the fake: what a user or a script sees (stdout, one stderr
//! line, exit code) for answers, every error kind, hostile text, Ctrl-C and closed pipes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use geminal::gemini::fake::{Answer, Behavior, Fault, StreamEnd};

mod common;

use common::process::{Env, Run, finish, wait_bounded};

#[test]
fn ask_streams_the_answer_to_stdout() {
    let env = Env::new(Behavior::text("Hello from the fake.\nSecond line").with_chunks(3));
    let run = env.run(&["ask", "why do birds migrate?"]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "Hello from the fake.\nSecond line\n", ""));
    let r = &env.fake.requests()[0];
    assert_eq!(r.prompt(), "why do birds migrate?");
    assert_eq!(r.model(), Some("gemini-flash-latest"));
}

#[test]
fn the_prompt_can_come_from_stdin() {
    let env = Env::new(Behavior::text("ok"));
    let run = env.run_with_stdin(&["ask"], "explain this\n");
    assert_eq!((run.code, run.stdout.as_str()), (0, "ok\n"));
    assert_eq!(env.fake.requests()[0].prompt(), "explain this");
    let run = env.run_with_stdin(&["ask", "summarize:", "-"], "the text\n");
    assert_eq!(run.code, 0);
    assert_eq!(env.fake.requests()[1].prompt(), "summarize: the text");
}

#[test]
fn piped_text_beside_a_prompt_is_sent_after_it() {
    let env = Env::new(Behavior::text("ok"));
    let run = env.run_with_stdin(&["ask", "summarize"], "the notes\nsecond line\n");
    assert_eq!((run.code, run.stdout.as_str()), (0, "ok\n"), "{run:?}");
    assert_eq!(env.fake.requests()[0].prompt(), "summarize\n\nthe notes\nsecond line");
    let run = env.run_with_stdin(&["ask", "summarize"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.fake.requests()[1].prompt(), "summarize", "nothing piped, nothing added");
}

#[test]
fn model_and_system_flags_shape_the_request() {
    let env = Env::new(Behavior::text("hi"));
    let run = env.run(&["ask", "-m", "gemini-2.5-flash", "--system", "answer in one line", "hi"]);
    assert_eq!(run.code, 0, "{run:?}");
    let r = &env.fake.requests()[0];
    assert_eq!(r.path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    let body = r.generate_request().unwrap();
    assert_eq!(body.system_instruction.unwrap().visible_text(), "answer in one line");

    let run = finish(env.command(&["ask", "hi"]).env("GEMINAL_MODEL", "gemini-pro-latest"));
    assert_eq!(run.code, 0);
    assert_eq!(env.fake.requests()[1].model(), Some("gemini-pro-latest"));
    let run = finish(env.command(&["ask", "-m", "gemini-2.5-pro", "hi"]).env("GEMINAL_MODEL", "gemini-pro-latest"));
    assert_eq!(run.code, 0);
    assert_eq!(env.fake.requests()[2].model(), Some("gemini-2.5-pro"));
}

#[test]
fn every_error_kind_gives_its_exit_code_and_one_line() {
    let env = Env::new(Behavior::default());
    let slow = || Behavior::text("abcdefgh").with_chunks(8).with_chunk_delay(Duration::from_millis(300));
    let cases: Vec<(Behavior, &[&str], i32, &str)> = vec![
        (Behavior::fault(Fault::bad_key()), &[], 4, "API key"),
        (Behavior::fault(Fault::http(403)), &[], 4, "permission"),
        (Behavior::fault(Fault::http(404)), &[], 5, "geminal models"),
        (Behavior::fault(Fault::http(400)), &[], 5, "invalid"),
        (Behavior::fault(Fault::rate_limited(Duration::from_secs(3))), &[], 6, "wait 3s"),
        (Behavior::fault(Fault::rate_limited_header(42)), &[], 6, "wait 42s"),
        (Behavior::fault(Fault::daily_quota()), &[], 6, "today"),
        (Behavior::fault(Fault::http(500)), &[], 7, "HTTP 500"),
        (Behavior::fault(Fault::http(503)), &[], 7, "overloaded"),
        (
            Behavior::text("abcd").with_chunks(2).with_fault(Fault::BareErrorAfter { after: 1, status: 503 }),
            &[],
            7,
            "overloaded",
        ),
        (
            Behavior::text("abcd").with_chunks(2).with_fault(Fault::ErrorEventAfter { after: 1, status: 500 }),
            &[],
            7,
            "HTTP 500",
        ),
        (Behavior::text("abcd").with_chunks(2).with_fault(Fault::CutAfter(1)), &[], 7, "cut mid-answer"),
        (
            Behavior::text("abcd").with_chunks(2).with_fault(Fault::TruncateAfter(1)),
            &[],
            7,
            "before the answer was complete",
        ),
        (Behavior::fault(Fault::PromptBlocked("SAFETY".into())), &[], 8, "refused"),
        (
            Behavior::text("abcd").with_chunks(2).with_fault(Fault::StopAfter { after: 1, reason: "SAFETY".into() }),
            &[],
            8,
            "safety",
        ),
        (
            Behavior::text("abcd")
                .with_chunks(2)
                .with_fault(Fault::StopAfter { after: 1, reason: "RECITATION".into() }),
            &[],
            8,
            "reciting",
        ),
        (
            Behavior::text("abcd")
                .with_chunks(2)
                .with_fault(Fault::StopAfter { after: 1, reason: "MAX_TOKENS".into() }),
            &[],
            8,
            "token limit",
        ),
        (
            Behavior::text("abcd").with_chunks(4).with_fault(Fault::StallAfter(1)),
            &["--idle-timeout", "0.3"],
            7,
            "--idle-timeout",
        ),
        (
            Behavior::text("late").with_first_token_delay(Duration::from_secs(5)),
            &["--first-token-timeout", "0.3"],
            7,
            "--first-token-timeout",
        ),
        (slow(), &["--timeout", "0.5"], 7, "--timeout"),
    ];
    for (behavior, flags, code, needle) in cases {
        env.fake.push(behavior.clone());
        let mut args = vec!["ask"];
        args.extend_from_slice(flags);
        args.push("hi");
        let run = env.run(&args);
        run.assert_failed(code, needle);
        if matches!(behavior.fault, Some(Fault::StopAfter { .. } | Fault::CutAfter(_) | Fault::BareErrorAfter { .. })) {
            assert_eq!(run.stdout, "ab\n", "the partial answer stays on stdout: {run:?}");
        }
    }
}

#[test]
fn no_key_says_both_ways_forward_and_sends_nothing() {
    let env = Env::new(Behavior::default());
    let run = finish(env.command(&["ask", "hi"]).env_remove("GEMINI_API_KEY"));
    run.assert_failed(3, "GEMINI_API_KEY");
    assert!(run.stderr.contains("--demo"));
    for args in [&["models"][..], &["batch", "-"], &[]] {
        finish(env.command(args).env_remove("GEMINI_API_KEY")).assert_failed(3, "GEMINI_API_KEY");
    }
    assert!(env.fake.requests().is_empty());
}

#[test]
fn google_api_key_wins_over_gemini_api_key() {
    let env = Env::new(Behavior::text("ok"));
    let run = finish(env.command(&["ask", "hi"]).env("GOOGLE_API_KEY", "the-google-key"));
    assert_eq!(run.code, 0);
    assert_eq!(env.fake.requests()[0].header("x-goog-api-key"), Some("the-google-key"));
}

#[test]
fn an_unreachable_server_is_a_network_error() {
    let env = Env::new(Behavior::default());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = env.run(&["ask", "--base-url", &format!("http://127.0.0.1:{port}"), "hi"]);
    run.assert_failed(7, "Could not reach Gemini (connection refused)");
}

/// Each stderr line starts with "geminal: " and its parentheses close, in order.
#[track_caller]
fn assert_well_formed_lines(run: &Run) {
    for line in run.stderr.lines() {
        assert!(line.starts_with("geminal: "), "{run:?}");
        let mut depth = 0i32;
        for c in line.chars() {
            depth += i32::from(c == '(') - i32::from(c == ')');
            assert!(depth >= 0, "{line}");
        }
        assert_eq!(depth, 0, "unbalanced: {line}");
    }
}

#[test]
fn retry_notices_for_network_failures_are_whole_lines() {
    let env = Env::new(Behavior::default());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused = format!("http://127.0.0.1:{port}");
    for (base_url, needle) in [(refused.as_str(), "connection refused"), ("http://nonexistent.invalid", "")] {
        let run = env.run(&["ask", "--retries", "1", "--base-url", base_url, "hi"]);
        assert_eq!(run.code, 7, "{run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "a notice, then the error: {run:?}");
        assert!(lines[0].starts_with("geminal: Could not reach Gemini (") && lines[0].contains(needle), "{run:?}");
        assert!(lines[0].ends_with("(attempt 2 of 2)."), "{run:?}");
        assert_well_formed_lines(&run);
    }
}

#[test]
fn a_malformed_base_url_is_a_configuration_error_naming_its_source() {
    let env = Env::new(Behavior::default());
    for bad in ["not a url", "ftp://x", "http://"] {
        let run = env.run(&["ask", "--base-url", bad, "hi"]);
        run.assert_failed(3, "--base-url");
        assert!(!run.stderr.contains("network"), "{run:?}");
    }
    let run = finish(env.command(&["ask", "hi"]).env("GOOGLE_GEMINI_BASE_URL", "ftp://x"));
    run.assert_failed(3, "from GOOGLE_GEMINI_BASE_URL");
    let batch = finish(env.command(&["batch", "-"]).env("GOOGLE_GEMINI_BASE_URL", "localhost:8080"));
    batch.assert_failed(3, "GOOGLE_GEMINI_BASE_URL");
    assert!(env.fake.requests().is_empty());
}

#[test]
fn history_with_n_0_lists_nothing_and_does_not_claim_the_history_is_empty() {
    let env = Env::new(Behavior::text("an answer"));
    assert_eq!(env.run(&["ask", "birds"]).code, 0);
    for args in [&["history", "-n", "0"][..], &["history", "search", "-n", "0", "birds"]] {
        let run = env.run(args);
        assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{args:?}: {run:?}");
    }
    assert!(env.run(&["history", "-n", "1"]).stdout.contains("birds"));
}

#[test]
fn ask_no_save_needs_no_database_and_writes_nothing_to_the_cache() {
    let env = Env::new(Behavior::text("an answer"));
    let nowhere = "/proc/geminal-nope/h.sqlite3";
    let run = env.run(&["--db", nowhere, "ask", "--no-save", "hi"]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "an answer\n", ""), "{run:?}");
    let demo = finish(env.command(&["--demo", "--db", nowhere, "ask", "--no-save", "hi"]).env_remove("GEMINI_API_KEY"));
    assert_eq!(demo.code, 0, "{demo:?}");
    assert_eq!(env.run(&["--db", nowhere, "ask", "hi"]).code, 9, "saving needs the database");
    assert_eq!(env.run(&["--db", nowhere, "ask", "--no-save", "-c", "hi"]).code, 9, "so does continuing");
    assert_eq!(env.run_with_stdin(&["--db", nowhere, "batch", "-", "--no-save"], "one\n").code, 0);

    // With a database: a cached answer is used, but an unsaved answer is not cached.
    assert_eq!(env.run(&["ask", "cached question"]).code, 0);
    let before = env.fake.requests().len();
    assert_eq!(env.run(&["ask", "--no-save", "cached question"]).stdout, "an answer\n");
    assert_eq!(env.fake.requests().len(), before, "answered from the cache");
    assert_eq!(env.run(&["ask", "--no-save", "private question"]).code, 0);
    assert_eq!(env.run(&["ask", "private question"]).code, 0);
    assert_eq!(env.fake.requests().len(), before + 2, "the unsaved answer was not cached");
}

#[test]
fn usage_errors_exit_2_and_bad_config_exits_3() {
    let env = Env::new(Behavior::default());
    env.run(&["ask", "   "]).assert_failed(2, "empty");
    env.run(&["ask", "-m", "bad model/name?", "hi"]).assert_failed(5, "geminal models");
    let config = env.home.path().join("bad.toml");
    std::fs::write(&config, "modle = 1\n").unwrap();
    env.run(&["--config", config.to_str().unwrap(), "ask", "hi"]).assert_failed(3, "modle");
    env.run(&["--config", "/nonexistent/geminal.toml", "ask", "hi"]).assert_failed(3, "does not exist");
    let bad_flag = env.run(&["ask", "--first-token-timeout", "soon", "hi"]);
    assert_eq!(bad_flag.code, 2);
    assert!(env.fake.requests().is_empty());
}

#[test]
fn an_unknown_conversation_is_a_usage_error_and_asks_nothing() {
    let env = Env::new(Behavior::text("ok"));
    env.run(&["ask", "--conversation", "999", "hi"]).assert_failed(2, "geminal history");
    for args in [&["history", "show", "999"][..], &["history", "export", "999"], &["history", "rm", "999", "--yes"]] {
        env.run(args).assert_failed(2, "no conversation 999");
    }
    assert!(env.fake.requests().is_empty());
}

/// The exit codes in a piece of text: numbers that begin a table row or a comma-separated item.
fn codes_in(items: impl Iterator<Item = String>) -> std::collections::BTreeSet<u8> {
    items.filter_map(|item| item.split_whitespace().next()?.parse().ok()).collect()
}

#[test]
fn readme_help_and_the_code_agree_on_every_exit_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("src/cli/exit.rs")).unwrap();
    let constants = codes_in(
        source
            .lines()
            .filter_map(|l| l.strip_prefix("pub const ")?.split_once(": u8 = "))
            .map(|(_, v)| v.replace(';', "")),
    );
    assert!(constants.contains(&9) && constants.contains(&130), "{constants:?}");

    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = readme.split("### Exit codes").nth(1).unwrap().split("\n\n").nth(1).unwrap();
    let in_readme = codes_in(table.lines().filter_map(|l| l.strip_prefix("| ")).map(str::to_owned));
    assert_eq!(in_readme, constants, "README's exit-code table");

    let env = Env::new(Behavior::default());
    let help = env.run(&["--help"]).stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    let paragraph = help.split("Exit codes:").nth(1).unwrap().split(". ").next().unwrap();
    let in_help = codes_in(paragraph.split(", ").map(str::to_owned));
    assert_eq!(in_help, constants, "--help: {paragraph}");
}

#[test]
fn no_run_leaves_a_lock_file_behind() {
    let env = Env::new(Behavior::text("ok"));
    let writers = env.home.path().join("data/geminal/history.sqlite3.writers");
    let litter = || std::fs::read_dir(&writers).map(|d| d.count()).unwrap_or(0);
    assert_eq!(env.run(&["ask", "hi"]).code, 0);
    assert_eq!(litter(), 0, "after an answer");
    env.fake.push(Behavior::fault(Fault::http(503)));
    assert_eq!(env.run(&["ask", "--no-cache", "hi"]).code, 7);
    assert_eq!(litter(), 0, "after a failure");
    env.fake.push(Behavior::text("abcdefghij").with_chunks(10).with_chunk_delay(Duration::from_millis(200)));
    assert_eq!(interrupt_mid_answer(&env, &["ask", "--no-cache", "slow"]).code, 130);
    assert_eq!(litter(), 0, "after Ctrl-C");
    assert_eq!(env.run(&["history"]).code, 0);
    assert_eq!(env.run(&["history", "show", "999"]).code, 2);
    assert_eq!(env.run(&["stats"]).code, 0);
    assert_eq!(env.run_with_stdin(&["batch", "-"], "one\ntwo\n").code, 0);
    assert_eq!(litter(), 0, "after history, stats and batch");
    assert!(!writers.exists(), "the empty directory goes too");
}

#[test]
fn a_cache_hit_is_announced_on_a_terminal_only() {
    let env = Env::new(Behavior::text("cached answer"));
    assert_eq!(env.run(&["ask", "hi"]).code, 0);
    let piped = env.run(&["ask", "hi"]);
    assert_eq!((piped.code, piped.stdout.as_str(), piped.stderr.as_str()), (0, "cached answer\n", ""));
    assert_eq!(env.fake.requests().len(), 1, "the second answer came from the cache");
    if Command::new("script").arg("--version").output().is_err() {
        assert!(std::env::var("GEMINAL_E2E_REQUIRE").is_err(), "script (util-linux) is required for this test");
        eprintln!("skipped: script (util-linux) is not installed");
        return;
    }
    let in_a_terminal = |args: &[&str]| {
        let base = env.command(args);
        let line = std::iter::once(base.get_program())
            .chain(base.get_args())
            .map(|a| format!("'{}'", a.to_str().unwrap()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in base.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        finish(&mut cmd)
    };
    let hit = in_a_terminal(&["ask", "hi"]);
    assert_eq!(hit.code, 0, "{hit:?}");
    assert!(hit.stdout.contains("cached answer"), "{hit:?}");
    assert!(hit.stdout.contains("geminal: answered from the cache; --no-cache asks Gemini again."), "{hit:?}");
    let miss = in_a_terminal(&["ask", "--no-cache", "hi"]);
    assert_eq!(miss.code, 0, "{miss:?}");
    assert!(miss.stdout.contains("cached answer") && !miss.stdout.contains("from the cache"), "{miss:?}");
}

#[test]
fn hostile_model_text_never_reaches_stdout_as_an_escape() {
    let env = Env::new(Behavior::default().with_answer(Answer::Hostile));
    let run = env.run(&["ask", "hi"]);
    assert_eq!(run.code, 0);
    for bad in ['\x1b', '\x07', '\x08', '\r', '\u{9b}', '\u{9d}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}'] {
        assert!(!run.stdout.contains(bad), "{bad:?} reached stdout");
    }
    assert!(run.stdout.chars().all(|c| c == '\n' || c == '\t' || !c.is_control()));
    assert!(run.stdout.contains("␛]52;c;aGVsbG8=␇"), "shown harmlessly: {}", run.stdout);
    let raw = env.run(&["ask", "--raw", "hi"]);
    assert!(raw.stdout.contains("\x1b]52;c;"), "--raw passes bytes through");
}

#[test]
fn demo_mode_needs_no_key_and_no_network() {
    let env = Env::new(Behavior::default());
    let run = finish(
        env.command(&["--demo", "ask", "hello there"])
            .env_remove("GEMINI_API_KEY")
            .env_remove("GOOGLE_GEMINI_BASE_URL"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("demo mode"), "{run:?}");
    assert!(run.stdout.split_whitespace().count() > 50, "{run:?}");
    assert!(env.fake.requests().is_empty());
}

/// Starts `geminal ARGS`, waits until the fake has received its request and sent a few chunks,
/// then sends SIGINT (as Ctrl-C does) and collects the run.
fn interrupt_mid_answer(env: &Env, args: &[&str]) -> Run {
    signal_mid_answer(env, args, "INT")
}

fn signal_number(signal: &str) -> u32 {
    match signal {
        "HUP" => 1,
        "INT" => 2,
        "TERM" => 15,
        other => panic!("no number for SIG{other}"),
    }
}

/// As [`interrupt_mid_answer`], with signal `signal` ("TERM", "HUP"...).
fn signal_mid_answer(env: &Env, args: &[&str], signal: &str) -> Run {
    let child = env.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    common::process::wait_until_catching(child.id(), signal_number(signal));
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.fake.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let run = wait_bounded(child);
    assert!(started.elapsed() < Duration::from_secs(2), "{run:?}");
    run
}

#[test]
fn ctrl_c_stops_the_stream_and_closes_the_connection() {
    let env =
        Env::new(Behavior::text("abcdefghijklmnopqrst").with_chunks(20).with_chunk_delay(Duration::from_millis(200)));
    let run = interrupt_mid_answer(&env, &["ask", "hi"]);
    run.assert_failed(130, "interrupted");
    let partial = run.stdout.strip_suffix('\n').unwrap_or_else(|| panic!("one line: {run:?}"));
    assert!(!partial.is_empty() && "abcdefghijklmnopq".starts_with(partial), "the saved part, once: {run:?}");
    let id = env.fake.requests()[0].id;
    let deadline = Instant::now() + Duration::from_secs(2);
    while env.fake.stream_end(id).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(env.fake.stream_end(id).map(|e| e.0), Some(StreamEnd::ClientClosed));
    let db = env.home.path().join("data/geminal/history.sqlite3");
    let saved: String = rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT text FROM messages WHERE role = 'model'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(format!("{saved}\n"), run.stdout, "stdout holds exactly what was saved");
}

/// The saved answer of conversation 1: its text and status, read through `history export`.
fn saved_answer(env: &Env) -> (String, String) {
    let export = env.run(&["history", "export", "1", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&export.stdout).unwrap_or_else(|_| panic!("{export:?}"));
    let answer = &json["messages"][1];
    (answer["text"].as_str().unwrap().to_owned(), answer["status"].as_str().unwrap().to_owned())
}

#[test]
fn sigterm_and_sighup_stop_ask_like_ctrl_c_with_their_own_codes() {
    for (signal, code) in [("TERM", 143), ("HUP", 129)] {
        let env = Env::new(
            Behavior::text("abcdefghijklmnopqrst").with_chunks(20).with_chunk_delay(Duration::from_millis(200)),
        );
        let run = signal_mid_answer(&env, &["ask", "hi"], signal);
        run.assert_failed(code, &format!("Stopped by SIG{signal}: the answer was interrupted and saved"));
        let (text, status) = saved_answer(&env);
        assert_eq!(status, "interrupted", "SIG{signal}");
        assert!(!text.is_empty() && format!("{text}\n") == run.stdout, "stdout holds what was saved: {run:?}");
    }
}

#[test]
fn sigterm_ends_the_line_chat_with_the_answer_saved_and_sighup_at_the_prompt_exits_129() {
    let env =
        Env::new(Behavior::text("abcdefghijklmnopqrst").with_chunks(20).with_chunk_delay(Duration::from_millis(200)));
    let start = || {
        let mut child =
            env.command(&[]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        (child, stdin)
    };
    let (child, mut stdin) = start();
    std::io::Write::write_all(&mut stdin, b"first question\n").unwrap();
    let run = signal_mid_answer_of(&env, child, "TERM");
    drop(stdin);
    run.assert_failed(143, "Stopped by SIGTERM");
    assert_eq!(saved_answer(&env).1, "interrupted");

    let (child, stdin) = start();
    common::process::wait_until_catching(child.id(), 1);
    Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    let run = wait_bounded(child);
    drop(stdin);
    assert_eq!((run.code, run.stderr.as_str()), (129, ""), "{run:?}");
}

/// Waits for the fake's first request and a few chunks, then sends `signal` to `child`.
fn signal_mid_answer_of(env: &Env, child: std::process::Child, signal: &str) -> Run {
    common::process::wait_until_catching(child.id(), signal_number(signal));
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.fake.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    let started = Instant::now();
    let run = wait_bounded(child);
    assert!(started.elapsed() < Duration::from_secs(2), "{run:?}");
    run
}

#[test]
fn with_stream_a_pipe_gets_text_as_it_arrives() {
    let env =
        Env::new(Behavior::text("abcdefghijklmnopqrst").with_chunks(20).with_chunk_delay(Duration::from_millis(200)));
    let mut child =
        env.command(&["ask", "--stream", "hi"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 1];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    assert_eq!(&first, b"a", "the first chunk arrived before the answer was complete");
    assert!(env.fake.stream_end(env.fake.requests()[0].id).is_none(), "the answer is still streaming");
    let run = wait_bounded(child);
    assert_eq!((run.code, run.stdout.as_str()), (0, "bcdefghijklmnopqrst\n"), "{run:?}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let env = Env::new(Behavior::default().with_answer(Answer::Words(20_000)).with_chunks(400));
    let mut child = env.command(&["ask", "hi"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut some = [0u8; 100];
    stdout.read_exact(&mut some).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn models_lists_what_the_key_can_use() {
    let env = Env::new(Behavior::default());
    let run = env.run(&["models"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("MODEL"));
    assert!(run.stdout.contains("gemini-flash-latest") && run.stdout.contains("1048576"));
    assert!(!run.stdout.contains("embedding"), "only text models by default");
    let json = env.run(&["models", "--json", "--all"]);
    let lines: Vec<serde_json::Value> = json.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), geminal::gemini::fake::default_models().len());
}

#[test]
fn the_line_chat_keeps_the_conversation() {
    let env = Env::new(Behavior::text("an answer"));
    let run = env.run_with_stdin(&[], "first question\n\nsecond question\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "an answer\n\nan answer\n\n");
    let second = env.fake.requests()[1].generate_request().unwrap();
    let texts: Vec<String> = second.contents.iter().map(|c| c.visible_text()).collect();
    assert_eq!(texts, ["first question", "an answer", "second question"]);
}

/// The line chat reads `/` lines with the interface's command table: an unknown `/word` is
/// refused and never sent; `/system`, `/model`, `/set`, `/search` act on what follows; `//`
/// sends a line that starts with `/`.
#[test]
fn the_line_chat_refuses_an_unknown_command_and_acts_on_known_ones() {
    let env = Env::new(Behavior::text("an answer"));
    let run = env.run_with_stdin(&[], "/bogus\n/system be brief\nhello\n");
    assert_eq!(run.code, 0, "{run:?}");
    let requests = env.fake.requests();
    assert_eq!(requests.len(), 1, "only the prompt is sent: {run:?}");
    let body = requests[0].generate_request().unwrap();
    assert_eq!(body.system_instruction.unwrap().visible_text(), "be brief");
    let texts: Vec<String> = body.contents.iter().map(|c| c.visible_text()).collect();
    assert_eq!(texts, ["hello"]);
    assert_eq!(run.stdout, "an answer\n\n");
    assert!(
        run.stderr.contains("/bogus is not a command") && run.stderr.contains("nothing was sent"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("system prompt set"), "{}", run.stderr);

    // The model, settings and tools lines set go with the next prompt; `//` sends a slash.
    let script =
        "/model gemini-2.5-pro\n/set temperature 0.3\n/search\n/thinking nonsense\n/rename x\n//etc/hosts is what?\n";
    let run = env.run_with_stdin(&[], script);
    assert_eq!(run.code, 0, "{run:?}");
    let requests = env.fake.requests();
    assert_eq!(requests.len(), 2, "one more request: {run:?}");
    let sent = &requests[1];
    assert_eq!(sent.model(), Some("gemini-2.5-pro"));
    assert_eq!(sent.prompt(), "/etc/hosts is what?");
    let body = sent.generate_request().unwrap();
    assert!(body.system_instruction.is_none(), "a new chat starts with no system prompt");
    assert_eq!(body.generation_config.and_then(|g| g.temperature), Some(0.3));
    assert_eq!(body.tools.len(), 1, "Google Search was switched on: {:?}", body.tools);
    assert!(run.stderr.contains("nothing to rename yet"), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().filter(|l| l.starts_with("geminal: ")).count(),
        5,
        "a sentence per command: {}",
        run.stderr
    );

    // `/rename` names the conversation the chat is in; `/attach` is for the interface only.
    let run = env.run_with_stdin(&["-c"], "/rename Bird notes\n/attach x.pdf\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("conversation 2 is now \"Bird notes\""), "{}", run.stderr);
    assert!(run.stderr.contains("/attach works in the full-screen interface only"), "{}", run.stderr);
    let title: String =
        env.history().query_row("SELECT title FROM conversations WHERE id = 2", [], |r| r.get(0)).unwrap();
    assert_eq!(title, "Bird notes");
    assert_eq!(env.fake.requests().len(), 2, "no command was sent");
    let run = env.run_with_stdin(&[], "/help\n");
    assert!(
        run.stderr.contains("  /system [TEXT | clear]: show, set or clear the chat's system prompt"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("/attach") && !run.stderr.contains("tab"),
        "only what works on a line: {}",
        run.stderr
    );
}

/// The line chat reads every command of the one table, by its name and by each alias: none is
/// "not a command" or sent; those the table keeps for the full-screen interface say so, and
/// `/help` lists each of the others.
#[test]
fn the_line_chat_takes_every_command_in_the_table_and_its_help_lists_those_it_does() {
    use geminal::commands::COMMANDS;
    let env = Env::new(Behavior::text("an answer"));
    let words = COMMANDS.iter().flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()));
    let script: String = words.map(|w| format!("{w}\n")).collect();
    let run = env.run_with_stdin(&[], &script);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(env.fake.requests().is_empty(), "no command was sent: {run:?}");
    assert!(!run.stderr.contains("is not a command"), "{}", run.stderr);
    for command in COMMANDS.iter().filter(|c| !c.on_a_line) {
        let refused = format!("{} works in the full-screen interface only", command.name);
        assert!(run.stderr.contains(&refused), "{refused}: {}", run.stderr);
    }
    let help = env.run_with_stdin(&[], "/help\n").stderr;
    for command in COMMANDS {
        let listed = help.contains(&format!("  {} ", command.name)) || help.contains(&format!("  {}:", command.name));
        assert_eq!(listed, command.on_a_line, "{} in the line chat's help: {help}", command.name);
    }
}

/// `geminal -c` and `geminal --conversation N` on a pipe continue that conversation, as they
/// do in the full-screen interface (the line chat used to start a new one).
#[test]
fn the_line_chat_continues_the_conversation_asked_for() {
    let env = Env::new(Behavior::text("an answer"));
    assert_eq!(env.run(&["ask", "the first conversation"]).code, 0);
    assert_eq!(env.run(&["ask", "the second conversation"]).code, 0);
    let sent = |index: usize| -> Vec<String> {
        let request = env.fake.requests()[index].generate_request().unwrap();
        request.contents.iter().map(|c| c.visible_text()).collect()
    };
    let last = env.run_with_stdin(&["-c"], "and then?\n");
    assert_eq!(last.code, 0, "{last:?}");
    assert_eq!(sent(2), ["the second conversation", "an answer", "and then?"]);
    let chosen = env.run_with_stdin(&["--conversation", "1"], "more?\n");
    assert_eq!(chosen.code, 0, "{chosen:?}");
    assert_eq!(sent(3), ["the first conversation", "an answer", "more?"]);
    env.run_with_stdin(&["--conversation", "99"], "hello\n").assert_failed(2, "no conversation 99");
    assert_eq!(env.fake.requests().len(), 4, "an unknown conversation sends nothing");
}

#[test]
fn help_works_without_a_key() {
    let env = Env::new(Behavior::default());
    let run = finish(env.command(&["--help"]).env_remove("GEMINI_API_KEY"));
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("ask") && run.stdout.contains("Exit codes"));
}

#[test]
fn ask_retries_what_is_worth_retrying_and_says_so() {
    let env = Env::new(Behavior::default());
    env.fake.push(Behavior::fault(Fault::http(503)));
    env.fake.push(Behavior::text("recovered"));
    let run = env.run(&["ask", "--retries", "2", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "recovered\n"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(
        run.stderr.contains("overloaded")
            && run.stderr.contains("retrying in")
            && run.stderr.contains("attempt 2 of 3"),
        "{run:?}"
    );
}

fn model_text(env: &Env) -> String {
    let db = env.home.path().join("data/geminal/history.sqlite3");
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT text FROM messages WHERE role = 'model'", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_cut_answer_that_is_retried_reaches_a_pipe_exactly_once() {
    let env = Env::new(Behavior::default());
    env.fake.push(Behavior::text("abcdef").with_chunks(3).with_fault(Fault::CutAfter(1)));
    env.fake.push(Behavior::text("abcdef").with_chunks(3));
    let run = env.run(&["ask", "--retries", "1", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "abcdef\n"), "{run:?}");
    assert!(run.stderr.contains("retrying") && !run.stderr.contains("starts again"), "{run:?}");
    assert_eq!(env.fake.requests().len(), 2);
    assert_eq!(model_text(&env), "abcdef", "the retry replaced the partial text");
}

#[test]
fn a_stalled_answer_that_is_retried_reaches_a_pipe_exactly_once() {
    let env = Env::new(Behavior::default());
    env.fake.push(Behavior::text("abcdef").with_chunks(3).with_fault(Fault::StallAfter(1)));
    env.fake.push(Behavior::text("abcdef").with_chunks(3));
    let run = env.run(&["ask", "--retries", "1", "--idle-timeout", "0.3", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "abcdef\n"), "{run:?}");
    assert_eq!(env.fake.requests().len(), 2);
}

#[test]
fn with_stream_a_cut_answer_starts_again_on_a_new_line_and_history_keeps_it_once() {
    let env = Env::new(Behavior::default());
    env.fake.push(Behavior::text("abcdef").with_chunks(3).with_fault(Fault::CutAfter(1)));
    env.fake.push(Behavior::text("abcdef").with_chunks(3));
    let run = env.run(&["ask", "--stream", "--retries", "1", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "ab\nabcdef\n"), "{run:?}");
    assert!(run.stderr.contains("starts again"), "{run:?}");
    assert_eq!(model_text(&env), "abcdef", "the retry replaced the partial text");
}

#[test]
fn the_line_chat_writes_each_retried_answer_to_a_pipe_once() {
    let env = Env::new(Behavior::text("fine"));
    std::fs::write(env.home.path().join("config/geminal/config.toml"), "retries = 1\n").unwrap();
    env.fake.push(Behavior::text("abcdef").with_chunks(3).with_fault(Fault::CutAfter(1)));
    env.fake.push(Behavior::text("abcdef").with_chunks(3));
    let run = env.run_with_stdin(&[], "first\nsecond\n");
    assert_eq!((run.code, run.stdout.as_str()), (0, "abcdef\n\nfine\n\n"), "{run:?}");
}

#[test]
fn a_503_with_retry_after_is_retried_no_sooner_than_asked() {
    let env = Env::new(Behavior::text("recovered"));
    env.fake.push(Behavior::fault(Fault::http_with_retry_after(503, 2)));
    let run = env.run(&["ask", "--retries", "1", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "recovered\n"), "{run:?}");
    assert!(run.stderr.contains("retrying in 2"), "{run:?}");
    let times: Vec<Instant> = env.fake.requests().iter().map(|r| r.received).collect();
    assert_eq!(times.len(), 2);
    let gap = times[1].duration_since(times[0]);
    assert!(gap >= Duration::from_secs(2) && gap < Duration::from_secs(3), "{gap:?}");
}

#[test]
fn an_exhausted_quota_switches_to_the_fallback_model_once() {
    let env = Env::new(Behavior::text("from the fallback"));
    std::fs::write(
        env.home.path().join("config/geminal/config.toml"),
        "retries = 1\nfallback_model = \"gemini-flash-lite-latest\"\n",
    )
    .unwrap();
    env.fake.set_router(|r| (r.model() == Some("gemini-flash-latest")).then(|| Behavior::fault(Fault::daily_quota())));
    let run = env.run(&["ask", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "from the fallback\n"), "{run:?}");
    assert!(run.stderr.contains("switching to gemini-flash-lite-latest"), "{run:?}");
    let models: Vec<String> = env.fake.requests().iter().filter_map(|r| r.model().map(str::to_owned)).collect();
    assert_eq!(models, ["gemini-flash-latest", "gemini-flash-lite-latest"]);
}

#[test]
fn each_command_help_shows_only_the_flags_that_apply_to_it() {
    let env = Env::new(Behavior::default());
    let connection = ["--retries", "--idle-timeout", "--base-url", "--model", "--connect-timeout"];
    for command in ["history", "stats", "cache"] {
        let run = env.run(&[command, "--help"]);
        assert_eq!(run.code, 0, "{run:?}");
        for flag in connection {
            assert!(!run.stdout.contains(flag), "{command} --help lists {flag}: {}", run.stdout);
        }
        assert!(run.stdout.contains("--db") && run.stdout.contains("--demo"), "{command}: {}", run.stdout);
    }
    for command in [&["ask", "--help"][..], &["batch", "--help"], &["models", "--help"], &["--help"]] {
        let run = env.run(command);
        for flag in connection {
            assert!(run.stdout.contains(flag), "{command:?} lacks {flag}: {}", run.stdout);
        }
    }
}

#[test]
fn a_connection_flag_before_the_command_applies_to_it_and_is_refused_where_it_does_nothing() {
    let env = Env::new(Behavior::text("hi"));
    let run = env.run(&["-m", "gemini-2.5-flash", "ask", "hi"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.fake.requests()[0].model(), Some("gemini-2.5-flash"));
    let run = env.run(&["-m", "gemini-2.5-flash", "ask", "-m", "gemini-2.5-pro", "hi"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.fake.requests()[1].model(), Some("gemini-2.5-pro"), "the command's own flag wins");
    env.run(&["--retries", "2", "history"]).assert_failed(2, "--retries");
    let run = env.run(&["history", "--retries", "2"]);
    assert!(run.code == 2 && run.stderr.contains("unexpected argument '--retries'"), "{run:?}");
}

#[test]
fn completions_and_the_manual_page_come_from_the_parser() {
    let env = Env::new(Behavior::default());
    let bash = finish(env.command(&["completions", "bash"]).env_remove("GEMINI_API_KEY"));
    assert_eq!(bash.code, 0, "{bash:?}");
    assert!(bash.stdout.contains("geminal") && bash.stdout.contains("ask") && bash.stdout.contains("history"));
    assert!(bash.stdout.contains("--idle-timeout"), "flags are completed too");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let run = env.run(&["completions", shell]);
        assert!(run.code == 0 && run.stdout.contains("history"), "{shell}: {run:?}");
    }
    let run = env.run(&["completions", "tcsh"]);
    assert_eq!(run.code, 2, "{run:?}");

    let man = finish(env.command(&["man"]).env_remove("GEMINI_API_KEY"));
    assert_eq!(man.code, 0, "{man:?}");
    // The page opens with its string definitions (.ie/.el), then the title header.
    let th = man.stdout.lines().find(|l| !l.starts_with(".ie") && !l.starts_with(".el"));
    assert!(th.is_some_and(|l| l.starts_with(".TH geminal 1")), "{}", man.stdout);
    assert!(man.stdout.contains("history") && man.stdout.contains("Exit codes"), "{}", man.stdout);
    let history = env.run(&["man", "history"]);
    assert!(history.code == 0 && history.stdout.contains(".TH geminal-history 1"), "{history:?}");
    assert!(history.stdout.contains("search") && !history.stdout.contains("idle"), "{history:?}");
    env.run(&["man", "nope"]).assert_failed(2, "nope");
}

#[test]
fn config_path_show_and_init() {
    let env = Env::new(Behavior::default());
    let default_path = env.home.path().join("config/geminal/config.toml");
    let run = env.run(&["config", "path"]);
    assert_eq!((run.code, run.stdout.trim()), (0, default_path.to_str().unwrap()), "{run:?}");
    let elsewhere = env.home.path().join("other.toml");
    let run = env.run(&["--config", elsewhere.to_str().unwrap(), "config", "path"]);
    assert_eq!(run.stdout.trim(), elsewhere.to_str().unwrap(), "{run:?}");

    // The process environment holds the key: it is named, never shown.
    let run = finish(env.command(&["config", "show", "-m", "flag-model"]).env("GEMINAL_DB", "/nowhere/h.sqlite3"));
    assert_eq!(run.code, 0, "{run:?}");
    run.assert_no_key();
    let line = |name: &str| -> Vec<String> {
        let found = run.stdout.lines().find(|l| l.split_whitespace().next() == Some(name));
        found.unwrap_or_else(|| panic!("no {name}: {}", run.stdout)).split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(line("api_key"), ["api_key", "[REDACTED]", "env", "GEMINI_API_KEY"]);
    assert_eq!(line("model"), ["model", "flag-model", "flag", "--model"]);
    assert_eq!(line("retries"), ["retries", "0", "config", "file"], "the test home's config says retries = 0");
    assert_eq!(line("db"), ["db", "/nowhere/h.sqlite3", "env", "GEMINAL_DB"]);
    assert_eq!(line("idle_timeout_secs"), ["idle_timeout_secs", "60", "default"]);
    assert!(line("base_url").ends_with(&["env".to_owned(), "GOOGLE_GEMINI_BASE_URL".to_owned()]));
    let keyless = finish(env.command(&["config", "show"]).env_remove("GEMINI_API_KEY"));
    assert!(keyless.stdout.lines().any(|l| l.starts_with("api_key") && l.ends_with("not set")), "{keyless:?}");

    // init writes the example where geminal reads it, private, and keeps an existing file.
    let fresh = Env::new(Behavior::default());
    let dir = fresh.home.path().join("config/geminal");
    std::fs::remove_dir_all(&dir).unwrap();
    let run = fresh.run(&["config", "init"]);
    assert_eq!(run.code, 0, "{run:?}");
    let written = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(written.contains("# api_key") && written.contains("cache_ttl"), "{written}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir.join("config.toml")), mode(&dir)), (0o600, 0o700));
    }
    let show = fresh.run(&["config", "show"]);
    assert!(show.stdout.lines().any(|l| l.starts_with("model") && l.ends_with("config file")), "{show:?}");
    std::fs::write(dir.join("config.toml"), "retries = 1\n").unwrap();
    fresh.run(&["config", "init"]).assert_failed(2, "--force");
    assert_eq!(std::fs::read_to_string(dir.join("config.toml")).unwrap(), "retries = 1\n", "kept");
    assert_eq!(fresh.run(&["config", "init", "--force"]).code, 0);
    assert_eq!(std::fs::read_to_string(dir.join("config.toml")).unwrap(), written);
}

/// Every escape sequence in `text`, each up to its final letter.
fn escape_sequences(text: &str) -> Vec<String> {
    text.match_indices('\x1b')
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest
                .char_indices()
                .skip(1)
                .find(|(_, c)| c.is_ascii_alphabetic())
                .map_or(rest.len(), |(i, c)| i + c.len_utf8());
            rest[..end].to_owned()
        })
        .collect()
}

#[test]
fn ask_renders_markdown_on_a_terminal_only_and_plain_keeps_it_as_written() {
    let answer = "# Birds\n\nThey **migrate** far.\n\n- food\n- light\n\n```\nlet x = 1;\n```\n";
    let env = Env::new(Behavior::text(answer).with_chunks(7));
    let piped = env.run(&["ask", "--no-cache", "hi"]);
    assert_eq!(piped.stdout, answer, "a pipe gets the text exactly as today");

    let Some(rendered) = env.run_in_terminal(&["ask", "--no-cache", "hi"]) else { return };
    assert_eq!(rendered.code, 0, "{rendered:?}");
    let text = &rendered.stdout;
    assert!(text.contains("migrate") && text.contains("let x = 1;"), "{text:?}");
    assert!(!text.contains("**") && !text.contains("# Birds") && !text.contains("```"), "rendered: {text:?}");
    assert!(text.contains("• food") || text.contains("- food"), "{text:?}");
    let sequences = escape_sequences(text);
    assert!(!sequences.is_empty(), "headings and bold are styled: {text:?}");
    assert!(sequences.iter().all(|s| s.starts_with("\x1b[") && s.ends_with('m')), "only SGR: {sequences:?}");

    let mut no_color = env.command(&["ask", "--no-cache", "hi"]);
    no_color.env("NO_COLOR", "1");
    let no_color = env.run_command_in_terminal(&no_color).unwrap();
    let sequences = escape_sequences(&no_color.stdout);
    assert!(sequences.contains(&"\x1b[1m".to_owned()), "bold stays: {sequences:?}");
    assert!(sequences.iter().all(|s| !s.contains("38;") && !s.starts_with("\x1b[3")), "no colour: {sequences:?}");

    let plain = env.run_in_terminal(&["ask", "--no-cache", "--plain", "hi"]).unwrap();
    assert!(plain.stdout.contains("They **migrate** far.") && !plain.stdout.contains('\x1b'), "{plain:?}");

    let hostile = Env::new(Behavior::default().with_answer(Answer::Hostile));
    let run = hostile.run_in_terminal(&["ask", "hi"]).unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    let sequences = escape_sequences(&run.stdout);
    assert!(sequences.iter().all(|s| s.starts_with("\x1b[") && s.ends_with('m')), "only our SGR: {sequences:?}");
    assert!(run.stdout.contains("␛]52;c;aGVsbG8=␇"), "shown harmlessly: {:?}", run.stdout);
}

/// Ctrl-C at a terminal while the spinner waits: the terminal echoes `^C`, and the spinner's
/// line is cleared all the same (it used to wrap the echo to a new line and clear that one,
/// leaving "waiting for Gemini…" above what followed).
#[test]
fn ctrl_c_at_a_terminal_leaves_no_spinner_line_behind() {
    if !Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()) {
        assert!(std::env::var("GEMINAL_E2E_REQUIRE").is_err(), "tmux is required for this test");
        return;
    }
    let env = Env::new(Behavior::text("too late").with_first_token_delay(Duration::from_secs(30)));
    let command = env.command(&["ask", "hi"]);
    let vars: Vec<String> =
        command.get_envs().filter_map(|(k, v)| Some(format!("{}='{}'", k.to_str()?, v?.to_str()?))).collect();
    let line = format!(
        "env -i TERM=xterm-256color {} {} ask hi; echo EXITED-$?",
        vars.join(" "),
        env!("CARGO_BIN_EXE_geminal")
    );
    let session = format!("geminal-spinner-{}", std::process::id());
    let tmux = |args: &[&str]| {
        let out = Command::new("tmux").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let screen = || tmux(&["capture-pane", "-p", "-t", &session]);
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let shown = screen();
            if shown.contains(what) {
                return shown;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what:?}:\n{shown}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "20", "bash", "--norc", "--noprofile"]);
    tmux(&["send-keys", "-t", &session, "-l", &line]);
    tmux(&["send-keys", "-t", &session, "Enter"]);
    wait_for("waiting for Gemini");
    tmux(&["send-keys", "-t", &session, "C-c"]);
    let shown = wait_for("EXITED-130");
    tmux(&["kill-session", "-t", &session]);
    assert!(!shown.contains("waiting for Gemini"), "the spinner's line was left:\n{shown}");
    assert!(shown.contains("geminal: Stopped"), "{shown}");
}
