//! Providers against their fakes: the OpenAI-compatible kind streams, retries, restarts and
//! classifies its errors like Gemini; fallback chains cross providers; a pool skips a dead
//! member; what a provider cannot take is refused in one sentence.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{client_for, fake, quick_timeouts};
use geminal::engine::{Call, CallEvent, CallHandle, Engine, EngineConfig, FallbackReason, RetryPolicy};
use geminal::gemini::fake::{Behavior, Fault as GeminiFault};
use geminal::llm::{ApiError, Author, FinishReason, Message, Params, Part, Request, StopReason, Thinking, ToolSpec};
use geminal::openai::fake::{FakeOpenAi, Fault, Options, Reply};
use geminal::openai::{OpenAiClient, OpenAiOptions};
use geminal::provider::{Pool, Provider, ProviderSet};
use secrecy::SecretString;

const OPENAI_KEY: &str = "sk-test-Secret-42";

fn openai(fake: &FakeOpenAi, name: &str, key: Option<&str>) -> Arc<dyn Provider> {
    Arc::new(
        OpenAiClient::new(OpenAiOptions {
            name: name.into(),
            base_url: fake.base_url(),
            api_key: key.map(|k| SecretString::from(k.to_owned())),
            api_key_env: key.map(|_| "OPENAI_API_KEY".to_owned()),
            headers: vec![("x-title".into(), "geminal".into())],
            models: Vec::new(),
            timeouts: quick_timeouts(),
        })
        .unwrap(),
    )
}

fn request(prompt: &str) -> Request {
    geminal::chat::Turn::new("m", prompt).request()
}

fn media(mime: &str, bytes: &'static [u8]) -> Part {
    Part::Media { mime: mime.into(), bytes: bytes::Bytes::from_static(bytes) }
}

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy { max_attempts: attempts, initial_backoff: Duration::from_millis(50), ..RetryPolicy::default() }
}

async fn finish(handle: CallHandle) -> (String, Vec<CallEvent>) {
    handle.collect().await
}

async fn engine_with_openai(
    fake: &FakeOpenAi,
    key: Option<&str>,
    retry: RetryPolicy,
) -> (Engine, geminal::gemini::fake::FakeGemini) {
    let gemini = fake_gemini().await;
    let set = ProviderSet::new(client_for(&gemini, quick_timeouts())).with("oai", openai(fake, "oai", key));
    (Engine::with_providers(set, EngineConfig { retry, ..EngineConfig::default() }), gemini)
}

async fn fake_gemini() -> geminal::gemini::fake::FakeGemini {
    fake().await
}

#[tokio::test]
async fn an_openai_answer_streams_with_its_usage_and_the_body_says_what_was_asked() {
    let fake = FakeOpenAi::start(Options::default(), Reply::text("Hello there, friend.")).await.unwrap();
    let (engine, gemini) = engine_with_openai(&fake, Some(OPENAI_KEY), fast_retries(1)).await;
    let mut req = geminal::chat::Turn::new("m", "second question").request();
    req.system = Some("be brief".into());
    req.messages.insert(0, Message::text(Author::User, "first question"));
    req.messages.insert(1, Message::text(Author::Assistant, "first answer"));
    req.params = Params {
        temperature: Some(0.5),
        max_tokens: Some(64),
        seed: Some(7),
        stop: vec!["END".into()],
        thinking: Some(Thinking::High),
        ..Default::default()
    };
    let (text, events) = finish(engine.submit(Call { model: "oai:qwen3:8b".into(), request: req })).await;
    assert_eq!(text, "Hello there, friend.");
    assert!(
        matches!(events.last(), Some(CallEvent::Finished { finish: FinishReason::Stop, model, .. }) if model == "oai:qwen3:8b")
    );
    let usage = events.iter().find_map(|e| match e {
        CallEvent::Usage(u) => Some(*u),
        _ => None,
    });
    assert_eq!(usage.map(|u| (u.prompt_token_count, u.candidates_token_count)), Some((10, 3)));
    let sent = fake.chat_requests();
    assert_eq!(sent.len(), 1);
    let body = sent[0].json();
    assert_eq!(body["model"], "qwen3:8b", "the provider prefix is ours, not the server's");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    let roles: Vec<&str> = body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(body["messages"][3]["content"], "second question");
    assert_eq!((body["temperature"].as_f64(), body["max_tokens"].as_u64()), (Some(0.5), Some(64)));
    assert_eq!((body["seed"].as_i64(), body["stop"][0].as_str()), (Some(7), Some("END")));
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(sent[0].header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()));
    assert_eq!(sent[0].header("x-title"), Some("geminal"));
    assert!(gemini.requests().is_empty(), "Gemini saw nothing");
}

#[tokio::test]
async fn without_a_key_no_authorization_header_is_sent() {
    let fake = FakeOpenAi::start(Options::default(), Reply::text("ok")).await.unwrap();
    let (engine, _gemini) = engine_with_openai(&fake, None, fast_retries(1)).await;
    let (text, _) = finish(engine.submit(Call { model: "oai:llama3".into(), request: request("hi") })).await;
    assert_eq!(text, "ok");
    assert_eq!(fake.chat_requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn a_429_with_retry_after_waits_the_servers_delay_then_answers() {
    let fake = FakeOpenAi::start(Options::default(), Reply::text("after the wait")).await.unwrap();
    fake.push(Reply::fault(Fault::rate_limited(1)));
    let (engine, _gemini) = engine_with_openai(&fake, None, fast_retries(3)).await;
    let (text, events) = finish(engine.submit(Call { model: "oai:m".into(), request: request("hi") })).await;
    assert_eq!(text, "after the wait");
    let retry = events.iter().find_map(|e| match e {
        CallEvent::Retrying { after, reason, .. } => Some((*after, reason.clone())),
        _ => None,
    });
    let (after, reason) = retry.expect("a retry");
    assert!(
        matches!(reason.unwrapped(), ApiError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(1)),
        "{reason:?}"
    );
    assert!(after >= Duration::from_secs(1), "the server's delay is honoured: {after:?}");
}

#[tokio::test]
async fn a_cut_stream_is_restarted_and_the_new_text_replaces_the_partial() {
    let fake = FakeOpenAi::start(Options::default(), Reply::text("the whole answer, again")).await.unwrap();
    fake.push(Reply { chunks: 6, fault: Some(Fault::CutAfter(2)), ..Reply::text("a partial answer that is cut") });
    let (engine, _gemini) = engine_with_openai(&fake, None, fast_retries(3)).await;
    let (text, events) = finish(engine.submit(Call { model: "oai:m".into(), request: request("hi") })).await;
    assert_eq!(text, "the whole answer, again");
    assert!(events.iter().any(|e| matches!(e, CallEvent::Restarted { .. })), "{events:?}");
    assert!(events.iter().any(
        |e| matches!(e, CallEvent::Retrying { reason, .. } if matches!(reason.unwrapped(), ApiError::Truncated { .. }))
    ));
}

#[tokio::test]
async fn length_is_the_output_token_limit_and_bad_keys_and_models_are_their_own_kinds() {
    let fake = FakeOpenAi::start(Options::default(), Reply::text("ok")).await.unwrap();
    fake.push(Reply { finish_reason: "length".into(), ..Reply::text("cut at the limit") });
    let (engine, _gemini) = engine_with_openai(&fake, None, fast_retries(1)).await;
    let (_, events) = finish(engine.submit(Call { model: "oai:m".into(), request: request("hi") })).await;
    assert!(matches!(
        events.last(),
        Some(CallEvent::Finished { finish: FinishReason::Stopped(StopReason::MaxTokens), .. })
    ));

    let strict =
        FakeOpenAi::start(Options { api_key: Some(OPENAI_KEY.into()), models: vec!["known".into()] }, Reply::default())
            .await
            .unwrap();
    let (engine, _gemini) = engine_with_openai(&strict, Some("sk-wrong"), fast_retries(3)).await;
    let (_, events) = finish(engine.submit(Call { model: "oai:known".into(), request: request("hi") })).await;
    let Some(CallEvent::Failed(error)) = events.last() else { panic!("{events:?}") };
    assert!(matches!(error, ApiError::ProviderKeyRejected { .. }), "{error:?}");
    let sentence = error.to_string();
    assert!(
        sentence.contains("oai") && sentence.contains("OPENAI_API_KEY") && !sentence.contains("sk-wrong"),
        "{sentence}"
    );
    assert_eq!(strict.chat_requests().len(), 1, "a bad key is not retried");

    let (engine, _gemini) = engine_with_openai(&strict, Some(OPENAI_KEY), fast_retries(3)).await;
    let (_, events) = finish(engine.submit(Call { model: "oai:unknown".into(), request: request("hi") })).await;
    assert!(
        matches!(events.last(), Some(CallEvent::Failed(e))
            if matches!(e.unwrapped(), ApiError::ModelNotFound { model } if model == "oai:unknown")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_spent_gemini_quota_moves_to_the_next_provider_of_the_chain_and_says_so_once() {
    let gemini = fake().await;
    gemini.set_default(Behavior::fault(GeminiFault::daily_quota()));
    let oai = FakeOpenAi::start(Options::default(), Reply::text("from the other provider")).await.unwrap();
    let set = ProviderSet::new(client_for(&gemini, quick_timeouts())).with("oai", openai(&oai, "oai", None));
    let config = EngineConfig {
        retry: fast_retries(3),
        fallback: vec!["gemini-flash-latest".into(), "oai:gpt-4.1-mini".into()],
        ..EngineConfig::default()
    };
    let engine = Engine::with_providers(set, config);
    let (text, events) = finish(engine.submit(Call { model: "gemini-2.5-flash".into(), request: request("q1") })).await;
    assert_eq!(text, "from the other provider");
    let moves: Vec<(String, String, bool)> = events
        .iter()
        .filter_map(|e| match e {
            CallEvent::FallbackModel { from, to, first, reason: FallbackReason::QuotaSpent } => {
                Some((from.clone(), to.clone(), *first))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("gemini-2.5-flash".to_owned(), "gemini-flash-latest".to_owned(), true),
            ("gemini-flash-latest".to_owned(), "oai:gpt-4.1-mini".to_owned(), true)
        ]
    );
    let (text, events) = finish(engine.submit(Call { model: "gemini-2.5-flash".into(), request: request("q2") })).await;
    assert_eq!(text, "from the other provider");
    assert!(!events.iter().any(|e| matches!(e, CallEvent::FallbackModel { .. })), "later jobs go straight there");
    assert_eq!(gemini.generate_count(), 2, "each spent Gemini model was asked once");
    assert_eq!(oai.chat_requests().iter().map(|r| r.model().unwrap()).collect::<Vec<_>>(), ["gpt-4.1-mini"; 2]);
}

#[tokio::test]
async fn a_provider_down_after_its_retries_hands_the_answer_to_the_next_one() {
    let oai = FakeOpenAi::start(Options::default(), Reply::fault(Fault::http(503))).await.unwrap();
    let gemini = fake().await;
    gemini.set_default(Behavior::text("Gemini answers"));
    let set = ProviderSet::new(client_for(&gemini, quick_timeouts())).with("oai", openai(&oai, "oai", None));
    let config =
        EngineConfig { retry: fast_retries(2), fallback: vec!["gemini-2.5-flash".into()], ..EngineConfig::default() };
    let engine = Engine::with_providers(set, config);
    let (text, events) = finish(engine.submit(Call { model: "oai:m".into(), request: request("q") })).await;
    assert_eq!(text, "Gemini answers");
    assert_eq!(oai.chat_requests().len(), 2, "the provider got its retries first");
    assert!(events.iter().any(|e| matches!(
        e,
        CallEvent::FallbackModel { reason: FallbackReason::ProviderDown(e), .. }
            if matches!(e.unwrapped(), ApiError::Server { status: 503, .. })
    )));
}

#[tokio::test]
async fn a_pool_with_a_dead_member_answers_everything_from_the_live_one() {
    // A port that refuses connections: bound, then closed.
    let dead_url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    };
    let live = FakeOpenAi::start(Options::default(), Reply::text("alive")).await.unwrap();
    let dead: Arc<dyn Provider> = Arc::new(
        OpenAiClient::new(OpenAiOptions {
            name: "dead".into(),
            base_url: dead_url,
            api_key: None,
            api_key_env: None,
            headers: Vec::new(),
            models: Vec::new(),
            timeouts: quick_timeouts(),
        })
        .unwrap(),
    );
    let pool = Arc::new(Pool::new(
        vec![("dead".into(), dead), ("live".into(), openai(&live, "live", None))],
        1,
        Duration::from_secs(60),
    ));
    let gemini = fake().await;
    let set = ProviderSet::new(client_for(&gemini, quick_timeouts())).with("local", pool.clone());
    let engine = Engine::with_providers(set, EngineConfig { retry: fast_retries(3), ..EngineConfig::default() });
    let handles: Vec<_> =
        (0..8).map(|i| engine.submit(Call { model: "local:m".into(), request: request(&format!("q{i}")) })).collect();
    let results = futures::future::join_all(handles.into_iter().map(finish)).await;
    for (text, events) in &results {
        assert_eq!(text, "alive", "{events:?}");
    }
    assert_eq!(live.chat_requests().len(), 8);
    assert_eq!(pool.unhealthy(), ["dead"], "the dead member's breaker is open");
    let (text, events) = finish(engine.submit(Call { model: "local:m".into(), request: request("later") })).await;
    assert_eq!(text, "alive");
    assert!(!events.iter().any(|e| matches!(e, CallEvent::Retrying { .. })), "an open breaker is skipped: {events:?}");
}

#[tokio::test]
async fn what_an_openai_provider_cannot_take_is_one_sentence_and_nothing_is_sent() {
    let fake = FakeOpenAi::start(Options::default(), Reply::text("ok")).await.unwrap();
    let (engine, _gemini) = engine_with_openai(&fake, None, fast_retries(3)).await;
    let mut search = request("news today?");
    search.tools.push(ToolSpec::GoogleSearch);
    let (_, events) = finish(engine.submit(Call { model: "oai:m".into(), request: search })).await;
    let Some(CallEvent::Failed(error)) = events.last() else { panic!("{events:?}") };
    let sentence = error.to_string();
    assert!(sentence.starts_with("Google Search grounding works only with Gemini models, and oai:m"), "{sentence}");
    assert!(sentence.ends_with('.') && !sentence.contains('{'), "{sentence}");

    let mut pdf = request("summarize");
    pdf.messages[0].parts.insert(0, media("application/pdf", b"%PDF-1.4"));
    let (_, events) = finish(engine.submit(Call { model: "oai:m".into(), request: pdf })).await;
    let Some(CallEvent::Failed(error)) = events.last() else { panic!("{events:?}") };
    assert!(error.to_string().contains("oai:m cannot take PDF files"), "{error}");
    assert!(fake.chat_requests().is_empty(), "nothing the provider would refuse was sent");

    let mut image = request("what is this?");
    image.messages[0].parts.insert(0, media("image/png", b"\x89PNG"));
    image.messages[0].parts.insert(0, media("text/plain", b"notes.txt says hi"));
    let (text, _) = finish(engine.submit(Call { model: "oai:m".into(), request: image })).await;
    assert_eq!(text, "ok");
    let body = fake.chat_requests()[0].json();
    let parts = body["messages"][0]["content"].as_array().unwrap().clone();
    assert_eq!(parts[0], serde_json::json!({"type": "text", "text": "notes.txt says hi"}));
    assert_eq!(parts[1]["type"], "image_url");
    assert!(parts[1]["image_url"]["url"].as_str().unwrap().starts_with("data:image/png;base64,"));
    assert_eq!(parts[2], serde_json::json!({"type": "text", "text": "what is this?"}));
}

#[tokio::test]
async fn an_openai_answer_that_ends_in_tool_calls_is_not_an_error() {
    use geminal::openai::fake::FakeToolCall;
    let calls = vec![
        FakeToolCall {
            id: "call_a".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris","unit":"C"}"#.into(),
        },
        FakeToolCall { id: "call_b".into(), name: "now".into(), arguments: String::new() },
    ];
    let fake = FakeOpenAi::start(Options::default(), Reply::tool_calls("Let me check.", calls)).await.unwrap();
    let (engine, _gemini) = engine_with_openai(&fake, None, fast_retries(1)).await;
    let (text, events) = finish(engine.submit(Call { model: "oai:m".into(), request: request("weather?") })).await;
    assert_eq!(text, "Let me check.");
    let called: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            CallEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(called.len(), 2, "{events:?}");
    assert_eq!((called[0].id.as_deref(), called[0].name.as_str()), (Some("call_a"), "get_weather"));
    assert_eq!(called[0].arguments, serde_json::json!({"city": "Paris", "unit": "C"}), "fragments joined by index");
    assert_eq!((called[1].id.as_deref(), &called[1].arguments), (Some("call_b"), &serde_json::json!({})));
    assert!(!events.iter().any(|e| matches!(e, CallEvent::Failed(_))), "{events:?}");
    assert!(
        matches!(events.last(), Some(CallEvent::Finished { finish: FinishReason::ToolCalls, .. })),
        "{:?}",
        events.last()
    );
}
