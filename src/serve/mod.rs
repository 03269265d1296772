//! `geminal serve`: the turn runner opened to every program on the machine over HTTP — an
//! OpenAI-compatible API (`/v1/chat/completions`, `/v1/models`), Gemini's own
//! (`/v1beta/models/...`) and the server's own (`/health`, `/ready`, `/info`, `/metrics`), on
//! axum. Every request goes through the same [`Runner`] as the CLI (cache, history, prices,
//! budgets), saved as a conversation tagged with its client key's name (`answer`). Admission:
//! the `Host` check and CORS (`guard`), the client key (`keys`), the key's limits and the
//! server's places (`limits`). Errors are data in each API's own shape (`reject`); the counters
//! are `metrics`; the CLI words what stops the start.

mod answer;
mod google;
mod guard;
pub mod keys;
pub mod limits;
mod metrics;
mod openai;
pub mod reject;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::chat::NamedRole;
use crate::config::{Budgets, ServeFile};
use crate::turn::Runner;
use keys::{Auth, KeyLimits};
use limits::{Limiter, LocalLimiter, Slots};
use reject::{Reject, Why};

/// Where `serve` listens unless told.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// The largest request body unless `[serve] max_body_bytes` says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 20 * 1024 * 1024;
pub const DEFAULT_MAX_CONCURRENT: usize = 16;
pub const DEFAULT_MAX_QUEUE: usize = 64;
/// How long a request's body may take to arrive unless `[serve] body_timeout_secs` says.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A model reference that starts with this names a role (`role:coder`). It would read as
/// provider `role`'s model, so serve refuses to start while a provider or pool is named `role`.
pub const ROLE_PREFIX: &str = "role:";

/// What the server runs with.
pub struct Served {
    /// Turns answered from the cache when they would be.
    pub runner: Runner,
    /// The same session without the cache (`Cache-Control: no-cache`).
    pub fresh: Runner,
    pub auth: Auth,
    pub limiter: Arc<dyn Limiter>,
    pub slots: Slots,
    pub budgets: Budgets,
    pub roles: Vec<NamedRole>,
    /// Cancelled: every running answer stops (saved as interrupted).
    pub cancel: CancellationToken,
    /// Cancelled: the server stops accepting; nothing new starts (503 `shutting_down`).
    pub stopping: CancellationToken,
    pub metrics: metrics::Metrics,
    pub limits: Limits,
    /// The model a request's conversation starts with when it names a role without one.
    pub default_model: String,
    /// What each client key's answers running now may cost at worst, counted against its
    /// budgets with what it spent (so requests at once cannot pass them together).
    pub key_holds: Arc<std::sync::Mutex<std::collections::HashMap<String, crate::money::Usd>>>,
}

/// The settings of `[serve]` with their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_concurrent: usize,
    pub max_queue: usize,
    pub max_body_bytes: usize,
    /// A body slower than this gets 408 (a slow client does not hold a place).
    pub body_timeout: Duration,
}

impl Limits {
    pub fn of(file: &ServeFile) -> Limits {
        Limits {
            max_concurrent: file.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT).max(1),
            max_queue: file.max_queue.unwrap_or(DEFAULT_MAX_QUEUE),
            max_body_bytes: file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            body_timeout: file
                .body_timeout_secs
                .filter(|s| s.is_finite() && *s > 0.0)
                .map_or(DEFAULT_BODY_TIMEOUT, Duration::from_secs_f64),
        }
    }
}

impl Served {
    pub fn new(
        runner: Runner,
        fresh: Runner,
        auth: Auth,
        limits: &Limits,
        budgets: Budgets,
        roles: Vec<NamedRole>,
        default_model: String,
    ) -> Served {
        Served {
            metrics: metrics::Metrics::default(),
            limits: limits.clone(),
            default_model,
            runner,
            fresh,
            auth,
            limiter: Arc::new(LocalLimiter::default()),
            slots: Slots::new(limits.max_concurrent, limits.max_queue),
            budgets,
            roles,
            cancel: CancellationToken::new(),
            stopping: CancellationToken::new(),
            key_holds: Arc::default(),
        }
    }
}

/// The client a request was authenticated as.
#[derive(Debug, Clone)]
pub struct Client {
    pub name: String,
    pub limits: KeyLimits,
}

impl Served {
    /// A refused request: counted by reason, answered in the route's API's shape.
    pub fn refuse(&self, client: Option<&str>, reject: Reject, api: reject::Api) -> axum::response::Response {
        self.metrics.rejected(client, reject.why);
        reject.into_response(api)
    }

    /// The request's client, from `Authorization: Bearer`, `x-goog-api-key` or `?key=`.
    pub fn authenticate(&self, headers: &HeaderMap, uri: &Uri) -> Result<Client, Reject> {
        if self.auth.is_open() {
            return Ok(Client { name: keys::OPEN_NAME.to_owned(), limits: KeyLimits::default() });
        }
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let goog = headers.get("x-goog-api-key").and_then(|v| v.to_str().ok());
        // `?key=` as Google's SDKs send it (percent-decoded).
        let query = axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
            .ok()
            .and_then(|q| q.0.get("key").cloned());
        let sent = bearer.or(goog).map(str::to_owned).or(query);
        match self.auth.check(sent.as_deref()) {
            Some(key) => Ok(Client { name: key.name.clone(), limits: key.limits.clone() }),
            None if sent.is_none() => Err(Reject::new(
                Why::Unauthenticated,
                "No client key was sent: send it as `Authorization: Bearer KEY` (or `x-goog-api-key`).",
            )),
            None => Err(Reject::new(Why::Unauthenticated, "The client key is not one this server knows.")),
        }
    }
}

/// The routes, behind the Host check and CORS.
pub fn router(served: Arc<Served>, listen: SocketAddr, cors_origins: Vec<String>) -> Router {
    let guard = Arc::new(guard::Guard { listen, cors_origins });
    Router::new()
        .route("/health", get(status::health))
        .route("/ready", get(status::ready))
        .route("/info", get(status::info))
        .route("/metrics", get(status::metrics))
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1beta/models", get(google::models))
        .route("/v1beta/models/{call}", post(google::model_call))
        // Gemini's v1 (google-genai's default in some versions): the same calls.
        .route("/v1/models/{call}", post(google::model_call))
        .with_state(served)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

/// How long running answers may go on once [`Served::stopping`] is cancelled; then (or once
/// [`Served::cancel`] is) they stop, each saved as interrupted.
pub struct Shutdown {
    pub drain: Duration,
}

/// Serves on `listener` until told to stop, then drains.
pub async fn run(
    listener: tokio::net::TcpListener,
    router: Router,
    served: Arc<Served>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let stop = served.stopping.clone();
    // No Nagle: a streamed answer's small writes go out at once, not after the client's delayed
    // ACK (up to 40 ms a chunk).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        done = &mut server => return done,
        () = served.stopping.cancelled() => {}
    }
    // Stopped accepting: the answers running get `drain` to finish (or a second signal).
    tokio::select! {
        done = &mut server => return done,
        () = tokio::time::sleep(shutdown.drain) => served.cancel.cancel(),
        () = served.cancel.cancelled() => {}
    }
    // Cancelled answers are saved as interrupted, then their streams end.
    match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
        Ok(done) => done,
        Err(_) => Ok(()),
    }
}
