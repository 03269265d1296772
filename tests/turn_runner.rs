//! One turn runner behind every front end, checked where it shows: the deadline (`timeout_secs`,
//! `--timeout`) bounds a whole turn, its uploads included, in `ask` and `batch`; the context fit
//! counts attachments (the prompt's and the history's) in `ask`, `batch` and the line chat; the
//! line chat looks at the budgets before every prompt; a turn is a stream of updates under its
//! id, stopped when dropped.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{Env, ok};
use geminal::chat::{ChatOptions, ChatSession, Shown, Target};
use geminal::engine::{Engine, EngineConfig};
use geminal::gemini::fake::{Behavior, FakeOptions, default_models};
use geminal::store::{MessageStatus, Store, StoreHandle};
use geminal::turn::{Runner, TurnSpec, TurnUpdate, Update};
use serde_json::{Value, json};

fn write(env: &Env, name: &str, bytes: &[u8]) -> PathBuf {
    let path = env.home.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A video of 300 KB: uploaded (not inline) under `GEMINAL_INLINE_MAX_BYTES=100000`.
fn video(env: &Env) -> PathBuf {
    let mut mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    mp4.resize(300_000, 7);
    write(env, "clip.mp4", &mp4)
}

#[test]
fn timeout_secs_bounds_the_whole_turn_uploads_included_in_ask_and_batch() {
    let env = Env::new(Behavior::text("A short clip."));
    // The uploaded video stays PROCESSING far longer than the deadline.
    env.fake.set_processing_polls(1_000);
    env.add_config("timeout_secs = 1\n");
    let clip = video(&env);
    let started = Instant::now();
    let run = common::process::finish(
        env.command(&["ask", "-a", clip.to_str().unwrap(), "what happens?"]).env("GEMINAL_INLINE_MAX_BYTES", "100000"),
    );
    run.assert_failed(7, "took longer than 1s");
    assert!(started.elapsed() < Duration::from_secs(8), "the deadline held: {:?}", started.elapsed());

    let input =
        write(&env, "p.jsonl", b"{\"id\": \"v\", \"prompt\": \"what happens?\", \"attachments\": [\"clip.mp4\"]}\n");
    let started = Instant::now();
    let run = common::process::finish(
        env.command(&["batch", input.to_str().unwrap()]).env("GEMINAL_INLINE_MAX_BYTES", "100000"),
    );
    assert!(started.elapsed() < Duration::from_secs(8), "the deadline held: {:?}", started.elapsed());
    let line: Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["error"]["kind"], "timeout", "{run:?}");
    assert!(line["error"]["message"].as_str().unwrap().contains("took longer than 1s"), "{line}");
    assert!(env.generate_requests().is_empty(), "nothing was asked");
}

#[test]
fn timeout_secs_bounds_a_slow_answer_in_the_line_chat() {
    let env = Env::new(Behavior { first_token_delay: Duration::from_secs(20), ..Behavior::text("late") });
    env.add_config("timeout_secs = 1\nfirst_token_timeout_secs = 60\n");
    let started = Instant::now();
    let run = env.run_with_stdin(&[], "hello\n");
    assert!(started.elapsed() < Duration::from_secs(10), "the deadline held: {:?}", started.elapsed());
    assert!(run.stderr.contains("took longer than 1s"), "{run:?}");
}

const TINY: &str = "tiny-model";
/// The fake's input limit for [`TINY`], in tokens (about four characters each).
const LIMIT: u64 = 6_000;

fn tiny_env() -> Env {
    let mut models = default_models();
    let mut tiny = models[0].clone();
    tiny.name = format!("models/{TINY}");
    tiny.input_token_limit = Some(LIMIT);
    models.push(tiny);
    let env = Env::with_options(FakeOptions { models, ..FakeOptions::default() }, Behavior::text("ok"));
    env.add_config(&format!("model = \"{TINY}\"\n"));
    env
}

#[test]
fn the_context_fit_counts_the_attachments_in_ask_and_batch() {
    let env = tiny_env();
    // About 10,000 tokens of text: over the limit with a short prompt.
    let notes = write(&env, "notes.txt", "word ".repeat(8_000).as_bytes());
    let run = env.run(&["ask", "-a", notes.to_str().unwrap(), "summarize"]);
    run.assert_failed(5, &format!("over {TINY}'s input limit of {LIMIT}"));
    assert!(env.generate_requests().is_empty(), "refused before anything was sent: {run:?}");

    let input =
        write(&env, "p.jsonl", b"{\"id\": \"n\", \"prompt\": \"summarize\", \"attachments\": [\"notes.txt\"]}\n");
    let run = env.run(&["batch", input.to_str().unwrap()]);
    let line: Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["error"]["kind"], "input_too_long", "{run:?}");
    assert!(env.generate_requests().is_empty(), "refused before anything was sent");
}

#[test]
fn the_line_chat_counts_the_attachments_of_the_conversation_it_continues() {
    let env = tiny_env();
    // About 4,500 tokens of text: fits alone.
    let notes = write(&env, "notes.txt", "word ".repeat(3_600).as_bytes());
    ok(&env.run(&["ask", "-a", notes.to_str().unwrap(), "first"]));
    // With 2,000 more tokens the conversation is over the limit: its oldest exchange (and the
    // attachment with it) is left out of what is sent, and said.
    let prompt = format!("second {}\n", "word ".repeat(1_598));
    let run = env.run_with_stdin(&["--conversation", "1"], &prompt);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("its oldest 1 exchange was left out of what was sent"), "{run:?}");
    let last: Value = serde_json::from_str(&env.generate_requests().pop().unwrap().body).unwrap();
    assert_eq!(last["contents"].as_array().unwrap().len(), 1, "only the new prompt was sent: {last}");
}

/// 10,000 prompt tokens of which 4,000 audio, 2,000 answer and 3,000 thinking tokens. On
/// gemini-2.5-flash: $0.0183 an answer.
fn audio_usage() -> Value {
    json!({
        "promptTokenCount": 10_000, "candidatesTokenCount": 2_000, "thoughtsTokenCount": 3_000,
        "totalTokenCount": 15_000,
        "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": 6_000 }, { "modality": "AUDIO", "tokenCount": 4_000 }],
    })
}

#[test]
fn the_line_chat_looks_at_the_budget_before_every_prompt() {
    let env = Env::new(Behavior::text("Costly.").with_usage(audio_usage()));
    env.add_config("model = \"gemini-2.5-flash\"\n[budget]\ndaily = 0.04\n");
    let run = env.run_with_stdin(&[], "one\ntwo\nthree\nfour\n");
    assert_eq!(run.code, 0, "{run:?}");
    let said: Vec<&str> = run.stderr.lines().collect();
    // Nothing to say before the first two; $0.0366 of $0.04 (91%) before the third.
    assert_eq!(said.iter().filter(|l| l.contains("is spent today (91%)")).count(), 1, "{run:?}");
    assert!(said.contains(&"geminal: $0.0366 of the daily budget of $0.04 is spent today (91%)."), "{run:?}");
    // After the third ($0.0549) the fourth is refused, unsent, and the chat ends normally.
    assert!(
        said.iter().any(|l| l.contains("The daily budget of $0.04 is spent ($0.0549 today): nothing was sent")),
        "{run:?}"
    );
    assert_eq!(env.generate_requests().len(), 3);
}

/// A runner over the in-process fake and a fresh history.
async fn in_process(behavior: Behavior) -> (geminal::gemini::fake::FakeGemini, Runner, StoreHandle, tempfile::TempDir) {
    let fake = geminal::gemini::fake::FakeGemini::start(FakeOptions::default(), behavior).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    let store = StoreHandle::spawn(store).unwrap();
    let engine = Engine::new(common::client_for(&fake, common::quick_timeouts()), EngineConfig::default());
    let session = ChatSession::new(engine, Some(store.clone()), ChatOptions::default());
    (fake, Runner::new(Arc::new(session), "gemini-2.5-flash", Vec::new()), store, dir)
}

#[tokio::test]
async fn a_turn_is_a_stream_of_updates_under_its_id_and_dropping_it_stops_the_answer() {
    let slow =
        Behavior::text("one two three four five six").with_chunks(6).with_chunk_delay(Duration::from_millis(300));
    let (fake, runner, store, _dir) = in_process(slow).await;
    let first = runner.start(TurnSpec::new(Target::New, "count"));
    let second = runner.start(TurnSpec::new(Target::New, "count again"));
    assert_ne!(first.id(), second.id(), "ids are never reused");
    drop(second);
    let mut turn = first;
    let id = turn.id();
    let mut conversation = None;
    // Up to its first words, then dropped.
    while let Some(TurnUpdate { turn: of, update }) = turn.next().await {
        assert_eq!(of, id, "every update carries its turn's id");
        match update {
            Update::Shown(Shown::Saved { conversation_id, .. }) => conversation = Some(conversation_id),
            Update::Shown(Shown::Text(_)) => break,
            Update::Done(report) => panic!("not stopped: {report:?}"),
            _ => {}
        }
    }
    drop(turn);
    let conversation = conversation.expect("the prompt was saved first");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let path = store.read(move |s| s.active_path(conversation)).await.unwrap();
        if let Some(answer) = path.last().filter(|m| m.status != MessageStatus::Streaming) {
            break answer.clone();
        }
        assert!(Instant::now() < deadline, "the answer was never closed: {path:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answer.status, MessageStatus::Interrupted, "{answer:?}");
    assert!(answer.text.starts_with("one") && !answer.text.contains("six"), "{answer:?}");
    assert!(fake.generate_count() <= 2, "nothing asked again");
}

#[test]
fn the_line_chat_goes_on_with_the_system_prompt_of_the_conversation_it_continues() {
    let env = Env::new(Behavior::text("ok"));
    env.add_config("system_prompt = \"from the config\"\n");
    ok(&env.run(&["ask", "--system", "its own", "first"]));
    let run = env.run_with_stdin(&["--conversation", "1"], "second\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.last_body()["systemInstruction"]["parts"][0]["text"], "its own", "as `ask -c` does");
}

/// The last update of a turn.
async fn last_update(mut turn: geminal::turn::TurnHandle) -> Update {
    let mut last = None;
    while let Some(TurnUpdate { update, .. }) = turn.next().await {
        last = Some(update);
    }
    last.expect("a turn ends with an update")
}

#[tokio::test]
async fn a_caller_s_functions_end_the_turn_with_their_calls_and_its_results_are_the_next_prompt() {
    use geminal::chat::{CallResult, CallsError};
    use geminal::llm::ToolSpec;
    use geminal::turn::Refused;
    let (fake, runner, store, _dir) = in_process(Behavior::text("unused")).await;
    let function = ToolSpec::Function {
        name: "lookup".into(),
        description: "Looks a word up.".into(),
        parameters: json!({"type": "object", "properties": {"word": {"type": "string"}}}),
    };
    let spec = TurnSpec {
        client_tools: vec![function.clone()],
        ..TurnSpec::new(Target::New, r#"define [[call lookup {"word": "kite"}]]"#)
    };
    let Update::Done(report) = last_update(runner.start(spec)).await else { panic!("not answered") };
    assert_eq!(report.tool_calls.len(), 1, "{report:?}");
    let call = &report.tool_calls[0];
    assert_eq!((call.name.as_str(), &call.arguments), ("lookup", &json!({"word": "kite"})));
    let id = call.id.clone().expect("every call has an id");
    let conversation = report.conversation_id.unwrap();

    // A result for a call the answer did not make: refused before anything is sent.
    let asked = fake.generate_count();
    let wrong = TurnSpec {
        client_tools: vec![function.clone()],
        call_results: Some(vec![CallResult { id: "call_other".into(), signature: None, response: json!({}) }]),
        ..TurnSpec::new(Target::Conversation(conversation), "")
    };
    let refused = last_update(runner.start(wrong)).await;
    assert_eq!(refused, Update::Refused(Refused::Calls(CallsError::UnknownCall("call_other".into()))));
    assert_eq!(fake.generate_count(), asked);

    // The results: the answer goes on, saved after the answer that called.
    let results = TurnSpec {
        client_tools: vec![function],
        call_results: Some(vec![CallResult { id, signature: None, response: json!({"meaning": "a toy"}) }]),
        ..TurnSpec::new(Target::Conversation(conversation), "")
    };
    let Update::Done(report) = last_update(runner.start(results)).await else { panic!("not answered") };
    assert_eq!(report.text, r#"The tools said: lookup answered {"meaning":"a toy"}."#);
    assert!(report.tool_calls.is_empty());
    let path = store.read(move |s| s.active_path(conversation)).await.unwrap();
    let roles: Vec<String> = path.iter().map(|m| format!("{:?}", m.role)).collect();
    assert_eq!(roles, ["User", "Model", "Model"], "no empty prompt saved: {path:?}");
}
