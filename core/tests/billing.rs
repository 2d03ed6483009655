//! Subscription items on the engine, against the in-memory store: examples, and the property
//! that any order and any duplication of item histories — delivered one item at a time
//! (`subscriptionItem.*`) or bundled in their subscription (`subscription.*`) — ends in the
//! newest version of every item.

use std::collections::BTreeMap;

use clerk_sync_core::apply::engine::{self, Objects};
use clerk_sync_core::event::billing::{Payer, SubscriptionItemRecord};
use clerk_sync_core::{parse_event, ClerkEvent};
use proptest::prelude::*;
use serde_json::json;

mod common;
use common::*;

fn item(id: &str, status: &str, plan: &str, updated_at_ms: i64) -> SubscriptionItemRecord {
    SubscriptionItemRecord {
        clerk_id: id.into(),
        subscription_id: Some("csub_1".into()),
        payer: Payer::User("user_1".into()),
        plan_id: Some(format!("cplan_{plan}")),
        plan_slug: Some(plan.into()),
        status: status.into(),
        is_free_trial: false,
        period_start_ms: Some(0),
        period_end_ms: Some(1_000_000),
        canceled_at_ms: None,
        created_at_ms: Some(0),
        updated_at_ms: Some(updated_at_ms),
    }
}

fn items(items: Vec<SubscriptionItemRecord>) -> ClerkEvent {
    ClerkEvent::SubscriptionItems { items: Ok(items), envelope_ms: None }
}

fn apply(store: &mut Memory, event: &ClerkEvent) -> &'static str {
    engine::apply(store, event).unwrap().word()
}

#[test]
fn an_item_is_created_updated_and_a_late_version_changes_nothing() {
    let mut m = Memory::default();
    assert_eq!(apply(&mut m, &items(vec![item("csub_item_1", "active", "pro", 10)])), "created");
    assert_eq!(apply(&mut m, &items(vec![item("csub_item_1", "canceled", "pro", 20)])), "updated");
    assert_eq!(apply(&mut m, &items(vec![item("csub_item_1", "active", "pro", 15)])), "stale", "older");
    assert_eq!(apply(&mut m, &items(vec![item("csub_item_1", "ended", "pro", 20)])), "stale", "not newer");
    assert_eq!(m.subscription_items["csub_item_1"].status, "canceled");
}

#[test]
fn a_subscription_writes_each_of_its_items_by_its_own_time() {
    let mut m = Memory::default();
    apply(&mut m, &items(vec![item("csub_item_free", "active", "free", 30)]));
    let subscription =
        items(vec![item("csub_item_free", "ended", "free", 20), item("csub_item_pro", "active", "pro", 40)]);
    assert_eq!(apply(&mut m, &subscription), "created", "one item is new");
    assert_eq!(m.subscription_items["csub_item_free"].status, "active", "its own newer version stays");
    assert_eq!(m.subscription_items["csub_item_pro"].status, "active");
    assert_eq!(apply(&mut m, &subscription), "stale", "a redelivery changes nothing");
}

#[test]
fn without_the_table_billing_events_are_ignored_whatever_their_shape() {
    let mut m = Memory { objects: Objects { subscription_items: false, ..Objects::default() }, ..Memory::default() };
    assert_eq!(apply(&mut m, &items(vec![item("csub_item_1", "active", "pro", 10)])), "ignored");
    let odd = parse_event(&json!({"type": "subscriptionItem.active", "data": {"id": "csub_item_2"}})).unwrap();
    assert_eq!(apply(&mut m, &odd), "ignored");
    assert!(m.subscription_items.is_empty() && m.state.is_empty());
    let mut with_table = Memory::default();
    assert!(matches!(engine::apply(&mut with_table, &odd), Err(engine::EngineError::Payload(_))), "with it, named");
}

#[test]
fn events_parse_by_their_type_and_payment_attempts_are_not_applied() {
    let item_event = json!({
        "type": "subscriptionItem.active", "object": "event", "timestamp": 1767225600,
        "data": {"id": "csub_item_1", "status": "active", "payer": {"user_id": "user_1", "organization_id": ""},
                 "plan": {"slug": "pro"}, "plan_id": "cplan_pro", "updated_at": null}
    });
    match parse_event(&item_event).unwrap() {
        ClerkEvent::SubscriptionItems { items, envelope_ms } => {
            assert_eq!(envelope_ms, Some(1767225600000), "seconds read as milliseconds");
            let items = items.unwrap();
            assert_eq!((items.len(), items[0].plan_slug.as_deref()), (1, Some("pro")));
        }
        other => panic!("{other:?}"),
    }
    let attempt = json!({"type": "paymentAttempt.updated", "data": {"id": "cpa_1"}});
    assert!(matches!(parse_event(&attempt).unwrap(), ClerkEvent::Other { .. }));
}

/// One item's versions: statuses and plans at strictly increasing times.
fn history(index: usize) -> impl Strategy<Value = Vec<SubscriptionItemRecord>> {
    let statuses = prop::sample::select(vec!["active", "canceled", "past_due", "upcoming", "ended", "incomplete"]);
    let plans = prop::sample::select(vec!["free", "pro", "team"]);
    prop::collection::vec((statuses, plans, 1..50i64), 1..5).prop_map(move |versions| {
        let mut at = 0;
        versions
            .into_iter()
            .map(|(status, plan, step)| {
                at += step;
                item(&format!("csub_item_{index}"), status, plan, at)
            })
            .collect()
    })
}

/// Histories of up to five items, and the deliveries that carry them: each version alone, some
/// also bundled with versions of other items (as `subscription.*` carries every item), shuffled,
/// with duplicates.
fn deliveries() -> impl Strategy<Value = (Vec<Vec<SubscriptionItemRecord>>, Vec<ClerkEvent>)> {
    (1..6usize)
        .prop_flat_map(|n| (0..n).map(history).collect::<Vec<_>>())
        .prop_flat_map(|histories| {
            let versions: Vec<SubscriptionItemRecord> = histories.iter().flatten().cloned().collect();
            let count = versions.len();
            let bundles = prop::collection::vec(prop::collection::vec(0..count, 1..4), 0..4);
            let duplicates = prop::collection::vec(0..count, 0..count + 1);
            (Just(histories), Just(versions), bundles, duplicates)
        })
        .prop_flat_map(|(histories, versions, bundles, duplicates)| {
            let mut events: Vec<ClerkEvent> = versions.iter().map(|v| items(vec![v.clone()])).collect();
            events.extend(duplicates.iter().map(|&i| items(vec![versions[i].clone()])));
            events.extend(bundles.iter().map(|bundle| items(bundle.iter().map(|&i| versions[i].clone()).collect())));
            (Just(histories), Just(events).prop_shuffle())
        })
}

proptest! {
    #[test]
    fn any_order_and_duplication_ends_in_every_items_newest_version((histories, events) in deliveries()) {
        let mut m = Memory::default();
        for event in &events {
            engine::apply(&mut m, event).unwrap();
        }
        let oracle: BTreeMap<String, SubscriptionItemRecord> = histories
            .iter()
            .map(|versions| {
                let newest = versions.iter().max_by_key(|v| v.updated_at_ms).unwrap().clone();
                (newest.clerk_id.clone(), newest)
            })
            .collect();
        prop_assert_eq!(&m.subscription_items, &oracle);
        for event in &events {
            prop_assert_eq!(apply(&mut m, event), "stale", "everything delivered again changes nothing");
        }
    }
}
