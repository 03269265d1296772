//! How much a model thinks: the user's choice (`off`, `low`, `medium`, `high` or a token budget)
//! and its `thinkingConfig` for a model family. Gemini 3 and later take a `thinkingLevel`; 2.5
//! models take a `thinkingBudget` whose range depends on the model (wire reference, section 2).
//! A choice the model cannot take is refused here, before anything is sent.

use super::types::{GenerateContentRequest, ThinkingConfig, ThinkingLevel};

pub use crate::llm::Thinking;

/// Which thinking control a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Gemini 3 and later Pro models: levels LOW and HIGH only.
    Gemini3Pro,
    /// Gemini 3 and later (Flash, Flash-Lite): levels MINIMAL to HIGH.
    Gemini3,
    /// gemini-2.5-pro: a budget of 128 to 32768; it cannot stop thinking.
    Pro25,
    /// gemini-2.5-flash: a budget of 0 to 24576.
    Flash25,
    /// gemini-2.5-flash-lite: 0, or 512 to 24576.
    FlashLite25,
    /// Anything else (aliases such as `gemini-flash-latest`, older or unknown models): a
    /// budget, which every thinking model accepts; the server judges its range.
    Other,
}

/// The family of `model` (`models/` prefix and case ignored).
pub fn family(model: &str) -> Family {
    let name = model.trim().trim_start_matches("models/").to_ascii_lowercase();
    let Some(rest) = name.strip_prefix("gemini-") else { return Family::Other };
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match major.parse::<u32>() {
        Ok(major) if major >= 3 => {
            if rest.contains("-pro") {
                Family::Gemini3Pro
            } else {
                Family::Gemini3
            }
        }
        _ if rest.starts_with("2.5-pro") => Family::Pro25,
        _ if rest.starts_with("2.5-flash-lite") => Family::FlashLite25,
        _ if rest.starts_with("2.5-flash") => Family::Flash25,
        _ => Family::Other,
    }
}

/// The budgets `low`, `medium` and `high` stand for on a model that takes a budget.
pub const LOW_BUDGET: u32 = 1024;
pub const MEDIUM_BUDGET: u32 = 8192;
/// The most a 2.5 Flash or Flash-Lite model takes.
pub const FLASH_MAX_BUDGET: u32 = 24_576;
/// The most a 2.5 Pro model (and any model here) takes.
pub const PRO_MAX_BUDGET: u32 = 32_768;

/// The `thinkingConfig` for `thinking` on `model`, or the sentence saying why the model cannot
/// take it.
pub fn thinking_config(model: &str, thinking: Thinking) -> Result<ThinkingConfig, String> {
    let name = crate::sanitize::one_line(model.trim_start_matches("models/"), 60);
    let level = |level| Ok(ThinkingConfig { thinking_level: Some(level), ..ThinkingConfig::default() });
    let budget = |n: u32| Ok(ThinkingConfig { thinking_budget: Some(n as i32), ..ThinkingConfig::default() });
    let family = family(model);
    let (min, max, lite) = match family {
        Family::Pro25 => (128, PRO_MAX_BUDGET, false),
        Family::Flash25 => (0, FLASH_MAX_BUDGET, false),
        Family::FlashLite25 => (0, FLASH_MAX_BUDGET, true),
        Family::Gemini3 | Family::Gemini3Pro | Family::Other => (0, PRO_MAX_BUDGET, false),
    };
    match (family, thinking) {
        (Family::Gemini3Pro, Thinking::Off) => {
            Err(format!("{name} cannot turn thinking off (it takes only low or high): choose low."))
        }
        (Family::Gemini3Pro, Thinking::Medium) => {
            Err(format!("{name} takes only low or high thinking, not medium: choose one of those."))
        }
        (Family::Gemini3, Thinking::Off) => level(ThinkingLevel::Minimal),
        (Family::Gemini3 | Family::Gemini3Pro, Thinking::Low) => level(ThinkingLevel::Low),
        (Family::Gemini3, Thinking::Medium) => level(ThinkingLevel::Medium),
        (Family::Gemini3 | Family::Gemini3Pro, Thinking::High) => level(ThinkingLevel::High),
        (Family::Pro25, Thinking::Off) => Err(format!(
            "{name} cannot turn thinking off: choose low, medium, high or a budget from {min} to {max} tokens."
        )),
        (_, Thinking::Off) => budget(0),
        (_, Thinking::Low) => budget(LOW_BUDGET),
        (_, Thinking::Medium) => budget(MEDIUM_BUDGET),
        // An alias may stand for a Flash model today: the most every thinking model accepts.
        (Family::Other, Thinking::High) => budget(FLASH_MAX_BUDGET),
        (_, Thinking::High) => budget(max),
        (_, Thinking::Budget(n)) => {
            let fits = n <= max && n >= min && !(lite && n > 0 && n < 512);
            if fits {
                budget(n)
            } else if lite {
                Err(format!("{name} takes a thinking budget of 0 or 512 to {max} tokens, not {n}."))
            } else {
                Err(format!("{name} takes a thinking budget from {min} to {max} tokens, not {n}."))
            }
        }
    }
}

/// A request made for `made_for`, refitted for `model` (a fallback after a spent quota): a
/// thinking level or budget chosen for another family is dropped, so the model thinks at its own
/// default rather than refusing the request; thought summaries stay asked for. `None` when the
/// request may go as it is.
pub fn refit(request: &GenerateContentRequest, made_for: &str, model: &str) -> Option<GenerateContentRequest> {
    let thinking = request.generation_config.as_ref()?.thinking_config.as_ref()?;
    let chosen = thinking.thinking_level.is_some() || thinking.thinking_budget.is_some();
    if !chosen || family(made_for) == family(model) {
        return None;
    }
    let mut refitted = request.clone();
    if let Some(config) = refitted.generation_config.as_mut() {
        config.thinking_config = thinking
            .include_thoughts
            .map(|include| ThinkingConfig { include_thoughts: Some(include), ..ThinkingConfig::default() });
    }
    Some(refitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_read_from_the_model_name() {
        assert_eq!(family("gemini-3-pro-preview"), Family::Gemini3Pro);
        assert_eq!(family("models/gemini-3.1-pro-preview"), Family::Gemini3Pro);
        assert_eq!(family("gemini-3-flash-preview"), Family::Gemini3);
        assert_eq!(family("gemini-3.7-flash"), Family::Gemini3);
        assert_eq!(family("gemini-2.5-pro"), Family::Pro25);
        assert_eq!(family("gemini-2.5-flash"), Family::Flash25);
        assert_eq!(family("gemini-2.5-flash-lite"), Family::FlashLite25);
        assert_eq!(family("gemini-flash-latest"), Family::Other);
        assert_eq!(family("gemini-2.0-flash"), Family::Other);
    }

    #[test]
    fn gemini_3_gets_a_level_and_2_5_a_budget_never_both() {
        let c = thinking_config("gemini-3-flash-preview", Thinking::High).unwrap();
        assert_eq!((c.thinking_level, c.thinking_budget), (Some(ThinkingLevel::High), None));
        let c = thinking_config("gemini-3-flash-preview", Thinking::Off).unwrap();
        assert_eq!(c.thinking_level, Some(ThinkingLevel::Minimal));
        let c = thinking_config("gemini-2.5-flash", Thinking::Off).unwrap();
        assert_eq!((c.thinking_level, c.thinking_budget), (None, Some(0)));
        let c = thinking_config("gemini-2.5-flash", Thinking::High).unwrap();
        assert_eq!(c.thinking_budget, Some(24_576));
        let c = thinking_config("gemini-2.5-pro", Thinking::High).unwrap();
        assert_eq!(c.thinking_budget, Some(32_768));
        let c = thinking_config("gemini-flash-latest", Thinking::High).unwrap();
        assert_eq!(c.thinking_budget, Some(24_576), "an alias gets what any thinking model takes");
        let c = thinking_config("gemini-2.5-flash-lite", Thinking::Budget(600)).unwrap();
        assert_eq!(c.thinking_budget, Some(600));
    }

    #[test]
    fn what_a_model_cannot_take_is_refused_in_one_sentence() {
        for (model, thinking, needle) in [
            ("gemini-2.5-pro", Thinking::Off, "cannot turn thinking off"),
            ("gemini-2.5-pro", Thinking::Budget(64), "from 128 to 32768"),
            ("gemini-2.5-flash", Thinking::Budget(30_000), "from 0 to 24576"),
            ("gemini-2.5-flash-lite", Thinking::Budget(100), "0 or 512 to 24576"),
            ("gemini-3-pro-preview", Thinking::Medium, "only low or high"),
            ("gemini-3-pro-preview", Thinking::Off, "cannot turn thinking off"),
        ] {
            let e = thinking_config(model, thinking).unwrap_err();
            assert!(e.contains(needle) && e.ends_with('.') && !e.contains('\n'), "{model} {thinking}: {e}");
        }
    }

    #[test]
    fn choices_read_and_print_alike() {
        for text in ["off", "low", "medium", "high", "2048"] {
            assert_eq!(text.parse::<Thinking>().unwrap().to_string(), text);
        }
        assert!("lots".parse::<Thinking>().is_err());
    }

    #[test]
    fn a_fallback_model_of_another_family_thinks_at_its_default() {
        let config = Some(crate::gemini::GenerationConfig {
            temperature: Some(0.5),
            thinking_config: Some(ThinkingConfig {
                thinking_budget: Some(32_768),
                include_thoughts: Some(true),
                ..ThinkingConfig::default()
            }),
            ..Default::default()
        });
        let request = GenerateContentRequest { generation_config: config, ..GenerateContentRequest::default() };
        assert_eq!(refit(&request, "gemini-2.5-pro", "models/gemini-2.5-pro"), None, "the same family");
        let refitted = refit(&request, "gemini-2.5-pro", "gemini-2.5-flash-lite").unwrap();
        let config = refitted.generation_config.unwrap();
        assert_eq!(config.temperature, Some(0.5), "the rest stays");
        assert_eq!(config.thinking_config, Some(ThinkingConfig { include_thoughts: Some(true), ..Default::default() }));
        assert_eq!(refit(&GenerateContentRequest::default(), "gemini-2.5-pro", "gemini-3-pro-preview"), None);
    }
}
