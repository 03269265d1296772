//! Generation settings: thinking, thought summaries, temperature, top-p, the output limit, the
//! seed, stop sequences and a JSON schema for structured output. They come from the config
//! file, the conversation (stored with it, so a reopened conversation continues with them),
//! flags and TUI commands, each layer overriding the one before; they are checked here, before
//! anything is sent, and become the request's `generationConfig`.

use serde::{Deserialize, Serialize};

use crate::gemini::thinking::thinking_config;
use crate::gemini::{GenerationConfig, Thinking, Tool};

/// Every field is optional: `None` leaves the choice to the layer below (and in the end to
/// the model's own default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    /// Ask for thought summaries and show them (never part of the answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_thoughts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// `maxOutputTokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// A JSON Schema the answer must follow (the answer is then JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<serde_json::Value>,
    /// Ground answers in Google Search (the `googleSearch` tool); they then show their sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<bool>,
    /// Let the model read the pages whose URLs the prompt holds (the `urlContext` tool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_context: Option<bool>,
}

/// The API takes at most this many stop sequences.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// A setting out of range, or one the model cannot take: one sentence with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl Settings {
    /// These settings with every value `over` sets taking the place of this one's.
    pub fn with(&self, over: &Settings) -> Settings {
        Settings {
            thinking: over.thinking.or(self.thinking),
            show_thoughts: over.show_thoughts.or(self.show_thoughts),
            temperature: over.temperature.or(self.temperature),
            top_p: over.top_p.or(self.top_p),
            max_tokens: over.max_tokens.or(self.max_tokens),
            seed: over.seed.or(self.seed),
            stop: over.stop.clone().or_else(|| self.stop.clone()),
            json_schema: over.json_schema.clone().or_else(|| self.json_schema.clone()),
            search: over.search.or(self.search),
            url_context: over.url_context.or(self.url_context),
        }
    }

    /// The request's built-in tools: Google Search and URL context when they are on.
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools = Vec::new();
        if self.search == Some(true) {
            tools.push(Tool::google_search());
        }
        if self.url_context == Some(true) {
            tools.push(Tool::url_context());
        }
        tools
    }

    pub fn is_empty(&self) -> bool {
        *self == Settings::default()
    }

    pub fn shows_thoughts(&self) -> bool {
        self.show_thoughts == Some(true)
    }

    /// Checks the ranges the API accepts (whatever the model).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |text: String| Err(SettingsError(text));
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return bad(format!("The temperature must be between 0 and 2, not {t}."));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return bad(format!("top-p must be between 0 and 1, not {p}."));
        }
        if self.max_tokens == Some(0) {
            return bad("The output limit (max tokens) must be at least 1.".to_owned());
        }
        if let Some(stop) = &self.stop {
            if stop.len() > MAX_STOP_SEQUENCES {
                return bad(format!("Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences, not {}.", stop.len()));
            }
            if stop.iter().any(String::is_empty) {
                return bad("A stop sequence cannot be empty.".to_owned());
            }
        }
        if let Some(schema) = &self.json_schema
            && !(schema.is_object() || schema.is_boolean())
        {
            return bad("The JSON schema must be a JSON object (a JSON Schema document).".to_owned());
        }
        Ok(())
    }

    /// The `generationConfig` for `model` (`None` when nothing is set), or why it cannot be sent.
    pub fn generation_config(&self, model: &str) -> Result<Option<GenerationConfig>, SettingsError> {
        self.validate()?;
        let mut thinking = match self.thinking {
            Some(t) => Some(thinking_config(model, t).map_err(SettingsError)?),
            None => None,
        };
        if self.shows_thoughts() {
            thinking.get_or_insert_with(Default::default).include_thoughts = Some(true);
        }
        let config = GenerationConfig {
            temperature: self.temperature,
            top_p: self.top_p,
            max_output_tokens: self.max_tokens,
            seed: self.seed,
            stop_sequences: self.stop.clone().filter(|s| !s.is_empty()),
            thinking_config: thinking,
            response_mime_type: self.json_schema.as_ref().map(|_| "application/json".to_owned()),
            response_json_schema: self.json_schema.clone(),
            ..GenerationConfig::default()
        };
        Ok((!config.is_empty()).then_some(config))
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
    pub fn tool_specs(&self) -> Vec<crate::llm::ToolSpec> {
        let mut tools = Vec::new();
        if self.search == Some(true) {
            tools.push(crate::llm::ToolSpec::GoogleSearch);
        }
        if self.url_context == Some(true) {
            tools.push(crate::llm::ToolSpec::UrlContext);
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
        let mut parts = Vec::new();
        if let Some(t) = self.thinking {
            parts.push(format!("thinking {t}"));
        }
        if self.shows_thoughts() {
            parts.push("thoughts shown".to_owned());
        }
        if let Some(t) = self.temperature {
            parts.push(format!("temperature {t}"));
        }
        if let Some(p) = self.top_p {
            parts.push(format!("top-p {p}"));
        }
        if let Some(n) = self.max_tokens {
            parts.push(format!("max-tokens {n}"));
        }
        if let Some(s) = self.seed {
            parts.push(format!("seed {s}"));
        }
        if let Some(stop) = self.stop.as_ref().filter(|s| !s.is_empty()) {
            let quoted: Vec<String> = stop.iter().map(|s| format!("{:?}", crate::sanitize::one_line(s, 20))).collect();
            parts.push(format!("stop {}", quoted.join(" ")));
        }
        if self.json_schema.is_some() {
            parts.push("JSON schema".to_owned());
        }
        if self.search == Some(true) {
            parts.push("search".to_owned());
        }
        if self.url_context == Some(true) {
            parts.push("URL context".to_owned());
        }
        parts.join(" · ")
    }

    /// Applies `/set NAME VALUE` (VALUE `default` removes the setting); the sentence to say.
    pub fn set(&mut self, name: &str, value: &str) -> Result<String, SettingsError> {
        let value = value.trim();
        let clear = value.eq_ignore_ascii_case("default") || value.eq_ignore_ascii_case("clear");
        let number = |what: &str| -> Result<f32, SettingsError> {
            value.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                SettingsError(format!("{what} must be a number, not \"{}\".", crate::sanitize::one_line(value, 20)))
            })
        };
        let mut next = self.clone();
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        match name.as_str() {
            "temperature" => next.temperature = if clear { None } else { Some(number("The temperature")?) },
            "top-p" => next.top_p = if clear { None } else { Some(number("top-p")?) },
            "max-tokens" => {
                next.max_tokens = if clear {
                    None
                } else {
                    Some(value.parse::<u32>().map_err(|_| {
                        SettingsError("max-tokens must be a whole number of tokens, at least 1.".to_owned())
                    })?)
                }
            }
            "seed" => {
                next.seed = if clear {
                    None
                } else {
                    Some(
                        value
                            .parse::<i64>()
                            .map_err(|_| SettingsError("The seed must be a whole number.".to_owned()))?,
                    )
                }
            }
            "stop" => {
                next.stop = if clear {
                    None
                } else {
                    Some(value.split('|').map(str::to_owned).filter(|s| !s.is_empty()).collect())
                }
            }
            "thinking" => next.thinking = if clear { None } else { Some(value.parse().map_err(SettingsError)?) },
            "search" | "url-context" | "urlcontext" => {
                let current = if name == "search" { self.search } else { self.url_context };
                let on = match value.to_ascii_lowercase().as_str() {
                    "on" | "true" | "yes" => Some(true),
                    "off" | "false" | "no" => Some(false),
                    "" | "toggle" => Some(current != Some(true)),
                    _ if clear => None,
                    _ => return Err(SettingsError(format!("{name} is on or off."))),
                };
                let said = match (name.as_str(), on) {
                    ("search", Some(true)) => "Google Search is on: answers show their sources.",
                    ("search", _) => "Google Search is off.",
                    (_, Some(true)) => "URL context is on: the model reads the pages whose links the prompt holds.",
                    _ => "URL context is off.",
                };
                if name == "search" {
                    self.search = on;
                } else {
                    self.url_context = on;
                }
                return Ok(said.to_owned());
            }
            "thoughts" | "show-thoughts" => {
                next.show_thoughts = match value.to_ascii_lowercase().as_str() {
                    "on" | "true" | "yes" => Some(true),
                    "off" | "false" | "no" => Some(false),
                    _ if clear => None,
                    _ => return Err(SettingsError("thoughts is on or off.".to_owned())),
                }
            }
            _ => {
                return Err(SettingsError(format!(
                    "{} is not a setting: use temperature, top-p, max-tokens, seed, stop, thinking, thoughts, search or url-context.",
                    crate::sanitize::one_line(&name, 20)
                )));
            }
        }
        next.validate()?;
        *self = next;
        Ok(if clear { format!("{name} is back to its default.") } else { format!("{name} set to {value}.") })
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
    use crate::gemini::ThinkingLevel;

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
            let e = s.generation_config("gemini-2.5-flash").unwrap_err().0;
            assert!(e.contains(needle) && e.ends_with('.'), "{e}");
        }
    }

    #[test]
    fn the_generation_config_holds_exactly_what_is_set() {
        assert_eq!(Settings::default().generation_config("m").unwrap(), None);
        let s = Settings {
            thinking: Some(Thinking::Low),
            show_thoughts: Some(true),
            temperature: Some(0.2),
            json_schema: Some(serde_json::json!({"type": "object"})),
            ..Settings::default()
        };
        let c = s.generation_config("gemini-3-flash-preview").unwrap().unwrap();
        let thinking = c.thinking_config.clone().unwrap();
        assert_eq!(thinking.thinking_level, Some(ThinkingLevel::Low));
        assert_eq!(thinking.include_thoughts, Some(true));
        assert_eq!(c.response_mime_type.as_deref(), Some("application/json"));
        // As sent: serde_json writes an f32 in its shortest form.
        let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(json["temperature"], serde_json::json!(0.2));
        assert_eq!(json["responseJsonSchema"], serde_json::json!({"type": "object"}));
        assert!(json.get("topP").is_none() && json["thinkingConfig"].get("thinkingBudget").is_none());
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
        assert!(s.tools().is_empty());
        assert!(s.set("search", "on").unwrap().contains("sources"));
        s.set("url-context", "toggle").unwrap();
        assert_eq!(s.tools(), vec![Tool::google_search(), Tool::url_context()]);
        assert_eq!(s.summary(), "search · URL context");
        s.set("search", "toggle").unwrap();
        assert_eq!(s.search, Some(false));
        assert!(s.set("search", "maybe").is_err());
        let back = Settings::from_stored(s.to_stored().as_deref()).unwrap();
        assert_eq!(back.tools(), vec![Tool::url_context()], "stored with the conversation");
        let flags = Settings { search: Some(true), ..Settings::default() };
        assert_eq!(back.with(&flags).tools().len(), 2);
    }

    #[test]
    fn a_json_answer_is_checked_for_well_formedness() {
        assert_eq!(json_answer_problem(" {\"a\": [1, 2]}\n"), None);
        let problem = json_answer_problem("{\"a\": [1, 2").unwrap();
        assert!(problem.contains("not valid JSON") && problem.contains("ends too early"), "{problem}");
        assert!(json_answer_problem("Sure! Here is the JSON: {}").is_some());
    }
}
