//! The generation flags shared by `ask`, `batch` and the interface: thinking, thought
//! summaries, temperature, top-p, the output limit, the seed and stop sequences. Given before
//! the command (`geminal --temperature 0.2 ask`), they apply to it unless it repeats them.

use std::path::Path;

use clap::Args;

use super::exit::Failure;
use crate::chat::Settings;
use crate::llm::Thinking;

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Generation")]
pub struct GenerationArgs {
    /// How much the model thinks: off, low, medium, high or a budget in tokens (a level on
    /// Gemini 3, a budget on 2.5; refused when the model cannot take it) [config: thinking].
    #[arg(long, value_name = "LEVEL", value_parser = parse_thinking)]
    pub thinking: Option<Thinking>,
    /// Ask for the model's thought summaries and show them dimmed above the answer (on a pipe
    /// they go to stderr; never into the answer) [config: show_thoughts].
    #[arg(long, overrides_with = "no_show_thoughts")]
    pub show_thoughts: bool,
    /// Do not ask for thoughts (for a config file or conversation that has them on).
    #[arg(long)]
    pub no_show_thoughts: bool,
    /// Sampling temperature, 0 to 2 [config: temperature].
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Nucleus sampling, 0 to 1 [config: top_p].
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// The most tokens the answer may have (maxOutputTokens) [config: max_tokens].
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// A seed, for answers that repeat more often [config: seed].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<i64>,
    /// Stop the answer where this text appears (repeatable, at most 5) [config: stop].
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Ground the answer in Google Search: it shows numbered markers and its sources below
    /// (never answered from the cache) [config: search].
    #[arg(long, overrides_with = "no_search")]
    pub search: bool,
    /// Do not use Google Search (for a conversation or config that has it on).
    #[arg(long)]
    pub no_search: bool,
    /// Let the model read the pages whose URLs the prompt holds (URL context) [config: url_context].
    #[arg(long, overrides_with = "no_url_context")]
    pub url_context: bool,
    /// Do not use URL context (for a conversation or config that has it on).
    #[arg(long)]
    pub no_url_context: bool,
}

/// `Some(true)` for `--x`, `Some(false)` for `--no-x`, `None` for neither.
fn switch(on: bool, off: bool) -> Option<bool> {
    if on {
        Some(true)
    } else if off {
        Some(false)
    } else {
        None
    }
}

fn parse_thinking(text: &str) -> Result<Thinking, String> {
    text.parse()
}

impl GenerationArgs {
    /// These flags, each taken from `outer` (given before the command) where not given here.
    pub fn or(&self, outer: &GenerationArgs) -> GenerationArgs {
        GenerationArgs {
            thinking: self.thinking.or(outer.thinking),
            show_thoughts: self.show_thoughts || (outer.show_thoughts && !self.no_show_thoughts),
            no_show_thoughts: self.no_show_thoughts || (outer.no_show_thoughts && !self.show_thoughts),
            temperature: self.temperature.or(outer.temperature),
            top_p: self.top_p.or(outer.top_p),
            max_tokens: self.max_tokens.or(outer.max_tokens),
            seed: self.seed.or(outer.seed),
            stop: if self.stop.is_empty() { outer.stop.clone() } else { self.stop.clone() },
            search: self.search || (outer.search && !self.no_search),
            no_search: self.no_search || (outer.no_search && !self.search),
            url_context: self.url_context || (outer.url_context && !self.no_url_context),
            no_url_context: self.no_url_context || (outer.no_url_context && !self.url_context),
        }
    }

    /// The first flag given, by name (for a command it does not apply to).
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.thinking.is_some(), "--thinking"),
            (self.show_thoughts, "--show-thoughts"),
            (self.no_show_thoughts, "--no-show-thoughts"),
            (self.temperature.is_some(), "--temperature"),
            (self.top_p.is_some(), "--top-p"),
            (self.max_tokens.is_some(), "--max-tokens"),
            (self.seed.is_some(), "--seed"),
            (!self.stop.is_empty(), "--stop"),
            (self.search, "--search"),
            (self.no_search, "--no-search"),
            (self.url_context, "--url-context"),
            (self.no_url_context, "--no-url-context"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// The settings these flags set (checked now, so a bad value fails before anything starts;
    /// what the model can take is checked once the model is known).
    pub fn settings(&self) -> Result<Settings, Failure> {
        let settings = Settings {
            thinking: self.thinking,
            show_thoughts: switch(self.show_thoughts, self.no_show_thoughts),
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens,
            seed: self.seed,
            stop: (!self.stop.is_empty()).then(|| self.stop.clone()),
            json_schema: None,
            search: switch(self.search, self.no_search),
            url_context: switch(self.url_context, self.no_url_context),
        };
        settings.validate().map_err(|e| Failure::usage(e.to_string()))?;
        Ok(settings)
    }
}

/// Reads `--json-schema FILE`: a JSON Schema document (a JSON object).
pub fn read_json_schema(path: &Path) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!("The JSON schema {} could not be read ({}): check the path.", path.display(), e.kind()))
    })?;
    let schema: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "The JSON schema {} is not valid JSON (line {}, column {}): fix it and try again.",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if !schema.is_object() {
        return Err(Failure::usage(format!(
            "The JSON schema {} must be a JSON object (a JSON Schema document).",
            path.display()
        )));
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_before_the_command_fill_in_what_it_does_not_repeat() {
        let outer = GenerationArgs { temperature: Some(0.5), seed: Some(3), ..GenerationArgs::default() };
        let inner = GenerationArgs { temperature: Some(0.1), ..GenerationArgs::default() };
        let both = inner.or(&outer);
        assert_eq!((both.temperature, both.seed), (Some(0.1), Some(3)));
        assert_eq!(outer.first_given(), Some("--temperature"));
        assert_eq!(GenerationArgs::default().first_given(), None);
    }
}
