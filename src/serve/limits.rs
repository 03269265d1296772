//! Admission: each client key's requests and tokens a minute and answers at once (429 with
//! `Retry-After`), then the server's places (`max_concurrent`) and their queue (`max_queue`;
//! past it, 503 "busy"). The per-key limiter is behind [`Limiter`], so a store shared by several
//! servers can take its place without touching the routes.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::keys::KeyLimits;

/// A request a key's limits turned away, and how long until one would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Rpm(Duration),
    Tpm(Duration),
    /// The key's answers in flight.
    Concurrent,
    /// More tokens than the key's tpm allows in a minute.
    TooManyTokens,
}

/// Held while a request runs: gives the key's place back when dropped.
pub type KeyPermit = Option<OwnedSemaphorePermit>;

/// Per-key admission.
pub trait Limiter: Send + Sync {
    /// Admits one request of about `tokens` prompt tokens for client `client`.
    fn admit(&self, client: &str, limits: &KeyLimits, tokens: u32) -> Result<KeyPermit, Limited>;
}

/// Every key's counters in this process (governor's GCRA buckets and a semaphore per key).
#[derive(Default)]
pub struct LocalLimiter {
    keys: Mutex<HashMap<String, Arc<KeyState>>>,
}

struct KeyState {
    rpm: Option<DefaultDirectRateLimiter>,
    tpm: Option<DefaultDirectRateLimiter>,
    slots: Option<Arc<Semaphore>>,
}

fn per_minute(n: Option<u32>) -> Option<DefaultDirectRateLimiter> {
    n.and_then(NonZeroU32::new).map(|n| RateLimiter::direct(Quota::per_minute(n)))
}

impl LocalLimiter {
    fn state(&self, client: &str, limits: &KeyLimits) -> Arc<KeyState> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.entry(client.to_owned())
            .or_insert_with(|| {
                Arc::new(KeyState {
                    rpm: per_minute(limits.rpm),
                    tpm: per_minute(limits.tpm),
                    slots: limits.max_concurrent.map(|n| Arc::new(Semaphore::new(n))),
                })
            })
            .clone()
    }
}

impl Limiter for LocalLimiter {
    fn admit(&self, client: &str, limits: &KeyLimits, tokens: u32) -> Result<KeyPermit, Limited> {
        let state = self.state(client, limits);
        let permit = match &state.slots {
            Some(slots) => Some(slots.clone().try_acquire_owned().map_err(|_| Limited::Concurrent)?),
            None => None,
        };
        let clock = DefaultClock::default();
        if let Some(rpm) = &state.rpm {
            rpm.check().map_err(|n| Limited::Rpm(n.wait_time_from(clock.now())))?;
        }
        if let (Some(tpm), Some(n)) = (&state.tpm, NonZeroU32::new(tokens)) {
            match tpm.check_n(n) {
                Ok(Ok(())) => {}
                Ok(Err(n)) => return Err(Limited::Tpm(n.wait_time_from(clock.now()))),
                Err(_) => return Err(Limited::TooManyTokens),
            }
        }
        Ok(permit)
    }
}

/// The server's places for answers in flight, and the queue in front of them.
pub struct Slots {
    places: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_queue: usize,
}

/// A place taken: given back when dropped.
pub struct Place {
    _permit: OwnedSemaphorePermit,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a request in the queue while it waits (also when its client goes away meanwhile).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    pub fn new(max_concurrent: usize, max_queue: usize) -> Slots {
        Slots {
            places: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queued: Arc::default(),
            in_flight: Arc::default(),
            max_queue,
        }
    }

    /// A place now, or after waiting in the queue; `None`: the queue is full (busy).
    pub async fn take(&self) -> Option<Place> {
        let permit = match self.places.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
                    self.queued.fetch_sub(1, Ordering::SeqCst);
                    return None;
                }
                let _waiting = Waiting(self.queued.clone());
                self.places.clone().acquire_owned().await.ok()?
            }
        };
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Some(Place { _permit: permit, in_flight: self.in_flight.clone() })
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_rpm_turns_the_next_request_away_with_a_wait() {
        let limiter = LocalLimiter::default();
        let limits = KeyLimits { rpm: Some(2), ..Default::default() };
        assert!(limiter.admit("a", &limits, 10).is_ok());
        assert!(limiter.admit("a", &limits, 10).is_ok());
        match limiter.admit("a", &limits, 10) {
            Err(Limited::Rpm(wait)) => assert!(wait > Duration::from_secs(20), "{wait:?}"),
            other => panic!("{other:?}"),
        }
        // Another key has its own counters.
        assert!(limiter.admit("b", &limits, 10).is_ok());
    }

    #[test]
    fn a_keys_tpm_and_concurrency() {
        let limiter = LocalLimiter::default();
        let limits = KeyLimits { tpm: Some(100), max_concurrent: Some(1), ..Default::default() };
        assert_eq!(limiter.admit("a", &limits, 500).unwrap_err(), Limited::TooManyTokens);
        let held = limiter.admit("a", &limits, 60).unwrap();
        assert_eq!(limiter.admit("a", &limits, 10).unwrap_err(), Limited::Concurrent);
        drop(held);
        assert!(matches!(limiter.admit("a", &limits, 60), Err(Limited::Tpm(_))));
    }

    #[tokio::test]
    async fn the_queue_past_its_bound_is_busy() {
        let slots = Arc::new(Slots::new(1, 1));
        let first = slots.take().await.unwrap();
        let waiting = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.take().await.is_some() })
        };
        while slots.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(slots.take().await.is_none(), "the queue is full");
        drop(first);
        assert!(waiting.await.unwrap());
        assert_eq!(slots.in_flight(), 0);
    }
}
