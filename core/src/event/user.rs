//! Clerk user object → the fields a users table keeps.

use serde_json::{Map, Value};

use crate::event::PayloadError;

/// The mapped fields of one Clerk user. `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRecord {
    pub clerk_id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Clerk's own username, when the instance uses usernames and the user set one.
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    pub created_at_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
}

/// A string field: absent and null are `None`; any other non-string is an error.
pub(crate) fn field_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<Option<&'a str>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(PayloadError::WrongType(path, "string")),
    }
}

/// An integer field (Unix milliseconds in Clerk's objects).
pub(crate) fn field_i64(
    object: &Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<Option<i64>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(PayloadError::WrongType(path, "integer")),
    }
}

/// The value of `value_key` in the entry of `list_key` whose `id` is `primary_key`'s value.
/// A null or dangling primary id gives `None`.
fn primary_entry<'a>(
    data: &'a Map<String, Value>,
    list_key: &str,
    primary_key: &'static str,
    value_key: &str,
    path: &'static str,
) -> Result<Option<&'a str>, PayloadError> {
    let Some(primary_id) = field_str(data, primary_key, primary_key)? else {
        return Ok(None);
    };
    let entries = match data.get(list_key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(PayloadError::WrongType(path, "array")),
    };
    for entry in entries.iter().filter_map(Value::as_object) {
        if entry.get("id").and_then(Value::as_str) == Some(primary_id) {
            return field_str(entry, value_key, path);
        }
    }
    Ok(None)
}

pub(crate) fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

impl UserRecord {
    /// Maps a Clerk user object (`data` of a user event, or an element of the Backend API's
    /// user list). Unknown fields are ignored.
    pub fn from_clerk(data: &Map<String, Value>) -> Result<Self, PayloadError> {
        let clerk_id =
            field_str(data, "id", "data.id")?.filter(|id| !id.trim().is_empty()).ok_or(PayloadError::MissingUserId)?;
        let image_url = match field_str(data, "image_url", "data.image_url")? {
            Some(url) if !url.is_empty() => Some(url),
            _ => field_str(data, "profile_image_url", "data.profile_image_url")?,
        };
        Ok(UserRecord {
            clerk_id: clerk_id.to_owned(),
            email: non_empty(primary_entry(
                data,
                "email_addresses",
                "primary_email_address_id",
                "email_address",
                "data.email_addresses",
            )?),
            phone: non_empty(primary_entry(
                data,
                "phone_numbers",
                "primary_phone_number_id",
                "phone_number",
                "data.phone_numbers",
            )?),
            username: non_empty(field_str(data, "username", "data.username")?),
            first_name: owned(field_str(data, "first_name", "data.first_name")?),
            last_name: owned(field_str(data, "last_name", "data.last_name")?),
            image_url: owned(image_url),
            created_at_ms: field_i64(data, "created_at", "data.created_at")?,
            updated_at_ms: field_i64(data, "updated_at", "data.updated_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data_of(fixture: &str) -> Map<String, Value> {
        let event: Value = serde_json::from_str(fixture).unwrap();
        event["data"].as_object().unwrap().clone()
    }

    fn map(data: Value) -> Result<UserRecord, PayloadError> {
        UserRecord::from_clerk(data.as_object().unwrap())
    }

    #[test]
    fn email_user_fixture() {
        let user =
            UserRecord::from_clerk(&data_of(include_str!("../../../tests/fixtures/events/user.created.email.json")))
                .unwrap();
        assert_eq!(user.clerk_id, "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG");
        assert_eq!(user.email.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(user.phone, None);
        assert_eq!(user.username, None);
        assert_eq!(user.first_name.as_deref(), Some("Jane"));
        assert_eq!(user.last_name.as_deref(), Some("Doe"));
        assert!(user.image_url.unwrap().starts_with("https://img.clerk.com/"));
        assert_eq!(user.created_at_ms, Some(1767225600000));
        assert_eq!(user.updated_at_ms, Some(1767225600000));
    }

    #[test]
    fn phone_only_fixture() {
        let user = UserRecord::from_clerk(&data_of(include_str!(
            "../../../tests/fixtures/events/user.created.phone-only.json"
        )))
        .unwrap();
        assert_eq!(user.email, None);
        assert_eq!(user.phone.as_deref(), Some("+15555550123"));
        assert_eq!(user.first_name, None);
    }

    #[test]
    fn unicode_fixture() {
        let user = UserRecord::from_clerk(&data_of(include_str!(
            "../../../tests/fixtures/events/user.created.username-unicode.json"
        )))
        .unwrap();
        assert_eq!(user.username.as_deref(), Some("zoe_unal"));
        assert_eq!(user.first_name.as_deref(), Some("Zoë"));
        assert_eq!(user.last_name.as_deref(), Some("Ünal"));
        assert_eq!(user.email.as_deref(), Some("zoë.ünal@example.org"));
    }

    #[test]
    fn dangling_or_null_primary_ids_give_no_email() {
        let emails = json!([{"id": "idn_1", "email_address": "a@example.com"}]);
        for primary in [json!("idn_missing"), json!(null)] {
            let user =
                map(json!({"id": "user_1", "email_addresses": emails, "primary_email_address_id": primary})).unwrap();
            assert_eq!(user.email, None);
        }
        let user = map(json!({"id": "user_1", "primary_email_address_id": "idn_1"})).unwrap();
        assert_eq!(user.email, None);
        let user = map(json!({"id": "user_1", "email_addresses": [7, "x", {"id": "idn_1", "email_address": "a@example.com"}], "primary_email_address_id": "idn_1"})).unwrap();
        assert_eq!(user.email.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn the_primary_entry_wins_over_the_first() {
        let user = map(json!({
            "id": "user_1",
            "email_addresses": [{"id": "a", "email_address": "first@example.com"}, {"id": "b", "email_address": "primary@example.com"}],
            "primary_email_address_id": "b",
            "phone_numbers": [{"id": "p", "phone_number": "+1"}, {"id": "q", "phone_number": "+2"}],
            "primary_phone_number_id": "q"
        }))
        .unwrap();
        assert_eq!(user.email.as_deref(), Some("primary@example.com"));
        assert_eq!(user.phone.as_deref(), Some("+2"));
    }

    #[test]
    fn image_url_falls_back_to_profile_image_url() {
        let user = map(json!({"id": "user_1", "profile_image_url": "https://p"})).unwrap();
        assert_eq!(user.image_url.as_deref(), Some("https://p"));
        let user = map(json!({"id": "user_1", "image_url": "", "profile_image_url": "https://p"})).unwrap();
        assert_eq!(user.image_url.as_deref(), Some("https://p"));
        let user = map(json!({"id": "user_1", "image_url": "https://i", "profile_image_url": "https://p"})).unwrap();
        assert_eq!(user.image_url.as_deref(), Some("https://i"));
    }

    #[test]
    fn wrong_types_are_named() {
        let cases = [
            (json!({"id": 7}), PayloadError::WrongType("data.id", "string")),
            (json!({"id": "user_1", "first_name": 7}), PayloadError::WrongType("data.first_name", "string")),
            (json!({"id": "user_1", "last_name": ["x"]}), PayloadError::WrongType("data.last_name", "string")),
            (json!({"id": "user_1", "username": {}}), PayloadError::WrongType("data.username", "string")),
            (json!({"id": "user_1", "image_url": true}), PayloadError::WrongType("data.image_url", "string")),
            (json!({"id": "user_1", "updated_at": "yesterday"}), PayloadError::WrongType("data.updated_at", "integer")),
            (json!({"id": "user_1", "created_at": 1.5}), PayloadError::WrongType("data.created_at", "integer")),
            (
                json!({"id": "user_1", "email_addresses": "a@b", "primary_email_address_id": "x"}),
                PayloadError::WrongType("data.email_addresses", "array"),
            ),
            (
                json!({"id": "user_1", "primary_email_address_id": 3}),
                PayloadError::WrongType("primary_email_address_id", "string"),
            ),
            (
                json!({"id": "user_1", "email_addresses": [{"id": "x", "email_address": 5}], "primary_email_address_id": "x"}),
                PayloadError::WrongType("data.email_addresses", "string"),
            ),
            (json!({"id": ""}), PayloadError::MissingUserId),
            (json!({"first_name": "x"}), PayloadError::MissingUserId),
        ];
        for (data, expected) in cases {
            assert_eq!(map(data.clone()), Err(expected), "{data}");
        }
    }
}
