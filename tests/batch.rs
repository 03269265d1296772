//! `geminal batch` as a process: one JSON line per prompt, failures isolated, rate limits on
//! the wire, and `--resume` after a SIGKILL answering every prompt exactly once overall.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::{Env, wait_bounded};
use geminal::gemini::fake::{Answer, Behavior, Fault};

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn write_prompts(env: &Env, name: &str, prompts: &[String]) -> String {
    let path = env.home.path().join(name);
    std::fs::write(&path, prompts.join("\n") + "\n").unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn every_prompt_gets_one_json_line_and_a_failure_stops_nothing() {
    let env = Env::new(Behavior::default());
    env.fake.set_router(|r| {
        let prompt = r.prompt();
        Some(if prompt.contains("broken") {
            Behavior::fault(Fault::http(400))
        } else {
            Behavior::text(format!("answer to {prompt}")).with_chunks(2)
        })
    });
    let mut prompts: Vec<String> = (1..=12).map(|i| format!(r#"{{"prompt": "question {i}"}}"#)).collect();
    prompts.insert(5, r#"{"prompt": "a broken question"}"#.into());
    prompts.push(r#"{"id": "j1", "prompt": "json question", "system": "be brief", "model": "gemini-2.5-pro"}"#.into());
    prompts.push("".into());
    let file = write_prompts(&env, "p.jsonl", &prompts);
    let run = env.run(&["batch", &file, "-j", "4"]);
    assert_eq!(run.code, 10, "some failed has its own code: {run:?}");
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 14, "{run:?}");
    let by_id: HashMap<String, &serde_json::Value> =
        out.iter().map(|v| (v["id"].as_str().unwrap().to_owned(), v)).collect();
    assert_eq!(by_id.len(), 14, "ids are unique");
    assert_eq!(by_id["1"]["answer"], "answer to question 1");
    assert_eq!(by_id["1"]["error"], serde_json::Value::Null);
    assert_eq!(by_id["1"]["cached"], false);
    assert!(by_id["1"]["latency_ms"].is_u64() && by_id["1"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(by_id["6"]["error"]["kind"], "bad_request", "line 6 is the broken one");
    assert_eq!(by_id["j1"]["model"], "gemini-2.5-pro");
    let j1 = env.fake.requests().into_iter().find(|r| r.prompt() == "json question").unwrap();
    assert_eq!(j1.generate_request().unwrap().system_instruction.unwrap().visible_text(), "be brief");
    let summary: Vec<&str> = run.stderr.lines().collect();
    assert!(summary[0].contains("13 answered") && summary[0].contains("1 failed"), "{run:?}");
    assert_eq!(summary.len(), 2, "a summary and one failure line: {run:?}");
}

#[test]
fn a_second_run_comes_from_the_cache() {
    let env = Env::new(Behavior::text("same"));
    let file = write_prompts(&env, "p.txt", &["a".into(), "b".into()]);
    assert_eq!(env.run(&["batch", &file]).code, 0);
    let again = env.run(&["batch", &file]);
    assert!(lines(&again.stdout).iter().all(|v| v["cached"] == true), "{again:?}");
    assert_eq!(env.fake.generate_count(), 2);
    assert!(again.stderr.contains("2 answered (2 from cache)"), "{again:?}");
}

#[test]
fn prompts_can_come_from_stdin() {
    let env = Env::new(Behavior::text("ok"));
    let run = env.run_with_stdin(&["batch", "-", "--no-save"], "one\ntwo\nthree\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout).len(), 3);
}

#[test]
fn the_rate_limit_holds_on_the_wire() {
    let env = Env::new(Behavior::text("ok"));
    let prompts: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    let file = write_prompts(&env, "p.txt", &prompts);
    let run = env.run(&["batch", &file, "-j", "5", "--rpm", "120", "--no-cache"]);
    assert_eq!(run.code, 0, "{run:?}");
    let times: Vec<Instant> = env.fake.requests().iter().map(|r| r.received).collect();
    // 120 per minute: one each 500 ms, so no 1 s window holds more than 2.
    for w in times.windows(3) {
        assert!(w[2].duration_since(w[0]) >= Duration::from_millis(980), "{times:?}");
    }
}

#[test]
fn resume_after_a_sigkill_answers_every_prompt_exactly_once() {
    let env = Env::new(Behavior::text("an answer").with_chunks(3).with_chunk_delay(Duration::from_millis(100)));
    let prompts: Vec<String> = (1..=30).map(|i| format!("prompt {i}")).collect();
    let file = write_prompts(&env, "p.txt", &prompts);
    let out = env.home.path().join("answers.jsonl");
    let out_arg = out.to_string_lossy().into_owned();
    let mut child = env
        .command(&["batch", &file, "-j", "4", "--resume", &out_arg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    child.kill().unwrap();
    child.wait().unwrap();
    let first = lines(&std::fs::read_to_string(&out).unwrap_or_default()).len();
    assert!(first > 0 && first < 30, "the kill landed mid-run: {first} answered");
    let child = env
        .command(&["batch", &file, "-j", "4", "--resume", &out_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = wait_bounded(child);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains(&format!("{first} skipped as already answered")), "{run:?}");
    let all = lines(&std::fs::read_to_string(&out).unwrap());
    let mut ids: Vec<String> =
        all.iter().filter(|v| v["error"].is_null()).map(|v| v["id"].as_str().unwrap().to_owned()).collect();
    ids.sort_by_key(|id| id.parse::<u32>().unwrap());
    let expected: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected, "each prompt answered exactly once");
}

#[test]
fn a_first_ctrl_c_lets_running_prompts_finish_and_keeps_their_lines() {
    let env = Env::new(Behavior::text("done").with_chunks(4).with_chunk_delay(Duration::from_millis(250)));
    let prompts: Vec<String> = (1..=20).map(|i| format!("q{i}")).collect();
    let file = write_prompts(&env, "p.txt", &prompts);
    let child =
        env.command(&["batch", &file, "-j", "3"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    common::process::wait_until_catching(child.id(), 2);
    std::thread::sleep(Duration::from_millis(600));
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let run = wait_bounded(child);
    assert_eq!(run.code, 130, "{run:?}");
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 3, "the three running prompts finished: {run:?}");
    assert!(out.iter().all(|v| v["answer"] == "done"));
    assert!(run.stderr.contains("--resume"), "{run:?}");
}

#[test]
fn sigterm_and_sighup_stop_batch_at_once_keeping_what_is_saved() {
    for (signal, number, code) in [("TERM", 15, 143), ("HUP", 1, 129)] {
        let env = Env::new(Behavior::text("done").with_chunks(4).with_chunk_delay(Duration::from_millis(400)));
        let prompts: Vec<String> = (1..=20).map(|i| format!("q{i}")).collect();
        let file = write_prompts(&env, "p.txt", &prompts);
        let child =
            env.command(&["batch", &file, "-j", "3"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // Once the handler is in place and the first answers are being written.
        common::process::wait_until_catching(child.id(), number);
        let deadline = Instant::now() + Duration::from_secs(10);
        while env.fake.requests().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        let started = Instant::now();
        let run = wait_bounded(child);
        assert!(started.elapsed() < Duration::from_secs(2), "{run:?}");
        assert_eq!(run.code, code, "{run:?}");
        assert!(lines(&run.stdout).is_empty(), "running prompts were cancelled, not finished: {run:?}");
        let last = run.stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with(&format!("geminal: Stopped by SIG{signal}")) && last.contains("--resume"), "{run:?}");
        let export = env.run(&["history", "export", "1", "--format", "json"]);
        let json: serde_json::Value = serde_json::from_str(&export.stdout).unwrap();
        assert_eq!(json["messages"][1]["status"], "interrupted", "{export:?}");
    }
}

/// What no JSON line may carry raw to a terminal.
const UNSAFE: [char; 10] =
    ['\u{1b}', '\u{9b}', '\u{9d}', '\u{85}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}', '\u{2028}', '\u{7}'];

#[test]
fn json_lines_on_a_terminal_escape_hostile_text_and_a_pipe_gets_it_raw() {
    let env = Env::new(Behavior::default().with_answer(Answer::Hostile));
    let prompt = "look\u{9b}31m \u{202e}txt \u{2066}x\u{2069} zero\u{200b}w \u{feff}bom \u{2028}ls \u{85}nel";
    let input = serde_json::json!({ "id": "h", "prompt": prompt }).to_string();
    let file = write_prompts(&env, "hostile.jsonl", &[input]);

    let piped = env.run(&["batch", &file, "--no-cache"]);
    assert_eq!(piped.code, 0, "{piped:?}");
    let raw = lines(&piped.stdout);
    assert_eq!((raw.len(), raw[0]["prompt"].as_str()), (1, Some(prompt)), "{piped:?}");
    assert!(piped.stdout.contains('\u{9b}') && piped.stdout.contains('\u{202e}'), "a pipe gets the exact text");

    let Some(shown) = env.run_in_terminal(&["batch", &file, "--no-cache"]) else { return };
    assert_eq!(shown.code, 0, "{shown:?}");
    for bad in UNSAFE {
        assert!(!shown.stdout.contains(bad), "{bad:?} reached the terminal: {shown:?}");
    }
    let on_terminal: Vec<serde_json::Value> =
        shown.stdout.lines().map(|l| serde_json::from_str(l.trim_end_matches('\r')).unwrap()).collect();
    assert_eq!(on_terminal.len(), 1, "{shown:?}");
    for field in ["prompt", "answer"] {
        assert_eq!(on_terminal[0][field], raw[0][field], "the same data once parsed: {field}");
    }
    assert!(shown.stdout.contains(r"\u009b") && shown.stdout.contains(r"\u202e"), "{shown:?}");
}

/// The `error.kind` of each line, by id.
fn kinds(out: &[serde_json::Value]) -> HashMap<String, Option<String>> {
    out.iter().map(|v| (v["id"].as_str().unwrap().to_owned(), v["error"]["kind"].as_str().map(str::to_owned))).collect()
}

#[test]
fn a_jsonl_file_never_sends_a_line_that_is_not_json_and_a_txt_file_sends_every_line_as_text() {
    let env = Env::new(Behavior::text("ok"));
    let file = write_prompts(
        &env,
        "p.jsonl",
        &[r#"{"prompt": "first"}"#.into(), "not json at all".into(), r#"{"id": "k", "prompt": "third"}"#.into()],
    );
    let run = env.run(&["batch", &file]);
    assert_eq!(run.code, 10, "{run:?}");
    let out = lines(&run.stdout);
    let kinds = kinds(&out);
    assert_eq!(kinds.len(), 3, "{run:?}");
    assert_eq!(kinds["1"], None);
    assert_eq!(kinds["2"].as_deref(), Some("bad_input"), "the bad line keeps its id (its line number): {run:?}");
    assert_eq!(kinds["k"], None);
    let sent: Vec<String> = env.generate_requests().iter().map(|r| r.prompt()).collect();
    assert_eq!(sent.len(), 2, "the bad line was not sent (nor paid for): {sent:?}");
    assert!(!sent.iter().any(|p| p.contains("not json")), "{sent:?}");

    // In a text file a line starting with `{` is a prompt like any other.
    let env = Env::new(Behavior::text("ok"));
    let file = write_prompts(&env, "p.txt", &[r#"{"a": 1} is valid JSON: explain"#.into(), "plain".into()]);
    let run = env.run(&["batch", &file]);
    assert_eq!(run.code, 0, "{run:?}");
    let sent: Vec<String> = env.generate_requests().iter().map(|r| r.prompt()).collect();
    assert!(sent.contains(&r#"{"a": 1} is valid JSON: explain"#.to_owned()), "{sent:?}");
}

#[test]
fn repeated_ids_in_a_file_are_refused_before_anything_is_sent() {
    let env = Env::new(Behavior::text("ok"));
    let file = write_prompts(
        &env,
        "p.jsonl",
        &[
            r#"{"id": "a", "prompt": "one"}"#.into(),
            r#"{"id": "b", "prompt": "two"}"#.into(),
            r#"{"id": "a", "prompt": "three"}"#.into(),
        ],
    );
    let run = env.run(&["batch", &file]);
    run.assert_failed(2, "Line 3 of");
    assert!(run.stderr.contains("repeats the id a of line 1"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert_eq!(env.fake.generate_count(), 0, "nothing was sent");
}

#[test]
fn resume_never_writes_a_bad_line_twice() {
    let env = Env::new(Behavior::text("ok"));
    let file = write_prompts(&env, "p.jsonl", &[r#"{"prompt": "good"}"#.into(), "{broken".into()]);
    let out = env.home.path().join("out.jsonl");
    let out_arg = out.to_str().unwrap();
    assert_eq!(env.run(&["batch", &file, "--resume", out_arg]).code, 10);
    let again = env.run(&["batch", &file, "--resume", out_arg]);
    assert_eq!(again.code, 10, "the bad line is still not answered: {again:?}");
    let written = lines(&std::fs::read_to_string(&out).unwrap());
    let mut ids: Vec<&str> = written.iter().map(|v| v["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1", "2"], "each line once: {again:?}");
    assert_eq!(env.fake.generate_count(), 1);
}

#[test]
fn a_missing_input_file_is_a_usage_error_in_one_sentence() {
    let env = Env::new(Behavior::text("ok"));
    let missing = env.home.path().join("nope.txt");
    let run = env.run(&["batch", missing.to_str().unwrap()]);
    run.assert_failed(2, "does not exist");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(!run.stderr.contains("--resume"), "{run:?}");
    assert_eq!(env.fake.requests().len(), 0);
}

/// A FIFO in the test's home (made with mkfifo).
fn fifo(env: &Env, name: &str) -> std::path::PathBuf {
    let path = env.home.path().join(name);
    let made = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success());
    path
}

#[test]
fn a_fifo_and_a_process_substitution_are_read_once_and_every_line_answered() {
    let env = Env::new(Behavior::text("ok"));
    let path = fifo(&env, "prompts");
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || std::fs::write(path, "one\ntwo\nthree\n").unwrap())
    };
    let run = env.run(&["batch", path.to_str().unwrap(), "--no-cache"]);
    writer.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout).len(), 3, "{run:?}");
    assert!(run.stderr.contains("3 answered"), "{run:?}");

    // `geminal batch <(cmd)`: a /dev/fd/N pipe, as bash passes it.
    let mut bash = std::process::Command::new("bash");
    let base = env.command(&[]);
    bash.env_clear()
        .args(["-c", r#"exec "$0" batch <(printf 'alpha\nbeta\n') --no-cache"#])
        .arg(base.get_program())
        .stdin(Stdio::null());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            bash.env(k, v);
        }
    }
    bash.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let run = common::process::finish(&mut bash);
    assert_eq!(run.code, 0, "{run:?}");
    let out = lines(&run.stdout);
    let answered: Vec<&str> = out.iter().map(|v| v["prompt"].as_str().unwrap()).collect();
    assert_eq!(answered.len(), 2, "{run:?}");
    assert!(run.stderr.contains("2 answered"), "{run:?}");
}

#[test]
fn sigterm_and_sigint_end_a_batch_waiting_on_a_fifo_with_no_writer() {
    for (signal, number, code) in [("TERM", 15, 143), ("INT", 2, 130)] {
        let env = Env::new(Behavior::text("ok"));
        let path = fifo(&env, "waiting");
        let child = env
            .command(&["batch", path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        common::process::wait_until_catching(child.id(), number);
        std::thread::sleep(Duration::from_millis(200));
        std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        let started = Instant::now();
        let run = wait_bounded(child);
        assert!(started.elapsed() < Duration::from_secs(5), "{run:?}");
        assert_eq!(run.code, code, "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
    }
}

#[test]
fn jobs_show_the_tokens_cost_state_and_every_line_of_a_local_run() {
    // Each answer: 1,000 in and 100 out on 2.5 Flash = $0.00055.
    let usage = serde_json::json!({ "promptTokenCount": 1_000, "candidatesTokenCount": 100, "totalTokenCount": 1_100 });
    let env = Env::new(Behavior::text("ok").with_usage(usage));
    let prompts: Vec<String> = (1..=5).map(|i| format!("question {i}")).collect();
    let file = write_prompts(&env, "p.txt", &prompts);
    // 3 fit under $0.0065 (each reserved at about $0.0025 with --max-tokens 1000, one at a time).
    let run =
        env.run(&["batch", &file, "-j", "1", "-m", "gemini-2.5-flash", "--max-tokens", "1000", "--budget", "0.0045"]);
    assert_eq!(run.code, 12, "{run:?}");
    let answered = lines(&run.stdout).len();
    assert!(answered > 0 && answered < 5, "{run:?}");
    let show = env.run(&["jobs", "show", "1"]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains("state        interrupted"), "{show:?}");
    let waiting = 5 - answered;
    assert!(
        show.stdout.contains(&format!("lines        5 ({answered} answered, 0 failed, {waiting} waiting)")),
        "every line of the input counts: {show:?}"
    );
    let tokens = format!("tokens       {} in, {} out", 1_000 * answered, 100 * answered);
    assert!(show.stdout.contains(&tokens), "{show:?}");
    let cost = geminal::money::Usd::from_nanos(550_000 * answered as i64).to_string();
    assert!(run.stderr.contains(&format!("cost {cost}.")), "{run:?}");
    assert!(show.stdout.contains(&format!("cost         {cost}\n")), "{show:?}");
    let list = env.run(&["jobs"]);
    let row = list.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(row.contains("interrupted") && row.contains(" 5 ") && row.contains(&cost), "{list:?}");

    // A model of unknown price: unknown, never $0.
    let env =
        Env::new(Behavior::text("ok").with_usage(
            serde_json::json!({ "promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15 }),
        ));
    let file = write_prompts(&env, "p.txt", &["one".into(), "two".into()]);
    assert_eq!(env.run(&["batch", &file, "-m", "gemini-9-unpriced"]).code, 0);
    let show = env.run(&["jobs", "show", "1"]);
    assert!(show.stdout.contains("cost         price unknown (2 answers)"), "{show:?}");
    let list = env.run(&["jobs"]);
    assert!(list.stdout.contains("price unknown") && !list.stdout.contains("$0.00"), "{list:?}");
}

#[test]
fn retry_failed_sends_a_local_runs_lines_with_its_model_role_and_settings() {
    let env = Env::new(Behavior::text("ok"));
    std::fs::create_dir_all(env.config_dir().join("roles")).unwrap();
    std::fs::write(env.config_dir().join("roles/careful.md"), "Answer carefully.").unwrap();
    let broken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = broken.clone();
    env.fake.set_router(move |r| {
        (r.prompt().contains("joke") && flag.load(std::sync::atomic::Ordering::SeqCst))
            .then(|| Behavior::fault(Fault::http(400)))
    });
    let file = write_prompts(&env, "p.txt", &["why is the sky blue?".into(), "tell me a joke".into()]);
    let out = env.home.path().join("out.jsonl");
    let args = [
        "batch",
        &file,
        "-m",
        "gemini-2.5-pro",
        "--role",
        "careful",
        "--temperature",
        "0.3",
        "--resume",
        out.to_str().unwrap(),
    ];
    assert_eq!(env.run(&args).code, 10);
    broken.store(false, std::sync::atomic::Ordering::SeqCst);
    let retried = env.run(&["batch", "--retry-failed", "1"]);
    assert_eq!(retried.code, 0, "{retried:?}");
    let last = env.generate_requests().pop().unwrap();
    assert_eq!(last.prompt(), "tell me a joke");
    assert!(last.path.contains("/models/gemini-2.5-pro:"), "the run's model: {}", last.path);
    let body = env.last_body();
    assert_eq!(body.pointer("/systemInstruction/parts/0/text").and_then(|v| v.as_str()), Some("Answer carefully."));
    let temperature = body.pointer("/generationConfig/temperature").and_then(|v| v.as_f64()).unwrap_or_default();
    assert!((temperature - 0.3).abs() < 1e-6, "{body}");
}
