//! When to try again, and how long to wait first. Pure decisions over an error and the
//! attempt count, so every rule is a unit test.

use std::time::Duration;

use crate::gemini::{ApiError, error::MAX_RETRY_DELAY};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Total time a job may spend waiting between attempts.
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
    /// waited `waited` between earlier attempts. `jitter` is uniform in [0, 1).
    pub fn decide(&self, error: &ApiError, attempt: u32, waited: Duration, jitter: f64) -> Decision {
        if !error.is_retryable() || attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let exponent = attempt.saturating_sub(1).min(16);
        let backoff = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        let wait = match error.retry_after() {
            // Never earlier than the server asked; spread by up to +20% so waiters do not
            // all return at the same instant.
            Some(server) if server > MAX_RETRY_DELAY => return Decision::GiveUp,
            Some(server) => server.max(backoff).mul_f64(1.0 + 0.2 * jitter),
            // ±30% around the exponential backoff.
            None => backoff.mul_f64(0.7 + 0.6 * jitter),
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
        assert!((secs(&policy().decide(&e, 1, Duration::ZERO, 0.999)) - 8.4).abs() < 0.01);
    }

    #[test]
    fn a_server_error_with_a_retry_after_waits_at_least_that_long() {
        let e = ApiError::Server { status: 503, overloaded: false, retry_after: Some(Duration::from_secs(3)) };
        assert_eq!(secs(&policy().decide(&e, 1, Duration::ZERO, 0.0)), 3.0, "not the 0.7 s backoff");
        assert!((secs(&policy().decide(&e, 1, Duration::ZERO, 0.999)) - 3.6).abs() < 0.01);
        let later = policy().decide(&e, 4, Duration::ZERO, 0.0);
        assert_eq!(secs(&later), 8.0, "a longer backoff still wins over a shorter server delay");
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
        let mid: Vec<f64> = (1..5).map(|n| secs(&policy().decide(&e, n, Duration::ZERO, 0.5))).collect();
        assert_eq!(mid, [1.0, 2.0, 4.0, 8.0]);
        assert!((secs(&policy().decide(&e, 1, Duration::ZERO, 0.0)) - 0.7).abs() < 1e-9);
        assert!((secs(&policy().decide(&e, 1, Duration::ZERO, 0.999)) - 1.3).abs() < 0.01);
        let late = RetryPolicy { max_attempts: 20, ..policy() };
        assert_eq!(secs(&late.decide(&e, 12, Duration::ZERO, 0.5)), 30.0, "capped");
    }

    #[test]
    fn attempts_and_total_wait_are_bounded() {
        let e = ApiError::Truncated { detail: String::new() };
        assert_eq!(policy().decide(&e, 5, Duration::ZERO, 0.5), Decision::GiveUp);
        assert_eq!(policy().decide(&e, 2, Duration::from_secs(299), 0.5), Decision::GiveUp);
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
