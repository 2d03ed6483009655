//! Organizations and memberships on the engine, against the in-memory store (whose membership
//! rows refer to their organization's and user's rows, as the app's foreign keys do): examples,
//! and the property that any order and any duplication of a set of events ends in the newest
//! state of each object, deleted stays deleted, and no membership outlives its organization or
//! its user.

use std::collections::BTreeMap;

use clerk_sync_core::apply::engine::{self, Objects, Outcome};
use clerk_sync_core::event::Object;
use clerk_sync_core::ClerkEvent;
use proptest::prelude::*;

mod common;
use common::*;

fn apply(store: &mut Memory, event: &ClerkEvent) -> &'static str {
    engine::apply(store, event).unwrap().word()
}

fn org_upsert(id: &str, name: &str, at: i64) -> ClerkEvent {
    ClerkEvent::OrganizationUpsert { organization: organization(id, name, at), order_ms: at }
}

fn org_delete(id: &str, at: i64) -> ClerkEvent {
    ClerkEvent::OrganizationDelete { organization_id: id.into(), order_ms: at }
}

fn membership_delete(id: &str, at: i64) -> ClerkEvent {
    ClerkEvent::MembershipDelete { membership_id: id.into(), order_ms: at }
}

fn role(m: &Memory, id: &str) -> Option<String> {
    m.memberships.get(id).and_then(|(_, _, role)| role.clone())
}

#[test]
fn an_organization_is_created_updated_and_deleted_with_its_memberships() {
    let mut m = Memory::default();
    assert_eq!(apply(&mut m, &org_upsert("org_a", "Acme", 10)), "created");
    assert_eq!(apply(&mut m, &org_upsert("org_a", "Acme Corp", 20)), "updated");
    assert_eq!(apply(&mut m, &org_upsert("org_a", "Acme", 10)), "stale", "older");
    assert_eq!(m.organizations["org_a"].0.as_deref(), Some("Acme Corp"));
    apply(&mut m, &upsert(user("user_a", Some("ann"), Some("a@example.com"), "Ann", 5)));
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:admin", 30)), "created");
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:member", 40)), "updated");
    assert_eq!(role(&m, "orgmem_1").as_deref(), Some("org:member"));
    assert_eq!(apply(&mut m, &org_delete("org_a", 50)), "deleted");
    assert!(m.organizations.is_empty() && m.memberships.is_empty());
    assert_eq!(apply(&mut m, &org_upsert("org_a", "Back", 60)), "stale", "never resurrected");
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:admin", 70)), "stale");
    assert!(m.organizations.is_empty() && m.memberships.is_empty(), "nor its memberships");
    assert!(m.rows.contains_key("user_a"), "the user stays");
}

#[test]
fn a_membership_before_its_organization_and_user_lands_and_their_own_events_overwrite_them_in_place() {
    let mut m = Memory::default();
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:admin", 30)), "created");
    assert_eq!(m.organizations["org_a"].0.as_deref(), Some("From a membership"), "provisional");
    assert_eq!(m.rows["user_a"].first_name.as_deref(), Some("Public"), "provisional, from public_user_data");
    assert_eq!(apply(&mut m, &org_upsert("org_a", "Acme", 1)), "updated", "however old, in place");
    assert_eq!(apply(&mut m, &upsert(user("user_a", Some("ann"), Some("a@example.com"), "Ann", 1))), "updated");
    assert_eq!(m.organizations["org_a"].0.as_deref(), Some("Acme"));
    assert_eq!(m.rows["user_a"].first_name.as_deref(), Some("Ann"));
    assert_eq!(role(&m, "orgmem_1").as_deref(), Some("org:admin"), "the membership stays on the same rows");

    // A second membership of the known user in a known organization writes nothing provisional.
    apply(&mut m, &org_upsert("org_b", "Beta", 5));
    assert_eq!(apply(&mut m, &membership("orgmem_2", "org_b", "user_a", "org:member", 31)), "created");
    assert_eq!(m.organizations["org_b"].0.as_deref(), Some("Beta"));
    assert_eq!(m.rows["user_a"].first_name.as_deref(), Some("Ann"));
}

#[test]
fn a_row_the_app_wrote_itself_is_not_overwritten_by_a_provisional_one() {
    let mut m = Memory::default();
    m.rows.insert(
        "user_app".into(),
        Row { email: None, username: None, first_name: Some("Mine".into()), updated_at_ms: 0, deleted: false },
    );
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_app", "org:member", 3)), "created");
    assert_eq!(m.rows["user_app"].first_name.as_deref(), Some("Mine"));
}

#[test]
fn a_deleted_user_takes_their_memberships_and_late_membership_events_stay_out() {
    let mut m = Memory::default();
    apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:admin", 30));
    apply(&mut m, &membership("orgmem_2", "org_b", "user_a", "org:member", 30));
    apply(&mut m, &membership("orgmem_3", "org_a", "user_b", "org:member", 30));
    apply(&mut m, &ClerkEvent::Delete { user_id: "user_a".into(), order_ms: 40 });
    assert_eq!(m.memberships.keys().collect::<Vec<_>>(), ["orgmem_3"]);
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:member", 50)), "stale");
    assert_eq!(apply(&mut m, &membership("orgmem_9", "org_b", "user_a", "org:member", 50)), "stale", "nor a new one");
    assert!(!m.rows.contains_key("user_a") && m.memberships.len() == 1);
    assert!(m.redacted.contains("user_a"), "what a late membership event says of the user is erased too");
    assert_eq!(m.state["orgmem_9"].deleted_at_ms, Some(50), "tombstoned: a newer update stays out too");
}

#[test]
fn a_deleted_membership_never_comes_back() {
    let mut m = Memory::default();
    apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:admin", 30));
    assert_eq!(apply(&mut m, &membership_delete("orgmem_1", 35)), "deleted");
    assert_eq!(apply(&mut m, &membership_delete("orgmem_1", 35)), "stale");
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:member", 99)), "stale");
    assert!(m.memberships.is_empty());
    assert!(m.organizations.contains_key("org_a") && m.rows.contains_key("user_a"), "its parents stay");
}

#[test]
fn an_organization_or_membership_missing_from_a_listing_goes_unless_something_newer_came() {
    let mut m = Memory::default();
    apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:admin", 30));
    apply(&mut m, &org_upsert("org_b", "Beta", 90));
    let unlisted =
        |id: &str| ClerkEvent::Unlisted { object: Object::of_id(id).unwrap(), clerk_id: id.into(), listed_at_ms: 60 };
    assert_eq!(apply(&mut m, &unlisted("org_b")), "stale", "changed after the listing began");
    assert_eq!(apply(&mut m, &unlisted("orgmem_1")), "deleted");
    assert_eq!(apply(&mut m, &unlisted("org_a")), "deleted");
    assert_eq!(m.organizations.keys().collect::<Vec<_>>(), ["org_b"]);
    assert!(m.memberships.is_empty());
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:member", 99)), "stale", "tombstoned");
    assert_eq!(Object::of_id("orgmem_x"), Some(Object::Membership));
    assert_eq!(Object::of_id("org_x"), Some(Object::Organization));
    assert_eq!(Object::of_id("sess_x"), None);
}

#[test]
fn without_organization_tables_the_events_are_ignored() {
    let mut m = Memory { objects: Objects::default(), ..Memory::default() };
    assert_eq!(apply(&mut m, &org_upsert("org_a", "Acme", 10)), "ignored");
    assert_eq!(apply(&mut m, &org_delete("org_a", 11)), "ignored");
    assert_eq!(apply(&mut m, &membership("orgmem_1", "org_a", "user_a", "org:admin", 30)), "ignored");
    assert_eq!(apply(&mut m, &membership_delete("orgmem_1", 31)), "ignored");
    assert!(m.state.is_empty() && m.rows.is_empty(), "nothing recorded, no provisional user");
}

#[test]
fn changes_are_noticed_per_object() {
    let notice = |event: &ClerkEvent| engine::change_notice(event, Outcome::Created).unwrap();
    assert!(notice(&org_upsert("org_a", "Acme", 1)).contains(r#""object":"organization""#));
    let m = membership("orgmem_1", "org_a", "user_a", "org:admin", 1);
    assert_eq!(notice(&m), r#"{"id":"orgmem_1","object":"organization_membership","outcome":"created"}"#);
}

/// What the tables must hold once every event of a history was applied, in any order.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    organizations: BTreeMap<String, String>,
    users: BTreeMap<String, String>,
    memberships: BTreeMap<String, String>,
}

fn oracle(events: &[ClerkEvent]) -> Expected {
    let mut newest: BTreeMap<String, (i64, String)> = BTreeMap::new();
    let mut deleted: std::collections::BTreeSet<String> = Default::default();
    let mut parents: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut keep = |id: &str, at: i64, value: String| {
        if newest.get(id).is_none_or(|(t, _)| *t < at) {
            newest.insert(id.to_owned(), (at, value));
        }
    };
    for event in events {
        match event {
            ClerkEvent::OrganizationUpsert { organization, order_ms } => {
                keep(&organization.clerk_id, *order_ms, organization.name.clone().unwrap())
            }
            ClerkEvent::Upsert { user, order_ms } => keep(&user.clerk_id, *order_ms, user.first_name.clone().unwrap()),
            ClerkEvent::MembershipUpsert { membership, order_ms } => {
                keep(&membership.clerk_id, *order_ms, membership.role.clone().unwrap());
                parents.insert(
                    membership.clerk_id.clone(),
                    (membership.organization.clerk_id.clone(), membership.user.clerk_id.clone()),
                );
            }
            ClerkEvent::OrganizationDelete { organization_id: id, .. }
            | ClerkEvent::Delete { user_id: id, .. }
            | ClerkEvent::MembershipDelete { membership_id: id, .. } => {
                deleted.insert(id.clone());
            }
            _ => {}
        }
    }
    let mut expected = Expected::default();
    for (id, (_, value)) in newest {
        if deleted.contains(&id) {
            continue;
        }
        if id.starts_with("org_") {
            expected.organizations.insert(id, value);
        } else if id.starts_with("user_") {
            expected.users.insert(id, value);
        } else if let Some((org, user)) = parents.get(&id) {
            if !deleted.contains(org) && !deleted.contains(user) {
                expected.memberships.insert(id, value);
            }
        }
    }
    expected
}

fn history() -> impl Strategy<Value = Vec<ClerkEvent>> {
    let orgs = ["org_a", "org_b"];
    let users = ["user_a", "user_b"];
    let mut base = Vec::new();
    for (i, org) in orgs.iter().enumerate() {
        base.push(org_upsert(org, &format!("{org} v1"), 10 + i as i64));
        base.push(org_upsert(org, &format!("{org} v2"), 20 + i as i64));
    }
    for (i, id) in users.iter().enumerate() {
        base.push(upsert(user(id, Some(id), Some(&format!("{id}@example.com")), &format!("{id} v1"), 10 + i as i64)));
        base.push(upsert(user(id, Some(id), Some(&format!("{id}@example.com")), &format!("{id} v2"), 20 + i as i64)));
    }
    let mut n = 0;
    for org in orgs {
        for id in users {
            n += 1;
            let mid = format!("orgmem_{n}");
            base.push(membership(&mid, org, id, "org:member", 30 + n));
            base.push(membership(&mid, org, id, "org:admin", 40 + n));
        }
    }
    let deletions = vec![
        org_delete("org_a", 100),
        org_delete("org_b", 101),
        ClerkEvent::Delete { user_id: "user_a".into(), order_ms: 102 },
        ClerkEvent::Delete { user_id: "user_b".into(), order_ms: 103 },
        membership_delete("orgmem_1", 104),
        membership_delete("orgmem_4", 105),
    ];
    (prop::sample::subsequence(deletions, 0..=6), prop::collection::vec(any::<prop::sample::Index>(), 0..8))
        .prop_flat_map(move |(deletions, repeats)| {
            let mut events = base.clone();
            events.extend(deletions);
            let again: Vec<ClerkEvent> = repeats.iter().map(|i| events[i.index(events.len())].clone()).collect();
            events.extend(again);
            Just(events).prop_shuffle()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_order_and_any_duplication_ends_in_the_newest_state_and_deleted_stays_deleted(events in history()) {
        let mut m = Memory::default();
        for event in &events {
            engine::apply(&mut m, event).unwrap();
        }
        let actual = Expected {
            organizations: m.organizations.iter().map(|(id, (name, _))| (id.clone(), name.clone().unwrap())).collect(),
            users: m.rows.iter().map(|(id, row)| (id.clone(), row.first_name.clone().unwrap())).collect(),
            memberships: m.memberships.iter().map(|(id, (_, _, role))| (id.clone(), role.clone().unwrap())).collect(),
        };
        prop_assert_eq!(actual, oracle(&events));
        for (org, user, _) in m.memberships.values() {
            prop_assert!(m.organizations.contains_key(org) && m.rows.contains_key(user));
        }
    }
}
