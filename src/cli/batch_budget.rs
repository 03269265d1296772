//! What a `batch` run spends (the budget sentences are in `words.rs`). Before each
//! prompt its worst case (everything sent, at most its longest answer) is reserved: against the
//! run's own `--budget` here, and against the configured budgets in the database, where every
//! process sharing it reserves too. A prompt that could pass either is not launched, and an
//! answer that cost more than was reserved for it stops the run before the next launch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::words::words;
use crate::money::{AnswerCost, PriceBook, Refusal, Total, Usd, cost, provider_of, worst_usage};
use crate::store::StoreHandle;

/// Why a prompt was not launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotLaunched {
    /// A budget stopped the run: it launches nothing more.
    OverBudget,
    /// Its model has no known price, so the budget cannot bound it (this sentence says so).
    Unpriced(String),
}

/// What stopped a run's launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// The next prompt could pass the run's `--budget`.
    RunBudget(Usd),
    /// The next prompt could pass a configured budget (with what every process spent and holds).
    Shared(Refusal),
    /// An answer cost more than was reserved for it.
    Overrun { reserved: Usd, cost: Usd },
    /// The database could not take the reservation (this sentence says why).
    Unchecked(String),
}

/// What is held for one launched prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reservation {
    pub worst: Usd,
    /// Its row in the database, under a configured budget.
    id: Option<i64>,
}

#[derive(Debug, Default)]
struct Spend {
    spent: Total,
    reserved: Usd,
    stopped: Option<Stopped>,
    not_launched: u64,
    /// The price row each model asked for was answered by in this run (an alias's real model).
    answered_by: HashMap<String, String>,
}

pub struct RunBudget {
    /// The run's own `--budget`; `None`: no limit (spending is still counted for the summary).
    limit: Option<Usd>,
    /// The limit was asked for this run (`--budget`): a model of unknown price cannot run under
    /// it. Under the config's budgets alone such answers run and count as nothing, as in `ask`.
    strict: bool,
    /// The configured budgets (daily, monthly) and the database that holds everyone's spending.
    shared: Option<(StoreHandle, Option<Usd>, Option<Usd>)>,
    /// Worst cases at the Batch API's price, for every line (a remote batch, which reserves
    /// them in the database itself).
    batch: bool,
    prices: Arc<PriceBook>,
    spend: Mutex<Spend>,
}

impl RunBudget {
    pub fn new(limit: Option<Usd>, strict: bool, prices: Arc<PriceBook>) -> RunBudget {
        RunBudget { limit, strict, shared: None, batch: false, prices, spend: Mutex::default() }
    }

    /// Also bounds the run by the configured budgets, through reservations in `store`.
    pub fn with_shared(mut self, store: Option<StoreHandle>, daily: Option<Usd>, monthly: Option<Usd>) -> RunBudget {
        self.shared = store.filter(|_| daily.is_some() || monthly.is_some()).map(|s| (s, daily, monthly));
        self
    }

    /// Prices worst cases at the Batch API's price (a remote batch).
    pub fn at_batch_price(mut self) -> RunBudget {
        self.batch = true;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spend> {
        self.spend.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The worst case of a prompt of about `prompt_tokens` to `model` that may write
    /// `max_output` tokens: at the model's price, else at the price of the model that answered
    /// for it earlier in the run, else at the dearest price of its provider (an alias names no
    /// model before it answers).
    fn worst_case(&self, spend: &Spend, model: &str, prompt_tokens: u64, max_output: Option<u32>) -> Option<Usd> {
        let usage = worst_usage(prompt_tokens, max_output);
        let known =
            self.prices.lookup(model).or_else(|| spend.answered_by.get(model).and_then(|k| self.prices.lookup(k)));
        match known {
            Some(priced) => cost(&usage, &priced.price, self.batch),
            // The dearest row at its full price bounds a batch price too.
            None => self.prices.dearest(provider_of(&crate::money::price_key(model)), &usage),
        }
    }

    fn refuse(&self, spend: &mut Spend, why: Stopped) -> NotLaunched {
        spend.stopped.get_or_insert(why);
        spend.not_launched += 1;
        NotLaunched::OverBudget
    }

    /// Reserves the worst case of the next prompt; `Err` when it may not be launched.
    pub async fn reserve(
        &self,
        model: &str,
        prompt_tokens: u64,
        max_output: Option<u32>,
    ) -> Result<Reservation, NotLaunched> {
        // A remote batch prices every line: its worst cases are reserved in the database.
        if self.limit.is_none() && self.shared.is_none() && !self.batch {
            return Ok(Reservation::default());
        }
        let worst = {
            let mut spend = self.lock();
            if spend.stopped.is_some() {
                spend.not_launched += 1;
                return Err(NotLaunched::OverBudget);
            }
            let Some(worst) = self.worst_case(&spend, model, prompt_tokens, max_output) else {
                if !self.strict {
                    return Ok(Reservation::default());
                }
                return Err(NotLaunched::Unpriced(format!(
                    "{model} has no known price, so --budget cannot bound it: add [prices.\"{}\"] to the config, or drop --budget",
                    crate::money::price_key(model)
                )));
            };
            if let Some(limit) = self.limit
                && spend.spent.known.saturating_add(spend.reserved).saturating_add(worst) > limit
            {
                return Err(self.refuse(&mut spend, Stopped::RunBudget(limit)));
            }
            spend.reserved = spend.reserved.saturating_add(worst);
            worst
        };
        let Some((store, daily, monthly)) = &self.shared else { return Ok(Reservation { worst, id: None }) };
        let (daily, monthly) = (*daily, *monthly);
        let taken = store.call(move |s| s.reserve(worst, daily, monthly)).await;
        let mut spend = self.lock();
        match taken {
            Ok(Ok(id)) => Ok(Reservation { worst, id: Some(id) }),
            Ok(Err(refusal)) => {
                spend.reserved = Usd::from_nanos(spend.reserved.nanos().saturating_sub(worst.nanos()));
                Err(self.refuse(&mut spend, Stopped::Shared(refusal)))
            }
            Err(e) => {
                spend.reserved = Usd::from_nanos(spend.reserved.nanos().saturating_sub(worst.nanos()));
                Err(self.refuse(&mut spend, Stopped::Unchecked(e.to_string())))
            }
        }
    }

    /// A prompt finished: what it cost is counted (nothing for a turn that reported no usage;
    /// unknown for one with no price) and its reservation released; one that cost more than
    /// its reservation stops the run.
    pub async fn settle(&self, model: &str, reservation: Reservation, cost: &AnswerCost, reported: bool) {
        if let (Some(id), Some((store, ..))) = (reservation.id, &self.shared) {
            // The answer is already in the ledger; a reservation that cannot be removed lapses
            // with this process.
            let _ = store.call(move |s| s.release_reservation(id)).await;
        }
        let mut spend = self.lock();
        spend.reserved = Usd::from_nanos(spend.reserved.nanos().saturating_sub(reservation.worst.nanos()));
        if reported {
            spend.spent.add(cost.cost);
            if let Some(c) = cost.cost
                && reservation.worst > Usd::ZERO
                && c > reservation.worst
            {
                spend.stopped.get_or_insert(Stopped::Overrun { reserved: reservation.worst, cost: c });
            }
        }
        if let Some(row) = &cost.priced_as {
            spend.answered_by.insert(model.to_owned(), row.clone());
        }
    }

    pub fn spent(&self) -> Total {
        self.lock().spent
    }

    /// What stopped the run's launches and how many prompts were not launched (`None`: nothing).
    pub fn stopped(&self) -> Option<(Stopped, u64)> {
        let spend = self.lock();
        spend.stopped.clone().map(|s| (s, spend.not_launched))
    }

    /// The sentence ending a run a budget stopped (`capped`: `--max-tokens` was given).
    pub fn stop_text(&self, capped: bool) -> Option<String> {
        let (stopped, not_launched) = self.stopped()?;
        let spent = self.spent();
        let count = format!("{not_launched} prompt{} not launched", if not_launched == 1 { " was" } else { "s were" });
        // Without a cap, a prompt is reserved at the model's longest answer.
        let cap_hint =
            if capped { "" } else { " (or set --max-tokens: each prompt is reserved at its longest possible answer)" };
        Some(match stopped {
            Stopped::RunBudget(limit) => format!(
                "The budget of {limit} would be passed by the next prompt: {spent} spent, {count}; rerun with --resume OUT and a larger --budget to finish{cap_hint}."
            ),
            Stopped::Shared(r) => {
                let (name, period) = words(r.period);
                format!(
                    "The {name} budget of {} would be passed by the next prompt: {} spent {period} ({spent} by this run) and {} held by requests still running, {count}; rerun with --resume OUT later, or raise budget.{name} in the config{cap_hint}.",
                    r.limit, r.spent, r.reserved
                )
            }
            Stopped::Overrun { reserved, cost } => format!(
                "An answer cost {cost}, more than the {reserved} reserved for it (the server reported more tokens than were asked for): the run stopped with {spent} spent, {count}; check the price table and --max-tokens, then rerun with --resume OUT to finish."
            ),
            Stopped::Unchecked(why) => format!(
                "The budget could not be checked ({}): {spent} spent, {count}; rerun with --resume OUT to finish.",
                why.trim_end_matches('.')
            ),
        })
    }
}

/// The sentence ending a remote batch whose budget left `count` prompts unsubmitted
/// (`capped`: `--max-tokens` was given).
pub fn not_submitted_text(stopped: &Stopped, count: u64, capped: bool) -> String {
    let count = format!("{count} prompt{} not submitted", if count == 1 { " was" } else { "s were" });
    let cap_hint =
        if capped { "" } else { " (or set --max-tokens: each prompt is reserved at its longest possible answer)" };
    match stopped {
        Stopped::Shared(r) => {
            let (name, period) = words(r.period);
            format!(
                "The {name} budget of {} would be passed by the next prompt at its worst case (the batch price): {} spent {period} and {} held by requests and jobs still running, {count}; rerun with --resume OUT later, or raise budget.{name} in the config{cap_hint}.",
                r.limit, r.spent, r.reserved
            )
        }
        Stopped::RunBudget(limit) => format!(
            "The budget of {limit} would be passed by the next prompt at its worst case (the batch price): {count}; rerun with --resume OUT and a larger --budget to send them{cap_hint}."
        ),
        Stopped::Overrun { .. } | Stopped::Unchecked(_) => format!("The budget stopped the run: {count}."),
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

    #[tokio::test]
    async fn a_prompt_whose_worst_case_could_pass_the_budget_is_not_launched_and_nothing_after_it() {
        // 2.5 Flash, 1,000 in and at most 1,000 out: $0.0003 + $0.0025 = $0.0028 worst case.
        let b = RunBudget::new(Some(usd(0.006)), true, Arc::new(PriceBook::builtin()));
        let first = b.reserve("gemini-2.5-flash", 1_000, Some(1_000)).await.unwrap();
        assert_eq!(first.worst, usd(0.0028));
        let second = b.reserve("gemini-2.5-flash", 1_000, Some(1_000)).await.unwrap();
        // Spent 0 + reserved $0.0056 + $0.0028 > $0.006.
        assert_eq!(b.reserve("gemini-2.5-flash", 1_000, Some(1_000)).await, Err(NotLaunched::OverBudget));
        b.settle("gemini-2.5-flash", first, &known(0.001), true).await;
        b.settle("gemini-2.5-flash", second, &known(0.001), true).await;
        assert_eq!(b.reserve("gemini-2.5-flash", 10, Some(10)).await, Err(NotLaunched::OverBudget), "stopped");
        assert_eq!(b.stopped(), Some((Stopped::RunBudget(usd(0.006)), 2)));
        assert_eq!(b.spent().known, usd(0.002));
    }

    #[tokio::test]
    async fn an_answer_that_cost_more_than_its_reservation_stops_the_run() {
        let b = RunBudget::new(Some(usd(1.0)), true, Arc::new(PriceBook::builtin()));
        let r = b.reserve("gemini-2.5-flash", 1_000, Some(100)).await.unwrap();
        // 1,000 × $0.30/M + 100 × $2.50/M = $0.00055 reserved; the server billed $0.0227.
        assert_eq!(r.worst, usd(0.00055));
        b.settle("gemini-2.5-flash", r, &known(0.0227), true).await;
        assert_eq!(b.reserve("gemini-2.5-flash", 1_000, Some(100)).await, Err(NotLaunched::OverBudget));
        assert_eq!(b.stopped(), Some((Stopped::Overrun { reserved: usd(0.00055), cost: usd(0.0227) }, 1)));
        assert!(
            b.stop_text(true).unwrap().starts_with("An answer cost $0.0227, more than the $0.00055 reserved for it")
        );
    }

    #[tokio::test]
    async fn an_alias_is_bounded_by_the_dearest_price_until_it_answers_then_by_its_model() {
        let b = RunBudget::new(Some(usd(10.0)), true, Arc::new(PriceBook::builtin()));
        // The dearest Gemini row (3.x Pro): 1,000 × $2/M + 1,000 × $12/M.
        let r = b.reserve("gemini-flash-latest", 1_000, Some(1_000)).await.unwrap();
        assert_eq!(r.worst, usd(0.014));
        b.settle("gemini-flash-latest", r, &known(0.001), true).await;
        assert_eq!(b.reserve("gemini-flash-latest", 1_000, Some(1_000)).await.unwrap().worst, usd(0.0028));
    }

    #[tokio::test]
    async fn a_model_of_unknown_price_cannot_run_under_a_budget_but_can_without_one() {
        let b = RunBudget::new(Some(usd(1.0)), true, Arc::new(PriceBook::builtin()));
        assert!(matches!(b.reserve("ollama:qwen3:8b", 10, None).await, Err(NotLaunched::Unpriced(_))));
        let config_only = RunBudget::new(Some(usd(1.0)), false, Arc::new(PriceBook::builtin()));
        assert_eq!(config_only.reserve("ollama:qwen3:8b", 10, None).await, Ok(Reservation::default()), "as in ask");
        let free = RunBudget::new(None, false, Arc::new(PriceBook::builtin()));
        assert_eq!(free.reserve("ollama:qwen3:8b", 10, None).await, Ok(Reservation::default()));
        free.settle("ollama:qwen3:8b", Reservation::default(), &AnswerCost::default(), true).await;
        assert_eq!(free.spent().to_string(), "price unknown (1 answer)");
    }
}
