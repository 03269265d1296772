//! A pool: equivalent endpoints behind one provider name (two Ollama hosts, two projects'
//! keys). Each answer goes to the member with the fewest answers in flight, skipping a member
//! whose circuit breaker is open; the engine's retries then land on a healthy member. A breaker
//! opens after consecutive failures that say the member is down (network, timeouts, 5xx) and
//! half-opens after a cool-down: one trial answer, whose outcome closes or reopens it. Every
//! other question (models, limits, token counts) goes to the first member that answers it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

use super::{EventStream, Kind, Provider};
use crate::llm::{ApiError, ModelInfo, Params, Request, StreamEvent};

/// Consecutive failures that open a breaker.
pub const DEFAULT_FAILURES_TO_OPEN: u32 = 2;
/// How long an open breaker keeps its member out before one trial.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial is out; the rest wait for its outcome.
    HalfOpen,
}

/// A member's circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<BreakerState>,
    failures_to_open: u32,
    cool_down: Duration,
}

impl Breaker {
    pub fn new(failures_to_open: u32, cool_down: Duration) -> Self {
        Breaker {
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
            failures_to_open: failures_to_open.max(1),
            cool_down,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a new answer may go to this member now (an expired open breaker half-opens,
    /// letting exactly this one through).
    pub fn admit(&self, now: Instant) -> bool {
        let mut state = self.state();
        match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                *state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }

    /// When the member may be tried again (`None`: it may now).
    fn closed_until(&self, now: Instant) -> Option<Instant> {
        match *self.state() {
            BreakerState::Open { until } if now < until => Some(until),
            BreakerState::HalfOpen => Some(now + self.cool_down),
            _ => None,
        }
    }

    pub fn succeeded(&self) {
        *self.state() = BreakerState::Closed { failures: 0 };
    }

    pub fn failed(&self, now: Instant) {
        let mut state = self.state();
        *state = match *state {
            BreakerState::Closed { failures } if failures + 1 < self.failures_to_open => {
                BreakerState::Closed { failures: failures + 1 }
            }
            _ => BreakerState::Open { until: now + self.cool_down },
        };
    }

    pub fn is_open(&self) -> bool {
        !matches!(*self.state(), BreakerState::Closed { .. })
    }
}

/// Whether an error says the member itself is unwell (not the request, not the key).
fn is_member_fault(error: &ApiError) -> bool {
    matches!(error, ApiError::Network { .. } | ApiError::Timeout { .. } | ApiError::Server { .. })
        || matches!(error, ApiError::Truncated { .. })
}

#[derive(Debug)]
struct Member {
    name: String,
    provider: Arc<dyn Provider>,
    in_flight: AtomicUsize,
    breaker: Breaker,
}

/// Equivalent providers behind one name.
#[derive(Debug)]
pub struct Pool {
    members: Vec<Arc<Member>>,
}

impl Pool {
    pub fn new(members: Vec<(String, Arc<dyn Provider>)>, failures_to_open: u32, cool_down: Duration) -> Self {
        let members = members
            .into_iter()
            .map(|(name, provider)| {
                Arc::new(Member {
                    name,
                    provider,
                    in_flight: AtomicUsize::new(0),
                    breaker: Breaker::new(failures_to_open, cool_down),
                })
            })
            .collect();
        Pool { members }
    }

    /// Member names whose breaker is not closed (for `config show`, tests).
    pub fn unhealthy(&self) -> Vec<String> {
        self.members.iter().filter(|m| m.breaker.is_open()).map(|m| m.name.clone()).collect()
    }

    /// The member for the next answer: fewest in flight among those the breaker admits; when
    /// every breaker is open, the one that reopens first (an answer is never refused here).
    fn pick(&self) -> Option<Arc<Member>> {
        let now = Instant::now();
        let mut healthy: Vec<&Arc<Member>> =
            self.members.iter().filter(|m| m.breaker.closed_until(now).is_none()).collect();
        healthy.sort_by_key(|m| m.in_flight.load(Ordering::Relaxed));
        if let Some(member) = healthy.into_iter().find(|m| m.breaker.admit(now)) {
            return Some(member.clone());
        }
        self.members.iter().min_by_key(|m| m.breaker.closed_until(now).unwrap_or(now)).cloned()
    }
}

/// Counts an answer in flight until dropped.
struct InFlight(Arc<Member>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Provider for Pool {
    fn kind(&self) -> Kind {
        self.members.first().map_or(Kind::Gemini, |m| m.provider.kind())
    }

    fn stream_generate<'a>(
        &'a self,
        model: &'a str,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<EventStream, ApiError>> {
        async move {
            let member =
                self.pick().ok_or_else(|| ApiError::Network { detail: "the pool has no members".to_owned() })?;
            member.in_flight.fetch_add(1, Ordering::Relaxed);
            let guard = InFlight(member.clone());
            let stream = match member.provider.stream_generate(model, request).await {
                Ok(stream) => stream,
                Err(error) => {
                    if is_member_fault(&error) {
                        member.breaker.failed(Instant::now());
                    }
                    return Err(error);
                }
            };
            // The outcome of the answer decides the breaker; the guard lives as long as the stream.
            let watched = stream.map(move |event| {
                let member = &guard.0;
                match &event {
                    Ok(StreamEvent::Finished(_)) => member.breaker.succeeded(),
                    Err(error) if is_member_fault(error) => member.breaker.failed(Instant::now()),
                    _ => {}
                }
                event
            });
            Ok(watched.boxed())
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ApiError>> {
        self.first_answer(|provider| provider.list_models()).boxed()
    }

    fn count_tokens<'a>(
        &'a self,
        model: &'a str,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Option<u64>, ApiError>> {
        self.first_answer(move |provider| provider.count_tokens(model, request)).boxed()
    }

    fn model_info<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<Option<ModelInfo>, ApiError>> {
        self.first_answer(move |provider| provider.model_info(model)).boxed()
    }

    fn check_params(&self, model: &str, params: &Params) -> Result<(), String> {
        self.members.first().map_or(Ok(()), |m| m.provider.check_params(model, params))
    }
}

impl Pool {
    /// Asks the members in turn, those whose breaker is closed first, until one answers; the
    /// last error when none does. A question about models (not an answer) moves no breaker.
    async fn first_answer<'a, T>(
        &'a self,
        ask: impl Fn(&'a dyn Provider) -> BoxFuture<'a, Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let mut members: Vec<&Arc<Member>> = self.members.iter().collect();
        members.sort_by_key(|m| m.breaker.is_open());
        let mut last = None;
        for member in members {
            match ask(member.provider.as_ref()).await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ApiError::Network { detail: "the pool has no members".to_owned() }))
    }
}
