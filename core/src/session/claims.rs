//! Clerk session-token claims, as PostgREST verifies them and puts them in `request.jwt.claims`:
//! the object itself, and the user a provisional row is made of. What the token allows — who is
//! signed in, the active organization, permissions, features, plans — is `authorization::Access`.
//! Odd claims are absent claims: nothing here fails.

use serde_json::{Map, Value};

use crate::event::user::UserRecord;

/// The longest `first_name`/`last_name` and `image_url` claims a provisional row takes (longer
/// ones are left out, as a claim of the wrong type is).
pub const MAX_NAME_CHARS: usize = 256;
pub const MAX_URL_CHARS: usize = 2048;
/// The longest Clerk user id accepted after `user_` (Clerk's are 27 characters).
const MAX_ID_CHARS: usize = 64;

/// Whether `id` is shaped like a Clerk user id: `user_` and 1 to 64 ASCII letters and digits.
pub fn is_clerk_user_id(id: &str) -> bool {
    id.strip_prefix("user_")
        .is_some_and(|rest| (1..=MAX_ID_CHARS).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The high-water mark a provisional row is written at: below any event's time (Clerk's times
/// are Unix milliseconds), so the user's first real event overwrites the row in place.
pub const PROVISIONAL_MS: i64 = 0;

pub struct Claims(Map<String, Value>);

impl Claims {
    /// The claims in `text` (the setting's JSON); None when it is not a JSON object.
    pub fn parse(text: &str) -> Option<Claims> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Some(Claims(map)),
            _ => None,
        }
    }

    pub fn from_value(value: Value) -> Option<Claims> {
        match value {
            Value::Object(map) => Some(Claims(map)),
            _ => None,
        }
    }

    fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
        object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// The claims object.
    pub fn object(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The `sub` claim.
    fn user_id(&self) -> Option<&str> {
        Self::text(&self.0, "sub")
    }

    /// The Clerk user id when `sub` is shaped like one (`user_…`); anything else — an
    /// organization's id, 10 KB of text — is no user a row may be made for.
    pub fn clerk_user_id(&self) -> Option<&str> {
        self.user_id().filter(|id| is_clerk_user_id(id))
    }

    /// The user a provisional row is made of: the id, and whichever of `first_name`, `last_name`,
    /// `image_url` the app added to its session token (each bounded); times `now_ms`. Never an
    /// email or a username from the claims: those are unique in the app's table, and a row made
    /// from claims that anyone granted `ensure_user(claims)` can write must hold nothing another
    /// user's real event may need. Its email and username are made from its own Clerk id
    /// (`engine::upsert`) until the user's first event overwrites them.
    pub fn provisional_user(&self, now_ms: i64) -> Option<UserRecord> {
        let field =
            |key, max: usize| Self::text(&self.0, key).filter(|value| value.chars().count() <= max).map(str::to_owned);
        Some(UserRecord {
            clerk_id: self.clerk_user_id()?.to_owned(),
            email: None,
            phone: None,
            username: None,
            first_name: field("first_name", MAX_NAME_CHARS),
            last_name: field("last_name", MAX_NAME_CHARS),
            image_url: field("image_url", MAX_URL_CHARS),
            created_at_ms: Some(now_ms),
            updated_at_ms: Some(now_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Claims {
        Claims::from_value(value).unwrap()
    }

    #[test]
    fn odd_claims_are_absent_claims() {
        assert!(Claims::parse("not json").is_none());
        assert!(Claims::parse("[1]").is_none());
        assert!(Claims::parse("").is_none());
        for odd in [
            json!({}),
            json!({"sub": 7}),
            json!({"sub": ""}),
            json!({"sub": null, "v": "2", "o": "x"}),
            json!({"v": 2, "o": [1], "org_id": {"id": 1}}),
            json!({"v": 2, "o": {"id": 5, "rol": false}}),
        ] {
            let c = claims(odd.clone());
            assert_eq!(c.clerk_user_id(), None, "{odd}");
            assert!(c.provisional_user(1).is_none());
        }
    }

    #[test]
    fn a_provisional_user_has_what_the_token_carries_but_nothing_unique() {
        let c = claims(json!({"sub": "user_p", "email": "p@example.com", "first_name": "Pat", "last_name": 7,
                              "username": "pat", "image_url": "https://img.example/p.png"}));
        let user = c.provisional_user(1_767_225_600_000).unwrap();
        assert_eq!(user.clerk_id, "user_p");
        assert_eq!((user.email, user.username), (None, None), "another user's real event may need them");
        assert_eq!(user.first_name.as_deref(), Some("Pat"));
        assert_eq!(user.last_name, None, "a claim of the wrong type is left out");
        assert_eq!(user.image_url.as_deref(), Some("https://img.example/p.png"));
        assert_eq!((user.created_at_ms, user.updated_at_ms), (Some(1_767_225_600_000), Some(1_767_225_600_000)));
    }

    #[test]
    fn only_a_clerk_user_id_makes_a_provisional_user() {
        for sub in ["org_2zR8kLmN4pQ6sT9vW1xY3zA5bC", "orgmem_1", "user_", "user_a-b", "user_ü", "USER_abc", "x"] {
            let c = claims(json!({"sub": sub}));
            assert!(c.clerk_user_id().is_none() && c.provisional_user(1).is_none(), "{sub}");
        }
        let long = format!("user_{}", "a".repeat(10_000));
        assert!(claims(json!({"sub": long})).provisional_user(1).is_none());
        assert!(claims(json!({"sub": format!("user_{}", "a".repeat(64))})).provisional_user(1).is_some());
        assert!(claims(json!({"sub": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG"})).provisional_user(1).is_some());
    }

    #[test]
    fn oversized_claims_are_left_out() {
        let c = claims(json!({"sub": "user_p", "first_name": "x".repeat(MAX_NAME_CHARS + 1),
                              "last_name": "ü".repeat(MAX_NAME_CHARS), "image_url": "u".repeat(MAX_URL_CHARS + 1)}));
        let user = c.provisional_user(1).unwrap();
        assert_eq!(user.first_name, None);
        assert_eq!(user.last_name.map(|n| n.chars().count()), Some(MAX_NAME_CHARS), "characters, not bytes");
        assert_eq!(user.image_url, None);
    }
}
