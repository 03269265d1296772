//! Money end to end: answers priced from the usage the fake reports (per modality, by the model
//! that answered), the cost saved with each answer and shown by `ask`, `history show`, `batch`
//! and `stats`; cache hits saving money; budgets refusing before anything is sent, and
//! `batch --budget` stopping its launches.

mod common;

use common::process::{Env, KEY, Run, finish, ok};
use geminal::gemini::fake::Behavior;
use serde_json::{Value, json};

/// 10,000 prompt tokens of which 4,000 audio, 2,000 answer and 3,000 thinking tokens. On
/// gemini-2.5-flash: 6,000 × $0.30/M + 4,000 × $1.00/M + 5,000 × $2.50/M = $0.0183.
fn audio_usage() -> Value {
    json!({
        "promptTokenCount": 10_000, "candidatesTokenCount": 2_000, "thoughtsTokenCount": 3_000,
        "totalTokenCount": 15_000,
        "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": 6_000 }, { "modality": "AUDIO", "tokenCount": 4_000 }],
    })
}
const AUDIO_COST_NANOS: i64 = 18_300_000;

/// 1,000 in, 500 out: on gemini-2.5-flash $0.0003 + $0.00125 = $0.00155.
fn small_usage() -> Value {
    json!({ "promptTokenCount": 1_000, "candidatesTokenCount": 500, "totalTokenCount": 1_500 })
}

fn answers(env: &Env) -> Vec<(Option<i64>, Option<i64>, Option<String>)> {
    let db = env.history();
    let mut stmt =
        db.prepare("SELECT cost_nanos, saved_nanos, priced_as FROM messages WHERE role = 'model' ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

fn stats_json(env: &Env) -> Value {
    let run = env.run(&["stats", "--json"]);
    ok(&run);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn an_answer_is_priced_per_modality_stored_and_shown_by_history_and_stats() {
    let env = Env::new(Behavior::text("Hi there.").with_usage(audio_usage()));
    let run = env.run(&["ask", "-m", "gemini-2.5-flash", "listen to this"]);
    ok(&run);
    assert_eq!(run.stdout, "Hi there.\n", "a pipe gets exactly the answer");
    assert!(!run.stderr.contains('$'), "no cost line when stderr is not a terminal: {run:?}");
    assert_eq!(answers(&env), [(Some(AUDIO_COST_NANOS), None, Some("gemini:gemini-2.5-flash".to_owned()))]);

    let show = env.run(&["history", "show", "1"]);
    ok(&show);
    assert!(show.stdout.contains("· 2 messages · cost $0.0183\n"), "{show:?}");
    assert!(show.stdout.contains("── gemini-2.5-flash · $0.0183 ──\nHi there."), "{show:?}");

    let stats = stats_json(&env);
    let money = &stats["money"];
    assert_eq!(money["prices_as_of"], "2026-10-07");
    assert_eq!(money["cost_usd"], json!(0.0183));
    assert_eq!(money["unknown_price_answers"], 0);
    assert_eq!(
        money["by_model"],
        json!([{ "model": "gemini:gemini-2.5-flash", "cost_usd": 0.0183, "unknown_price_answers": 0, "answers": 1 }])
    );
    assert_eq!(money["by_provider"][0]["provider"], "gemini");
    let day = money["by_day"][0]["day"].as_str().unwrap();
    assert!(day.len() == 10 && day.starts_with("20"), "{day}");
    let text = env.run(&["stats"]);
    assert!(text.stdout.contains("cost         $0.0183 (prices of 2026-10-07)\n"), "{text:?}");
}

#[test]
fn an_alias_is_priced_by_the_model_that_answered_and_an_unknown_one_is_never_free() {
    let env = Env::new(Behavior::text("Fine.").with_usage(small_usage()));
    ok(&env.run(&["ask", "first"]));
    env.fake.set_default(Behavior::text("Fine.").with_usage(small_usage()).with_model_version("gemini-9-flash"));
    ok(&env.run(&["ask", "second"]));
    assert_eq!(
        answers(&env),
        [(Some(1_550_000), None, Some("gemini:gemini-2.5-flash".to_owned())), (None, None, None)],
        "gemini-flash-latest answered by gemini-2.5-flash, then by a model the table does not know"
    );
    let show = env.run(&["history", "show", "2"]);
    assert!(show.stdout.contains("── gemini-flash-latest · price unknown ──"), "{show:?}");
    assert!(show.stdout.contains("· cost price unknown (1 answer)\n"), "{show:?}");
    let money = &stats_json(&env)["money"];
    assert_eq!((money["cost_usd"].clone(), money["unknown_price_answers"].clone()), (json!(0.00155), json!(1)));
    assert_eq!(
        money["by_model"],
        json!([
            { "model": "gemini:gemini-2.5-flash", "cost_usd": 0.00155, "unknown_price_answers": 0, "answers": 1 },
            { "model": "gemini:gemini-flash-latest", "cost_usd": null, "unknown_price_answers": 1, "answers": 1 },
        ])
    );
    let stats = env.run(&["stats"]);
    assert!(stats.stdout.contains("cost         $0.00155 + 1 answer of unknown price"), "{stats:?}");
}

#[test]
fn config_prices_override_the_table() {
    let env = Env::new(Behavior::text("Fine.").with_usage(small_usage()));
    env.add_config("[prices.\"gemini:gemini-2.5-flash\"]\noutput = 5.0\n");
    ok(&env.run(&["ask", "-m", "gemini-2.5-flash", "q"]));
    // 1,000 × $0.30/M + 500 × $5/M = $0.0028.
    assert_eq!(answers(&env)[0].0, Some(2_800_000));
    let show = env.run(&["config", "show"]);
    assert!(show.stdout.contains("table of 2026-10-07; set: gemini:gemini-2.5-flash"), "{show:?}");
    env.add_config("[prices.\"acme:m\"]\ninput = 1.0\n");
    env.run(&["ask", "q"]).assert_failed(3, "\"acme:m\" has no output");
}

#[test]
fn a_cache_hit_costs_nothing_and_stats_say_what_it_saved() {
    let env = Env::new(Behavior::text("Cached answer.").with_usage(small_usage()));
    ok(&env.run(&["ask", "-m", "gemini-2.5-flash", "same question"]));
    let again = env.run(&["ask", "-m", "gemini-2.5-flash", "same question"]);
    ok(&again);
    assert_eq!(env.generate_requests().len(), 1, "the second answer came from the cache");
    assert_eq!(answers(&env)[1], (Some(0), Some(1_550_000), None));
    let money = &stats_json(&env)["money"];
    assert_eq!((money["cost_usd"].clone(), money["cache_saved_usd"].clone()), (json!(0.00155), json!(0.00155)));
    let show = env.run(&["history", "show", "2"]);
    assert!(show.stdout.contains("· $0.00 (saved $0.00155) (from cache) ──"), "{show:?}");
}

#[test]
fn a_spent_daily_budget_refuses_before_anything_is_sent_unless_over_budget() {
    let env = Env::new(Behavior::text("Costly.").with_usage(audio_usage()));
    env.add_config("[budget]\ndaily = 0.02\n");
    ok(&env.run(&["ask", "-m", "gemini-2.5-flash", "one"]));
    // $0.0183 of $0.02 is 91%: the next ask is warned, and sent.
    let warned = env.run(&["ask", "-m", "gemini-2.5-flash", "two"]);
    ok(&warned);
    assert!(
        warned.stderr.contains("geminal: $0.0183 of the daily budget of $0.02 is spent today (91%)."),
        "{warned:?}"
    );
    assert_eq!(env.generate_requests().len(), 2);
    // Now $0.0366: refused, nothing sent or saved.
    let refused = env.run(&["ask", "-m", "gemini-2.5-flash", "three"]);
    refused
        .assert_failed(12, "The daily budget of $0.02 is spent ($0.0366 today): nothing was sent; add --over-budget");
    assert_eq!(env.generate_requests().len(), 2, "nothing was sent");
    assert_eq!(answers(&env).len(), 2, "nothing was saved");
    let batch_file = env.home.path().join("p.txt");
    std::fs::write(&batch_file, "a\nb\n").unwrap();
    let batch = env.run(&["batch", batch_file.to_str().unwrap()]);
    batch.assert_failed(12, "daily budget");
    let anyway = env.run(&["ask", "--over-budget", "-m", "gemini-2.5-flash", "three"]);
    ok(&anyway);
    assert!(anyway.stderr.contains("asking anyway (--over-budget)"), "{anyway:?}");
    assert_eq!(env.generate_requests().len(), 3);
    let stats = stats_json(&env);
    assert_eq!(stats["money"]["budget"]["daily_usd"], json!(0.02));
    assert_eq!(stats["money"]["budget"]["spent_today_usd"], json!(0.0549));
}

#[test]
fn a_batch_stops_launching_when_the_next_prompt_could_pass_its_budget() {
    // Each answer: 1,000 in and 100 out on 2.5 Flash = $0.00055. Each prompt's worst case: its
    // ~3 estimated input tokens and 1,000 output tokens (--max-tokens) = about $0.0025.
    let usage = json!({ "promptTokenCount": 1_000, "candidatesTokenCount": 100, "totalTokenCount": 1_100 });
    let env = Env::new(Behavior::text("ok").with_usage(usage));
    let file = env.home.path().join("p.txt");
    std::fs::write(&file, (1..=8).map(|i| format!("question {i}\n")).collect::<String>()).unwrap();
    let run = env.run(&[
        "batch",
        file.to_str().unwrap(),
        "-j",
        "1",
        "-m",
        "gemini-2.5-flash",
        "--max-tokens",
        "1000",
        "--budget",
        "0.005",
    ]);
    // Spent before each launch: 0, 0.00055, 0.0011, 0.00165, 0.0022, then 0.00275 + 0.0025 > 0.005.
    assert_eq!(run.code, 12, "{run:?}");
    let lines: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5, "{run:?}");
    assert!(lines.iter().all(|l| l["cost_usd"] == json!(0.00055)), "{lines:?}");
    assert_eq!(env.generate_requests().len(), 5);
    assert!(run.stderr.contains("; cost $0.00275."), "the summary: {run:?}");
    assert!(
        run.stderr.contains(
            "geminal: The budget of $0.005 would be passed by the next prompt: $0.00275 spent, 3 prompts were not launched"
        ),
        "{run:?}"
    );
    assert!(!run.stderr.contains(KEY));
    // The run is a job left unfinished, not one that succeeded.
    let state: String = env.history().query_row("SELECT state FROM jobs", [], |r| r.get(0)).unwrap();
    assert_eq!(state, "interrupted");
}

#[test]
fn ask_on_a_terminal_prints_the_cost_on_stderr() {
    let env = Env::new(Behavior::text("Priced.").with_usage(small_usage()));
    let Some(run) = stderr_in_terminal(&env, &["ask", "-m", "gemini-2.5-flash", "q"]) else { return };
    ok(&run);
    assert!(run.stdout.contains("geminal: cost $0.00155 (gemini:gemini-2.5-flash)"), "{run:?}");
}

/// Runs `geminal ARGS` with stderr on a terminal (util-linux `script`) and stdout discarded:
/// the run's `stdout` is what the terminal showed. `None` when `script` is missing.
fn stderr_in_terminal(env: &Env, args: &[&str]) -> Option<Run> {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script (util-linux) is not installed");
        return None;
    }
    let base = env.command(args);
    let line = std::iter::once(base.get_program())
        .chain(base.get_args())
        .map(|a| format!("'{}'", a.to_str().unwrap().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &format!("{line} >/dev/null"), "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    Some(finish(&mut cmd))
}

#[test]
fn under_a_budget_an_answer_of_unknown_price_is_said_to_count_as_nothing() {
    let env = Env::new(Behavior::text("Fine.").with_usage(small_usage()).with_model_version("gemini-9-flash"));
    env.add_config("[budget]\nmonthly = 5\n");
    let run = env.run(&["ask", "q"]);
    ok(&run);
    assert!(
        run.stderr.contains(
            "geminal: the price of gemini:gemini-flash-latest is unknown, so this answer does not count toward the budget: add [prices.\"gemini:gemini-flash-latest\"] to the config."
        ),
        "{run:?}"
    );
    // The row it suggests prices the next answer.
    env.add_config("[prices.\"gemini:gemini-flash-latest\"]\ninput = 1.0\noutput = 2.0\n");
    let priced = env.run(&["ask", "q2"]);
    ok(&priced);
    assert!(!priced.stderr.contains("unknown"), "{priced:?}");
    // 1,000 × $1/M + 500 × $2/M = $0.002.
    assert_eq!(answers(&env)[1], (Some(2_000_000), None, Some("gemini:gemini-flash-latest".to_owned())));
}
