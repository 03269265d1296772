//! A turn's budget reservation, for front ends that ask one turn at a time (`ask`, the line
//! chat, the interface's tabs): the turn's worst case (everything sent, at most its longest
//! answer) is held in the database while it runs, so every other request of every process
//! sharing the database counts it. Such a turn is sent while something of the budgets is left
//! (it may pass one by its own answer, as `ask` always could); a batch needs its whole worst
//! case to fit (`cli/batch_budget.rs`).

use super::context::worst_prompt_tokens;
use super::prepare::Prepared;
use super::session::ChatSession;
use crate::money::{Refusal, Usd};

/// What a turn holds of the budgets while it runs; give it back with [`ChatSession::release`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hold(Option<i64>);

impl ChatSession {
    /// The worst case of `prepared`, when its model has a price (else the dearest of its
    /// provider's; `None` when nothing bounds it).
    pub fn worst_case(&self, prepared: &Prepared) -> Option<Usd> {
        let tokens = worst_prompt_tokens(&prepared.turn);
        self.options().prices.worst_case(&prepared.turn.model, tokens, prepared.settings.max_tokens)
    }

    /// Holds the worst case of `prepared` under `daily` and `monthly` (`None`: no limit); `Err`
    /// when what is spent and held leaves nothing of a budget. Nothing is held without a
    /// budget or a history (then nothing is counted either).
    pub async fn hold(&self, prepared: &Prepared, daily: Option<Usd>, monthly: Option<Usd>) -> Result<Hold, Refusal> {
        self.hold_calls(prepared, 1, daily, monthly).await
    }

    /// [`ChatSession::hold`] for a turn that may ask the model up to `calls` times (a tool
    /// turn's rounds): each round's worst case is held.
    pub async fn hold_calls(
        &self,
        prepared: &Prepared,
        calls: u32,
        daily: Option<Usd>,
        monthly: Option<Usd>,
    ) -> Result<Hold, Refusal> {
        let Some(store) = self.store().filter(|_| daily.is_some() || monthly.is_some()) else {
            return Ok(Hold::default());
        };
        let one = self.worst_case(prepared).unwrap_or(Usd::ZERO);
        let amount = (1..calls.max(1)).fold(one, |sum, _| sum.saturating_add(one));
        match store.call(move |s| s.reserve_turn(amount, daily, monthly)).await {
            Ok(Ok(id)) => Ok(Hold(Some(id))),
            Ok(Err(refusal)) => Err(refusal),
            // The budgets were checked before the turn was prepared; a database that cannot
            // take the hold now is not a reason to lose the prompt.
            Err(_) => Ok(Hold::default()),
        }
    }

    /// Gives back what a turn held (its answer is in the spending ledger by now).
    pub async fn release(&self, hold: Hold) {
        if let (Some(id), Some(store)) = (hold.0, self.store()) {
            let _ = store.call(move |s| s.release_reservation(id)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChatOptions, Target};
    use crate::engine::{Engine, EngineConfig};
    use crate::store::{Store, StoreHandle};

    fn usd(s: &str) -> Usd {
        Usd::from_dollars(s.parse().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_turn_holds_its_worst_case_while_something_of_the_budget_is_left() {
        let home = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&home.path().join("history.sqlite3")).unwrap();
        let handle = StoreHandle::spawn(store).unwrap();
        let client = crate::gemini::Client::new(crate::gemini::ClientOptions {
            base_url: "http://127.0.0.1:9".into(),
            api_key: None,
            timeouts: crate::gemini::Timeouts::default(),
        })
        .unwrap();
        let engine = Engine::new(client, EngineConfig::default());
        let session = ChatSession::new(engine, Some(handle.clone()), ChatOptions::default());
        let mut prepared = session.prepare(Target::New, "q".repeat(300), None, "gemini-2.5-flash", None).await.unwrap();
        prepared.settings.max_tokens = Some(1_000);
        // 108 tokens in at $0.30/M and 1,000 out at $2.50/M.
        assert_eq!(session.worst_case(&prepared), Some(Usd::from_nanos(2_532_400)));
        let limit = Some(usd("0.004"));
        let first = session.hold(&prepared, limit, None).await.unwrap();
        assert_eq!(handle.read(|s| s.reserved()).await.unwrap(), Usd::from_nanos(2_532_400));
        // Something is left: a second turn may run, and holds its worst case too.
        let second = session.hold(&prepared, limit, None).await.unwrap();
        // Now nothing is left for a third.
        let refused = session.hold(&prepared, limit, None).await.unwrap_err();
        assert_eq!(refused.reserved, Usd::from_nanos(5_064_800));
        session.release(first).await;
        session.release(second).await;
        assert_eq!(handle.read(|s| s.reserved()).await.unwrap(), Usd::ZERO);
        assert!(session.hold(&prepared, limit, None).await.is_ok());
    }
}
