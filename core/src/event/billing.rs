//! Clerk Billing's subscription items → the fields the subscription-items table keeps, from a
//! `subscriptionItem.*` event (one item) or a `subscription.*` event (the subscription and every
//! item in it). Which kind an event is comes from its `type`: the `object` field differs between
//! Clerk's webhook specification, its examples and its guides.

use serde_json::{Map, Value};

use crate::event::user::{field_str, owned};
use crate::event::PayloadError;

/// Who pays for an item: a user or an organization (by Clerk id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payer {
    User(String),
    Organization(String),
}

/// The mapped fields of one subscription item (`csub_item_…`). `None` is SQL NULL. Times are
/// Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionItemRecord {
    pub clerk_id: String,
    pub subscription_id: Option<String>,
    pub payer: Payer,
    pub plan_id: Option<String>,
    pub plan_slug: Option<String>,
    pub status: String,
    pub is_free_trial: bool,
    pub period_start_ms: Option<i64>,
    /// None for the default (free) plan, which has no period.
    pub period_end_ms: Option<i64>,
    pub canceled_at_ms: Option<i64>,
    pub created_at_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
}

pub const SUBSCRIPTION_PREFIX: &str = "subscription.";
pub const SUBSCRIPTION_ITEM_PREFIX: &str = "subscriptionItem.";
pub const PAYMENT_ATTEMPT_PREFIX: &str = "paymentAttempt.";

/// Times below this are seconds, not milliseconds: 10^11 ms is March 1973, 10^11 s the year
/// 5138. Clerk's documentation gives milliseconds; its specification's examples, seconds.
const SECONDS_BELOW: i64 = 100_000_000_000;

/// A time in Unix milliseconds, given in milliseconds or in seconds.
pub fn unix_ms(value: i64) -> i64 {
    if value.abs() < SECONDS_BELOW {
        value.saturating_mul(1000)
    } else {
        value
    }
}

/// A time field, in milliseconds whether it was written in milliseconds or seconds.
fn time_field(object: &Map<String, Value>, key: &str, path: &'static str) -> Result<Option<i64>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(|t| Some(unix_ms(t))).ok_or(PayloadError::WrongType(path, "integer")),
    }
}

/// An id field where Clerk writes an empty string for "none".
fn id_field(object: &Map<String, Value>, key: &str, path: &'static str) -> Result<Option<String>, PayloadError> {
    Ok(owned(field_str(object, key, path)?.map(str::trim).filter(|id| !id.is_empty())))
}

/// The payer of `payer` (`{"user_id", "organization_id"}`, the unused one empty or null).
fn payer_of(payer: &Map<String, Value>) -> Result<Option<Payer>, PayloadError> {
    let user = id_field(payer, "user_id", "payer.user_id")?;
    let organization = id_field(payer, "organization_id", "payer.organization_id")?;
    Ok(match (user, organization) {
        (Some(user), None) => Some(Payer::User(user)),
        (None, Some(organization)) => Some(Payer::Organization(organization)),
        (None, None) => None,
        (Some(_), Some(_)) => return Err(PayloadError::WrongType("payer", "a user or an organization, not both")),
    })
}

/// The payer object at `key`, if there is one.
fn payer_at(object: &Map<String, Value>, key: &str, path: &'static str) -> Result<Option<Payer>, PayloadError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(payer)) => payer_of(payer),
        Some(_) => Err(PayloadError::WrongType(path, "object")),
    }
}

impl SubscriptionItemRecord {
    /// Maps one item. `subscription` gives what an item inside a `subscription.*` payload
    /// leaves null: its subscription's id and payer.
    fn from_clerk(item: &Map<String, Value>, subscription: Option<(&str, &Payer)>) -> Result<Self, PayloadError> {
        let clerk_id = id_field(item, "id", "data.id")?.ok_or(PayloadError::MissingField("data.id"))?;
        let payer = match payer_at(item, "payer", "data.payer")? {
            Some(payer) => payer,
            None => subscription.map(|(_, payer)| payer.clone()).ok_or(PayloadError::MissingField("data.payer"))?,
        };
        let subscription_id = id_field(item, "subscription_id", "data.subscription_id")?
            .or_else(|| subscription.map(|(id, _)| id.to_owned()));
        let plan_slug = match item.get("plan") {
            Some(Value::Object(plan)) => owned(field_str(plan, "slug", "data.plan.slug")?),
            None | Some(Value::Null) => None,
            Some(_) => return Err(PayloadError::WrongType("data.plan", "object")),
        };
        let is_free_trial = match item.get("is_free_trial") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(PayloadError::WrongType("data.is_free_trial", "boolean")),
        };
        Ok(SubscriptionItemRecord {
            clerk_id,
            subscription_id,
            payer,
            plan_id: id_field(item, "plan_id", "data.plan_id")?,
            plan_slug,
            status: field_str(item, "status", "data.status")?
                .ok_or(PayloadError::MissingField("data.status"))?
                .to_owned(),
            is_free_trial,
            period_start_ms: time_field(item, "period_start", "data.period_start")?,
            period_end_ms: time_field(item, "period_end", "data.period_end")?,
            canceled_at_ms: time_field(item, "canceled_at", "data.canceled_at")?,
            created_at_ms: time_field(item, "created_at", "data.created_at")?,
            updated_at_ms: time_field(item, "updated_at", "data.updated_at")?,
        })
    }
}

/// An item of the Backend API's `GET /billing/subscription_items` list (its payer and
/// subscription id on it).
pub fn listed_item(item: &Map<String, Value>) -> Result<SubscriptionItemRecord, PayloadError> {
    SubscriptionItemRecord::from_clerk(item, None)
}

/// The items an event of type `kind` carries: one for `subscriptionItem.*`, every item of the
/// subscription for `subscription.*`.
pub fn items_of(kind: &str, data: &Map<String, Value>) -> Result<Vec<SubscriptionItemRecord>, PayloadError> {
    if kind.starts_with(SUBSCRIPTION_ITEM_PREFIX) {
        return Ok(vec![SubscriptionItemRecord::from_clerk(data, None)?]);
    }
    let id = id_field(data, "id", "data.id")?.ok_or(PayloadError::MissingField("data.id"))?;
    let payer = payer_at(data, "payer", "data.payer")?.ok_or(PayloadError::MissingField("data.payer"))?;
    match data.get("items") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(item) => SubscriptionItemRecord::from_clerk(item, Some((&id, &payer))),
                _ => Err(PayloadError::WrongType("data.items[]", "object")),
            })
            .collect(),
        Some(_) => Err(PayloadError::WrongType("data.items", "array")),
    }
}

/// Whether an item entitles its payer to its plan at `now_ms`, by Clerk's rule:
/// - `active` (a free trial too) and `past_due`: yes. Clerk moves a payer to the default plan
///   when they stop paying (clerk.com/docs/guides/billing/default-plans), which ends the paid
///   item (`subscriptionItem.ended`); until then a past-due item is still the payer's plan
///   (clerk.com/docs/guides/development/webhooks/billing: `subscriptionItem.pastDue`).
/// - `canceled`: until `period_end` (a canceled item keeps its features until its period ends).
/// - `upcoming` (starts when the current period ends: Clerk sends `subscriptionItem.active`
///   then), `ended`, `expired`, `abandoned`, `incomplete`, and any status Clerk adds later: no.
pub fn entitles(status: &str, period_end_ms: Option<i64>, now_ms: i64) -> bool {
    match status {
        "active" | "past_due" => true,
        "canceled" => period_end_ms.is_some_and(|end| now_ms < end),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn item(payer: Value) -> Value {
        json!({
            "object": "commerce_subscription_item", "id": "csub_item_1", "status": "active",
            "plan_id": "cplan_pro", "plan": {"id": "cplan_pro", "slug": "pro", "name": "Pro"},
            "payer": payer, "subscription_id": "csub_1", "is_free_trial": false,
            "period_start": 1767225600000i64, "period_end": 1769904000000i64, "canceled_at": null,
            "created_at": 1767225600000i64, "updated_at": 1767225600123i64
        })
    }

    #[test]
    fn an_items_event_maps_its_item_and_its_payer() {
        let items =
            items_of("subscriptionItem.active", &data(item(json!({"user_id": "user_1", "organization_id": ""}))))
                .unwrap();
        assert_eq!(
            items,
            vec![SubscriptionItemRecord {
                clerk_id: "csub_item_1".into(),
                subscription_id: Some("csub_1".into()),
                payer: Payer::User("user_1".into()),
                plan_id: Some("cplan_pro".into()),
                plan_slug: Some("pro".into()),
                status: "active".into(),
                is_free_trial: false,
                period_start_ms: Some(1767225600000),
                period_end_ms: Some(1769904000000),
                canceled_at_ms: None,
                created_at_ms: Some(1767225600000),
                updated_at_ms: Some(1767225600123),
            }]
        );
        let org = items_of("subscriptionItem.updated", &data(item(json!({"user_id": "", "organization_id": "org_1"}))));
        assert_eq!(org.unwrap()[0].payer, Payer::Organization("org_1".into()));
    }

    #[test]
    fn a_subscriptions_items_take_its_id_and_payer() {
        let mut inner = item(Value::Null);
        inner["subscription_id"] = Value::Null;
        let subscription = json!({
            "object": "commerce_subscription", "id": "csub_9", "status": "active",
            "payer": {"user_id": "", "organization_id": "org_7"}, "items": [inner]
        });
        let items = items_of("subscription.updated", &data(subscription)).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            (items[0].subscription_id.as_deref(), &items[0].payer),
            (Some("csub_9"), &Payer::Organization("org_7".into()))
        );
    }

    #[test]
    fn times_in_seconds_read_as_milliseconds() {
        assert_eq!(unix_ms(1767225600), 1767225600000);
        assert_eq!(unix_ms(1767225600000), 1767225600000);
        let mut seconds = item(json!({"user_id": "user_1"}));
        seconds["updated_at"] = json!(1767225600);
        assert_eq!(items_of("subscriptionItem.active", &data(seconds)).unwrap()[0].updated_at_ms, Some(1767225600000));
    }

    #[test]
    fn what_is_not_an_item_is_named() {
        let no_payer = items_of("subscriptionItem.active", &data(item(json!({"user_id": "", "organization_id": ""}))));
        assert_eq!(no_payer, Err(PayloadError::MissingField("data.payer")));
        let both = items_of("subscriptionItem.active", &data(item(json!({"user_id": "u", "organization_id": "o"}))));
        assert!(matches!(both, Err(PayloadError::WrongType("payer", _))));
        let mut no_status = item(json!({"user_id": "user_1"}));
        no_status.as_object_mut().unwrap().remove("status");
        assert_eq!(
            items_of("subscriptionItem.active", &data(no_status)),
            Err(PayloadError::MissingField("data.status"))
        );
        let odd = json!({"id": "csub_1", "payer": {"user_id": "user_1"}, "items": [7]});
        assert!(matches!(
            items_of("subscription.created", &data(odd)),
            Err(PayloadError::WrongType("data.items[]", _))
        ));
    }

    #[test]
    fn entitlement_follows_the_status_and_a_canceled_items_period() {
        let end = Some(2_000);
        assert!(entitles("active", None, 5_000), "the default plan has no period end");
        assert!(entitles("past_due", end, 1_000));
        assert!(entitles("canceled", end, 1_999));
        assert!(!entitles("canceled", end, 2_000), "its features end with its period");
        assert!(!entitles("canceled", None, 0));
        for status in ["upcoming", "ended", "expired", "abandoned", "incomplete", "something_new"] {
            assert!(!entitles(status, end, 1_000), "{status}");
        }
    }
}
