//! Tools end to end as a script runs them: `geminal ask --tools` against the fake Gemini (which
//! calls a tool when the prompt says `[[call NAME {json}]]`, and checks ids and signatures) with
//! geminal's own fake MCP server configured as `[mcp.servers.fake]` — what the model received,
//! what the tool did, what stdout and stderr hold on a pipe, what the history holds, and a
//! conversation continued after a tool turn.

mod common;

use common::process::{Env, KEY};
use geminal::gemini::fake::Behavior;
use serde_json::Value;

fn env_with_fake_server(trust: bool) -> Env {
    let env = Env::new(Behavior::text("plain"));
    env.add_config(&format!(
        "[mcp.servers.fake]\ncommand = {:?}\nargs = [\"fake-mcp\"]\ntrust = {trust}\ntimeout_secs = 20\n",
        env!("CARGO_BIN_EXE_geminal")
    ));
    env
}

/// The `functionResponse`s the model received, in order: (name, response).
fn responses(env: &Env) -> Vec<(String, Value)> {
    env.generate_requests()
        .iter()
        .flat_map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            let contents = body["contents"].as_array().cloned().unwrap_or_default();
            let last = contents.last().cloned().unwrap_or(Value::Null);
            last["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.get("functionResponse").cloned())
                .map(|f| (f["name"].as_str().unwrap_or_default().to_owned(), f["response"].clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn note_prompt(path: &std::path::Path) -> String {
    format!(r#"keep this [[call write_note {{"path": "{}", "text": "milk"}}]]"#, path.display())
}

#[test]
fn an_approved_call_runs_the_model_gets_its_result_and_stdout_holds_only_the_answer() {
    let env = env_with_fake_server(false);
    let note = env.home.path().join("note.txt");
    let run = env.run(&["ask", "--tools", "--approve-tools", &note_prompt(&note)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "milk", "the tool ran");
    let got = responses(&env);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "write_note");
    assert!(got[0].1.to_string().contains("wrote "), "the model received the tool's result: {}", got[0].1);
    // The answer alone on stdout; the steps on stderr, one line each.
    assert!(run.stdout.contains("write_note answered"), "{:?}", run.stdout);
    assert!(!run.stdout.contains("fake.write_note"), "no tool step on stdout: {:?}", run.stdout);
    assert!(run.stderr.contains("write_note"), "the call is told on stderr: {:?}", run.stderr);
    // Saved: the call and how it ended, tied to the answer.
    let db = env.history();
    let (server, name, status): (String, String, String) = db
        .query_row("SELECT server, name, status FROM tool_calls", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!((server.as_str(), name.as_str(), status.as_str()), ("fake", "write_note", "ok"));
    run.assert_no_key();
}

#[test]
fn on_a_pipe_an_untrusted_call_is_refused_nothing_is_written_and_stderr_names_the_flag() {
    let env = env_with_fake_server(false);
    let note = env.home.path().join("note.txt");
    let run = env.run(&["ask", "--tools", &note_prompt(&note)]);
    assert_eq!(run.code, 0, "the answer still comes: {run:?}");
    assert!(!note.exists(), "a refused call does not run");
    assert!(run.stderr.contains("--approve-tools"), "{:?}", run.stderr);
    let got = responses(&env);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].1["error"].as_str().is_some_and(|e| e.contains("not run")), "the model is told: {}", got[0].1);
    let status: String = env.history().query_row("SELECT status FROM tool_calls", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "refused");
}

#[test]
fn a_trusted_server_runs_without_asking_and_its_environment_holds_no_key() {
    let env = env_with_fake_server(true);
    let run = env.run(&["ask", "--tools=fake", "what is set? [[call env {}]]"]);
    assert_eq!(run.code, 0, "{run:?}");
    let got = responses(&env);
    assert_eq!(got.len(), 1, "{got:?}");
    let seen = got[0].1.to_string();
    assert!(seen.contains("PATH") || seen.contains("HOME"), "the tool's environment came back: {seen}");
    assert!(!seen.contains(KEY) && !seen.contains("GEMINI_API_KEY"), "no key reaches a tool: {seen}");
    for request in env.fake.requests() {
        assert!(!request.body.contains(KEY), "the key is never in a request body");
    }
}

#[test]
fn a_conversation_goes_on_after_a_tool_turn_with_the_calls_sent_back_as_they_came() {
    let env = env_with_fake_server(true);
    let first = env.run(&["ask", "--tools", r#"say it [[call echo {"text": "tern"}]]"#]);
    assert_eq!(first.code, 0, "{first:?}");
    let next = env.run(&["ask", "-c", "--tools", "and then?"]);
    assert_eq!(next.code, 0, "the fake took the call back with its signature: {next:?}");
    let last = env.last_body();
    let contents = last["contents"].as_array().unwrap();
    let call = contents
        .iter()
        .flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default())
        .find(|p| p.get("functionCall").is_some())
        .expect("the earlier call is part of the conversation");
    assert_eq!(call["functionCall"]["name"], "echo");
    assert!(call["thoughtSignature"].as_str().is_some_and(|s| !s.is_empty()), "{call}");
    assert_eq!(contents.last().unwrap()["parts"][0]["text"], "and then?");
}

#[test]
fn tools_naming_a_server_that_is_not_configured_is_refused_before_anything_is_sent() {
    let env = env_with_fake_server(true);
    let run = env.run(&["ask", "--tools=nope", "hello"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("nope"), "{:?}", run.stderr);
    assert!(env.generate_requests().is_empty(), "nothing was sent");
}

/// The filesystem MCP server from npm (installed by `.ci/run`, found through
/// GEMINAL_MCP_FILESYSTEM): a `write_file` the model asks for happens only once approved.
#[test]
fn the_filesystem_server_from_npm_writes_through_ask_only_when_the_call_is_approved() {
    let program = match std::env::var("GEMINAL_MCP_FILESYSTEM") {
        Ok(path) if std::path::Path::new(&path).exists() => path,
        _ => {
            assert!(std::env::var_os("CI").is_none(), "the filesystem server is required in CI (.ci/run installs it)");
            eprintln!("SKIPPED: @modelcontextprotocol/server-filesystem is not installed (run .ci/run)");
            return;
        }
    };
    let env = Env::new(Behavior::text("plain"));
    let root = env.home.path().join("notes");
    std::fs::create_dir_all(&root).unwrap();
    let root = root.canonicalize().unwrap();
    env.add_config(&format!(
        "tools = true\n[mcp.servers.fs]\ncommand = {program:?}\nargs = [{:?}]\ntimeout_secs = 60\n",
        root.display()
    ));
    let note = root.join("todo.txt");
    let prompt = format!(r#"save it [[call write_file {{"path": "{}", "content": "buy milk"}}]]"#, note.display());
    // `node` is found through PATH, which the server's minimal environment passes on.
    let run_ask = |extra: &[&str]| {
        let mut args = vec!["ask"];
        args.extend_from_slice(extra);
        args.push(&prompt);
        let mut cmd = env.command(&args);
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        common::process::finish(&mut cmd)
    };
    let refused = run_ask(&[]);
    assert_eq!(refused.code, 0, "{refused:?}");
    assert!(!note.exists(), "not approved (a pipe, no --approve-tools): nothing written");
    assert!(refused.stderr.contains("--approve-tools"), "{:?}", refused.stderr);
    let approved = run_ask(&["--approve-tools"]);
    assert_eq!(approved.code, 0, "{approved:?}");
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "buy milk", "approved: written by the real server");
    let statuses: Vec<String> = env
        .history()
        .prepare("SELECT status FROM tool_calls ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(statuses, ["refused", "ok"]);
}

/// Issue 24: with every server asked for (`--tools`), one that cannot start is said once on
/// stderr and the turn goes on with the other's tools; named (`--tools=gone,fake`), it refuses
/// the turn before anything is sent.
#[test]
fn a_server_that_cannot_start_is_said_once_and_the_others_tools_still_run() {
    let env = env_with_fake_server(true);
    env.add_config("[mcp.servers.gone]\ncommand = \"/nonexistent/mcp-server\"\n");
    let run = env.run(&["ask", "--tools", r#"say it [[call echo {"text": "tern"}]]"#]);
    assert_eq!(run.code, 0, "{run:?}");
    let said: Vec<&str> = run.stderr.lines().filter(|l| l.contains("did not start")).collect();
    assert_eq!(said.len(), 1, "said once: {:?}", run.stderr);
    assert!(said[0].contains("gone") && said[0].contains("was not found"), "{said:?}");
    let got = responses(&env);
    assert_eq!(got.len(), 1, "the fake server's tool ran: {got:?}");
    assert_eq!(got[0].1["content"], "tern");
    let offered = env.generate_requests()[0].body.clone();
    assert!(offered.contains("\"echo\""), "the other server's tools were offered: {offered}");

    let named = env.run(&["ask", "--tools=gone,fake", "hello"]);
    assert_ne!(named.code, 0, "{named:?}");
    assert!(named.stderr.contains("gone"), "{:?}", named.stderr);
    assert_eq!(env.generate_requests().len(), 2, "nothing more was sent");
}

/// Whether the last request offered the fake server's `echo`.
fn offered_echo(env: &Env) -> bool {
    let body = env.last_body();
    body["tools"].as_array().is_some_and(|tools| {
        tools
            .iter()
            .any(|t| t["functionDeclarations"].as_array().is_some_and(|d| d.iter().any(|f| f["name"] == "echo")))
    })
}

/// Issue 24: a role's `tools` apply wherever the role does, through the one place the runner
/// composes it: `ask -r`, `ask -c` of a conversation saved with the role, and the line chat
/// (given the role, or continuing its conversation). A flag still wins.
#[test]
fn a_roles_tools_apply_to_a_continued_conversation_and_the_line_chat() {
    let env = env_with_fake_server(true);
    env.add_config("[roles.clock]\nsystem = \"You keep time.\"\ntools = [\"fake\"]\n");
    let first = env.run(&["ask", "-r", "clock", r#"say it [[call echo {"text": "tern"}]]"#]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(offered_echo(&env), "ask -r offers the role's tools");
    let next = env.run(&["ask", "-c", r#"again [[call echo {"text": "two"}]]"#]);
    assert_eq!(next.code, 0, "{next:?}");
    assert!(offered_echo(&env), "ask -c of the role's conversation offers its tools");
    assert_eq!(responses(&env).last().unwrap().1["content"], "two", "and the call ran");
    let off = env.run(&["ask", "-c", "--no-tools", "and now?"]);
    assert_eq!(off.code, 0, "{off:?}");
    assert!(!offered_echo(&env), "--no-tools wins over the role");
    let plain = env.run(&["ask", "no role here"]);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert!(!offered_echo(&env), "without the role, the config's (none)");

    let chat = env.run_with_stdin(&["-r", "clock"], "what time is it?\n");
    assert_eq!(chat.code, 0, "{chat:?}");
    assert!(offered_echo(&env), "the line chat with the role offers its tools");
    let chat = env.run_with_stdin(&["-c"], "and later?\n");
    assert_eq!(chat.code, 0, "{chat:?}");
    assert!(offered_echo(&env), "the line chat continuing the role's conversation too");
}

/// An image a real server's tool returns is kept with the call: `history show` says so, and
/// `-c` sends it to the model again after the call's result.
#[test]
fn an_image_from_a_tool_is_kept_and_sent_again_when_the_conversation_continues() {
    let env = env_with_fake_server(true);
    let run = env.run(&["ask", "--tools", "look [[call image {}]]"]);
    assert_eq!(run.code, 0, "{run:?}");
    let show = env.run(&["history", "show", "1"]);
    assert!(show.stdout.contains("← ok (+ 1 media: image/png): "), "{}", show.stdout);
    let again = env.run(&["ask", "-c", "--tools", "and now?"]);
    assert_eq!(again.code, 0, "{again:?}");
    let bodies: Vec<Value> = env.generate_requests().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let results = &bodies.last().unwrap()["contents"][2]["parts"];
    assert!(results[0].get("functionResponse").is_some(), "{results}");
    assert_eq!(results[1]["inlineData"]["mimeType"], "image/png", "{results}");
}
