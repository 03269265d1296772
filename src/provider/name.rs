//! Model names across providers: `provider:model` (`ollama:qwen3:8b`), or a bare name for the
//! default provider. Pure text rules, shared by config, front ends and the engine: a name is
//! split in one place, into a [`ModelRef`] (provider, model), at the edge where it is read.
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
        split_prefix(name, &|p| self.known.contains(p)).unwrap_or((self.default.as_str(), name))
    }

    /// The canonical form of a name a user typed (see the module comment).
    pub fn canonical(&self, name: &str) -> String {
        ModelRef::parse(name, self).canonical()
    }
}

/// A model and the provider (or pool) that serves it, parsed once from a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    provider: String,
    model: String,
}

impl ModelRef {
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        ModelRef { provider: provider.into(), model: model.into() }
    }

    /// A name as a user typed it (a flag, the config, a slash command, a batch line): see
    /// [`Names::split`]. The model keeps its own colons (`local:qwen3:8b` is `qwen3:8b` of
    /// `local`) and Gemini's own spellings (`models/gemini-2.5-flash`).
    pub fn parse(text: &str, names: &Names) -> Self {
        let (provider, model) = names.split(text);
        ModelRef::new(provider, model)
    }

    /// A canonical name (as stored, and as the engine reads it): a bare name is Gemini's.
    /// `known` says which prefixes are providers (a model id may hold colons itself).
    pub fn from_canonical(name: &str, known: &dyn Fn(&str) -> bool) -> Self {
        let (provider, model) = split_canonical(name, known);
        ModelRef::new(provider, model)
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model's id at its provider.
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn is_gemini(&self) -> bool {
        self.provider == GEMINI
    }

    /// Its canonical name: bare for Gemini, `provider:model` for the rest.
    pub fn canonical(&self) -> String {
        join(&self.provider, &self.model)
    }

    /// `provider:model` always (prices and stats key models this way).
    pub fn qualified(&self) -> String {
        qualified(&self.provider, &self.model)
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// The one rule for a provider prefix: the text before the FIRST colon, when `known` says it
/// names a provider and a model follows it.
fn split_prefix<'a>(name: &'a str, known: &dyn Fn(&str) -> bool) -> Option<(&'a str, &'a str)> {
    name.split_once(':').filter(|(provider, model)| known(provider) && !model.is_empty())
}

/// `provider:model`, or the bare model for Gemini.
pub fn join(provider: &str, model: &str) -> String {
    if provider == GEMINI { model.to_owned() } else { format!("{provider}:{model}") }
}

/// The provider and model of a canonical name, as the engine reads it: a bare name is Gemini's.
/// `known` says which prefixes are providers (a model id may hold colons itself).
pub fn split_canonical<'a>(name: &'a str, known: &dyn Fn(&str) -> bool) -> (&'a str, &'a str) {
    split_prefix(name, known).unwrap_or((GEMINI, name))
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
    fn every_accepted_spelling_parses_into_one_model_ref() {
        let n = Names::new(["local".to_owned(), "ollama".to_owned(), "pool".to_owned()], None);
        let parsed = |text: &str| {
            let r = ModelRef::parse(text, &n);
            (r.provider().to_owned(), r.model().to_owned(), r.canonical())
        };
        let owned = |p: &str, m: &str, c: &str| (p.to_owned(), m.to_owned(), c.to_owned());
        assert_eq!(parsed("gemini-2.5-flash"), owned("gemini", "gemini-2.5-flash", "gemini-2.5-flash"));
        assert_eq!(
            parsed("models/gemini-2.5-flash"),
            owned("gemini", "models/gemini-2.5-flash", "models/gemini-2.5-flash"),
            "Gemini's own spelling is Gemini's model, as typed"
        );
        assert_eq!(parsed("gemini:gemini-2.5-flash"), owned("gemini", "gemini-2.5-flash", "gemini-2.5-flash"));
        assert_eq!(parsed("local:qwen3:8b"), owned("local", "qwen3:8b", "local:qwen3:8b"), "the model keeps its colon");
        assert_eq!(
            parsed("pool:llama3.1:70b"),
            owned("pool", "llama3.1:70b", "pool:llama3.1:70b"),
            "a pool is a provider"
        );
        assert_eq!(parsed("qwen3:8b"), owned("gemini", "qwen3:8b", "qwen3:8b"), "qwen3 is no provider");
        assert_eq!(parsed(" local:x "), owned("local", "x", "local:x"));
        // Under another default provider a bare name is that provider's.
        let n = Names::new(["local".to_owned()], Some("local"));
        assert_eq!(ModelRef::parse("qwen3:8b", &n), ModelRef::new("local", "qwen3:8b"));
        assert_eq!(ModelRef::parse("qwen3:8b", &n).qualified(), "local:qwen3:8b");
        // A canonical name read back (the engine's reading): bare is Gemini's.
        let known = |p: &str| p == "local";
        assert_eq!(ModelRef::from_canonical("local:qwen3:8b", &known), ModelRef::new("local", "qwen3:8b"));
        assert_eq!(ModelRef::from_canonical("qwen3:8b", &known), ModelRef::new("gemini", "qwen3:8b"));
        assert!(ModelRef::from_canonical("models/gemini-2.5-flash", &known).is_gemini());
        assert_eq!(ModelRef::new("local", "qwen3:8b").to_string(), "local:qwen3:8b");
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
