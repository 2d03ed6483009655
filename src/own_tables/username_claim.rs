//! `clerk_sync.username_claim`, the only code that writes it: usernames given out, by owner, for
//! a users table without its own unique index on the username (which name to choose is the
//! engine's decision, `clerk_sync_core::apply::engine`).
//!
//! A user claims a candidate by inserting it into the claim table: its primary key makes two
//! sessions claiming the same name at once wait for each other, so exactly one wins, without
//! holding a lock per name to the end of the transaction (a replay of 100,000 events would run
//! out of lock slots).

use clerk_sync_core::apply::engine::{Claim, Release};

use crate::error::ClerkSyncError;
use crate::postgres::statements::{Statement, TEXT};

/// From the `fresh` column of a claiming insert: true new, false the user's already, NULL
/// another user's.
fn claim_from_fresh(fresh: Option<bool>) -> Claim {
    match fresh {
        Some(true) => Claim::New,
        Some(false) => Claim::Kept,
        None => Claim::Taken,
    }
}

thread_local! {
    /// Claims $1 for user $2; `fresh` as for `claim_from_fresh`.
    static CLAIM: Statement = const { Statement::new(
        "WITH claim AS (INSERT INTO clerk_sync.username_claim AS c (username, clerk_user_id) VALUES ($1, $2) \
             ON CONFLICT (username) DO UPDATE SET claimed_at = c.claimed_at \
             WHERE c.clerk_user_id = EXCLUDED.clerk_user_id \
             RETURNING (c.xmax = 0) AS fresh) \
         SELECT (SELECT fresh FROM claim)",
        &[TEXT, TEXT],
    ) };
    static RELEASE_ONE: Statement = const { Statement::new(
        "DELETE FROM clerk_sync.username_claim WHERE clerk_user_id = $1 AND username = $2",
        &[TEXT, TEXT],
    ) };
    static RELEASE_ALL_BUT: Statement = const { Statement::new(
        "DELETE FROM clerk_sync.username_claim WHERE clerk_user_id = $1 AND username <> $2",
        &[TEXT, TEXT],
    ) };
    static RELEASE_ALL: Statement = const { Statement::new(
        "DELETE FROM clerk_sync.username_claim WHERE clerk_user_id = $1",
        &[TEXT],
    ) };
}

pub fn claim(username: &str, clerk_id: &str) -> Result<Claim, ClerkSyncError> {
    CLAIM.with(|s| {
        s.execute(&[username.into(), clerk_id.into()], |rows| Ok(claim_from_fresh(rows.first().get_one::<bool>()?)))
    })
}

pub fn release(clerk_id: &str, which: Release<'_>) -> Result<(), ClerkSyncError> {
    let (statement, name) = match which {
        Release::Only(name) => (&RELEASE_ONE, Some(name)),
        Release::AllBut(name) => (&RELEASE_ALL_BUT, Some(name)),
        Release::All => (&RELEASE_ALL, None),
    };
    statement.with(|s| match name {
        Some(name) => s.execute(&[clerk_id.into(), name.into()], |_| Ok(())),
        None => s.execute(&[clerk_id.into()], |_| Ok(())),
    })
}
