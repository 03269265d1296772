//! The spending ledger and budget reservations. The ledger holds what every answer cost
//! (money and tokens, never text), written whether or not the answer is saved in the history,
//! and never touched by deleting history: budgets are checked against it. A reservation holds a
//! request's worst case while it runs; it is taken in an IMMEDIATE transaction that first checks
//! the ledger and every live reservation against the budgets, so processes sharing a database
//! share one budget. A reservation of a process that died, or past its expiry, counts nothing.

use rusqlite::{Connection, params};

use super::writer_lock::WriterLock;
use super::{Store, StoreError, now_ms};
use crate::money::{Refusal, Spending, Usd};

/// The longest a process's reservation lives (a backstop: one of a process that died lapses
/// as soon as its writer lock is free).
pub const RESERVATION_LEASE_MS: i64 = 6 * 3600 * 1000;
/// The longest a reservation handed to remote jobs lives (the Batch API ends a job within 48
/// hours; its results are counted in the ledger when collected).
pub const JOB_RESERVATION_MS: i64 = 49 * 3600 * 1000;

/// One priced (or unpriceable) answer, as the ledger keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendEntry {
    /// The model asked for.
    pub model: String,
    /// The price-table row used; `None` with `cost`: unknown.
    pub priced_as: Option<String>,
    /// `None`: the price is unknown (it counts as nothing).
    pub cost: Option<Usd>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub thought_tokens: Option<i64>,
    /// Billed at the Batch API's price.
    pub batch: bool,
}

pub(super) fn insert_spend(conn: &Connection, e: &SpendEntry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO spend_ledger (at, model, priced_as, cost_nanos, prompt_tokens, output_tokens, thought_tokens, batch_priced)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
            now_ms(),
            e.model,
            e.priced_as,
            e.cost.map(Usd::nanos),
            e.prompt_tokens,
            e.output_tokens,
            e.thought_tokens,
            e.batch
    ])?;
    Ok(())
}

fn spending_on(conn: &Connection) -> rusqlite::Result<Spending> {
    conn.query_row(
        "SELECT coalesce(sum(CASE WHEN at >= CAST(strftime('%s', 'now', 'start of day') AS INTEGER) * 1000
                             THEN cost_nanos END), 0),
                coalesce(sum(cost_nanos), 0)
         FROM spend_ledger WHERE at >= CAST(strftime('%s', 'now', 'start of month') AS INTEGER) * 1000",
        [],
        |r| Ok(Spending { today: Usd::from_nanos(r.get(0)?), month: Usd::from_nanos(r.get(1)?) }),
    )
}

/// The live reservations' total, and the ids of those that lapsed.
fn reservations_on(conn: &Connection, db: &std::path::Path, mine: Option<&str>) -> rusqlite::Result<(Usd, Vec<i64>)> {
    let mut stmt = conn.prepare(
        "SELECT r.id, r.owner, r.amount_nanos, r.expires_at > ?1,
                EXISTS (SELECT 1 FROM reservation_jobs rj JOIN jobs j ON j.id = rj.job_id
                        WHERE rj.reservation_id = r.id
                          AND (j.finished_at IS NULL
                               OR (j.state = 'succeeded'
                                   AND EXISTS (SELECT 1 FROM job_lines l WHERE l.job_id = j.id AND l.state = 'pending'))))
         FROM budget_reservations r",
    )?;
    let rows = stmt.query_map([now_ms()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, bool>(4)?,
        ))
    })?;
    let (mut live, mut lapsed) = (0i64, Vec::new());
    for row in rows {
        let (id, owner, amount, unexpired, jobs_running) = row?;
        let alive = unexpired
            && match owner.as_deref() {
                Some(owner) => Some(owner) == mine || WriterLock::is_alive(db, owner),
                None => jobs_running,
            };
        if alive {
            live = live.saturating_add(amount);
        } else {
            lapsed.push(id);
        }
    }
    Ok((Usd::from_nanos(live), lapsed))
}

impl Store {
    /// Adds an answer to the spending ledger.
    pub fn record_spend(&self, entry: &SpendEntry) -> Result<(), StoreError> {
        insert_spend(&self.conn, entry).map_err(|e| self.err(e))
    }

    /// What the ledger holds for this UTC day and this UTC month (answers of unknown price count 0).
    pub fn spending(&self) -> Result<Spending, StoreError> {
        spending_on(&self.conn).map_err(|e| self.err(e))
    }

    /// What requests still running hold, in every process sharing this database.
    pub fn reserved(&self) -> Result<Usd, StoreError> {
        reservations_on(&self.conn, &self.path, self.writer_id()).map(|(live, _)| live).map_err(|e| self.err(e))
    }

    /// Reserves `amount` for a request about to be sent, when the ledger, every live
    /// reservation and `amount` together stay within `daily` and `monthly` (`None`: no limit);
    /// otherwise takes nothing and says which budget it would pass. Lapsed reservations are
    /// removed on the way. `Ok(Ok(id))`: release it with [`Store::release_reservation`].
    pub fn reserve(
        &mut self,
        amount: Usd,
        daily: Option<Usd>,
        monthly: Option<Usd>,
    ) -> Result<Result<i64, Refusal>, StoreError> {
        self.reserve_onto(None, amount, daily, monthly)
    }

    /// As [`Store::reserve`], adding `amount` to this process's reservation `onto` when given
    /// (one reservation that grows line by line, for a remote batch being built).
    pub fn reserve_onto(
        &mut self,
        onto: Option<i64>,
        amount: Usd,
        daily: Option<Usd>,
        monthly: Option<Usd>,
    ) -> Result<Result<i64, Refusal>, StoreError> {
        self.reserve_checked(onto, amount, amount, daily, monthly)
    }

    /// Holds `amount` for one interactive turn (`ask`, a tab of the interface) when what is
    /// spent and held leaves something of the budgets: such a turn may pass a budget by at most
    /// its own answer, as before, but what it holds counts against every other request.
    pub fn reserve_turn(
        &mut self,
        amount: Usd,
        daily: Option<Usd>,
        monthly: Option<Usd>,
    ) -> Result<Result<i64, Refusal>, StoreError> {
        self.reserve_checked(None, amount, Usd::ZERO, daily, monthly)
    }

    /// Adds `amount` (onto `onto` when given) if `checked` fits with the ledger and every live
    /// reservation under the budgets.
    fn reserve_checked(
        &mut self,
        onto: Option<i64>,
        amount: Usd,
        checked: Usd,
        daily: Option<Usd>,
        monthly: Option<Usd>,
    ) -> Result<Result<i64, Refusal>, StoreError> {
        let mine = self.writer_id().map(str::to_owned);
        let path = self.path.clone();
        let run = |conn: &mut Connection| -> rusqlite::Result<Result<i64, Refusal>> {
            let tx = super::write_tx::write_tx(conn)?;
            let (reserved, lapsed) = reservations_on(&tx, &path, mine.as_deref())?;
            for id in lapsed {
                tx.execute("DELETE FROM budget_reservations WHERE id = ?1", [id])?;
            }
            let spent = spending_on(&tx)?;
            if let Err(refusal) = crate::money::admit(spent, reserved, checked, daily, monthly) {
                tx.commit()?;
                return Ok(Err(refusal));
            }
            let now = now_ms();
            let grown =
                match onto {
                    Some(id) => tx.execute(
                        "UPDATE budget_reservations SET amount_nanos = amount_nanos + ?2 WHERE id = ?1 AND owner IS ?3",
                        params![id, amount.nanos(), mine],
                    )? == 1,
                    None => false,
                };
            if !grown {
                tx.execute(
                    "INSERT INTO budget_reservations (owner, amount_nanos, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![mine, amount.nanos(), now, now.saturating_add(RESERVATION_LEASE_MS)],
                )?;
            }
            let id = if grown { onto.unwrap_or_default() } else { tx.last_insert_rowid() };
            tx.commit()?;
            Ok(Ok(id))
        };
        run(&mut self.conn).map_err(|e| self.err(e))
    }

    /// Gives a reservation back (its request was priced into the ledger, or never sent).
    pub fn release_reservation(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM budget_reservations WHERE id = ?1", [id]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Hands a reservation from this process to remote `jobs`: it then lives while one of them
    /// runs or still has results to collect (at most [`JOB_RESERVATION_MS`]), whatever becomes
    /// of this process.
    pub fn hand_reservation_to_jobs(&mut self, id: i64, jobs: &[i64]) -> Result<(), StoreError> {
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = super::write_tx::write_tx(conn)?;
            for job in jobs {
                tx.execute(
                    "INSERT OR IGNORE INTO reservation_jobs (reservation_id, job_id) VALUES (?1, ?2)",
                    [id, *job],
                )?;
            }
            tx.execute(
                "UPDATE budget_reservations SET owner = NULL, expires_at = ?2 WHERE id = ?1",
                params![id, now_ms().saturating_add(JOB_RESERVATION_MS)],
            )?;
            tx.commit()
        };
        run(&mut self.conn).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Usd {
        Usd::from_dollars(s.parse().unwrap()).unwrap()
    }

    fn spend(cost: &str) -> SpendEntry {
        SpendEntry { model: "gemini-2.5-flash".into(), cost: Some(usd(cost)), ..SpendEntry::default() }
    }

    #[test]
    fn reservations_of_two_processes_share_one_budget_and_a_dead_ones_lapse() {
        let home = tempfile::tempdir().unwrap();
        let db = home.path().join("history.sqlite3");
        let (mut a, _) = Store::open(&db).unwrap();
        let (mut b, _) = Store::open(&db).unwrap();
        a.record_spend(&spend("0.01")).unwrap();
        let limit = Some(usd("0.05"));
        let first = a.reserve(usd("0.02"), limit, None).unwrap().unwrap();
        b.reserve(usd("0.02"), limit, None).unwrap().unwrap();
        // 0.01 spent + 0.04 reserved: another 0.000000001 would pass $0.05.
        let refused = a.reserve(Usd::from_nanos(1), limit, None).unwrap().unwrap_err();
        assert_eq!(
            (refused.spent, refused.reserved, refused.period),
            (usd("0.01"), usd("0.04"), crate::money::Period::Day)
        );
        assert_eq!(b.reserved().unwrap(), usd("0.04"));
        // The first answer cost 0.005: priced, then released.
        a.record_spend(&spend("0.005")).unwrap();
        a.release_reservation(first).unwrap();
        assert_eq!(a.reserved().unwrap(), usd("0.02"));
        // b's process dies: its reservation counts nothing any more.
        drop(b);
        assert_eq!(a.reserved().unwrap(), Usd::ZERO);
        a.reserve(usd("0.035"), limit, None).unwrap().unwrap();
        assert_eq!(a.spending().unwrap().today, usd("0.015"));
    }

    #[test]
    fn a_reservation_handed_to_a_remote_job_outlives_its_process_until_the_job_is_collected() {
        let home = tempfile::tempdir().unwrap();
        let db = home.path().join("history.sqlite3");
        let (mut a, _) = Store::open(&db).unwrap();
        let job = a
            .create_job(&crate::store::NewJob {
                kind: "remote".into(),
                model: "gemini-2.5-flash".into(),
                input_path: None,
                output_path: None,
                input_hash: String::new(),
                priority: 0,
            })
            .unwrap();
        let id = a.reserve(usd("0.03"), None, None).unwrap().unwrap();
        a.hand_reservation_to_jobs(id, &[job]).unwrap();
        drop(a);
        let (b, _) = Store::open(&db).unwrap();
        assert_eq!(b.reserved().unwrap(), usd("0.03"), "the job still runs");
        b.update_job(
            job,
            &crate::store::JobUpdate { state: "failed".into(), result_file: None, error: None, finished: true },
        )
        .unwrap();
        assert_eq!(b.reserved().unwrap(), Usd::ZERO, "a job that is over with nothing to collect holds nothing");
    }

    #[test]
    fn the_migration_copies_every_priced_answer_into_the_ledger_once() {
        use crate::store::schema::{MIGRATIONS, migrate, user_version};
        let ledger = MIGRATIONS.iter().position(|m| m.contains("CREATE TABLE spend_ledger")).unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        // As `migrate` does: 15 rebuilds tables other tables point at, with foreign keys off.
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        for sql in &MIGRATIONS[..ledger] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", ledger as i64).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, title, model, created_at, updated_at) VALUES (1, 't', 'm', 0, 0);
             INSERT INTO messages (conversation_id, role, text, status, created_at) VALUES (1, 'user', 'q', 'complete', 1);
             INSERT INTO messages (conversation_id, role, text, model, status, created_at, prompt_tokens, output_tokens, cost_nanos, priced_as)
                 VALUES (1, 'model', 'a', 'gemini-2.5-flash', 'complete', 2, 1000, 500, 1550000, 'gemini:gemini-2.5-flash');
             INSERT INTO messages (conversation_id, role, text, model, status, created_at, prompt_tokens, output_tokens, cost_nanos)
                 VALUES (1, 'model', 'b', 'ollama:m', 'complete', 3, 10, 5, NULL);
             INSERT INTO messages (conversation_id, role, text, model, status, created_at, cached, cost_nanos, saved_nanos)
                 VALUES (1, 'model', 'a', 'gemini-2.5-flash', 'complete', 4, 1, 0, 1550000);
             INSERT INTO messages (conversation_id, role, text, model, status, created_at, prompt_tokens, output_tokens, cost_nanos, batch_priced)
                 VALUES (1, 'model', 'c', 'gemini-2.5-flash', 'complete', 5, 1000, 500, 775000, 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len() as i64);
        type Row = (i64, String, Option<i64>, Option<i64>, bool);
        let rows: Vec<Row> = conn
            .prepare("SELECT at, model, cost_nanos, prompt_tokens, batch_priced FROM spend_ledger ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [
                (2, "gemini-2.5-flash".to_owned(), Some(1_550_000), Some(1000), false),
                (3, "ollama:m".to_owned(), None, Some(10), false),
                (5, "gemini-2.5-flash".to_owned(), Some(775_000), Some(1000), true),
            ],
            "answers with usage, once each; no prompt, no cache hit"
        );
        // The history can go now: the ledger keeps what was spent.
        conn.execute_batch("DELETE FROM messages; DELETE FROM conversations;").unwrap();
        let left: i64 = conn.query_row("SELECT sum(cost_nanos) FROM spend_ledger", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 2_325_000);
    }
}
