//! The engine against the fake: many answers at once cost the time of one; retries wait what
//! the server asks and replace cut text; limits and cancellation reach the wire.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{client_for, fake, quick_timeouts};
use geminal::engine::{Call, CallEvent, CallHandle, Engine, EngineConfig, RetryPolicy};
use geminal::gemini::fake::{Behavior, Fault, StreamEnd};
use geminal::gemini::{ApiError, ErrorKind, FinishReason};

const MODEL: &str = "gemini-2.5-flash";

fn job(prompt: &str) -> Call {
    Call { model: MODEL.into(), request: geminal::chat::Turn::new(MODEL, prompt).request() }
}

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy { max_attempts: attempts, initial_backoff: Duration::from_millis(100), ..RetryPolicy::default() }
}

/// Drives a job to its end, applying restarts as a display would: the final text and events.
async fn finish(handle: CallHandle) -> (String, Vec<CallEvent>) {
    handle.collect().await
}

fn last(events: &[CallEvent]) -> &CallEvent {
    events.last().unwrap()
}

fn request_times(fake: &geminal::gemini::fake::FakeGemini) -> Vec<Instant> {
    fake.requests().iter().filter(|r| r.path.contains("Generate")).map(|r| r.received).collect()
}

#[tokio::test]
async fn many_answers_at_once_cost_about_the_time_of_one() {
    let fake = fake().await;
    fake.set_default(Behavior::paced(10, Duration::from_secs(2)));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { max_concurrent: 32, ..EngineConfig::default() },
    );
    let started = Instant::now();
    let handles: Vec<_> = (0..32).map(|i| engine.submit(job(&format!("q{i}")))).collect();
    let results = futures::future::join_all(handles.into_iter().map(finish)).await;
    let elapsed = started.elapsed();
    assert!(results.iter().all(|(_, e)| matches!(last(e), CallEvent::Finished { finish: FinishReason::Stop, .. })));
    assert!(elapsed < Duration::from_secs(4), "32 answers of 2 s took {elapsed:?}");
    let m = engine.metrics().snapshot();
    assert_eq!((m.requests, m.succeeded, m.in_flight, m.queued), (32, 32, 0, 0));
    assert!(m.latency_p50_ms.unwrap() >= 2000);
}

#[tokio::test]
async fn the_concurrency_limit_holds() {
    let fake = fake().await;
    fake.set_default(Behavior::paced(4, Duration::from_millis(400)));
    let engine =
        Engine::new(client_for(&fake, quick_timeouts()), EngineConfig { max_concurrent: 2, ..EngineConfig::default() });
    let handles: Vec<_> = (0..6).map(|i| engine.submit(job(&format!("q{i}")))).collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let m = engine.metrics().snapshot();
    assert_eq!((m.in_flight, m.queued), (2, 4));
    futures::future::join_all(handles.into_iter().map(finish)).await;
    let times = request_times(&fake);
    // Requests go out in waves of two, one wave per answer time.
    assert!(times[4].duration_since(times[0]) >= Duration::from_millis(700), "{times:?}");
}

#[tokio::test]
async fn a_429_makes_the_next_attempt_wait_the_servers_delay() {
    let fake = fake().await;
    fake.push(Behavior::fault(Fault::rate_limited(Duration::from_secs(3))));
    fake.push(Behavior::text("finally"));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(3), ..EngineConfig::default() },
    );
    let (text, events) = finish(engine.submit(job("q"))).await;
    assert_eq!(text, "finally");
    assert!(events.iter().any(|e| matches!(e, CallEvent::Retrying { attempt: 2, after, reason: ApiError::RateLimited { .. } } if *after >= Duration::from_secs(3))));
    let times = request_times(&fake);
    let gap = times[1].duration_since(times[0]);
    assert!(gap >= Duration::from_secs(3) && gap < Duration::from_millis(3800), "{gap:?}");
}

#[tokio::test]
async fn a_503_with_retry_after_waits_the_servers_delay_not_the_backoff() {
    let fake = fake().await;
    fake.push(Behavior::fault(Fault::http_with_retry_after(503, 2)));
    fake.push(Behavior::text("finally"));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(3), ..EngineConfig::default() },
    );
    let (text, events) = finish(engine.submit(job("q"))).await;
    assert_eq!(text, "finally");
    assert!(events.iter().any(|e| matches!(e, CallEvent::Retrying { attempt: 2, after, reason: ApiError::Server { status: 503, .. } } if *after >= Duration::from_secs(2))), "{events:?}");
    let times = request_times(&fake);
    let gap = times[1].duration_since(times[0]);
    assert!(gap >= Duration::from_secs(2) && gap < Duration::from_millis(2800), "{gap:?}");
}

#[tokio::test]
async fn a_429_on_one_job_holds_back_every_job_for_that_model() {
    let fake = fake().await;
    fake.push(Behavior::fault(Fault::rate_limited(Duration::from_secs(2))));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(3), ..EngineConfig::default() },
    );
    let first = engine.submit(job("first"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limited_at = request_times(&fake)[0];
    let (second_text, _) = finish(engine.submit(job("second"))).await;
    assert!(!second_text.is_empty());
    let second_sent = fake.requests().iter().find(|r| r.prompt() == "second").unwrap().received;
    assert!(second_sent.duration_since(limited_at) >= Duration::from_secs(2), "the gate was ignored");
    finish(first).await;
}

#[tokio::test]
async fn a_daily_quota_or_a_bad_request_is_not_retried() {
    let fake = fake().await;
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(5), ..EngineConfig::default() },
    );
    for fault in [
        Fault::daily_quota(),
        Fault::http(400),
        Fault::http(403),
        Fault::http(404),
        Fault::bad_key(),
        Fault::PromptBlocked("SAFETY".into()),
    ] {
        let before = fake.generate_count();
        fake.push(Behavior::fault(fault.clone()));
        let (_, events) = finish(engine.submit(job("q"))).await;
        assert!(matches!(last(&events), CallEvent::Failed(_)), "{fault:?}");
        assert_eq!(fake.generate_count(), before + 1, "{fault:?} was retried");
    }
}

#[tokio::test]
async fn a_503_is_retried_with_backoff_and_then_succeeds() {
    let fake = fake().await;
    fake.push(Behavior::fault(Fault::http(503)));
    fake.push(Behavior::fault(Fault::http(503)));
    fake.push(Behavior::text("ok now"));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(5), ..EngineConfig::default() },
    );
    let (text, events) = finish(engine.submit(job("q"))).await;
    assert_eq!(text, "ok now");
    let waits: Vec<Duration> = events
        .iter()
        .filter_map(|e| if let CallEvent::Retrying { after, .. } = e { Some(*after) } else { None })
        .collect();
    assert_eq!(waits.len(), 2);
    // Full jitter: each wait is anywhere in its doubling window (100 ms, then 200 ms).
    assert!(waits[0] <= Duration::from_millis(100), "{waits:?}");
    assert!(waits[1] <= Duration::from_millis(200), "{waits:?}");
    let times = request_times(&fake);
    assert!(times[1].duration_since(times[0]) >= waits[0] && times[2].duration_since(times[1]) >= waits[1]);
    assert_eq!(engine.metrics().snapshot().retries, 2);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let fake = fake().await;
    fake.set_default(Behavior::fault(Fault::http(500)));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(3), ..EngineConfig::default() },
    );
    let (_, events) = finish(engine.submit(job("q"))).await;
    assert_eq!(
        last(&events),
        &CallEvent::Failed(ApiError::Server { status: 500, overloaded: false, retry_after: None })
    );
    assert_eq!(fake.generate_count(), 3);
}

#[tokio::test]
async fn a_cut_stream_is_retried_and_the_new_text_replaces_the_partial_one() {
    let fake = fake().await;
    let answer = "The whole answer, said once.";
    fake.push(Behavior::text(answer).with_chunks(4).with_fault(Fault::CutAfter(2)));
    fake.push(Behavior::text(answer).with_chunks(4).with_fault(Fault::TruncateAfter(3)));
    fake.push(Behavior::text(answer).with_chunks(4));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(5), ..EngineConfig::default() },
    );
    let (text, events) = finish(engine.submit(job("q"))).await;
    assert_eq!(text, answer, "no duplicated part");
    assert_eq!(events.iter().filter(|e| matches!(e, CallEvent::Restarted { .. })).count(), 2);
    assert!(matches!(last(&events), CallEvent::Finished { .. }));
}

#[tokio::test]
async fn when_every_attempt_is_cut_the_last_partial_text_stays_and_the_error_says_so() {
    let fake = fake().await;
    fake.set_default(Behavior::text("abcdefgh").with_chunks(4).with_fault(Fault::CutAfter(2)));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(2), ..EngineConfig::default() },
    );
    let (text, events) = finish(engine.submit(job("q"))).await;
    assert_eq!(text, "abcd");
    let CallEvent::Failed(error) = last(&events) else { panic!("{events:?}") };
    assert_eq!(error.kind(), ErrorKind::Truncated);
    assert!(error.to_string().contains("cut mid-answer"));
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let fake = fake().await;
    fake.set_default(Behavior::text("x"));
    let config = EngineConfig { default_rpm: Some(240), max_concurrent: 8, ..EngineConfig::default() };
    let engine = Engine::new(client_for(&fake, quick_timeouts()), config);
    let handles: Vec<_> = (0..6).map(|i| engine.submit(job(&format!("q{i}")))).collect();
    futures::future::join_all(handles.into_iter().map(finish)).await;
    let times = request_times(&fake);
    // 240 per minute: one every 250 ms; no 1 s window may hold more than 4.
    for window in times.windows(5) {
        assert!(window[4].duration_since(window[0]) >= Duration::from_millis(980), "{times:?}");
    }
}

#[tokio::test]
async fn per_model_limits_apply_to_their_model_only() {
    let fake = fake().await;
    fake.set_default(Behavior::text("x"));
    let mut config = EngineConfig::default();
    config.rpm.insert("slow-model".into(), 60);
    let engine = Engine::new(client_for(&fake, quick_timeouts()), config);
    let started = Instant::now();
    let fast: Vec<_> = (0..4).map(|i| engine.submit(job(&format!("f{i}")))).collect();
    futures::future::join_all(fast.into_iter().map(finish)).await;
    assert!(started.elapsed() < Duration::from_millis(500), "the unlimited model was slowed");
    let slow =
        |p: &str| Call { model: "slow-model".into(), request: geminal::chat::Turn::new("slow-model", p).request() };
    let handles = vec![engine.submit(slow("s1")), engine.submit(slow("s2"))];
    let begun = Instant::now();
    futures::future::join_all(handles.into_iter().map(finish)).await;
    assert!(begun.elapsed() >= Duration::from_millis(950), "60 per minute is one a second");
}

#[tokio::test]
async fn cancelling_closes_the_connection_at_once_and_sends_nothing_more() {
    let fake = fake().await;
    fake.push(Behavior::text("abcdefghij").with_chunks(10).with_chunk_delay(Duration::from_millis(300)));
    let engine = Engine::new(client_for(&fake, quick_timeouts()), EngineConfig::default());
    let mut handle = engine.submit(job("q"));
    while !matches!(handle.next().await, Some(CallEvent::Text(_))) {}
    let id = fake.requests()[0].id;
    let cancelled_at = Instant::now();
    handle.cancel();
    let (_, events) = finish(handle).await;
    assert_eq!(last(&events), &CallEvent::Cancelled);
    let end = loop {
        if let Some(end) = fake.stream_end(id) {
            break end;
        }
        assert!(cancelled_at.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert_eq!(end.0, StreamEnd::ClientClosed);
    assert!(
        end.1.duration_since(cancelled_at) < Duration::from_millis(100),
        "{:?}",
        end.1.duration_since(cancelled_at)
    );

    // Cancelled while waiting to retry: no further request.
    fake.push(Behavior::fault(Fault::rate_limited(Duration::from_secs(2))));
    let engine = Engine::new(
        client_for(&fake, quick_timeouts()),
        EngineConfig { retry: fast_retries(3), ..EngineConfig::default() },
    );
    let mut handle = engine.submit(job("q2"));
    while !matches!(handle.next().await, Some(CallEvent::Retrying { .. })) {}
    let before = fake.generate_count();
    handle.cancel();
    assert_eq!(last(&finish(handle).await.1), &CallEvent::Cancelled);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(fake.generate_count(), before);
}

#[tokio::test]
async fn cancel_all_stops_running_and_waiting_jobs() {
    let fake = fake().await;
    fake.set_default(Behavior::paced(10, Duration::from_secs(5)));
    let engine =
        Engine::new(client_for(&fake, quick_timeouts()), EngineConfig { max_concurrent: 2, ..EngineConfig::default() });
    let handles: Vec<_> = (0..5).map(|i| engine.submit(job(&format!("q{i}")))).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    engine.cancel_all();
    let results = futures::future::join_all(handles.into_iter().map(finish)).await;
    assert!(results.iter().all(|(_, e)| last(e) == &CallEvent::Cancelled));
    assert_eq!(fake.generate_count(), 2, "queued jobs never started");
    assert_eq!(engine.metrics().snapshot().cancelled, 5);
}

#[tokio::test]
async fn an_exhausted_quota_moves_jobs_to_the_fallback_model_and_says_so_once() {
    let fake = fake().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    fake.set_router(move |r| {
        seen.fetch_add(1, Ordering::SeqCst);
        (r.model() == Some(MODEL)).then(Fault::daily_quota).map(Behavior::fault)
    });
    fake.set_default(Behavior::text("from the fallback"));
    let config = EngineConfig {
        fallback: vec!["gemini-flash-lite-latest".into()],
        retry: fast_retries(3),
        ..EngineConfig::default()
    };
    let engine = Engine::new(client_for(&fake, quick_timeouts()), config);
    let (text, events) = finish(engine.submit(job("q1"))).await;
    assert_eq!(text, "from the fallback");
    assert!(events.contains(&CallEvent::FallbackModel {
        from: MODEL.into(),
        to: "gemini-flash-lite-latest".into(),
        first: true,
        reason: geminal::engine::FallbackReason::QuotaSpent,
    }));
    let (_, events) = finish(engine.submit(job("q2"))).await;
    assert!(
        !events.iter().any(|e| matches!(e, CallEvent::FallbackModel { .. })),
        "later jobs go straight to the fallback"
    );
    let models: Vec<String> = fake.requests().iter().filter_map(|r| r.model().map(str::to_owned)).collect();
    assert_eq!(models, [MODEL, "gemini-flash-lite-latest", "gemini-flash-lite-latest"]);
}

#[tokio::test]
async fn a_fallback_of_another_family_gets_no_thinking_budget_it_would_refuse() {
    let fake = fake().await;
    fake.set_router(|r| (r.model() == Some("gemini-2.5-pro")).then(Fault::daily_quota).map(Behavior::fault));
    fake.set_default(Behavior::text("from the fallback"));
    let config = EngineConfig {
        fallback: vec!["gemini-2.5-flash-lite".into()],
        retry: fast_retries(3),
        ..EngineConfig::default()
    };
    let engine = Engine::new(client_for(&fake, quick_timeouts()), config);
    let mut turn = geminal::chat::Turn::new("gemini-2.5-pro", "think hard");
    turn.params.thinking = Some(geminal::llm::Thinking::Budget(32_768));
    turn.params.thoughts = true;
    let (text, _) = finish(engine.submit(Call { model: "gemini-2.5-pro".into(), request: turn.request() })).await;
    assert_eq!(text, "from the fallback", "a budget of 32768 would be refused by Flash-Lite");
    let sent: Vec<serde_json::Value> = fake.requests().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    assert_eq!(sent[0]["generationConfig"]["thinkingConfig"]["thinkingBudget"], 32_768);
    assert_eq!(sent[1]["generationConfig"]["thinkingConfig"], serde_json::json!({"includeThoughts": true}));
}

#[tokio::test]
async fn simultaneous_retries_are_spread_by_jitter() {
    let fake = fake().await;
    let first_round = Arc::new(AtomicUsize::new(0));
    let counter = first_round.clone();
    fake.set_router(move |_| (counter.fetch_add(1, Ordering::SeqCst) < 10).then(|| Behavior::fault(Fault::http(503))));
    fake.set_default(Behavior::text("ok"));
    let config =
        EngineConfig { retry: RetryPolicy { max_attempts: 2, ..RetryPolicy::default() }, ..EngineConfig::default() };
    let engine = Engine::new(client_for(&fake, quick_timeouts()), config);
    let handles: Vec<_> = (0..10).map(|i| engine.submit(job(&format!("q{i}")))).collect();
    futures::future::join_all(handles.into_iter().map(finish)).await;
    let retries: Vec<Instant> = request_times(&fake)[10..].to_vec();
    let spread = retries.iter().max().unwrap().duration_since(*retries.iter().min().unwrap());
    assert!(spread >= Duration::from_millis(150), "retries bunched within {spread:?}");
}
