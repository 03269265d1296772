//! Client keys: resolved once at start (`[serve.keys.NAME]`, else `GEMINAL_SERVE_KEY`), kept only
//! as SHA-256 digests, and compared in constant time. A key's text is never kept, logged or
//! returned; a request names its key only by the key's name.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ServeKeyFile;
use crate::money::Usd;

/// The variable holding the one client key when no `[serve.keys.*]` are configured.
pub const SERVE_KEY_ENV: &str = "GEMINAL_SERVE_KEY";
/// The name a `GEMINAL_SERVE_KEY` client is saved under.
pub const DEFAULT_KEY_NAME: &str = "default";
/// The name requests are saved under with `--no-auth`.
pub const OPEN_NAME: &str = "local";

/// What one client key may do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyLimits {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub max_concurrent: Option<usize>,
    pub daily_budget: Option<Usd>,
    pub monthly_budget: Option<Usd>,
    /// Allowed model references (globs); `None`: every model.
    pub models: Option<Vec<glob::Pattern>>,
}

impl KeyLimits {
    /// Whether this key may use model reference `model` (as the client wrote it).
    pub fn allows(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|globs| globs.iter().any(|g| g.matches(model)))
    }
}

/// A client key: its name and the digest of its text.
pub struct ClientKey {
    pub name: String,
    digest: [u8; 32],
    pub limits: KeyLimits,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey").field("name", &self.name).field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// How clients authenticate.
#[derive(Debug)]
pub enum Auth {
    /// A key from this list, by any of the APIs' ways of sending one.
    Keys(Vec<ClientKey>),
    /// No key (`--no-auth`, loopback only): every request is client [`OPEN_NAME`].
    Open,
}

/// Why the keys could not be resolved (the CLI words it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("serve.keys.{name} has neither key_env nor key_sha256")]
    NoKey { name: String },
    #[error("serve.keys.{name} has both key_env and key_sha256")]
    BothKeys { name: String },
    #[error("serve.keys.{name}: {env} is not set")]
    EnvMissing { name: String, env: String },
    #[error("serve.keys.{name}: key_sha256 is not 64 hex digits")]
    BadDigest { name: String },
    #[error("serve.keys.{name}: models pattern {pattern} is not a glob")]
    BadGlob { name: String, pattern: String },
    #[error("serve.keys.{name}: a budget must be a positive amount of US dollars")]
    BadBudget { name: String },
    /// No key is configured, none is in `GEMINAL_SERVE_KEY`, and `--no-auth` is not given.
    #[error("no client key")]
    None,
}

/// The SHA-256 of a key's text.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Auth {
    /// The configured keys (their variables read through `env`), else `GEMINAL_SERVE_KEY`,
    /// else open when `no_auth` (whether that is allowed on the address is the caller's check).
    pub fn resolve(
        keys: &BTreeMap<String, ServeKeyFile>,
        no_auth: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Auth, KeyError> {
        if no_auth {
            return Ok(Auth::Open);
        }
        if keys.is_empty() {
            return match env(SERVE_KEY_ENV).filter(|k| !k.trim().is_empty()) {
                Some(key) => Ok(Auth::Keys(vec![ClientKey {
                    name: DEFAULT_KEY_NAME.to_owned(),
                    digest: digest(key.trim()),
                    limits: KeyLimits::default(),
                }])),
                None => Err(KeyError::None),
            };
        }
        keys.iter().map(|(name, file)| resolve_key(name, file, env)).collect::<Result<_, _>>().map(Auth::Keys)
    }

    /// The key sent (`None`: none was sent) checked against every key, each compared in
    /// constant time (all are compared, so the time does not tell which one matched).
    pub fn check(&self, sent: Option<&str>) -> Option<&ClientKey> {
        let Auth::Keys(keys) = self else { return None };
        let sent = digest(sent?.trim());
        let mut found = None;
        for key in keys {
            if bool::from(key.digest.ct_eq(&sent)) {
                found = Some(key);
            }
        }
        found
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Auth::Open)
    }

    /// The names of the keys (for the start line).
    pub fn names(&self) -> Vec<&str> {
        match self {
            Auth::Keys(keys) => keys.iter().map(|k| k.name.as_str()).collect(),
            Auth::Open => Vec::new(),
        }
    }
}

fn resolve_key(name: &str, file: &ServeKeyFile, env: &dyn Fn(&str) -> Option<String>) -> Result<ClientKey, KeyError> {
    let named = || name.to_owned();
    let digest = match (&file.key_env, &file.key_sha256) {
        (Some(_), Some(_)) => return Err(KeyError::BothKeys { name: named() }),
        (None, None) => return Err(KeyError::NoKey { name: named() }),
        (Some(var), None) => match env(var).filter(|k| !k.trim().is_empty()) {
            Some(key) => digest(key.trim()),
            None => return Err(KeyError::EnvMissing { name: named(), env: var.clone() }),
        },
        (None, Some(hex_digest)) => {
            let bytes = hex::decode(hex_digest.trim()).map_err(|_| KeyError::BadDigest { name: named() })?;
            bytes.try_into().map_err(|_| KeyError::BadDigest { name: named() })?
        }
    };
    let budget = |v: Option<f64>| match v {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => {
            Usd::from_dollars(v).map(Some).ok_or(KeyError::BadBudget { name: named() })
        }
        Some(_) => Err(KeyError::BadBudget { name: named() }),
    };
    let models = file
        .models
        .as_ref()
        .map(|globs| {
            globs
                .iter()
                .map(|g| glob::Pattern::new(g).map_err(|_| KeyError::BadGlob { name: named(), pattern: g.clone() }))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(ClientKey {
        name: name.to_owned(),
        digest,
        limits: KeyLimits {
            rpm: file.rpm.filter(|r| *r > 0),
            tpm: file.tpm.filter(|t| *t > 0),
            max_concurrent: file.max_concurrent.filter(|m| *m > 0),
            daily_budget: budget(file.daily_budget)?,
            monthly_budget: budget(file.monthly_budget)?,
            models,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn a_key_from_its_variable_or_digest_matches_only_itself() {
        let mut keys = BTreeMap::new();
        keys.insert("editor".to_owned(), ServeKeyFile { key_env: Some("ED".into()), ..Default::default() });
        let hex_digest = hex::encode(digest("sk-notebook"));
        keys.insert("notebook".to_owned(), ServeKeyFile { key_sha256: Some(hex_digest), ..Default::default() });
        let auth = Auth::resolve(&keys, false, &env(&[("ED", "sk-editor")])).unwrap();
        assert_eq!(auth.check(Some("sk-editor")).map(|k| k.name.as_str()), Some("editor"));
        assert_eq!(auth.check(Some("sk-notebook")).map(|k| k.name.as_str()), Some("notebook"));
        assert!(auth.check(Some("sk-editorx")).is_none());
        assert!(auth.check(None).is_none());
        // The key's text appears nowhere in what can be printed.
        assert!(!format!("{auth:?}").contains("sk-editor"));
    }

    #[test]
    fn without_keys_the_environment_key_or_nothing() {
        let none = BTreeMap::new();
        let auth = Auth::resolve(&none, false, &env(&[(SERVE_KEY_ENV, "s3cret")])).unwrap();
        assert_eq!(auth.check(Some("s3cret")).map(|k| k.name.as_str()), Some(DEFAULT_KEY_NAME));
        assert_eq!(Auth::resolve(&none, false, &env(&[])).unwrap_err(), KeyError::None);
        let mut keys = BTreeMap::new();
        keys.insert("x".to_owned(), ServeKeyFile { key_env: Some("MISSING".into()), ..Default::default() });
        assert_eq!(
            Auth::resolve(&keys, false, &env(&[])).unwrap_err(),
            KeyError::EnvMissing { name: "x".into(), env: "MISSING".into() }
        );
    }

    #[test]
    fn model_globs() {
        let limits = KeyLimits {
            models: Some(vec![glob::Pattern::new("gemini-*").unwrap(), glob::Pattern::new("role:coder").unwrap()]),
            ..Default::default()
        };
        assert!(limits.allows("gemini-2.5-flash"));
        assert!(limits.allows("role:coder"));
        assert!(!limits.allows("local:qwen3:8b"));
        assert!(KeyLimits::default().allows("anything"));
    }
}
