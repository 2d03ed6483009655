//! Clerk session-token claims, as PostgREST verifies them and puts them in `request.jwt.claims`:
//! who the user is (`sub`), their active organization (v1: `org_id`, `org_role`, `org_slug`;
//! v2, `"v": 2`: `o.id`, `o.rol`, `o.slg`), and the optional custom claims a provisional row is
//! made of. Odd claims are absent claims: nothing here fails.

use serde_json::{Map, Value};

use crate::user::UserRecord;

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

    /// The Clerk user id.
    pub fn user_id(&self) -> Option<&str> {
        Self::text(&self.0, "sub")
    }

    /// `v1_key` of a v1 token, or `v2_key` of the `o` object of a v2 one.
    fn org_claim(&self, v1_key: &str, v2_key: &str) -> Option<&str> {
        let v2 = self.0.get("v").and_then(Value::as_i64) == Some(2);
        if v2 {
            self.0.get("o").and_then(Value::as_object).and_then(|o| Self::text(o, v2_key))
        } else {
            Self::text(&self.0, v1_key)
        }
    }

    pub fn org_id(&self) -> Option<&str> {
        self.org_claim("org_id", "id")
    }

    /// The role in the active organization. v2 tokens carry it without the `org:` prefix that v1
    /// tokens and the Backend API use; it is given back with it, so policies compare one form.
    pub fn org_role(&self) -> Option<String> {
        let role = self.org_claim("org_role", "rol")?;
        Some(if role.starts_with("org:") { role.to_owned() } else { format!("org:{role}") })
    }

    pub fn org_slug(&self) -> Option<&str> {
        self.org_claim("org_slug", "slg")
    }

    /// The user a provisional row is made of: the id, and whichever of `email`, `username`,
    /// `first_name`, `last_name`, `image_url` the app added to its session token; times `now_ms`.
    pub fn provisional_user(&self, now_ms: i64) -> Option<UserRecord> {
        let field = |key| Self::text(&self.0, key).map(str::to_owned);
        Some(UserRecord {
            clerk_id: self.user_id()?.to_owned(),
            email: field("email"),
            phone: None,
            username: field("username"),
            first_name: field("first_name"),
            last_name: field("last_name"),
            image_url: field("image_url"),
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
    fn the_user_and_a_v1_organization() {
        let c = claims(json!({"sub": "user_1", "org_id": "org_1", "org_role": "org:admin", "org_slug": "acme"}));
        assert_eq!(c.user_id(), Some("user_1"));
        assert_eq!(
            (c.org_id(), c.org_role().as_deref(), c.org_slug()),
            (Some("org_1"), Some("org:admin"), Some("acme"))
        );
    }

    #[test]
    fn a_v2_organization_is_nested_and_its_role_gets_the_prefix() {
        let c = claims(json!({"v": 2, "sub": "user_1", "o": {"id": "org_2", "rol": "member", "slg": "beta"}}));
        assert_eq!(
            (c.org_id(), c.org_role().as_deref(), c.org_slug()),
            (Some("org_2"), Some("org:member"), Some("beta"))
        );
        let v2_without_org = claims(json!({"v": 2, "sub": "user_1", "org_id": "org_ignored"}));
        assert_eq!(v2_without_org.org_id(), None, "a v2 token's organization is only in o");
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
            assert_eq!((c.user_id(), c.org_id(), c.org_role(), c.org_slug()), (None, None, None, None), "{odd}");
            assert!(c.provisional_user(1).is_none());
        }
    }

    #[test]
    fn a_provisional_user_has_what_the_token_carries() {
        let c = claims(json!({"sub": "user_p", "email": "p@example.com", "first_name": "Pat", "username": 7}));
        let user = c.provisional_user(1_767_225_600_000).unwrap();
        assert_eq!(user.clerk_id, "user_p");
        assert_eq!(user.email.as_deref(), Some("p@example.com"));
        assert_eq!(user.first_name.as_deref(), Some("Pat"));
        assert_eq!(user.username, None, "a claim of the wrong type is left out");
        assert_eq!((user.created_at_ms, user.updated_at_ms), (Some(1_767_225_600_000), Some(1_767_225_600_000)));
    }
}
