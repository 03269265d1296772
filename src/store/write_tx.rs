//! A write transaction that nests: alone it is `BEGIN IMMEDIATE` (the write lock taken at once,
//! so two processes never deadlock upgrading a read), inside a group commit (see
//! `StoreHandle::call_grouped`) a savepoint of the group's transaction. Either way it rolls back
//! when dropped uncommitted, so a store method reads the same in both cases.

use std::ops::Deref;

use rusqlite::{Connection, Savepoint, Transaction, TransactionBehavior};

pub(crate) enum WriteTx<'a> {
    Alone(Transaction<'a>),
    Nested(Savepoint<'a>),
}

impl WriteTx<'_> {
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Alone(tx) => tx.commit(),
            WriteTx::Nested(sp) => sp.commit(),
        }
    }
}

impl Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Alone(tx) => tx,
            WriteTx::Nested(sp) => sp,
        }
    }
}

/// Starts a write transaction on `conn`: its own, or a savepoint of the one already open.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<WriteTx<'_>> {
    if conn.is_autocommit() {
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map(WriteTx::Alone)
    } else {
        conn.savepoint().map(WriteTx::Nested)
    }
}
