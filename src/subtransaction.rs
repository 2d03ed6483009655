//! Trying a step that may fail without losing the transaction around it, as a PL/pgSQL
//! `BEGIN … EXCEPTION` block does: the step runs in an internal subtransaction, released when it
//! succeeds and rolled back (with everything it wrote) when it fails.

use std::panic::AssertUnwindSafe;

use pgrx::pg_sys::{self, panic::CaughtError, PgTryBuilder};

use crate::error::ClerkSyncError;

/// Why a tried step failed: its SQLSTATE (five characters) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub sqlstate: String,
    pub message: String,
    invalid_event: bool,
}

impl Failure {
    /// The step said the event is not a valid Clerk event (`ClerkSyncError::Payload`): the
    /// sender's mistake, not the database's.
    pub fn is_invalid_event(&self) -> bool {
        self.invalid_event
    }
}

impl From<&ClerkSyncError> for Failure {
    fn from(error: &ClerkSyncError) -> Self {
        Failure {
            sqlstate: sqlstate_text(error.sqlstate() as i32),
            message: error.to_string(),
            invalid_event: matches!(error, ClerkSyncError::Payload(_)),
        }
    }
}

/// The five-character form of a packed SQLSTATE (PostgreSQL's `unpack_sql_state`).
fn sqlstate_text(mut code: i32) -> String {
    (0..5)
        .map(|_| {
            let c = char::from(b'0' + (code & 0x3F) as u8);
            code >>= 6;
            c
        })
        .collect()
}

/// Runs `step` in a subtransaction. A Postgres error or an `Err` rolls it back; either comes
/// back as the `Failure`.
pub fn attempt<T>(step: impl FnOnce() -> Result<T, ClerkSyncError>) -> Result<T, Failure> {
    // SAFETY: the same sequence PL/pgSQL's exception blocks use (pl_exec.c, exec_stmt_block): the
    // caller's memory context and resource owner are restored after the subtransaction ends,
    // whichever way it ends.
    let (context, owner) = unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        (context, owner)
    };
    let end = |commit: bool| unsafe {
        if commit {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
    };
    let outcome = PgTryBuilder::new(AssertUnwindSafe(|| step().map_err(|e| Failure::from(&e))))
        .catch_others(|caught| match caught {
            CaughtError::PostgresError(report)
            | CaughtError::ErrorReport(report)
            | CaughtError::RustPanic { ereport: report, .. } => Err(Failure {
                sqlstate: sqlstate_text(report.sql_error_code() as i32),
                message: report.message().to_owned(),
                invalid_event: false,
            }),
        })
        .execute();
    end(outcome.is_ok());
    outcome
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use super::*;

    #[pg_test]
    fn a_failed_step_is_rolled_back_and_the_transaction_goes_on() {
        Spi::run("CREATE TABLE t (x int PRIMARY KEY)").unwrap();
        let failed = attempt(|| {
            Spi::run("INSERT INTO t VALUES (1)")?;
            Spi::run("INSERT INTO t VALUES (1)")?;
            Ok(())
        });
        let failure = failed.unwrap_err();
        assert_eq!(failure.sqlstate, "23505");
        assert!(failure.message.contains("duplicate key"), "{failure:?}");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap(), Some(0), "rolled back");

        let typed = attempt(|| -> Result<(), ClerkSyncError> {
            Spi::run("INSERT INTO t VALUES (2)")?;
            Err(ClerkSyncError::NotConfigured)
        });
        assert_eq!(typed.unwrap_err().sqlstate, "55000");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap(), Some(0));

        assert_eq!(attempt(|| Ok(Spi::run("INSERT INTO t VALUES (3)")?)), Ok(()));
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap(), Some(1), "kept");
    }
}
