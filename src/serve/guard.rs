//! What every request passes before its route: the `Host` header must name the listen address or
//! `localhost` (a page on another name that resolves here, DNS rebinding, is refused with 421),
//! and CORS headers go only to the origins `[serve] cors_origins` names (none by default).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Where the server listens and whom browsers may let call it.
#[derive(Debug, Clone)]
pub struct Guard {
    pub listen: SocketAddr,
    pub cors_origins: Vec<String>,
}

impl Guard {
    /// Whether a `Host` header value names this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim();
        // "[::1]:8787", "127.0.0.1:8787", "localhost", "localhost:8787"
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(':') && port.chars().all(|c| c.is_ascii_digit()) => {
                (name, Some(port))
            }
            _ => (host, None),
        };
        if port.is_some_and(|p| p.parse::<u16>().ok() != Some(self.listen.port())) {
            return false;
        }
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        match name.parse::<IpAddr>() {
            // Listening on every address: any address literal names it (a rebinding page has a name).
            Ok(ip) => ip == self.listen.ip() || self.listen.ip().is_unspecified(),
            Err(_) => false,
        }
    }

    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.cors_origins.iter().any(|o| o == text).then(|| origin.clone())
    }
}

/// The middleware: Host first, then CORS (a preflight is answered here).
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(host) if guard.host_allowed(host) => {}
        Some(_) => {
            return (StatusCode::MISDIRECTED_REQUEST, "This server answers only to its own address or localhost.\n")
                .into_response();
        }
        None => return (StatusCode::BAD_REQUEST, "A Host header is required.\n").into_response(),
    }
    let origin = guard.allowed_origin(request.headers());
    if request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        if let Some(origin) = origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, x-goog-api-key, cache-control"),
            );
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        return response;
    }
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-geminal-cache, retry-after"));
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str) -> Guard {
        Guard { listen: listen.parse().unwrap(), cors_origins: Vec::new() }
    }

    #[test]
    fn only_the_listen_address_or_localhost() {
        let g = guard("127.0.0.1:8787");
        assert!(g.host_allowed("127.0.0.1:8787"));
        assert!(g.host_allowed("localhost:8787"));
        assert!(g.host_allowed("LOCALHOST"));
        assert!(!g.host_allowed("evil.example:8787"));
        assert!(!g.host_allowed("127.0.0.1:9999"));
        assert!(!g.host_allowed("10.0.0.1:8787"));
        let any = guard("0.0.0.0:8787");
        assert!(any.host_allowed("192.168.1.5:8787"));
        assert!(!any.host_allowed("attacker.example:8787"));
        let v6 = guard("[::1]:8787");
        assert!(v6.host_allowed("[::1]:8787"));
        assert!(!v6.host_allowed("[::2]:8787"));
    }
}
