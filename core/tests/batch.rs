//! The batch planner against one event at a time: for any starting state and any sequence of
//! events, a plan that comes back gives the same outcomes and, once written, the same tables.

use std::collections::HashSet;

use clerk_sync_core::apply::batch::{self, Plan, Snapshot, Unplannable};
use clerk_sync_core::apply::engine::{self, Objects, Outcome, Policy, Usernames};
use clerk_sync_core::apply::ordering::ObjectState;
use clerk_sync_core::event::username::{base_username, candidate, MAX_SUFFIX_ATTEMPTS};
use clerk_sync_core::event::Object;
use clerk_sync_core::{ClerkEvent, DeleteMode};
use proptest::prelude::*;

mod common;
use common::*;

fn snapshot_of(m: &Memory, events: &[ClerkEvent], every_candidate: bool) -> Snapshot {
    let mut s = Snapshot::default();
    for (id, state) in &m.state {
        s.states.insert(id.clone(), *state);
    }
    for (id, row) in &m.rows {
        s.rows.insert(id.clone(), row.username.clone());
        if let Some(name) = &row.username {
            s.holders.insert(name.clone(), Some(id.clone()));
            s.looked_up.insert(name.clone());
        }
    }
    for name in &m.app_usernames {
        s.holders.insert(name.clone(), None);
        s.looked_up.insert(name.clone());
    }
    for event in events {
        if let ClerkEvent::Upsert { user, .. } = event {
            let base = base_username(user);
            let attempts = if every_candidate { MAX_SUFFIX_ATTEMPTS } else { 0 };
            s.looked_up.extend((0..=attempts).map(|k| candidate(&base, &user.clerk_id, k)));
        }
    }
    s
}

/// What the extension's statements do with a plan.
fn write(m: &mut Memory, plan: &Plan) {
    for (id, state) in &plan.states {
        m.state.insert(id.clone(), *state);
    }
    for id in &plan.deletes {
        m.rows.remove(id);
    }
    for values in plan.updates.iter().chain(&plan.inserts) {
        let row = Row {
            email: values.email.clone(),
            username: values.username.clone(),
            first_name: values.first_name.clone(),
            updated_at_ms: values.updated_at_ms,
            deleted: false,
        };
        m.rows.insert(values.clerk_id.clone(), row);
    }
    m.redacted.extend(plan.redact.iter().cloned());
}

fn unique_target() -> Policy {
    Policy { usernames: Usernames::UniqueInTarget, ..POLICY }
}

#[test]
fn a_batch_ends_where_one_at_a_time_does() {
    let events = [
        upsert(user("user_a", Some("jane"), Some("jane@example.com"), "Jane", 10)),
        upsert(user("user_b", Some("jane"), None, "B", 11)),
        upsert(user("user_a", Some("janet"), Some("jane@example.com"), "Janet", 20)),
        ClerkEvent::Delete { user_id: "user_b".into(), order_ms: 30 },
        upsert(user("user_b", Some("bee"), None, "Back", 40)),
        ClerkEvent::Other { event_type: "session.created".into() },
    ];
    let refs: Vec<&ClerkEvent> = events.iter().collect();
    let mut one_by_one = Memory { policy: unique_target(), ..Memory::default() };
    let words: Vec<Outcome> = events.iter().map(|e| engine::apply(&mut one_by_one, e).unwrap()).collect();

    let mut batched = Memory { policy: unique_target(), ..Memory::default() };
    let plan = batch::plan(unique_target(), snapshot_of(&batched, &events, true), &refs).unwrap();
    assert_eq!(plan.outcomes, words);
    assert_eq!(
        plan.outcomes.iter().map(|o| o.word()).collect::<Vec<_>>(),
        ["created", "created", "updated", "deleted", "stale", "ignored"]
    );
    assert!(plan.deletes.is_empty(), "user_b's row was new in the batch: nothing to delete");
    assert_eq!(plan.inserts.len(), 1);
    write(&mut batched, &plan);
    assert_eq!(batched.rows, one_by_one.rows);
    assert_eq!(batched.state, one_by_one.state);
    assert_eq!(batched.redacted, one_by_one.redacted);
}

#[test]
fn what_it_cannot_plan_it_says() {
    let events = [upsert(user("user_z", Some("zoe"), None, "Z", 1))];
    let refs: Vec<&ClerkEvent> = events.iter().collect();
    let mut m = Memory { policy: unique_target(), ..Memory::default() };
    m.app_usernames.insert("zoe".into());
    let only_first_choices = snapshot_of(&m, &events, false);
    let suffixed = candidate("zoe", "user_z", 1);
    assert_eq!(batch::plan(unique_target(), only_first_choices, &refs), Err(Unplannable::NameNotLooked(suffixed)));
    assert_eq!(batch::plan(POLICY, snapshot_of(&m, &events, true), &refs), Err(Unplannable::Claims));
    let soft = Policy { delete_mode: DeleteMode::Soft, ..unique_target() };
    let delete = [ClerkEvent::Delete { user_id: "user_z".into(), order_ms: 1 }];
    assert_eq!(
        batch::plan(soft, Snapshot::default(), &delete.iter().collect::<Vec<_>>()),
        Err(Unplannable::SoftDelete)
    );
}

#[test]
fn a_deleted_users_memberships_are_planned_and_organizations_are_not() {
    let objects = Objects { organizations: true, memberships: true, subscription_items: true };
    let delete = [ClerkEvent::Delete { user_id: "user_m".into(), order_ms: 1 }];
    let snapshot = Snapshot { objects, ..Snapshot::default() };
    let plan = batch::plan(unique_target(), snapshot.clone(), &delete.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(plan.memberships_of, ["user_m"]);
    let plan = batch::plan(unique_target(), Snapshot::default(), &delete.iter().collect::<Vec<_>>()).unwrap();
    assert!(plan.memberships_of.is_empty(), "a B2C app has none to delete");
    let organization = [ClerkEvent::OrganizationDelete { organization_id: "org_m".into(), order_ms: 1 }];
    assert_eq!(
        batch::plan(unique_target(), snapshot, &organization.iter().collect::<Vec<_>>()),
        Err(Unplannable::Organizations)
    );
}

#[test]
fn lookups_name_every_user_and_first_choice() {
    let events = [
        upsert(user("user_a", None, Some("ann@example.com"), "A", 1)),
        ClerkEvent::Delete { user_id: "user_b".into(), order_ms: 2 },
        ClerkEvent::Other { event_type: "email.created".into() },
    ];
    let refs: Vec<&ClerkEvent> = events.iter().collect();
    assert_eq!(
        batch::lookups(&refs, Usernames::UniqueInTarget),
        (vec!["user_a".to_owned(), "user_b".to_owned()], vec!["ann".to_owned()])
    );
    assert_eq!(batch::lookups(&refs, Usernames::Unmapped).1, Vec::<String>::new());
}

/// A user as the tables may hold it before the batch.
#[derive(Debug, Clone)]
struct Before {
    state: Option<(i64, bool)>,
    row_name: Option<Option<&'static str>>,
}

fn before() -> impl Strategy<Value = Before> {
    let name = prop::sample::select(vec![None, Some("jane"), Some("joe"), Some("old")]);
    (prop::option::of((0..1000i64, any::<bool>())), prop::option::of(name))
        .prop_map(|(state, row_name)| Before { state, row_name })
}

fn event() -> impl Strategy<Value = ClerkEvent> {
    let id = prop::sample::select(vec!["user_a", "user_b", "user_c", "user_d"]);
    let name = prop::sample::select(vec![None, Some("jane"), Some("joe"), Some("user_a"), Some("old")]);
    prop_oneof![
        4 => (id.clone(), name, 1..1200i64, any::<u8>())
            .prop_map(|(id, name, at, first)| upsert(user(id, name, None, &format!("n{first}"), at))),
        1 => (id.clone(), 1..1200i64).prop_map(|(id, at)| ClerkEvent::Delete { user_id: id.into(), order_ms: at }),
        1 => (id, 1..1200i64).prop_map(|(id, at)| ClerkEvent::Unlisted { object: Object::User, clerk_id: id.into(), listed_at_ms: at }),
        1 => Just(ClerkEvent::Other { event_type: "session.created".into() }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_plan_gives_the_outcomes_and_tables_of_one_at_a_time(
        befores in prop::collection::vec(before(), 4),
        app_names in prop::collection::vec(prop::sample::select(vec!["jane", "joe", "zed"]), 0..2),
        events in prop::collection::vec(event(), 0..24),
        unmapped in any::<bool>(),
        every_candidate in any::<bool>(),
    ) {
        let policy = Policy { usernames: if unmapped { Usernames::Unmapped } else { Usernames::UniqueInTarget }, ..POLICY };
        let mut start = Memory { policy, ..Memory::default() };
        let mut taken: HashSet<&str> = app_names.iter().copied().collect();
        start.app_usernames.extend(app_names.iter().map(|n| n.to_string()));
        for (i, b) in befores.iter().enumerate() {
            let id = format!("user_{}", (b'a' + i as u8) as char);
            if let Some((at, deleted)) = b.state {
                start.state.insert(id.clone(), ObjectState { high_water_ms: at, deleted_at_ms: deleted.then_some(at) });
            }
            if let Some(name) = b.row_name {
                // The target's unique index: a name is held at most once.
                let name = name.filter(|n| !unmapped && taken.insert(n));
                start.rows.insert(id, Row { email: None, username: name.map(Into::into), first_name: None, updated_at_ms: 0, deleted: false });
            }
        }

        let mut one_by_one = Memory { state: start.state.clone(), rows: start.rows.clone(), app_usernames: start.app_usernames.clone(), policy, ..Memory::default() };
        let words: Vec<Outcome> = events.iter().map(|e| engine::apply(&mut one_by_one, e).unwrap()).collect();

        let refs: Vec<&ClerkEvent> = events.iter().collect();
        match batch::plan(policy, snapshot_of(&start, &events, every_candidate), &refs) {
            Ok(plan) => {
                prop_assert_eq!(&plan.outcomes, &words);
                let mut batched = start;
                write(&mut batched, &plan);
                prop_assert_eq!(&batched.rows, &one_by_one.rows);
                prop_assert_eq!(&batched.state, &one_by_one.state);
                prop_assert_eq!(&batched.redacted, &one_by_one.redacted);
                let (users, _) = batch::lookups(&refs, policy.usernames);
                for id in plan.states.keys() {
                    prop_assert!(users.contains(id), "a state is written only for a user an event is about");
                }
            }
            Err(Unplannable::NameNotLooked(_)) => prop_assert!(!every_candidate, "every candidate was looked up"),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
