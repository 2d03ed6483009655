//! `clerk_sync.user_state`, the only code that writes it: per-user high-water marks and
//! tombstones, one user at a time or a batch's users at once.

use std::collections::{BTreeMap, HashMap, HashSet};

use clerk_sync_core::apply::ordering::ObjectState;

use crate::error::ClerkSyncError;
use crate::postgres::statements::{Statement, BOOL, INT8, INT8_ARRAY, TEXT, TEXT_ARRAY};

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

    /// Tombstones user $1 at $2 (Unix ms) unless already deleted, or when $3 (only if older)
    /// unless the mark is not older than $2. A row when it did.
    /// The same for an object never marked before: a plain insert, which raises a unique
    /// violation (23505) when the object was marked before.
    static MARK_NEW: Statement = const { Statement::new(
        "INSERT INTO clerk_sync.user_state (clerk_user_id, high_water_ms) VALUES ($1, $2)",
        &[TEXT, INT8],
    ) };

    static TOMBSTONE: Statement = const { Statement::new(
        "INSERT INTO clerk_sync.user_state AS s (clerk_user_id, high_water_ms, deleted_at_ms) VALUES ($1, $2, $2) \
         ON CONFLICT (clerk_user_id) DO UPDATE \
             SET deleted_at_ms = EXCLUDED.deleted_at_ms, \
                 high_water_ms = GREATEST(s.high_water_ms, EXCLUDED.high_water_ms), \
                 changed_at = pg_catalog.now() \
         WHERE s.deleted_at_ms IS NULL AND (NOT $3 OR s.high_water_ms < EXCLUDED.high_water_ms) \
         RETURNING 1",
        &[TEXT, INT8, BOOL],
    ) };

    /// The state rows of users $1, locked. One index probe per user: a subquery with OFFSET 0
    /// is not flattened, so the planner cannot swap the probes for a scan of the whole table
    /// (statistics taken while it was smaller make that look cheaper).
    static LOCK_USERS: Statement = const { Statement::new(
        "SELECT s.clerk_user_id, s.high_water_ms, s.deleted_at_ms \
         FROM ROWS FROM (pg_catalog.unnest($1)) AS k (id) \
         CROSS JOIN LATERAL (SELECT * FROM clerk_sync.user_state WHERE clerk_user_id = k.id OFFSET 0) AS s \
         ORDER BY s.clerk_user_id FOR UPDATE OF s",
        &[TEXT_ARRAY],
    ) };

    /// Users $1 get marks $2 and tombstones $3 (arrays, element by element): those with a state
    /// row, locked by LOCK_USERS.
    static UPDATE_STATES: Statement = const { Statement::new(
        "UPDATE clerk_sync.user_state AS s SET high_water_ms = u.high_water_ms, deleted_at_ms = u.deleted_at_ms, \
             changed_at = pg_catalog.now() \
         FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u (clerk_user_id, high_water_ms, deleted_at_ms) \
         WHERE s.clerk_user_id = u.clerk_user_id",
        &[TEXT_ARRAY, INT8_ARRAY, INT8_ARRAY],
    ) };

    /// The same for users without one; a user whose row another session made meanwhile is left
    /// out of the rows inserted.
    static INSERT_STATES: Statement = const { Statement::new(
        "INSERT INTO clerk_sync.user_state (clerk_user_id, high_water_ms, deleted_at_ms) \
         SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) \
         ON CONFLICT (clerk_user_id) DO NOTHING",
        &[TEXT_ARRAY, INT8_ARRAY, INT8_ARRAY],
    ) };

    /// Whether object $1 is deleted, its state row held against a deletion (FOR SHARE).
    static HOLD: Statement = const { Statement::new(
        "SELECT deleted_at_ms IS NOT NULL FROM clerk_sync.user_state WHERE clerk_user_id = $1 FOR SHARE",
        &[TEXT],
    ) };

    static DELETED_IF_KNOWN: Statement = const { Statement::new(
        "SELECT deleted_at_ms IS NOT NULL FROM clerk_sync.user_state WHERE clerk_user_id = $1",
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

/// `mark` of an object this transaction takes for never marked: Some(true) (first seen), or a
/// unique violation (23505) when it was marked before.
pub fn mark_new(clerk_id: &str, order_ms: i64) -> Result<Option<bool>, ClerkSyncError> {
    MARK_NEW.with(|s| s.execute(&[clerk_id.into(), order_ms.into()], |_| Ok(Some(true))))
}

/// Records the deletion (locking the user's state row until commit); false when the user was
/// already deleted, or, `only_if_older`, when the mark is not older than the deletion.
pub fn tombstone(clerk_id: &str, deleted_at_ms: i64, only_if_older: bool) -> Result<bool, ClerkSyncError> {
    TOMBSTONE.with(|s| {
        s.execute(&[clerk_id.into(), deleted_at_ms.into(), only_if_older.into()], |rows| Ok(!rows.is_empty()))
    })
}

/// Whether the user is deleted, when any event (or a provisional row) was applied for them;
/// None for a user clerk_sync has never seen.
pub fn deleted_if_known(clerk_id: &str) -> Result<Option<bool>, ClerkSyncError> {
    DELETED_IF_KNOWN.with(|s| {
        s.execute(&[clerk_id.into()], |rows| if rows.is_empty() { Ok(None) } else { rows.first().get_one::<bool>() })
    })
}

/// Whether the object (a user, an organization) is deleted, None when never seen; a deletion of
/// it waits for this transaction (and this for one under way).
pub fn hold(clerk_id: &str) -> Result<Option<bool>, ClerkSyncError> {
    HOLD.with(|s| {
        s.execute(&[clerk_id.into()], |rows| if rows.is_empty() { Ok(None) } else { rows.first().get_one::<bool>() })
    })
}

pub fn is_deleted(clerk_id: &str) -> Result<bool, ClerkSyncError> {
    Ok(deleted_if_known(clerk_id)? == Some(true))
}

/// Locks the state rows of `users` that have one until the transaction ends (sorted, so that
/// batches lock in one order), and reads them.
pub fn lock_states(users: &[String]) -> Result<HashMap<String, ObjectState>, ClerkSyncError> {
    LOCK_USERS.with(|s| {
        s.execute_planned_now(&[users.to_vec().into()], |rows| {
            let mut states = HashMap::with_capacity(users.len());
            for row in rows {
                let (Some(id), Some(high_water_ms)) = (row.get::<String>(1)?, row.get::<i64>(2)?) else { continue };
                states.insert(id, ObjectState { high_water_ms, deleted_at_ms: row.get::<i64>(3)? });
            }
            Ok(states)
        })
    })
}

/// Writes a batch's new states: updates those `lock_states` found (`existing`), inserts the
/// others. False when a user's state appeared meanwhile, from another session: the batch was
/// planned without it.
pub fn write_states(
    states: &BTreeMap<String, ObjectState>,
    existing: &HashSet<String>,
) -> Result<bool, ClerkSyncError> {
    let (update, insert): (Vec<_>, Vec<_>) = states.iter().partition(|(id, _)| existing.contains(*id));
    for (statement, states) in [(&UPDATE_STATES, &update), (&INSERT_STATES, &insert)] {
        if states.is_empty() {
            continue;
        }
        let ids: Vec<String> = states.iter().map(|(id, _)| (*id).clone()).collect();
        let marks: Vec<i64> = states.iter().map(|(_, s)| s.high_water_ms).collect();
        let deleted: Vec<Option<i64>> = states.iter().map(|(_, s)| s.deleted_at_ms).collect();
        let written = statement
            .with(|s| s.execute_planned_now(&[ids.into(), marks.into(), deleted.into()], |rows| Ok(rows.len())))?;
        if written != states.len() {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use clerk_sync_core::apply::ordering::{self, ObjectState, Removal};
    use pgrx::prelude::*;

    const ID: &str = "user_grid";

    /// Every kind of stored state around the times 100 and 200: none, live, deleted (with a
    /// mark above, at and below the deletion).
    fn states() -> Vec<Option<ObjectState>> {
        let mut states = vec![None];
        for high_water_ms in [100, 200] {
            states.push(Some(ObjectState { high_water_ms, deleted_at_ms: None }));
            for deleted_at_ms in [100, 150, 200] {
                states.push(Some(ObjectState { high_water_ms, deleted_at_ms: Some(deleted_at_ms) }));
            }
        }
        states
    }

    const TIMES: [i64; 5] = [50, 100, 150, 200, 250];

    fn store(state: Option<ObjectState>) {
        Spi::run("DELETE FROM clerk_sync.user_state").unwrap();
        if let Some(s) = state {
            Spi::run_with_args(
                "INSERT INTO clerk_sync.user_state (clerk_user_id, high_water_ms, deleted_at_ms) VALUES ($1, $2, $3)",
                &[ID.into(), s.high_water_ms.into(), s.deleted_at_ms.into()],
            )
            .unwrap();
        }
    }

    fn stored() -> Option<ObjectState> {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT high_water_ms, deleted_at_ms FROM clerk_sync.user_state WHERE clerk_user_id = $1",
                None,
                &[ID.into()],
            )?;
            let mut found = None;
            for row in rows {
                let high_water_ms = row.get::<i64>(1)?.expect("a mark");
                found = Some(ObjectState { high_water_ms, deleted_at_ms: row.get::<i64>(2)? });
            }
            Ok::<_, pgrx::spi::Error>(found)
        })
        .unwrap()
    }

    /// The statements `mark` and `tombstone` run decide, over every (state, event, removal) of
    /// the grid, exactly as the core's ordering rule: the same answer and the same stored state.
    #[pg_test]
    fn the_statements_decide_as_the_ordering_rule() {
        let mut checked = 0;
        for state in states() {
            for at in TIMES {
                store(state);
                let moved = super::mark(ID, at).unwrap();
                let expected = ordering::change(state, at);
                assert_eq!(moved, expected.map(|(_, first_seen)| first_seen), "mark {state:?} at {at}");
                assert_eq!(stored(), expected.map_or(state, |(next, _)| Some(next)), "mark {state:?} at {at}");
                checked += 1;

                for removal in [Removal::Deleted, Removal::Unlisted] {
                    store(state);
                    let removed = super::tombstone(ID, at, removal == Removal::Unlisted).unwrap();
                    let expected = ordering::remove(state, at, removal);
                    assert_eq!(removed, expected.is_some(), "{removal:?} {state:?} at {at}");
                    assert_eq!(stored(), expected.or(state), "{removal:?} {state:?} at {at}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, states().len() * TIMES.len() * 3);
    }
}
