//! Tombstones in `clerk_sync.user_state`. (The high-water mark moves in `TargetPlan::mark`,
//! together with the username claim, in one statement.)

use crate::error::ClerkSyncError;
use crate::statements::{Kept, INT8, TEXT};

const TOMBSTONE: usize = 0;
const IS_DELETED: usize = 1;

thread_local! {
    static STATEMENTS: Kept = const { Kept::new(&[
        (
            "INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms, deleted_at_ms) VALUES ($1, $2, $2) \
             ON CONFLICT (clerk_user_id) DO UPDATE \
                 SET deleted_at_ms = EXCLUDED.deleted_at_ms, \
                     high_water_ms = GREATEST(s.high_water_ms, EXCLUDED.high_water_ms), \
                     changed_at = pg_catalog.now() \
             WHERE s.deleted_at_ms IS NULL \
             RETURNING 1",
            &[TEXT, INT8],
        ),
        (
            "SELECT EXISTS (SELECT 1 FROM clerk_sync.user_state WHERE clerk_user_id = $1 AND deleted_at_ms IS NOT NULL)",
            &[TEXT],
        ),
    ]) };
}

/// Records the deletion (locking the user's state row until commit); false when the user was
/// already deleted.
pub fn tombstone(clerk_id: &str, deleted_at_ms: i64) -> Result<bool, ClerkSyncError> {
    STATEMENTS.with(|s| s.execute(TOMBSTONE, &[clerk_id.into(), deleted_at_ms.into()], |rows| Ok(!rows.is_empty())))
}

pub fn is_deleted(clerk_id: &str) -> Result<bool, ClerkSyncError> {
    STATEMENTS.with(|s| s.execute(IS_DELETED, &[clerk_id.into()], |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false))))
}
