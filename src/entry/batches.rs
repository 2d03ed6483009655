//! Many events at once: `replay_each` (and through it `replay_failed` and `replay_range`) and
//! `backfill`. Each chunk of events is planned by `clerk_sync_core::apply::batch` over a snapshot read
//! here (the users' state rows, locked; their rows and first-choice usernames in the users
//! table) and written in a few set-based statements, all in one subtransaction. A user with no
//! state row cannot be locked: its state is inserted first, and if another session inserted one
//! meanwhile, the chunk is not written as planned. A chunk the
//! planner cannot plan exactly, or whose statements fail, is rolled back and applied one event at
//! a time instead, with the same outcomes.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use clerk_sync_core::apply::batch::{self, Plan, Snapshot, Unplannable};
use clerk_sync_core::apply::engine::Outcome;
use clerk_sync_core::apply::engine::{self, Store};
use clerk_sync_core::{parse_ours, ClerkEvent, Settings};
use pgrx::prelude::*;

use crate::app_tables::memberships;
use crate::app_tables::users::{self, RowsMoved};
use crate::entry::receive::replay_delivery;
use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;
use crate::own_tables::inbox::{self, Replayed};
use crate::own_tables::user_state;
use crate::postgres::notify;
use crate::postgres::statements;
use crate::postgres::subtransaction::{self, Failure};
use crate::store::SpiStore;

/// Events planned and written together: enough to make a statement's start-up cost vanish,
/// few enough that one chunk applied one at a time (the fallback) stays short.
pub const CHUNK: usize = 1000;

#[cfg(any(test, feature = "pg_test"))]
thread_local! {
    /// Chunks written as a batch, for the tests to tell the two paths apart.
    static BATCHES_WRITTEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Why a chunk is applied one event at a time.
#[derive(Debug, thiserror::Error)]
pub enum NotBatched {
    #[error(transparent)]
    Unplannable(#[from] Unplannable),
    #[error(transparent)]
    RowsMoved(#[from] RowsMoved),
    #[error("another session recorded a state for one of the batch's users meanwhile")]
    StateMoved,
    #[error(transparent)]
    Error(#[from] ClerkSyncError),
}

/// Plans `events` over what the database holds and writes the plan. Run it in a subtransaction:
/// on any error, what it wrote (placeholder state rows included) must be rolled back.
pub fn write_plan(events: &[&ClerkEvent], settings: Rc<Settings>) -> Result<Plan, NotBatched> {
    let mut store = SpiStore::new(settings.clone());
    let (policy, objects) = (store.policy()?, store.objects()?);
    let target = users::plan(&settings.target)?;
    let (users, names) = batch::lookups(events, policy.usernames);
    let states = user_state::lock_states(&users)?;
    let existing: HashSet<String> = states.keys().cloned().collect();
    let mut snapshot = Snapshot { states, objects, ..Snapshot::default() };
    snapshot.looked_up.extend(names.iter().cloned());
    let wanted: HashSet<&str> = users.iter().map(String::as_str).collect();
    for (clerk_id, username) in target.rows_of(&users, &names)? {
        if let Some(name) = &username {
            snapshot.holders.insert(name.clone(), clerk_id.clone());
            snapshot.looked_up.insert(name.clone());
        }
        if let Some(clerk_id) = clerk_id.filter(|id| wanted.contains(id.as_str())) {
            snapshot.rows.insert(clerk_id, username);
        }
    }
    let plan = batch::plan(policy, snapshot, events)?;
    if !user_state::write_states(&plan.states, &existing)? {
        return Err(NotBatched::StateMoved);
    }
    if !plan.memberships_of.is_empty() {
        let memberships = memberships::plan(&settings)?.ok_or(NotBatched::Unplannable(Unplannable::Organizations))?;
        memberships.delete_of_users(plan.memberships_of.clone())?;
    }
    target.write_batch(&plan)??;
    if !plan.redact.is_empty() {
        inbox::redact_many(&plan.redact)?;
    }
    for (event, &outcome) in events.iter().zip(&plan.outcomes) {
        notify::applied(settings.notify_channel.as_deref(), Some(event), outcome);
    }
    #[cfg(any(test, feature = "pg_test"))]
    BATCHES_WRITTEN.with(|n| n.set(n.get() + 1));
    Ok(plan)
}

/// Applies events that no stored delivery carries (an import, a reconcile's removals), a chunk
/// at a time; their outcomes, in order. An event that fails is an error naming its index in
/// `events` and `function`, whose argument held it.
pub fn apply_all(
    events: &[ClerkEvent],
    settings: Rc<Settings>,
    function: &'static str,
) -> Result<Vec<Outcome>, ClerkSyncError> {
    let mut all = Vec::with_capacity(events.len());
    for (chunk_index, chunk) in events.chunks(CHUNK).enumerate() {
        let refs: Vec<&ClerkEvent> = chunk.iter().collect();
        let _planned_for_a_batch = statements::batch_settings();
        let outcomes = match subtransaction::attempt(|| write_plan(&refs, settings.clone())) {
            Ok(Ok(plan)) => plan.outcomes,
            not_batched => {
                log_one_at_a_time(chunk.len(), &not_batched);
                let mut store = SpiStore::new(settings.clone());
                let one_at_a_time = chunk.iter().enumerate().map(|(i, event)| {
                    let outcome = engine::apply(&mut store, event).map_err(|e| ClerkSyncError::Element {
                        function,
                        index: chunk_index * CHUNK + i,
                        source: Box::new(e.into()),
                    })?;
                    notify::applied(settings.notify_channel.as_deref(), Some(event), outcome);
                    Ok(outcome)
                });
                one_at_a_time.collect::<Result<Vec<_>, ClerkSyncError>>()?
            }
        };
        all.extend(outcomes);
    }
    Ok(all)
}

/// Says at DEBUG1 why a chunk is applied one event at a time.
pub fn log_one_at_a_time(events: usize, why: &Result<Result<Plan, NotBatched>, Failure>) {
    let reason = match why {
        Ok(Err(not_batched)) => not_batched.to_string(),
        Err(failure) => format!("{}: {}", failure.sqlstate, failure.message),
        Ok(Ok(_)) => return,
    };
    pgrx::debug1!("clerk_sync: {events} events applied one at a time ({reason})");
}

/// Applies the given stored deliveries again, in the order given, and records each outcome as
/// `replay` does; raises when one is not stored.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn replay_each(
    msg_ids: Option<Vec<Option<String>>>,
) -> TableIterator<'static, (name!(msg_id, String), name!(outcome, String))> {
    let msg_ids: Vec<String> = msg_ids
        .unwrap_or_default()
        .into_iter()
        .map(|id| id.ok_or(ClerkSyncError::NullArgument("msg_id")).or_report())
        .collect();
    let settings = config_cache::settings().or_report();
    let mut outcomes = Vec::with_capacity(msg_ids.len());
    for chunk in msg_ids.chunks(CHUNK) {
        outcomes.extend(replay_chunk(chunk, settings.clone()));
    }
    TableIterator::new(outcomes)
}

fn replay_chunk(msg_ids: &[String], settings: Rc<Settings>) -> Vec<(String, String)> {
    let _planned_for_a_batch = statements::batch_settings();
    let mut distinct = msg_ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let drop_applied = !settings.keep_payloads.keeps(false);
    let stored = inbox::stored_events(&distinct).or_report();
    if let Some(missing) = msg_ids.iter().find(|id| !stored.contains_key(*id)) {
        ClerkSyncError::NoSuchDelivery(missing.clone()).report();
    }
    // None: another instance's event (not planned).
    let parsed: Vec<Result<Option<ClerkEvent>, ClerkSyncError>> = msg_ids
        .iter()
        .map(|id| match &stored[id] {
            Some(event) => Ok(parse_ours(event, settings.instance_id.as_deref())?),
            None => Err(ClerkSyncError::NullArgument("payload")),
        })
        .collect();
    let events: Vec<&ClerkEvent> = parsed.iter().filter_map(|p| p.as_ref().ok().and_then(Option::as_ref)).collect();
    let plan = match subtransaction::attempt(|| write_plan(&events, settings)) {
        Ok(Ok(plan)) => plan,
        not_batched => {
            log_one_at_a_time(msg_ids.len(), &not_batched);
            return msg_ids.iter().map(|id| (id.clone(), replay_delivery(id).to_owned())).collect();
        }
    };

    let mut planned = plan.outcomes.iter();
    let mut replays: Vec<Replayed> = Vec::with_capacity(distinct.len());
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(distinct.len());
    let mut outcomes = Vec::with_capacity(msg_ids.len());
    for (msg_id, event) in msg_ids.iter().zip(&parsed) {
        let (outcome, failure) = match event {
            Ok(Some(_)) => (planned.next().expect("one outcome per planned event").word(), None),
            Ok(None) => (Outcome::Foreign.word(), None),
            Err(error) => ("failed", Some(Failure::from(error))),
        };
        outcomes.push((msg_id.clone(), outcome.to_owned()));
        match index.get(msg_id.as_str()) {
            Some(&i) => {
                replays[i].outcome = outcome;
                replays[i].failure = failure;
                replays[i].times += 1;
            }
            None => {
                index.insert(msg_id, replays.len());
                replays.push(Replayed { msg_id, outcome, failure, times: 1 });
            }
        }
    }
    inbox::record_replays(&replays, drop_applied).or_report();
    outcomes
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::error::ClerkSyncError;
    use crate::postgres::subtransaction;
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::{json, Value};

    /// Events about four users, stored as failed deliveries (the target missing), in event order:
    /// creates, updates, a rename onto a freed name, a delete and what comes late, duplicates,
    /// a payload that is not an event, and an event type that is not applied.
    fn stored_deliveries(app_holds_a_name: bool) -> Vec<String> {
        prisma_schema();
        keep_all_payloads();
        if app_holds_a_name {
            Spi::run("INSERT INTO \"User\" (id, email, username, \"updatedAt\") VALUES ('app', 'app@example.com', 'dora', now())").unwrap();
        }
        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Nobody')").unwrap();
        let user = |id: &str, name: &str, first: &str, at: i64| -> Value {
            let mut e = event(UPDATED);
            e["data"]["id"] = json!(id);
            e["data"]["username"] = json!(name);
            e["data"]["email_addresses"][0]["email_address"] = json!(format!("{id}@example.com"));
            e["data"]["first_name"] = json!(first);
            e["data"]["updated_at"] = json!(at);
            e["timestamp"] = json!(at);
            e
        };
        let mut deleted = event(DELETED);
        deleted["data"]["id"] = json!("user_c");
        deleted["timestamp"] = json!(50);
        let deliveries = [
            ("m01", user("user_a", "ann", "Ann", 10)),
            ("m02", user("user_b", "bob", "Bob", 11)),
            ("m03", user("user_c", "cy", "Cy", 12)),
            ("m04", user("user_a", "annie", "Annie", 20)),
            ("m05", user("user_b", "ann", "Bob", 30)),
            ("m06", user("user_a", "ann", "Late", 15)),
            ("m07", deleted),
            ("m08", user("user_c", "cy", "Back", 60)),
            ("m09", user("user_d", "dora", "Dora", 5)),
            ("m10", json!({"type": "user.created", "data": {"id": 5}})),
            ("m11", event(SESSION)),
        ];
        for (msg_id, payload) in &deliveries {
            let kept = if *msg_id == "m11" { "ignored" } else { "failed" };
            assert_eq!(ingest(msg_id, payload), kept);
        }
        Spi::run("SELECT clerk_sync.reset_setting('target_table')").unwrap();
        let mut ids: Vec<String> = deliveries.iter().map(|(id, _)| id.to_string()).collect();
        ids.extend(["m04".to_owned(), "m02".to_owned()]);
        ids
    }

    /// Outcomes, then users, states and inbox rows, as text.
    fn end_state(outcomes: String) -> Vec<String> {
        vec![
            outcomes,
            users(),
            text_query("SELECT string_agg(clerk_user_id || '=' || high_water_ms || '/' || coalesce(deleted_at_ms::text, '-'), ',' ORDER BY clerk_user_id) FROM clerk_sync.user_state", &[]).unwrap(),
            text_query("SELECT string_agg(msg_id || '=' || outcome || '/' || attempts || '/' || coalesce(error_code, '-') || '/' || (redacted_at IS NOT NULL), ',' ORDER BY msg_id) FROM clerk_sync.inbox", &[]).unwrap(),
        ]
    }

    fn one_at_a_time(ids: &[String]) -> Vec<String> {
        let outcomes: Vec<String> = ids
            .iter()
            .map(|id| format!("{id}:{}", text_query("SELECT clerk_sync.replay($1)", &[id]).unwrap()))
            .collect();
        end_state(outcomes.join(","))
    }

    fn batched(ids: &[String]) -> Vec<String> {
        let outcomes = Spi::get_one_with_args::<String>(
            "SELECT string_agg(msg_id || ':' || outcome, ',' ORDER BY n) FROM clerk_sync.replay_each($1) WITH ORDINALITY AS r (msg_id, outcome, n)",
            &[ids.to_vec().into()],
        )
        .unwrap()
        .unwrap();
        end_state(outcomes)
    }

    /// Runs `f` and rolls back everything it wrote.
    fn undone(f: impl FnOnce() -> Vec<String>) -> Vec<String> {
        let mut seen = Vec::new();
        let rolled_back = subtransaction::attempt(|| -> Result<(), ClerkSyncError> {
            seen = f();
            Err(ClerkSyncError::NotConfigured)
        });
        assert!(matches!(rolled_back, Ok(Err(ClerkSyncError::NotConfigured))));
        seen
    }

    #[pg_test]
    fn a_batch_replay_ends_where_one_at_a_time_does() {
        let ids = stored_deliveries(false);
        let expected = undone(|| one_at_a_time(&ids));
        assert!(expected[0].starts_with("m01:created,m02:created,m03:created,m04:updated,m05:updated,m06:stale,m07:deleted,m08:stale,m09:created,m10:failed,m11:ignored"), "{}", expected[0]);
        let before = super::BATCHES_WRITTEN.with(|n| n.get());
        let got = batched(&ids);
        assert_eq!(super::BATCHES_WRITTEN.with(|n| n.get()), before + 1, "written as one batch");
        assert_eq!(got, expected);
        assert!(got[1].contains("\"username\": \"ann\"") && got[1].contains("\"firstName\": \"Bob\""), "{}", got[1]);
    }

    #[pg_test]
    fn a_batch_it_cannot_plan_is_applied_one_event_at_a_time() {
        // The app's own row holds "dora": user_d needs a suffixed name that was not looked up.
        let ids = stored_deliveries(true);
        let expected = undone(|| one_at_a_time(&ids));
        assert!(expected[1].contains("dora_"), "{}", expected[1]);
        let before = super::BATCHES_WRITTEN.with(|n| n.get());
        assert_eq!(batched(&ids), expected);
        assert_eq!(super::BATCHES_WRITTEN.with(|n| n.get()), before, "the batch was rolled back");
    }

    #[pg_test]
    fn a_b2b_apps_user_deletions_are_batched_with_their_memberships() {
        prisma_b2b_schema();
        apply(&event(MEMBER_CREATED));
        let jane = "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG";
        let before = super::BATCHES_WRITTEN.with(|n| n.get());
        let removed = text_query(
            "SELECT string_agg(outcome, ',') FROM clerk_sync.remove_unlisted(ARRAY[$1, 'user_never'], '{}', '{}', now())",
            &[jane],
        );
        assert_eq!(removed.as_deref(), Some("deleted,deleted"));
        assert_eq!(super::BATCHES_WRITTEN.with(|n| n.get()), before + 1, "written as one batch");
        assert_eq!(count("SELECT count(*) FROM \"Membership\""), 0, "the memberships went first");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
    }

    #[pg_test]
    fn replaying_what_is_not_stored_raises() {
        prisma_schema();
        assert_eq!(sqlstate_of("SELECT * FROM clerk_sync.replay_each(ARRAY['msg_nope'])").as_deref(), Some("42704"));
        assert_eq!(sqlstate_of("SELECT * FROM clerk_sync.replay_each(ARRAY[NULL::text])").as_deref(), Some("22004"));
        assert_eq!(count("SELECT count(*) FROM clerk_sync.replay_each('{}')"), 0);
    }
}
