//! Budgets as data: where spending stands against a daily and a monthly limit, whether one more
//! request's worst case fits under them, and what that worst case is. The front ends word
//! warnings and refusals from these figures; the store takes reservations with [`admit`].

use super::{Usage, Usd};

/// Where spending stands against a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetLevel {
    Under,
    /// 80% or more: the user is told.
    Near,
    /// 100% or more: new requests are refused (unless `--over-budget`).
    Over,
}

/// Spending at which a budget warns, in percent.
pub const BUDGET_WARN_PERCENT: i128 = 80;

pub fn budget_level(spent: Usd, limit: Usd) -> BudgetLevel {
    let (spent, limit) = (i128::from(spent.nanos()), i128::from(limit.nanos()));
    if spent >= limit {
        BudgetLevel::Over
    } else if spent * 100 >= limit * BUDGET_WARN_PERCENT {
        BudgetLevel::Near
    } else {
        BudgetLevel::Under
    }
}

/// Output tokens assumed for a request that sets no `max_tokens` when its worst-case cost is
/// estimated: the largest output of current Gemini models, thinking included.
pub const WORST_CASE_OUTPUT_TOKENS: u64 = 65_536;

/// The usage a request may reach at worst: about `prompt_tokens` in and `max_output` out
/// (`None`: [`WORST_CASE_OUTPUT_TOKENS`]).
pub fn worst_usage(prompt_tokens: u64, max_output: Option<u32>) -> Usage {
    Usage { prompt: prompt_tokens, output: max_output.map_or(WORST_CASE_OUTPUT_TOKENS, u64::from), ..Usage::default() }
}

/// What the spending ledger holds for this UTC day and this UTC month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spending {
    pub today: Usd,
    pub month: Usd,
}

/// The period of a configured budget (`budget.daily`, `budget.monthly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

/// A budget a request does not fit under: the figures, for a front end to word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub period: Period,
    pub limit: Usd,
    /// Spent in the period (the ledger).
    pub spent: Usd,
    /// Held by requests still running (every process's reservations).
    pub reserved: Usd,
    /// The worst case of the request refused.
    pub asked: Usd,
}

/// What the budgets say about one more request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetCheck {
    Fine,
    /// 80% or more of a budget is spent (`percent` of `limit`).
    Near {
        period: Period,
        spent: Usd,
        limit: Usd,
        percent: u32,
    },
    /// A budget is spent: new requests are refused (unless `--over-budget`).
    Over(Refusal),
}

/// The configured budgets, monthly first (it lasts longer, so it is named first when both are spent).
fn budgets(spent: Spending, daily: Option<Usd>, monthly: Option<Usd>) -> impl Iterator<Item = (Period, Usd, Usd)> {
    [(Period::Month, spent.month, monthly), (Period::Day, spent.today, daily)]
        .into_iter()
        .filter_map(|(period, spent, limit)| limit.map(|limit| (period, spent, limit)))
}

/// Checks `spent` against a daily and a monthly budget (`None`: no limit).
pub fn check_budgets(spent: Spending, daily: Option<Usd>, monthly: Option<Usd>) -> BudgetCheck {
    let mut near = None;
    for (period, spent, limit) in budgets(spent, daily, monthly) {
        match budget_level(spent, limit) {
            BudgetLevel::Over => {
                return BudgetCheck::Over(Refusal { period, limit, spent, reserved: Usd::ZERO, asked: Usd::ZERO });
            }
            BudgetLevel::Near if near.is_none() => {
                let percent = i128::from(spent.nanos()) * 100 / i128::from(limit.nanos().max(1));
                near = Some(BudgetCheck::Near { period, spent, limit, percent: u32::try_from(percent).unwrap_or(100) });
            }
            _ => {}
        }
    }
    near.unwrap_or(BudgetCheck::Fine)
}

/// Whether a request whose worst case is `asked` fits under the budgets, with `spent` already
/// in the ledger and `reserved` held by requests still running: `spent + reserved + asked`
/// must not pass a limit (and a spent budget takes nothing more, nor does one whose rest is
/// all held, a request of no known worst case).
pub fn admit(
    spent: Spending,
    reserved: Usd,
    asked: Usd,
    daily: Option<Usd>,
    monthly: Option<Usd>,
) -> Result<(), Refusal> {
    for (period, spent, limit) in budgets(spent, daily, monthly) {
        let total = i128::from(spent.nanos()) + i128::from(reserved.nanos()) + i128::from(asked.nanos());
        // A request of no known cost needs something left.
        let passes =
            if asked == Usd::ZERO { total >= i128::from(limit.nanos()) } else { total > i128::from(limit.nanos()) };
        if spent >= limit || passes {
            return Err(Refusal { period, limit, spent, reserved, asked });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Usd {
        Usd::from_dollars(s.parse().unwrap()).unwrap()
    }

    #[test]
    fn a_spent_budget_is_over_and_the_monthly_one_is_named_first() {
        let spent = Spending { today: usd("1.02"), month: usd("25") };
        let BudgetCheck::Over(r) = check_budgets(spent, Some(usd("1")), Some(usd("20"))) else { panic!() };
        assert_eq!((r.period, r.limit, r.spent), (Period::Month, usd("20"), usd("25")));
        let BudgetCheck::Over(r) = check_budgets(spent, Some(usd("1")), None) else { panic!() };
        assert_eq!((r.period, r.limit, r.spent), (Period::Day, usd("1"), usd("1.02")));
        let spent = Spending { today: usd("1"), month: usd("5") };
        let near = check_budgets(spent, None, Some(usd("6")));
        assert_eq!(near, BudgetCheck::Near { period: Period::Month, spent: usd("5"), limit: usd("6"), percent: 83 });
        assert_eq!(check_budgets(spent, None, None), BudgetCheck::Fine);
        assert_eq!(check_budgets(spent, Some(usd("2")), Some(usd("10"))), BudgetCheck::Fine);
    }

    #[test]
    fn budgets_warn_at_80_percent_and_stop_at_100() {
        let limit = usd("1.00");
        assert_eq!(budget_level(usd("0.79"), limit), BudgetLevel::Under);
        assert_eq!(budget_level(usd("0.80"), limit), BudgetLevel::Near);
        assert_eq!(budget_level(usd("0.999999999"), limit), BudgetLevel::Near);
        assert_eq!(budget_level(usd("1.00"), limit), BudgetLevel::Over);
    }

    #[test]
    fn a_request_is_admitted_only_when_spent_reserved_and_its_worst_case_fit() {
        let spent = Spending { today: usd("0.02"), month: usd("0.02") };
        assert_eq!(admit(spent, usd("0.02"), usd("0.01"), Some(usd("0.05")), None), Ok(()), "exactly the limit fits");
        let refused = admit(spent, usd("0.02"), usd("0.010000001"), Some(usd("0.05")), None).unwrap_err();
        assert_eq!(
            refused,
            Refusal {
                period: Period::Day,
                limit: usd("0.05"),
                spent: usd("0.02"),
                reserved: usd("0.02"),
                asked: usd("0.010000001")
            }
        );
        assert_eq!(admit(spent, Usd::ZERO, Usd::ZERO, Some(usd("0.02")), None).unwrap_err().period, Period::Day);
        assert_eq!(admit(spent, usd("9"), usd("9"), None, None), Ok(()), "no budget, no limit");
    }
}
