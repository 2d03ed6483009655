//! `clerk_sync.user_state`, the only code that writes it: per-user high-water marks and
//! tombstones. The mark moves together with the claim of the user's first-choice username, in
//! one statement: the one place outside `usernames` that inserts a claim, so that a new user
//! costs one statement less.

use clerk_sync_core::engine::Moved;

use crate::error::ClerkSyncError;
use crate::statements::{Statement, INT8, TEXT};
use crate::usernames::claim_from_fresh;

/// Moves user $1's mark to $2 (Unix ms) unless it is stale or the user deleted; returns
/// `first_seen` when it moved.
macro_rules! mark {
    () => {
        "INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms) VALUES ($1, $2) \
         ON CONFLICT (clerk_user_id) DO UPDATE \
             SET high_water_ms = EXCLUDED.high_water_ms, changed_at = pg_catalog.now() \
         WHERE s.deleted_at_ms IS NULL AND s.high_water_ms < EXCLUDED.high_water_ms \
         RETURNING (s.xmax = 0) AS first_seen"
    };
}

thread_local! {
    /// $1 user, $2 order time (Unix ms). A row when the mark moved: first seen?
    static MARK: Statement = const { Statement::new(mark!(), &[TEXT, INT8]) };

    /// As MARK, and claims username $3 when the mark moved: also the claim of $3 (true: new,
    /// false: the user's already, NULL: another user's).
    static MARK_AND_CLAIM: Statement = const { Statement::new(
        concat!("WITH mark AS (", mark!(), "), \
         claim AS (INSERT INTO clerk_sync.username_claim AS c (username, clerk_user_id) \
             SELECT $3, $1 FROM mark \
             ON CONFLICT (username) DO UPDATE SET claimed_at = c.claimed_at \
             WHERE c.clerk_user_id = EXCLUDED.clerk_user_id \
             RETURNING (c.xmax = 0) AS fresh) \
         SELECT mark.first_seen, (SELECT fresh FROM claim) FROM mark"),
        &[TEXT, INT8, TEXT],
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

/// Moves the user's high-water mark to `order_ms` and claims `first_choice`; None when the event
/// is stale or the user deleted. Locks the user's state row until commit.
pub fn mark(clerk_id: &str, order_ms: i64, first_choice: Option<&str>) -> Result<Option<Moved>, ClerkSyncError> {
    let Some(first_choice) = first_choice else {
        let first_seen = MARK.with(|s| {
            s.execute(&[clerk_id.into(), order_ms.into()], |mut rows| {
                rows.next().map(|row| row.get::<bool>(1)).transpose().map(Option::flatten)
            })
        })?;
        return Ok(first_seen.map(|first_seen| Moved { first_seen, first_claim: None }));
    };
    let args = [clerk_id.into(), order_ms.into(), first_choice.into()];
    MARK_AND_CLAIM.with(|s| {
        s.execute(&args, |mut rows| {
            let Some(row) = rows.next() else {
                return Ok(None);
            };
            let first_seen = row.get::<bool>(1)?.unwrap_or(false);
            let fresh = row.get::<bool>(2)?;
            Ok(Some(Moved { first_seen, first_claim: Some(claim_from_fresh(fresh)) }))
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
