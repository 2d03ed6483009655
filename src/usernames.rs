//! Choosing a unique username (`clerk_sync.username_claim`).
//!
//! A user claims a candidate by inserting it into the claim table: its primary key makes two
//! sessions claiming the same name at once wait for each other, so exactly one wins, without
//! holding a lock per name to the end of the transaction (a replay of 100,000 events would run
//! out of lock slots). A claimed candidate is used when no other row of the target table (one the
//! app wrote itself) holds it; the write itself checks that, as the table's owner.

use clerk_sync_core::username::{base_username, candidate, MAX_SUFFIX_ATTEMPTS};
use clerk_sync_core::UserRecord;

use crate::error::ClerkSyncError;
use crate::statements::{Statement, TEXT};

/// What claiming a username found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The user holds it from now on.
    New,
    /// The user held it already.
    Kept,
    /// Another user's claim holds it.
    Taken,
}

impl Claim {
    /// From the `fresh` column of a claiming insert: true new, false kept, NULL taken.
    pub fn from_fresh(fresh: Option<bool>) -> Self {
        match fresh {
            Some(true) => Claim::New,
            Some(false) => Claim::Kept,
            None => Claim::Taken,
        }
    }
}

thread_local! {
    /// Claims $1 for user $2; `fresh` as for `Claim::from_fresh`.
    static CLAIM: Statement = const { Statement::new(
        "WITH claim AS (INSERT INTO clerk_sync.username_claim AS c (username, clerk_user_id) VALUES ($1, $2) \
             ON CONFLICT (username) DO UPDATE SET claimed_at = c.claimed_at \
             WHERE c.clerk_user_id = EXCLUDED.clerk_user_id \
             RETURNING (c.xmax = 0) AS fresh) \
         SELECT (SELECT fresh FROM claim)",
        &[TEXT, TEXT],
    ) };
    static RELEASE_ONE: Statement = const { Statement::new(
        "DELETE FROM clerk_sync.username_claim WHERE username = $1 AND clerk_user_id = $2",
        &[TEXT, TEXT],
    ) };
    static RELEASE_OTHERS: Statement = const { Statement::new(
        "DELETE FROM clerk_sync.username_claim WHERE clerk_user_id = $2 AND username <> $1",
        &[TEXT, TEXT],
    ) };
    static RELEASE_ALL: Statement = const { Statement::new(
        "DELETE FROM clerk_sync.username_claim WHERE clerk_user_id = $1",
        &[TEXT],
    ) };
}

fn claim(username: &str, clerk_id: &str) -> Result<Claim, ClerkSyncError> {
    CLAIM.with(|s| {
        s.execute(&[username.into(), clerk_id.into()], |rows| Ok(Claim::from_fresh(rows.first().get_one::<bool>()?)))
    })
}

/// The name the user should have when nobody else holds it.
pub fn first_choice(user: &UserRecord) -> String {
    candidate(&base_username(user), &user.clerk_id, 0)
}

/// Writes the user's row under the first name the user can have: `first_choice` (claimed as
/// `first_claim` by `user_state::mark`), else the first suffixed candidate. `write` gets the name
/// and returns None when a row the app wrote itself holds it. Without a username column
/// (`first_claim` None) `write` gets None. Once the user moves to a name, its other claims go.
pub fn write_under_unique_name<T>(
    user: &UserRecord,
    first_claim: Option<Claim>,
    first_seen: bool,
    mut write: impl FnMut(Option<&str>) -> Result<Option<T>, ClerkSyncError>,
) -> Result<T, ClerkSyncError> {
    let Some(mut claimed) = first_claim else {
        // Without a username column the write never finds its name in use.
        return write(None)?.ok_or_else(|| ClerkSyncError::UsernameExhausted(user.clerk_id.clone()));
    };
    let base = base_username(user);
    for attempt in 0..=MAX_SUFFIX_ATTEMPTS {
        let name = candidate(&base, &user.clerk_id, attempt);
        if attempt > 0 {
            claimed = claim(&name, &user.clerk_id)?;
        }
        if claimed == Claim::Taken {
            continue;
        }
        match write(Some(&name))? {
            Some(written) => {
                let unchanged = attempt == 0 && claimed == Claim::Kept;
                if !first_seen && !unchanged {
                    RELEASE_OTHERS
                        .with(|s| s.execute(&[name.as_str().into(), user.clerk_id.as_str().into()], |_| Ok(())))?;
                }
                return Ok(written);
            }
            None => {
                RELEASE_ONE.with(|s| s.execute(&[name.as_str().into(), user.clerk_id.as_str().into()], |_| Ok(())))?
            }
        }
    }
    Err(ClerkSyncError::UsernameExhausted(base))
}

/// Frees every name the user held (its row is gone).
pub fn release_all(clerk_id: &str) -> Result<(), ClerkSyncError> {
    RELEASE_ALL.with(|s| s.execute(&[clerk_id.into()], |_| Ok(())))
}
