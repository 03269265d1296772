//! A write transaction that nests: alone it is `BEGIN IMMEDIATE` (the write lock taken at once,
//! so two processes never deadlock upgrading a read), inside a group commit (see
//! `StoreHandle::call_grouped`) a savepoint of the group's transaction. Either way it rolls back
//! when dropped uncommitted, so a store method reads the same in both cases. The savepoint's
//! statements come from the connection's statement cache: a group runs thousands of them, and
//! parsing each anew was a measurable part of the writer's time.
//!
//! A group first runs its members with no savepoint at all ([`Unguarded`]): FTS5 writes the terms
//! it holds out to disk as a new segment at every savepoint and release, so a savepoint per
//! member cost a segment (and its merging) per saved message. A write that is dropped
//! uncommitted there marks the group ([`Unguarded::tainted`]), which is then undone whole and
//! run again member by member in savepoints.

use std::cell::Cell;
use std::ops::Deref;

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub(crate) enum WriteTx<'a> {
    Alone(Transaction<'a>),
    Nested(Nested<'a>),
    /// Inside an unguarded group: the group's transaction itself.
    Grouped(Grouped<'a>),
}

thread_local! {
    /// (running an unguarded group on this thread, a write of it was dropped uncommitted)
    static UNGUARDED: Cell<(bool, bool)> = const { Cell::new((false, false)) };
}

/// While it lives, write transactions on this thread (the store's) are the open group's own
/// transaction, with no savepoint.
pub(crate) struct Unguarded(());

impl Unguarded {
    pub(crate) fn enter() -> Unguarded {
        UNGUARDED.with(|u| u.set((true, false)));
        Unguarded(())
    }

    /// Whether a write was dropped uncommitted since `enter` (its half is in the group).
    pub(crate) fn tainted(&self) -> bool {
        UNGUARDED.with(|u| u.get().1)
    }
}

impl Drop for Unguarded {
    fn drop(&mut self) {
        UNGUARDED.with(|u| u.set((false, false)));
    }
}

/// A write inside an unguarded group; dropped uncommitted, it marks the group.
pub(crate) struct Grouped<'a> {
    conn: &'a Connection,
    done: bool,
}

impl Drop for Grouped<'_> {
    fn drop(&mut self) {
        if !self.done {
            UNGUARDED.with(|u| u.set((true, true)));
        }
    }
}

/// A savepoint rolled back (and released) when dropped uncommitted.
pub(crate) struct Nested<'a> {
    conn: &'a Connection,
    done: bool,
}

impl Drop for Nested<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = run(self.conn, "ROLLBACK TO write_tx");
            let _ = run(self.conn, "RELEASE write_tx");
        }
    }
}

impl WriteTx<'_> {
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Alone(tx) => tx.commit(),
            WriteTx::Nested(mut sp) => {
                run(sp.conn, "RELEASE write_tx")?;
                sp.done = true;
                Ok(())
            }
            WriteTx::Grouped(mut g) => {
                g.done = true;
                Ok(())
            }
        }
    }
}

impl Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Alone(tx) => tx,
            WriteTx::Nested(sp) => sp.conn,
            WriteTx::Grouped(g) => g.conn,
        }
    }
}

/// Runs a statement without parameters or rows through the statement cache.
pub(crate) fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Starts a write transaction on `conn`: its own, or a savepoint of the one already open.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<WriteTx<'_>> {
    if conn.is_autocommit() {
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map(WriteTx::Alone)
    } else if UNGUARDED.with(|u| u.get().0) {
        Ok(WriteTx::Grouped(Grouped { conn, done: false }))
    } else {
        // Inside a group member (itself in the `grouped` savepoint); names may repeat when
        // nested deeper: SQLite's ROLLBACK TO and RELEASE reach the newest of that name.
        run(conn, "SAVEPOINT write_tx")?;
        Ok(WriteTx::Nested(Nested { conn, done: false }))
    }
}

/// Runs `f` in a write transaction as [`write_tx`] opens one, for writes made through other
/// store methods (which take the store, so a [`WriteTx`] cannot be held across them): committed
/// when `f` returns `Ok`, undone when it fails.
pub(crate) fn in_write_tx<T>(
    store: &mut super::Store,
    f: impl FnOnce(&mut super::Store) -> Result<T, super::StoreError>,
) -> Result<T, super::StoreError> {
    let (begin, commit, undo): (&str, &str, &[&str]) = if store.conn.is_autocommit() {
        ("BEGIN IMMEDIATE", "COMMIT", &["ROLLBACK"])
    } else if UNGUARDED.with(|u| u.get().0) {
        let result = f(store);
        if result.is_err() {
            UNGUARDED.with(|u| u.set((true, true)));
        }
        return result;
    } else {
        ("SAVEPOINT write_tx", "RELEASE write_tx", &["ROLLBACK TO write_tx", "RELEASE write_tx"])
    };
    run(&store.conn, begin).map_err(|e| store.err(e))?;
    let result = f(store).and_then(|value| run(&store.conn, commit).map(|()| value).map_err(|e| store.err(e)));
    if result.is_err() {
        for sql in undo {
            let _ = run(&store.conn, sql);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    fn insert(conn: &Connection, x: i64) {
        conn.execute("INSERT INTO t (x) VALUES (?1)", [x]).unwrap();
    }

    /// Inside a group's transaction a store method's writes are a savepoint: dropped uncommitted
    /// they are undone and nothing before them is; committed they stay; nested twice, the inner
    /// one undoes only itself.
    #[test]
    fn a_nested_write_undoes_only_itself() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); BEGIN").unwrap();
        insert(&conn, 1);
        {
            let tx = write_tx(&mut conn).unwrap();
            assert!(matches!(tx, WriteTx::Nested(_)));
            insert(&tx, 2);
        }
        assert_eq!(count(&conn), 1, "dropped uncommitted: its row is gone, the earlier one stays");
        {
            let tx = write_tx(&mut conn).unwrap();
            insert(&tx, 3);
            tx.commit().unwrap();
        }
        assert_eq!(count(&conn), 2);
        // A method inside another's savepoint of the same name: the inner one undoes only itself.
        run(&conn, "SAVEPOINT write_tx").unwrap();
        insert(&conn, 4);
        {
            let inner = write_tx(&mut conn).unwrap();
            insert(&inner, 5);
        }
        assert_eq!(count(&conn), 3, "the inner one undid its row only");
        run(&conn, "RELEASE write_tx").unwrap();
        conn.execute_batch("COMMIT").unwrap();
        assert_eq!(count(&conn), 3);
        assert!(conn.is_autocommit(), "every savepoint was released");
    }
}
