//! `clerk_sync.user_state`, the only code that writes it: per-user high-water marks and
//! tombstones.

use crate::error::ClerkSyncError;
use crate::statements::{Statement, INT8, TEXT};

thread_local! {
    /// Moves user $1's mark to $2 (Unix ms) unless it is stale or the user deleted. A row when it
    /// moved: first seen?
    static MARK: Statement = const { Statement::new(
        "INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms) VALUES ($1, $2) \
         ON CONFLICT (clerk_user_id) DO UPDATE \
             SET high_water_ms = EXCLUDED.high_water_ms, changed_at = pg_catalog.now() \
         WHERE s.deleted_at_ms IS NULL AND s.high_water_ms < EXCLUDED.high_water_ms \
         RETURNING (s.xmax = 0) AS first_seen",
        &[TEXT, INT8],
    ) };

    static TOMBSTONE: Statement = const { Statement::new(
        "INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms, deleted_at_ms) VALUES ($1, $2, $2) \
         ON CONFLICT (clerk_user_id) DO UPDATE \
             SET deleted_at_ms = EXCLUDED.deleted_at_ms, \
                 high_water_ms = GREATEST(s.high_water_ms, EXCLUDED.high_water_ms), \
                 changed_at = pg_catalog.now() \
         WHERE s.deleted_at_ms IS NULL \
         RETURNING 1",
        &[TEXT, INT8],
    ) };

    static IS_DELETED: Statement = const { Statement::new(
        "SELECT EXISTS (SELECT 1 FROM clerk_sync.user_state WHERE clerk_user_id = $1 AND deleted_at_ms IS NOT NULL)",
        &[TEXT],
    ) };
}

/// Moves the user's high-water mark to `order_ms`: Some(first seen?) when it moved, None when the
/// event is stale or the user deleted. Locks the user's state row until commit.
pub fn mark(clerk_id: &str, order_ms: i64) -> Result<Option<bool>, ClerkSyncError> {
    MARK.with(|s| {
        s.execute(&[clerk_id.into(), order_ms.into()], |mut rows| {
            rows.next().map(|row| row.get::<bool>(1)).transpose().map(Option::flatten)
        })
    })
}

/// Records the deletion (locking the user's state row until commit); false when the user was
/// already deleted.
pub fn tombstone(clerk_id: &str, deleted_at_ms: i64) -> Result<bool, ClerkSyncError> {
    TOMBSTONE.with(|s| s.execute(&[clerk_id.into(), deleted_at_ms.into()], |rows| Ok(!rows.is_empty())))
}

pub fn is_deleted(clerk_id: &str) -> Result<bool, ClerkSyncError> {
    IS_DELETED.with(|s| s.execute(&[clerk_id.into()], |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false))))
}
