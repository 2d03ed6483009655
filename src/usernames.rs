//! Choosing a unique username (`clerk_sync.username_claim`).
//!
//! A user claims a candidate by inserting it into the claim table: its primary key makes two
//! sessions claiming the same name at once wait for each other, so exactly one wins, without
//! holding a lock per name to the end of the transaction (a replay of 100,000 events would run
//! out of lock slots). A candidate is free when the claim is this user's and no other row of the
//! target table (one the app wrote itself) holds it.

use clerk_sync_core::username::{base_username, candidate, MAX_SUFFIX_ATTEMPTS};
use clerk_sync_core::UserRecord;

use crate::error::ClerkSyncError;
use crate::statements::{Kept, TEXT};
use crate::target::{Claim, TargetPlan};

const RELEASE_ONE: usize = 0;
const RELEASE_OTHERS: usize = 1;
const RELEASE_ALL: usize = 2;

thread_local! {
    static RELEASE: Kept = const { Kept::new(&[
        ("DELETE FROM clerk_sync.username_claim WHERE username = $1 AND clerk_user_id = $2", &[TEXT, TEXT]),
        ("DELETE FROM clerk_sync.username_claim WHERE clerk_user_id = $2 AND username <> $1", &[TEXT, TEXT]),
        ("DELETE FROM clerk_sync.username_claim WHERE clerk_user_id = $1", &[TEXT]),
    ]) };
}

fn release(which: usize, username: &str, clerk_id: &str) -> Result<(), ClerkSyncError> {
    RELEASE.with(|s| s.execute(which, &[username.into(), clerk_id.into()], |_| Ok(())))
}

/// The name the user should have when nobody else holds it (claimed by `TargetPlan::mark`).
pub fn first_choice(plan: &TargetPlan, user: &UserRecord) -> Option<String> {
    plan.has_username().then(|| candidate(&base_username(user), &user.clerk_id, 0))
}

/// The user's username, given what claiming the first choice found: that name, else the first
/// suffixed candidate the user can claim. Once the user moves to a name, its other claims go.
pub fn choose(
    plan: &TargetPlan,
    user: &UserRecord,
    first_claim: Option<Claim>,
    first_seen: bool,
) -> Result<Option<String>, ClerkSyncError> {
    let Some(mut claim) = first_claim else {
        return Ok(None);
    };
    let base = base_username(user);
    for attempt in 0..=MAX_SUFFIX_ATTEMPTS {
        let name = candidate(&base, &user.clerk_id, attempt);
        if attempt > 0 {
            claim = plan.claim_username(&name, &user.clerk_id)?;
        }
        match claim {
            Claim::Kept if attempt == 0 => return Ok(Some(name)),
            Claim::New | Claim::Kept => {
                if !first_seen {
                    release(RELEASE_OTHERS, &name, &user.clerk_id)?;
                }
                return Ok(Some(name));
            }
            Claim::InUse => release(RELEASE_ONE, &name, &user.clerk_id)?,
            Claim::Taken => {}
        }
    }
    Err(ClerkSyncError::UsernameExhausted(base))
}

/// Frees every name the user held (its row is gone).
pub fn release_all(clerk_id: &str) -> Result<(), ClerkSyncError> {
    RELEASE.with(|s| s.execute(RELEASE_ALL, &[clerk_id.into()], |_| Ok(())))
}
