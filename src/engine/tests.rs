//! The engine over scripted in-memory providers, on paused time: retries wait what the
//! provider asks, cut streams restart, pools skip a failing member until its cool-down.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

use super::*;
use crate::gemini::{Client, ClientOptions};
use crate::net::Timeouts;
use crate::provider::{EventStream, Kind, Pool, Provider, ProviderSet};

type Script = Result<Vec<Result<StreamEvent, ApiError>>, ApiError>;

/// A provider that plays one scripted answer per request (the last one again when out).
#[derive(Debug)]
struct Scripted {
    script: Mutex<VecDeque<Script>>,
    calls: Mutex<Vec<Instant>>,
    in_flight: AtomicUsize,
}

impl Scripted {
    fn new(script: Vec<Script>) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(script.into()),
            calls: Mutex::default(),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }
}

fn answer(text: &str) -> Script {
    Ok(vec![Ok(StreamEvent::Text(text.into())), Ok(StreamEvent::Finished(FinishReason::Stop))])
}

fn down() -> Script {
    Err(ApiError::Network { detail: "connection refused".into() })
}

impl Provider for Scripted {
    fn kind(&self) -> Kind {
        Kind::OpenAi
    }

    fn stream_generate<'a>(
        &'a self,
        _model: &'a str,
        _request: &'a Request,
    ) -> BoxFuture<'a, Result<EventStream, ApiError>> {
        self.calls.lock().unwrap().push(Instant::now());
        let mut script = self.script.lock().unwrap();
        let next = if script.len() > 1 { script.pop_front() } else { script.front().cloned() };
        let next = next.expect("a scripted answer");
        async move { next.map(|events| futures::stream::iter(events).boxed()) }.boxed()
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<crate::llm::ModelInfo>, ApiError>> {
        async { Ok(Vec::new()) }.boxed()
    }
}

fn gemini() -> Client {
    Client::new(ClientOptions { base_url: "http://127.0.0.1:9".into(), api_key: None, timeouts: Timeouts::default() })
        .unwrap()
}

fn engine(providers: ProviderSet, attempts: u32) -> Engine {
    let retry = RetryPolicy { max_attempts: attempts, ..RetryPolicy::default() };
    Engine::with_providers(providers, EngineConfig { retry, ..EngineConfig::default() })
}

async fn run(engine: &Engine, model: &str) -> (String, Vec<CallEvent>) {
    engine.submit(Call { model: model.into(), request: Request::default() }).collect().await
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_provider_is_asked_again_only_after_its_own_delay() {
    let p =
        Scripted::new(vec![Err(ApiError::RateLimited { retry_after: Some(Duration::from_secs(30)) }), answer("ok")]);
    let engine = engine(ProviderSet::new(gemini()).with("p", p.clone()), 3);
    let (text, _) = run(&engine, "p:m").await;
    assert_eq!(text, "ok");
    let calls = p.calls();
    assert!(calls[1] - calls[0] >= Duration::from_secs(30), "{:?}", calls[1] - calls[0]);
}

#[tokio::test(start_paused = true)]
async fn a_cut_stream_is_asked_again_and_its_partial_text_is_replaced() {
    let cut = Ok(vec![
        Ok(StreamEvent::Text("partial".into())),
        Err(ApiError::Truncated { detail: "the connection was cut mid-answer".into() }),
    ]);
    let p = Scripted::new(vec![cut, answer("whole")]);
    let engine = engine(ProviderSet::new(gemini()).with("p", p.clone()), 3);
    let (text, events) = run(&engine, "p:m").await;
    assert_eq!(text, "whole");
    assert!(events.iter().any(|e| matches!(e, CallEvent::Restarted { attempt: 2 })), "{events:?}");
    assert_eq!(engine.metrics().snapshot().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_pool_member_is_skipped_until_its_cool_down_then_tried_once_again() {
    let flaky = Scripted::new(vec![down(), answer("flaky is back")]);
    let steady = Scripted::new(vec![answer("steady")]);
    let pool = Arc::new(Pool::new(
        vec![("flaky".into(), flaky.clone() as Arc<dyn Provider>), ("steady".into(), steady.clone())],
        1,
        Duration::from_secs(60),
    ));
    let engine = engine(ProviderSet::new(gemini()).with("pool", pool.clone()), 3);
    let (text, _) = run(&engine, "pool:m").await;
    assert_eq!(text, "steady", "the retry went to the healthy member");
    assert_eq!(pool.unhealthy(), ["flaky"]);
    for _ in 0..3 {
        assert_eq!(run(&engine, "pool:m").await.0, "steady");
    }
    assert_eq!(flaky.calls().len(), 1, "an open breaker is skipped");
    tokio::time::advance(Duration::from_secs(61)).await;
    let (text, _) = run(&engine, "pool:m").await;
    assert_eq!(text, "flaky is back", "after the cool-down, one trial goes to the member");
    assert!(pool.unhealthy().is_empty(), "its success closes the breaker");
}

#[tokio::test(start_paused = true)]
async fn a_half_open_member_that_fails_again_is_out_for_another_cool_down() {
    let flaky = Scripted::new(vec![down()]);
    let steady = Scripted::new(vec![answer("steady")]);
    let pool = Arc::new(Pool::new(
        vec![("flaky".into(), flaky.clone() as Arc<dyn Provider>), ("steady".into(), steady.clone())],
        1,
        Duration::from_secs(60),
    ));
    let engine = engine(ProviderSet::new(gemini()).with("pool", pool.clone()), 3);
    run(&engine, "pool:m").await;
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(run(&engine, "pool:m").await.0, "steady");
    assert_eq!(flaky.calls().len(), 2, "one trial after the cool-down");
    assert_eq!(run(&engine, "pool:m").await.0, "steady");
    assert_eq!(flaky.calls().len(), 2, "the failed trial reopened the breaker");
    assert_eq!(steady.in_flight.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_model_moves_along_the_chain_and_later_calls_skip_it() {
    let p = Scripted::new(vec![Err(ApiError::ModelNotFound { model: "p:gone".into() }), answer("from q")]);
    let q = Scripted::new(vec![answer("from q")]);
    let providers = ProviderSet::new(gemini()).with("p", p.clone()).with("q", q.clone());
    let retry = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
    let config = EngineConfig { retry, fallback: vec!["q:m".into()], ..EngineConfig::default() };
    let engine = Engine::with_providers(providers, config);
    let (text, events) = run(&engine, "p:gone").await;
    assert_eq!(text, "from q");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, CallEvent::FallbackModel { reason: FallbackReason::ModelUnknown, first: true, .. }))
    );
    run(&engine, "p:gone").await;
    assert_eq!(p.calls().len(), 1, "an unknown model is not asked again");
    assert_eq!(q.calls().len(), 2);
}

/// A provider whose answer never ends: a word every second, no finish.
#[derive(Debug)]
struct Endless;

impl Provider for Endless {
    fn kind(&self) -> Kind {
        Kind::OpenAi
    }

    fn stream_generate<'a>(
        &'a self,
        _model: &'a str,
        _request: &'a Request,
    ) -> BoxFuture<'a, Result<EventStream, ApiError>> {
        let words = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok(StreamEvent::Text("more ".into())), ()))
        });
        async move { Ok(words.boxed()) }.boxed()
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<crate::llm::ModelInfo>, ApiError>> {
        async { Ok(Vec::new()) }.boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_never_ends_fails_at_its_total_deadline() {
    let config = EngineConfig { total_timeout: Some(Duration::from_secs(90)), ..EngineConfig::default() };
    let engine = Engine::with_providers(ProviderSet::new(gemini()).with("p", Arc::new(Endless)), config);
    let started = Instant::now();
    let (text, events) = run(&engine, "p:m").await;
    assert_eq!(started.elapsed(), Duration::from_secs(90));
    assert!(text.starts_with("more more"), "{text}");
    assert_eq!(
        events.last(),
        Some(&CallEvent::Failed(ApiError::Timeout { phase: TimeoutPhase::Total, after: Duration::from_secs(90) }))
    );
    assert_eq!(engine.metrics().snapshot().failed, 1);
}

#[tokio::test(start_paused = true)]
async fn the_total_deadline_counts_retries_and_their_waits() {
    let p = Scripted::new(vec![down()]);
    let config = EngineConfig {
        total_timeout: Some(Duration::from_secs(5)),
        retry: RetryPolicy { max_attempts: 20, initial_backoff: Duration::from_secs(4), ..RetryPolicy::default() },
        ..EngineConfig::default()
    };
    let engine = Engine::with_providers(ProviderSet::new(gemini()).with("p", p.clone()), config);
    let started = Instant::now();
    let (_, events) = run(&engine, "p:m").await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(matches!(events.last(), Some(CallEvent::Failed(ApiError::Timeout { phase: TimeoutPhase::Total, .. }))));
    assert!(p.calls().len() < 20, "stopped by the deadline, not by the attempts");
}

#[test]
fn the_default_engine_holds_an_answer_to_ten_minutes() {
    assert_eq!(EngineConfig::default().total_timeout, Some(Duration::from_secs(600)));
}
