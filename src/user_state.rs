//! Per-user high-water marks and tombstones (`clerk_sync.user_state`).
//!
//! Each statement both checks and moves the mark in one `INSERT … ON CONFLICT`, which also locks
//! the user's state row until commit: events for one user are applied one at a time, in
//! whatever order they arrive, and an event older than the mark changes nothing.

use std::cell::OnceCell;

use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;

use crate::error::ClerkSyncError;
use crate::target::{prepare, INT8, TEXT};

const ADVANCE: &str = "\
    INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms) VALUES ($1, $2) \
    ON CONFLICT (clerk_user_id) DO UPDATE SET high_water_ms = EXCLUDED.high_water_ms, changed_at = pg_catalog.now() \
    WHERE s.deleted_at_ms IS NULL AND s.high_water_ms < EXCLUDED.high_water_ms \
    RETURNING 1";

const TOMBSTONE: &str = "\
    INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms, deleted_at_ms) VALUES ($1, $2, $2) \
    ON CONFLICT (clerk_user_id) DO UPDATE \
        SET deleted_at_ms = EXCLUDED.deleted_at_ms, \
            high_water_ms = GREATEST(s.high_water_ms, EXCLUDED.high_water_ms), \
            changed_at = pg_catalog.now() \
    WHERE s.deleted_at_ms IS NULL \
    RETURNING 1";

const IS_DELETED: &str = "SELECT EXISTS (SELECT 1 FROM clerk_sync.user_state WHERE clerk_user_id = $1 AND deleted_at_ms IS NOT NULL)";

thread_local! {
    static STATEMENTS: OnceCell<[OwnedPreparedStatement; 3]> = const { OnceCell::new() };
}

fn run<T>(which: usize, args: &[pgrx::datum::DatumWithOid], read: impl FnOnce(pgrx::spi::SpiTupleTable) -> Result<T, pgrx::spi::Error>) -> Result<T, ClerkSyncError> {
    STATEMENTS.with(|cell| {
        if cell.get().is_none() {
            let prepared = [
                prepare(ADVANCE, &[TEXT, INT8])?,
                prepare(TOMBSTONE, &[TEXT, INT8])?,
                prepare(IS_DELETED, &[TEXT])?,
            ];
            let _ = cell.set(prepared);
        }
        let statement = &cell.get().expect("prepared above")[which];
        Ok(Spi::connect_mut(|client| read(client.update(statement, None, args)?))?)
    })
}

/// Moves the user's mark to `order_ms` if that is newer and the user is not deleted; false when
/// the event is stale and must change nothing.
pub fn advance(clerk_id: &str, order_ms: i64) -> Result<bool, ClerkSyncError> {
    run(0, &[clerk_id.into(), order_ms.into()], |rows| Ok(!rows.is_empty()))
}

/// Records the deletion; false when the user was already deleted.
pub fn tombstone(clerk_id: &str, deleted_at_ms: i64) -> Result<bool, ClerkSyncError> {
    run(1, &[clerk_id.into(), deleted_at_ms.into()], |rows| Ok(!rows.is_empty()))
}

pub fn is_deleted(clerk_id: &str) -> Result<bool, ClerkSyncError> {
    run(2, &[clerk_id.into()], |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false)))
}
