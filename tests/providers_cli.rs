//! Providers from the command line: `[providers.NAME]` in the config, `provider:model` names in
//! ask, batch and models, fallback chains across providers in a batch, a pool with a dead
//! member, and the sentences for a missing key or a feature the provider lacks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::process::{Env, finish, ok};
use geminal::gemini::fake::{Behavior, Fault as GeminiFault};
use geminal::openai::fake::{FakeOpenAi, Fault, Options, Reply};

fn openai_fake(options: Options, reply: Reply) -> FakeOpenAi {
    FakeOpenAi::start_in_thread(options, reply).unwrap()
}

fn provider(name: &str, fake: &FakeOpenAi, extra: &str) -> String {
    format!("\n[providers.{name}]\nkind = \"openai\"\nbase_url = \"{}\"\n{extra}", fake.base_url())
}

#[test]
fn ask_with_a_provider_model_streams_from_it_and_the_history_keeps_the_full_name() {
    let env = Env::new(Behavior::text("from Gemini"));
    let local = openai_fake(Options::default(), Reply::text("from the local model"));
    env.add_config(&provider("local", &local, ""));
    let run = env.run(&["ask", "-m", "local:qwen3:8b", "hi there"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "from the local model\n"), "{run:?}");
    let sent = local.chat_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].model().as_deref(), Some("qwen3:8b"));
    assert_eq!(sent[0].prompt(), "hi there");
    assert_eq!(sent[0].header("authorization"), None, "no key configured, none sent");
    assert!(env.generate_requests().is_empty(), "Gemini was not asked");
    let models: Vec<Option<String>> = env
        .history()
        .prepare("SELECT model FROM messages WHERE role = 'model'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(models.iter().all(|m| m.as_deref() == Some("local:qwen3:8b") || m.is_none()), "{models:?}");
    let conversation: String = env.history().query_row("SELECT model FROM conversations", [], |r| r.get(0)).unwrap();
    assert_eq!(conversation, "local:qwen3:8b");
    // A Gemini model stays a bare name, as history has always had it.
    ok(&env.run(&["ask", "-m", "gemini:gemini-2.5-flash", "again"]));
    let models: Vec<String> = env
        .history()
        .prepare("SELECT model FROM conversations ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(models, ["local:qwen3:8b", "gemini-2.5-flash"]);
}

#[test]
fn a_bare_name_means_the_default_provider_and_its_key_goes_as_a_bearer_token() {
    let env = Env::new(Behavior::text("from Gemini"));
    let local = openai_fake(Options { api_key: Some("sk-local".into()), models: Vec::new() }, Reply::text("local"));
    env.add_config(&format!(
        "default_provider = \"local\"\n{}",
        provider("local", &local, "api_key_env = \"LOCAL_KEY\"\n")
    ));
    let run = finish(env.command(&["ask", "-m", "llama3", "hi"]).env("LOCAL_KEY", "sk-local"));
    assert_eq!((run.code, run.stdout.as_str()), (0, "local\n"), "{run:?}");
    assert_eq!(local.chat_requests()[0].header("authorization"), Some("Bearer sk-local"));
    assert_eq!(local.chat_requests()[0].model().as_deref(), Some("llama3"));
}

#[test]
fn a_missing_provider_key_is_one_sentence_naming_the_variable() {
    let env = Env::new(Behavior::text("from Gemini"));
    let local = openai_fake(Options::default(), Reply::text("local"));
    env.add_config(&provider("paid", &local, "api_key_env = \"PAID_API_KEY\"\n"));
    let run = env.run(&["ask", "-m", "paid:gpt-4.1-mini", "hi"]);
    assert_eq!(run.code, 3, "a configuration problem: {run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains("export PAID_API_KEY") && run.stderr.contains("paid"), "{run:?}");
    assert!(local.chat_requests().is_empty());
}

#[test]
fn models_lists_every_provider_and_filters_by_one() {
    let env = Env::new(Behavior::default());
    let local =
        openai_fake(Options { api_key: None, models: vec!["qwen3:8b".into(), "llama3".into()] }, Reply::default());
    env.add_config(&provider("local", &local, ""));
    let run = env.run(&["models"]);
    ok(&run);
    assert!(run.stdout.contains("local:qwen3:8b") && run.stdout.contains("local:llama3"), "{run:?}");
    assert!(run.stdout.contains("gemini-2.5-flash ") && !run.stdout.contains("gemini:gemini-2.5-flash"), "{run:?}");
    let run = env.run(&["models", "--provider", "local", "--json"]);
    ok(&run);
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["local:llama3", "local:qwen3:8b"]);
    assert!(lines.iter().all(|l| l["provider"] == "local"));
    let run = env.run(&["models", "--provider", "nope"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no provider called nope") && run.stderr.contains("local"), "{run:?}");
}

#[test]
fn config_show_lists_the_providers_and_never_their_keys() {
    let env = Env::new(Behavior::default());
    let local = openai_fake(Options::default(), Reply::default());
    env.add_config(&provider("local", &local, "api_key = \"sk-in-the-file-123\"\n"));
    let path = env.config_dir().join("config.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = env.run(&["config", "show"]);
        assert_eq!(run.code, 3, "a key in a file others can read: {run:?}");
        assert!(run.stderr.contains("chmod 600"), "{run:?}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let run = env.run(&["config", "show"]);
    ok(&run);
    let row = run.stdout.lines().find(|l| l.starts_with("providers ")).unwrap();
    assert!(row.contains("local (openai at http://127.0.0.1") && row.contains("key set"), "{row}");
    assert!(!run.stdout.contains("sk-in-the-file-123"), "{run:?}");
}

#[test]
fn a_batch_moves_to_the_next_provider_when_the_gemini_quota_is_spent_mid_run() {
    let env = Env::new(Behavior::text("from Gemini"));
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    // Three answers, then the day's quota is gone.
    env.fake.set_router(move |_| {
        (count.fetch_add(1, Ordering::SeqCst) >= 3).then(|| Behavior::fault(GeminiFault::daily_quota()))
    });
    let backup = openai_fake(Options::default(), Reply::text("from the backup"));
    env.add_config(&format!("fallback = [\"backup:gpt-4.1-mini\"]\n{}", provider("backup", &backup, "")));
    let prompts: String = (0..8).map(|i| format!("question {i}\n")).collect();
    let run = env.run_with_stdin(&["batch", "-", "-j", "1"], &prompts);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 8);
    let answers: Vec<&str> = lines.iter().map(|l| l["answer"].as_str().unwrap()).collect();
    assert_eq!(answers.iter().filter(|a| **a == "from Gemini").count(), 3, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| **a == "from the backup").count(), 5, "{answers:?}");
    let told = run.stderr.lines().filter(|l| l.contains("switching to backup:gpt-4.1-mini")).count();
    assert_eq!(told, 1, "said once per run: {run:?}");
    assert_eq!(env.generate_requests().len(), 4, "Gemini is asked once after its quota is spent");
    assert_eq!(backup.chat_requests().len(), 5);
}

#[test]
fn a_pool_with_a_dead_member_answers_every_prompt_from_the_live_one() {
    let env = Env::new(Behavior::text("from Gemini"));
    let live = openai_fake(Options::default(), Reply::text("from the pool"));
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    };
    env.add_config(&format!(
        "[providers.dead]\nkind = \"openai\"\nbase_url = \"{dead}\"\n{}\n[pools.local]\nmembers = [\"dead\", \"live\"]\n",
        provider("live", &live, "")
    ));
    let prompts: String = (0..6).map(|i| format!("question {i}\n")).collect();
    let run = env.run_with_stdin(&["batch", "-", "-j", "3", "--retries", "3", "-m", "local:qwen3:8b"], &prompts);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|l| l["answer"] == "from the pool"), "{lines:?}");
    assert_eq!(live.chat_requests().len(), 6);
}

#[test]
fn an_openai_429_with_retry_after_and_a_cut_stream_are_retried_like_geminis() {
    let env = Env::new(Behavior::default());
    let local = openai_fake(Options::default(), Reply::text("the whole answer"));
    local.push(Reply::fault(Fault::rate_limited(1)));
    local.push(Reply { chunks: 5, fault: Some(Fault::CutAfter(2)), ..Reply::text("a partial answer cut short") });
    env.add_config(&provider("local", &local, ""));
    let run = env.run(&["ask", "--retries", "3", "-m", "local:m", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "the whole answer\n"), "{run:?}");
    assert_eq!(local.chat_requests().len(), 3);
}

#[test]
fn search_on_a_model_of_another_provider_is_a_sentence_not_a_raw_error() {
    let env = Env::new(Behavior::default());
    let local = openai_fake(Options::default(), Reply::text("ok"));
    env.add_config(&provider("local", &local, ""));
    let run = env.run(&["ask", "--search", "-m", "local:m", "news?"]);
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains("Google Search grounding works only with Gemini models"), "{run:?}");
    assert!(!run.stderr.contains('{'), "{run:?}");
    assert!(local.chat_requests().is_empty());
}

#[test]
fn an_answer_moved_down_the_fallback_chain_is_priced_and_saved_as_the_model_that_answered() {
    let env = Env::new(Behavior::fault(GeminiFault::daily_quota()));
    let backup = openai_fake(Options::default(), Reply::text("from the backup"));
    env.add_config(&format!(
        "fallback = [\"backup:gpt-4.1-mini\"]\n[prices.\"backup:gpt-4.1-mini\"]\ninput = 0.40\noutput = 1.60\n{}",
        provider("backup", &backup, "")
    ));
    let run = env.run_with_stdin(&["batch", "-", "-m", "gemini-2.5-flash"], "question\n");
    assert_eq!(run.code, 0, "{run:?}");
    let line: serde_json::Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["answer"], "from the backup");
    assert_eq!(line["model"], "backup:gpt-4.1-mini", "the model that answered: {line}");
    // The fake counts 10 prompt tokens and one per word: 10 × $0.40/M + 3 × $1.60/M.
    assert_eq!((line["prompt_tokens"].as_u64(), line["output_tokens"].as_u64()), (Some(10), Some(3)));
    assert!((line["cost_usd"].as_f64().unwrap() - 0.0000088).abs() < 1e-12, "{line}");
    let (model, cost): (String, i64) = env
        .history()
        .query_row("SELECT model, cost_nanos FROM messages WHERE role = 'model'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((model.as_str(), cost), ("backup:gpt-4.1-mini", 8_800));
}

#[test]
fn a_roles_own_fallback_chain_wins_over_the_global_one() {
    let env = Env::new(Behavior::fault(GeminiFault::daily_quota()));
    let global = openai_fake(Options::default(), Reply::text("from the global chain"));
    let roles = openai_fake(Options::default(), Reply::text("from the role's chain"));
    env.add_config(&format!(
        "fallback = [\"global:m\"]\n{}{}\n[roles.careful]\nsystem = \"be careful\"\nfallback = [\"mine:m\"]\n",
        provider("global", &global, ""),
        provider("mine", &roles, "")
    ));
    let run = env.run(&["ask", "-r", "careful", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "from the role's chain\n"), "{run:?}");
    assert!(run.stderr.contains("switching to mine:m"), "{run:?}");
    assert!(global.chat_requests().is_empty());
    let run = env.run(&["ask", "hi"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "from the global chain\n"), "{run:?}");
}

#[test]
fn a_failure_of_another_provider_names_that_provider_not_gemini() {
    let env = Env::new(Behavior::text("from Gemini"));
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    };
    env.add_config(&format!("\n[providers.local]\nkind = \"openai\"\nbase_url = \"{dead}\"\n"));
    let run = env.run(&["ask", "--retries", "1", "-m", "local:qwen3:8b", "hi"]);
    assert_eq!(run.code, 7, "service unavailable: {run:?}");
    assert!(run.stderr.contains("Could not reach provider local"), "{run:?}");
    assert!(run.stderr.contains("(attempt 2 of 2)"), "the retry notice names it too: {run:?}");
    assert!(!run.stderr.contains("Gemini"), "{run:?}");
    assert!(env.generate_requests().is_empty());
}

#[test]
fn ask_whose_answer_ends_in_tool_calls_succeeds_and_saves_the_answer_complete() {
    use geminal::openai::fake::FakeToolCall;
    let env = Env::new(Behavior::text("from Gemini"));
    let call = FakeToolCall { id: "call_1".into(), name: "lookup".into(), arguments: r#"{"q":"rust"}"#.into() };
    let local = openai_fake(Options::default(), Reply::tool_calls("Looking it up.", vec![call]));
    env.add_config(&provider("local", &local, ""));
    let run = env.run(&["ask", "-m", "local:m", "what is rust?"]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "Looking it up.\n", ""), "{run:?}");
    let (status, text): (String, String) = env
        .history()
        .query_row("SELECT status, text FROM messages WHERE role = 'model'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((status.as_str(), text.as_str()), ("complete", "Looking it up."));
}
