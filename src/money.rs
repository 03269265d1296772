//! Money: the price table and what a request costs; budgets as data are in `budget.rs`. A leaf
//! every layer may import (the batch runner and the remote Batch API price with [`cost`]); it
//! does no I/O and knows no wire format. Amounts are exact integers of nano-dollars ([`Usd`]),
//! never float sums.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

mod budget;

pub use budget::{
    BUDGET_WARN_PERCENT, BudgetCheck, BudgetLevel, Period, Refusal, Spending, WORST_CASE_OUTPUT_TOKENS, admit,
    budget_level, check_budgets, worst_usage,
};

/// The table that ships with geminal (`assets/prices.toml`).
const BUILTIN_TABLE: &str = include_str!("../assets/prices.toml");

/// Prompts longer than this many tokens are billed at a model's long-prompt rates.
pub const LONG_PROMPT_TOKENS: u64 = 200_000;

/// The provider a bare model name belongs to.
pub const DEFAULT_PROVIDER: &str = crate::provider::name::GEMINI;

const NANOS_PER_USD: i64 = 1_000_000_000;
/// Rates are nano-dollars per this many tokens.
const RATE_TOKENS: i128 = 1_000_000;
/// A batch fraction is kept in basis points.
const WHOLE_BP: i128 = 10_000;

/// An amount of US dollars, exact to the nano-dollar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i64);

impl Usd {
    pub const ZERO: Usd = Usd(0);

    pub fn from_nanos(nanos: i64) -> Usd {
        Usd(nanos)
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// `dollars` rounded to the nano-dollar; `None` for a negative, infinite or absurd amount.
    pub fn from_dollars(dollars: f64) -> Option<Usd> {
        let nanos = (dollars * NANOS_PER_USD as f64).round();
        (dollars.is_finite() && dollars >= 0.0 && nanos < i64::MAX as f64).then_some(Usd(nanos as i64))
    }

    /// For JSON output only (never summed).
    pub fn as_dollars(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    pub fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }

    /// `self` less `other`, never below zero.
    pub fn saturating_sub(self, other: Usd) -> Usd {
        Usd::from_nanos(self.nanos().saturating_sub(other.nanos()).max(0))
    }
}

impl std::iter::Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Usd::saturating_add)
    }
}

/// Cents from $10 up (`$12.35`); below, up to six decimals (`$0.0183`, `$0.000123`, at least
/// two: `$1.50`), so a small answer never reads as free; `<$0.000001` below that.
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0;
        let sign = if nanos < 0 { "-" } else { "" };
        let n = nanos.unsigned_abs();
        if n == 0 {
            return f.write_str("$0.00");
        }
        if n >= 10 * NANOS_PER_USD as u64 {
            let cents = (n + 5_000_000) / 10_000_000;
            return write!(f, "{sign}${}.{:02}", cents / 100, cents % 100);
        }
        let micros = (n + 500) / 1_000;
        if micros == 0 {
            return write!(f, "{sign}<$0.000001");
        }
        let digits = format!("{:06}", micros % 1_000_000);
        let trimmed = digits.trim_end_matches('0');
        let fraction = if trimmed.len() < 2 { &digits[..2] } else { trimmed };
        write!(f, "{sign}${}.{fraction}", micros / 1_000_000)
    }
}

/// A price in nano-dollars per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(i64);

impl Rate {
    /// `usd` dollars per 1M tokens.
    pub fn per_million(usd: f64) -> Option<Rate> {
        Usd::from_dollars(usd).map(|u| Rate(u.0))
    }
}

/// What one model costs. Absent rates follow the table's rules (see `assets/prices.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input: Rate,
    /// Prompts over [`LONG_PROMPT_TOKENS`]; `None`: no long tier.
    pub input_long: Option<Rate>,
    /// Output, thinking included.
    pub output: Rate,
    pub output_long: Option<Rate>,
    /// Cached prompt tokens read; `None`: unknown.
    pub cached_input: Option<Rate>,
    pub cached_input_long: Option<Rate>,
    /// Audio prompt tokens; `None`: the input rate.
    pub audio_input: Option<Rate>,
    /// What the Batch API pays, in basis points of the price; `None`: unknown.
    pub batch_bp: Option<u32>,
}

/// Token counts as billed: what a provider's usage report says, in the words of the bill.
/// Missing counts are 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every prompt token, cached ones included.
    pub prompt: u64,
    /// Of `prompt`, those read from a cache.
    pub cached: u64,
    /// Of `prompt`, audio.
    pub prompt_audio: u64,
    /// Of `cached`, audio.
    pub cached_audio: u64,
    /// Tool results given back to the model (billed as input).
    pub tool_use_prompt: u64,
    /// The answer, without thoughts.
    pub output: u64,
    pub thoughts: u64,
}

impl crate::llm::Usage {
    /// The counts as billed.
    pub fn billed(&self) -> Usage {
        Usage {
            prompt: u64::from(self.prompt_token_count),
            cached: u64::from(self.cached_content_token_count),
            prompt_audio: u64::from(self.prompt_audio_token_count),
            cached_audio: u64::from(self.cached_audio_token_count),
            tool_use_prompt: u64::from(self.tool_use_prompt_token_count),
            output: u64::from(self.candidates_token_count),
            thoughts: u64::from(self.thoughts_token_count),
        }
    }
}

/// What `usage` cost at `price`, at Batch API rates when `batch`; `None` when the price says
/// nothing about something that was used (cached tokens with no cached rate, a batch with no
/// batch discount). Follows the research notes' B.2: the tier is chosen per request by the whole
/// prompt (cached tokens included); tool results are billed as fresh input; the batch discount
/// applies to fresh input and output, not to cached reads (both unverified against a real bill).
pub fn cost(usage: &Usage, price: &Price, batch: bool) -> Option<Usd> {
    let long = usage.prompt > LONG_PROMPT_TOKENS;
    let tiered = |short: Rate, long_rate: Option<Rate>| if long { long_rate.unwrap_or(short) } else { short };
    let input = tiered(price.input, price.input_long);
    let output = tiered(price.output, price.output_long);
    let audio = price.audio_input.unwrap_or(input);
    let fresh_audio = usage.prompt_audio.saturating_sub(usage.cached_audio);
    let fresh = usage.prompt.saturating_sub(usage.cached) + usage.tool_use_prompt;
    let fresh_text = fresh.saturating_sub(fresh_audio);
    let units = |tokens: u64, rate: Rate| i128::from(tokens) * i128::from(rate.0);
    let discounted =
        units(fresh_text, input) + units(fresh_audio.min(fresh), audio) + units(usage.output + usage.thoughts, output);
    let cached = match usage.cached {
        0 => 0,
        n => {
            let rate = if long { price.cached_input_long.or(price.cached_input) } else { price.cached_input };
            units(n, rate?)
        }
    };
    let bp = if batch { i128::from(price.batch_bp?) } else { WHOLE_BP };
    let scaled = discounted * bp + cached * WHOLE_BP;
    let divisor = RATE_TOKENS * WHOLE_BP;
    let nanos = (scaled + divisor / 2) / divisor;
    Some(Usd(i64::try_from(nanos).unwrap_or(i64::MAX)))
}

/// `provider:model` for a model name (a bare name is the default provider's).
pub fn price_key(model: &str) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let (provider, model) = split(model);
    crate::provider::name::qualified(provider, model)
}

/// The provider part of a model name.
pub fn provider_of(model: &str) -> &str {
    split(model).0
}

/// A canonical model name's provider and model (a bare name is Gemini's).
fn split(model: &str) -> (&str, &str) {
    crate::provider::name::split_canonical(model, &|provider| !provider.is_empty())
}

/// One model's row of a price table, as written (USD per 1M tokens).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFields {
    pub input: Option<f64>,
    pub input_long: Option<f64>,
    pub output: Option<f64>,
    pub output_long: Option<f64>,
    pub cached_input: Option<f64>,
    pub cached_input_long: Option<f64>,
    pub audio_input: Option<f64>,
    /// What the Batch API pays, as a fraction of the price (0.5 = half).
    pub batch: Option<f64>,
    pub source: Option<String>,
}

impl PriceFields {
    /// `self` with every field `over` sets replaced.
    fn overridden_by(&self, over: &PriceFields) -> PriceFields {
        PriceFields {
            input: over.input.or(self.input),
            input_long: over.input_long.or(self.input_long),
            output: over.output.or(self.output),
            output_long: over.output_long.or(self.output_long),
            cached_input: over.cached_input.or(self.cached_input),
            cached_input_long: over.cached_input_long.or(self.cached_input_long),
            audio_input: over.audio_input.or(self.audio_input),
            batch: over.batch.or(self.batch),
            source: over.source.clone().or_else(|| self.source.clone()),
        }
    }

    fn price(&self, key: &str) -> Result<Price, String> {
        let rate = |name: &str, value: Option<f64>| -> Result<Option<Rate>, String> {
            value
                .map(|v| {
                    Rate::per_million(v).ok_or_else(|| {
                        format!("the price {key:?} has a {name} of {v}: give a positive number of USD per 1M tokens.")
                    })
                })
                .transpose()
        };
        let needed = |name: &str, value: Option<f64>| -> Result<Rate, String> {
            rate(name, value)?.ok_or_else(|| {
                format!("the price {key:?} has no {name}: give both `input` and `output` (USD per 1M tokens).")
            })
        };
        let batch_bp = match self.batch {
            Some(b) if (0.0..=1.0).contains(&b) => Some((b * WHOLE_BP as f64).round() as u32),
            Some(b) => {
                return Err(format!("the price {key:?} has a batch of {b}: give a fraction from 0 to 1 (0.5 = half)."));
            }
            None => None,
        };
        Ok(Price {
            input: needed("input", self.input)?,
            input_long: rate("input_long", self.input_long)?,
            output: needed("output", self.output)?,
            output_long: rate("output_long", self.output_long)?,
            cached_input: rate("cached_input", self.cached_input)?,
            cached_input_long: rate("cached_input_long", self.cached_input_long)?,
            audio_input: rate("audio_input", self.audio_input)?,
            batch_bp,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    as_of: String,
    /// Where the table as a whole comes from (for its readers; each row has its own).
    #[serde(default, rename = "source")]
    _source: Option<String>,
    models: BTreeMap<String, PriceFields>,
}

/// A model's price, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// The `provider:model` row it came from.
    pub key: String,
    pub price: Price,
    pub source: Option<String>,
}

/// The price table in use: the shipped one with the config's `[prices]` laid over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBook {
    as_of: String,
    models: BTreeMap<String, (Price, Option<String>)>,
    /// Rows the config file changed or added.
    overridden: Vec<String>,
}

impl PriceBook {
    /// The shipped table.
    pub fn builtin() -> PriceBook {
        // The asset is checked by a test; a broken one would price nothing rather than crash.
        PriceBook::parse(BUILTIN_TABLE).unwrap_or(PriceBook {
            as_of: String::new(),
            models: BTreeMap::new(),
            overridden: Vec::new(),
        })
    }

    /// The shipped table with `overrides` (`[prices."provider:model"]`) laid over it, field by field.
    pub fn with_overrides(overrides: &BTreeMap<String, PriceFields>) -> Result<PriceBook, String> {
        let table: TableFile = toml::from_str(BUILTIN_TABLE).map_err(|e| e.to_string())?;
        let mut rows = table.models;
        let mut overridden = Vec::new();
        for (name, over) in overrides {
            let key = price_key(name);
            let merged = rows.get(&key).map_or_else(|| over.clone(), |base| base.overridden_by(over));
            rows.insert(key.clone(), merged);
            overridden.push(key);
        }
        let mut book = PriceBook::from_rows(table.as_of, rows)?;
        book.overridden = overridden;
        Ok(book)
    }

    /// A table in the shipped format.
    pub fn parse(text: &str) -> Result<PriceBook, String> {
        let table: TableFile = toml::from_str(text).map_err(|e| e.to_string())?;
        PriceBook::from_rows(table.as_of, table.models)
    }

    fn from_rows(as_of: String, rows: BTreeMap<String, PriceFields>) -> Result<PriceBook, String> {
        let mut models = BTreeMap::new();
        for (key, fields) in rows {
            let price = fields.price(&key)?;
            models.insert(price_key(&key), (price, fields.source));
        }
        Ok(PriceBook { as_of, models, overridden: Vec::new() })
    }

    /// The date of the shipped table (`YYYY-MM-DD`).
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// Rows the config file changed or added.
    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// The price of `model` (`provider:model` or a bare name): its own row, or the row of the
    /// same name without a numeric version suffix (`gemini-2.0-flash-001` is `gemini-2.0-flash`).
    /// Nothing else: an alias or a preview is never priced as another model.
    pub fn lookup(&self, model: &str) -> Option<Priced> {
        let key = price_key(model);
        let found = |k: &str| {
            self.models.get(k).map(|(price, source)| Priced {
                key: k.to_owned(),
                price: *price,
                source: source.clone(),
            })
        };
        found(&key).or_else(|| {
            let (stem, suffix) = key.rsplit_once('-')?;
            (!suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())).then(|| found(stem)).flatten()
        })
    }

    /// The price of an answer to a request for `requested`, which the server says `answered_by`
    /// (its `modelVersion`): that model's price when the table knows it, else the requested
    /// model's. The shipped table names no alias (`-latest`, whose model changes without
    /// notice), so an alias is priced by its own name only when the config gives it a row.
    pub fn for_answer(&self, requested: &str, answered_by: Option<&str>) -> Option<Priced> {
        let provider = provider_of(requested);
        let by_version = answered_by.and_then(|v| {
            let v = v.strip_prefix("models/").unwrap_or(v);
            self.lookup(&format!("{provider}:{v}"))
        });
        by_version.or_else(|| self.lookup(requested))
    }

    /// What a request to `model` of about `prompt_tokens`, answering at most `max_output`
    /// tokens (`None`: the largest any model gives), may cost at worst: at its own price, else
    /// the dearest of its provider's (`None`: nothing bounds it).
    pub fn worst_case(&self, model: &str, prompt_tokens: u64, max_output: Option<u32>) -> Option<Usd> {
        let usage = worst_usage(prompt_tokens, max_output);
        match self.lookup(model) {
            Some(priced) => cost(&usage, &priced.price, false),
            None => self.dearest(provider_of(&price_key(model)), &usage),
        }
    }

    /// What `usage` would cost at the dearest of `provider`'s rows: the worst case for a model
    /// the table cannot name before it answers (an alias).
    pub fn dearest(&self, provider: &str, usage: &Usage) -> Option<Usd> {
        let prefix = format!("{provider}:");
        self.models
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, (price, _))| cost(usage, price, false))
            .max()
    }

    /// Every row, by key.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &Price, Option<&str>)> {
        self.models.iter().map(|(k, (p, s))| (k.as_str(), p, s.as_deref()))
    }
}

impl Default for PriceBook {
    fn default() -> Self {
        PriceBook::builtin()
    }
}

/// A sum of costs some of which may be unknown: `$0.42 + 3 answers of unknown price`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Total {
    pub known: Usd,
    /// Answers with usage but no price.
    pub unknown: u64,
}

impl Total {
    pub fn add(&mut self, cost: Option<Usd>) {
        match cost {
            Some(c) => self.known = self.known.saturating_add(c),
            None => self.unknown += 1,
        }
    }
}

impl Total {
    /// For a status bar: `$0.42`, `$0.42 + 3 unpriced`, `price unknown`.
    pub fn short(&self) -> String {
        match self.unknown {
            0 => self.known.to_string(),
            _ if self.known == Usd::ZERO => "price unknown".to_owned(),
            n => format!("{} + {n} unpriced", self.known),
        }
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unknown {
            0 => write!(f, "{}", self.known),
            n if self.known == Usd::ZERO => write!(f, "price unknown ({n} answer{})", if n == 1 { "" } else { "s" }),
            n => write!(f, "{} + {n} answer{} of unknown price", self.known, if n == 1 { "" } else { "s" }),
        }
    }
}

/// What an answer cost, as saved with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerCost {
    /// `None`: unknown (no price for the model, or no usage reported).
    pub cost: Option<Usd>,
    /// A cache hit costs nothing; this is what the original answer cost.
    pub saved: Option<Usd>,
    /// The price-table row used (`provider:model`).
    pub priced_as: Option<String>,
}

impl AnswerCost {
    /// How the cost of an answer reads beside it: `$0.0012`, a cache hit's `$0.00 (saved $0.0012)`,
    /// `price unknown`; `None` when nothing was reported (a failure before any usage).
    pub fn label(&self, reported: bool, cached: bool) -> Option<String> {
        if cached {
            return Some(match self.saved {
                Some(saved) => format!("$0.00 (saved {saved})"),
                None => "$0.00".to_owned(),
            });
        }
        (reported || self.cost.is_some()).then(|| show(self.cost))
    }
}

/// How an optional cost reads: the amount, or "price unknown" (never $0).
pub fn show(cost: Option<Usd>) -> String {
    cost.map_or_else(|| "price unknown".to_owned(), |c| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Usd {
        Usd::from_dollars(s.parse().unwrap()).unwrap()
    }

    fn book() -> PriceBook {
        PriceBook::builtin()
    }

    fn price(model: &str) -> Price {
        book().lookup(model).unwrap().price
    }

    #[test]
    fn the_shipped_table_parses_is_dated_and_prices_every_row() {
        let book = PriceBook::parse(BUILTIN_TABLE).unwrap();
        assert_eq!(book.as_of(), "2026-10-07");
        assert!(book.rows().count() >= 10);
        assert!(book.rows().all(|(k, _, source)| k.starts_with("gemini:") && source.is_some()));
    }

    #[test]
    fn a_short_prompt_costs_input_plus_output_at_the_short_rates() {
        // 2.5 Flash: 1,000 in at $0.30/M = $0.0003; 500 out at $2.50/M = $0.00125.
        let u = Usage { prompt: 1_000, output: 500, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-flash"), false), Some(usd("0.00155")));
    }

    #[test]
    fn thinking_tokens_are_billed_at_the_output_rate() {
        // 2.5 Pro: 10,000 in at $1.25/M = $0.0125; (2,000 + 3,000) out at $10/M = $0.05.
        let u = Usage { prompt: 10_000, output: 2_000, thoughts: 3_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-pro"), false), Some(usd("0.0625")));
    }

    #[test]
    fn a_prompt_over_200k_tokens_is_billed_wholly_at_the_long_rates() {
        // 2.5 Pro: 250,000 in at $2.50/M = $0.625; 1,000 out at $15/M = $0.015.
        let u = Usage { prompt: 250_000, output: 1_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-pro"), false), Some(usd("0.64")));
        // Exactly 200k is still short: $0.25 + $0.01.
        let u = Usage { prompt: 200_000, output: 1_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-pro"), false), Some(usd("0.26")));
    }

    #[test]
    fn a_model_without_a_long_tier_keeps_its_rates_past_200k() {
        // 2.5 Flash: 300,000 in at $0.30/M = $0.09.
        let u = Usage { prompt: 300_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-flash"), false), Some(usd("0.09")));
    }

    #[test]
    fn cached_tokens_are_billed_at_the_cached_rate_and_not_again_as_input() {
        // 2.5 Pro: 100,000 prompt of which 80,000 cached: 20,000 × $1.25/M = $0.025,
        // 80,000 × $0.125/M = $0.01; 1,000 out × $10/M = $0.01.
        let u = Usage { prompt: 100_000, cached: 80_000, output: 1_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-pro"), false), Some(usd("0.045")));
        // Long tier: 300,000 of which 100,000 cached: 200,000 × $2.50/M = $0.50,
        // 100,000 × $0.25/M = $0.025.
        let u = Usage { prompt: 300_000, cached: 100_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-pro"), false), Some(usd("0.525")));
    }

    #[test]
    fn cached_tokens_without_a_cached_rate_make_the_price_unknown() {
        let u = Usage { prompt: 1_000, cached: 500, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-3.5-flash"), false), None);
        let u = Usage { prompt: 1_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-3.5-flash"), false), Some(usd("0.0015")));
    }

    #[test]
    fn audio_prompt_tokens_are_billed_at_the_audio_rate() {
        // 2.5 Flash: 10,000 prompt of which 4,000 audio: 6,000 × $0.30/M = $0.0018 and
        // 4,000 × $1.00/M = $0.004.
        let u = Usage { prompt: 10_000, prompt_audio: 4_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-flash"), false), Some(usd("0.0058")));
        // Cached audio is a cached read: 1,000 of the 4,000 audio cached at $0.03/M = $0.00003.
        let u = Usage { prompt: 10_000, prompt_audio: 4_000, cached: 1_000, cached_audio: 1_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-flash"), false), Some(usd("0.00483")));
        // 2.5 Pro has no audio rate: audio costs what text does.
        let u = Usage { prompt: 10_000, prompt_audio: 4_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-pro"), false), Some(usd("0.0125")));
    }

    #[test]
    fn tool_results_are_billed_as_input() {
        // 2.5 Flash: (1,000 + 2,000) × $0.30/M = $0.0009.
        let u = Usage { prompt: 1_000, tool_use_prompt: 2_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-flash"), false), Some(usd("0.0009")));
    }

    #[test]
    fn the_batch_api_pays_half_of_input_and_output_but_not_of_cached_reads() {
        // 2.5 Pro: (20,000 × $1.25/M + 1,000 × $10/M) / 2 = $0.0175; 80,000 cached × $0.125/M = $0.01.
        let u = Usage { prompt: 100_000, cached: 80_000, output: 1_000, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-pro"), true), Some(usd("0.0275")));
        let mut no_batch = price("gemini-2.5-pro");
        no_batch.batch_bp = None;
        assert_eq!(cost(&u, &no_batch, true), None, "a batch with no batch price is unknown");
    }

    #[test]
    fn costs_round_to_the_nearest_nano_dollar() {
        // 1 token at $0.30/M = 300 nano-dollars; 1 token at $0.125/M cached = 125.
        let u = Usage { prompt: 1, output: 0, ..Usage::default() };
        assert_eq!(cost(&u, &price("gemini-2.5-flash"), false), Some(Usd::from_nanos(300)));
        // 3 tokens at $0.0005/M = 1.5 nano-dollars: rounds to 2.
        let p = Price { input: Rate::per_million(0.0005).unwrap(), output: Rate(0), ..price("gemini-2.5-flash") };
        assert_eq!(cost(&Usage { prompt: 3, ..Usage::default() }, &p, false), Some(Usd::from_nanos(2)));
    }

    #[test]
    fn config_overrides_change_one_field_and_add_models() {
        let mut over = BTreeMap::new();
        over.insert("gemini:gemini-2.5-flash".to_owned(), PriceFields { output: Some(3.0), ..PriceFields::default() });
        over.insert(
            "ollama:qwen3:8b".to_owned(),
            PriceFields { input: Some(0.0), output: Some(0.0), ..PriceFields::default() },
        );
        let book = PriceBook::with_overrides(&over).unwrap();
        let flash = book.lookup("gemini-2.5-flash").unwrap().price;
        assert_eq!(flash.output, Rate::per_million(3.0).unwrap());
        assert_eq!(flash.input, Rate::per_million(0.30).unwrap(), "the other fields stay the table's");
        let u = Usage { prompt: 1_000, output: 1_000, ..Usage::default() };
        assert_eq!(cost(&u, &flash, false), Some(usd("0.0033")));
        assert_eq!(cost(&u, &book.lookup("ollama:qwen3:8b").unwrap().price, false), Some(Usd::ZERO));
        assert_eq!(book.overridden().len(), 2);
    }

    #[test]
    fn a_new_model_in_config_needs_input_and_output() {
        let mut over = BTreeMap::new();
        over.insert("acme:m".to_owned(), PriceFields { input: Some(1.0), ..PriceFields::default() });
        let err = PriceBook::with_overrides(&over).unwrap_err();
        assert!(err.contains("\"acme:m\" has no output"), "{err}");
        over.insert(
            "acme:m".to_owned(),
            PriceFields { input: Some(-1.0), output: Some(1.0), ..PriceFields::default() },
        );
        assert!(PriceBook::with_overrides(&over).unwrap_err().contains("positive number"));
    }

    #[test]
    fn unknown_models_and_aliases_have_no_price() {
        let book = book();
        assert_eq!(book.lookup("gemini-flash-latest"), None);
        assert_eq!(book.lookup("ollama:qwen3:8b"), None);
        assert_eq!(book.lookup("gemini-2.5-flash-preview-09-2025"), None, "a preview is another model");
        assert_eq!(book.lookup("gemini-2.0-flash-001").unwrap().key, "gemini:gemini-2.0-flash");
        assert_eq!(book.lookup("models/gemini-2.5-pro").unwrap().key, "gemini:gemini-2.5-pro");
    }

    #[test]
    fn an_answer_is_priced_by_the_model_that_answered() {
        let book = book();
        assert_eq!(
            book.for_answer("gemini-flash-latest", Some("gemini-2.5-flash")).unwrap().key,
            "gemini:gemini-2.5-flash"
        );
        assert_eq!(book.for_answer("gemini-flash-latest", Some("gemini-9-flash")), None);
        assert_eq!(book.for_answer("gemini-flash-latest", None), None);
        let mut over = BTreeMap::new();
        over.insert(
            "gemini-flash-latest".to_owned(),
            PriceFields { input: Some(1.0), output: Some(2.0), ..PriceFields::default() },
        );
        let mine = PriceBook::with_overrides(&over).unwrap();
        assert_eq!(
            mine.for_answer("gemini-flash-latest", Some("gemini-9-flash")).unwrap().key,
            "gemini:gemini-flash-latest"
        );
        assert_eq!(book.for_answer("gemini-2.5-pro", Some("gemini-2.5-pro-exp")).unwrap().key, "gemini:gemini-2.5-pro");
        assert_eq!(book.for_answer("gemini-2.5-pro", None).unwrap().key, "gemini:gemini-2.5-pro");
    }

    #[test]
    fn the_dearest_row_bounds_an_alias_from_above() {
        let u = Usage { prompt: 1_000, output: 1_000, ..Usage::default() };
        // The 3.x Pro rows: 1,000 × $2/M + 1,000 × $12/M = $0.014.
        assert_eq!(book().dearest("gemini", &u), Some(usd("0.014")));
        assert_eq!(book().dearest("ollama", &u), None);
    }

    #[test]
    fn amounts_read_in_cents_or_in_small_decimals_never_as_free() {
        assert_eq!(usd("12.345").to_string(), "$12.35");
        assert_eq!(usd("1.234").to_string(), "$1.234");
        assert_eq!(usd("1.5").to_string(), "$1.50");
        assert_eq!(usd("0.0183").to_string(), "$0.0183");
        assert_eq!(usd("0.01").to_string(), "$0.01");
        assert_eq!(usd("0.000123").to_string(), "$0.000123");
        assert_eq!(usd("0.00155").to_string(), "$0.00155");
        assert_eq!(Usd::from_nanos(300).to_string(), "<$0.000001");
        assert_eq!(Usd::ZERO.to_string(), "$0.00");
        assert_eq!(show(None), "price unknown");
    }

    #[test]
    fn totals_with_unknown_prices_say_so() {
        let mut t = Total::default();
        t.add(Some(usd("0.42")));
        assert_eq!(t.to_string(), "$0.42");
        for _ in 0..3 {
            t.add(None);
        }
        assert_eq!(t.to_string(), "$0.42 + 3 answers of unknown price");
        let mut u = Total::default();
        u.add(None);
        assert_eq!(u.to_string(), "price unknown (1 answer)");
    }
}
