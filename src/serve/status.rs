//! The server's own routes: `/health` (alive; no key), `/ready` (the providers answer; no key,
//! no detail), `/info` (the limits and models as the calling key sees them) and `/metrics`
//! (the counters in the OpenMetrics text format; a client key, as every other route).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::reject::Api;
use super::{ROLE_PREFIX, Served};

pub(super) async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready when the providers list their models.
pub(super) async fn ready(State(served): State<Arc<Served>>) -> Response {
    match served.runner.session().list_models().await {
        Ok(_) => axum::Json(json!({"status": "ready"})).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "unavailable"}))).into_response(),
    }
}

pub(super) async fn info(State(served): State<Arc<Served>>, headers: HeaderMap, uri: Uri) -> Response {
    let client = match served.authenticate(&headers, &uri) {
        Ok(client) => client,
        Err(reject) => return served.refuse(None, reject, Api::OpenAi),
    };
    let limits = &client.limits;
    let roles: Vec<String> =
        served.roles.iter().map(|r| format!("{ROLE_PREFIX}{}", r.name)).filter(|name| limits.allows(name)).collect();
    let dollars = |usd: Option<crate::money::Usd>| usd.map(|u| u.as_dollars());
    axum::Json(json!({
        "client": client.name,
        "default_model": served.default_model,
        "roles": roles,
        "key": {
            "rpm": limits.rpm,
            "tpm": limits.tpm,
            "max_concurrent": limits.max_concurrent,
            "daily_budget": dollars(limits.daily_budget),
            "monthly_budget": dollars(limits.monthly_budget),
            "models": limits.models.as_ref().map(|globs| globs.iter().map(|g| g.as_str().to_owned()).collect::<Vec<_>>()),
        },
        "server": {
            "max_concurrent": served.limits.max_concurrent,
            "max_queue": served.limits.max_queue,
            "max_body_bytes": served.limits.max_body_bytes,
            "in_flight": served.slots.in_flight(),
            "queued": served.slots.queued(),
            "daily_budget": dollars(served.budgets.daily),
            "monthly_budget": dollars(served.budgets.monthly),
        },
    }))
    .into_response()
}

pub(super) async fn metrics(State(served): State<Arc<Served>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(reject) = served.authenticate(&headers, &uri) {
        return served.refuse(None, reject, Api::OpenAi);
    }
    let text = served.metrics.render(served.slots.in_flight(), served.slots.queued());
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
