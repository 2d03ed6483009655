//! Choosing a unique username (`clerk_sync.username_claim`).
//!
//! Each user holds at most one claim, the name recorded in `user_state.username`. A user claims
//! a candidate by inserting it into the claim table: its primary key makes two
//! sessions claiming the same name at once wait for each other, so exactly one wins, without
//! holding a lock per name to the end of the transaction (a replay of 100,000 events would run
//! out of lock slots). A candidate is free when the claim is this user's and no other row of the
//! target table (one the app wrote itself) holds it.

use clerk_sync_core::username::{base_username, candidate, MAX_SUFFIX_ATTEMPTS};
use clerk_sync_core::UserRecord;

use crate::error::ClerkSyncError;
use crate::statements::{Kept, TEXT};
use crate::target::{Claim, TargetPlan};

thread_local! {
    static RELEASE: Kept = const { Kept::new(&[
        ("DELETE FROM clerk_sync.username_claim WHERE username = $1 AND clerk_user_id = $2", &[TEXT, TEXT]),
    ]) };
}

/// Gives up the user's claim on `username`.
pub fn release(username: &str, clerk_id: &str) -> Result<(), ClerkSyncError> {
    RELEASE.with(|s| s.execute(0, &[username.into(), clerk_id.into()], |_| Ok(())))
}

/// The user's username: the name it already holds if that is still its first choice, else the
/// first candidate it can claim. The upsert records the choice in user_state and releases the
/// previous claim.
pub fn choose(plan: &TargetPlan, user: &UserRecord, previous: Option<&str>) -> Result<Option<String>, ClerkSyncError> {
    if !plan.has_username() {
        return Ok(None);
    }
    let base = base_username(user);
    for attempt in 0..=MAX_SUFFIX_ATTEMPTS {
        let name = candidate(&base, &user.clerk_id, attempt);
        if previous == Some(name.as_str()) {
            return Ok(Some(name));
        }
        match plan.claim_username(&name, &user.clerk_id)? {
            Claim::Claimed => return Ok(Some(name)),
            Claim::ClaimedButInUse => release(&name, &user.clerk_id)?,
            Claim::Taken => {}
        }
    }
    Err(ClerkSyncError::UsernameExhausted(base))
}
