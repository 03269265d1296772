//! Transport every provider shares, knowing no provider's JSON: the SSE decoder ([`sse`]), the
//! watchdog budgets ([`Timeouts`]), the server's retry hints ([`retry`]) and the check that a
//! configured base URL can be an API root. It imports nothing from the crate.

pub mod retry;
pub mod sse;

use std::time::Duration;

pub use retry::{MAX_RETRY_DELAY, parse_proto_duration, parse_retry_after_header};

/// Watchdogs for one request. `first_token` counts from sending until the first stream event
/// (headers included); `idle` is the longest allowed gap between events after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_token: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(120),
            idle: Duration::from_secs(60),
        }
    }
}

/// Whether `base` can be the API host root: an absolute http(s) URL with a host and no query.
/// The error completes "the base URL ... " ("is not a valid URL").
pub fn check_base_url(base: &str) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(base.trim().trim_end_matches('/')).map_err(|_| "is not a valid URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) || url.query().is_some() {
        return Err("is not an http(s) address");
    }
    Ok(())
}
