//! When to try again, and how long to wait first. Pure decisions over an error and the
//! attempt count, so every rule is a unit test.

use std::time::Duration;

use crate::llm::ApiError;
use crate::net::MAX_RETRY_DELAY;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Total time a call may spend waiting between attempts.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up with this error.
    GiveUp,
}

impl RetryPolicy {
    /// What to do after `error` ended attempt number `attempt` (1-based), having already
    /// waited `waited` between earlier attempts. `jitter` is uniform in [0, 1): the wait is that
    /// fraction of the backoff window (full jitter), after the server's own delay if it gave one.
    pub fn decide(&self, error: &ApiError, attempt: u32, waited: Duration, jitter: f64) -> Decision {
        if !error.is_retryable() || attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let exponent = attempt.saturating_sub(1).min(16);
        let backoff = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        // Full jitter: a herd of calls failing together spreads over the whole backoff window
        // instead of returning within a narrow band of each other.
        let spread = backoff.mul_f64(jitter.clamp(0.0, 1.0));
        let wait = match error.retry_after() {
            // Never earlier than the server asked; spread over one backoff window after it.
            Some(server) if server > MAX_RETRY_DELAY => return Decision::GiveUp,
            Some(server) => server + spread,
            None => spread,
        };
        if waited + wait > self.max_total_wait {
            return Decision::GiveUp;
        }
        Decision::RetryAfter(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    fn secs(d: &Decision) -> f64 {
        match d {
            Decision::RetryAfter(d) => d.as_secs_f64(),
            Decision::GiveUp => panic!("gave up"),
        }
    }

    #[test]
    fn a_rate_limit_waits_at_least_the_servers_delay() {
        let e = ApiError::RateLimited { retry_after: Some(Duration::from_secs(7)) };
        assert_eq!(secs(&policy().decide(&e, 1, Duration::ZERO, 0.0)), 7.0);
        assert!((secs(&policy().decide(&e, 1, Duration::ZERO, 0.999)) - 8.0).abs() < 0.01);
    }

    #[test]
    fn a_server_error_with_a_retry_after_waits_at_least_that_long() {
        let e = ApiError::Server { status: 503, overloaded: false, retry_after: Some(Duration::from_secs(3)) };
        assert_eq!(secs(&policy().decide(&e, 1, Duration::ZERO, 0.0)), 3.0, "not earlier than the server asked");
        assert!((secs(&policy().decide(&e, 1, Duration::ZERO, 0.999)) - 4.0).abs() < 0.01);
        let later = policy().decide(&e, 4, Duration::ZERO, 0.5);
        assert_eq!(secs(&later), 7.0, "the server's delay, then half of the 8 s window");
        for status in [408, 500, 504] {
            let e = ApiError::Server { status, overloaded: false, retry_after: Some(Duration::from_secs(5)) };
            assert!(secs(&policy().decide(&e, 1, Duration::ZERO, 0.5)) >= 5.0, "{status}");
        }
    }

    #[test]
    fn a_server_delay_too_long_to_wait_gives_up() {
        let e = ApiError::Server { status: 503, overloaded: false, retry_after: Some(Duration::from_secs(900)) };
        assert_eq!(policy().decide(&e, 1, Duration::ZERO, 0.5), Decision::GiveUp);
        assert!(e.to_string().contains("try again in 15m"), "{e}");
    }

    #[test]
    fn server_errors_back_off_exponentially_with_jitter() {
        let e = ApiError::Server { status: 503, overloaded: true, retry_after: None };
        let top: Vec<f64> = (1..5).map(|n| secs(&policy().decide(&e, n, Duration::ZERO, 1.0))).collect();
        assert_eq!(top, [1.0, 2.0, 4.0, 8.0]);
        assert_eq!(secs(&policy().decide(&e, 1, Duration::ZERO, 0.0)), 0.0);
        assert!((secs(&policy().decide(&e, 3, Duration::ZERO, 0.5)) - 2.0).abs() < 1e-9);
        let late = RetryPolicy { max_attempts: 20, ..policy() };
        assert_eq!(secs(&late.decide(&e, 12, Duration::ZERO, 1.0)), 30.0, "capped");
    }

    #[test]
    fn a_herd_failing_together_spreads_over_the_whole_backoff_window() {
        // Ten calls hit by the same 503 on their third attempt (a 4 s window), with the
        // engine's jitter source on a fixed seed.
        let e = ApiError::Server { status: 503, overloaded: true, retry_after: None };
        let mut rng = fastrand::Rng::with_seed(21);
        let waits: Vec<f64> = (0..10).map(|_| secs(&policy().decide(&e, 3, Duration::ZERO, rng.f64()))).collect();
        let (min, max) = waits.iter().fold((f64::MAX, 0.0f64), |(lo, hi), w| (lo.min(*w), hi.max(*w)));
        assert!(waits.iter().all(|w| (0.0..=4.0).contains(w)), "{waits:?}");
        assert!(min < 1.0 && max > 2.0 && max - min > 2.0, "spread over the window, not a band: {waits:?}");
        // No two retries land within 10 ms of each other.
        let mut sorted = waits.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(sorted.windows(2).all(|p| p[1] - p[0] > 0.01), "{sorted:?}");
    }

    #[test]
    fn attempts_and_total_wait_are_bounded() {
        let e = ApiError::Truncated { detail: String::new() };
        assert_eq!(policy().decide(&e, 5, Duration::ZERO, 0.5), Decision::GiveUp);
        assert_eq!(policy().decide(&e, 2, Duration::from_secs(299), 0.9), Decision::GiveUp);
    }

    #[test]
    fn requests_that_cannot_succeed_are_never_retried() {
        let never = [
            ApiError::BadKey,
            ApiError::NoKey,
            ApiError::BadRequest { detail: String::new() },
            ApiError::PermissionDenied { detail: String::new() },
            ApiError::ModelNotFound { model: "m".into() },
            ApiError::PromptBlocked { reason: "safety".into() },
            ApiError::QuotaExhausted { retry_after: Some(Duration::from_secs(20)), daily: true },
            ApiError::RateLimited { retry_after: Some(Duration::from_secs(600)) },
        ];
        for e in never {
            assert_eq!(policy().decide(&e, 1, Duration::ZERO, 0.5), Decision::GiveUp, "{e:?}");
        }
    }
}
