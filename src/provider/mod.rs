//! Providers: the named endpoints the engine sends answers to. One trait in the neutral vocabulary
//! (`crate::llm`: a [`Request`] in, [`StreamEvent`](crate::llm::StreamEvent)s and [`ApiError`]s
//! out), one implementation per wire kind (here, over `gemini/` and `openai/`, which convert in
//! their own `convert` / `wire` modules), plus pools of equivalent endpoints ([`pool`]), model
//! names across providers ([`name`]) and the config file's `[providers]` tables ([`settings`]).
//! Layers above ask here, never a wire, whether a model takes given parameters ([`check_params`]).
//! Nothing here knows a wire format; `gemini/` and `openai/` do not know this module.

pub mod name;
pub mod pool;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use crate::gemini::Client;
pub use crate::llm::EventStream;
use crate::llm::{ApiError, ModelInfo, Params, Request};
use crate::openai::OpenAiClient;
pub use name::{GEMINI, Names, join, qualified};
pub use pool::{Breaker, Pool};

/// Where the built-in `gemini` provider sends requests unless told otherwise.
pub const GEMINI_BASE_URL: &str = crate::gemini::DEFAULT_BASE_URL;

/// Whether `model` (a canonical name: bare for the built-in Gemini) takes `params`, judged by
/// its wire's own rules before anything is sent (a Gemini family's thinking levels and
/// budgets): the sentence saying why not. Another provider's model is judged by that provider
/// when it answers.
pub fn check_params(model: &str, params: &Params) -> Result<(), String> {
    if model.contains(':') {
        return Ok(());
    }
    crate::gemini::convert::check_params(model, params)
}

/// The wire a provider speaks (`kind` in `[providers.NAME]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Gemini,
    #[serde(rename = "openai")]
    OpenAi,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gemini => "gemini",
            Kind::OpenAi => "openai",
        }
    }
}

/// One endpoint that produces answers.
pub trait Provider: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> Kind;

    /// Starts a streamed answer; returns once the server accepted it.
    fn stream_generate<'a>(
        &'a self,
        model: &'a str,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<EventStream, ApiError>>;

    /// Every model the endpoint offers, with what each can do.
    fn list_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ApiError>>;

    /// The prompt tokens `request` would use, when the endpoint can count them.
    fn count_tokens<'a>(
        &'a self,
        _model: &'a str,
        _request: &'a Request,
    ) -> BoxFuture<'a, Result<Option<u64>, ApiError>> {
        async { Ok(None) }.boxed()
    }

    /// One model's description (token limits), when the endpoint gives one.
    fn model_info<'a>(&'a self, _model: &'a str) -> BoxFuture<'a, Result<Option<ModelInfo>, ApiError>> {
        async { Ok(None) }.boxed()
    }

    /// Whether `model` takes `params` as they are (a thinking choice its family refuses is
    /// not): the sentence saying why when it does not.
    fn check_params(&self, _model: &str, _params: &Params) -> Result<(), String> {
        Ok(())
    }
}

impl Provider for Client {
    fn kind(&self) -> Kind {
        Kind::Gemini
    }

    fn stream_generate<'a>(
        &'a self,
        model: &'a str,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<EventStream, ApiError>> {
        async move {
            let wire = crate::gemini::convert::request(model, request)?;
            let stream = Client::stream_generate(self, model, &wire).await?;
            let events = futures::stream::unfold(stream, |mut s| async move { s.next().await.map(|e| (e, s)) });
            Ok(events.boxed())
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ApiError>> {
        async move {
            let models = Client::list_models(self).await?;
            Ok(models.iter().map(crate::gemini::convert::model_info).collect())
        }
        .boxed()
    }

    fn count_tokens<'a>(
        &'a self,
        model: &'a str,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Option<u64>, ApiError>> {
        async move {
            let wire = crate::gemini::convert::request(model, request)?;
            Client::count_tokens(self, model, &wire).await.map(Some)
        }
        .boxed()
    }

    fn model_info<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<Option<ModelInfo>, ApiError>> {
        async move { Client::model(self, model).await.map(|m| Some(crate::gemini::convert::model_info(&m))) }.boxed()
    }

    fn check_params(&self, model: &str, params: &Params) -> Result<(), String> {
        crate::gemini::convert::check_params(model, params)
    }
}

impl Provider for OpenAiClient {
    fn kind(&self) -> Kind {
        Kind::OpenAi
    }

    fn stream_generate<'a>(
        &'a self,
        model: &'a str,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<EventStream, ApiError>> {
        OpenAiClient::stream(self, model, request).boxed()
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ApiError>> {
        OpenAiClient::list_models(self).boxed()
    }
}

/// Every provider by name, the built-in `gemini` always among them. Resolves canonical model
/// names (see [`name`]) to a provider and the model id it knows.
#[derive(Debug, Clone)]
pub struct ProviderSet {
    gemini: Client,
    providers: BTreeMap<String, Arc<dyn Provider>>,
    names: Names,
}

impl ProviderSet {
    /// Only the built-in Gemini provider (what existed before providers).
    pub fn new(gemini: Client) -> Self {
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        providers.insert(GEMINI.to_owned(), Arc::new(gemini.clone()));
        ProviderSet { gemini, providers, names: Names::default() }
    }

    /// Adds (or replaces) the provider called `name`.
    pub fn with(mut self, name: &str, provider: Arc<dyn Provider>) -> Self {
        self.providers.insert(name.to_owned(), provider);
        self.names = Names::new(self.providers.keys().cloned(), Some(self.names.default_provider()));
        self
    }

    /// The provider a bare name means (user input; inside the engine bare is Gemini).
    pub fn with_default(mut self, name: &str) -> Self {
        self.names = Names::new(self.providers.keys().cloned(), Some(name));
        self
    }

    /// The built-in Gemini client (uploads, files and the Gemini-only calls).
    pub fn gemini(&self) -> &Client {
        &self.gemini
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Provider names, sorted.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    /// The provider name and model id of a canonical name.
    pub fn split<'a>(&self, model: &'a str) -> (&'a str, &'a str) {
        name::split_canonical(model, &|p| self.providers.contains_key(p))
    }

    /// `provider:model` for a canonical name (prices and stats key models this way).
    pub fn qualified(&self, model: &str) -> String {
        let (provider, id) = self.split(model);
        qualified(provider, id)
    }

    /// The provider that serves a canonical name, and the model id to send it.
    pub fn resolve<'a>(&self, model: &'a str) -> (&Arc<dyn Provider>, &'a str) {
        let (provider, id) = self.split(model);
        match self.providers.get(provider) {
            Some(p) => (p, id),
            None => (&self.providers[GEMINI], model),
        }
    }

    /// Every provider's models, as canonical names (`only` limits it to one provider), with
    /// the providers that could not list theirs and why. An unknown `only` lists nothing.
    pub async fn list_models(&self, only: Option<&str>) -> ModelListing {
        let mut listing = ModelListing::default();
        let asked = self.providers.iter().filter(|(name, _)| only.is_none_or(|wanted| wanted == name.as_str()));
        let lists =
            futures::future::join_all(asked.map(|(name, p)| async move { (name, p.list_models().await) })).await;
        for (name, listed) in lists {
            match listed {
                Ok(models) => listing.models.extend(models.into_iter().map(|m| (join(name, &m.id), m))),
                Err(error) => listing.failed.push((name.clone(), error)),
            }
        }
        listing
    }
}

/// What [`ProviderSet::list_models`] found.
#[derive(Debug, Default)]
pub struct ModelListing {
    /// Canonical name and description.
    pub models: Vec<(String, ModelInfo)>,
    /// Providers that could not list their models.
    pub failed: Vec<(String, ApiError)>,
}

/// Builds every configured provider and pool beside the built-in `gemini` (`gemini`): openai
/// kinds get their own client, gemini kinds a Gemini client of their own (the built-in key when
/// they name no variable), pools their members.
pub fn build(
    gemini: Client,
    gemini_key: Option<&secrecy::SecretString>,
    endpoints: &[settings::Endpoint],
    pools: &[settings::PoolSpec],
    default: &str,
    timeouts: crate::net::Timeouts,
) -> Result<ProviderSet, ApiError> {
    let mut set = ProviderSet::new(gemini);
    for e in endpoints {
        let provider: Arc<dyn Provider> = match e.kind {
            Kind::OpenAi => Arc::new(crate::openai::OpenAiClient::new(crate::openai::OpenAiOptions {
                name: e.name.clone(),
                base_url: e.base_url.clone().unwrap_or_default(),
                api_key: e.api_key.clone(),
                api_key_env: e.api_key_env.clone(),
                headers: e.headers.clone(),
                models: e.models.clone(),
                timeouts,
            })?),
            Kind::Gemini => Arc::new(Client::new(crate::gemini::ClientOptions {
                base_url: e.base_url.clone().unwrap_or_else(|| crate::gemini::DEFAULT_BASE_URL.to_owned()),
                api_key: if e.api_key_env.is_some() {
                    e.api_key.clone()
                } else {
                    e.api_key.clone().or(gemini_key.cloned())
                },
                timeouts,
            })?),
        };
        set = set.with(&e.name, provider);
    }
    for p in pools {
        let members =
            p.members.iter().filter_map(|m| set.get(m).map(|provider| (m.clone(), provider.clone()))).collect();
        set = set.with(&p.name, Arc::new(Pool::new(members, p.failures_to_open, p.cool_down)));
    }
    Ok(set.with_default(default))
}
