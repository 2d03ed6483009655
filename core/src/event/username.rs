//! Usernames: Clerk's when set, else the email's local part, else one made from the user id; a
//! collision with another user's row gets a suffix derived from the user id, so the same user
//! always gets the same name whatever the order of events.

use sha2::{Digest, Sha256};

use crate::event::user::UserRecord;

/// How many suffixed candidates to try after the base name.
pub const MAX_SUFFIX_ATTEMPTS: usize = 8;

/// The name a user gets when nobody else holds it.
pub fn base_username(user: &UserRecord) -> String {
    if let Some(username) = &user.username {
        return username.clone();
    }
    if let Some((local, _domain)) = user.email.as_deref().and_then(|e| e.rsplit_once('@')) {
        if !local.trim().is_empty() {
            return local.trim().to_owned();
        }
    }
    user.clerk_id.to_lowercase()
}

/// Candidate `attempt` for `base` (0 is `base` itself; then `base_` + a growing hex prefix of
/// SHA-256 of the Clerk user id).
pub fn candidate(base: &str, clerk_id: &str, attempt: usize) -> String {
    if attempt == 0 {
        return base.to_owned();
    }
    let digest = Sha256::digest(clerk_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let len = (4 + 2 * attempt).min(hex.len());
    format!("{base}_{}", &hex[..len])
}

/// The email to store when the user has none and the column is NOT NULL: an address in the
/// reserved `.invalid` top-level domain (RFC 2606), unique per user, which no mail can reach.
pub fn placeholder_email(clerk_id: &str) -> String {
    format!("{clerk_id}@no-email.invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: Option<&str>, email: Option<&str>) -> UserRecord {
        UserRecord {
            clerk_id: "user_2zQmB8cYlQ5sMxO0tU2wD4eF6gH".into(),
            username: username.map(Into::into),
            email: email.map(Into::into),
            ..UserRecord::default()
        }
    }

    #[test]
    fn clerk_username_then_email_local_part_then_generated() {
        assert_eq!(base_username(&user(Some("zoe_unal"), Some("z@example.org"))), "zoe_unal");
        assert_eq!(base_username(&user(None, Some("jane.doe@example.com"))), "jane.doe");
        assert_eq!(base_username(&user(None, Some("odd@local@example.com"))), "odd@local");
        assert_eq!(base_username(&user(None, Some("@example.com"))), "user_2zqmb8cylq5smxo0tu2wd4ef6gh");
        assert_eq!(base_username(&user(None, None)), "user_2zqmb8cylq5smxo0tu2wd4ef6gh");
    }

    #[test]
    fn suffixes_are_deterministic_distinct_and_growing() {
        let a: Vec<_> = (0..=MAX_SUFFIX_ATTEMPTS).map(|i| candidate("jane", "user_a", i)).collect();
        let again: Vec<_> = (0..=MAX_SUFFIX_ATTEMPTS).map(|i| candidate("jane", "user_a", i)).collect();
        assert_eq!(a, again);
        assert_eq!(a[0], "jane");
        assert!(a[1].starts_with("jane_") && a[1].len() == "jane_".len() + 6, "{}", a[1]);
        let unique: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(unique.len(), a.len());
        assert_ne!(candidate("jane", "user_b", 1), a[1]);
    }

    #[test]
    fn placeholder_is_in_the_reserved_domain_and_per_user() {
        assert_eq!(placeholder_email("user_1"), "user_1@no-email.invalid");
        assert_ne!(placeholder_email("user_1"), placeholder_email("user_2"));
    }
}
