//! A budget is a ceiling, whatever the path: `batch --remote` under `--budget` and under the
//! config's budgets, several `batch` processes on one database, prompts with large attachments,
//! a server that reports more than was asked for, `--no-save`, and deleting history. Each case
//! asserts what was spent (the `cost_usd` of every answer written, and the spending ledger)
//! against the budget, and prints it (`spent: ...`) for the audit's table.

mod common;

use std::time::Duration;

use common::process::{Env, Run, finish, ok, wait_bounded};
use geminal::gemini::fake::Behavior;
use serde_json::{Value, json};

fn lines(run: &Run) -> Vec<Value> {
    run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What the answers written cost, in nano-dollars (as `batch` prints it: dollars to 1e-9).
fn spent_nanos(lines: &[Value]) -> i64 {
    lines.iter().filter_map(|l| l["cost_usd"].as_f64()).map(|d| (d * 1e9).round() as i64).sum()
}

/// What the spending ledger holds, in nano-dollars.
fn ledger_nanos(env: &Env) -> i64 {
    env.history().query_row("SELECT coalesce(sum(cost_nanos), 0) FROM spend_ledger", [], |r| r.get(0)).unwrap()
}

/// The run stopped with exit code 12 and said `needle` (after its summary line).
#[track_caller]
fn assert_stopped(run: &Run, needle: &str) {
    assert_eq!(run.code, 12, "{run:?}");
    assert!(run.stderr.contains(needle), "{run:?}");
}

fn report(case: &str, budget: f64, spent: i64) {
    eprintln!("spent: {case}: budget ${budget}, spent ${:.6}", spent as f64 / 1e9);
}

fn file(env: &Env, name: &str, text: &str) -> String {
    let path = env.home.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn remote_env() -> Env {
    let env = Env::new(Behavior::demo());
    env.fake.set_batch_step(Duration::from_millis(50));
    env
}

const PROMPTS: &str = "why is the sky blue?\nwhat is rust ownership?\ntell me a joke\n";

fn batch_creates(env: &Env) -> usize {
    env.fake.requests().iter().filter(|r| r.path.ends_with(":batchGenerateContent")).count()
}

#[test]
fn a_remote_batch_under_budget_refuses_what_its_worst_case_would_pass_and_submits_nothing() {
    let env = remote_env();
    let prompts = file(&env, "p.txt", PROMPTS);
    let run = finish(
        env.command(&["batch", &prompts, "--remote", "-m", "gemini-2.5-flash", "--budget", "0.0001"])
            .env("GEMINAL_BATCH_POLL_MS", "20"),
    );
    let spent = spent_nanos(&lines(&run));
    report("batch --remote --budget 0.0001", 0.0001, spent);
    run.assert_failed(
        12,
        "The budget of $0.0001 would be passed by the next prompt at its worst case (the batch price): 3 prompts were not submitted; rerun with --resume OUT and a larger --budget to send them (or set --max-tokens",
    );
    assert_eq!((spent, batch_creates(&env)), (0, 0), "nothing was submitted: {run:?}");
    let jobs: i64 = env.history().query_row("SELECT count(*) FROM jobs", [], |r| r.get(0)).unwrap();
    assert_eq!(jobs, 0, "no job left behind");
}

#[test]
fn a_remote_batch_under_an_unspent_daily_budget_reserves_its_worst_case_first() {
    let env = remote_env();
    env.add_config("[budget]\ndaily = 0.001\n");
    let prompts = file(&env, "p.txt", PROMPTS);
    let run = finish(
        env.command(&["batch", &prompts, "--remote", "-m", "gemini-2.5-flash"]).env("GEMINAL_BATCH_POLL_MS", "20"),
    );
    let spent = spent_nanos(&lines(&run));
    report("--remote under [budget] daily = 0.001", 0.001, spent);
    run.assert_failed(12, "The daily budget of $0.001 would be passed by the next prompt at its worst case (the batch price): $0.00 spent today and $0.00 held by requests and jobs still running, 3 prompts were not submitted");
    assert_eq!((spent, batch_creates(&env)), (0, 0), "{run:?}");
}

#[test]
fn a_remote_batch_that_fits_holds_its_reservation_with_its_job_and_counts_its_answers_in_the_ledger() {
    let env = remote_env();
    env.add_config("[budget]\ndaily = 1\n");
    let prompts = file(&env, "p.txt", PROMPTS);
    let run = finish(
        env.command(&[
            "batch",
            &prompts,
            "--remote",
            "-m",
            "gemini-2.5-flash",
            "--max-tokens",
            "100",
            "--budget",
            "0.01",
        ])
        .env("GEMINAL_BATCH_POLL_MS", "20"),
    );
    ok(&run);
    let out = lines(&run);
    assert_eq!(out.len(), 3);
    let spent = spent_nanos(&out);
    assert!(spent > 0);
    assert_eq!(ledger_nanos(&env), spent, "the ledger counts what was collected");
    let db = env.history();
    let batch_rows: i64 =
        db.query_row("SELECT count(*) FROM spend_ledger WHERE batch_priced = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(batch_rows, 3);
    // The lines' worst cases (each ~10 tokens in, 100 out at the batch price) were held with the job.
    let (job, held): (i64, i64) = db
        .query_row(
            "SELECT rj.job_id, r.amount_nanos FROM budget_reservations r JOIN reservation_jobs rj ON rj.reservation_id = r.id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(job, 1);
    assert!((3 * 125_000..3 * 140_000).contains(&held), "3 × (100 × $2.50/M ÷ 2 + the prompt): {held}");
}

#[test]
fn four_batch_processes_on_one_database_share_one_daily_budget() {
    // Each answer: 1,000 in and 500 out on 2.5 Flash = $0.00155; each prompt's worst case
    // (a few tokens in, 1,000 out) about $0.0025.
    let usage = json!({ "promptTokenCount": 1_000, "candidatesTokenCount": 500, "totalTokenCount": 1_500 });
    let env = Env::new(Behavior::text("ok").with_usage(usage).with_first_token_delay(Duration::from_millis(30)));
    env.add_config("[budget]\ndaily = 0.05\n");
    let children: Vec<_> = (0..4)
        .map(|k| {
            let text: String = (1..=40).map(|i| format!("process {k} question {i}\n")).collect();
            let path = file(&env, &format!("p{k}.txt"), &text);
            env.command(&["batch", &path, "-j", "4", "-m", "gemini-2.5-flash", "--max-tokens", "1000"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(wait_bounded).collect();
    let spent: i64 = runs.iter().map(|r| spent_nanos(&lines(r))).sum();
    report("4 batch processes at once, [budget] daily = 0.05", 0.05, spent);
    let worst_answer = 2_600_000;
    assert!(spent <= 50_000_000 + worst_answer, "spent ${} of $0.05: {runs:?}", spent as f64 / 1e9);
    // Processes stop at their first refusal, while others' worst cases are still held: most of
    // the budget is used, not all of it.
    assert!(spent >= 30_000_000, "the budget was used, not refused early: {spent}");
    assert_eq!(ledger_nanos(&env), spent, "every answer is in the ledger");
    for run in &runs {
        assert_stopped(run, "The daily budget of $0.05 would be passed by the next prompt");
    }
}

#[test]
fn attachments_are_reserved_with_the_prompt() {
    // A 200 KB text attachment is ~50,000 tokens to the fake: $0.015 an answer on 2.5 Flash.
    let env = Env::new(Behavior::text("ok").with_first_token_delay(Duration::from_millis(30)));
    let notes = file(&env, "notes.txt", &"All work and no play. ".repeat(200_000 / 22 + 1));
    let text: String = (1..=64)
        .map(|i| {
            format!(
                "{}\n",
                json!({ "id": i.to_string(), "prompt": format!("summarise, part {i}"), "attachments": [notes] })
            )
        })
        .collect();
    let prompts = file(&env, "p.jsonl", &text);
    let run =
        env.run(&["batch", &prompts, "-j", "16", "-m", "gemini-2.5-flash", "--max-tokens", "1000", "--budget", "0.05"]);
    let spent = spent_nanos(&lines(&run));
    report("64 prompts with a 200 KB attachment, --budget 0.05", 0.05, spent);
    assert_stopped(&run, "The budget of $0.05 would be passed by the next prompt");
    assert!(spent <= 50_000_000, "spent ${}: {run:?}", spent as f64 / 1e9);
    assert!(spent > 0);
    // Everything sent was billed: the attachment went with each prompt.
    assert!(env.generate_requests().iter().all(|r| r.body.len() > 200_000));
}

#[test]
fn an_answer_billed_past_its_reservation_stops_the_run_before_the_next_launch() {
    // 10 in and 9,056 out on 2.5 Flash = $0.022643, under --max-tokens 100 (reserved ~$0.00025).
    let usage = json!({ "promptTokenCount": 10, "candidatesTokenCount": 9_056, "totalTokenCount": 9_066 });
    let env = Env::new(Behavior::text("ok").with_usage(usage));
    let text: String = (1..=20).map(|i| format!("question {i}\n")).collect();
    let prompts = file(&env, "p.txt", &text);
    let run =
        env.run(&["batch", &prompts, "-j", "1", "-m", "gemini-2.5-flash", "--max-tokens", "100", "--budget", "0.05"]);
    let spent = spent_nanos(&lines(&run));
    report("9,056 output tokens reported under --max-tokens 100, --budget 0.05", 0.05, spent);
    assert_stopped(&run, "An answer cost $0.022643, more than the $0.000256 reserved for it");
    assert!(run.stderr.contains("19 prompts were not launched"), "{run:?}");
    assert_eq!((spent, env.generate_requests().len()), (22_643_000, 1));
}

#[test]
fn no_save_spending_is_counted_and_deleting_history_refunds_nothing() {
    // 1,000 in, 500 out: $0.00155 an answer.
    let usage = json!({ "promptTokenCount": 1_000, "candidatesTokenCount": 500, "totalTokenCount": 1_500 });
    let env = Env::new(Behavior::text("ok").with_usage(usage));
    env.add_config("[budget]\ndaily = 0.003\n");
    ok(&env.run(&["ask", "-m", "gemini-2.5-flash", "saved"]));
    ok(&env.run(&["ask", "--no-save", "-m", "gemini-2.5-flash", "not saved"]));
    let messages: i64 = env.history().query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap();
    assert_eq!(messages, 2, "the --no-save turn left no text");
    assert_eq!(ledger_nanos(&env), 3_100_000, "but its cost is counted");
    ok(&env.run(&["history", "rm", "1", "--yes"]));
    assert_eq!(ledger_nanos(&env), 3_100_000, "deleting a conversation gives nothing back");
    env.run(&["ask", "-m", "gemini-2.5-flash", "third"])
        .assert_failed(12, "The daily budget of $0.003 is spent ($0.0031 today): nothing was sent");
    assert_eq!(env.generate_requests().len(), 2);
}

#[test]
fn without_a_database_a_budgeted_run_says_its_spending_is_not_counted() {
    let env = Env::new(Behavior::text("ok"));
    env.add_config("[budget]\ndaily = 1\n");
    // The data directory is a file: no database can be opened there.
    std::fs::create_dir_all(env.home.path().join("data")).unwrap();
    std::fs::write(env.home.path().join("data/geminal"), "not a directory").unwrap();
    let run = env.run(&["ask", "--no-save", "q"]);
    ok(&run);
    assert!(
        run.stderr.contains("geminal: the history database could not be opened, so what this run spends is not counted toward the budget."),
        "{run:?}"
    );
}

#[test]
fn ask_counts_what_other_processes_hold_and_gives_back_what_it_held() {
    let usage = json!({ "promptTokenCount": 1_000, "candidatesTokenCount": 500, "totalTokenCount": 1_500 });
    let env = Env::new(Behavior::text("ok").with_usage(usage));
    env.add_config("[budget]\ndaily = 0.01\n");
    let db = env.home.path().join("data/geminal/history.sqlite3");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    // Another live process holds the whole budget for requests still running.
    let (mut other, _) = geminal::store::Store::open(&db).unwrap();
    let all = geminal::money::Usd::from_dollars(0.01).unwrap();
    let held = other.reserve(all, Some(all), None).unwrap().unwrap();
    let refused = env.run(&["ask", "-m", "gemini-2.5-flash", "q"]);
    refused.assert_failed(
        12,
        "Nothing is left of the daily budget of $0.01: $0.00 spent today and $0.01 held by requests still running: nothing was sent",
    );
    assert_eq!(env.generate_requests().len(), 0);
    other.release_reservation(held).unwrap();
    ok(&env.run(&["ask", "-m", "gemini-2.5-flash", "q"]));
    assert_eq!(ledger_nanos(&env), 1_550_000);
    // What it held while it ran went with its answer: no row is left.
    let rows: i64 = env.history().query_row("SELECT count(*) FROM budget_reservations", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 0);
    drop(other);
}

#[test]
fn the_line_chat_holds_each_answer_and_refuses_a_line_when_nothing_is_left() {
    let usage = json!({ "promptTokenCount": 1_000, "candidatesTokenCount": 500, "totalTokenCount": 1_500 });
    let env = Env::new(Behavior::text("ok").with_usage(usage));
    env.add_config("[budget]\ndaily = 0.01\n");
    let db = env.home.path().join("data/geminal/history.sqlite3");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let (mut other, _) = geminal::store::Store::open(&db).unwrap();
    let all = geminal::money::Usd::from_dollars(0.01).unwrap();
    other.reserve(all, Some(all), None).unwrap().unwrap();
    let run = env.run_with_stdin(&["-m", "gemini-2.5-flash"], "first\nsecond\n");
    ok(&run);
    assert_eq!(
        run.stderr.matches("geminal: Nothing is left of the daily budget of $0.01: $0.00 spent today and $0.01 held by requests still running: nothing was sent").count(),
        2,
        "{run:?}"
    );
    assert_eq!(env.generate_requests().len(), 0, "no line was sent");
    drop(other);
    ok(&env.run_with_stdin(&["-m", "gemini-2.5-flash"], "third\n"));
    assert_eq!((env.generate_requests().len(), ledger_nanos(&env)), (1, 1_550_000));
}
