//! The wire client against the fake Gemini: every fault the fake can play reaches the caller as
//! the right `ApiError`, text survives any split of the stream, and the key stays secret.

mod common;

use std::time::{Duration, Instant};

use common::{KEY, ask, client_for, fake, quick_timeouts};
use geminal::gemini::fake::{Answer, Behavior, FakeGemini, FakeOptions, Fault, LineEnding, Split, StreamEnd};
use geminal::gemini::{
    ApiError, Client, ClientOptions, ErrorKind, FinishReason, StopReason, StreamEvent, TimeoutPhase, Timeouts,
};
use secrecy::SecretString;

const MODEL: &str = "gemini-2.5-flash";

fn assert_key_absent(e: &ApiError) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(KEY), "key leaked in {text}");
    }
    let shown = e.to_string();
    assert!(!shown.contains('\n') && !shown.contains('{') && shown.ends_with('.'), "not one clean sentence: {shown}");
}

/// A turn as the Gemini wire carries it.
fn wire(turn: &geminal::chat::Turn) -> geminal::gemini::GenerateContentRequest {
    geminal::gemini::convert::request(&turn.model, &turn.request()).unwrap()
}

#[tokio::test]
async fn text_is_identical_under_every_split_and_line_ending() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    let answer = "Héllo wörld — 世界 🦀 crab.\r\nLine two\n\tindented";
    for split in [Split::Whole, Split::Bytes(5), Split::Bytes(64), Split::Tricky] {
        for ending in [LineEnding::Crlf, LineEnding::Lf] {
            fake.push(Behavior::text(answer).with_chunks(6).with_split(split).with_line_ending(ending));
            let got = ask(&client, MODEL, "hi").await;
            assert_eq!(got.error, None, "{split:?} {ending:?}");
            assert_eq!(got.text, answer, "{split:?} {ending:?}");
            assert_eq!(got.events.last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
        }
    }
}

#[tokio::test]
async fn thoughts_stay_out_of_the_answer_and_usage_is_the_last_total() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    fake.push(Behavior::text("The answer.").with_thoughts(2).with_chunks(2));
    let mut turn = geminal::chat::Turn::new(MODEL, "think first");
    turn.params.thoughts = true;
    let got = common::collect(client.stream_generate(MODEL, &wire(&turn)).await.unwrap()).await;
    assert_eq!(got.error, None);
    assert_eq!(got.text, "The answer.");
    assert_eq!(got.thoughts.len(), 2);
    assert!(got.thoughts.iter().all(|t| t.contains("Thinking step")));
    let usage = got.usage.expect("usage");
    assert!(usage.thoughts_token_count > 0 && usage.candidates_token_count > 0);
    assert_eq!(
        usage.total_token_count,
        usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    );
    // Not asked for, the thoughts stay on the server's side, but they are billed all the same.
    fake.push(Behavior::text("The answer.").with_thoughts(2).with_chunks(2));
    let got = ask(&client, MODEL, "think first").await;
    assert_eq!((got.text.as_str(), got.thoughts.len()), ("The answer.", 0));
    assert!(got.usage.expect("usage").thoughts_token_count > 0);
}

#[tokio::test]
async fn the_fake_refuses_a_thinking_config_the_model_cannot_take() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    let ask_with = |model: &'static str, thinking: geminal::gemini::ThinkingConfig| {
        let mut request = wire(&geminal::chat::Turn::new(model, "hi"));
        request.generation_config =
            Some(geminal::gemini::GenerationConfig { thinking_config: Some(thinking), ..Default::default() });
        let client = client.clone();
        async move { client.stream_generate(model, &request).await.map(|_| ()) }
    };
    let both = geminal::gemini::ThinkingConfig {
        thinking_budget: Some(1024),
        thinking_level: Some(geminal::gemini::ThinkingLevel::Low),
        ..Default::default()
    };
    let off = geminal::gemini::ThinkingConfig { thinking_budget: Some(0), ..Default::default() };
    for (model, thinking, needle) in [
        ("gemini-3-flash-preview", both, "only set one"),
        ("gemini-2.5-pro", off.clone(), "only works in thinking mode"),
        (
            "gemini-2.5-flash",
            geminal::gemini::ThinkingConfig { thinking_budget: Some(99_999), ..Default::default() },
            "between 0 and 24576",
        ),
    ] {
        match ask_with(model, thinking).await {
            Err(ApiError::BadRequest { detail }) => assert!(detail.contains(needle), "{model}: {detail}"),
            other => panic!("{model}: {other:?}"),
        }
    }
    assert_eq!(ask_with("gemini-2.5-flash", off).await, Ok(()), "2.5 Flash may stop thinking");
}

#[tokio::test]
async fn every_status_fault_becomes_its_error_kind() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    let cases: Vec<(Fault, ApiError)> = vec![
        (Fault::http(400), ApiError::BadRequest { detail: String::new() }),
        (Fault::bad_key(), ApiError::BadKey),
        (Fault::http(403), ApiError::PermissionDenied { detail: String::new() }),
        (Fault::http(404), ApiError::ModelNotFound { model: MODEL.into() }),
        (
            Fault::rate_limited(Duration::from_secs(3)),
            ApiError::RateLimited { retry_after: Some(Duration::from_secs(3)) },
        ),
        (
            Fault::rate_limited_in_message(Duration::from_millis(7500)),
            ApiError::RateLimited { retry_after: Some(Duration::from_millis(7500)) },
        ),
        (Fault::rate_limited_header(7), ApiError::RateLimited { retry_after: Some(Duration::from_secs(7)) }),
        (Fault::daily_quota(), ApiError::QuotaExhausted { retry_after: Some(Duration::from_secs(20)), daily: true }),
        (Fault::http(500), ApiError::Server { status: 500, overloaded: false, retry_after: None }),
        (Fault::http(503), ApiError::Server { status: 503, overloaded: true, retry_after: None }),
        (Fault::http(504), ApiError::Server { status: 504, overloaded: false, retry_after: None }),
    ];
    for (fault, expected) in cases {
        fake.push(Behavior::fault(fault.clone()));
        let got = ask(&client, MODEL, "hi").await;
        let error = got.error.unwrap_or_else(|| panic!("{fault:?} gave no error"));
        assert_eq!(error.kind(), expected.kind(), "{fault:?}");
        if !matches!(expected, ApiError::BadRequest { .. } | ApiError::PermissionDenied { .. }) {
            assert_eq!(error, expected, "{fault:?}");
        }
        assert_key_absent(&error);
        assert!(got.text.is_empty());
    }
}

#[tokio::test]
async fn retry_hints_and_quota_scope_decide_retryability() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    fake.push(Behavior::fault(Fault::rate_limited(Duration::from_secs(3))));
    assert!(ask(&client, MODEL, "hi").await.error.unwrap().is_retryable());
    fake.push(Behavior::fault(Fault::daily_quota()));
    let daily = ask(&client, MODEL, "hi").await.error.unwrap();
    assert!(!daily.is_retryable());
    assert!(daily.to_string().contains("today"), "{daily}");
    fake.push(Behavior::fault(Fault::rate_limited(Duration::from_secs(900))));
    let long = ask(&client, MODEL, "hi").await.error.unwrap();
    assert_eq!(long.kind(), ErrorKind::QuotaExhausted);
    assert!(!long.is_retryable());
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_a_strict_fake() {
    let fake = FakeGemini::start(
        FakeOptions { api_key: Some("the-right-key".into()), ..FakeOptions::default() },
        Behavior::default(),
    )
    .await
    .unwrap();
    let client = client_for(&fake, quick_timeouts());
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.error, Some(ApiError::BadKey));
    assert_eq!(client.list_models().await.unwrap_err(), ApiError::BadKey);
}

#[tokio::test]
async fn no_key_fails_before_any_request() {
    let fake = fake().await;
    let client =
        Client::new(ClientOptions { base_url: fake.base_url(), api_key: None, timeouts: quick_timeouts() }).unwrap();
    assert_eq!(ask(&client, MODEL, "hi").await.error, Some(ApiError::NoKey));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn the_key_travels_only_in_its_header() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    ask(&client, MODEL, "hi").await;
    client.list_models().await.unwrap();
    client.count_tokens(MODEL, &wire(&geminal::chat::Turn::new(MODEL, "count me"))).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    for r in requests {
        let url = format!("{}?{}", r.path, r.query.clone().unwrap_or_default());
        assert!(!url.contains("key=") && !url.contains(KEY), "{url}");
        assert!(!r.body.contains(KEY));
        assert_eq!(r.header("x-goog-api-key"), Some(KEY));
        let others = r.headers.iter().filter(|(k, _)| k != "x-goog-api-key");
        assert!(others.into_iter().all(|(_, v)| !v.contains(KEY)));
    }
}

#[tokio::test]
async fn request_shape_matches_the_wire_reference() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    let mut turn = geminal::chat::Turn::new(MODEL, "hi");
    turn.system = Some("answer in one line".into());
    client.stream_generate(MODEL, &wire(&turn)).await.unwrap();
    let r = &fake.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    assert_eq!(r.query.as_deref(), Some("alt=sse"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["contents"][0]["role"], "user");
    assert_eq!(body["contents"][0]["parts"][0]["text"], "hi");
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "answer in one line");
    assert!(body.get("generationConfig").is_none(), "no empty fields are sent: {body}");
}

#[tokio::test]
async fn errors_inside_a_200_stream_keep_the_text_before_them() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    let answer = "0123456789AB";
    fake.push(Behavior::text(answer).with_chunks(3).with_fault(Fault::BareErrorAfter { after: 2, status: 503 }));
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.text, "01234567");
    assert_eq!(got.error, Some(ApiError::Server { status: 503, overloaded: true, retry_after: None }));

    fake.push(Behavior::text(answer).with_chunks(3).with_fault(Fault::ErrorEventAfter { after: 1, status: 500 }));
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.text, "0123");
    assert_eq!(got.error, Some(ApiError::Server { status: 500, overloaded: false, retry_after: None }));
}

#[tokio::test]
async fn a_cut_or_unfinished_stream_is_truncated_not_complete() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    for fault in [Fault::CutAfter(2), Fault::TruncateAfter(2)] {
        fake.push(Behavior::text("aaabbbcccddd").with_chunks(4).with_fault(fault.clone()));
        let got = ask(&client, MODEL, "hi").await;
        assert_eq!(got.text, "aaabbb", "{fault:?} {got:?}");
        assert_eq!(got.error.as_ref().map(ApiError::kind), Some(ErrorKind::Truncated), "{fault:?}");
        assert!(!got.events.iter().any(|e| matches!(e, StreamEvent::Finished(_))));
    }
}

#[tokio::test]
async fn blocked_prompts_and_early_stops_are_reported() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    fake.push(Behavior::fault(Fault::PromptBlocked("PROHIBITED_CONTENT".into())));
    assert_eq!(
        ask(&client, MODEL, "bad").await.error,
        Some(ApiError::PromptBlocked { reason: "prohibited content".into() })
    );
    for (reason, stop) in
        [("SAFETY", StopReason::Safety), ("RECITATION", StopReason::Recitation), ("MAX_TOKENS", StopReason::MaxTokens)]
    {
        fake.push(
            Behavior::text("abcd").with_chunks(2).with_fault(Fault::StopAfter { after: 1, reason: reason.into() }),
        );
        let got = ask(&client, MODEL, "hi").await;
        assert_eq!(got.text, "ab");
        assert_eq!(got.events.last(), Some(&StreamEvent::Finished(FinishReason::Stopped(stop))));
        assert_eq!(got.error, None, "the stream itself ends normally; the caller judges the reason");
    }
}

#[tokio::test]
async fn a_stall_trips_the_idle_watchdog() {
    let fake = fake().await;
    let timeouts = Timeouts { idle: Duration::from_millis(300), ..quick_timeouts() };
    let client = client_for(&fake, timeouts);
    fake.push(Behavior::text("abcd").with_chunks(4).with_fault(Fault::StallAfter(1)));
    let started = Instant::now();
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.text, "a");
    assert_eq!(got.error, Some(ApiError::Timeout { phase: TimeoutPhase::Idle, after: Duration::from_millis(300) }));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_server_dribbling_a_byte_at_a_time_trips_the_idle_watchdog() {
    // Slowloris: after one event, a byte every 100 ms of an event that would take seconds to
    // complete. The connection is never quiet for the 300 ms idle limit, yet no event arrives.
    let fake = fake().await;
    let timeouts = Timeouts { idle: Duration::from_millis(300), ..quick_timeouts() };
    let client = client_for(&fake, timeouts);
    let gap = Duration::from_millis(100);
    fake.push(Behavior::text("abcd").with_chunks(4).with_fault(Fault::DribbleAfter { after: 1, gap }));
    let started = Instant::now();
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.text, "a");
    assert_eq!(got.error, Some(ApiError::Timeout { phase: TimeoutPhase::Idle, after: Duration::from_millis(300) }));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_malformed_stream_event_is_retried_like_a_cut_stream() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    fake.push(Behavior::text("abcd").with_chunks(4).with_fault(Fault::MalformedAfter(2)));
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.text, "ab");
    let error = got.error.expect("an error");
    assert_eq!(error.kind(), ErrorKind::Truncated, "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_slow_first_token_trips_the_first_token_watchdog() {
    let fake = fake().await;
    let timeouts = Timeouts { first_token: Duration::from_millis(300), ..quick_timeouts() };
    let client = client_for(&fake, timeouts);
    fake.push(Behavior::text("late").with_first_token_delay(Duration::from_secs(3)));
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(
        got.error,
        Some(ApiError::Timeout { phase: TimeoutPhase::FirstToken, after: Duration::from_millis(300) })
    );
}

#[tokio::test]
async fn a_slow_but_steady_stream_is_not_killed() {
    let fake = fake().await;
    let timeouts =
        Timeouts { first_token: Duration::from_millis(400), idle: Duration::from_millis(400), ..quick_timeouts() };
    let client = client_for(&fake, timeouts);
    // Six chunks, 250 ms apart: 1.5 s in all, far beyond each watchdog, yet never idle too long.
    fake.push(
        Behavior::text("s l o w l y")
            .with_chunks(6)
            .with_first_token_delay(Duration::from_millis(250))
            .with_chunk_delay(Duration::from_millis(250)),
    );
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.error, None);
    assert_eq!(got.text, "s l o w l y");
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection_at_once() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    fake.push(Behavior::text("a b c d e f").with_chunks(6).with_chunk_delay(Duration::from_secs(2)));
    let mut stream = client.stream_generate(MODEL, &wire(&geminal::chat::Turn::new(MODEL, "hi"))).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(_))));
    let id = fake.requests()[0].id;
    let dropped = Instant::now();
    drop(stream);
    let end = loop {
        if let Some(end) = fake.stream_end(id) {
            break end;
        }
        assert!(dropped.elapsed() < Duration::from_secs(1), "the fake never saw the close");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(end.0, StreamEnd::ClientClosed);
    assert!(end.1.duration_since(dropped) < Duration::from_millis(100), "{:?}", end.1.duration_since(dropped));
}

#[tokio::test]
async fn network_failures_name_the_cause_without_the_key() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::new(ClientOptions {
        base_url: format!("http://127.0.0.1:{port}"),
        api_key: Some(SecretString::from(KEY)),
        timeouts: quick_timeouts(),
    })
    .unwrap();
    let got = ask(&client, MODEL, "hi").await;
    let error = got.error.unwrap();
    assert_eq!(error.kind(), ErrorKind::Network);
    assert!(error.to_string().contains("refused"), "{error}");
    assert_key_absent(&error);
    let models = client.list_models().await.unwrap_err();
    assert_eq!(models.kind(), ErrorKind::Network);
    assert_key_absent(&models);
}

#[tokio::test]
async fn models_are_listed_across_pages() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    let page = client.list_models_page(3, None).await.unwrap();
    assert_eq!(page.models.len(), 3);
    assert_eq!(page.next_page_token.as_deref(), Some("p3"));
    let all = client.list_models().await.unwrap();
    assert_eq!(all.len(), geminal::gemini::fake::default_models().len());
    assert!(all.iter().any(|m| m.id() == "gemini-flash-latest" && m.input_token_limit == Some(1_048_576)));
}

#[tokio::test]
async fn unary_generate_and_count_tokens_work() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    fake.push(Behavior::text("whole answer"));
    let answer = client.generate(MODEL, &wire(&geminal::chat::Turn::new(MODEL, "hi"))).await.unwrap();
    assert_eq!(answer.candidates[0].content.as_ref().unwrap().visible_text(), "whole answer");
    fake.push(Behavior::fault(Fault::http(503)));
    let e = client.generate(MODEL, &wire(&geminal::chat::Turn::new(MODEL, "hi"))).await.unwrap_err();
    assert_eq!(e, ApiError::Server { status: 503, overloaded: true, retry_after: None });
    let n = client.count_tokens(MODEL, &wire(&geminal::chat::Turn::new(MODEL, "a few words to count"))).await.unwrap();
    assert!(n > 0);
}

#[tokio::test]
async fn hostile_text_arrives_intact_for_the_display_layer_to_neutralise() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    fake.push(Behavior::default().with_answer(Answer::Hostile).with_split(Split::Tricky));
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.error, None);
    assert_eq!(got.text, geminal::gemini::fake::hostile_answer());
    let shown = geminal::sanitize::sanitize(&got.text);
    assert!(!shown.contains('\x1b') && !shown.contains('\u{9b}') && !shown.contains('\u{202e}'));
}

#[tokio::test]
async fn replayed_captures_stream_through_the_client() {
    let fake = fake().await;
    let client = client_for(&fake, quick_timeouts());
    let capture = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"As of July 2026, the current\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 21,\"candidatesTokenCount\": 15,\"totalTokenCount\": 517,\"thoughtsTokenCount\": 481}}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\",\"thoughtSignature\": \"EtEO\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 131,\"candidatesTokenCount\": 61,\"totalTokenCount\": 783,\"thoughtsTokenCount\": 591}}\r\n\r\n",
    );
    fake.push(Behavior::raw(capture.as_bytes().to_vec()).with_split(Split::Bytes(5)));
    let got = ask(&client, MODEL, "hi").await;
    assert_eq!(got.error, None);
    assert_eq!(got.text, "As of July 2026, the current");
    assert_eq!(got.usage.unwrap().prompt_token_count, 131);
}

#[tokio::test]
async fn polling_next_inside_a_select_does_not_reset_the_idle_watchdog() {
    let fake = fake().await;
    let timeouts = Timeouts { idle: Duration::from_millis(300), ..quick_timeouts() };
    let client = client_for(&fake, timeouts);
    fake.push(Behavior::text("abcd").with_chunks(4).with_fault(Fault::StallAfter(1)));
    let mut stream = client.stream_generate(MODEL, &wire(&geminal::chat::Turn::new(MODEL, "hi"))).await.unwrap();
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    let started = Instant::now();
    let error = loop {
        tokio::select! {
            next = stream.next() => match next {
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
                None => panic!("the stall must not end the stream cleanly"),
            },
            _ = ticks.tick() => assert!(started.elapsed() < Duration::from_secs(3), "the watchdog never fired"),
        }
    };
    assert_eq!(error.kind(), ErrorKind::Timeout);
}
