//! Roles end to end against the fake: what the model RECEIVED for `ask -r`, a batch line's
//! role, a template role and a role file; what flags override; what is refused before any
//! request; what `geminal roles` prints; how a continued conversation keeps its role.

mod common;

use common::process::{Env, ok};
use geminal::gemini::fake::{Behavior, RecordedRequest};
use serde_json::{Value, json};

const ROLES: &str = r#"
[roles.reviewer]
system = "You review code. Bugs first."
model = "gemini-2.5-pro"
temperature = 0.3
thinking = "low"

[roles.poet]
system = "You answer in haiku."
"#;

fn body(request: &RecordedRequest) -> Value {
    serde_json::from_str(&request.body).unwrap()
}

fn last(env: &Env) -> (String, Value) {
    let request = env.generate_requests().pop().expect("a generate request");
    (request.model().unwrap_or_default().to_owned(), body(&request))
}

fn env_with_roles() -> Env {
    let env = Env::new(Behavior::text("ok"));
    env.add_config(ROLES);
    std::fs::create_dir_all(env.config_dir().join("roles")).unwrap();
    std::fs::write(env.config_dir().join("roles/french.md"), "Translate into French:\n\n{{input}}\n").unwrap();
    std::fs::write(
        env.config_dir().join("roles/terse.md"),
        "+++\nmodel = \"gemini-2.5-flash\"\nmax_tokens = 50\n+++\nAnswer in one sentence.\n",
    )
    .unwrap();
    // A file of the same name as a table is hidden by it.
    std::fs::write(env.config_dir().join("roles/poet.md"), "From the file, never used.").unwrap();
    env
}

#[test]
fn ask_with_a_role_sends_its_system_prompt_model_and_settings() {
    let env = env_with_roles();
    ok(&env.run(&["ask", "-r", "reviewer", "fn main() {}"]));
    let (model, body) = last(&env);
    assert_eq!(model, "gemini-2.5-pro");
    assert_eq!(body["systemInstruction"], json!({"parts": [{"text": "You review code. Bugs first."}]}));
    assert_eq!(body["generationConfig"]["temperature"], json!(0.3));
    assert_eq!(body["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": 1024}));
    assert_eq!(body["contents"], json!([{"role": "user", "parts": [{"text": "fn main() {}"}]}]));
}

#[test]
fn flags_beat_the_role() {
    let env = env_with_roles();
    let run = env.run(&[
        "ask",
        "--role",
        "reviewer",
        "--temperature",
        "0.9",
        "-m",
        "gemini-2.5-flash",
        "--system",
        "Mine.",
        "x",
    ]);
    ok(&run);
    let (model, body) = last(&env);
    assert_eq!(model, "gemini-2.5-flash");
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Mine.");
    assert_eq!(body["generationConfig"]["temperature"], json!(0.9));
    // What the flags do not set still comes from the role.
    assert!(body["generationConfig"]["thinkingConfig"].is_object(), "{body}");
}

#[test]
fn a_template_role_sends_the_filled_in_prompt_as_the_users_message() {
    let env = env_with_roles();
    ok(&env.run(&["ask", "-r", "french", "good morning"]));
    let (_, body) = last(&env);
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [{"text": "Translate into French:\n\ngood morning"}]}])
    );
    assert!(body.get("systemInstruction").is_none(), "a template gives no system instruction: {body}");
}

#[test]
fn a_role_file_with_a_front_matter_sets_the_model_and_settings() {
    let env = env_with_roles();
    ok(&env.run(&["ask", "-r", "terse", "why?"]));
    let (model, body) = last(&env);
    assert_eq!(model, "gemini-2.5-flash");
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Answer in one sentence.");
    assert_eq!(body["generationConfig"], json!({"maxOutputTokens": 50}));
    // The config file's table wins over roles/poet.md.
    ok(&env.run(&["ask", "-r", "poet", "rain"]));
    assert_eq!(last(&env).1["systemInstruction"]["parts"][0]["text"], "You answer in haiku.");
}

#[test]
fn an_unknown_role_is_refused_before_any_request_naming_the_known_ones() {
    let env = env_with_roles();
    let run = env.run(&["ask", "-r", "reviwer", "hi"]);
    run.assert_failed(2, "There is no role named reviwer: the roles are french, poet, reviewer, terse");
    let run = env.run(&["batch", "--role", "nope", "-"]);
    run.assert_failed(2, "There is no role named nope");
    assert!(env.fake.requests().is_empty(), "{:?}", env.fake.requests());
}

#[test]
fn a_batch_lines_role_wins_over_the_batch_role() {
    let env = env_with_roles();
    let input = concat!(
        r#"{"id": "a", "prompt": "one"}"#,
        "\n",
        r#"{"id": "b", "prompt": "two", "role": "poet"}"#,
        "\n",
        r#"{"id": "c", "prompt": "three", "role": "ghost"}"#,
        "\n",
        r#"{"id": "d", "prompt": "four", "role": "french", "temperature": 0.1}"#,
        "\n"
    );
    let run = env.run_with_stdin(&["batch", "-j", "1", "--role", "reviewer", "-"], input);
    assert_eq!(run.code, 10, "line c fails: {run:?}");
    let lines: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let line = |id: &str| lines.iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(line("c")["error"]["kind"], "bad_input");
    assert!(line("c")["error"]["message"].as_str().unwrap().contains("no role named ghost"));
    let sent: Vec<(String, Value)> =
        env.generate_requests().iter().map(|r| (r.model().unwrap_or_default().to_owned(), body(r))).collect();
    assert_eq!(sent.len(), 3, "the unknown role's line is never sent");
    let by_prompt = |text: &str| {
        sent.iter().find(|(_, b)| b["contents"][0]["parts"][0]["text"].as_str().unwrap().ends_with(text)).unwrap()
    };
    assert_eq!(by_prompt("one").0, "gemini-2.5-pro");
    assert_eq!(by_prompt("one").1["systemInstruction"]["parts"][0]["text"], "You review code. Bugs first.");
    assert_eq!(by_prompt("two").1["systemInstruction"]["parts"][0]["text"], "You answer in haiku.");
    let four = &by_prompt("four").1;
    assert_eq!(four["contents"][0]["parts"][0]["text"], "Translate into French:\n\nfour");
    assert_eq!(four["generationConfig"]["temperature"], json!(0.1));
}

#[test]
fn roles_lists_every_role_with_its_source_model_and_prompt() {
    let env = env_with_roles();
    let run = env.run(&["roles"]);
    ok(&run);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("SOURCE") && lines[0].ends_with("PROMPT"));
    let row = |name: &str| lines.iter().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_owned();
    assert!(row("reviewer").contains("config") && row("reviewer").contains("gemini-2.5-pro"));
    assert!(row("reviewer").ends_with("You review code. Bugs first."), "{}", row("reviewer"));
    assert!(row("french").contains("roles/french.md") && row("french").ends_with("Translate into French: {{input}}"));
    assert_eq!(lines.len(), 5, "{run:?}");
    let json = env.run(&["roles", "--json"]);
    ok(&json);
    let roles: Vec<Value> = json.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let terse = roles.iter().find(|r| r["name"] == "terse").unwrap();
    assert_eq!((terse["source"].as_str(), terse["model"].as_str()), (Some("file"), Some("gemini-2.5-flash")));
    assert_eq!(terse["settings"], json!({"max_tokens": 50}));
    assert_eq!(roles.iter().find(|r| r["name"] == "french").unwrap()["template"], true);
    assert!(env.fake.requests().is_empty(), "listing roles asks nothing");
}

#[test]
fn a_continued_conversation_keeps_its_role() {
    let env = env_with_roles();
    ok(&env.run(&["ask", "-r", "french", "good morning"]));
    ok(&env.run(&["ask", "-c", "good night"]));
    let (_, body) = last(&env);
    let texts: Vec<&str> =
        body["contents"].as_array().unwrap().iter().map(|c| c["parts"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Translate into French:\n\ngood morning", "ok", "Translate into French:\n\ngood night"]);
    let role: Option<String> = env.history().query_row("SELECT role FROM conversations", [], |r| r.get(0)).unwrap();
    assert_eq!(role.as_deref(), Some("french"));
    let export = env.run(&["history", "export", "1", "--format", "json"]);
    ok(&export);
    assert_eq!(serde_json::from_str::<Value>(&export.stdout).unwrap()["role"], "french");
    let export = env.run(&["history", "export", "1", "--format", "md"]);
    assert!(export.stdout.lines().nth(2).unwrap().ends_with(" · role french*"), "{}", export.stdout);

    // A system-prompt role keeps its prompt, model and settings; -r switches to another.
    ok(&env.run(&["ask", "-r", "reviewer", "review this"]));
    ok(&env.run(&["ask", "-c", "and this"]));
    let (model, body) = last(&env);
    assert_eq!(model, "gemini-2.5-pro");
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "You review code. Bugs first.");
    assert_eq!(body["generationConfig"]["temperature"], json!(0.3));
    ok(&env.run(&["ask", "-c", "-r", "poet", "now a poem"]));
    assert_eq!(last(&env).1["systemInstruction"]["parts"][0]["text"], "You answer in haiku.");
    let role: Option<String> =
        env.history().query_row("SELECT role FROM conversations ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(role.as_deref(), Some("poet"));
}

#[test]
fn the_roles_system_prompt_is_part_of_the_cache_key() {
    let env = env_with_roles();
    ok(&env.run(&["ask", "-r", "reviewer", "same question"]));
    ok(&env.run(&["ask", "-r", "reviewer", "-m", "gemini-2.5-pro", "same question"]));
    assert_eq!(env.generate_requests().len(), 1, "the same role and question: answered from the cache");
    // Another role with the same model and settings but another prompt is asked again.
    env.add_config("\n[roles.other]\nsystem = \"Another prompt.\"\nmodel = \"gemini-2.5-pro\"\ntemperature = 0.3\nthinking = \"low\"\n");
    ok(&env.run(&["ask", "-r", "other", "same question"]));
    assert_eq!(env.generate_requests().len(), 2, "another system prompt is another question");
}

#[test]
fn the_line_chat_launched_with_a_role_answers_as_it() {
    let env = env_with_roles();
    let run = env.run_with_stdin(&["-r", "french"], "good morning\nand good night\n");
    ok(&run);
    let requests = env.generate_requests();
    assert_eq!(requests.len(), 2, "{run:?}");
    let first = body(&requests[0]);
    assert!(first.get("systemInstruction").is_none(), "a template gives none: {first}");
    assert_eq!(first["contents"][0]["parts"][0]["text"], "Translate into French:\n\ngood morning");
    // The second line goes on in the same conversation, filled in again (once).
    let second = body(&requests[1]);
    let texts: Vec<&str> =
        second["contents"].as_array().unwrap().iter().map(|c| c["parts"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Translate into French:\n\ngood morning", "ok", "Translate into French:\n\nand good night"]);
    let role: Option<String> = env.history().query_row("SELECT role FROM conversations", [], |r| r.get(0)).unwrap();
    assert_eq!(role.as_deref(), Some("french"));

    // A role with a model: the model flag still wins.
    ok(&env.run_with_stdin(&["--role", "reviewer"], "fn main() {}\n"));
    let (model, body) = last(&env);
    assert_eq!(model, "gemini-2.5-pro");
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "You review code. Bugs first.");
    ok(&env.run_with_stdin(&["-r", "reviewer", "-m", "gemini-2.5-flash"], "x\n"));
    assert_eq!(last(&env).0, "gemini-2.5-flash");
}

#[test]
fn a_launch_role_that_does_not_exist_or_comes_before_a_command_is_refused_unsent() {
    let env = env_with_roles();
    let unknown = env.run_with_stdin(&["-r", "nobody"], "hello\n");
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("nobody") && unknown.stderr.contains("reviewer"), "{unknown:?}");
    let misplaced = env.run(&["-r", "reviewer", "ask", "hello"]);
    assert_eq!(misplaced.code, 2, "{misplaced:?}");
    assert!(misplaced.stderr.contains("geminal ask -r NAME"), "{misplaced:?}");
    assert!(env.generate_requests().is_empty());
}
