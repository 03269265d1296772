//! Thinking and generation settings, end to end against the fake: what the model RECEIVED
//! (`generationConfig`), what was refused before anything was sent, where thoughts go (never
//! into the answer on stdout), what is stored, what `stats` counts, and how settings key the
//! cache and carry over into a continued conversation or a batch line.

mod common;

use common::process::{Env, ok};
use geminal::gemini::fake::Behavior;
use serde_json::{Value, json};

#[test]
fn the_model_receives_exactly_the_generation_config_given() {
    let env = Env::new(Behavior::text("ok"));
    let run = env.run(&[
        "ask",
        "--temperature",
        "0.2",
        "--top-p",
        "0.9",
        "--max-tokens",
        "100",
        "--seed",
        "-7",
        "--stop",
        "END",
        "--stop",
        "STOP",
        "hi",
    ]);
    ok(&run);
    assert_eq!(
        env.last_body()["generationConfig"],
        json!({"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 100, "seed": -7, "stopSequences": ["END", "STOP"]})
    );
    // Without flags nothing is sent: the model's own defaults apply.
    ok(&env.run(&["ask", "another question"]));
    assert!(env.last_body().get("generationConfig").is_none(), "{}", env.last_body());
}

#[test]
fn thinking_is_a_level_for_gemini_3_and_a_budget_for_2_5() {
    let env = Env::new(Behavior::text("ok"));
    let thinking = |env: &Env| env.last_body()["generationConfig"]["thinkingConfig"].clone();
    ok(&env.run(&["ask", "-m", "gemini-3-flash-preview", "--thinking", "high", "q1"]));
    assert_eq!(thinking(&env), json!({"thinkingLevel": "HIGH"}));
    ok(&env.run(&["ask", "-m", "gemini-3-flash-preview", "--thinking", "off", "q2"]));
    assert_eq!(thinking(&env), json!({"thinkingLevel": "MINIMAL"}), "Gemini 3 thinks at least minimally");
    ok(&env.run(&["ask", "-m", "gemini-2.5-flash", "--thinking", "low", "q3"]));
    assert_eq!(thinking(&env), json!({"thinkingBudget": 1024}));
    ok(&env.run(&["ask", "-m", "gemini-2.5-flash", "--thinking", "off", "q4"]));
    assert_eq!(thinking(&env), json!({"thinkingBudget": 0}));
    ok(&env.run(&["ask", "-m", "gemini-2.5-pro", "--thinking", "2048", "--show-thoughts", "q5"]));
    assert_eq!(thinking(&env), json!({"thinkingBudget": 2048, "includeThoughts": true}));
    // Given before the command, the flag applies to it.
    ok(&env.run(&["--thinking", "medium", "ask", "-m", "gemini-2.5-flash", "q6"]));
    assert_eq!(thinking(&env), json!({"thinkingBudget": 8192}));
}

#[test]
fn what_a_model_cannot_take_is_refused_before_any_request() {
    let env = Env::new(Behavior::text("ok"));
    for (args, needle) in [
        (&["-m", "gemini-2.5-pro", "--thinking", "off"][..], "cannot turn thinking off"),
        (&["-m", "gemini-3-pro-preview", "--thinking", "medium"][..], "only low or high"),
        (&["-m", "gemini-2.5-flash-lite", "--thinking", "100"][..], "0 or 512 to 24576"),
        (&["--temperature", "2.5"][..], "between 0 and 2"),
        (&["--top-p", "1.5"][..], "between 0 and 1"),
        (&["--max-tokens", "0"][..], "at least 1"),
    ] {
        let mut all = vec!["ask"];
        all.extend_from_slice(args);
        all.push("a question");
        env.run(&all).assert_failed(2, needle);
    }
    env.run(&["--temperature", "0.2", "history"]).assert_failed(2, "--temperature applies only to ask, batch");
    assert_eq!(env.fake.generate_count(), 0, "nothing was sent");
    let conversations: i64 = env.history().query_row("SELECT count(*) FROM conversations", [], |r| r.get(0)).unwrap();
    assert_eq!(conversations, 0, "nothing was saved");
}

#[test]
fn thoughts_on_a_pipe_go_to_stderr_never_into_the_answer() {
    let env = Env::new(Behavior::text("The answer.").with_thoughts(2));
    let run = env.run(&["ask", "--show-thoughts", "think about it"]);
    ok(&run);
    assert_eq!(run.stdout, "The answer.\n", "stdout holds the answer only");
    assert!(run.stderr.contains("Thinking step 1") && run.stderr.contains("Thinking step 2"), "{run:?}");
    assert!(!run.stderr.contains('\x1b'), "no styling on a pipe: {run:?}");
    assert_eq!(env.last_body()["generationConfig"]["thinkingConfig"], json!({"includeThoughts": true}));
    // Without --show-thoughts they are not asked for, and nothing is shown.
    let run = env.run(&["ask", "think again"]);
    assert_eq!((run.stdout.as_str(), run.stderr.contains("Thinking step")), ("The answer.\n", false));
}

/// `show_thoughts = true` in the config file asks for thoughts on every answer; one ask can
/// turn that off with `--no-show-thoughts`.
#[test]
fn no_show_thoughts_turns_off_what_the_config_file_turns_on() {
    let env = Env::new(Behavior::text("The answer.").with_thoughts(2));
    std::fs::create_dir_all(env.config_dir()).unwrap();
    std::fs::write(env.config_dir().join("config.toml"), "show_thoughts = true\n").unwrap();
    let run = env.run(&["ask", "think about it"]);
    ok(&run);
    assert!(run.stderr.contains("Thinking step 1"), "the config file's choice: {run:?}");
    let run = env.run(&["ask", "--no-show-thoughts", "think less"]);
    ok(&run);
    assert!(!run.stderr.contains("Thinking step"), "{run:?}");
    assert_eq!(env.last_body()["generationConfig"].get("thinkingConfig"), None, "not asked for");
}

#[test]
fn thoughts_on_a_terminal_are_dimmed_above_the_answer() {
    let env = Env::new(Behavior::text("The answer.").with_thoughts(1));
    let Some(run) = env.run_in_terminal(&["ask", "--plain", "--show-thoughts", "think about it"]) else { return };
    ok(&run);
    let thought = run.stdout.find("\x1b[2m**Thinking step 1**").expect("the thought, dimmed");
    let answer = run.stdout.find("The answer.").expect("the answer");
    assert!(thought < answer, "thoughts come first: {:?}", run.stdout);
    assert!(!run.stdout[answer..].contains("Thinking step"), "{:?}", run.stdout);
}

/// Without --plain the answer is rendered markdown, and so are the thoughts above it (dimmed):
/// no "**" left in them, and a blank line before the answer.
#[test]
fn thoughts_on_a_terminal_are_rendered_like_the_answer_and_set_off_from_it() {
    let env = Env::new(Behavior::text("The answer.").with_thoughts(2));
    let Some(run) = env.run_in_terminal(&["ask", "--show-thoughts", "think about it"]) else { return };
    ok(&run);
    let out = &run.stdout;
    assert!(!out.contains("**"), "the thoughts' markdown is rendered: {out:?}");
    let heading = out.find("Thinking step 1").expect("the first thought");
    assert!(out[..heading].contains("\x1b[2m"), "dimmed: {out:?}");
    let answer = out.find("The answer.").expect("the answer");
    let last_thought = out[..answer].rfind("answer \"think about it\".").expect("the last thought's text");
    let between = &out[last_thought..answer];
    assert!(between.contains("\r\n\r\n"), "a blank line before the answer: {between:?}");
}

#[test]
fn the_temperature_is_part_of_the_cache_key() {
    let env = Env::new(Behavior::text("ok"));
    ok(&env.run(&["ask", "--temperature", "0.2", "same question"]));
    ok(&env.run(&["ask", "--temperature", "0.2", "same question"]));
    assert_eq!(env.fake.generate_count(), 1, "the same temperature is the same question");
    ok(&env.run(&["ask", "--temperature", "0.3", "same question"]));
    assert_eq!(env.fake.generate_count(), 2, "another temperature is another question");
    ok(&env.run(&["ask", "same question"]));
    assert_eq!(env.fake.generate_count(), 3, "and no temperature another still");
}

#[test]
fn thoughts_are_stored_and_never_sent_back_and_settings_carry_over() {
    let env = Env::new(Behavior::text("First answer.").with_thoughts(2));
    ok(&env.run(&[
        "ask",
        "-m",
        "gemini-2.5-flash",
        "--thinking",
        "low",
        "--show-thoughts",
        "--temperature",
        "0.4",
        "first",
    ]));
    let (thoughts, thought_tokens): (String, i64) = env
        .history()
        .query_row("SELECT thoughts, thought_tokens FROM messages WHERE role = 'model'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(thoughts.contains("Thinking step 1") && thoughts.contains("Thinking step 2"), "{thoughts}");
    assert!(thought_tokens > 0);
    let text: String =
        env.history().query_row("SELECT text FROM messages WHERE role = 'model'", [], |r| r.get(0)).unwrap();
    assert_eq!(text, "First answer.", "the answer holds no thought");

    env.fake.set_default(Behavior::text("Second answer."));
    ok(&env.run(&["ask", "-c", "second"]));
    let body = env.last_body();
    assert!(!body["contents"].to_string().contains("Thinking step"), "thoughts are never sent back: {body}");
    assert_eq!(body["contents"][1], json!({"role": "model", "parts": [{"text": "First answer."}]}));
    // The conversation continues with the settings it was started with...
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.4, "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}})
    );
    // ...unless a flag overrides one of them (and then it continues with that).
    ok(&env.run(&["ask", "-c", "--temperature", "0.8", "third"]));
    assert_eq!(env.last_body()["generationConfig"]["temperature"], json!(0.8));
    ok(&env.run(&["ask", "-c", "fourth"]));
    assert_eq!(env.last_body()["generationConfig"]["temperature"], json!(0.8));

    // The history shows the thoughts apart from the answer, and exports them with the settings.
    let shown = env.run(&["history", "show", "1"]).stdout;
    let thoughts_at = shown.find("thoughts:\n**Thinking step 1**").expect("thoughts shown");
    assert!(thoughts_at < shown.find("First answer.").unwrap(), "{shown}");
    let export: Value = serde_json::from_str(&env.run(&["history", "export", "1", "--format", "json"]).stdout).unwrap();
    assert!(export["messages"][1]["thoughts"].as_str().unwrap().contains("Thinking step 2"), "{export}");
    assert_eq!(export["messages"][3]["thoughts"], Value::Null);
    assert_eq!(export["settings"]["temperature"], json!(0.8));
    assert_eq!(export["settings"]["thinking"], json!("low"));
}

#[test]
fn thought_tokens_are_counted_in_stats() {
    let env = Env::new(Behavior::text("ok").with_thoughts(2));
    ok(&env.run(&["ask", "think"]));
    let run = env.run(&["stats", "--json"]);
    ok(&run);
    let stats: Value = serde_json::from_str(&run.stdout).unwrap();
    let billed: i64 =
        env.history().query_row("SELECT thought_tokens FROM messages WHERE role = 'model'", [], |r| r.get(0)).unwrap();
    assert!(billed > 0);
    assert_eq!(stats["thought_tokens"], json!(billed), "{stats}");
    let text = env.run(&["stats"]).stdout;
    assert!(text.contains(&format!("{billed} thinking")), "{text}");
}

#[test]
fn a_batch_lines_own_settings_win_over_the_flags() {
    let env = Env::new(Behavior::text("ok"));
    let input = env.home.path().join("prompts.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"hot\", \"prompt\": \"line one\", \"temperature\": 0.9, \"thinking\": 512}\n{\"id\": \"cold\", \"prompt\": \"line two\"}\n",
    )
    .unwrap();
    let run = env.run(&["batch", "-m", "gemini-2.5-flash", "--temperature", "0.1", input.to_str().unwrap()]);
    ok(&run);
    let config_for = |prompt: &str| {
        let request = env.generate_requests().into_iter().find(|r| r.prompt() == prompt).unwrap();
        serde_json::from_str::<Value>(&request.body).unwrap()["generationConfig"].clone()
    };
    assert_eq!(config_for("line one"), json!({"temperature": 0.9, "thinkingConfig": {"thinkingBudget": 512}}));
    assert_eq!(config_for("line two"), json!({"temperature": 0.1}));
    let lines: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().all(|l| l["error"].is_null() && l["thought_tokens"].is_number()), "{lines:?}");
}

#[test]
fn a_batch_line_the_model_cannot_take_fails_alone() {
    let env = Env::new(Behavior::text("ok"));
    let input = env.home.path().join("prompts.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"prompt\": \"fine\"}\n{\"id\": \"b\", \"prompt\": \"no\", \"thinking\": \"off\"}\n",
    )
    .unwrap();
    let run = env.run(&["batch", "-m", "gemini-2.5-pro", input.to_str().unwrap()]);
    assert_eq!(run.code, 10, "{run:?}");
    let lines: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let b = lines.iter().find(|l| l["id"] == "b").unwrap();
    assert_eq!(b["error"]["kind"], "bad_input");
    assert!(b["error"]["message"].as_str().unwrap().contains("cannot turn thinking off"), "{b}");
    assert_eq!(env.fake.generate_count(), 1, "only the good line was sent");
}

#[test]
fn json_schema_asks_for_json_and_checks_the_answer() {
    let env = Env::new(Behavior::text("{\"city\": \"Paris\"}"));
    let schema = env.home.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}"#,
    )
    .unwrap();
    let run = env.run(&["ask", "--json-schema", schema.to_str().unwrap(), "capital of France?"]);
    ok(&run);
    assert_eq!(run.stdout, "{\"city\": \"Paris\"}\n");
    let config = &env.last_body()["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(config["responseJsonSchema"]["additionalProperties"], json!(false));

    env.fake.set_default(Behavior::text("Sure! The capital is Paris."));
    let run = env.run(&["ask", "--json-schema", schema.to_str().unwrap(), "capital of Italy?"]);
    run.assert_failed(11, "not valid JSON");
    assert_eq!(run.stdout, "Sure! The capital is Paris.\n", "the answer is still shown");
    let asked = env.fake.generate_count();
    env.run(&["ask", "--json-schema", schema.to_str().unwrap(), "capital of Italy?"])
        .assert_failed(11, "not valid JSON");
    assert_eq!(env.fake.generate_count(), asked + 1, "an answer that is not JSON is never cached");

    std::fs::write(&schema, "{ not json").unwrap();
    env.run(&["ask", "--json-schema", schema.to_str().unwrap(), "q"]).assert_failed(2, "is not valid JSON (line 1");
}

#[test]
fn the_recorded_thoughts_transcript_plays_through_ask() {
    // Transcript B of the wire reference (includeThoughts: true, gemini-2.5-flash), served as captured.
    let env = Env::new(Behavior::raw(&include_bytes!("data/captures/b_thoughts.sse")[..]));
    let run = env.run(&["ask", "-m", "gemini-2.5-flash", "--show-thoughts", "hi"]);
    ok(&run);
    assert_eq!(run.stdout, "Hi there! How can I help you today?\n");
    assert!(run.stderr.contains("**Considering First Interactions**"), "{run:?}");
    assert!(run.stderr.contains("**Developing Optimal Response Strategies**"), "{run:?}");
    let (thoughts, tokens): (String, i64) = env
        .history()
        .query_row("SELECT thoughts, thought_tokens FROM messages WHERE role = 'model'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(thoughts.starts_with("**Considering First Interactions**"), "{thoughts}");
    assert_eq!(tokens, 344, "the last usage total wins");
}

/// Every setting is declared once and has one name; older and typed spellings still work, and
/// every surface takes every setting: a config file's `urlcontext`, a batch line's `top-p` and
/// `json_schema`, a role's `search` all reach the model.
#[test]
fn every_surface_takes_every_setting_by_any_of_its_names() {
    let env = Env::new(Behavior::text("{}"));
    std::fs::create_dir_all(env.config_dir()).unwrap();
    std::fs::write(
        env.config_dir().join("config.toml"),
        "urlcontext = true\n[roles.finder]\nsystem = \"Find.\"\nsearch = true\n",
    )
    .unwrap();
    let input = env.home.path().join("prompts.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"prompt\": \"line one\", \"top-p\": 0.5, \"json_schema\": {\"type\": \"object\"}}\n",
    )
    .unwrap();
    ok(&env.run(&["batch", "-m", "gemini-2.5-flash", input.to_str().unwrap()]));
    let body: Value = serde_json::from_str(&env.generate_requests()[0].body).unwrap();
    assert_eq!(
        body["generationConfig"],
        json!({"topP": 0.5, "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}})
    );
    assert_eq!(body["tools"], json!([{"urlContext": {}}]), "the config file's old spelling");
    ok(&env.run(&["ask", "-r", "finder", "where?"]));
    assert_eq!(env.last_body()["tools"], json!([{"googleSearch": {}}, {"urlContext": {}}]), "the role's search");
    let shown = env.run(&["config", "show"]);
    ok(&shown);
    let row = shown.stdout.lines().find(|l| l.starts_with("url_context ")).unwrap();
    assert!(row.contains(" true ") && row.ends_with("config file"), "{row}");
}
