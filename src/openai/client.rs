//! `OpenAiClient`: a provider speaking the OpenAI chat completions API with streaming (OpenAI,
//! OpenRouter, Ollama, llama.cpp's server, vLLM, LM Studio, Gemini's OpenAI endpoint). The key,
//! when there is one, travels only as `Authorization: Bearer`, marked sensitive.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::stream::answer_stream;
use super::wire::{ChatRequest, ErrorEnvelope, ModelList, chat_request};
use crate::llm::{ApiError, Capabilities, EventStream, ModelInfo, Request, TimeoutPhase};
use crate::net::{MAX_RETRY_DELAY, Timeouts, parse_retry_after_header};
use crate::sanitize::{one_line, redacted_line};

/// A configured header value this long or longer is treated as a secret.
const MIN_SECRET_HEADER_CHARS: usize = 8;

/// What an [`OpenAiClient`] needs.
#[derive(Clone)]
pub struct OpenAiOptions {
    /// The provider's name in the config (for messages and `provider:model` names).
    pub name: String,
    /// Up to and including the API version (`http://localhost:11434/v1`).
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// The variable the key comes from; set means the provider needs a key.
    pub api_key_env: Option<String>,
    /// Extra headers for every request (OpenRouter's `HTTP-Referer`, a proxy's token...).
    pub headers: Vec<(String, String)>,
    /// When given, the model list (no `GET /models`).
    pub models: Vec<String>,
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for OpenAiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiOptions")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("api_key_env", &self.api_key_env)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    root: String,
    options: OpenAiOptions,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClient").field("options", &self.options).finish_non_exhaustive()
    }
}

impl OpenAiClient {
    pub fn new(options: OpenAiOptions) -> Result<Self, ApiError> {
        let root = options.base_url.trim().trim_end_matches('/').to_owned();
        crate::net::check_base_url(&root).map_err(|reason| ApiError::Network {
            detail: format!("the base URL '{}' of provider {} {reason}", one_line(&root, 80), options.name),
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(options.timeouts.connect)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("geminal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Network { detail: format!("the HTTP client could not start: {e}") })?;
        Ok(OpenAiClient { http, root, options })
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }

    fn key(&self) -> Option<&str> {
        self.options.api_key.as_ref().map(|k| k.expose_secret().trim()).filter(|k| !k.is_empty())
    }

    fn headers(&self) -> Result<HeaderMap, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.options.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
                headers.insert(name, value);
            }
        }
        match (self.key(), &self.options.api_key_env) {
            (Some(key), _) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| self.key_rejected())?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            (None, Some(env)) => {
                return Err(ApiError::NoProviderKey { provider: self.options.name.clone(), env: env.clone() });
            }
            (None, None) => {}
        }
        Ok(headers)
    }

    fn key_rejected(&self) -> ApiError {
        ApiError::ProviderKeyRejected { provider: self.options.name.clone(), env: self.options.api_key_env.clone() }
    }

    /// `provider:model`, as the user names it.
    fn shown(&self, model: &str) -> String {
        format!("{}:{model}", self.options.name)
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        body: Option<&ChatRequest>,
        model: Option<&str>,
        started: Instant,
    ) -> Result<reqwest::Response, ApiError> {
        let mut builder = builder.headers(self.headers()?);
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(|e| ApiError::Protocol { detail: e.to_string() })?;
            builder = builder.body(json);
        }
        let first_token = self.options.timeouts.first_token;
        let deadline = started + first_token;
        let sent = tokio::time::timeout_at(deadline, builder.send())
            .await
            .map_err(|_| ApiError::Timeout { phase: TimeoutPhase::FirstToken, after: first_token })?;
        let response = sent.map_err(|e| self.send_error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let delay = retry_delay(response.headers());
        let text = tokio::time::timeout_at(deadline, response.text()).await.ok().and_then(Result::ok);
        Err(self.classify(status.as_u16(), text.as_deref().unwrap_or(""), delay, model))
    }

    fn send_error(&self, e: reqwest::Error) -> ApiError {
        let e = e.without_url();
        if e.is_connect() && e.is_timeout() {
            return ApiError::Timeout { phase: TimeoutPhase::Connect, after: self.options.timeouts.connect };
        }
        let detail = redacted_line(&error_chain(&e), &self.secrets(), 200);
        ApiError::Network { detail: format!("provider {}: {detail}", self.options.name) }
    }

    /// What must never show in an error: the key, and the values of the configured headers
    /// (a proxy's token travels there). Values shorter than [`MIN_SECRET_HEADER_CHARS`] are
    /// not secrets, and redacting them would garble the text.
    fn secrets(&self) -> Vec<String> {
        let headers = self.options.headers.iter().map(|(_, v)| v.trim()).filter(|v| v.len() >= MIN_SECRET_HEADER_CHARS);
        self.key().into_iter().chain(headers).map(str::to_owned).collect()
    }

    /// The error for a non-success status: the kinds the engine acts on, from OpenAI's codes.
    fn classify(&self, status: u16, body: &str, delay: Option<Duration>, model: Option<&str>) -> ApiError {
        let error = serde_json::from_str::<ErrorEnvelope>(body).map(|e| e.error).unwrap_or_default();
        let code = error.code.as_ref().and_then(|c| c.as_str().map(str::to_owned)).unwrap_or_default();
        let kind = error.kind.clone().unwrap_or_default();
        let mut detail = redacted_line(&error.message, &self.secrets(), 200);
        if detail.is_empty() {
            detail = format!("HTTP {status} from provider {}", self.options.name);
        }
        match status {
            401 => self.key_rejected(),
            403 => ApiError::PermissionDenied { detail },
            404 => {
                ApiError::ModelNotFound { model: model.map_or_else(|| self.options.name.clone(), |m| self.shown(m)) }
            }
            400 | 413 | 422
                if code == "context_length_exceeded" || error.message.contains("maximum context length") =>
            {
                ApiError::InputTooLong { tokens: None, limit: None }
            }
            429 if code == "insufficient_quota" || kind == "insufficient_quota" => {
                ApiError::QuotaExhausted { retry_after: delay, daily: false }
            }
            429 if delay.is_some_and(|d| d > MAX_RETRY_DELAY) => {
                ApiError::QuotaExhausted { retry_after: delay, daily: false }
            }
            429 => ApiError::RateLimited { retry_after: delay },
            408 | 500..=599 => ApiError::Server { status, overloaded: matches!(status, 503 | 529), retry_after: delay },
            _ => ApiError::BadRequest { detail },
        }
    }
}

/// The longest delay the server asks for: `retry-after` (seconds or a date), or OpenAI's
/// `x-ratelimit-reset-requests` / `-tokens` (`1s`, `6m0s`, `20ms`).
pub fn retry_delay(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = text(RETRY_AFTER.as_str()).and_then(parse_retry_after_header);
    let resets = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"].into_iter().filter_map(text);
    retry_after.into_iter().chain(resets.filter_map(parse_reset)).max()
}

/// `6m0s`, `1s`, `20ms`, `1h2m3.5s`, `0.5s`.
pub fn parse_reset(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" | "" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

impl OpenAiClient {
    /// Starts a streamed answer to `request` from `model`; returns once the server accepted it.
    pub async fn stream(&self, model: &str, request: &Request) -> Result<EventStream, ApiError> {
        let body = chat_request(model, &self.shown(model), request)?;
        let started = Instant::now();
        let url = format!("{}/chat/completions", self.root);
        let response = self.send(self.http.post(url), Some(&body), Some(model), started).await?;
        let timeouts = self.options.timeouts;
        let body = Box::pin(response.bytes_stream());
        Ok(answer_stream(body, started + timeouts.first_token, timeouts, self.secrets()))
    }

    /// The configured models, else the server's `GET /models`.
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, ApiError> {
        if !self.options.models.is_empty() {
            return Ok(self.options.models.iter().map(|id| model_entry(id)).collect());
        }
        let started = Instant::now();
        let url = format!("{}/models", self.root);
        let response = self.send(self.http.get(url), None, None, started).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|_| ApiError::Truncated { detail: "the connection was cut mid-response".to_owned() })?;
        let list: ModelList = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Protocol { detail: format!("the model list is not the expected JSON: {e}") })?;
        Ok(list.data.iter().map(|m| model_entry(&m.id)).collect())
    }
}

/// A listed model: the list gives no limits; every chat model writes answers and takes
/// function tools, and none of Gemini's own features.
fn model_entry(id: &str) -> ModelInfo {
    ModelInfo {
        id: id.to_owned(),
        capabilities: Capabilities { generates_text: true, function_tools: true, ..Capabilities::default() },
        ..ModelInfo::default()
    }
}
