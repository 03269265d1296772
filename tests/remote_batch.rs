//! `geminal batch --remote` and `geminal jobs` as processes against the fake's Batch API (time
//! scaled to milliseconds): results joined by key and saved exactly once whichever process
//! collects them, detach and kill, cancel, expiry, failed lines, an upload cut mid-way, splitting.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::{Env, Run, finish, ok, wait_bounded};
use geminal::gemini::fake::{BatchEnd, Behavior, demo_answer};

const PROMPTS: &str = "{\"prompt\": \"why is the sky blue?\"}\n{\"prompt\": \"what is rust ownership?\"}\n{\"id\": \"x\", \"prompt\": \"tell me a joke\", \"system\": \"be brief\"}\n";

fn env(step: Duration) -> Env {
    let env = Env::new(Behavior::demo());
    env.fake.set_batch_step(step);
    env
}

/// Writes the prompts to a file without an extension: its first line says how it is read.
fn prompts(env: &Env, text: &str) -> String {
    let path = env.home.path().join("prompts");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs geminal polling every 20 ms.
fn geminal(env: &Env, args: &[&str]) -> Run {
    finish(env.command(args).env("GEMINAL_BATCH_POLL_MS", "20"))
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Every line's answer is the one the fake gives its own prompt (the join on key is right).
#[track_caller]
fn assert_answers_match_prompts(lines: &[serde_json::Value]) {
    for line in lines {
        let prompt = line["prompt"].as_str().unwrap();
        assert_eq!(line["answer"].as_str().unwrap(), demo_answer(prompt), "{line}");
        assert!(line["error"].is_null(), "{line}");
        assert!(line["output_tokens"].as_u64().unwrap() > 0, "{line}");
    }
}

fn batch_answers(env: &Env) -> i64 {
    env.history()
        .query_row("SELECT count(*) FROM messages WHERE role = 'model' AND batch_priced = 1", [], |r| r.get(0))
        .unwrap()
}

fn create_bodies(env: &Env) -> Vec<serde_json::Value> {
    env.fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(":batchGenerateContent"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[test]
fn a_remote_batch_sends_every_line_keyed_and_writes_each_answer_once() {
    let env = env(Duration::from_millis(50));
    let file = prompts(&env, PROMPTS);
    let run = geminal(&env, &["batch", &file, "--remote"]);
    ok(&run);
    let out = lines(&run.stdout);
    let ids: Vec<&str> = out.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "x"]);
    assert_answers_match_prompts(&out);
    // One inline job; each request keyed by the line's id, its system prompt beside it.
    let bodies = create_bodies(&env);
    assert_eq!(bodies.len(), 1);
    let requests = bodies[0]["batch"]["inputConfig"]["requests"]["requests"].as_array().unwrap();
    let keys: Vec<&str> = requests.iter().map(|r| r["metadata"]["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["1", "2", "x"]);
    assert_eq!(requests[2]["request"]["systemInstruction"]["parts"][0]["text"], "be brief");
    assert!(bodies[0]["batch"]["displayName"].as_str().unwrap().starts_with("geminal-job-1-"));
    // Saved as conversations priced at the batch rate, with their tokens.
    assert_eq!(batch_answers(&env), 3);
    let tokens: i64 = env
        .history()
        .query_row("SELECT sum(output_tokens) FROM messages WHERE batch_priced = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tokens, out.iter().map(|l| l["output_tokens"].as_i64().unwrap()).sum::<i64>());
    let listed = run_ok(&env, &["jobs"]);
    assert!(listed.lines().any(|l| l.contains("remote") && l.contains("succeeded") && l.contains(" 3 ")), "{listed}");
}

fn run_ok(env: &Env, args: &[&str]) -> String {
    let run = geminal(env, args);
    ok(&run);
    run.stdout
}

#[test]
fn a_detached_job_is_collected_by_later_processes_and_saved_only_once() {
    let env = env(Duration::from_millis(300));
    let file = prompts(&env, PROMPTS);
    let run = geminal(&env, &["batch", &file, "--remote", "--detach"]);
    ok(&run);
    assert_eq!(run.stdout.trim(), "1");
    assert_eq!(batch_answers(&env), 0);
    let state: String = env.history().query_row("SELECT state FROM jobs WHERE id = 1", [], |r| r.get(0)).unwrap();
    assert!(state == "pending" || state == "running", "{state}");

    let waited = lines(&run_ok(&env, &["jobs", "wait", "1"]));
    assert_eq!(waited.len(), 3);
    assert_answers_match_prompts(&waited);
    let out = env.home.path().join("again.jsonl");
    let fetched = geminal(&env, &["jobs", "fetch", "1", "-o", out.to_str().unwrap()]);
    ok(&fetched);
    assert!(fetched.stderr.contains("0 newly saved"), "{fetched:?}");
    assert_eq!(lines(&std::fs::read_to_string(&out).unwrap()), waited);
    assert_eq!(batch_answers(&env), 3, "a second collection saves nothing again");
}

#[test]
fn a_batch_killed_while_waiting_is_collected_by_jobs_wait() {
    let env = env(Duration::from_millis(1500));
    let file = prompts(&env, PROMPTS);
    let mut child = env
        .command(&["batch", &file, "--remote"])
        .env("GEMINAL_BATCH_POLL_MS", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.fake.batches_created() == 0 {
        assert!(Instant::now() < deadline, "the job was never created");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Give it a moment to record Gemini's name for the job, then kill it mid-wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let path = env.home.path().join("data/geminal/history.sqlite3");
        let named: Option<String> = rusqlite::Connection::open(path)
            .ok()
            .and_then(|c| c.query_row("SELECT remote_name FROM jobs WHERE id = 1", [], |r| r.get(0)).ok())
            .flatten();
        if named.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the job was never recorded as submitted");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let killed = wait_bounded(child);
    assert_ne!(killed.code, 0);
    let waited = lines(&run_ok(&env, &["jobs", "wait", "1"]));
    assert_eq!(waited.len(), 3);
    assert_answers_match_prompts(&waited);
    assert_eq!(batch_answers(&env), 3);
    assert_eq!(env.fake.batches_created(), 1, "nothing was submitted twice");
}

#[test]
fn a_cancelled_job_says_so_and_keeps_its_lines_for_a_retry() {
    let env = env(Duration::from_secs(20));
    let file = prompts(&env, PROMPTS);
    ok(&geminal(&env, &["batch", &file, "--remote", "--detach"]));
    let cancelled = geminal(&env, &["jobs", "cancel", "1"]);
    ok(&cancelled);
    assert!(cancelled.stderr.contains("cancelled"), "{cancelled:?}");
    assert!(env.fake.requests().iter().any(|r| r.path.ends_with(":cancel") && r.method == "POST"));
    let waited = geminal(&env, &["jobs", "wait", "1"]);
    assert_eq!(waited.code, 10, "{waited:?}");
    assert!(
        waited.stderr.contains("Job 1 cancelled") && waited.stderr.contains("3 prompts were not answered"),
        "{waited:?}"
    );
    let dead = lines(&run_ok(&env, &["jobs", "show", "1", "--failed"]));
    assert_eq!(dead.len(), 3);
}

#[test]
fn an_expired_job_says_what_was_lost() {
    let env = env(Duration::from_millis(30));
    env.fake.set_batch_end(BatchEnd::Expire);
    let file = prompts(&env, PROMPTS);
    let run1 = geminal(&env, &["batch", &file, "--remote"]);
    assert_eq!(run1.code, 10, "{run1:?}");
    assert!(run1.stderr.contains("expired") && run1.stderr.contains("retry-failed 1"), "{run1:?}");
    let dead = lines(&run_ok(&env, &["jobs", "show", "1", "--failed"]));
    let kinds: Vec<&str> = dead.iter().map(|l| l["error"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["expired", "expired", "expired"]);
    let shown = run_ok(&env, &["jobs", "show", "1"]);
    assert!(shown.contains("expired") && shown.contains("48 hours"), "{shown}");
}

#[test]
fn failed_lines_become_a_dead_letter_with_their_kind() {
    let env = env(Duration::from_millis(30));
    env.fake.fail_batch_lines_containing(Some("joke"));
    let file = prompts(&env, PROMPTS);
    let run1 = geminal(&env, &["batch", &file, "--remote"]);
    assert_eq!(run1.code, 10, "{run1:?}");
    let out = lines(&run1.stdout);
    assert_eq!(out.len(), 3);
    let failed: Vec<&serde_json::Value> = out.iter().filter(|l| !l["error"].is_null()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0]["id"].as_str(), failed[0]["error"]["kind"].as_str()), (Some("x"), Some("bad_request")));
    let dead = lines(&run_ok(&env, &["jobs", "show", "1", "--failed"]));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["id"], "x");
    assert_eq!(batch_answers(&env), 2);

    // Sent again, remotely: only the failed line, as it was composed (its system prompt).
    env.fake.fail_batch_lines_containing(None);
    let retried = geminal(&env, &["batch", "--retry-failed", "1"]);
    ok(&retried);
    let out = lines(&retried.stdout);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], "x");
    assert_answers_match_prompts(&out);
    let bodies = create_bodies(&env);
    assert_eq!(bodies.len(), 2);
    let requests = bodies[1]["batch"]["inputConfig"]["requests"]["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["request"]["systemInstruction"]["parts"][0]["text"], "be brief");
    assert_eq!(batch_answers(&env), 3);
}

#[test]
fn an_expired_job_can_be_answered_locally() {
    let env = env(Duration::from_millis(30));
    env.fake.set_batch_end(BatchEnd::Expire);
    let file = prompts(&env, PROMPTS);
    assert_eq!(geminal(&env, &["batch", &file, "--remote"]).code, 10);
    let retried = geminal(&env, &["batch", "--retry-failed", "1", "--local"]);
    ok(&retried);
    let out = lines(&retried.stdout);
    let mut ids: Vec<&str> = out.iter().map(|l| l["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1", "2", "x"]);
    assert_answers_match_prompts(&out);
    let asked_here = env.generate_requests().iter().filter(|r| !r.path.ends_with(":batchGenerateContent")).count();
    assert_eq!(asked_here, 3, "answered here, one request each");
    assert_eq!(env.fake.batches_created(), 1);
}

#[test]
fn a_large_request_file_is_uploaded_and_an_upload_cut_midway_resumes() {
    let env = env(Duration::from_millis(30));
    env.fake.cut_upload_at(100);
    let file = prompts(&env, PROMPTS);
    let run1 = geminal(&env, &["batch", &file, "--remote", "--inline-max-bytes", "0", "--retries", "3"]);
    ok(&run1);
    assert_answers_match_prompts(&lines(&run1.stdout));
    assert_eq!(env.fake.uploads_started(), 1, "the upload resumed in its session");
    let uploaded = env.fake.uploaded_files();
    assert_eq!(uploaded.len(), 1);
    assert_eq!(uploaded[0].mime, "application/jsonl");
    let bodies = create_bodies(&env);
    assert_eq!(bodies[0]["batch"]["inputConfig"]["fileName"], uploaded[0].name.as_str());
    // The file holds one keyed request per line.
    let content = String::from_utf8(uploaded[0].content.clone().unwrap().to_vec()).unwrap();
    let keys: Vec<String> = content
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["1", "2", "x"]);
    assert!(env.fake.requests().iter().any(|r| r.path.starts_with("/download/v1beta/files/batch-")));
}

#[test]
fn a_large_input_is_split_across_jobs_and_every_line_answered_once() {
    let env = env(Duration::from_millis(30));
    let text: String = (0..12).map(|i| format!("question number {i} about rust\n")).collect();
    let file = prompts(&env, &text);
    let run1 = geminal(&env, &["batch", &file, "--remote", "--job-max-bytes", "400", "--priority", "7"]);
    ok(&run1);
    let out = lines(&run1.stdout);
    let mut ids: Vec<String> = out.iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    ids.sort_by_key(|id| id.parse::<u32>().unwrap());
    assert_eq!(ids, (1..=12).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_answers_match_prompts(&out);
    let jobs = env.fake.batches_created();
    assert!(jobs > 1, "one job only");
    assert_eq!(env.fake.batch_priorities(), vec![7; jobs]);
    assert_eq!(batch_answers(&env), 12);
}

#[test]
fn a_local_run_is_a_job_that_retry_failed_finishes_into_its_own_output_file() {
    let env = Env::new(Behavior::demo());
    let broken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = broken.clone();
    env.fake.set_router(move |r| {
        (r.prompt().contains("joke") && flag.load(std::sync::atomic::Ordering::SeqCst))
            .then(|| Behavior::fault(geminal::gemini::fake::Fault::http(400)))
    });
    let file = prompts(&env, PROMPTS);
    let out = env.home.path().join("answers.jsonl");
    let first = geminal(&env, &["batch", &file, "--resume", out.to_str().unwrap()]);
    assert_eq!(first.code, 10, "{first:?}");
    let listed = run_ok(&env, &["jobs"]);
    assert!(listed.lines().any(|l| l.contains("local") && l.contains("succeeded")), "{listed}");
    let dead = lines(&run_ok(&env, &["jobs", "show", "1", "--failed"]));
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0]["id"].as_str(), dead[0]["error"]["kind"].as_str()), (Some("x"), Some("bad_request")));

    // Finished later without naming the files: only the failed line is asked, into the same file.
    broken.store(false, std::sync::atomic::Ordering::SeqCst);
    let asked_before = env.generate_requests().len();
    ok(&geminal(&env, &["batch", "--retry-failed", "1"]));
    assert_eq!(env.generate_requests().len(), asked_before + 1);
    let written = lines(&std::fs::read_to_string(&out).unwrap());
    let answered: Vec<&serde_json::Value> = written.iter().filter(|l| l["error"].is_null()).collect();
    let mut ids: Vec<&str> = answered.iter().map(|l| l["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1", "2", "x"]);
    let system: String = env
        .last_body()
        .pointer("/systemInstruction/parts/0/text")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(system, "be brief", "the line was sent as written");
}

#[test]
fn a_job_whose_name_was_never_recorded_is_found_again_by_its_display_name() {
    let env = env(Duration::from_millis(30));
    let file = prompts(&env, PROMPTS);
    ok(&geminal(&env, &["batch", &file, "--remote", "--detach"]));
    // As if the process had stopped between Gemini's answer and recording it.
    let path = env.home.path().join("data/geminal/history.sqlite3");
    rusqlite::Connection::open(path)
        .unwrap()
        .execute("UPDATE jobs SET remote_name = NULL, state = 'submitting' WHERE id = 1", [])
        .unwrap();
    let waited = lines(&run_ok(&env, &["jobs", "wait", "1"]));
    assert_eq!(waited.len(), 3);
    assert_answers_match_prompts(&waited);
    assert!(env.fake.requests().iter().any(|r| r.path == "/v1beta/batches" && r.method == "GET"), "found by listing");
    assert_eq!(env.fake.batches_created(), 1);
}

#[test]
fn the_demo_runs_a_remote_batch_on_its_own_simulated_batch_api() {
    let env = env(Duration::from_millis(30));
    let file = prompts(&env, PROMPTS);
    let run = finish(
        env.command(&["--demo", "batch", &file, "--remote"])
            .env("GEMINAL_FAKE_BATCH_STEP_MS", "20")
            .env("GEMINAL_BATCH_POLL_MS", "20"),
    );
    ok(&run);
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 3);
    assert_answers_match_prompts(&out);
    assert_eq!(env.fake.batches_created(), 0, "the demo asks its own simulated Gemini");
    let detached = geminal(&env, &["--demo", "batch", &file, "--remote", "--detach"]);
    detached.assert_failed(2, "--detach needs a real Gemini");
}

#[test]
fn remote_answers_are_priced_at_the_batch_rate_and_another_providers_model_stays_local() {
    let env = env(Duration::from_millis(20));
    env.add_config("[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n");
    let file = prompts(
        &env,
        "{\"prompt\": \"why is the sky blue?\"}\n{\"prompt\": \"what is rust ownership?\"}\n{\"id\": \"o\", \"prompt\": \"hi\", \"model\": \"local:qwen3:8b\"}\n",
    );
    let run = geminal(&env, &["batch", &file, "--remote", "-m", "gemini-2.5-flash"]);
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 3, "{run:?}");
    let refused = out.iter().find(|l| l["id"] == "o").unwrap();
    assert_eq!(refused["error"]["kind"], "bad_input", "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("without --remote"), "{refused}");
    let bodies = create_bodies(&env);
    let sent = bodies[0]["batch"]["inputConfig"]["requests"]["requests"].as_array().unwrap().len();
    assert_eq!((bodies.len(), sent), (1, 2), "only Gemini's lines went to the Batch API");
    // gemini-2.5-flash: $0.30 in and $2.50 out per 1M tokens, half of it in a batch.
    let mut total = 0;
    for line in out.iter().filter(|l| l["error"].is_null()) {
        let (p, o) = (line["prompt_tokens"].as_i64().unwrap(), line["output_tokens"].as_i64().unwrap());
        let nanos = (p * 300 + o * 2_500 + 1) / 2;
        assert!((line["cost_usd"].as_f64().unwrap() * 1e9 - nanos as f64).abs() < 1.0, "{line}");
        total += nanos;
    }
    let stored: i64 = env
        .history()
        .query_row("SELECT sum(cost_nanos) FROM messages WHERE role = 'model' AND batch_priced = 1", [], |r| r.get(0))
        .unwrap();
    assert!((stored - total).abs() <= 2, "{stored} saved, {total} computed");
    let show = geminal(&env, &["jobs", "show", "1"]);
    let cost = format!("{}", geminal::money::Usd::from_nanos(stored));
    assert!(show.stdout.contains(&format!("cost         {cost} (batch price)")), "{show:?}");
    let list = geminal(&env, &["jobs"]);
    assert!(list.stdout.lines().nth(1).unwrap().contains(&cost), "{list:?}");
}

#[test]
fn retry_failed_sends_a_remote_lines_attachments_again() {
    let env = env(Duration::from_millis(30));
    env.fake.fail_batch_lines_containing(Some("joke"));
    std::fs::write(env.home.path().join("notes.txt"), "the secret word is plum\n").unwrap();
    let file =
        prompts(&env, "{\"id\": \"a\", \"prompt\": \"tell me a joke about this\", \"attachments\": [\"notes.txt\"]}\n");
    assert_eq!(geminal(&env, &["batch", &file, "--remote"]).code, 10);
    env.fake.fail_batch_lines_containing(None);
    let retried = geminal(&env, &["batch", "--retry-failed", "1"]);
    ok(&retried);
    let bodies = create_bodies(&env);
    assert_eq!(bodies.len(), 2);
    let first = &bodies[0]["batch"]["inputConfig"]["requests"]["requests"][0]["request"]["contents"];
    let again = &bodies[1]["batch"]["inputConfig"]["requests"]["requests"][0]["request"]["contents"];
    assert!(first.to_string().contains("plum") || first.to_string().contains("fileData"), "{first}");
    assert_eq!(again, first, "the line is sent again as it was, its attachment with it");
}

/// Runs a remote batch of three lines whose result file the fake serves as `edit` rewrites it.
fn remote_with_results(edit: impl Fn(&str) -> String + Send + Sync + 'static) -> (Env, Run) {
    let env = env(Duration::from_millis(20));
    env.fake.edit_batch_results(Some(std::sync::Arc::new(edit)));
    let file = prompts(&env, PROMPTS);
    let run = geminal(&env, &["batch", &file, "--remote", "--inline-max-bytes", "0"]);
    (env, run)
}

#[test]
fn a_result_line_that_cannot_be_read_makes_the_exit_code_say_so() {
    // The second line cut short.
    let (env, run) = remote_with_results(|text| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let half = lines[1].len() / 2;
        lines[1].truncate(half);
        lines.join("\n") + "\n"
    });
    assert_eq!(run.code, 10, "{run:?}");
    assert_eq!(lines(&run.stdout).len(), 2, "{run:?}");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("1 prompt was not answered") && last.contains("--retry-failed 1"), "{run:?}");
    assert_eq!(batch_answers(&env), 2);
}

#[test]
fn a_result_line_given_twice_is_written_once() {
    let (env, run) = remote_with_results(|text| {
        let first = text.lines().next().unwrap_or_default().to_owned();
        format!("{text}{first}\n")
    });
    ok(&run);
    let ids: Vec<String> = lines(&run.stdout).iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["1", "2", "x"], "{run:?}");
    assert_eq!(batch_answers(&env), 3);
}

#[test]
fn jobs_fetch_refuses_an_existing_file_unless_forced_and_writes_a_private_one() {
    use std::os::unix::fs::PermissionsExt;
    let env = env(Duration::from_millis(20));
    let file = prompts(&env, PROMPTS);
    ok(&geminal(&env, &["batch", &file, "--remote"]));
    let out = env.home.path().join("f.jsonl");
    let out_arg = out.to_str().unwrap();
    ok(&geminal(&env, &["jobs", "fetch", "1", "-o", out_arg]));
    let first = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines(&first).len(), 3);
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let again = geminal(&env, &["jobs", "fetch", "1", "-o", out_arg]);
    again.assert_failed(2, "already exists");
    assert!(again.stderr.contains("--force"), "{again:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first, "nothing was added");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&geminal(&env, &["jobs", "fetch", "1", "-o", out_arg, "--force"]));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first, "replaced, not appended to");
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_create_whose_answer_was_lost_is_found_by_its_display_name_not_created_twice() {
    let env = env(Duration::from_millis(30));
    // Gemini makes the job, but its answer never arrives: the client sees a cut connection.
    env.fake.lose_batch_create_answers(1);
    let file = prompts(&env, PROMPTS);
    let run = geminal(&env, &["batch", &file, "--remote", "--retries", "3"]);
    ok(&run);
    assert_answers_match_prompts(&lines(&run.stdout));
    assert_eq!(env.fake.batches_created(), 1, "one submission, one billed job");
    assert_eq!(create_bodies(&env).len(), 1, "found by listing, not created again");
    assert!(env.fake.requests().iter().any(|r| r.path == "/v1beta/batches" && r.method == "GET"));
    let (state, remote): (String, Option<String>) = env
        .history()
        .query_row("SELECT state, remote_name FROM jobs WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((state.as_str(), remote.as_deref()), ("succeeded", Some("batches/fakebatch000001")));
}

#[test]
fn a_job_gemini_refused_is_marked_failed_with_the_reason_and_so_are_the_jobs_not_sent_after_it() {
    let options = geminal::gemini::fake::FakeOptions { strict_models: true, ..Default::default() };
    let env = Env::with_options(options, Behavior::demo());
    env.fake.set_batch_step(Duration::from_millis(30));
    let file = prompts(
        &env,
        "{\"id\": \"a\", \"prompt\": \"hi\", \"model\": \"gemini-9-nope\"}\n{\"id\": \"b\", \"prompt\": \"hello\", \"model\": \"gemini-2.5-flash\"}\n",
    );
    let run = geminal(&env, &["batch", &file, "--remote"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("gemini-9-nope"), "{run:?}");
    type JobRow = (i64, String, Option<String>, Option<String>, Option<String>);
    let jobs: Vec<JobRow> = env
        .history()
        .prepare("SELECT id, state, error, error_kind, error_detail FROM jobs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(jobs.iter().all(|(_, state, ..)| state == "failed"), "none left submitting: {jobs:?}");
    // Stored as data (the model, the job before), worded by `jobs show`.
    assert!(
        jobs.iter().all(|(_, _, sentence, kind, _)| sentence.is_none() && kind.as_deref() == Some("model_not_found")),
        "{jobs:?}"
    );
    assert!(jobs[0].4.as_deref().unwrap().contains(r#""model":"gemini-9-nope""#), "{jobs:?}");
    assert!(jobs[1].4.as_deref().unwrap().contains(r#""after_job":1"#), "{jobs:?}");
    let shown = |id: &str| run_ok(&env, &["jobs", "show", id]);
    assert!(shown("1").contains("The model 'gemini-9-nope' does not exist"), "{}", shown("1"));
    assert!(
        shown("2").contains("not submitted, because job 1 before it could not be: The model 'gemini-9-nope'"),
        "{}",
        shown("2")
    );
    assert_eq!(env.fake.batches_created(), 0);
    // A failed job is sent again by --retry-failed, every line of it.
    let retried = geminal(&env, &["batch", "--retry-failed", "2", "--remote"]);
    ok(&retried);
    assert_answers_match_prompts(&lines(&retried.stdout));
}

/// The same answers written by a local batch, a remote batch and `jobs fetch` are the same
/// bytes, once what truly differs is set aside (a local line's measured latency, the batch price).
#[test]
fn local_remote_and_fetched_lines_are_the_same_bytes_for_the_same_answers() {
    let env = env(Duration::from_millis(20));
    let file = prompts(&env, PROMPTS);
    let local = geminal(&env, &["batch", &file, "--no-cache"]);
    ok(&local);
    let remote = geminal(&env, &["batch", &file, "--remote"]);
    ok(&remote);
    let out = env.home.path().join("fetched.jsonl");
    ok(&geminal(&env, &["jobs", "fetch", "2", "-o", out.to_str().unwrap()]));
    let fetched = std::fs::read_to_string(&out).unwrap();
    // A remote job's lines, as collected and as fetched again: the same bytes.
    let sorted = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort_unstable();
        lines
    };
    assert_eq!(sorted(&remote.stdout), sorted(&fetched), "remote batch and jobs fetch");
    // A local line: the same keys in the same order and the same values, once what truly
    // differs is set aside (the latency it measured, the price, and the output tokens the fake
    // counts its own way for a streamed answer).
    let normalized = |text: &str| -> Vec<String> {
        let mut lines = lines(text);
        lines.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        lines
            .into_iter()
            .map(|mut l| {
                for differs in ["latency_ms", "cost_usd", "output_tokens"] {
                    l[differs] = serde_json::Value::Null;
                }
                l.to_string()
            })
            .collect()
    };
    let local = normalized(&local.stdout);
    assert_eq!(local.len(), 3);
    assert_eq!(local, normalized(&remote.stdout), "local and remote");
}

/// A local line that failed is recorded as its kind and detail, and `jobs show --failed` says
/// what the batch line said.
#[test]
fn a_local_failed_line_is_recorded_as_data_and_told_as_the_batch_line_told_it() {
    let env = Env::new(Behavior::demo());
    env.fake
        .set_router(|r| r.prompt().contains("joke").then(|| Behavior::fault(geminal::gemini::fake::Fault::http(400))));
    let file = prompts(&env, PROMPTS);
    let run = geminal(&env, &["batch", &file]);
    assert_eq!(run.code, 10, "{run:?}");
    let said = lines(&run.stdout).into_iter().find(|l| l["id"] == "x").unwrap();
    let (kind, message, detail): (Option<String>, Option<String>, Option<String>) = env
        .history()
        .query_row("SELECT error_kind, error_message, error_detail FROM job_lines WHERE key = 'x'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((kind.as_deref(), message), (Some("bad_request"), None), "no sentence stored");
    let detail: serde_json::Value = serde_json::from_str(&detail.unwrap()).unwrap();
    assert!(detail["message"].as_str().unwrap().contains("Unknown name"), "{detail}");
    let dead = lines(&run_ok(&env, &["jobs", "show", "1", "--failed"]));
    assert_eq!(dead[0]["error"], said["error"], "{dead:?} vs {said}");
}
