//! Clerk organization and organization-membership objects → the fields their tables keep.

use serde_json::{Map, Value};

use crate::event::user::{field_i64, field_str, owned, UserRecord};
use crate::event::PayloadError;

/// The mapped fields of one Clerk organization. `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrganizationRecord {
    pub clerk_id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub image_url: Option<String>,
    pub created_at_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
}

/// The mapped fields of one membership, with what it says of its organization and its user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MembershipRecord {
    pub clerk_id: String,
    /// The role key: `org:admin`, `org:member`, or a custom one.
    pub role: Option<String>,
    pub created_at_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
    /// The whole organization the membership carries (only its id once the payload is erased).
    pub organization: OrganizationRecord,
    /// The user as `public_user_data` gives them: enough for a provisional row.
    pub user: UserRecord,
}

fn object<'a>(
    data: &'a Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<&'a Map<String, Value>, PayloadError> {
    match data.get(key) {
        Some(Value::Object(object)) => Ok(object),
        None | Some(Value::Null) => Err(PayloadError::MissingField(path)),
        Some(_) => Err(PayloadError::WrongType(path, "object")),
    }
}

/// Where an organization's fields sit in an event, for error messages.
struct Paths {
    id: &'static str,
    name: &'static str,
    slug: &'static str,
    image_url: &'static str,
    created_at: &'static str,
    updated_at: &'static str,
}

const IN_DATA: Paths = Paths {
    id: "data.id",
    name: "data.name",
    slug: "data.slug",
    image_url: "data.image_url",
    created_at: "data.created_at",
    updated_at: "data.updated_at",
};

const IN_MEMBERSHIP: Paths = Paths {
    id: "data.organization.id",
    name: "data.organization.name",
    slug: "data.organization.slug",
    image_url: "data.organization.image_url",
    created_at: "data.organization.created_at",
    updated_at: "data.organization.updated_at",
};

impl OrganizationRecord {
    pub fn from_clerk(data: &Map<String, Value>) -> Result<Self, PayloadError> {
        Self::read(data, &IN_DATA)
    }

    fn read(data: &Map<String, Value>, paths: &Paths) -> Result<Self, PayloadError> {
        let clerk_id = field_str(data, "id", paths.id)?.ok_or(PayloadError::MissingField(paths.id))?;
        Ok(OrganizationRecord {
            clerk_id: clerk_id.to_owned(),
            name: owned(field_str(data, "name", paths.name)?),
            slug: owned(field_str(data, "slug", paths.slug)?),
            image_url: owned(field_str(data, "image_url", paths.image_url)?),
            created_at_ms: field_i64(data, "created_at", paths.created_at)?,
            updated_at_ms: field_i64(data, "updated_at", paths.updated_at)?,
        })
    }
}

impl MembershipRecord {
    pub fn from_clerk(data: &Map<String, Value>) -> Result<Self, PayloadError> {
        let clerk_id = field_str(data, "id", "data.id")?.ok_or(PayloadError::MissingField("data.id"))?;
        let organization =
            OrganizationRecord::read(object(data, "organization", "data.organization")?, &IN_MEMBERSHIP)?;
        let public = object(data, "public_user_data", "data.public_user_data")?;
        let user_id = field_str(public, "user_id", "data.public_user_data.user_id")?
            .ok_or(PayloadError::MissingField("data.public_user_data.user_id"))?;
        // `identifier` is what the user signs in with: an email address, a username or a phone number.
        let identifier = field_str(public, "identifier", "data.public_user_data.identifier")?;
        let email = identifier.filter(|i| i.contains('@'));
        let phone = identifier.filter(|i| i.starts_with('+'));
        let username = identifier.filter(|i| !i.contains('@') && !i.starts_with('+'));
        let user = UserRecord {
            clerk_id: user_id.to_owned(),
            email: owned(email),
            phone: owned(phone),
            username: owned(username),
            first_name: owned(field_str(public, "first_name", "data.public_user_data.first_name")?),
            last_name: owned(field_str(public, "last_name", "data.public_user_data.last_name")?),
            image_url: owned(field_str(public, "image_url", "data.public_user_data.image_url")?),
            created_at_ms: None,
            updated_at_ms: None,
        };
        Ok(MembershipRecord {
            clerk_id: clerk_id.to_owned(),
            role: owned(field_str(data, "role", "data.role")?),
            created_at_ms: field_i64(data, "created_at", "data.created_at")?,
            updated_at_ms: field_i64(data, "updated_at", "data.updated_at")?,
            organization,
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MEMBERSHIP: &str = include_str!("../../../tests/fixtures/events/organizationMembership.created.json");
    const ORGANIZATION: &str = include_str!("../../../tests/fixtures/events/organization.created.json");

    fn data(text: &str) -> Map<String, Value> {
        let event: Value = serde_json::from_str(text).unwrap();
        event["data"].as_object().unwrap().clone()
    }

    #[test]
    fn an_organization_maps_name_slug_image_and_times() {
        let org = OrganizationRecord::from_clerk(&data(ORGANIZATION)).unwrap();
        assert_eq!(org.clerk_id, "org_2zR8kLmN4pQ6sT9vW1xY3zA5bC");
        assert_eq!(org.name.as_deref(), Some("Acme Inc"));
        assert_eq!(org.slug.as_deref(), Some("acme"));
        assert!(org.image_url.unwrap().starts_with("https://img.clerk.com/"));
        assert_eq!((org.created_at_ms, org.updated_at_ms), (Some(1767225600000), Some(1767225600000)));
    }

    #[test]
    fn a_membership_carries_its_organization_and_its_users_public_data() {
        let m = MembershipRecord::from_clerk(&data(MEMBERSHIP)).unwrap();
        assert_eq!(m.clerk_id, "orgmem_2zR9aBcDeFgHiJkLmNoPqRsTuV");
        assert_eq!(m.role.as_deref(), Some("org:admin"));
        assert_eq!(m.organization.clerk_id, "org_2zR8kLmN4pQ6sT9vW1xY3zA5bC");
        assert_eq!(m.organization.name.as_deref(), Some("Acme Inc"));
        assert_eq!(m.user.clerk_id, "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG");
        assert_eq!(m.user.email.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(m.user.first_name.as_deref(), Some("Jane"));
    }

    #[test]
    fn an_identifier_is_an_email_a_phone_number_or_a_username() {
        let with = |identifier: &str| {
            let mut d = data(MEMBERSHIP);
            d["public_user_data"]["identifier"] = json!(identifier);
            MembershipRecord::from_clerk(&d).unwrap().user
        };
        assert_eq!(with("+15555550100").phone.as_deref(), Some("+15555550100"));
        let user = with("jdoe");
        assert_eq!((user.username.as_deref(), user.email), (Some("jdoe"), None));
    }

    #[test]
    fn what_a_membership_needs_is_named_when_missing_or_mistyped() {
        let mut d = data(MEMBERSHIP);
        d.remove("organization");
        assert_eq!(MembershipRecord::from_clerk(&d), Err(PayloadError::MissingField("data.organization")));
        let mut d = data(MEMBERSHIP);
        d["public_user_data"]["user_id"] = json!(7);
        assert_eq!(
            MembershipRecord::from_clerk(&d),
            Err(PayloadError::WrongType("data.public_user_data.user_id", "string"))
        );
        let mut d = data(MEMBERSHIP);
        d["organization"]["name"] = json!(["x"]);
        assert_eq!(MembershipRecord::from_clerk(&d), Err(PayloadError::WrongType("data.organization.name", "string")));
    }
}
