//! The command line's sentences for what lower layers return as data: budget warnings and
//! refusals, a turn the runner refused, an attachment that cannot go. One place, so `ask`, the
//! line chat and `batch` say the same thing the same way.

use super::exit::{self, Failure};
use crate::attach::AttachError;
use crate::money::{BudgetCheck, Period, Refusal, Usd};
use crate::turn::Refused;

/// Said when a budget is set and the history database cannot be opened.
pub const NOT_COUNTED: &str =
    "the history database could not be opened, so what this run spends is not counted toward the budget.";

/// A budget's name in the config and the period it counts.
pub(super) fn words(period: Period) -> (&'static str, &'static str) {
    match period {
        Period::Day => ("daily", "today"),
        Period::Month => ("monthly", "this month"),
    }
}

/// `The daily budget of $1.00 is spent ($1.02 today)`.
pub fn spent_text(r: &Refusal) -> String {
    let (name, period) = words(r.period);
    format!("The {name} budget of {} is spent ({} {period})", r.limit, r.spent)
}

/// Why nothing was sent, and the ways out.
pub fn refusal_text(r: &Refusal) -> String {
    let (name, period) = words(r.period);
    let why = if r.spent >= r.limit {
        spent_text(r)
    } else if r.asked == Usd::ZERO {
        format!(
            "Nothing is left of the {name} budget of {}: {} spent {period} and {} held by requests still running",
            r.limit, r.spent, r.reserved
        )
    } else {
        format!(
            "The {name} budget of {} would be passed: {} spent {period} and {} held by requests still running, and this one may cost up to {}",
            r.limit, r.spent, r.reserved, r.asked
        )
    };
    format!("{why}: nothing was sent; add --over-budget to ask anyway, or raise budget.{name} in the config.")
}

/// `$5.00 of the monthly budget of $6.00 is spent this month (83%).`
pub fn near_text(check: &BudgetCheck) -> String {
    match check {
        BudgetCheck::Near { period, spent, limit, percent } => {
            let (name, period) = words(*period);
            format!("{spent} of the {name} budget of {limit} is spent {period} ({percent}%).")
        }
        _ => String::new(),
    }
}

/// `The daily budget of $1.00 is spent ($1.02 today): asking anyway (--over-budget).`
pub fn over_budget_text(r: &Refusal) -> String {
    format!("{}: asking anyway (--over-budget).", spent_text(r))
}

/// An attachment that cannot go, with the command line's way forward.
pub fn attach_text(e: &AttachError) -> String {
    match e {
        AttachError::Directory { path } => {
            format!("Cannot attach {path}: it is a directory; attach the files inside instead (e.g. -a {path}/*.rs).")
        }
        e => e.to_string(),
    }
}

/// What could not be opened (config, key, history database, demo server), as a failure.
pub fn opening(e: crate::root::OpenError) -> Failure {
    use crate::root::OpenError;
    match e {
        OpenError::Config(e) => e.into(),
        OpenError::Api(e) => e.into(),
        OpenError::Store(e) => e.into(),
        OpenError::NoDatabasePath => Failure::new(
            exit::STORAGE,
            "No place for the history database was found: pass --db PATH or set GEMINAL_DB.",
        ),
        OpenError::StoreThread => {
            Failure::new(exit::STORAGE, "Opening the history database failed unexpectedly: try again.")
        }
        OpenError::DemoServer(e) => {
            Failure::new(exit::FAILURE, format!("The demo server could not start ({e}): try again."))
        }
    }
}

/// A turn the runner refused, as the failure a command ends with.
pub fn refused(refused: Refused) -> Failure {
    match refused {
        Refused::Budget(r) => Failure::new(exit::BUDGET, refusal_text(&r)),
        Refused::Chat(crate::chat::ChatError::Attachment(e)) => Failure::new(exit::USAGE, attach_text(&e)),
        Refused::Chat(e) => e.into(),
        Refused::Settings(e) => Failure::usage(e.to_string()),
        Refused::Context(e) => Failure::new(exit::REQUEST, e.to_string()),
        Refused::Timeout(e) => e.into(),
        Refused::Tools(crate::tools::ListError::UnknownServer(name)) => Failure::new(
            exit::CONFIG,
            format!(
                "No tool server named {} is configured: nothing was sent; see geminal mcp list.",
                crate::sanitize::one_line(&name, 60)
            ),
        ),
        Refused::Tools(crate::tools::ListError::ServerStopped { server, last_stderr }) => {
            Failure::new(exit::FAILURE, tool_server_stopped(&server, last_stderr.as_deref()))
        }
        // Only `serve`'s clients answer calls themselves.
        Refused::Calls(e) => Failure::usage(format!("The tool results could not be taken: {e}.")),
    }
}

/// A tool server that could not start or stopped, in one sentence (its last stderr line
/// escaped and cut).
pub fn tool_server_stopped(server: &str, last_stderr: Option<&str>) -> String {
    let server = crate::sanitize::one_line(server, 60);
    match last_stderr.map(|l| crate::sanitize::one_line(l, 120)).filter(|l| !l.is_empty()) {
        Some(line) => format!("The tool server {server} stopped ({line}): nothing was sent."),
        None => format!("The tool server {server} stopped: nothing was sent."),
    }
}

/// A turn the runner refused, as one line (the line chat goes on after it).
pub fn refused_line(refused: Refused) -> String {
    self::refused(refused).message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(d: f64) -> Usd {
        Usd::from_dollars(d).unwrap()
    }

    #[test]
    fn budget_sentences_name_the_budget_the_figures_and_the_way_out() {
        let r =
            Refusal { period: Period::Day, limit: usd(1.0), spent: usd(1.02), reserved: Usd::ZERO, asked: Usd::ZERO };
        assert_eq!(
            refusal_text(&r),
            "The daily budget of $1.00 is spent ($1.02 today): nothing was sent; add --over-budget to ask anyway, or raise budget.daily in the config."
        );
        let r = Refusal { period: Period::Month, spent: usd(0.5), reserved: usd(0.3), asked: usd(0.4), ..r };
        assert_eq!(
            refusal_text(&r),
            "The monthly budget of $1.00 would be passed: $0.50 spent this month and $0.30 held by requests still running, and this one may cost up to $0.40: nothing was sent; add --over-budget to ask anyway, or raise budget.monthly in the config."
        );
        let near = BudgetCheck::Near { period: Period::Month, spent: usd(5.0), limit: usd(6.0), percent: 83 };
        assert_eq!(near_text(&near), "$5.00 of the monthly budget of $6.00 is spent this month (83%).");
    }
}
