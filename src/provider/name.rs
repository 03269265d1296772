//! Model names across providers: `provider:model` (`ollama:qwen3:8b`), or a bare name for the
//! default provider. Pure text rules, shared by config, front ends and the engine.
//!
//! A name is *canonical* once its provider is explicit where it matters: bare for the built-in
//! `gemini` provider (so history saved before providers existed stays valid), `provider:model`
//! for every other. Inside the engine a bare name is always Gemini.

use std::collections::BTreeSet;

/// The built-in provider: Google's Gemini API, as configured by `base_url` and the Gemini key.
pub const GEMINI: &str = "gemini";

/// Which provider names exist and which one a bare name means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Every provider and pool name, `gemini` included.
    known: BTreeSet<String>,
    default: String,
}

impl Default for Names {
    fn default() -> Self {
        Names { known: BTreeSet::from([GEMINI.to_owned()]), default: GEMINI.to_owned() }
    }
}

impl Names {
    /// `names` (providers and pools from the config) plus `gemini`; `default` must be one of them.
    pub fn new(names: impl IntoIterator<Item = String>, default: Option<&str>) -> Self {
        let mut known: BTreeSet<String> = names.into_iter().collect();
        known.insert(GEMINI.to_owned());
        let default = default.filter(|d| known.contains(*d)).unwrap_or(GEMINI).to_owned();
        Names { known, default }
    }

    pub fn default_provider(&self) -> &str {
        &self.default
    }

    pub fn is_known(&self, provider: &str) -> bool {
        self.known.contains(provider)
    }

    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(String::as_str)
    }

    /// Splits a name as a user typed it: the prefix before the FIRST colon is a provider only
    /// when it names one (`ollama:qwen3:8b`); otherwise the whole text is a model of the
    /// default provider (`qwen3:8b` with no `qwen3` provider).
    pub fn split<'a>(&'a self, name: &'a str) -> (&'a str, &'a str) {
        let name = name.trim();
        match name.split_once(':') {
            Some((provider, model)) if self.known.contains(provider) && !model.is_empty() => (provider, model),
            _ => (self.default.as_str(), name),
        }
    }

    /// The canonical form of a name a user typed (see the module comment).
    pub fn canonical(&self, name: &str) -> String {
        let (provider, model) = self.split(name);
        join(provider, model)
    }
}

/// `provider:model`, or the bare model for Gemini.
pub fn join(provider: &str, model: &str) -> String {
    if provider == GEMINI { model.to_owned() } else { format!("{provider}:{model}") }
}

/// The provider and model of a canonical name, as the engine reads it: a bare name is Gemini's.
/// `known` says which prefixes are providers (a model id may hold colons itself).
pub fn split_canonical<'a>(name: &'a str, known: &dyn Fn(&str) -> bool) -> (&'a str, &'a str) {
    match name.split_once(':') {
        Some((provider, model)) if known(provider) && !model.is_empty() => (provider, model),
        _ => (GEMINI, name),
    }
}

/// `provider:model` always (prices and stats key models this way).
pub fn qualified(provider: &str, model: &str) -> String {
    format!("{provider}:{model}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(default: Option<&str>) -> Names {
        Names::new(["ollama".to_owned(), "openai".to_owned()], default)
    }

    #[test]
    fn a_prefix_is_a_provider_only_when_it_names_one() {
        let n = names(None);
        assert_eq!(n.split("ollama:qwen3:8b"), ("ollama", "qwen3:8b"));
        assert_eq!(n.split("qwen3:8b"), ("gemini", "qwen3:8b"));
        assert_eq!(n.split("gemini:gemini-2.5-flash"), ("gemini", "gemini-2.5-flash"));
        assert_eq!(n.split(" gemini-flash-latest "), ("gemini", "gemini-flash-latest"));
        assert_eq!(n.split("ollama:"), ("gemini", "ollama:"), "a provider with no model is no split");
    }

    #[test]
    fn canonical_names_are_bare_for_gemini_and_prefixed_for_the_rest() {
        let n = names(Some("ollama"));
        assert_eq!(n.canonical("qwen3:8b"), "ollama:qwen3:8b", "a bare name means the default provider");
        assert_eq!(n.canonical("gemini:gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(n.canonical("openai:gpt-4.1-mini"), "openai:gpt-4.1-mini");
        assert_eq!(names(None).canonical("gemini-2.5-flash"), "gemini-2.5-flash");
    }

    #[test]
    fn an_unknown_default_falls_back_to_gemini() {
        assert_eq!(names(Some("nope")).default_provider(), "gemini");
    }

    #[test]
    fn the_engine_reads_bare_canonical_names_as_gemini() {
        let known = |p: &str| p == "ollama";
        assert_eq!(split_canonical("ollama:qwen3:8b", &known), ("ollama", "qwen3:8b"));
        assert_eq!(split_canonical("qwen3:8b", &known), ("gemini", "qwen3:8b"));
        assert_eq!(qualified("gemini", "gemini-flash-latest"), "gemini:gemini-flash-latest");
    }
}
