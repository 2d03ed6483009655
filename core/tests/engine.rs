//! The engine against an in-memory store: examples, and the property that any order and any
//! duplication of a set of events ends in the newest state, deleted stays deleted, and usernames
//! stay unique.

use std::collections::HashSet;

use clerk_sync_core::apply::engine::{self, Outcome, Policy, Usernames};
use clerk_sync_core::event::username::{base_username, candidate, MAX_SUFFIX_ATTEMPTS};
use clerk_sync_core::event::Object;
use clerk_sync_core::{ClerkEvent, DeleteMode, UserRecord};
use proptest::prelude::*;

mod common;
use common::*;

fn apply(store: &mut Memory, event: &ClerkEvent) -> &'static str {
    engine::apply(store, event).unwrap().word()
}

#[test]
fn created_updated_deleted_and_what_comes_late() {
    let mut m = Memory::default();
    let created = upsert(user("user_a", Some("jane"), Some("jane@example.com"), "Jane", 10));
    let updated = upsert(user("user_a", Some("jane"), Some("jane@example.com"), "Janet", 20));
    let deleted = ClerkEvent::Delete { user_id: "user_a".into(), order_ms: 30 };
    assert_eq!(apply(&mut m, &updated), "created", "an update for an unseen user creates it");
    assert_eq!(apply(&mut m, &created), "stale");
    assert_eq!(m.rows["user_a"].first_name.as_deref(), Some("Janet"));
    assert_eq!(apply(&mut m, &deleted), "deleted");
    assert_eq!(apply(&mut m, &deleted), "stale");
    let newer = upsert(user("user_a", Some("jane"), Some("jane@example.com"), "Back", 40));
    assert_eq!(apply(&mut m, &newer), "stale", "never resurrected");
    assert!(m.rows.is_empty());
    assert!(m.claims.is_empty(), "a deleted user's name is free again");
    assert!(m.redacted.contains("user_a"));
    assert_eq!(apply(&mut m, &ClerkEvent::Other { event_type: "session.created".into() }), "ignored");
}

#[test]
fn a_user_missing_from_a_listing_goes_unless_something_newer_than_the_listing_came() {
    let mut m = Memory::default();
    apply(&mut m, &upsert(user("user_old", Some("old"), Some("old@example.com"), "Old", 10)));
    apply(&mut m, &upsert(user("user_new", Some("new"), Some("new@example.com"), "New", 60)));
    m.rows.insert(
        "user_app".into(),
        Row { email: None, username: None, first_name: None, updated_at_ms: 0, deleted: false },
    );
    let unlisted = |id: &str| ClerkEvent::Unlisted { object: Object::User, clerk_id: id.into(), listed_at_ms: 50 };
    assert_eq!(apply(&mut m, &unlisted("user_new")), "stale", "updated after the listing began: kept");
    assert_eq!(apply(&mut m, &unlisted("user_old")), "deleted");
    assert_eq!(apply(&mut m, &unlisted("user_app")), "deleted", "a row the app wrote, never seen by an event");
    assert_eq!(apply(&mut m, &unlisted("user_old")), "stale", "once");
    assert_eq!(m.rows.keys().collect::<Vec<_>>(), ["user_new"]);
    assert!(m.redacted.contains("user_old"), "erased like user.deleted");
    let late = upsert(user("user_old", Some("old"), Some("old@example.com"), "Late", 40));
    assert_eq!(apply(&mut m, &late), "stale", "a tombstone like user.deleted's: never resurrected");
    apply(&mut m, &ClerkEvent::Delete { user_id: "user_new".into(), order_ms: 1 });
    assert!(m.rows.is_empty(), "user.deleted is final whatever its time; a listing is not");
}

#[test]
fn a_provisional_row_gives_way_to_every_event_and_never_outlives_a_deletion() {
    let mut m = Memory::default();
    let token = UserRecord {
        clerk_id: "user_t".into(),
        first_name: Some("Token".into()),
        updated_at_ms: Some(999),
        ..UserRecord::default()
    };
    assert_eq!(engine::provision(&mut m, &token).unwrap(), Outcome::Created);
    assert_eq!(m.rows["user_t"].first_name.as_deref(), Some("Token"));
    assert_eq!(m.rows["user_t"].email.as_deref(), Some("user_t@no-email.invalid"));
    assert_eq!(engine::provision(&mut m, &token).unwrap(), Outcome::Stale, "once is enough");
    let created = upsert(user("user_t", Some("tee"), Some("t@example.com"), "Real", 1));
    assert_eq!(apply(&mut m, &created), "updated", "the real event overwrites it in place, however old");
    assert_eq!(m.rows["user_t"].first_name.as_deref(), Some("Real"));
    assert_eq!(engine::provision(&mut m, &token).unwrap(), Outcome::Stale, "a real event is never overwritten");
    apply(&mut m, &ClerkEvent::Delete { user_id: "user_t".into(), order_ms: 2 });
    assert_eq!(engine::provision(&mut m, &token).unwrap(), Outcome::Stale, "a token outliving the deletion");
    assert!(m.rows.is_empty());
}

#[test]
fn a_change_is_noticed_without_personal_data_and_nothing_else_is() {
    let created = upsert(user("user_n", Some("nina"), Some("nina@example.com"), "Nina", 1));
    assert_eq!(
        engine::change_notice(&created, Outcome::Created).as_deref(),
        Some(r#"{"id":"user_n","object":"user","outcome":"created"}"#)
    );
    let deleted = ClerkEvent::Delete { user_id: "user_n".into(), order_ms: 2 };
    assert!(engine::change_notice(&deleted, Outcome::Deleted).unwrap().contains(r#""outcome":"deleted""#));
    for outcome in [Outcome::Stale, Outcome::Ignored, Outcome::Foreign] {
        assert_eq!(engine::change_notice(&created, outcome), None);
    }
}

#[test]
fn no_email_gets_a_placeholder_when_the_column_needs_one() {
    let mut m = Memory::default();
    apply(&mut m, &upsert(user("user_p", None, None, "P", 1)));
    assert_eq!(m.rows["user_p"].email.as_deref(), Some("user_p@no-email.invalid"));
    assert_eq!(m.rows["user_p"].username.as_deref(), Some("user_p"), "the id, lower-cased");
    m.policy = Policy { email_required: false, ..POLICY };
    engine::apply(&mut m, &upsert(user("user_q", None, None, "Q", 1))).unwrap();
    assert_eq!(m.rows["user_q"].email, None);
}

#[test]
fn collisions_get_a_suffix_and_app_rows_are_respected() {
    let mut m = Memory::default();
    m.app_usernames.insert("zoe".into());
    apply(&mut m, &upsert(user("user_z", Some("zoe"), None, "Z", 1)));
    assert_eq!(m.rows["user_z"].username, Some(candidate("zoe", "user_z", 1)));
    assert_eq!(m.claims.len(), 1, "the first choice is not kept claimed");
    apply(&mut m, &upsert(user("user_y", Some("zoe"), None, "Y", 1)));
    let y = m.rows["user_y"].username.clone().unwrap();
    assert!(y.starts_with("zoe_") && Some(&y) != m.rows["user_z"].username.as_ref(), "{y}");
}

#[test]
fn a_rename_releases_the_old_name() {
    let mut m = Memory::default();
    apply(&mut m, &upsert(user("user_a", Some("old"), None, "A", 1)));
    apply(&mut m, &upsert(user("user_a", Some("new"), None, "A", 2)));
    assert_eq!(m.claims.keys().collect::<Vec<_>>(), ["new"]);
    apply(&mut m, &upsert(user("user_b", Some("old"), None, "B", 1)));
    assert_eq!(m.rows["user_b"].username.as_deref(), Some("old"));
}

#[test]
fn a_unique_index_in_the_target_replaces_the_claims() {
    let mut m = Memory { policy: Policy { usernames: Usernames::UniqueInTarget, ..POLICY }, ..Memory::default() };
    m.app_usernames.insert("zoe".into());
    apply(&mut m, &upsert(user("user_z", Some("zoe"), None, "Z", 1)));
    apply(&mut m, &upsert(user("user_y", Some("zoe"), None, "Y", 1)));
    assert_eq!(m.rows["user_z"].username, Some(candidate("zoe", "user_z", 1)));
    assert_eq!(m.rows["user_y"].username, Some(candidate("zoe", "user_y", 1)));
    assert!(m.claims.is_empty(), "no claim is written");
    apply(&mut m, &ClerkEvent::Delete { user_id: "user_z".into(), order_ms: 5 });
    apply(&mut m, &upsert(user("user_x", Some("zoe_"), None, "X", 1)));
    assert!(m.claims.is_empty());
}

#[test]
fn every_candidate_taken_is_an_error() {
    let mut m = Memory::default();
    for attempt in 0..=MAX_SUFFIX_ATTEMPTS {
        m.app_usernames.insert(candidate("busy", "user_b", attempt));
    }
    let result = engine::apply(&mut m, &upsert(user("user_b", Some("busy"), None, "B", 1)));
    assert_eq!(result, Err(engine::EngineError::UsernameExhausted("busy".into())));
}

#[test]
fn soft_delete_keeps_the_row_and_its_name() {
    let mut m =
        Memory { soft_delete: true, policy: Policy { delete_mode: DeleteMode::Soft, ..POLICY }, ..Memory::default() };
    engine::apply(&mut m, &upsert(user("user_s", Some("sam"), None, "S", 1))).unwrap();
    let outcome = engine::apply(&mut m, &ClerkEvent::Delete { user_id: "user_s".into(), order_ms: 2 }).unwrap();
    assert_eq!(outcome, Outcome::Deleted);
    assert!(m.rows["user_s"].deleted);
    assert!(m.claims.contains_key("sam"));
}

/// One user's events: upserts with distinct times, maybe a delete.
#[derive(Debug, Clone)]
struct History {
    id: String,
    upserts: Vec<(Option<&'static str>, i64, u8)>,
    delete_at: Option<i64>,
}

fn history(index: usize) -> impl Strategy<Value = History> {
    let name = prop::sample::select(vec![None, Some("jane"), Some("joe"), Some("user_a")]);
    (prop::collection::vec((name, 1..1000i64, any::<u8>()), 1..4), prop::option::of(1..1200i64)).prop_map(
        move |(mut upserts, delete_at)| {
            upserts.sort_by_key(|(_, t, _)| *t);
            upserts.dedup_by_key(|(_, t, _)| *t);
            History { id: format!("user_{}", (b'a' + index as u8) as char), upserts, delete_at }
        },
    )
}

fn histories() -> impl Strategy<Value = Vec<History>> {
    (1..5usize).prop_flat_map(|n| (0..n).map(history).collect::<Vec<_>>())
}

fn events_of(histories: &[History]) -> Vec<ClerkEvent> {
    let mut events = Vec::new();
    for h in histories {
        for (name, at, first) in &h.upserts {
            events.push(upsert(user(&h.id, *name, None, &format!("n{first}"), *at)));
        }
        if let Some(at) = h.delete_at {
            events.push(ClerkEvent::Delete { user_id: h.id.clone(), order_ms: at });
        }
    }
    events
}

/// Histories and the order their events arrive in: every event at least once, shuffled, with
/// repeats.
fn histories_in_any_order() -> impl Strategy<Value = (Vec<History>, Vec<usize>)> {
    histories().prop_flat_map(|histories| {
        let n = events_of(&histories).len();
        let sequence = prop::collection::vec(0..n, 0..24)
            .prop_flat_map(move |repeats| Just((0..n).chain(repeats).collect::<Vec<_>>()).prop_shuffle());
        (Just(histories), sequence)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_order_and_duplication_ends_in_the_newest_state(
        (histories, sequence) in histories_in_any_order(),
        claims in any::<bool>(),
    ) {
        let events = events_of(&histories);
        let usernames = if claims { Usernames::Claimed } else { Usernames::UniqueInTarget };
        let mut m = Memory { policy: Policy { usernames, ..POLICY }, ..Memory::default() };
        for &i in &sequence {
            engine::apply(&mut m, &events[i]).unwrap();
        }

        for h in &histories {
            let row = m.rows.get(&h.id);
            if h.delete_at.is_some() {
                prop_assert!(row.is_none(), "{} is deleted and stays deleted", h.id);
                prop_assert!(m.redacted.contains(&h.id));
                continue;
            }
            let (name, at, first) = h.upserts.last().unwrap();
            let row = row.expect("a user with events and no delete has a row");
            prop_assert_eq!(row.updated_at_ms, *at);
            prop_assert_eq!(row.first_name.clone(), Some(format!("n{first}")));
            let newest = user(&h.id, *name, None, "", *at);
            let base = base_username(&newest);
            let got = row.username.clone().unwrap();
            prop_assert!(
                (0..=MAX_SUFFIX_ATTEMPTS).any(|k| candidate(&base, &h.id, k) == got),
                "{} is named {} from base {}", h.id, got, base
            );
        }
        let names: Vec<_> = m.rows.values().filter_map(|r| r.username.clone()).collect();
        let unique: HashSet<_> = names.iter().collect();
        prop_assert_eq!(unique.len(), names.len(), "usernames unique: {:?}", names);
        for (name, owner) in &m.claims {
            let current = m.rows.get(owner).and_then(|r| r.username.clone());
            prop_assert_eq!(current.as_ref(), Some(name), "every claim is its owner's current name");
        }
    }
}
