//! Prepared statements kept for the life of the backend (SPI_keepplan): parsed and planned once,
//! re-planned by Postgres itself when the tables they use change.

use std::cell::OnceCell;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, PgBuiltInOids};
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiTupleTable};

use crate::error::ClerkSyncError;
use crate::postgres::nest_level::NestLevel;

pub const TEXT: pg_sys::Oid = PgBuiltInOids::TEXTOID.value();
pub const INT8: pg_sys::Oid = PgBuiltInOids::INT8OID.value();
pub const BOOL: pg_sys::Oid = PgBuiltInOids::BOOLOID.value();
pub const FLOAT8: pg_sys::Oid = PgBuiltInOids::FLOAT8OID.value();
pub const JSONB: pg_sys::Oid = PgBuiltInOids::JSONBOID.value();
pub const INTERVAL: pg_sys::Oid = PgBuiltInOids::INTERVALOID.value();
pub const INT4_ARRAY: pg_sys::Oid = PgBuiltInOids::INT4ARRAYOID.value();
pub const INT8_ARRAY: pg_sys::Oid = PgBuiltInOids::INT8ARRAYOID.value();
pub const TEXT_ARRAY: pg_sys::Oid = PgBuiltInOids::TEXTARRAYOID.value();

/// Prepares a statement that may write, with explicit parameter types.
pub fn prepare(sql: &str, types: &[pg_sys::Oid]) -> Result<OwnedPreparedStatement, ClerkSyncError> {
    let types: Vec<pgrx::PgOid> = types.iter().map(|&oid| pgrx::PgOid::from(oid)).collect();
    Ok(Spi::connect(|client| client.prepare_mut(sql, &types).map(|p| p.keep()))?)
}

/// Runs a kept statement and reads its result inside the SPI connection.
pub fn execute<T>(
    statement: &OwnedPreparedStatement,
    args: &[DatumWithOid],
    read: impl FnOnce(SpiTupleTable) -> Result<T, pgrx::spi::Error>,
) -> Result<T, ClerkSyncError> {
    Ok(Spi::connect_mut(|client| read(client.update(statement, None, args)?))?)
}

/// Settings for a batch's statements, undone when the level is dropped (on return and while an
/// error unwinds). They are planned for each chunk, with estimates that a table filled in the
/// same transaction makes far too high: high enough to compile each statement just in time
/// (hundreds of milliseconds) and to prefer scanning whole tables to probing their indexes.
pub fn batch_settings() -> NestLevel {
    let level = NestLevel::enter();
    level.set(c"jit", c"off");
    level.set(c"enable_seqscan", c"off");
    level
}

/// Plans and runs a statement for these arguments, keeping no plan: for a batch's statements,
/// whose arrays make a plan kept from another time (an emptier table) scan every row.
pub fn execute_planned_now<T>(
    sql: &str,
    args: &[DatumWithOid],
    read: impl FnOnce(SpiTupleTable) -> Result<T, pgrx::spi::Error>,
) -> Result<T, ClerkSyncError> {
    Ok(Spi::connect_mut(|client| read(client.update(sql, None, args)?))?)
}

/// How an insert treats a row that may be there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserts {
    /// It asks first (`ON CONFLICT`, or a look-up): a row that is there is told apart, never an
    /// error.
    Checking,
    /// As new: PostgreSQL checks the unique indexes only as it inserts, and a row that is there
    /// raises a unique violation (23505); the caller applies the delivery again, `Checking`.
    AsNew,
}

/// A statement with constant SQL, prepared on first use and kept for the life of the backend
/// (or, for a batch's, planned on each use: `execute_planned_now`).
/// Declare each in a `thread_local!` under a name that says what it does.
pub struct Statement {
    sql: &'static str,
    types: &'static [pg_sys::Oid],
    prepared: OnceCell<OwnedPreparedStatement>,
}

impl Statement {
    pub const fn new(sql: &'static str, types: &'static [pg_sys::Oid]) -> Self {
        Statement { sql, types, prepared: OnceCell::new() }
    }

    pub fn execute<T>(
        &self,
        args: &[DatumWithOid],
        read: impl FnOnce(SpiTupleTable) -> Result<T, pgrx::spi::Error>,
    ) -> Result<T, ClerkSyncError> {
        if self.prepared.get().is_none() {
            let _ = self.prepared.set(prepare(self.sql, self.types)?);
        }
        execute(self.prepared.get().expect("prepared above"), args, read)
    }

    /// Runs the statement planned for these arguments (see `execute_planned_now`).
    pub fn execute_planned_now<T>(
        &self,
        args: &[DatumWithOid],
        read: impl FnOnce(SpiTupleTable) -> Result<T, pgrx::spi::Error>,
    ) -> Result<T, ClerkSyncError> {
        execute_planned_now(self.sql, args, read)
    }
}
