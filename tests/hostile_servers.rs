//! Servers that work against the client: one that echoes the secrets it was sent back in its
//! error text at every offset (no part of a key or a provider's header value may reach stderr,
//! the history's `messages.error` or a batch line's `error.message`).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::process::{Env, KEY, finish};
use geminal::gemini::fake::{Behavior, Fault};
use geminal::openai::fake::{FakeOpenAi, Fault as OpenAiFault, Options, Reply};

/// Offsets at which a secret is echoed: from the start to past the 200-character cut.
const OFFSETS: std::ops::RangeInclusive<usize> = 0..=230;

/// Every piece of `secret` six characters long: none may show.
fn assert_no_piece_of(secret: &str, text: &str, what: &str) {
    let chars: Vec<char> = secret.chars().collect();
    for window in chars.windows(6) {
        let piece: String = window.iter().collect();
        assert!(!text.contains(&piece), "{what} shows '{piece}' of a secret: {text}");
    }
}

/// The offset a prompt "offset N" asks for.
fn offset_of(prompt: &str) -> Option<usize> {
    prompt.trim().strip_prefix("offset ")?.trim().parse().ok()
}

fn echoing(secret: &str, offset: usize) -> String {
    format!("{}{secret} was not accepted for this request, please check it", "x".repeat(offset))
}

fn gemini_error(message: &str) -> Behavior {
    let body = serde_json::json!({ "error": { "code": 400, "message": message, "status": "INVALID_ARGUMENT" } });
    Behavior::fault(Fault::status(400, format!("{}\n", serde_json::to_string_pretty(&body).unwrap())))
}

fn batch_input(env: &Env) -> String {
    let path = env.home.path().join("prompts.jsonl");
    let lines: Vec<String> = OFFSETS
        .map(|n| serde_json::json!({ "id": n.to_string(), "prompt": format!("offset {n}") }).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.display().to_string()
}

/// Every saved error: its detail (as data since schema 17), or a sentence.
fn errors_in_history(env: &Env) -> Vec<String> {
    env.history()
        .prepare(
            "SELECT coalesce(error, error_kind || ' ' || coalesce(error_detail, '')) FROM messages
             WHERE error IS NOT NULL OR error_kind IS NOT NULL",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Checks every output of a batch whose every line failed with an echo of `secrets`.
fn assert_batch_hides(env: &Env, run: &common::process::Run, secrets: &[&str]) {
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), OFFSETS.count(), "{run:?}");
    let errors = errors_in_history(env);
    assert_eq!(errors.len(), OFFSETS.count(), "each failed answer keeps its error");
    for secret in secrets {
        assert_no_piece_of(secret, &run.stderr, "stderr");
        for line in &lines {
            let message = line["error"]["message"].as_str().expect("an error message");
            assert!(message.contains("[REDACT") || message.contains('…'), "{message}");
            assert_no_piece_of(secret, message, "a batch line's error.message");
        }
        for error in &errors {
            assert_no_piece_of(secret, error, "messages.error");
        }
    }
}

#[test]
fn a_server_echoing_the_gemini_key_at_any_offset_never_shows_a_part_of_it() {
    let env = Env::new(Behavior::text("unused"));
    env.fake.set_router(|req| offset_of(&req.prompt()).map(|n| gemini_error(&echoing(KEY, n))));
    // ask: stderr and the saved message.
    for n in [0, 150, 163, 171, 175, 199, 230] {
        let run = env.run(&["ask", &format!("offset {n}")]);
        assert_eq!(run.code, 5, "{run:?}");
        assert!(run.stderr.contains("[REDACT") || run.stderr.contains('…'), "{run:?}");
        assert_no_piece_of(KEY, &run.stderr, "stderr");
    }
    for error in errors_in_history(&env) {
        assert_no_piece_of(KEY, &error, "messages.error");
    }
    // batch: every offset, every line's JSON and every saved error.
    let env = Env::new(Behavior::text("unused"));
    env.fake.set_router(|req| offset_of(&req.prompt()).map(|n| gemini_error(&echoing(KEY, n))));
    let run = env.run(&["batch", &batch_input(&env)]);
    assert_batch_hides(&env, &run, &[KEY]);
}

#[test]
fn a_provider_echoing_its_key_and_header_values_at_any_offset_never_shows_a_part_of_them() {
    const PROVIDER_KEY: &str = "sk-prv-0123456789abcdefXYZ";
    const HEADER_VALUE: &str = "hdr-9f8e7d6c5b4a3210";
    let local = FakeOpenAi::start_in_thread(Options::default(), Reply::text("unused")).unwrap();
    local.set_router(|req| {
        let n = offset_of(&req.prompt())?;
        // The key and the header value each stand at the offset, in turn.
        let message = if n % 2 == 0 {
            echoing(&format!("{PROVIDER_KEY} {HEADER_VALUE}"), n)
        } else {
            echoing(&format!("{HEADER_VALUE} {PROVIDER_KEY}"), n)
        };
        let body = geminal::openai::fake::error_body(&message, "invalid_request_error", "bad_request");
        Some(Reply::fault(OpenAiFault::Status { status: 400, body, headers: Vec::new() }))
    });
    let env = Env::new(Behavior::text("unused"));
    env.add_config(&format!(
        "\n[providers.local]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"LOCAL_KEY\"\nheaders = {{ x-proxy-token = \"{HEADER_VALUE}\" }}\n",
        local.base_url()
    ));
    // A config holding a header is a config holding a secret: it must be private.
    let config = env.config_dir().join("config.toml");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = finish(env.command(&["ask", "-m", "local:m", "offset 1"]).env("LOCAL_KEY", PROVIDER_KEY));
    assert!(open.stderr.contains("chmod 600"), "{open:?}");
    assert!(local.chat_requests().is_empty());
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();

    let run = finish(env.command(&["ask", "-m", "local:m", "offset 180"]).env("LOCAL_KEY", PROVIDER_KEY));
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(local.chat_requests()[0].header("x-proxy-token"), Some(HEADER_VALUE), "the header was sent");
    for secret in [PROVIDER_KEY, HEADER_VALUE] {
        assert_no_piece_of(secret, &run.stderr, "stderr");
    }
    let input = batch_input(&env);
    let run = finish(env.command(&["batch", "-m", "local:m", &input]).env("LOCAL_KEY", PROVIDER_KEY));
    let env_errors = errors_in_history(&env).len();
    assert!(env_errors > OFFSETS.count(), "the ask's error is kept too");
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), OFFSETS.count(), "{run:?}");
    for secret in [PROVIDER_KEY, HEADER_VALUE] {
        assert_no_piece_of(secret, &run.stderr, "stderr");
        for line in &lines {
            assert_no_piece_of(secret, line["error"]["message"].as_str().unwrap(), "a batch line's error.message");
        }
        for error in errors_in_history(&env) {
            assert_no_piece_of(secret, &error, "messages.error");
        }
    }
}

#[test]
fn a_slow_answer_in_a_batch_stops_at_the_configured_total_deadline() {
    // Each event comes well within the idle limit, but the whole answer would take 4 s.
    let slow = Behavior::text("one two three four five six seven eight nine ten eleven twelve thirteen fourteen")
        .with_chunks(20)
        .with_chunk_delay(std::time::Duration::from_millis(200));
    let env = Env::new(slow);
    env.add_config("timeout_secs = 1\n");
    let input = env.home.path().join("prompts.txt");
    std::fs::write(&input, "first\nsecond\n").unwrap();
    let started = std::time::Instant::now();
    let run = env.run(&["batch", input.to_str().unwrap()]);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    for line in &lines {
        assert_eq!(line["error"]["kind"], "timeout", "{line}");
        assert!(line["error"]["message"].as_str().unwrap().contains("took longer than 1s"), "{line}");
    }
}
