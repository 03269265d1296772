//! Live counters of the engine: requests, in flight, queued, retries, cache hits, tokens and
//! latency percentiles. Cheap to update from many calls; read as a snapshot.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Latencies kept for percentiles: the most recent ones (bounded memory in long runs).
const LATENCY_WINDOW: usize = 10_000;

#[derive(Debug, Default)]
pub struct EngineMetrics {
    requests: AtomicU64,
    in_flight: AtomicI64,
    queued: AtomicI64,
    retries: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    cache_hits: AtomicU64,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    latencies_ms: Mutex<VecDeque<u32>>,
    first_tokens_ms: Mutex<VecDeque<u32>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub requests: u64,
    pub in_flight: i64,
    pub queued: i64,
    pub retries: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub cache_hits: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency_p50_ms: Option<u32>,
    pub latency_p95_ms: Option<u32>,
    pub first_token_p50_ms: Option<u32>,
    pub first_token_p95_ms: Option<u32>,
}

fn push(window: &Mutex<VecDeque<u32>>, d: Duration) {
    if let Ok(mut w) = window.lock() {
        if w.len() == LATENCY_WINDOW {
            w.pop_front();
        }
        w.push_back(d.as_millis().min(u128::from(u32::MAX)) as u32);
    }
}

fn percentiles(window: &Mutex<VecDeque<u32>>) -> (Option<u32>, Option<u32>) {
    let Ok(w) = window.lock() else { return (None, None) };
    if w.is_empty() {
        return (None, None);
    }
    let mut sorted: Vec<u32> = w.iter().copied().collect();
    sorted.sort_unstable();
    let at = |p: f64| sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1];
    (Some(at(0.50)), Some(at(0.95)))
}

impl EngineMetrics {
    pub(crate) fn queued(&self, delta: i64) {
        self.queued.fetch_add(delta, Ordering::Relaxed);
    }
    pub(crate) fn started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn attempt_over(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn succeeded(&self, latency: Duration, first_token: Option<Duration>, tokens_in: u32, tokens_out: u32) {
        self.succeeded.fetch_add(1, Ordering::Relaxed);
        self.tokens_in.fetch_add(u64::from(tokens_in), Ordering::Relaxed);
        self.tokens_out.fetch_add(u64::from(tokens_out), Ordering::Relaxed);
        push(&self.latencies_ms, latency);
        if let Some(ft) = first_token {
            push(&self.first_tokens_ms, ft);
        }
    }
    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }
    /// An answer served from the cache (counted by the chat layer, which owns the cache).
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters without latency percentiles: cheap enough for every frame.
    pub fn live(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            tokens_in: self.tokens_in.load(Ordering::Relaxed),
            tokens_out: self.tokens_out.load(Ordering::Relaxed),
            ..MetricsSnapshot::default()
        }
    }

    /// The counters with latency percentiles (sorts the recent latencies: not for every frame).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let (latency_p50_ms, latency_p95_ms) = percentiles(&self.latencies_ms);
        let (first_token_p50_ms, first_token_p95_ms) = percentiles(&self.first_tokens_ms);
        MetricsSnapshot { latency_p50_ms, latency_p95_ms, first_token_p50_ms, first_token_p95_ms, ..self.live() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let m = EngineMetrics::default();
        for ms in 1..=100 {
            m.succeeded(Duration::from_millis(ms), None, 1, 2);
        }
        let s = m.snapshot();
        assert_eq!((s.latency_p50_ms, s.latency_p95_ms), (Some(50), Some(95)));
        assert_eq!((s.succeeded, s.tokens_in, s.tokens_out), (100, 100, 200));
        assert_eq!(s.first_token_p50_ms, None);
    }
}
