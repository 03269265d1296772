//! `[providers.NAME]` and `[pools.NAME]` of the config file, checked and resolved (keys read
//! from their variables). Keys stay secrets; nothing here connects.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::{GEMINI, Kind};

/// `[providers.NAME]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    pub kind: Kind,
    /// Required for `kind = "openai"` (up to the version: `http://localhost:11434/v1`); for
    /// `kind = "gemini"` the host root (default: Google's).
    pub base_url: Option<String>,
    /// The environment variable holding the key. For `openai`, set means a key is needed.
    pub api_key_env: Option<String>,
    /// A key in the file itself (the file must then be private, 0600).
    pub api_key: Option<String>,
    /// The models to list (else the provider's `GET /models`).
    pub models: Option<Vec<String>>,
    /// Extra HTTP headers for every request.
    pub headers: Option<BTreeMap<String, String>>,
}

/// `[pools.NAME]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolFile {
    /// Provider names whose endpoints are equivalent.
    pub members: Vec<String>,
    /// Consecutive failures that take a member out (default 2).
    pub failures_to_open: Option<u32>,
    /// How long a failing member stays out before one trial (default 30).
    pub cool_down_secs: Option<f64>,
}

/// A provider, resolved.
#[derive(Clone)]
pub struct Endpoint {
    pub name: String,
    pub kind: Kind,
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub api_key_env: Option<String>,
    pub models: Vec<String>,
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("api_key_env", &self.api_key_env)
            .field("models", &self.models)
            .field("headers", &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// A pool, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    pub name: String,
    pub members: Vec<String>,
    pub failures_to_open: u32,
    pub cool_down: Duration,
}

fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "the {what} name '{}' must be a word without ':' or spaces",
            crate::sanitize::one_line(name, 40)
        ));
    }
    if name == GEMINI {
        return Err(format!("'{GEMINI}' is the built-in provider: give the {what} another name"));
    }
    Ok(())
}

/// Resolves `[providers]` and `[pools]` (reasons start in lower case, without a final period).
pub fn resolve(
    providers: Option<&BTreeMap<String, ProviderFile>>,
    pools: Option<&BTreeMap<String, PoolFile>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<Endpoint>, Vec<PoolSpec>), String> {
    let mut endpoints = Vec::new();
    for (name, p) in providers.into_iter().flatten() {
        check_name(name, "provider")?;
        let base_url = p.base_url.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned);
        if p.kind == Kind::OpenAi && base_url.is_none() {
            return Err(format!(
                "the provider {name} needs a base_url (such as \"http://localhost:11434/v1\" for Ollama)"
            ));
        }
        if let Some(url) = &base_url
            && let Err(reason) = crate::net::check_base_url(url)
        {
            return Err(format!("the base_url of provider {name} {reason}"));
        }
        let api_key_env = p.api_key_env.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let from_file = p.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned);
        let api_key = api_key_env.as_deref().and_then(env).or(from_file).map(SecretString::from);
        let headers = p.headers.clone().unwrap_or_default().into_iter().collect();
        endpoints.push(Endpoint {
            name: name.clone(),
            kind: p.kind,
            base_url,
            api_key,
            api_key_env,
            models: p.models.clone().unwrap_or_default(),
            headers,
        });
    }
    let mut specs = Vec::new();
    for (name, pool) in pools.into_iter().flatten() {
        check_name(name, "pool")?;
        if endpoints.iter().any(|e| e.name == *name) {
            return Err(format!("the pool {name} has the name of a provider: give it another"));
        }
        if pool.members.is_empty() {
            return Err(format!("the pool {name} has no members"));
        }
        let kinds: Vec<Kind> = pool
            .members
            .iter()
            .map(|m| match endpoints.iter().find(|e| e.name == *m) {
                Some(e) => Ok(e.kind),
                None if m == GEMINI => Ok(Kind::Gemini),
                None => Err(format!("the pool {name} names {m}, which is not a provider")),
            })
            .collect::<Result<_, _>>()?;
        if kinds.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("the members of pool {name} must all be of one kind"));
        }
        let cool_down = match pool.cool_down_secs {
            None => super::pool::DEFAULT_COOL_DOWN,
            Some(s) if s.is_finite() && s > 0.0 && s < 1e6 => Duration::from_secs_f64(s),
            Some(s) => return Err(format!("the cool_down_secs of pool {name} must be a positive number, not {s}")),
        };
        specs.push(PoolSpec {
            name: name.clone(),
            members: pool.members.clone(),
            failures_to_open: pool.failures_to_open.unwrap_or(super::pool::DEFAULT_FAILURES_TO_OPEN).max(1),
            cool_down,
        });
    }
    Ok((endpoints, specs))
}

/// Whether the file holds a secret anywhere (then it must be private): a provider's key, or any
/// provider header (a proxy's token travels in one, and which ones are secret cannot be told).
pub fn holds_a_key(providers: Option<&BTreeMap<String, ProviderFile>>) -> bool {
    providers.into_iter().flatten().any(|(_, p)| {
        p.api_key.as_deref().is_some_and(|k| !k.trim().is_empty()) || p.headers.as_ref().is_some_and(|h| !h.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Providers = Option<BTreeMap<String, ProviderFile>>;
    type Pools = Option<BTreeMap<String, PoolFile>>;

    fn parse(text: &str) -> (Providers, Pools) {
        #[derive(Deserialize)]
        struct File {
            providers: Option<BTreeMap<String, ProviderFile>>,
            pools: Option<BTreeMap<String, PoolFile>>,
        }
        let f: File = toml::from_str(text).unwrap();
        (f.providers, f.pools)
    }

    #[test]
    fn a_key_comes_from_the_named_variable_and_only_when_asked_for() {
        let (p, _) = parse(
            "[providers.openai]\nkind = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\napi_key_env = \"OPENAI_API_KEY\"\n\
             [providers.ollama]\nkind = \"openai\"\nbase_url = \"http://localhost:11434/v1\"\n",
        );
        let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
        let (endpoints, _) = resolve(p.as_ref(), None, &env).unwrap();
        let openai = endpoints.iter().find(|e| e.name == "openai").unwrap();
        assert!(openai.api_key.is_some() && openai.api_key_env.as_deref() == Some("OPENAI_API_KEY"));
        let ollama = endpoints.iter().find(|e| e.name == "ollama").unwrap();
        assert!(ollama.api_key.is_none() && ollama.api_key_env.is_none());
        assert!(!format!("{openai:?}").contains("sk-test"));
    }

    #[test]
    fn bad_providers_and_pools_are_refused_with_a_reason() {
        let reason = |text: &str| {
            let (p, pools) = parse(text);
            resolve(p.as_ref(), pools.as_ref(), &|_| None).unwrap_err()
        };
        assert!(reason("[providers.x]\nkind = \"openai\"\n").contains("needs a base_url"));
        assert!(reason("[providers.gemini]\nkind = \"gemini\"\n").contains("built-in"));
        assert!(reason("[pools.p]\nmembers = [\"nope\"]\n").contains("not a provider"));
        let mixed =
            "[providers.a]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n[pools.p]\nmembers = [\"a\", \"gemini\"]\n";
        assert!(reason(mixed).contains("one kind"));
    }
}
