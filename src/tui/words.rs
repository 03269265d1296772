//! The interface's sentences for what lower layers return as data: a turn the runner refused
//! (a budget, an attachment, a conversation too long), a budget nearly spent, a file that
//! cannot be attached. One place, worded for the interface (`/attach`, restarting geminal).

use crate::attach::AttachError;
use crate::chat::ChatError;
use crate::money::{BudgetCheck, Period, Refusal};
use crate::turn::Refused;

/// A budget's name in the config and the period it counts.
fn words(period: Period) -> (&'static str, &'static str) {
    match period {
        Period::Day => ("daily", "today"),
        Period::Month => ("monthly", "this month"),
    }
}

/// Why a turn was not sent, for its tab.
pub fn refused(refused: &Refused) -> String {
    match refused {
        Refused::Budget(r) => budget_refusal(r),
        Refused::Chat(ChatError::Attachment(e)) => attach_text(e),
        Refused::Chat(e) => e.to_string(),
        Refused::Settings(e) => e.to_string(),
        Refused::Context(e) => e.to_string(),
        Refused::Timeout(e) => e.to_string(),
        Refused::Tools(crate::tools::ListError::UnknownServer(name)) => {
            format!("No tool server named {} is configured: nothing was sent.", crate::sanitize::one_line(name, 60))
        }
        Refused::Tools(crate::tools::ListError::ServerStopped { server, last_stderr }) => {
            let server = crate::sanitize::one_line(server, 60);
            match last_stderr.as_deref().map(|l| crate::sanitize::one_line(l, 120)).filter(|l| !l.is_empty()) {
                Some(line) => format!("The tool server {server} stopped ({line}): nothing was sent."),
                None => format!("The tool server {server} stopped: nothing was sent."),
            }
        }
        // Only `serve`'s clients answer calls themselves.
        Refused::Calls(e) => format!("The tool results could not be taken: {e}."),
    }
}

/// A budget that is spent, or that what is spent and held leaves nothing of.
fn budget_refusal(r: &Refusal) -> String {
    let (name, period) = words(r.period);
    if r.spent >= r.limit {
        format!(
            "The {name} budget of {} is spent ({} {period}): nothing was sent; start geminal with --over-budget to ask anyway, or raise budget.{name} in the config.",
            r.limit, r.spent
        )
    } else {
        format!(
            "Nothing is left of the {name} budget of {}: {} spent {period} and {} held by requests still running; nothing was sent; wait for them, or start geminal with --over-budget to ask anyway.",
            r.limit, r.spent, r.reserved
        )
    }
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

/// A file that cannot be attached, with the interface's way forward.
pub fn attach_text(e: &AttachError) -> String {
    match e {
        AttachError::Directory { path } => {
            format!("Cannot attach {path}: it is a directory; attach the files inside instead, one /attach each.")
        }
        e => e.to_string(),
    }
}
