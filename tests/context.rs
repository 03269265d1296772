//! Long conversations against the fake with a small input limit: only the newest turns are
//! sent under drop-oldest (with a notice, the history untouched), nothing under refuse, the
//! server counts tokens only near the limit, and the API's own "too long" 400 is a sentence.

mod common;

use common::process::{Env, ok};
use geminal::gemini::fake::{Behavior, FakeOptions, Fault, RecordedRequest, default_models};
use serde_json::Value;

const TINY: &str = "tiny-model";
/// The fake's input limit for [`TINY`], in tokens (about four characters each).
const LIMIT: u64 = 6_000;

fn env() -> Env {
    let mut models = default_models();
    let mut tiny = models[0].clone();
    tiny.name = format!("models/{TINY}");
    tiny.input_token_limit = Some(LIMIT);
    models.push(tiny);
    let env = Env::with_options(FakeOptions { models, ..FakeOptions::default() }, Behavior::text("ok"));
    env.add_config(&format!("model = \"{TINY}\"\n"));
    env
}

/// A prompt of 8,000 characters (about 2,000 tokens) that starts with `tag`.
fn long_prompt(tag: &str) -> String {
    format!("{tag} {}", "word ".repeat(1_598))
}

fn sent_texts(request: &RecordedRequest) -> Vec<String> {
    let body: Value = serde_json::from_str(&request.body).unwrap();
    body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["parts"][0]["text"].as_str().unwrap().split(' ').next().unwrap().to_owned())
        .collect()
}

fn messages_saved(env: &Env) -> i64 {
    let path = env.home.path().join("data/geminal/history.sqlite3");
    let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    db.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_conversation_over_the_limit_sends_only_its_newest_turns_and_says_so() {
    let env = env();
    ok(&env.run(&["ask", &long_prompt("first")]));
    ok(&env.run(&["ask", "-c", &long_prompt("second")]));
    assert_eq!(env.fake.count_tokens_count(), 0, "still far enough from the limit: nothing counted");
    let run = env.run(&["ask", "-c", &long_prompt("third")]);
    ok(&run);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "geminal: This conversation is longer than {TINY}'s input limit of {LIMIT} tokens: its oldest 1 exchange was left out of what was sent (the history keeps it)."
        )
    );
    assert_eq!(env.fake.count_tokens_count(), 1);
    let last = env.generate_requests().pop().unwrap();
    assert_eq!(sent_texts(&last), ["second", "ok", "third"], "the oldest exchange is not sent");
    assert_eq!(messages_saved(&env), 6, "the history keeps every turn");
    // The next turn is still measured against the whole history and trimmed again.
    ok(&env.run(&["ask", "-c", &long_prompt("fourth")]));
    assert_eq!(sent_texts(&env.generate_requests().pop().unwrap()), ["third", "ok", "fourth"]);
}

#[test]
fn under_refuse_a_conversation_over_the_limit_is_not_sent() {
    let env = env();
    env.add_config("context_overflow = \"refuse\"\n");
    ok(&env.run(&["ask", &long_prompt("first")]));
    ok(&env.run(&["ask", "-c", &long_prompt("second")]));
    let run = env.run(&["ask", "-c", &long_prompt("third")]);
    run.assert_failed(5, &format!("over {TINY}'s input limit of {LIMIT}: start a new conversation"));
    assert_eq!(env.generate_requests().len(), 2, "nothing sent");
    assert_eq!(messages_saved(&env), 4, "nothing saved either");
}

#[test]
fn short_prompts_cost_no_extra_request() {
    let env = env();
    ok(&env.run(&["ask", "hello"]));
    ok(&env.run(&["ask", "-c", "and again"]));
    let paths: Vec<String> = env.fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(env.fake.count_tokens_count(), 0, "{paths:?}");
    assert_eq!(paths.len(), 2, "only the two answers were asked for: {paths:?}");
}

#[test]
fn a_prompt_longer_than_the_limit_on_its_own_is_refused_unsent() {
    let env = env();
    let huge = "word ".repeat(6_000);
    let run = env.run(&["ask", &huge]);
    run.assert_failed(5, "The prompt alone is about");
    assert!(env.generate_requests().is_empty());
}

#[test]
fn the_apis_too_long_error_is_one_clear_sentence() {
    let body = "{\n  \"error\": {\n    \"code\": 400,\n    \"message\": \"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).\",\n    \"status\": \"INVALID_ARGUMENT\"\n  }\n}\n";
    let env = Env::new(Behavior::fault(Fault::Status { status: 400, body: body.to_owned(), headers: Vec::new() }));
    let run = env.run(&["ask", "hello"]);
    run.assert_failed(
        5,
        "The conversation is longer than the model's input limit (1200000 tokens; the model takes 1048576): start a new conversation",
    );
    let run = env.run_with_stdin(&["batch", "-"], "hello\n");
    let line: Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["error"]["kind"], "input_too_long");
}

#[test]
fn context_fitting_works_behind_a_pool() {
    let mut models = default_models();
    let mut tiny = models[0].clone();
    tiny.name = format!("models/{TINY}");
    tiny.input_token_limit = Some(LIMIT);
    models.push(tiny);
    let env = Env::with_options(FakeOptions { models, ..FakeOptions::default() }, Behavior::text("ok"));
    let url = env.fake.base_url();
    env.add_config(&format!(
        "model = \"near:{TINY}\"\n[providers.g1]\nkind = \"gemini\"\nbase_url = \"{url}\"\n\
         [providers.g2]\nkind = \"gemini\"\nbase_url = \"{url}\"\n[pools.near]\nmembers = [\"g1\", \"g2\"]\n"
    ));
    ok(&env.run(&["ask", &long_prompt("first")]));
    ok(&env.run(&["ask", "-c", &long_prompt("second")]));
    let run = env.run(&["ask", "-c", &long_prompt("third")]);
    ok(&run);
    assert!(run.stderr.contains("its oldest 1 exchange was left out"), "{}", run.stderr);
    assert_eq!(env.fake.count_tokens_count(), 1, "the pool's member counted the tokens");
    let last = env.generate_requests().pop().unwrap();
    assert_eq!(sent_texts(&last), ["second", "ok", "third"], "the oldest exchange is not sent");
}
