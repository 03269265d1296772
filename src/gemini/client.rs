//! `Client`: the HTTP side of the Gemini API (stream, generate, models, countTokens) over one
//! pooled `reqwest::Client`. The key travels only in the `x-goog-api-key` header, marked
//! sensitive; it is never in a URL, an error or a `Debug` string.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::error::{ApiError, TimeoutPhase};
use super::stream::AnswerStream;
use super::types::{
    CountTokensInner, CountTokensRequest, CountTokensResponse, GenerateContentRequest, GenerateContentResponse,
    ListModelsResponse, Model,
};
use crate::net::{Timeouts, check_base_url};
use crate::sanitize::one_line;

pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
pub const API_VERSION: &str = "v1beta";
const API_KEY_HEADER: &str = "x-goog-api-key";
/// An error body bigger than this is not read further (it would be a proxy page, not Gemini).
pub(super) const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// `list_models` follows at most this many pages, in case a server repeats its page token.
const MAX_MODEL_PAGES: usize = 100;

/// What a [`Client`] needs: where to talk, with which key, and how patiently.
#[derive(Clone)]
pub struct ClientOptions {
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

#[derive(Clone)]
pub struct Client {
    pub(super) http: reqwest::Client,
    /// `<base>/v1beta`, without a trailing slash.
    pub(super) api_root: String,
    key: Option<SecretString>,
    pub(super) timeouts: Timeouts,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_root", &self.api_root)
            .field("api_key", &self.key.as_ref().map(|_| "[REDACTED]"))
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Self, ApiError> {
        let base = options.base_url.trim().trim_end_matches('/');
        check_base_url(base).map_err(|reason| ApiError::Network {
            detail: format!("the base URL '{}' {reason}", one_line(base, 80)),
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(options.timeouts.connect)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("geminal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Network {
                detail: format!("the HTTP client could not start: {}", one_line(&error_chain(&e), 120).to_lowercase()),
            })?;
        Ok(Client { http, api_root: format!("{base}/{API_VERSION}"), key: options.api_key, timeouts: options.timeouts })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Starts a streamed answer. Returns once the server has accepted it (HTTP 200).
    pub async fn stream_generate(
        &self,
        model: &str,
        request: &GenerateContentRequest,
    ) -> Result<AnswerStream, ApiError> {
        let url = format!("{}/{}:streamGenerateContent?alt=sse", self.api_root, model_path(model)?);
        let started = Instant::now();
        let response = self.send(self.http.post(url), Some(request), Some(model), started).await?;
        let body = Box::pin(response.bytes_stream());
        Ok(AnswerStream::new(body, model, self.key_text(), started, self.timeouts.first_token, self.timeouts.idle))
    }

    /// One whole answer (no streaming).
    pub async fn generate(
        &self,
        model: &str,
        request: &GenerateContentRequest,
    ) -> Result<GenerateContentResponse, ApiError> {
        let url = format!("{}/{}:generateContent", self.api_root, model_path(model)?);
        let answer: GenerateContentResponse = self.call_json(self.http.post(url), Some(request), Some(model)).await?;
        if let Some(body) = &answer.error {
            return Err(ApiError::from_stream_error(body, Some(model), self.key_text().as_deref()));
        }
        Ok(answer)
    }

    /// Counts the prompt tokens `request` would use on `model`.
    pub async fn count_tokens(&self, model: &str, request: &GenerateContentRequest) -> Result<u64, ApiError> {
        let path = model_path(model)?;
        let url = format!("{}/{}:countTokens", self.api_root, path);
        let body =
            CountTokensRequest { generate_content_request: CountTokensInner { model: path, request: request.clone() } };
        let counted: CountTokensResponse = self.call_json(self.http.post(url), Some(&body), Some(model)).await?;
        Ok(counted.total_tokens)
    }

    /// One model's description (its token limits).
    pub async fn model(&self, model: &str) -> Result<Model, ApiError> {
        let path = model_path(model)?;
        let url = format!("{}/{}", self.api_root, path);
        self.call_json::<(), _>(self.http.get(url), None, Some(model)).await
    }

    /// One page of the model list.
    pub async fn list_models_page(
        &self,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<ListModelsResponse, ApiError> {
        let mut url = reqwest::Url::parse(&format!("{}/models", self.api_root))
            .map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
        url.query_pairs_mut().append_pair("pageSize", &page_size.to_string());
        if let Some(token) = page_token {
            url.query_pairs_mut().append_pair("pageToken", token);
        }
        self.call_json::<(), _>(self.http.get(url), None, None).await
    }

    /// Every model the key can see, following page tokens.
    pub async fn list_models(&self) -> Result<Vec<Model>, ApiError> {
        let mut models = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_MODEL_PAGES {
            let page = self.list_models_page(1000, token.as_deref()).await?;
            models.extend(page.models);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => break,
            }
        }
        Ok(models)
    }

    pub(super) fn key_text(&self) -> Option<String> {
        self.key.as_ref().map(|k| k.expose_secret().to_owned())
    }

    /// The headers of every request: the key and the client's name. A request with a body adds
    /// its own `content-type` (one per request: a strict server refuses a repeated one).
    pub(super) fn headers(&self) -> Result<HeaderMap, ApiError> {
        let key =
            self.key.as_ref().map(|k| k.expose_secret().trim()).filter(|k| !k.is_empty()).ok_or(ApiError::NoKey)?;
        let mut value = HeaderValue::from_str(key).map_err(|_| ApiError::BadKey)?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(API_KEY_HEADER, value);
        headers.insert("x-goog-api-client", HeaderValue::from_static(concat!("geminal/", env!("CARGO_PKG_VERSION"))));
        Ok(headers)
    }

    pub(super) async fn call_json<B: Serialize, T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
        body: Option<&B>,
        model: Option<&str>,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let deadline = started + self.timeouts.first_token;
        let response = self.send(builder, body, model, started).await?;
        let bytes = tokio::time::timeout_at(deadline, response.bytes())
            .await
            .map_err(|_| ApiError::Timeout { phase: TimeoutPhase::FirstToken, after: self.timeouts.first_token })?
            .map_err(|_| ApiError::Truncated { detail: "the connection was cut mid-response".to_owned() })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Protocol { detail: format!("the response is not the expected JSON: {e}") })
    }

    /// Sends a request and returns the response if its status is a success, else its error.
    pub(super) async fn send<B: Serialize>(
        &self,
        builder: reqwest::RequestBuilder,
        body: Option<&B>,
        model: Option<&str>,
        started: Instant,
    ) -> Result<reqwest::Response, ApiError> {
        let mut builder = builder.headers(self.headers()?);
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json")).body(json);
        }
        self.send_built(builder, model, started).await
    }

    /// Sends a request whose headers and body are set; the response if its status is a success.
    pub(super) async fn send_built(
        &self,
        builder: reqwest::RequestBuilder,
        model: Option<&str>,
        started: Instant,
    ) -> Result<reqwest::Response, ApiError> {
        let deadline = started + self.timeouts.first_token;
        let sent = tokio::time::timeout_at(deadline, builder.send())
            .await
            .map_err(|_| ApiError::Timeout { phase: TimeoutPhase::FirstToken, after: self.timeouts.first_token })?;
        let response = sent.map_err(|e| self.send_error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text =
            tokio::time::timeout_at(deadline, read_capped(response, MAX_ERROR_BODY_BYTES)).await.unwrap_or_default();
        let key = self.key_text();
        Err(ApiError::from_status(status.as_u16(), &text, retry_after.as_deref(), model, key.as_deref()))
    }

    fn send_error(&self, e: reqwest::Error) -> ApiError {
        let e = e.without_url();
        if e.is_connect() && e.is_timeout() {
            return ApiError::Timeout { phase: TimeoutPhase::Connect, after: self.timeouts.connect };
        }
        ApiError::Network { detail: one_line(&self.redact(&error_chain(&e)), 120).to_lowercase() }
    }

    /// `text` (a server's or the network's words) without the key, to show or keep. Redact
    /// before cutting the text: a key cut in two is no longer found.
    pub fn redact(&self, text: &str) -> String {
        let key = self.key.as_ref().map(|k| k.expose_secret().trim()).filter(|k| !k.is_empty());
        crate::sanitize::redact(text, key.as_slice())
    }
}

/// The innermost cause of an error, which is the one a person can act on
/// ("Connection refused", "failed to lookup address information"), whole: redact, then cut.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    let text = last.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    text.to_owned()
}

pub(super) async fn read_capped(mut response: reqwest::Response, cap: usize) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= cap {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// `gemini-2.5-flash` -> `models/gemini-2.5-flash`; rejects names that could alter the URL.
pub fn model_path(model: &str) -> Result<String, ApiError> {
    let model = model.trim();
    let (prefix, id) = match model.split_once('/') {
        Some((p @ ("models" | "tunedModels"), id)) => (p, id),
        _ => ("models", model),
    };
    let valid = !id.is_empty()
        && id.len() <= 128
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid {
        return Err(ApiError::ModelNotFound { model: model.to_owned() });
    }
    Ok(format!("{prefix}/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_are_normalised_and_checked() {
        assert_eq!(model_path("gemini-2.5-flash").unwrap(), "models/gemini-2.5-flash");
        assert_eq!(model_path("models/gemini-flash-latest").unwrap(), "models/gemini-flash-latest");
        assert_eq!(model_path("tunedModels/my-model_1").unwrap(), "tunedModels/my-model_1");
        for bad in ["", "a/b", "x?key=1", "x#y", "x y", "models/"] {
            assert!(model_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_of_options_and_client_hides_the_key() {
        let options = ClientOptions {
            base_url: "http://127.0.0.1:1".into(),
            api_key: Some(SecretString::from("AIzaSECRET-123")),
            timeouts: Timeouts::default(),
        };
        let client = Client::new(options.clone()).unwrap();
        for text in [format!("{options:?}"), format!("{client:?}"), format!("{options:#?}")] {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("[REDACTED]"), "{text}");
        }
    }

    #[test]
    fn the_key_header_is_marked_sensitive() {
        let client = Client::new(ClientOptions {
            base_url: "http://127.0.0.1:1".into(),
            api_key: Some(SecretString::from(" key-with-spaces-trimmed ")),
            timeouts: Timeouts::default(),
        })
        .unwrap();
        let headers = client.headers().unwrap();
        let key = headers.get(API_KEY_HEADER).unwrap();
        assert!(key.is_sensitive());
        assert_eq!(key.to_str().unwrap(), "key-with-spaces-trimmed");
        assert!(!format!("{headers:?}").contains("key-with"));
    }

    #[test]
    fn base_urls_must_be_http() {
        let make = |url: &str| {
            Client::new(ClientOptions { base_url: url.into(), api_key: None, timeouts: Timeouts::default() })
        };
        assert!(make("ftp://x").is_err());
        assert!(make("not a url").is_err());
        assert!(make("http://127.0.0.1:8080/").is_ok());
        assert_eq!(make("http://h/prefix/").unwrap().api_root, "http://h/prefix/v1beta");
    }
}
