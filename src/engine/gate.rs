//! Per-model admission: a request-rate limiter (GCRA, evenly spaced, no bursts) and a shared
//! "cool down until" instant that a 429 pushes forward for every call of the model.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

pub struct ModelGate {
    limiter: Option<DefaultDirectRateLimiter>,
    cool_until: Mutex<Option<Instant>>,
}

impl ModelGate {
    pub fn new(rpm: Option<u32>) -> Self {
        let limiter = rpm.and_then(NonZeroU32::new).and_then(|rpm| {
            // One request every 60/rpm seconds, never a burst: any 60 s window holds at most `rpm`.
            let period = Duration::from_secs(60) / rpm.get();
            Quota::with_period(period).map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)))
        });
        ModelGate { limiter, cool_until: Mutex::new(None) }
    }

    /// Waits until a request for this model may start.
    pub async fn pass(&self) {
        loop {
            let until = self.cool_until.lock().map(|u| *u).unwrap_or(None);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    /// Holds every request for this model until `until` (never moves it earlier).
    pub fn cool_down(&self, until: Instant) {
        if let Ok(mut current) = self.cool_until.lock() {
            *current = Some(current.map_or(until, |c| c.max(until)));
        }
    }
}
