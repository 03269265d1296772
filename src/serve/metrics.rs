//! `/metrics`: what the server did, by client key and model, in the OpenMetrics text format
//! (which Prometheus reads): requests answered and how they ended, answers in flight and
//! queued, cache hits, tokens, cost, latency and time to the first token, and requests turned
//! away by reason. Names start with `geminal_serve_`.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::reject::Why;
use crate::chat::{Outcome, TurnReport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByModel {
    client: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByOutcome {
    client: String,
    model: String,
    /// `complete`, `failed` or `cancelled`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByKind {
    client: String,
    model: String,
    /// `prompt`, `output` or `thoughts`.
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByReason {
    client: String,
    reason: String,
}

type Seconds = Family<ByModel, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 12))
}

/// The server's counters (cheap to update from every request).
pub struct Metrics {
    registry: Registry,
    requests: Family<ByOutcome, Counter>,
    in_flight: Gauge,
    queued: Gauge,
    cache_hits: Family<ByModel, Counter>,
    tokens: Family<ByKind, Counter>,
    cost: Family<ByModel, Counter<f64, AtomicU64>>,
    latency: Seconds,
    first_token: Seconds,
    rejected: Family<ByReason, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<ByOutcome, Counter>::default();
        let in_flight = Gauge::default();
        let queued = Gauge::default();
        let cache_hits = Family::<ByModel, Counter>::default();
        let tokens = Family::<ByKind, Counter>::default();
        let cost = Family::<ByModel, Counter<f64, AtomicU64>>::default();
        let latency: Seconds = Family::new_with_constructor(seconds);
        let first_token: Seconds = Family::new_with_constructor(seconds);
        let rejected = Family::<ByReason, Counter>::default();
        registry.register("geminal_serve_requests", "Answers by client key, model and outcome", requests.clone());
        registry.register("geminal_serve_in_flight", "Answers running now", in_flight.clone());
        registry.register("geminal_serve_queued", "Requests waiting for a place", queued.clone());
        registry.register("geminal_serve_cache_hits", "Answers from the cache", cache_hits.clone());
        registry.register("geminal_serve_tokens", "Tokens by kind (prompt, output, thoughts)", tokens.clone());
        registry.register("geminal_serve_cost_usd", "What answers cost, in US dollars", cost.clone());
        registry.register("geminal_serve_latency_seconds", "Time from admission to the answer's end", latency.clone());
        registry.register("geminal_serve_ttft_seconds", "Time from admission to the first text", first_token.clone());
        registry.register("geminal_serve_rejected", "Requests turned away, by reason", rejected.clone());
        Metrics { registry, requests, in_flight, queued, cache_hits, tokens, cost, latency, first_token, rejected }
    }
}

/// The reason label of a refusal.
pub fn reason(why: Why) -> &'static str {
    match why {
        Why::Unauthenticated => "unauthenticated",
        Why::ModelNotAllowed => "model_not_allowed",
        Why::RateLimited => "rate_limited",
        Why::Busy => "busy",
        Why::Budget => "budget",
        Why::TooLarge => "too_large",
        Why::SlowClient => "slow_client",
        Why::BadJson => "bad_json",
        Why::BadRequest => "bad_request",
        Why::ModelNotFound => "model_not_found",
        Why::Upstream(_) => "upstream",
        Why::ShuttingDown => "shutting_down",
    }
}

impl Metrics {
    /// An answer that ended (a report came): `took` since admission, `first` text after.
    pub fn answered(&self, client: &str, model: &str, report: &TurnReport, took: Duration, first: Option<Duration>) {
        let outcome = match report.outcome {
            Outcome::Complete => "complete",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed(_) => "failed",
        };
        let by = ByModel { client: client.to_owned(), model: model.to_owned() };
        self.requests
            .get_or_create(&ByOutcome { client: by.client.clone(), model: by.model.clone(), outcome: outcome.into() })
            .inc();
        if report.cached {
            self.cache_hits.get_or_create(&by).inc();
        } else if let Some(usage) = report.usage {
            for (kind, n) in [
                ("prompt", usage.prompt_token_count),
                ("output", usage.candidates_token_count),
                ("thoughts", usage.thoughts_token_count),
            ] {
                let labels = ByKind { client: by.client.clone(), model: by.model.clone(), kind: kind.into() };
                self.tokens.get_or_create(&labels).inc_by(u64::from(n));
            }
        }
        if let Some(cost) = report.cost.cost {
            self.cost.get_or_create(&by).inc_by(cost.as_dollars());
        }
        self.latency.get_or_create(&by).observe(took.as_secs_f64());
        if let Some(first) = first {
            self.first_token.get_or_create(&by).observe(first.as_secs_f64());
        }
    }

    /// A request turned away (`client`: the key's name, or `unknown` before it is known).
    pub fn rejected(&self, client: Option<&str>, why: Why) {
        let labels = ByReason { client: client.unwrap_or("unknown").to_owned(), reason: reason(why).to_owned() };
        self.rejected.get_or_create(&labels).inc();
    }

    /// The text format, with the gauges read now.
    pub fn render(&self, in_flight: usize, queued: usize) -> String {
        self.in_flight.set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.queued.set(i64::try_from(queued).unwrap_or(i64::MAX));
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
