//! Per-user high-water marks and tombstones (`clerk_sync.user_state`).
//!
//! Each statement both checks and moves the mark in one `INSERT … ON CONFLICT`, which also locks
//! the user's state row until commit: events for one user are applied one at a time, in
//! whatever order they arrive, and an event older than the mark changes nothing.

use crate::error::ClerkSyncError;
use crate::statements::{Kept, INT8, TEXT};

const ADVANCE: usize = 0;
const TOMBSTONE: usize = 1;
const IS_DELETED: usize = 2;

thread_local! {
    static STATEMENTS: Kept = const { Kept::new(&[
        (
            "INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms) VALUES ($1, $2) \
             ON CONFLICT (clerk_user_id) DO UPDATE \
                 SET high_water_ms = EXCLUDED.high_water_ms, changed_at = pg_catalog.now() \
             WHERE s.deleted_at_ms IS NULL AND s.high_water_ms < EXCLUDED.high_water_ms \
             RETURNING s.username",
            &[TEXT, INT8],
        ),
        (
            "INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms, deleted_at_ms) VALUES ($1, $2, $2) \
             ON CONFLICT (clerk_user_id) DO UPDATE \
                 SET deleted_at_ms = EXCLUDED.deleted_at_ms, \
                     high_water_ms = GREATEST(s.high_water_ms, EXCLUDED.high_water_ms), \
                     changed_at = pg_catalog.now() \
             WHERE s.deleted_at_ms IS NULL \
             RETURNING s.username",
            &[TEXT, INT8],
        ),
        (
            "SELECT EXISTS (SELECT 1 FROM clerk_sync.user_state WHERE clerk_user_id = $1 AND deleted_at_ms IS NOT NULL)",
            &[TEXT],
        ),
    ]) };
}

/// The outcome of moving a user's mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marked {
    /// Older than the mark, or the user is already deleted: change nothing.
    Stale,
    /// The mark moved; the username the user holds (from the latest row version, not a snapshot).
    Moved { username: Option<String> },
}

fn marked(mut rows: pgrx::spi::SpiTupleTable) -> Result<Marked, pgrx::spi::Error> {
    Ok(match rows.next() {
        None => Marked::Stale,
        Some(row) => Marked::Moved { username: row.get::<String>(1)? },
    })
}

/// Moves the user's mark to `order_ms` if that is newer and the user is not deleted.
pub fn advance(clerk_id: &str, order_ms: i64) -> Result<Marked, ClerkSyncError> {
    STATEMENTS.with(|s| s.execute(ADVANCE, &[clerk_id.into(), order_ms.into()], marked))
}

/// Records the deletion unless the user was already deleted.
pub fn tombstone(clerk_id: &str, deleted_at_ms: i64) -> Result<Marked, ClerkSyncError> {
    STATEMENTS.with(|s| s.execute(TOMBSTONE, &[clerk_id.into(), deleted_at_ms.into()], marked))
}

pub fn is_deleted(clerk_id: &str) -> Result<bool, ClerkSyncError> {
    STATEMENTS.with(|s| s.execute(IS_DELETED, &[clerk_id.into()], |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false))))
}
