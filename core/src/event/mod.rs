//! A Clerk webhook event (the parsed body): its type, the user it is about, and the time that
//! orders it against other events for the same user. Its parts: `user`, `username`,
//! `organization` (the records in a payload) and `jsonb_encode` (a body's `jsonb` bytes).

pub mod billing;
pub mod jsonb_encode;
pub mod organization;
pub mod user;
pub mod username;

use serde_json::Value;

use crate::event::billing::SubscriptionItemRecord;
use crate::event::organization::{MembershipRecord, OrganizationRecord};
use crate::event::user::{field_i64, field_str, UserRecord};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the event is not a JSON object")]
    NotAnObject,
    #[error("the event has no \"type\"")]
    MissingType,
    #[error("the event has no \"data\" object")]
    MissingData,
    #[error("the event has no data.id (the Clerk user id)")]
    MissingUserId,
    #[error("the event has no {0}")]
    MissingField(&'static str),
    #[error("field {0} has the wrong type (expected {1})")]
    WrongType(&'static str, &'static str),
    #[error("the event has neither data.updated_at nor a \"timestamp\" to order it by")]
    MissingTime,
}

/// Which parts of a JSON document to keep: everything, or only the named object keys (with what
/// to keep of each). Arrays keep every element, each trimmed by the same `Fields`.
#[derive(Debug)]
pub enum Fields {
    All,
    Only(&'static [(&'static str, Fields)]),
}

impl Fields {
    /// What to keep of `key`'s value, or None to drop it.
    pub fn child(&self, key: &str) -> Option<&Fields> {
        match self {
            Fields::All => Some(&Fields::All),
            Fields::Only(keys) => keys.iter().find(|(k, _)| *k == key).map(|(_, f)| f),
        }
    }

    /// What to keep of each element of an array.
    pub fn element(&self) -> &Fields {
        self
    }

    /// `value` trimmed to these fields.
    pub fn retain(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                Value::Object(map.iter().filter_map(|(k, v)| self.child(k).map(|f| (k.clone(), f.retain(v)))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.element().retain(v)).collect()),
            other => other.clone(),
        }
    }
}

/// What the mapping reads of an organization, wherever it sits.
const ORGANIZATION_FIELDS: [(&str, Fields); 6] = [
    ("id", Fields::All),
    ("name", Fields::All),
    ("slug", Fields::All),
    ("image_url", Fields::All),
    ("created_at", Fields::All),
    ("updated_at", Fields::All),
];

/// What the mapping reads of a subscription item's payer: its ids, never its name or email.
const PAYER_FIELDS: [(&str, Fields); 2] = [("user_id", Fields::All), ("organization_id", Fields::All)];

/// What the mapping reads of a subscription item (`billing`), alone or in its subscription.
const SUBSCRIPTION_ITEM_FIELDS: [(&str, Fields); 13] = [
    ("id", Fields::All),
    ("object", Fields::All),
    ("status", Fields::All),
    ("payer", Fields::Only(&PAYER_FIELDS)),
    ("subscription_id", Fields::All),
    ("plan_id", Fields::All),
    ("plan", Fields::Only(&[("id", Fields::All), ("slug", Fields::All)])),
    ("is_free_trial", Fields::All),
    ("period_start", Fields::All),
    ("period_end", Fields::All),
    ("canceled_at", Fields::All),
    ("created_at", Fields::All),
    ("updated_at", Fields::All),
];

/// The fields of a Clerk user, organization, membership, subscription or subscription item
/// object that the mappings read, after any `extra` ones.
macro_rules! object_fields {
    ($($extra:expr),*) => {
        [
            $($extra,)*
            ("id", Fields::All),
            ("object", Fields::All),
            ("user_id", Fields::All),
            ("username", Fields::All),
            ("first_name", Fields::All),
            ("last_name", Fields::All),
            ("image_url", Fields::All),
            ("profile_image_url", Fields::All),
            ("created_at", Fields::All),
            ("updated_at", Fields::All),
            ("primary_email_address_id", Fields::All),
            ("primary_phone_number_id", Fields::All),
            ("email_addresses", Fields::Only(&[("id", Fields::All), ("email_address", Fields::All)])),
            ("phone_numbers", Fields::Only(&[("id", Fields::All), ("phone_number", Fields::All)])),
            ("name", Fields::All),
            ("slug", Fields::All),
            ("role", Fields::All),
            ("organization", Fields::Only(&ORGANIZATION_FIELDS)),
            ("status", Fields::All),
            ("payer", Fields::Only(&PAYER_FIELDS)),
            ("subscription_id", Fields::All),
            ("plan_id", Fields::All),
            ("plan", Fields::Only(&[("id", Fields::All), ("slug", Fields::All)])),
            ("is_free_trial", Fields::All),
            ("period_start", Fields::All),
            ("period_end", Fields::All),
            ("canceled_at", Fields::All),
            ("items", Fields::Only(&SUBSCRIPTION_ITEM_FIELDS)),
            (
                "public_user_data",
                Fields::Only(&[
                    ("user_id", Fields::All),
                    ("identifier", Fields::All),
                    ("first_name", Fields::All),
                    ("last_name", Fields::All),
                    ("image_url", Fields::All),
                ]),
            ),
        ]
    };
}

/// Everything `parse_event` reads: a caller may hand it an event trimmed to these fields (Clerk's
/// objects carry much more).
pub const EVENT_FIELDS: Fields = Fields::Only(&[
    ("type", Fields::All),
    ("timestamp", Fields::All),
    ("object", Fields::All),
    ("instance_id", Fields::All),
    ("data", Fields::Only(&object_fields!())),
]);

/// What `backfill` reads of its argument: an array of Clerk objects, or the Backend API's page
/// (`{"data": [...]}`) of them.
pub const LIST_FIELDS: Fields = Fields::Only(&object_fields!(("data", Fields::Only(&object_fields!()))));

/// The kinds of Clerk object clerk_sync keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    User,
    Organization,
    Membership,
}

impl Object {
    /// The kind of object a Clerk id names, by its prefix (`user_`, `org_`, `orgmem_`).
    pub fn of_id(clerk_id: &str) -> Option<Object> {
        [("user_", Object::User), ("org_", Object::Organization), ("orgmem_", Object::Membership)]
            .into_iter()
            .find(|(prefix, _)| clerk_id.starts_with(prefix))
            .map(|(_, object)| object)
    }

    /// The object's `object` field in Clerk's JSON.
    pub fn word(self) -> &'static str {
        match self {
            Object::User => "user",
            Object::Organization => "organization",
            Object::Membership => "organization_membership",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClerkEvent {
    /// `user.created` or `user.updated`: the full user object, ordered by `data.updated_at`.
    Upsert { user: UserRecord, order_ms: i64 },
    /// `user.deleted`: ordered by the envelope `timestamp` (there is no `updated_at`).
    Delete { user_id: String, order_ms: i64 },
    /// A user, organization or membership its table holds but a complete listing of Clerk's
    /// Backend API, begun at `listed_at_ms`, did not have (`sync --reconcile`): removed like its
    /// deletion event would, unless an event or import newer than the listing's start came for it.
    Unlisted { object: Object, clerk_id: String, listed_at_ms: i64 },
    /// `organization.created` or `organization.updated`, ordered by `data.updated_at`.
    OrganizationUpsert { organization: OrganizationRecord, order_ms: i64 },
    /// `organization.deleted`, ordered by the envelope `timestamp`.
    OrganizationDelete { organization_id: String, order_ms: i64 },
    /// `organizationMembership.created` or `.updated`, ordered by `data.updated_at`.
    MembershipUpsert { membership: Box<MembershipRecord>, order_ms: i64 },
    /// `organizationMembership.deleted` (which carries the whole membership), ordered by the
    /// envelope `timestamp`.
    MembershipDelete { membership_id: String, order_ms: i64 },
    /// `subscriptionItem.*` (one item) or `subscription.*` (every item of the subscription): each
    /// item ordered by its own `updated_at`, else by the envelope `timestamp` (`envelope_ms`).
    /// The items as mapped, or why they could not be: an app without the table ignores the
    /// event whatever its shape (Clerk Billing's payloads are still changing).
    SubscriptionItems { items: Result<Vec<SubscriptionItemRecord>, PayloadError>, envelope_ms: Option<i64> },
    /// Any other type: recorded, not applied.
    Other { event_type: String },
}

pub const USER_CREATED: &str = "user.created";
pub const USER_UPDATED: &str = "user.updated";
pub const USER_DELETED: &str = "user.deleted";
pub const ORGANIZATION_CREATED: &str = "organization.created";
pub const ORGANIZATION_UPDATED: &str = "organization.updated";
pub const ORGANIZATION_DELETED: &str = "organization.deleted";
pub const MEMBERSHIP_CREATED: &str = "organizationMembership.created";
pub const MEMBERSHIP_UPDATED: &str = "organizationMembership.updated";
pub const MEMBERSHIP_DELETED: &str = "organizationMembership.deleted";

/// What the inbox records of any event, valid or not: its `type`, the Clerk user it is about
/// (`data.id` for `user.*` events, `data.public_user_data.user_id` for memberships,
/// `data.user_id` for others) and the envelope time (Unix ms).
/// Read as SQL's `->>` reads JSON: a number or an object is kept as its JSON text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Envelope {
    pub event_type: Option<String>,
    pub user_id: Option<String>,
    /// `timestamp` when it is a number from 0 to 10^14 (Unix ms up to the year 5138).
    pub event_at_ms: Option<f64>,
}

impl Envelope {
    /// The event creates its object (`user.created`, `organization.created`,
    /// `organizationMembership.created`): clerk_sync has usually never seen that object.
    pub fn creates(&self) -> bool {
        matches!(
            self.event_type.as_deref(),
            Some("user.created" | "organization.created" | "organizationMembership.created")
        )
    }
}

fn as_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub fn envelope(event: &Value) -> Envelope {
    let event_type = as_text(event.get("type"));
    let data = event.get("data");
    let user = match event_type.as_deref() {
        Some(t) if t.starts_with("user.") => data.and_then(|d| d.get("id")),
        Some(t) if t.starts_with("organizationMembership.") => {
            data.and_then(|d| d.get("public_user_data")).and_then(|p| p.get("user_id"))
        }
        // A billing event is its paying user's (erasure finds it by them); an organization's
        // has none, nor has a subscription item inside a subscription (its payer is the
        // subscription's).
        Some(t) if t.starts_with(billing::SUBSCRIPTION_PREFIX) || t.starts_with(billing::SUBSCRIPTION_ITEM_PREFIX) => {
            data.and_then(|d| d.get("payer")).and_then(|p| p.get("user_id")).filter(|id| id.as_str() != Some(""))
        }
        _ => data.and_then(|d| d.get("user_id")),
    };
    let event_at_ms = event.get("timestamp").and_then(Value::as_f64).filter(|ms| (0.0..=1e14).contains(ms));
    Envelope { user_id: as_text(user), event_type, event_at_ms }
}

/// The event to apply; None when it comes from another Clerk instance than `ours` (setting
/// `instance_id`): such an event is kept and applied nowhere, whatever it carries. An event
/// without `instance_id` is another instance's too once the setting names one.
pub fn parse_ours(event: &Value, ours: Option<&str>) -> Result<Option<ClerkEvent>, PayloadError> {
    if let Some(ours) = ours {
        if event.get("instance_id").and_then(Value::as_str) != Some(ours) {
            return Ok(None);
        }
    }
    parse_event(event).map(Some)
}

pub fn parse_event(event: &Value) -> Result<ClerkEvent, PayloadError> {
    let envelope = event.as_object().ok_or(PayloadError::NotAnObject)?;
    let kind = match envelope.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(PayloadError::WrongType("type", "string")),
        None => return Err(PayloadError::MissingType),
    };
    const APPLIED: [&str; 9] = [
        USER_CREATED,
        USER_UPDATED,
        USER_DELETED,
        ORGANIZATION_CREATED,
        ORGANIZATION_UPDATED,
        ORGANIZATION_DELETED,
        MEMBERSHIP_CREATED,
        MEMBERSHIP_UPDATED,
        MEMBERSHIP_DELETED,
    ];
    let billing = kind.starts_with(billing::SUBSCRIPTION_PREFIX) || kind.starts_with(billing::SUBSCRIPTION_ITEM_PREFIX);
    if !APPLIED.contains(&kind) && !billing {
        return Ok(ClerkEvent::Other { event_type: kind.to_owned() });
    }
    let data = match envelope.get("data") {
        Some(Value::Object(data)) => data,
        _ => return Err(PayloadError::MissingData),
    };
    if billing {
        let envelope_ms = field_i64(envelope, "timestamp", "timestamp")?.map(billing::unix_ms);
        return Ok(ClerkEvent::SubscriptionItems { items: billing::items_of(kind, data), envelope_ms });
    }
    let envelope_ms = field_i64(envelope, "timestamp", "timestamp")?;
    let deleted_at = || envelope_ms.ok_or(PayloadError::MissingTime);
    let ordered_by = |updated_at_ms: Option<i64>| updated_at_ms.or(envelope_ms).ok_or(PayloadError::MissingTime);
    Ok(match kind {
        USER_DELETED => {
            let user_id = field_str(data, "id", "data.id")?.ok_or(PayloadError::MissingUserId)?;
            ClerkEvent::Delete { user_id: user_id.to_owned(), order_ms: deleted_at()? }
        }
        ORGANIZATION_DELETED => {
            let id = field_str(data, "id", "data.id")?.ok_or(PayloadError::MissingField("data.id"))?;
            ClerkEvent::OrganizationDelete { organization_id: id.to_owned(), order_ms: deleted_at()? }
        }
        MEMBERSHIP_DELETED => {
            let id = field_str(data, "id", "data.id")?.ok_or(PayloadError::MissingField("data.id"))?;
            ClerkEvent::MembershipDelete { membership_id: id.to_owned(), order_ms: deleted_at()? }
        }
        ORGANIZATION_CREATED | ORGANIZATION_UPDATED => {
            let organization = OrganizationRecord::from_clerk(data)?;
            let order_ms = ordered_by(organization.updated_at_ms)?;
            ClerkEvent::OrganizationUpsert { organization, order_ms }
        }
        MEMBERSHIP_CREATED | MEMBERSHIP_UPDATED => {
            let membership = Box::new(MembershipRecord::from_clerk(data)?);
            let order_ms = ordered_by(membership.updated_at_ms)?;
            ClerkEvent::MembershipUpsert { membership, order_ms }
        }
        _ => {
            let user = UserRecord::from_clerk(data)?;
            let order_ms = ordered_by(user.updated_at_ms)?;
            ClerkEvent::Upsert { user, order_ms }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CREATED: &str = include_str!("../../../tests/fixtures/events/user.created.email.json");
    const UPDATED: &str = include_str!("../../../tests/fixtures/events/user.updated.email.json");
    const DELETED: &str = include_str!("../../../tests/fixtures/events/user.deleted.json");
    const SESSION: &str = include_str!("../../../tests/fixtures/events/session.created.json");

    fn parse(text: &str) -> Result<ClerkEvent, PayloadError> {
        parse_event(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_billing_event_is_its_paying_users() {
        let of = |payer: Value| {
            envelope(&json!({"type": "subscriptionItem.active", "data": {"id": "csub_item_1", "payer": payer}})).user_id
        };
        assert_eq!(of(json!({"user_id": "user_1", "organization_id": ""})).as_deref(), Some("user_1"));
        assert_eq!(of(json!({"user_id": "", "organization_id": "org_1"})), None);
        let subscription =
            json!({"type": "subscription.updated", "data": {"id": "csub_1", "payer": {"user_id": "user_2"}}});
        assert_eq!(envelope(&subscription).user_id.as_deref(), Some("user_2"));
    }

    #[test]
    fn creations_are_told_by_their_type() {
        let creates = |text: &str| envelope(&serde_json::from_str(text).unwrap()).creates();
        assert!(creates(CREATED));
        assert!(!creates(UPDATED) && !creates(DELETED) && !creates(SESSION));
        assert!(creates(r#"{"type": "organizationMembership.created"}"#) && !creates(r#"{"type": 7}"#));
    }

    #[test]
    fn fixtures_parse_to_their_kinds_and_order() {
        match parse(CREATED).unwrap() {
            ClerkEvent::Upsert { user, order_ms } => {
                assert_eq!(user.clerk_id, "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG");
                assert_eq!(order_ms, 1767225600000);
            }
            other => panic!("{other:?}"),
        }
        match parse(UPDATED).unwrap() {
            ClerkEvent::Upsert { order_ms, .. } => assert_eq!(order_ms, 1767229200000),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(DELETED).unwrap(),
            ClerkEvent::Delete { user_id: "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG".into(), order_ms: 1767232800000 }
        );
        assert_eq!(parse(SESSION).unwrap(), ClerkEvent::Other { event_type: "session.created".into() });
    }

    #[test]
    fn trimming_to_event_fields_changes_no_mapping() {
        let mut cases: Vec<Value> = [CREATED, UPDATED, DELETED, SESSION]
            .iter()
            .chain(
                [
                    include_str!("../../../tests/fixtures/events/user.created.phone-only.json"),
                    include_str!("../../../tests/fixtures/events/user.created.username-unicode.json"),
                ]
                .iter(),
            )
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        cases.push(json!({"type": "user.created", "timestamp": 1, "data": {"id": "u", "first_name": 7}}));
        cases.push(json!({"type": "user.created", "data": {"id": "u", "email_addresses": "x", "primary_email_address_id": "a"}}));
        cases.push(json!([1, {"type": "x"}]));
        for event in cases {
            let trimmed = EVENT_FIELDS.retain(&event);
            assert_eq!(parse_event(&trimmed), parse_event(&event), "{event}");
        }
        let created: Value = serde_json::from_str(CREATED).unwrap();
        let trimmed = EVENT_FIELDS.retain(&created);
        let page = json!({"data": [created["data"].clone()], "total_count": 1});
        let listed = LIST_FIELDS.retain(&page);
        assert_eq!(listed["data"][0], trimmed["data"], "a page of users keeps what an event keeps of its user");
        assert_eq!(LIST_FIELDS.retain(&json!([created["data"].clone()]))[0], trimmed["data"]);
        assert!(trimmed.to_string().len() < CREATED.len() / 2, "{trimmed}");
    }

    #[test]
    fn another_instances_events_are_not_ours() {
        let created: Value = serde_json::from_str(CREATED).unwrap();
        assert!(matches!(parse_ours(&created, None), Ok(Some(ClerkEvent::Upsert { .. }))));
        assert!(matches!(parse_ours(&created, Some("ins_2xYzAbCdEfGhIjKlMnOpQrStUv")), Ok(Some(_))));
        assert_eq!(parse_ours(&created, Some("ins_other")), Ok(None));
        assert_eq!(parse_ours(&json!({"type": "user.created"}), Some("ins_other")), Ok(None), "not parsed: not ours");
        assert_eq!(parse_ours(&json!({"type": "user.created"}), None), Err(PayloadError::MissingData));
        let trimmed = EVENT_FIELDS.retain(&created);
        assert_eq!(parse_ours(&trimmed, Some("ins_other")), Ok(None), "the trimmed event keeps its instance");
    }

    #[test]
    fn malformed_envelopes_are_clear_errors() {
        assert_eq!(parse_event(&json!([])), Err(PayloadError::NotAnObject));
        assert_eq!(parse_event(&json!({"data": {}})), Err(PayloadError::MissingType));
        assert_eq!(parse_event(&json!({"type": 7})), Err(PayloadError::WrongType("type", "string")));
        assert_eq!(parse_event(&json!({"type": "user.created"})), Err(PayloadError::MissingData));
        assert_eq!(parse_event(&json!({"type": "user.created", "data": []})), Err(PayloadError::MissingData));
        assert_eq!(
            parse_event(&json!({"type": "user.updated", "timestamp": 1, "data": {"first_name": "x"}})),
            Err(PayloadError::MissingUserId)
        );
        assert_eq!(
            parse_event(&json!({"type": "user.deleted", "timestamp": 1, "data": {"deleted": true}})),
            Err(PayloadError::MissingUserId)
        );
        assert_eq!(
            parse_event(&json!({"type": "user.deleted", "data": {"id": "user_1"}})),
            Err(PayloadError::MissingTime)
        );
        assert_eq!(
            parse_event(&json!({"type": "user.deleted", "timestamp": "soon", "data": {"id": "user_1"}})),
            Err(PayloadError::WrongType("timestamp", "integer"))
        );
    }

    #[test]
    fn the_envelope_names_type_user_and_time_whatever_the_shape() {
        let e = envelope(&serde_json::from_str(CREATED).unwrap());
        assert_eq!(e.event_type.as_deref(), Some("user.created"));
        assert_eq!(e.user_id.as_deref(), Some("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG"));
        assert_eq!(e.event_at_ms, Some(1767225600123.0));
        let session = envelope(&serde_json::from_str(SESSION).unwrap());
        assert_eq!(session.user_id.as_deref(), Some("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG"), "data.user_id");
        let odd = envelope(&json!({"type": 7, "timestamp": -1, "data": {"user_id": {"a": 1}}}));
        assert_eq!(
            odd,
            Envelope { event_type: Some("7".into()), user_id: Some("{\"a\":1}".into()), event_at_ms: None }
        );
        assert_eq!(envelope(&json!([1])), Envelope::default());
        assert_eq!(envelope(&json!({"timestamp": 1e15})).event_at_ms, None);
        let trimmed = EVENT_FIELDS.retain(&serde_json::from_str(SESSION).unwrap());
        assert_eq!(envelope(&trimmed), session, "the trimmed event keeps what the envelope reads");
    }

    #[test]
    fn the_envelope_time_orders_an_upsert_without_updated_at() {
        let event = json!({"type": "user.created", "timestamp": 5, "data": {"id": "user_1"}});
        match parse_event(&event).unwrap() {
            ClerkEvent::Upsert { order_ms, .. } => assert_eq!(order_ms, 5),
            other => panic!("{other:?}"),
        }
        let event = json!({"type": "user.created", "data": {"id": "user_1"}});
        assert_eq!(parse_event(&event), Err(PayloadError::MissingTime));
    }
}
