//! `geminal serve` as a client sees it: the process started against the fake Gemini on an
//! ephemeral loopback port, called over HTTP; what comes back (statuses, headers, bodies in
//! OpenAI's shape), what the fake received, and what the history database holds.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::process::{Env, KEY};
use geminal::gemini::fake::{Behavior, StreamEnd};
use serde_json::{Value, json};

const CLIENT_KEY: &str = "sk-editor-Secret-1234";

/// A running `geminal serve` and where it listens.
struct Server {
    child: Child,
    base: String,
    start_line: String,
}

impl Server {
    fn start(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Server {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut command = env.command(&all);
        command.envs(vars.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("a start line with the address: {line:?}"))
            .to_owned();
        Server { child, base: format!("http://{addr}"), start_line: line }
    }

    /// A server whose one client key is [`CLIENT_KEY`] (`GEMINAL_SERVE_KEY`).
    fn with_key(env: &Env) -> Server {
        Server::start(env, &[], &[("GEMINAL_SERVE_KEY", CLIENT_KEY)])
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    fn terminate_and_wait(&mut self) -> i32 {
        std::process::Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "serve did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn chat(server: &Server, key: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
    let request = client()
        .post(server.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string());
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn ask(prompt: &str) -> Value {
    json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": prompt}]})
}

/// An OpenAI-shaped error with this code, and no key in it.
#[track_caller]
fn assert_openai_error(body: &Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(!body.to_string().contains(CLIENT_KEY) && !body.to_string().contains(KEY), "{body}");
}

#[tokio::test]
async fn a_chat_completion_goes_through_the_runner_is_saved_for_its_client_and_cached() {
    let env = Env::new(Behavior::text("Paris is the capital of France."));
    let server = Server::with_key(&env);
    assert!(server.start_line.contains("listening on http://127.0.0.1:"), "{}", server.start_line);
    assert!(server.start_line.contains("Bearer"), "{}", server.start_line);
    assert!(!server.start_line.contains(CLIENT_KEY), "{}", server.start_line);

    let response = chat(&server, Some(CLIENT_KEY), &ask("capital of France?")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-geminal-cache"], "miss");
    assert!(response.headers().get("access-control-allow-origin").is_none(), "no CORS by default");
    let body = json_of(response).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gemini-2.5-flash");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Paris is the capital of France.");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let usage = &body["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    let requests = env.generate_requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].path.contains("gemini-2.5-flash"), "{:?}", requests[0].path);
    assert!(requests[0].body.contains("capital of France?"));
    assert_eq!(requests[0].header("x-goog-api-key"), Some(KEY), "geminal's own key goes upstream");

    // The same question again: from the cache, said in the header; nothing more upstream.
    let again = chat(&server, Some(CLIENT_KEY), &ask("capital of France?")).send().await.unwrap();
    assert_eq!(again.headers()["x-geminal-cache"], "hit");
    assert_eq!(json_of(again).await["choices"][0]["message"]["content"], "Paris is the capital of France.");
    assert_eq!(env.generate_requests().len(), 1);
    // Cache-Control: no-cache asks again.
    let fresh = chat(&server, Some(CLIENT_KEY), &ask("capital of France?"))
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.headers()["x-geminal-cache"], "miss");
    assert_eq!(env.generate_requests().len(), 2);

    let clients: Vec<Option<String>> = env
        .history()
        .prepare("SELECT client FROM conversations ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(clients, vec![Some("default".to_owned()); 3], "each saved for the client key's name");
}

#[tokio::test]
async fn a_resent_conversation_is_stored_once_and_only_the_new_turn_is_added() {
    let env = Env::new(Behavior::text("First answer."));
    let server = Server::with_key(&env);
    let first = json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
    ]});
    let body = json_of(chat(&server, Some(CLIENT_KEY), &first).send().await.unwrap()).await;
    assert_eq!(body["choices"][0]["message"]["content"], "First answer.");
    env.fake.set_default(Behavior::text("Second answer."));
    let second = json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]});
    let response = chat(&server, Some(CLIENT_KEY), &second).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["choices"][0]["message"]["content"], "Second answer.");

    let db = env.history();
    let conversations: i64 = db.query_row("SELECT count(*) FROM conversations", [], |r| r.get(0)).unwrap();
    assert_eq!(conversations, 1, "the history sent again is the stored conversation");
    let texts: Vec<(String, String)> = db
        .prepare("SELECT role, text FROM messages ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("user", "first question"),
        ("model", "First answer."),
        ("user", "second question"),
        ("model", "Second answer."),
    ];
    assert_eq!(texts, expected.map(|(r, t)| (r.to_owned(), t.to_owned())));
    let (system, client): (Option<String>, Option<String>) =
        db.query_row("SELECT system_prompt, client FROM conversations", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((system.as_deref(), client.as_deref()), (Some("Be brief."), Some("default")));
    // Upstream, the second request carried the whole conversation and the system prompt.
    let sent: Value = serde_json::from_str(&env.generate_requests()[1].body).unwrap();
    let contents = sent["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "{sent}");
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(contents[2]["parts"][0]["text"], "second question");
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Be brief.");

    // A history this client never had stored is saved once, as sent, then continued.
    env.fake.set_default(Behavior::text("Third answer."));
    let foreign = json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "user", "content": "made up elsewhere"},
        {"role": "assistant", "content": "an answer from another tool"},
        {"role": "user", "content": "and then?"},
    ]});
    assert_eq!(chat(&server, Some(CLIENT_KEY), &foreign).send().await.unwrap().status(), 200);
    let counts: (i64, i64) = db
        .query_row("SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(counts, (2, 8));
}

#[tokio::test]
async fn a_streamed_completion_arrives_as_sse_chunks_with_usage_and_done() {
    let env = Env::new(Behavior::text("one two three four five six").with_chunks(3));
    let server = Server::with_key(&env);
    let mut body = ask("count");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"), "{text}");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let answer: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(answer, "one two three four five six");
    assert!(chunks.len() >= 4, "streamed in parts: {text}");
    let finish: Vec<&Value> = chunks.iter().filter(|c| c["choices"][0]["finish_reason"] == "stop").collect();
    assert_eq!(finish.len(), 1, "{text}");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{text}");
}

#[tokio::test]
async fn refusals_come_in_openais_shape_with_the_right_status() {
    let env = Env::new(Behavior::text("fine"));
    env.add_config(
        "[serve]\nmax_body_bytes = 2000\ncors_origins = [\"http://app.example\"]\n\
         [serve.keys.notebook]\nkey_env = \"NOTEBOOK_KEY\"\nrpm = 2\nmodels = [\"gemini-2.5-*\"]\n",
    );
    let server = Server::start(&env, &[], &[("NOTEBOOK_KEY", CLIENT_KEY)]);
    assert!(server.start_line.contains("notebook"), "{}", server.start_line);

    let none = chat(&server, None, &ask("hi")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_openai_error(&json_of(none).await, "invalid_api_key");
    let wrong = chat(&server, Some("sk-editor-Secret-1235"), &ask("hi")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_openai_error(&json_of(wrong).await, "invalid_api_key");

    let mut other_model = ask("hi");
    other_model["model"] = json!("gemini-pro-latest");
    let forbidden = chat(&server, Some(CLIENT_KEY), &other_model).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
    assert_openai_error(&json_of(forbidden).await, "model_not_allowed");

    let malformed = client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .body("{\"model\": \"gemini-2.5-flash\", \"messages\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body = json_of(malformed).await;
    assert_openai_error(&body, "invalid_json");
    assert!(body["error"]["message"].as_str().unwrap().contains("EOF while parsing"), "the parser's message: {body}");

    let mut two = ask("hi");
    two["n"] = json!(2);
    let n = chat(&server, Some(CLIENT_KEY), &two).send().await.unwrap();
    assert_eq!(n.status(), 400);
    assert_openai_error(&json_of(n).await, "invalid_request");

    let large = chat(&server, Some(CLIENT_KEY), &ask(&"x".repeat(5000))).send().await.unwrap();
    assert_eq!(large.status(), 413);
    assert_openai_error(&json_of(large).await, "request_too_large");
    assert!(env.generate_requests().is_empty(), "nothing refused went upstream");

    // CORS: only to the origin configured.
    let listed =
        chat(&server, Some(CLIENT_KEY), &ask("one")).header("origin", "http://app.example").send().await.unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["access-control-allow-origin"], "http://app.example");
    let other =
        chat(&server, Some(CLIENT_KEY), &ask("two")).header("origin", "http://evil.example").send().await.unwrap();
    assert_eq!(other.status(), 200);
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // rpm = 2: the third request this minute waits.
    let limited = chat(&server, Some(CLIENT_KEY), &ask("three")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_openai_error(&json_of(limited).await, "rate_limit_exceeded");
    assert_eq!(env.generate_requests().len(), 2);

    // A Host that is not this server (DNS rebinding) is refused before anything else.
    let rebound = client().get(server.url("/health")).header("host", "attacker.example").send().await.unwrap();
    assert_eq!(rebound.status(), 421);
}

#[tokio::test]
async fn a_full_server_says_busy_with_retry_after() {
    let env = Env::new(Behavior::text("slow answer").with_first_token_delay(Duration::from_secs(3)));
    env.add_config("[serve]\nmax_concurrent = 1\nmax_queue = 0\n");
    let server = Server::with_key(&env);
    let first = tokio::spawn(chat(&server, Some(CLIENT_KEY), &ask("slow")).send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.generate_requests().is_empty() {
        assert!(Instant::now() < deadline, "the first request reached the fake");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = chat(&server, Some(CLIENT_KEY), &ask("another")).send().await.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_openai_error(&json_of(busy).await, "server_busy");
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(env.generate_requests().len(), 1);
}

#[tokio::test]
async fn a_spent_budget_is_insufficient_quota() {
    let env = Env::new(Behavior::text("fine"));
    env.add_config("[budget]\ndaily = 0.0000001\n");
    let server = Server::with_key(&env);
    // Something of the budget is left: the first answer goes, and spends it all.
    let first = chat(&server, Some(CLIENT_KEY), &ask("hi")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let response = chat(&server, Some(CLIENT_KEY), &ask("again")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let body = json_of(response).await;
    assert_openai_error(&body, "insufficient_quota");
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(env.generate_requests().len(), 1, "nothing more was sent");
}

#[tokio::test]
async fn a_keys_spent_budget_is_insufficient_quota_for_that_key_only() {
    let env = Env::new(Behavior::text("fine"));
    env.add_config(
        "[serve.keys.small]\nkey_env = \"SMALL\"\ndaily_budget = 0.0000001\n[serve.keys.big]\nkey_env = \"BIG\"\n",
    );
    let server = Server::start(&env, &[], &[("SMALL", CLIENT_KEY), ("BIG", "sk-big-Secret-99")]);
    assert_eq!(chat(&server, Some(CLIENT_KEY), &ask("one")).send().await.unwrap().status(), 200);
    let spent = chat(&server, Some(CLIENT_KEY), &ask("two")).send().await.unwrap();
    assert_eq!(spent.status(), 429);
    assert_openai_error(&json_of(spent).await, "insufficient_quota");
    assert_eq!(chat(&server, Some("sk-big-Secret-99"), &ask("three")).send().await.unwrap().status(), 200);
    assert_eq!(env.generate_requests().len(), 2);
}

/// Requests of one key at once cannot pass its budget together: an answer running holds its
/// worst case, so a second is refused while it runs, and admitted once it ended (it spent far
/// less). Another key is not held up.
#[tokio::test]
async fn a_keys_running_answers_hold_its_budget() {
    let env = Env::new(Behavior::text("slow answer").with_first_token_delay(Duration::from_secs(2)));
    env.add_config(
        "[serve.keys.small]\nkey_env = \"SMALL\"\ndaily_budget = 0.05\n[serve.keys.big]\nkey_env = \"BIG\"\n",
    );
    let server = Server::start(&env, &[], &[("SMALL", CLIENT_KEY), ("BIG", "sk-big-Secret-99")]);
    let first = tokio::spawn(chat(&server, Some(CLIENT_KEY), &ask("slow")).send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.generate_requests().is_empty() {
        assert!(Instant::now() < deadline, "the first request reached the fake");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held = chat(&server, Some(CLIENT_KEY), &ask("at once")).send().await.unwrap();
    assert_eq!(held.status(), 429);
    let body = json_of(held).await;
    assert_openai_error(&body, "insufficient_quota");
    assert!(body["error"]["message"].as_str().unwrap().contains("held by its answers running now"), "{body}");
    assert_eq!(chat(&server, Some("sk-big-Secret-99"), &ask("other key")).send().await.unwrap().status(), 200);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    // Ended: its hold is given back, and what it spent leaves most of the budget.
    assert_eq!(chat(&server, Some(CLIENT_KEY), &ask("later")).send().await.unwrap().status(), 200);
    assert_eq!(env.generate_requests().len(), 3, "the refused one was never sent");
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_stops_the_upstream_call() {
    let env = Env::new(
        Behavior::text("a b c d e f g h i j k l m n o p").with_chunks(16).with_chunk_delay(Duration::from_millis(300)),
    );
    let server = Server::with_key(&env);
    let mut body = ask("long");
    body["stream"] = json!(true);
    let mut response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
    // The opening chunk and the first piece of the answer.
    let mut seen = String::new();
    while !seen.contains("\"content\":\"a") {
        seen.push_str(&String::from_utf8_lossy(&response.chunk().await.unwrap().unwrap()));
    }
    drop(response);
    let id = env.generate_requests()[0].id;
    let deadline = Instant::now() + Duration::from_secs(2);
    while env.fake.stream_end(id).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.fake.stream_end(id).map(|e| e.0), Some(StreamEnd::ClientClosed), "the upstream call was dropped");
    // What was received is saved, marked interrupted.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status: Option<String> =
            env.history().query_row("SELECT status FROM messages WHERE role = 'model'", [], |r| r.get(0)).ok();
        if status.as_deref() == Some("interrupted") {
            break;
        }
        assert!(Instant::now() < deadline, "saved as interrupted: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_answer_finish_then_exits_0() {
    let env = Env::new(Behavior::text("x y z w").with_chunks(4).with_chunk_delay(Duration::from_millis(400)));
    let mut server = Server::with_key(&env);
    let answer = tokio::spawn(chat(&server, Some(CLIENT_KEY), &ask("drain")).send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.generate_requests().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    common::process::wait_until_catching(server.pid(), 15);
    let code = tokio::task::block_in_place(|| server.terminate_and_wait());
    assert_eq!(code, 0);
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["choices"][0]["message"]["content"], "x y z w");
    let status: String =
        env.history().query_row("SELECT status FROM messages WHERE role = 'model'", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "complete");
}

#[test]
fn serve_refuses_to_start_without_a_way_to_authenticate() {
    let env = Env::new(Behavior::text("unused"));
    let run = common::process::finish(&mut env.command(&["serve", "--listen", "127.0.0.1:0"]));
    run.assert_failed(3, "GEMINAL_SERVE_KEY");
    let run = common::process::finish(&mut env.command(&["serve", "--listen", "0.0.0.0:0", "--no-auth"]));
    run.assert_failed(3, "loopback");
    env.add_config("[serve.keys.editor]\nkey_env = \"EDITOR_KEY\"\n");
    let run = common::process::finish(&mut env.command(&["serve", "--listen", "127.0.0.1:0"]));
    run.assert_failed(3, "EDITOR_KEY is not set");
}

#[tokio::test]
async fn no_auth_on_loopback_serves_health_and_models_with_roles() {
    let env = Env::new(Behavior::text("unused"));
    env.add_config("[roles.coder]\nsystem = \"You write code.\"\n");
    let server = Server::start(&env, &["--no-auth"], &[]);
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let models = json_of(client().get(server.url("/v1/models")).send().await.unwrap()).await;
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"gemini-2.5-flash"), "{models}");
    assert!(ids.contains(&"role:coder"), "{models}");
    let mut as_role = ask("write hello world");
    as_role["model"] = json!("role:coder");
    let response = chat(&server, None, &as_role).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(env.last_body()["systemInstruction"]["parts"][0]["text"], "You write code.");
    let client_name: Option<String> =
        env.history().query_row("SELECT client FROM conversations", [], |r| r.get(0)).unwrap();
    assert_eq!(client_name.as_deref(), Some("local"));
    // The next turn resends the conversation: the role's conversation goes on, stored once.
    let said = env.generate_requests().len();
    let mut next = as_role.clone();
    next["messages"] = json!([
        {"role": "user", "content": "write hello world"},
        {"role": "assistant", "content": "unused"},
        {"role": "user", "content": "now in Rust"},
    ]);
    assert_eq!(chat(&server, None, &next).send().await.unwrap().status(), 200);
    assert_eq!(env.generate_requests().len(), said + 1);
    assert_eq!(env.last_body()["systemInstruction"]["parts"][0]["text"], "You write code.");
    let counts: (i64, i64) = env
        .history()
        .query_row("SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(counts, (1, 4));
    // A role's history this server never stored is saved with a model that exists.
    let mut foreign = as_role.clone();
    foreign["messages"] = json!([
        {"role": "user", "content": "from elsewhere"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "go on"},
    ]);
    assert_eq!(chat(&server, None, &foreign).send().await.unwrap().status(), 200);
    assert!(env.generate_requests().last().unwrap().path.contains("gemini-flash-latest"));
}

fn gemini_body(prompt: &str) -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "systemInstruction": {"parts": [{"text": "Answer in French."}]},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 100},
    })
}

#[tokio::test]
async fn the_gemini_native_routes_answer_in_googles_shape() {
    let env = Env::new(Behavior::text("Bonjour tout le monde.").with_chunks(3));
    let server = Server::with_key(&env);
    let url = server.url("/v1beta/models/gemini-2.5-flash:generateContent");
    let response = client()
        .post(&url)
        .header("x-goog-api-key", CLIENT_KEY)
        .body(gemini_body("hello").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-geminal-cache"], "miss");
    let body = json_of(response).await;
    assert_eq!(body["candidates"][0]["content"]["role"], "model");
    assert_eq!(body["candidates"][0]["content"]["parts"][0]["text"], "Bonjour tout le monde.");
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    assert!(body["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0, "{body}");
    let sent = env.last_body();
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Answer in French.");
    assert_eq!(sent["generationConfig"]["temperature"], 0.5);
    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 100);

    // Streamed, the key in ?key= (as some SDKs send it).
    let stream_url =
        server.url(&format!("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key={CLIENT_KEY}"));
    let response = client()
        .post(&stream_url)
        .header("cache-control", "no-cache")
        .body(gemini_body("hello again").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    let chunks: Vec<Value> = text
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert!(chunks.len() >= 3, "{text}");
    let answer: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(answer, "Bonjour tout le monde.");
    assert_eq!(chunks.last().unwrap()["candidates"][0]["finishReason"], "STOP");
    assert!(chunks.last().unwrap()["usageMetadata"]["candidatesTokenCount"].as_u64().unwrap() > 0, "{text}");

    // countTokens: counted by the provider (the fake), nothing generated.
    let before = env.generate_requests().len();
    let count = client()
        .post(server.url("/v1beta/models/gemini-2.5-flash:countTokens"))
        .header("x-goog-api-key", CLIENT_KEY)
        .body(json!({"contents": [{"parts": [{"text": "count these words please"}]}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(count.status(), 200);
    assert!(json_of(count).await["totalTokens"].as_u64().unwrap() > 0);
    assert_eq!(env.fake.count_tokens_count(), 1, "the provider counted");
    assert_eq!(env.generate_requests().len(), before);

    let models = client().get(server.url("/v1beta/models")).header("x-goog-api-key", CLIENT_KEY).send().await.unwrap();
    let models = json_of(models).await;
    assert!(models["models"].as_array().unwrap().iter().any(|m| m["name"] == "models/gemini-2.5-flash"), "{models}");

    let clients: i64 = env
        .history()
        .query_row("SELECT count(*) FROM conversations WHERE client = 'default'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(clients, 2);
}

#[tokio::test]
async fn gemini_native_refusals_use_googles_error_shape() {
    let env = Env::new(Behavior::text("fine"));
    env.add_config("[budget]\ndaily = 0.0000001\n");
    let server = Server::with_key(&env);
    let url = server.url("/v1beta/models/gemini-2.5-flash:generateContent");
    let unknown =
        client().post(&url).header("x-goog-api-key", "nope").body(gemini_body("x").to_string()).send().await.unwrap();
    assert_eq!(unknown.status(), 401);
    let body = json_of(unknown).await;
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert!(body["error"]["message"].is_string());

    // Functions are passed through; a calling mode the neutral request cannot carry is not.
    let tools = json!({
        "contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}},
    });
    let refused =
        client().post(&url).header("x-goog-api-key", CLIENT_KEY).body(tools.to_string()).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let body = json_of(refused).await;
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(body["error"]["message"].as_str().unwrap().contains("\"VALIDATED\" is not supported"), "{body}");

    let malformed =
        client().post(&url).header("x-goog-api-key", CLIENT_KEY).body("{\"contents\": 3").send().await.unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(json_of(malformed).await["error"]["status"], "INVALID_ARGUMENT");

    assert_eq!(
        client()
            .post(&url)
            .header("x-goog-api-key", CLIENT_KEY)
            .body(gemini_body("one").to_string())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let spent = client()
        .post(&url)
        .header("x-goog-api-key", CLIENT_KEY)
        .body(gemini_body("two").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), 429);
    let body = json_of(spent).await;
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(env.generate_requests().len(), 1);
}

#[tokio::test]
async fn metrics_count_what_each_client_saw_and_info_shows_the_keys_limits() {
    let env = Env::new(Behavior::text("counted").with_chunks(2));
    env.add_config(
        "[serve.keys.alpha]\nkey_env = \"ALPHA\"\n[serve.keys.beta]\nkey_env = \"BETA\"\nrpm = 1\nmodels = [\"gemini-*\"]\n",
    );
    let (alpha, beta) = ("sk-alpha-Secret-1", "sk-beta-Secret-2");
    let server = Server::start(&env, &[], &[("ALPHA", alpha), ("BETA", beta)]);
    assert_eq!(client().get(server.url("/ready")).send().await.unwrap().status(), 200);
    for _ in 0..2 {
        assert_eq!(chat(&server, Some(alpha), &ask("same")).send().await.unwrap().status(), 200);
    }
    assert_eq!(chat(&server, Some(beta), &ask("b")).send().await.unwrap().status(), 200);
    assert_eq!(chat(&server, Some(beta), &ask("b2")).send().await.unwrap().status(), 429);
    assert_eq!(chat(&server, Some("sk-nobody"), &ask("x")).send().await.unwrap().status(), 401);

    assert_eq!(client().get(server.url("/metrics")).send().await.unwrap().status(), 401, "metrics need a key");
    let response = client().get(server.url("/metrics")).bearer_auth(alpha).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{series} in:\n{text}"))
            .parse()
            .unwrap()
    };
    let m = "model=\"gemini-2.5-flash\"";
    assert_eq!(value(&format!("geminal_serve_requests_total{{client=\"alpha\",{m},outcome=\"complete\"}}")), 2.0);
    assert_eq!(value(&format!("geminal_serve_requests_total{{client=\"beta\",{m},outcome=\"complete\"}}")), 1.0);
    assert_eq!(value(&format!("geminal_serve_cache_hits_total{{client=\"alpha\",{m}}}")), 1.0);
    assert!(value(&format!("geminal_serve_tokens_total{{client=\"beta\",{m},kind=\"output\"}}")) > 0.0);
    assert!(value(&format!("geminal_serve_cost_usd_total{{client=\"beta\",{m}}}")) > 0.0);
    assert_eq!(value(&format!("geminal_serve_latency_seconds_count{{client=\"alpha\",{m}}}")), 2.0);
    assert_eq!(value(&format!("geminal_serve_ttft_seconds_count{{client=\"beta\",{m}}}")), 1.0);
    assert_eq!(value("geminal_serve_rejected_total{client=\"beta\",reason=\"rate_limited\"}"), 1.0);
    assert_eq!(value("geminal_serve_rejected_total{client=\"unknown\",reason=\"unauthenticated\"}"), 2.0);
    assert_eq!(value("geminal_serve_in_flight"), 0.0);
    assert_eq!(value("geminal_serve_queued"), 0.0);
    assert!(!text.contains(alpha) && !text.contains(beta));

    let info = json_of(client().get(server.url("/info")).bearer_auth(beta).send().await.unwrap()).await;
    assert_eq!(info["client"], "beta");
    assert_eq!(info["key"]["rpm"], 1);
    assert_eq!(info["key"]["models"], json!(["gemini-*"]));
    assert_eq!(info["server"]["max_concurrent"], 16);
    assert!(!info.to_string().contains(beta));
}

#[tokio::test]
async fn history_client_and_stats_show_what_serve_saved_for_each_key() {
    let env = Env::new(Behavior::text("noted"));
    env.add_config("[serve.keys.editor]\nkey_env = \"ED\"\n[serve.keys.notebook]\nkey_env = \"NB\"\n");
    let server = Server::start(&env, &[], &[("ED", "sk-ed-Secret-1"), ("NB", "sk-nb-Secret-2")]);
    assert_eq!(chat(&server, Some("sk-ed-Secret-1"), &ask("from the editor")).send().await.unwrap().status(), 200);
    assert_eq!(chat(&server, Some("sk-nb-Secret-2"), &ask("from the notebook")).send().await.unwrap().status(), 200);
    assert_eq!(chat(&server, Some("sk-nb-Secret-2"), &ask("from the notebook")).send().await.unwrap().status(), 200);
    // A conversation of the CLI's own has no client.
    common::process::ok(&env.run(&["ask", "from the command line"]));

    let run = env.run(&["history", "--client", "editor"]);
    common::process::ok(&run);
    assert!(run.stdout.contains("from the editor"), "{run:?}");
    assert!(!run.stdout.contains("notebook") && !run.stdout.contains("command line"), "{run:?}");
    let run = env.run(&["history", "--client", "nobody"]);
    assert!(run.stdout.contains("No conversations saved for client nobody"), "{run:?}");

    let run = env.run(&["stats", "--json"]);
    common::process::ok(&run);
    let stats: Value = serde_json::from_str(&run.stdout).unwrap();
    let clients = stats["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "{stats}");
    assert_eq!(clients[0]["client"], "editor");
    assert_eq!(clients[0]["answers"], 1);
    assert_eq!(clients[1]["client"], "notebook");
    assert_eq!(clients[1]["answers"], 2);
    assert_eq!(clients[1]["cache_hits"], 1);
    let run = env.run(&["stats"]);
    assert!(run.stdout.contains("client notebook: 2 answers (1 from the cache)"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_stops_running_answers_which_are_saved_as_interrupted() {
    let env =
        Env::new(Behavior::text("a b c d e f g h i j").with_chunks(10).with_chunk_delay(Duration::from_millis(500)));
    let mut server = Server::with_key(&env);
    let mut body = ask("long");
    body["stream"] = json!(true);
    let mut response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
    let mut seen = String::new();
    while !seen.contains("\"content\":\"a") {
        seen.push_str(&String::from_utf8_lossy(&response.chunk().await.unwrap().unwrap()));
    }
    let pid = server.pid().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let code = tokio::task::block_in_place(|| server.terminate_and_wait());
    assert_eq!(code, 0);
    assert!(started.elapsed() < Duration::from_secs(3), "stopped at once: {:?}", started.elapsed());
    while let Ok(Some(chunk)) = response.chunk().await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !seen.contains("\"content\":\" j") && !seen.contains("finish_reason\":\"stop"),
        "not run to its end: {seen}"
    );
    assert!(seen.contains("shutting_down"), "the stream says why it ended: {seen}");
    let (status, text): (String, String) = env
        .history()
        .query_row("SELECT status, text FROM messages WHERE role = 'model'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(status, "interrupted");
    assert!(text.starts_with('a'), "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_drain_secs_running_answers_are_stopped_and_serve_exits_0() {
    let env =
        Env::new(Behavior::text("a b c d e f g h i j").with_chunks(10).with_chunk_delay(Duration::from_millis(500)));
    let mut server = Server::start(&env, &["--drain-secs", "1"], &[("GEMINAL_SERVE_KEY", CLIENT_KEY)]);
    let answer = tokio::spawn(chat(&server, Some(CLIENT_KEY), &ask("long")).send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.generate_requests().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let code = tokio::task::block_in_place(|| server.terminate_and_wait());
    assert_eq!(code, 0);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
    assert_openai_error(&json_of(response).await, "shutting_down");
    let status: String =
        env.history().query_row("SELECT status FROM messages WHERE role = 'model'", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "interrupted");
}

/// The official `openai` and `google-genai` SDKs and `prometheus_client`'s parser against
/// `geminal serve --demo`, from the venv `.ci/run` makes (`GEMINAL_SERVE_PY`); skipped where
/// there is none unless `GEMINAL_SERVE_CLIENTS_REQUIRE` is set.
#[test]
fn real_clients_talk_to_serve_demo() {
    let Some(python) = std::env::var_os("GEMINAL_SERVE_PY") else {
        assert!(
            std::env::var_os("GEMINAL_SERVE_CLIENTS_REQUIRE").is_none(),
            "GEMINAL_SERVE_PY must name the venv's python (.ci/run makes it)"
        );
        eprintln!("skipped: GEMINAL_SERVE_PY is not set (.ci/run makes the venv)");
        return;
    };
    let env = Env::new(Behavior::text("unused: --demo answers"));
    let server = Server::start(&env, &["--demo"], &[("GEMINAL_SERVE_KEY", CLIENT_KEY)]);
    assert!(server.start_line.contains("demo"), "{}", server.start_line);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve_clients.py");
    let run = common::process::finish(
        std::process::Command::new(python)
            .args([script, &server.base, CLIENT_KEY])
            .env("NO_PROXY", "127.0.0.1,localhost"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.ends_with("all ok\n"), "{run:?}");
    assert!(env.generate_requests().is_empty(), "--demo answered, not the fake");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::new(Behavior::text("unused"));
    env.add_config("[serve]\nbody_timeout_secs = 1\n");
    let server = Server::with_key(&env);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {CLIENT_KEY}\r\ncontent-type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\""
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(env.generate_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_stopping_a_queued_request_is_turned_away_and_the_running_one_finishes() {
    let env = Env::new(Behavior::text("w x y z").with_chunks(4).with_chunk_delay(Duration::from_millis(300)));
    env.add_config("[serve]\nmax_concurrent = 1\nmax_queue = 1\n");
    let mut server = Server::with_key(&env);
    let running = tokio::spawn(chat(&server, Some(CLIENT_KEY), &ask("running")).send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.generate_requests().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let queued = tokio::spawn(chat(&server, Some(CLIENT_KEY), &ask("queued")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let code = tokio::task::block_in_place(|| server.terminate_and_wait());
    assert_eq!(code, 0);
    let queued = queued.await.unwrap().unwrap();
    assert_eq!(queued.status(), 503);
    assert!(queued.headers().contains_key("retry-after"));
    assert_openai_error(&json_of(queued).await, "shutting_down");
    let running = running.await.unwrap().unwrap();
    assert_eq!(running.status(), 200);
    assert_eq!(json_of(running).await["choices"][0]["message"]["content"], "w x y z");
    assert_eq!(env.generate_requests().len(), 1, "the queued request never went upstream");
}

/// The load test (in CI: about 5 s in a debug build under load; its figures with `--nocapture`):
/// 1,000 concurrent streaming clients on 4 keys with different limits. Every accepted request is
/// answered exactly once, every rejected one has the right status and `Retry-After`, and the
/// per-key counts in `/metrics` equal what the clients saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_1000_streaming_clients_on_4_keys() {
    const CLIENTS: usize = 1000;
    // This process holds the clients' sockets and the fake's, serve (which inherits the limit)
    // the clients' and its upstream ones.
    if let Err(limit) = raise_open_files(4096) {
        eprintln!(
            "\n*** SKIPPED load_1000_streaming_clients_on_4_keys: the open-file limit is {limit}, and \
             1,000 clients need 4096 (raise `ulimit -n`) ***\n"
        );
        return;
    }
    let env =
        Env::new(Behavior::text("one two three four five").with_chunks(5).with_chunk_delay(Duration::from_millis(20)));
    env.add_config(
        "max_concurrent = 1024\n[serve]\nmax_concurrent = 200\nmax_queue = 300\n\
         [serve.keys.k1]\nkey_env = \"K1\"\n\
         [serve.keys.k2]\nkey_env = \"K2\"\nrpm = 100\n\
         [serve.keys.k3]\nkey_env = \"K3\"\nmax_concurrent = 20\n\
         [serve.keys.k4]\nkey_env = \"K4\"\ntpm = 400\n",
    );
    let keys = ["sk-k1-Secret", "sk-k2-Secret", "sk-k3-Secret", "sk-k4-Secret"];
    let server = Server::start(&env, &[], &[("K1", keys[0]), ("K2", keys[1]), ("K3", keys[2]), ("K4", keys[3])]);
    let http = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (http, url, key) = (http.clone(), server.url("/v1/chat/completions"), keys[i % 4]);
            tokio::spawn(async move {
                let body = json!({"model": "gemini-2.5-flash", "stream": true,
                                  "messages": [{"role": "user", "content": format!("prompt {i}")}]});
                let response = http
                    .post(url)
                    .bearer_auth(key)
                    .header("cache-control", "no-cache")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let retry = response.headers().contains_key("retry-after");
                let text = String::from_utf8_lossy(&response.bytes().await.unwrap()).into_owned();
                (i % 4, status, retry, text)
            })
        })
        .collect();
    let mut seen = [[0usize; 3]; 4]; // per key: answered, rate limited, busy
    for task in tasks {
        let (key, status, retry, text) = task.await.unwrap();
        match status {
            200 => {
                assert_eq!(text.matches("data: [DONE]").count(), 1, "{text}");
                assert_eq!(text.matches("\"finish_reason\":\"stop\"").count(), 1, "answered exactly once: {text}");
                seen[key][0] += 1;
            }
            429 => {
                assert!(retry && text.contains("rate_limit_exceeded"), "{text}");
                seen[key][1] += 1;
            }
            503 => {
                assert!(retry && text.contains("server_busy"), "{text}");
                seen[key][2] += 1;
            }
            other => panic!("status {other}: {text}"),
        }
    }
    let took = started.elapsed();
    let answered: usize = seen.iter().map(|k| k[0]).sum();
    let (cpu, peak) = cpu_and_peak_rss(server.pid());
    eprintln!(
        "load: {CLIENTS} clients in {took:?} (under load); per key [answered, 429, 503]: {seen:?}; serve CPU {cpu:?}, peak RSS {peak} kB"
    );
    assert_eq!(env.generate_requests().len(), answered, "each accepted request went upstream once");
    assert!(seen[0][1] == 0, "k1 has no key limits");
    assert!(seen[1][1] > 0 && seen[3][1] > 0, "k2's rpm and k4's tpm turned some away");
    let metrics = client().get(server.url("/metrics")).bearer_auth(keys[0]).send().await.unwrap().text().await.unwrap();
    let value = |series: String| -> usize {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0, |v| v.parse::<f64>().unwrap() as usize)
    };
    for (i, counts) in seen.iter().enumerate() {
        let client = format!("k{}", i + 1);
        let m = "model=\"gemini-2.5-flash\"";
        assert_eq!(
            value(format!("geminal_serve_requests_total{{client=\"{client}\",{m},outcome=\"complete\"}}")),
            counts[0]
        );
        assert_eq!(
            value(format!("geminal_serve_rejected_total{{client=\"{client}\",reason=\"rate_limited\"}}")),
            counts[1]
        );
        assert_eq!(value(format!("geminal_serve_rejected_total{{client=\"{client}\",reason=\"busy\"}}")), counts[2]);
    }
}

/// Raises this process's soft open-file limit to `need` (within the hard limit); the limit it
/// is stuck at when that is too low.
fn raise_open_files(need: u64) -> Result<(), u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(0);
            }
            if limit.rlim_cur < need {
                let raised = libc::rlimit { rlim_cur: (need as libc::rlim_t).min(limit.rlim_max), ..limit };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        if limit.rlim_cur < need { Err(limit.rlim_cur) } else { Ok(()) }
    }
    #[cfg(not(unix))]
    {
        let _ = need;
        Ok(())
    }
}

/// A process's CPU time so far and its peak resident set (kB), from /proc (Linux).
fn cpu_and_peak_rss(pid: u32) -> (Duration, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (Duration::from_millis(ticks * 10), peak)
}

/// What serve adds (run by hand: `cargo test --test serve overhead -- --ignored --nocapture`):
/// N = 256 concurrent streamed answers through serve against the same clients talking to the
/// fake directly; prints the wall-time ratio (goal: at most 1.05x on a quiet machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: 256 streams twice"]
async fn overhead_256_streams_through_serve_against_the_fake_directly() {
    const N: usize = 256;
    let env =
        Env::new(Behavior::paced(20, Duration::from_secs(2)).with_answer(geminal::gemini::fake::Answer::Words(200)));
    env.add_config("max_concurrent = 1024\n[serve]\nmax_concurrent = 1024\nmax_queue = 0\n");
    let server = Server::with_key(&env);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let direct = format!("{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", env.fake.base_url());
    let wall = |through_serve: bool| {
        let (http, direct, served) = (http.clone(), direct.clone(), server.url("/v1/chat/completions"));
        async move {
            let started = Instant::now();
            let tasks: Vec<_> = (0..N)
                .map(|i| {
                    let (http, direct, served) = (http.clone(), direct.clone(), served.clone());
                    tokio::spawn(async move {
                        let prompt = format!("overhead {i} {through_serve}");
                        let request = if through_serve {
                            let body = json!({"model": "gemini-2.5-flash", "stream": true,
                                              "messages": [{"role": "user", "content": prompt}]});
                            http.post(served)
                                .bearer_auth(CLIENT_KEY)
                                .header("cache-control", "no-cache")
                                .body(body.to_string())
                        } else {
                            let body = json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]});
                            http.post(direct).header("x-goog-api-key", KEY).body(body.to_string())
                        };
                        let response = request.send().await.unwrap();
                        assert_eq!(response.status(), 200);
                        response.bytes().await.unwrap().len()
                    })
                })
                .collect();
            for task in tasks {
                assert!(task.await.unwrap() > 0);
            }
            started.elapsed()
        }
    };
    let direct_wall = wall(false).await;
    let served_wall = wall(true).await;
    let (cpu, peak) = cpu_and_peak_rss(server.pid());
    eprintln!(
        "overhead: N = {N}: direct {direct_wall:?}, through serve {served_wall:?}, ratio {:.3}x (under load); serve CPU {cpu:?}, peak RSS {peak} kB",
        served_wall.as_secs_f64() / direct_wall.as_secs_f64()
    );
}

#[tokio::test]
async fn a_key_in_the_query_is_percent_decoded() {
    let env = Env::new(Behavior::text("unused"));
    let key = "sk/with+chars=1";
    let server = Server::start(&env, &[], &[("GEMINAL_SERVE_KEY", key)]);
    let url = server.url("/v1beta/models?key=sk%2Fwith%2Bchars%3D1");
    assert_eq!(client().get(url).send().await.unwrap().status(), 200);
    let wrong = server.url("/v1beta/models?key=sk%2Fwith%2Bchars%3D2");
    assert_eq!(client().get(wrong).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn an_answer_cut_at_its_limit_or_by_safety_says_so_in_its_finish_reason() {
    use geminal::gemini::fake::Fault;
    let env = Env::new(Behavior::text("alpha beta gamma delta").with_chunks(4));
    let server = Server::with_key(&env);
    env.fake.push(
        Behavior::text("alpha beta gamma delta")
            .with_chunks(4)
            .with_fault(Fault::StopAfter { after: 2, reason: "MAX_TOKENS".into() }),
    );
    let response = chat(&server, Some(CLIENT_KEY), &ask("long")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["choices"][0]["finish_reason"], "length", "{body}");
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.is_empty() && "alpha beta gamma delta".starts_with(text) && text.len() < 22, "{body}");

    env.fake.push(
        Behavior::text("alpha beta gamma delta")
            .with_chunks(4)
            .with_fault(Fault::StopAfter { after: 1, reason: "SAFETY".into() }),
    );
    let url = server.url("/v1beta/models/gemini-2.5-flash:generateContent");
    let response = client()
        .post(&url)
        .header("x-goog-api-key", CLIENT_KEY)
        .body(gemini_body("unsafe").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["candidates"][0]["finishReason"], "SAFETY");

    env.fake.push(
        Behavior::text("alpha beta gamma delta")
            .with_chunks(4)
            .with_fault(Fault::StopAfter { after: 2, reason: "MAX_TOKENS".into() }),
    );
    let mut streamed = ask("long, streamed");
    streamed["stream"] = json!(true);
    let text = chat(&server, Some(CLIENT_KEY), &streamed).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("\"finish_reason\":\"length\"") && text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[tokio::test]
async fn serve_demo_answers_from_the_simulated_gemini() {
    let env = Env::new(Behavior::text("from the fake, not wanted"));
    let server = Server::start(&env, &["--demo"], &[("GEMINAL_SERVE_KEY", CLIENT_KEY)]);
    assert!(server.start_line.contains("demo"), "{}", server.start_line);
    let mut body = ask("hello");
    body["messages"][0]["content"] = json!("hello");
    let response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = json_of(response).await["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    assert!(!text.is_empty() && !text.contains("from the fake"), "{text}");
    assert!(env.generate_requests().is_empty(), "the test's fake was not asked");
}

/// A streamed answer says in its headers whether it comes from the cache, on both APIs: a first
/// stream is a miss (and goes upstream), the same question again a hit (and does not).
#[tokio::test]
async fn a_streamed_answer_says_in_its_headers_whether_it_came_from_the_cache() {
    let env = Env::new(Behavior::text("one two three four").with_chunks(2));
    let server = Server::with_key(&env);
    let mut body = ask("count to four");
    body["stream"] = json!(true);
    for expected in ["miss", "hit"] {
        let response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-geminal-cache"], expected);
        let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
        let answer: String = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: ").and_then(|j| serde_json::from_str::<Value>(j).ok()))
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(answer, "one two three four", "{expected}: {text}");
    }
    assert_eq!(env.generate_requests().len(), 1, "the second answer came from the cache");

    let url = server.url("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    for expected in ["miss", "hit"] {
        let response = client()
            .post(&url)
            .header("x-goog-api-key", CLIENT_KEY)
            .body(json!({"contents": [{"role": "user", "parts": [{"text": "say four words"}]}]}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-geminal-cache"], expected);
        let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
        assert!(text.contains("one two") && text.contains("\"finishReason\":\"STOP\""), "{expected}: {text}");
    }
    assert_eq!(env.generate_requests().len(), 2, "one more upstream call for the native route's miss");

    // Uncached (Cache-Control: no-cache): a miss, asked upstream again.
    let response = chat(&server, Some(CLIENT_KEY), &body).header("cache-control", "no-cache").send().await.unwrap();
    assert_eq!(response.headers()["x-geminal-cache"], "miss");
    let _ = response.bytes().await.unwrap();
    assert_eq!(env.generate_requests().len(), 3);
}

/// A pool's models are listed under the pool's name on both APIs (they are model references a
/// client may send), and one of them answers through the pool.
#[tokio::test]
async fn the_model_lists_name_the_pools_models() {
    let env = Env::new(Behavior::text("from the pool"));
    let url = env.fake.base_url();
    env.add_config(&format!(
        "[providers.g1]\nkind = \"gemini\"\nbase_url = \"{url}\"\n\
         [providers.g2]\nkind = \"gemini\"\nbase_url = \"{url}\"\n[pools.near]\nmembers = [\"g1\", \"g2\"]\n"
    ));
    let server = Server::start(&env, &["--no-auth"], &[]);
    let models = json_of(client().get(server.url("/v1/models")).send().await.unwrap()).await;
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"near:gemini-2.5-flash"), "{models}");
    assert!(ids.contains(&"gemini-2.5-flash"), "{models}");
    let native = json_of(client().get(server.url("/v1beta/models")).send().await.unwrap()).await;
    let names: Vec<&str> = native["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"models/near:gemini-2.5-flash"), "{native}");
    let mut body = ask("hello pool");
    body["model"] = json!("near:gemini-2.5-flash");
    let response = chat(&server, None, &body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["choices"][0]["message"]["content"], "from the pool");
}

// ---- Client functions: `tools` offered, `tool_calls` returned, results answered. ----

const TOOL_MODEL: &str = "gemini-3-flash-preview";

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "description": "The time in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
    ])
}

fn tool_ask(prompt: &str) -> Value {
    json!({"model": TOOL_MODEL, "tools": weather_tools(), "messages": [{"role": "user", "content": prompt}]})
}

/// The body of a follow-up: the question, the assistant's calls as the client got them, and a
/// result for each (`result(name)`).
fn follow_up(prompt: &str, message: &Value, result: &dyn Fn(&str) -> String) -> Value {
    let mut messages = vec![json!({"role": "user", "content": prompt}), message.clone()];
    for call in message["tool_calls"].as_array().unwrap() {
        let name = call["function"]["name"].as_str().unwrap();
        messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result(name)}));
    }
    json!({"model": TOOL_MODEL, "tools": weather_tools(), "messages": messages})
}

/// Each `data:` event of an OpenAI stream before `[DONE]`.
fn sse_chunks(text: &str) -> Vec<Value> {
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"), "{text}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_function_call_comes_back_as_tool_calls_and_its_results_are_answered() {
    let env = Env::new(Behavior::text("unused"));
    let server = Server::with_key(&env);
    let question = r#"weather? [[call get_weather {"city": "Paris"}]]"#;
    let response = chat(&server, Some(CLIENT_KEY), &tool_ask(question)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-geminal-cache"], "miss");
    let body = json_of(response).await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    let message = &choice["message"];
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"], "Let me use get_weather. ", "the text before the call: {body}");
    let calls = message["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{body}");
    let call = &calls[0];
    let id = call["id"].as_str().unwrap().to_owned();
    let signature = call["extra_content"]["google"]["thought_signature"].as_str().unwrap().to_owned();
    assert_eq!(
        call,
        &json!({"id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            "extra_content": {"google": {"thought_signature": signature}}}),
    );
    // Upstream: the client's functions declared, none of geminal's own tools.
    let first: Value = serde_json::from_str(&env.generate_requests()[0].body).unwrap();
    let declared = first["tools"][0]["functionDeclarations"].as_array().unwrap();
    assert_eq!(declared.iter().map(|d| d["name"].as_str().unwrap()).collect::<Vec<_>>(), ["get_weather", "get_time"]);
    assert!(first.get("toolConfig").is_none(), "auto is Gemini's default: {first}");

    // The client runs it and sends the result without the signature (OpenAI clients drop
    // unknown fields): the server restores it from the history, or the fake says 400.
    let mut sent = message.clone();
    sent["tool_calls"][0].as_object_mut().unwrap().remove("extra_content");
    let again = follow_up(question, &sent, &|_| r#"{"celsius": 21}"#.to_owned());
    let response = chat(&server, Some(CLIENT_KEY), &again).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let body = json_of(response).await;
    assert_eq!(body["choices"][0]["finish_reason"], "stop", "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "The tools said: get_weather answered {\"celsius\":21}.");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none(), "{body}");
    let second: Value = serde_json::from_str(&env.generate_requests()[1].body).unwrap();
    let contents = second["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "question, call, result: {second}");
    let call_part = contents[1]["parts"].as_array().unwrap().iter().find(|p| p.get("functionCall").is_some()).unwrap();
    assert_eq!(call_part["thoughtSignature"], signature.as_str());
    assert_eq!(call_part["functionCall"]["id"], id.as_str());
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"],
        json!({"id": id, "name": "get_weather", "response": {"celsius": 21}})
    );

    // Stored once: the question, the answer that called (with its call and result), the answer.
    let db = env.history();
    let texts: Vec<(String, String, Option<i64>)> = db
        .prepare("SELECT role, text, parent_id FROM messages ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!((texts[0].0.as_str(), texts[1].0.as_str(), texts[2].0.as_str()), ("user", "model", "model"));
    assert_eq!(texts[1].1, "Let me use get_weather. ");
    assert!(texts[2].1.starts_with("The tools said"), "{texts:?}");
    let stored: (String, String, Option<String>, String, Option<String>) = db
        .query_row("SELECT call_id, name, signature, status, result FROM tool_calls", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    assert_eq!(
        stored,
        (id.clone(), "get_weather".into(), Some(signature), "ok".into(), Some(r#"{"celsius":21}"#.into()))
    );
    let client: Option<String> = db.query_row("SELECT client FROM conversations", [], |r| r.get(0)).unwrap();
    assert_eq!(client.as_deref(), Some("default"));

    // The next question on top: the stored conversation goes on (nothing stored twice), and
    // the model sees the call and its result again.
    let mut next = again.clone();
    let last_answer = body["choices"][0]["message"].clone();
    next["messages"].as_array_mut().unwrap().push(last_answer);
    next["messages"].as_array_mut().unwrap().push(json!({"role": "user", "content": "thanks"}));
    env.fake.set_default(Behavior::text("You are welcome."));
    let response = chat(&server, Some(CLIENT_KEY), &next).send().await.unwrap();
    assert_eq!(json_of(response).await["choices"][0]["message"]["content"], "You are welcome.");
    let counts: (i64, i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages), (SELECT count(*) FROM tool_calls)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(counts, (1, 5, 1));
    let third: Value = serde_json::from_str(&env.generate_requests()[2].body).unwrap();
    assert_eq!(third["contents"].as_array().unwrap().len(), 5, "question, call, result, answer, thanks: {third}");

    // `history show` shows the call as a tool cell.
    let conversation: i64 = db.query_row("SELECT id FROM conversations", [], |r| r.get(0)).unwrap();
    let shown = env.run(&["history", "show", &conversation.to_string()]);
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(shown.stdout.contains("→ tool get_weather {\"city\":\"Paris\"}"), "{}", shown.stdout);
    assert!(shown.stdout.contains("← ok: {\"celsius\":21}"), "{}", shown.stdout);
}

#[tokio::test]
async fn parallel_calls_stream_as_indexed_tool_call_deltas_then_tool_calls() {
    let env = Env::new(Behavior::text("unused"));
    let server = Server::with_key(&env);
    let question = r#"both [[call get_weather {"city": "Oslo"}]] [[call get_time {"city": "Oslo"}]]"#;
    let mut body = tool_ask(question);
    body["stream"] = json!(true);
    let response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-geminal-cache"], "miss");
    let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    let chunks = sse_chunks(&text);
    let content: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(content, "Let me use get_weather and get_time. ");
    let deltas: Vec<&Value> = chunks.iter().filter(|c| c["choices"][0]["delta"].get("tool_calls").is_some()).collect();
    assert_eq!(deltas.len(), 1, "{text}");
    let calls = deltas[0]["choices"][0]["delta"]["tool_calls"].as_array().unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "each call its own id");
    for (index, (call, name)) in calls.iter().zip(["get_weather", "get_time"]).enumerate() {
        let signature = call["extra_content"]["google"]["thought_signature"].clone();
        assert!(signature.is_string(), "{call}");
        assert_eq!(
            call,
            &json!({"index": index, "id": ids[index], "type": "function",
                "function": {"name": name, "arguments": "{\"city\":\"Oslo\"}"},
                "extra_content": {"google": {"thought_signature": signature}}}),
        );
    }
    let finishes: Vec<&Value> = chunks.iter().filter(|c| !c["choices"][0]["finish_reason"].is_null()).collect();
    assert_eq!(finishes.len(), 1, "{text}");
    assert_eq!(finishes[0]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls", "the finish comes last: {text}");

    // Both results, streamed back: the answer quotes both (the signatures came back from the
    // client this time, as Google's endpoint's clients send them).
    let message = json!({"role": "assistant", "content": content, "tool_calls": calls.iter().map(|c| {
        let mut c = c.clone();
        c.as_object_mut().unwrap().remove("index");
        c
    }).collect::<Vec<_>>()});
    let mut again = follow_up(question, &message, &|name| format!("{name} is fine"));
    again["stream"] = json!(true);
    let response = chat(&server, Some(CLIENT_KEY), &again).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    let chunks = sse_chunks(&text);
    let answer: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(
        answer,
        r#"The tools said: get_weather answered {"content":"get_weather is fine"}; get_time answered {"content":"get_time is fine"}."#
    );
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "stop");
    let db = env.history();
    let ended: Vec<(String, String)> = db
        .prepare("SELECT call_id, status FROM tool_calls ORDER BY position")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ended, [(ids[0].to_owned(), "ok".to_owned()), (ids[1].to_owned(), "ok".to_owned())]);
}

#[tokio::test]
async fn tool_results_that_answer_no_call_are_refused_with_a_sentence() {
    let env = Env::new(Behavior::text("unused"));
    let server = Server::with_key(&env);
    let question = r#"weather? [[call get_weather {"city": "Rome"}]]"#;
    let body = json_of(chat(&server, Some(CLIENT_KEY), &tool_ask(question)).send().await.unwrap()).await;
    let message = body["choices"][0]["message"].clone();
    let asked = env.generate_requests().len();

    // A result for an id no call of the assistant message has.
    let mut wrong = follow_up(question, &message, &|_| "sunny".to_owned());
    wrong["messages"][2]["tool_call_id"] = json!("call_nobody");
    let response = chat(&server, Some(CLIENT_KEY), &wrong).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let error = json_of(response).await;
    assert_openai_error(&error, "invalid_request");
    let said = error["error"]["message"].as_str().unwrap();
    assert!(said.contains("\"call_nobody\" matches no tool call"), "{said}");

    // A call left without a result.
    let mut missing = follow_up(question, &message, &|_| "sunny".to_owned());
    missing["messages"].as_array_mut().unwrap().pop();
    missing["messages"].as_array_mut().unwrap().push(json!({"role": "user", "content": "and?"}));
    let response = chat(&server, Some(CLIENT_KEY), &missing).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let said = json_of(response).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(said.contains("has no tool message with its result"), "{said}");

    // A tool message with no assistant calls before it.
    let stray = json!({"model": TOOL_MODEL, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_1", "content": "x"},
    ]});
    let response = chat(&server, Some(CLIENT_KEY), &stray).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let said = json_of(response).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(said.contains("follows no assistant message with tool calls"), "{said}");

    // Tools of another kind, and a tool_choice naming no offered function.
    let mut other = tool_ask("hi");
    other["tools"] = json!([{"type": "web_search"}]);
    let response = chat(&server, Some(CLIENT_KEY), &other).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let mut unnamed = tool_ask("hi");
    unnamed["tool_choice"] = json!({"type": "function", "function": {"name": "get_nothing"}});
    let response = chat(&server, Some(CLIENT_KEY), &unnamed).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let said = json_of(response).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(said.contains("\"get_nothing\", which is not among the tools"), "{said}");
    assert_eq!(env.generate_requests().len(), asked, "nothing refused went upstream");
}

#[tokio::test]
async fn tool_choice_becomes_geminis_function_calling_mode() {
    let env = Env::new(Behavior::text("No call."));
    let server = Server::with_key(&env);
    let cases = [
        (json!("none"), json!({"functionCallingConfig": {"mode": "NONE"}})),
        (json!("required"), json!({"functionCallingConfig": {"mode": "ANY"}})),
        (
            json!({"type": "function", "function": {"name": "get_time"}}),
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}),
        ),
    ];
    for (n, (choice, config)) in cases.into_iter().enumerate() {
        let mut body = tool_ask(&format!("question {n}"));
        body["tool_choice"] = choice;
        let response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(env.last_body()["toolConfig"], config);
    }
}

#[tokio::test]
async fn a_request_with_tools_is_never_answered_from_or_stored_in_the_cache() {
    let env = Env::new(Behavior::text("Plain words, no call."));
    let server = Server::with_key(&env);
    for _ in 0..2 {
        let response = chat(&server, Some(CLIENT_KEY), &tool_ask("say something")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-geminal-cache"], "miss");
        let body = json_of(response).await;
        assert_eq!(body["choices"][0]["message"]["content"], "Plain words, no call.");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
    }
    assert_eq!(env.generate_requests().len(), 2, "the second identical request went upstream too");
    // Nor did it fill the cache for a request without tools.
    let mut plain = tool_ask("say something");
    plain.as_object_mut().unwrap().remove("tools");
    let response = chat(&server, Some(CLIENT_KEY), &plain).send().await.unwrap();
    assert_eq!(response.headers()["x-geminal-cache"], "miss");
    let entries: i64 = env.history().query_row("SELECT count(*) FROM answer_cache", [], |r| r.get(0)).unwrap();
    assert_eq!(entries, 1, "only the request without tools was cached");
}

#[tokio::test]
async fn calls_the_model_gave_no_id_get_fresh_ids_never_given_twice() {
    let env = Env::new(Behavior::text("unused"));
    let server = Server::with_key(&env);
    let question = r#"twice [[call get_time {"city": "Lima"}]] [[call get_time {"city": "Quito"}]]"#;
    let mut ids = Vec::new();
    let mut first_message = Value::Null;
    for _ in 0..2 {
        let mut body = tool_ask(question);
        body["model"] = json!("gemini-2.5-flash");
        let body = json_of(chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap()).await;
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
        let message = body["choices"][0]["message"].clone();
        ids.extend(message["tool_calls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if first_message.is_null() {
            first_message = message;
        }
    }
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (4, 4), "{ids:?}");
    // Gemini 2.5 gave no ids: none goes back to it, and the results still answer.
    let mut again = follow_up(question, &first_message, &|_| "noon".to_owned());
    again["model"] = json!("gemini-2.5-flash");
    let response = chat(&server, Some(CLIENT_KEY), &again).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert!(body["choices"][0]["message"]["content"].as_str().unwrap().starts_with("The tools said"), "{body}");
    let sent = env.last_body();
    let call = &sent["contents"][1]["parts"][1]["functionCall"];
    assert_eq!(call["name"], "get_time", "{sent}");
    assert!(call.get("id").is_none(), "{sent}");
}

fn gemini_tools_body(contents: Value) -> Value {
    json!({
        "contents": contents,
        "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "The weather in a city.",
            "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}],
    })
}

async fn generate(server: &Server, model: &str, stream: bool, body: &Value) -> reqwest::Response {
    let method = if stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
    client()
        .post(server.url(&format!("/v1beta/models/{model}:{method}")))
        .header("x-goog-api-key", CLIENT_KEY)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_gemini_native_route_passes_function_calls_and_responses_through() {
    let env = Env::new(Behavior::text("unused"));
    let server = Server::with_key(&env);
    let question = json!({"role": "user", "parts": [{"text": r#"weather? [[call get_weather {"city": "Bern"}]]"#}]});
    let response = generate(&server, TOOL_MODEL, false, &gemini_tools_body(json!([question]))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-geminal-cache"], "miss");
    let body = json_of(response).await;
    let content = body["candidates"][0]["content"].clone();
    assert_eq!(content["role"], "model");
    let parts = content["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{body}");
    assert_eq!(parts[0], json!({"text": "Let me use get_weather. "}));
    let id = parts[1]["functionCall"]["id"].as_str().unwrap().to_owned();
    let signature = parts[1]["thoughtSignature"].as_str().unwrap().to_owned();
    assert_eq!(
        parts[1],
        json!({"functionCall": {"id": id, "name": "get_weather", "args": {"city": "Bern"}}, "thoughtSignature": signature})
    );
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    assert_eq!(env.last_body()["tools"][0]["functionDeclarations"][0]["name"], "get_weather");

    // The follow-up, streamed, with the call sent back without its signature: restored from the
    // history (else the fake's 400).
    let mut call = content.clone();
    call["parts"][1].as_object_mut().unwrap().remove("thoughtSignature");
    let result = json!({"role": "user", "parts": [{"functionResponse": {"id": id, "name": "get_weather", "response": {"celsius": 9}}}]});
    let response = generate(&server, TOOL_MODEL, true, &gemini_tools_body(json!([question, call, result]))).await;
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    let answer: String = text
        .split("\r\n\r\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(answer, r#"The tools said: get_weather answered {"celsius":9}."#, "{text}");
    let sent = env.last_body();
    assert_eq!(sent["contents"][1]["parts"][1]["thoughtSignature"], signature.as_str());
    assert_eq!(sent["contents"][2]["parts"][0]["functionResponse"]["id"], id.as_str());
    let stored: (i64, String, String) = env
        .history()
        .query_row("SELECT (SELECT count(*) FROM messages), status, result FROM tool_calls", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(stored, (3, "ok".into(), r#"{"celsius":9}"#.into()));

    // Streamed, a call comes in the last chunk with the finish.
    let other = json!({"role": "user", "parts": [{"text": r#"again [[call get_weather {"city": "Chur"}]]"#}]});
    let response = generate(&server, TOOL_MODEL, true, &gemini_tools_body(json!([other]))).await;
    let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    let last: Value =
        serde_json::from_str(text.split("\r\n\r\n").filter_map(|e| e.strip_prefix("data: ")).last().unwrap()).unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP", "{text}");
    assert_eq!(last["candidates"][0]["content"]["parts"][0]["functionCall"]["args"], json!({"city": "Chur"}), "{text}");

    // A response that answers no call of the content before it is a 400 in Google's shape.
    let stray =
        json!({"role": "user", "parts": [{"functionResponse": {"id": "nope", "name": "get_weather", "response": {}}}]});
    let response = generate(&server, TOOL_MODEL, false, &gemini_tools_body(json!([question, content, stray]))).await;
    assert_eq!(response.status(), 400);
    let error = json_of(response).await;
    assert_eq!(error["error"]["status"], "INVALID_ARGUMENT", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("matches no function call"), "{error}");
}

#[tokio::test]
async fn a_tool_round_this_server_never_saw_is_saved_once_with_the_signature_the_client_kept() {
    let env = Env::new(Behavior::text("unused"));
    let server = Server::with_key(&env);
    let question = r#"from elsewhere [[call get_time {"city": "Kyiv"}]]"#;
    let call = json!({"id": "call_elsewhere", "type": "function",
        "function": {"name": "get_time", "arguments": "{\"city\":\"Kyiv\"}"},
        "extra_content": {"google": {"thought_signature": "a2VwdA=="}}});
    let message = json!({"role": "assistant", "content": null, "tool_calls": [call]});
    let body = follow_up(question, &message, &|_| "{\"hour\": 9}".to_owned());
    let response = chat(&server, Some(CLIENT_KEY), &body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let sent = env.last_body();
    assert_eq!(sent["contents"][1]["parts"][0]["thoughtSignature"], "a2VwdA==", "{sent}");
    assert_eq!(sent["contents"][1]["parts"][0]["functionCall"]["id"], "call_elsewhere", "{sent}");
    assert_eq!(sent["contents"][2]["parts"][0]["functionResponse"]["response"], json!({"hour": 9}));
    // Sent again with the answer and a new question: found, not stored a second time.
    let answer = json_of(response).await["choices"][0]["message"].clone();
    let mut next = body.clone();
    next["messages"].as_array_mut().unwrap().extend([answer, json!({"role": "user", "content": "thanks"})]);
    env.fake.set_default(Behavior::text("Any time."));
    let response = chat(&server, Some(CLIENT_KEY), &next).send().await.unwrap();
    assert_eq!(json_of(response).await["choices"][0]["message"]["content"], "Any time.");
    let db = env.history();
    let counts: (i64, i64, i64, String) = db
        .query_row(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
                (SELECT count(*) FROM tool_calls), (SELECT status FROM tool_calls)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(counts, (1, 5, 1, "ok".to_owned()));
}
