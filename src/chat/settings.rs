//! Generation settings: thinking, thought summaries, temperature, top-p, the output limit, the
//! seed, stop sequences and a JSON schema for structured output. They come from the config
//! file, the conversation (stored with it, so a reopened conversation continues with them),
//! flags and TUI commands, each layer overriding the one before; they are checked here, before
//! anything is sent, and become the request's parameters (`llm::Params`). Each setting is declared once,
//! in the registry (`super::registry`), which drives merging, checking, `/set`, the summary and
//! how they are stored; here are the struct and what they send.

use crate::llm::{Thinking, ToolSpec};

/// Every field is optional: `None` leaves the choice to the layer below (and in the end to
/// the model's own default). Stored as the registry writes it (`super::registry`: its serde).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub thinking: Option<Thinking>,
    /// Ask for thought summaries and show them (never part of the answer).
    pub show_thoughts: Option<bool>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// `maxOutputTokens`.
    pub max_tokens: Option<u32>,
    pub seed: Option<i64>,
    pub stop: Option<Vec<String>>,
    /// A JSON Schema the answer must follow (the answer is then JSON).
    pub json_schema: Option<serde_json::Value>,
    /// Ground answers in Google Search (the `googleSearch` tool); they then show their sources.
    pub search: Option<bool>,
    /// Let the model read the pages whose URLs the prompt holds (the `urlContext` tool).
    pub url_context: Option<bool>,
}

/// The API takes at most this many stop sequences.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// A setting out of range, or one the model cannot take: one sentence with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl SettingsError {
    /// The sentence as a reason inside another ("...is not valid: the temperature must be..."):
    /// starting in lower case, without its final period.
    pub fn as_reason(&self) -> String {
        let text = self.0.trim_end_matches('.');
        let mut chars = text.chars();
        chars.next().map(|c| c.to_lowercase().chain(chars).collect::<String>()).unwrap_or_default()
    }
}

impl Settings {
    /// These settings with every value `over` sets taking the place of this one's.
    pub fn with(&self, over: &Settings) -> Settings {
        super::registry::with(self, over)
    }

    pub fn is_empty(&self) -> bool {
        *self == Settings::default()
    }

    pub fn shows_thoughts(&self) -> bool {
        self.show_thoughts == Some(true)
    }

    /// Checks the ranges the API accepts (whatever the model).
    pub fn validate(&self) -> Result<(), SettingsError> {
        super::registry::validate(self)
    }

    /// The request's parameters (checked for the ranges every model takes; a provider refuses
    /// what its model cannot take, such as a thinking choice, in `check_params`).
    pub fn params(&self) -> Result<crate::llm::Params, SettingsError> {
        self.validate()?;
        Ok(crate::llm::Params {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens,
            seed: self.seed,
            stop: self.stop.clone().unwrap_or_default(),
            thinking: self.thinking,
            thoughts: self.shows_thoughts(),
            answer_schema: self.json_schema.clone(),
            ..crate::llm::Params::default()
        })
    }

    /// The request's built-in tools, in the neutral words: Google Search and URL context when on.
    pub fn tool_specs(&self) -> Vec<ToolSpec> {
        let mut tools = Vec::new();
        if self.search == Some(true) {
            tools.push(ToolSpec::GoogleSearch);
        }
        if self.url_context == Some(true) {
            tools.push(ToolSpec::UrlContext);
        }
        tools
    }

    /// The settings as stored with a conversation (`None` when there are none).
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// Settings read back from a conversation; unreadable ones count as none.
    pub fn from_stored(text: Option<&str>) -> Option<Settings> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }

    /// One line for people: "thinking high · temperature 0.2" (empty when nothing is set).
    pub fn summary(&self) -> String {
        super::registry::summary(self)
    }

    /// Applies `/set NAME VALUE` (VALUE `default` removes the setting; a switch alone flips);
    /// the sentence to say.
    pub fn set(&mut self, name: &str, value: &str) -> Result<String, SettingsError> {
        super::registry::set(self, name, value)
    }
}

/// Checks an answer asked for as JSON: `None` when it parses, else the sentence to print.
pub fn json_answer_problem(answer: &str) -> Option<String> {
    let trimmed = answer.trim();
    match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "The answer is not valid JSON as its JSON schema asked (line {}, column {}: {}): ask again.",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Eof => "it ends too early",
                serde_json::error::Category::Syntax => "a syntax error",
                _ => "not JSON",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_layer_overrides_only_what_it_sets() {
        let config = Settings { temperature: Some(0.5), seed: Some(1), ..Settings::default() };
        let flags = Settings { temperature: Some(0.2), stop: Some(vec!["END".into()]), ..Settings::default() };
        let s = config.with(&flags);
        assert_eq!((s.temperature, s.seed, s.stop), (Some(0.2), Some(1), Some(vec!["END".to_owned()])));
    }

    #[test]
    fn out_of_range_values_are_refused_in_one_sentence() {
        for (s, needle) in [
            (Settings { temperature: Some(2.5), ..Settings::default() }, "between 0 and 2"),
            (Settings { temperature: Some(-0.1), ..Settings::default() }, "between 0 and 2"),
            (Settings { top_p: Some(1.5), ..Settings::default() }, "between 0 and 1"),
            (Settings { max_tokens: Some(0), ..Settings::default() }, "at least 1"),
            (Settings { stop: Some(vec!["a".into(); 6]), ..Settings::default() }, "at most 5"),
        ] {
            let e = s.params().unwrap_err().0;
            assert!(e.contains(needle) && e.ends_with('.'), "{e}");
        }
    }

    #[test]
    fn the_parameters_hold_exactly_what_is_set() {
        assert_eq!(Settings::default().params().unwrap(), crate::llm::Params::default());
        let s = Settings {
            thinking: Some(Thinking::Low),
            show_thoughts: Some(true),
            temperature: Some(0.2),
            json_schema: Some(serde_json::json!({"type": "object"})),
            ..Settings::default()
        };
        let p = s.params().unwrap();
        assert_eq!((p.thinking, p.thoughts, p.temperature), (Some(Thinking::Low), true, Some(0.2)));
        assert_eq!(p.answer_schema, Some(serde_json::json!({"type": "object"})));
        assert_eq!((p.top_p, p.max_tokens, p.seed), (None, None, None));
    }

    #[test]
    fn settings_survive_storage_and_set_commands() {
        let mut s = Settings::default();
        assert_eq!(s.to_stored(), None);
        s.set("temperature", "0.3").unwrap();
        s.set("thinking", "high").unwrap();
        s.set("stop", "END|STOP").unwrap();
        assert!(s.set("temperature", "3").is_err(), "out of range");
        assert_eq!(s.temperature, Some(0.3), "a refused value changes nothing");
        assert!(s.set("colour", "red").unwrap_err().0.contains("not a setting"));
        let back = Settings::from_stored(s.to_stored().as_deref()).unwrap();
        assert_eq!(back, s);
        s.set("temperature", "default").unwrap();
        assert_eq!(s.temperature, None);
        assert_eq!(s.summary(), "thinking high · stop \"END\" \"STOP\"");
    }

    #[test]
    fn search_and_url_context_become_top_level_tools_and_toggle() {
        let mut s = Settings::default();
        assert!(s.tool_specs().is_empty());
        assert!(s.set("search", "on").unwrap().contains("sources"));
        s.set("url-context", "toggle").unwrap();
        assert_eq!(s.tool_specs(), vec![ToolSpec::GoogleSearch, ToolSpec::UrlContext]);
        assert_eq!(s.summary(), "search · URL context");
        s.set("search", "toggle").unwrap();
        assert_eq!(s.search, Some(false));
        assert!(s.set("search", "maybe").is_err());
        let back = Settings::from_stored(s.to_stored().as_deref()).unwrap();
        assert_eq!(back.tool_specs(), vec![ToolSpec::UrlContext], "stored with the conversation");
        let flags = Settings { search: Some(true), ..Settings::default() };
        assert_eq!(back.with(&flags).tool_specs().len(), 2);
    }

    #[test]
    fn a_json_answer_is_checked_for_well_formedness() {
        assert_eq!(json_answer_problem(" {\"a\": [1, 2]}\n"), None);
        let problem = json_answer_problem("{\"a\": [1, 2").unwrap();
        assert!(problem.contains("not valid JSON") && problem.contains("ends too early"), "{problem}");
        assert!(json_answer_problem("Sure! Here is the JSON: {}").is_some());
    }
}
