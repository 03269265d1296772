//! What a `batch` run spends, and the budget that stops it launching prompts: before each
//! prompt its worst-case cost is reserved, and a prompt that could take the run past its budget
//! (spent + reserved for running prompts + its own worst case) is not launched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::money::{AnswerCost, PriceBook, Total, Usage, Usd, WORST_CASE_OUTPUT_TOKENS, cost, provider_of};

/// Why a prompt was not launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotLaunched {
    /// Its worst case could exceed the budget: the run launches nothing more.
    OverBudget,
    /// Its model has no known price, so the budget cannot bound it (this sentence says so).
    Unpriced(String),
}

#[derive(Debug, Default)]
struct Spend {
    spent: Total,
    reserved: Usd,
    /// The run reached its budget: nothing more is launched.
    stopped: bool,
    not_launched: u64,
    /// The price row each model asked for was answered by in this run (an alias's real model).
    answered_by: HashMap<String, String>,
}

pub struct RunBudget {
    /// `None`: no limit (spending is still counted for the summary).
    limit: Option<Usd>,
    /// The limit was asked for this run (`--budget`): a model of unknown price cannot run under
    /// it. Under the config's budgets alone such answers run and count as nothing, as in `ask`.
    strict: bool,
    prices: Arc<PriceBook>,
    spend: Mutex<Spend>,
}

impl RunBudget {
    pub fn new(limit: Option<Usd>, strict: bool, prices: Arc<PriceBook>) -> RunBudget {
        RunBudget { limit, strict, prices, spend: Mutex::default() }
    }

    pub fn limit(&self) -> Option<Usd> {
        self.limit
    }

    /// The worst case of a prompt of about `prompt_tokens` to `model` that may write
    /// `max_output` tokens (`None`: [`WORST_CASE_OUTPUT_TOKENS`]): at the model's price, else at
    /// the price of the model that answered for it earlier in the run, else at the dearest price
    /// of its provider (an alias names no model before it answers).
    fn worst_case(&self, spend: &Spend, model: &str, prompt_tokens: u64, max_output: Option<u32>) -> Option<Usd> {
        let usage = Usage {
            prompt: prompt_tokens,
            output: max_output.map_or(WORST_CASE_OUTPUT_TOKENS, u64::from),
            ..Usage::default()
        };
        let known =
            self.prices.lookup(model).or_else(|| spend.answered_by.get(model).and_then(|k| self.prices.lookup(k)));
        match known {
            Some(priced) => cost(&usage, &priced.price, false),
            None => self.prices.dearest(provider_of(&crate::money::price_key(model)), &usage),
        }
    }

    /// Reserves the worst case of the next prompt; `Err` when it may not be launched.
    pub fn reserve(&self, model: &str, prompt_tokens: u64, max_output: Option<u32>) -> Result<Usd, NotLaunched> {
        let Some(limit) = self.limit else { return Ok(Usd::ZERO) };
        let mut spend = self.spend.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if spend.stopped {
            spend.not_launched += 1;
            return Err(NotLaunched::OverBudget);
        }
        let Some(worst) = self.worst_case(&spend, model, prompt_tokens, max_output) else {
            if !self.strict {
                return Ok(Usd::ZERO);
            }
            return Err(NotLaunched::Unpriced(format!(
                "{model} has no known price, so --budget cannot bound it: add [prices.\"{}\"] to the config, or drop --budget",
                crate::money::price_key(model)
            )));
        };
        if spend.spent.known.saturating_add(spend.reserved).saturating_add(worst) > limit {
            spend.stopped = true;
            spend.not_launched += 1;
            return Err(NotLaunched::OverBudget);
        }
        spend.reserved = spend.reserved.saturating_add(worst);
        Ok(worst)
    }

    /// A prompt finished: its reservation is released and what it cost is counted (nothing for
    /// a turn that reported no usage; unknown for one with no price).
    pub fn settle(&self, model: &str, reserved: Usd, cost: &AnswerCost, reported: bool) {
        let mut spend = self.spend.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        spend.reserved = Usd::from_nanos(spend.reserved.nanos().saturating_sub(reserved.nanos()));
        if reported {
            spend.spent.add(cost.cost);
        }
        if let Some(row) = &cost.priced_as {
            spend.answered_by.insert(model.to_owned(), row.clone());
        }
    }

    pub fn spent(&self) -> Total {
        self.spend.lock().map(|s| s.spent).unwrap_or_default()
    }

    /// How many prompts were not launched because the budget was reached (`None`: it was not).
    pub fn stopped(&self) -> Option<u64> {
        self.spend.lock().ok().filter(|s| s.stopped).map(|s| s.not_launched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(d: f64) -> Usd {
        Usd::from_dollars(d).unwrap()
    }

    fn known(c: f64) -> AnswerCost {
        AnswerCost { cost: Some(usd(c)), saved: None, priced_as: Some("gemini:gemini-2.5-flash".into()) }
    }

    #[test]
    fn a_prompt_whose_worst_case_could_pass_the_budget_is_not_launched_and_nothing_after_it() {
        // 2.5 Flash, 1,000 in and at most 1,000 out: $0.0003 + $0.0025 = $0.0028 worst case.
        let b = RunBudget::new(Some(usd(0.006)), true, Arc::new(PriceBook::builtin()));
        let first = b.reserve("gemini-2.5-flash", 1_000, Some(1_000)).unwrap();
        assert_eq!(first, usd(0.0028));
        let second = b.reserve("gemini-2.5-flash", 1_000, Some(1_000)).unwrap();
        // Spent 0 + reserved $0.0056 + $0.0028 > $0.006.
        assert_eq!(b.reserve("gemini-2.5-flash", 1_000, Some(1_000)), Err(NotLaunched::OverBudget));
        b.settle("gemini-2.5-flash", first, &known(0.001), true);
        b.settle("gemini-2.5-flash", second, &known(0.001), true);
        assert_eq!(b.reserve("gemini-2.5-flash", 10, Some(10)), Err(NotLaunched::OverBudget), "the run has stopped");
        assert_eq!(b.stopped(), Some(2));
        assert_eq!(b.spent().known, usd(0.002));
    }

    #[test]
    fn an_alias_is_bounded_by_the_dearest_price_until_it_answers_then_by_its_model() {
        let b = RunBudget::new(Some(usd(10.0)), true, Arc::new(PriceBook::builtin()));
        // The dearest Gemini row (3.x Pro): 1,000 × $2/M + 1,000 × $12/M.
        let r = b.reserve("gemini-flash-latest", 1_000, Some(1_000)).unwrap();
        assert_eq!(r, usd(0.014));
        b.settle("gemini-flash-latest", r, &known(0.001), true);
        assert_eq!(b.reserve("gemini-flash-latest", 1_000, Some(1_000)).unwrap(), usd(0.0028));
    }

    #[test]
    fn a_model_of_unknown_price_cannot_run_under_a_budget_but_can_without_one() {
        let b = RunBudget::new(Some(usd(1.0)), true, Arc::new(PriceBook::builtin()));
        assert!(matches!(b.reserve("ollama:qwen3:8b", 10, None), Err(NotLaunched::Unpriced(_))));
        let config_only = RunBudget::new(Some(usd(1.0)), false, Arc::new(PriceBook::builtin()));
        assert_eq!(config_only.reserve("ollama:qwen3:8b", 10, None), Ok(Usd::ZERO), "as in ask: it runs");
        let free = RunBudget::new(None, false, Arc::new(PriceBook::builtin()));
        assert_eq!(free.reserve("ollama:qwen3:8b", 10, None), Ok(Usd::ZERO));
        free.settle("ollama:qwen3:8b", Usd::ZERO, &AnswerCost::default(), true);
        assert_eq!(free.spent().to_string(), "price unknown (1 answer)");
    }
}
