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
}

impl Failure {}

impl From<&ClerkSyncError> for Failure {
    fn from(error: &ClerkSyncError) -> Self {
        Failure { sqlstate: sqlstate_text(error.sqlstate() as i32), message: error.to_string() }
    }
}

/// The five-character form of a packed SQLSTATE.
fn sqlstate_text(code: i32) -> String {
    // SAFETY: unpack_sql_state only formats its argument into a static buffer, which is copied
    // before anything else can call it.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::unpack_sql_state(code)) }.to_string_lossy().into_owned()
}

/// Runs `step` in a subtransaction, released when the step returns `Ok`. An `Err` from the step
/// rolls it back and comes back as `Ok(Err(..))`; a Postgres error rolls it back and comes back
/// as the `Failure`.
pub fn attempt<T, E>(step: impl FnOnce() -> Result<T, E>) -> Result<Result<T, E>, Failure> {
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
    let outcome = PgTryBuilder::new(AssertUnwindSafe(|| Ok(step())))
        .catch_others(|caught| match caught {
            CaughtError::PostgresError(report)
            | CaughtError::ErrorReport(report)
            | CaughtError::RustPanic { ereport: report, .. } => Err(Failure {
                sqlstate: sqlstate_text(report.sql_error_code() as i32),
                message: report.message().to_owned(),
            }),
        })
        .execute();
    end(matches!(outcome, Ok(Ok(_))));
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
        let failed = attempt(|| -> Result<(), ClerkSyncError> {
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
        assert!(matches!(typed, Ok(Err(ClerkSyncError::NotConfigured))), "{typed:?}");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap(), Some(0));

        let kept = attempt(|| -> Result<(), ClerkSyncError> { Ok(Spi::run("INSERT INTO t VALUES (3)")?) });
        assert!(matches!(kept, Ok(Ok(()))));
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap(), Some(1), "kept");
    }
}
