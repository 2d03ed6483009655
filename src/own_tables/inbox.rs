//! `clerk_sync.inbox`, the only code that writes it: each verified delivery recorded once with
//! its outcome, replays recorded, erasure, retention. (The table, and the replay loops and
//! statistics that only read it, are in `sql/inbox.sql`.)

use std::collections::HashMap;

use clerk_sync_core::event::EVENT_FIELDS;
use clerk_sync_core::Envelope;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::FromDatum;
use serde_json::Value;

use crate::error::{ClerkSyncError, OrReport};
use crate::postgres::jsonb::RawJsonb;
use crate::postgres::statements::{Inserts, Statement, BOOL, FLOAT8, INT4_ARRAY, INTERVAL, JSONB, TEXT, TEXT_ARRAY};
use crate::postgres::subtransaction::Failure;

/// Erasure of a stored payload (the SQL expression `$payload` names): only what ordering and a
/// replay need (type, timestamp, ids — a membership's organization and user by id — updated_at,
/// a membership's role) is kept; names, emails, phone numbers, images, IP addresses and user
/// agents go. Written out in the statements, so that this library also works with the SQL of an
/// earlier release until `ALTER EXTENSION clerk_sync UPDATE` runs.
macro_rules! redacted {
    ($payload:literal) => {
        concat!(
            "pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(",
            "'type', ",
            $payload,
            " -> 'type', ",
            "'object', ",
            $payload,
            " -> 'object', ",
            "'timestamp', ",
            $payload,
            " -> 'timestamp', ",
            "'data', pg_catalog.jsonb_build_object(",
            "'id', ",
            $payload,
            " -> 'data' -> 'id', ",
            "'user_id', ",
            $payload,
            " -> 'data' -> 'user_id', ",
            "'updated_at', ",
            $payload,
            " -> 'data' -> 'updated_at', ",
            "'role', ",
            $payload,
            " -> 'data' -> 'role', ",
            "'organization', CASE WHEN ",
            $payload,
            " -> 'data' ? 'organization' THEN pg_catalog.jsonb_build_object('id', ",
            $payload,
            " -> 'data' -> 'organization' -> 'id') END, ",
            "'public_user_data', CASE WHEN ",
            $payload,
            " -> 'data' ? 'public_user_data' THEN pg_catalog.jsonb_build_object('user_id', ",
            $payload,
            " -> 'data' -> 'public_user_data' -> 'user_id') END, ",
            // A billing event's: its payer by id, its plan, status and times, its items without
            // a payer (Clerk leaves theirs null).
            "'payer', CASE WHEN ",
            $payload,
            " -> 'data' ? 'payer' THEN pg_catalog.jsonb_build_object('user_id', ",
            $payload,
            " -> 'data' -> 'payer' -> 'user_id', 'organization_id', ",
            $payload,
            " -> 'data' -> 'payer' -> 'organization_id') END, ",
            "'plan', CASE WHEN ",
            $payload,
            " -> 'data' ? 'plan' THEN pg_catalog.jsonb_build_object('id', ",
            $payload,
            " -> 'data' -> 'plan' -> 'id', 'slug', ",
            $payload,
            " -> 'data' -> 'plan' -> 'slug') END, ",
            "'items', (SELECT pg_catalog.jsonb_agg(i.item OPERATOR(pg_catalog.-) 'payer'::pg_catalog.text) ",
            "FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(",
            $payload,
            " -> 'data' -> 'items') = 'array' THEN ",
            $payload,
            " -> 'data' -> 'items' END) AS i (item)), ",
            "'status', ",
            $payload,
            " -> 'data' -> 'status', 'subscription_id', ",
            $payload,
            " -> 'data' -> 'subscription_id', 'plan_id', ",
            $payload,
            " -> 'data' -> 'plan_id', 'is_free_trial', ",
            $payload,
            " -> 'data' -> 'is_free_trial', 'period_start', ",
            $payload,
            " -> 'data' -> 'period_start', 'period_end', ",
            $payload,
            " -> 'data' -> 'period_end', 'canceled_at', ",
            $payload,
            " -> 'data' -> 'canceled_at', 'created_at', ",
            $payload,
            " -> 'data' -> 'created_at', ",
            "'redacted', true)))"
        )
    };
}

const DELIVERY_TYPES: &[pg_sys::Oid] = &[TEXT, TEXT, TEXT, FLOAT8, JSONB, TEXT, TEXT, TEXT, TEXT];

/// The insert of a delivery, its payload stored as `$payload` (an SQL expression of $5), then
/// `$on_conflict`.
macro_rules! insert_delivery {
    ($payload:expr, $redacted_at:literal, $on_conflict:literal) => {
        concat!(
            "INSERT INTO clerk_sync.inbox (msg_id, event_type, user_id, event_at, payload, raw_body, attempts, ",
            "outcome, error_code, last_error, applied_at, redacted_at) ",
            "VALUES ($1, $2, $3, 'epoch'::pg_catalog.timestamptz + $4 * '1 millisecond'::pg_catalog.interval, ",
            $payload,
            ", $6, 1, $7, $8, $8 || ': ' || $9, CASE WHEN $8 IS NULL THEN pg_catalog.now() END, ",
            $redacted_at,
            ")",
            $on_conflict
        )
    };
}

thread_local! {
    /// A delivery, once applied (or failed): $1 msg_id, $2 event_type, $3 user_id, $4 event time
    /// (Unix ms), $5 payload, $6 raw body (kept when it is not JSON), $7 outcome, $8 SQLSTATE and
    /// $9 message of a failure. No row back when the id was recorded before.
    static INSERT_DELIVERY: Statement = const {
        Statement::new(insert_delivery!("$5", "NULL", " ON CONFLICT (msg_id) DO NOTHING RETURNING 1"), DELIVERY_TYPES)
    };
    /// The same without `ON CONFLICT`, which checks the primary key only as it inserts: a
    /// recorded id raises a unique violation.
    static INSERT_NEW_DELIVERY: Statement = const { Statement::new(insert_delivery!("$5", "NULL", ""), DELIVERY_TYPES) };
    /// The same as INSERT_DELIVERY, its payload stored erased.
    static INSERT_ERASED_DELIVERY: Statement = const {
        Statement::new(
            insert_delivery!(redacted!("$5"), "pg_catalog.now()", " ON CONFLICT (msg_id) DO NOTHING RETURNING 1"),
            DELIVERY_TYPES,
        )
    };
    /// A redelivery of a failed or malformed delivery, with the same parameters: it counts an
    /// attempt and replaces what was recorded. No row back for any other.
    static RETRY_DELIVERY: Statement = const { Statement::new(
        "UPDATE clerk_sync.inbox \
         SET event_type = $2, user_id = $3, \
             event_at = 'epoch'::pg_catalog.timestamptz + $4 * '1 millisecond'::pg_catalog.interval, \
             payload = $5, raw_body = $6, attempts = attempts + 1, outcome = $7, error_code = $8, \
             last_error = $8 || ': ' || $9, applied_at = CASE WHEN $8 IS NULL THEN pg_catalog.now() END, \
             redacted_at = NULL \
         WHERE msg_id = $1 AND outcome IN ('failed', 'malformed') \
         RETURNING 1",
        DELIVERY_TYPES,
    ) };

    /// The stored payload of delivery $1, locked until the transaction ends.
    /// Column 2: it applied and its payload was not kept.
    static STORED: Statement = const { Statement::new(
        "SELECT payload, payload IS NULL AND outcome <> 'malformed' FROM clerk_sync.inbox WHERE msg_id = $1 FOR UPDATE",
        &[TEXT],
    ) };

    /// The stored payloads of deliveries $1, locked until the transaction ends.
    /// Column 3 as STORED's column 2.
    static STORED_MANY: Statement = const { Statement::new(
        "SELECT msg_id, payload, payload IS NULL AND outcome <> 'malformed' FROM clerk_sync.inbox \
         WHERE msg_id = ANY ($1) ORDER BY msg_id FOR UPDATE",
        &[TEXT_ARRAY],
    ) };

    /// Replays of deliveries $1 (arrays, element by element): $2 outcome, $3 SQLSTATE and $4
    /// message of a failure, $5 how many times each was replayed; $6: drop the payload of each
    /// that applied.
    static RECORD_REPLAYS: Statement = const { Statement::new(
        "UPDATE clerk_sync.inbox AS i \
         SET attempts = i.attempts + r.times, outcome = r.outcome, error_code = r.code, \
             last_error = r.code || ': ' || r.message, \
             applied_at = CASE WHEN r.code IS NULL THEN pg_catalog.now() ELSE i.applied_at END, \
             payload = CASE WHEN $6 AND r.code IS NULL THEN NULL ELSE i.payload END \
         FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), \
             pg_catalog.unnest($4), pg_catalog.unnest($5)) AS r (msg_id, outcome, code, message, times) \
         WHERE i.msg_id = r.msg_id",
        &[TEXT_ARRAY, TEXT_ARRAY, TEXT_ARRAY, TEXT_ARRAY, INT4_ARRAY, BOOL],
    ) };

    /// Erasure of the stored payloads of users $1; each user's looked up in the index on user_id,
    /// which holds the deliveries with a payload not erased yet (see user_state.rs's LOCK_USERS
    /// for why the subquery).
    static REDACT_MANY: Statement = const { Statement::new(
        concat!(
        "UPDATE clerk_sync.inbox \
         SET payload = ", redacted!("payload"), ", raw_body = NULL, last_error = NULL, \
             redacted_at = pg_catalog.now() \
         WHERE redacted_at IS NULL AND msg_id = ANY (ARRAY (SELECT d.msg_id FROM ROWS FROM (pg_catalog.unnest($1)) AS k (id) \
             CROSS JOIN LATERAL (SELECT msg_id FROM clerk_sync.inbox \
                 WHERE user_id = k.id AND payload IS NOT NULL AND redacted_at IS NULL OFFSET 0) AS d))"),
        &[TEXT_ARRAY],
    ) };

    /// A replay of delivery $1: $2 outcome, $3 SQLSTATE and $4 message of a failure; $5: drop
    /// the payload if it applied.
    static RECORD_REPLAY: Statement = const { Statement::new(
        "UPDATE clerk_sync.inbox \
         SET attempts = attempts + 1, outcome = $2, error_code = $3, last_error = $3 || ': ' || $4, \
             applied_at = CASE WHEN $3 IS NULL THEN pg_catalog.now() ELSE applied_at END, \
             payload = CASE WHEN $5 AND $3 IS NULL THEN NULL ELSE payload END \
         WHERE msg_id = $1",
        &[TEXT, TEXT, TEXT, TEXT, BOOL],
    ) };

    /// Erasure of user $1's stored payloads.
    static REDACT: Statement = const { Statement::new(
        concat!(
        "UPDATE clerk_sync.inbox \
         SET payload = ", redacted!("payload"), ", raw_body = NULL, last_error = NULL, \
             redacted_at = pg_catalog.now() \
         WHERE user_id = $1 AND payload IS NOT NULL AND redacted_at IS NULL \
         RETURNING 1"),
        &[TEXT],
    ) };

    /// Retention: deliveries received before now() - $1; failed ones only when $2.
    static PRUNE: Statement = const { Statement::new(
        "DELETE FROM clerk_sync.inbox \
         WHERE received_at < pg_catalog.now() - $1 AND ($2 OR outcome <> 'failed') \
         RETURNING 1",
        &[INTERVAL, BOOL],
    ) };
}

/// One delivery as the inbox keeps it.
pub struct Delivery<'a> {
    pub msg_id: &'a str,
    pub event_type: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub event_at_ms: Option<f64>,
    /// The body as `jsonb`; None when it is not JSON, or not kept (setting `keep_payloads`).
    pub payload: Option<pg_sys::Datum>,
    /// Kept only when the body is not JSON.
    pub raw_body: Option<&'a str>,
    pub outcome: &'a str,
    pub failure: Option<&'a Failure>,
    /// Store the payload (if kept) erased: its user is deleted and erasure is on.
    pub erased: bool,
}

impl<'a> Delivery<'a> {
    /// A delivery whose body is JSON, with what its envelope says; `payload` None when it is
    /// not kept.
    pub fn of(
        msg_id: &'a str,
        envelope: &'a Envelope,
        payload: Option<pg_sys::Datum>,
        outcome: &'a str,
        failure: Option<&'a Failure>,
        erased: bool,
    ) -> Self {
        Delivery {
            msg_id,
            event_type: envelope.event_type.as_deref(),
            user_id: envelope.user_id.as_deref(),
            event_at_ms: envelope.event_at_ms,
            payload,
            raw_body: None,
            outcome,
            failure,
            erased,
        }
    }

    /// A verified delivery whose body is not JSON: kept with its raw body (when there is one).
    pub fn malformed(msg_id: &'a str, raw_body: Option<&'a str>, failure: &'a Failure) -> Self {
        Delivery {
            msg_id,
            event_type: None,
            user_id: None,
            event_at_ms: None,
            payload: None,
            raw_body,
            outcome: "malformed",
            failure: Some(failure),
            erased: false,
        }
    }
}

/// Records a delivery; false when it was recorded before with an outcome that stands (a
/// redelivery, or a concurrent one that got there first). `Inserts::AsNew`: a delivery recorded
/// before raises a unique violation instead.
pub fn record(delivery: &Delivery, inserts: Inserts) -> Result<bool, ClerkSyncError> {
    let text = |v: Option<&str>| -> DatumWithOid<'static> { v.map(str::to_owned).into() };
    // SAFETY: the datum is a jsonb value built by this delivery's caller and still alive.
    let payload = match delivery.payload {
        Some(datum) => unsafe { DatumWithOid::new(datum, JSONB) },
        None => unsafe { DatumWithOid::new_from_datum(None, JSONB) },
    };
    let args = [
        delivery.msg_id.into(),
        text(delivery.event_type),
        text(delivery.user_id),
        delivery.event_at_ms.into(),
        payload,
        text(delivery.raw_body),
        delivery.outcome.into(),
        text(delivery.failure.map(|f| f.sqlstate.as_str())),
        text(delivery.failure.map(|f| f.message.as_str())),
    ];
    let erased = delivery.erased && delivery.payload.is_some();
    if inserts == Inserts::AsNew && !erased {
        return INSERT_NEW_DELIVERY.with(|s| s.execute(&args, |_| Ok(true)));
    }
    let statement = if erased { &INSERT_ERASED_DELIVERY } else { &INSERT_DELIVERY };
    if statement.with(|s| s.execute(&args, |rows| Ok(!rows.is_empty())))? {
        return Ok(true);
    }
    RETRY_DELIVERY.with(|s| s.execute(&args, |rows| Ok(!rows.is_empty())))
}

/// The stored payload of a delivery, trimmed to what the engine reads, and locked for a replay:
/// None when there is no such delivery, Some(None) when its body was not JSON; an error when it
/// applied and its payload was not kept.
pub fn stored_event(msg_id: &str) -> Result<Option<Option<Value>>, ClerkSyncError> {
    let stored = STORED.with(|s| {
        s.execute(&[msg_id.into()], |rows| {
            if rows.is_empty() {
                return Ok(None);
            }
            let row = rows.first();
            let not_kept = row.get::<bool>(2)? == Some(true);
            let payload = row.get_datum_by_ordinal(1)?;
            // SAFETY: column 1 is the jsonb payload; it is read before the SPI call ends.
            let event = payload.and_then(|datum| unsafe { RawJsonb::from_datum(datum, false) });
            Ok(Some((not_kept, event.map(|jsonb| jsonb.to_value(&EVENT_FIELDS)))))
        })
    })?;
    match stored {
        Some((true, _)) => Err(ClerkSyncError::PayloadNotKept(msg_id.to_owned())),
        Some((false, event)) => Ok(Some(event)),
        None => Ok(None),
    }
}

/// The stored payloads of `msg_ids`, trimmed as `stored_event`'s, locked for a replay; a
/// delivery that is not stored is not in the map. An error names the first whose payload was
/// not kept.
pub fn stored_events(msg_ids: &[String]) -> Result<HashMap<String, Option<Value>>, ClerkSyncError> {
    let (stored, not_kept) = STORED_MANY.with(|s| {
        s.execute_planned_now(&[msg_ids.to_vec().into()], |mut rows| {
            let mut stored = HashMap::with_capacity(msg_ids.len());
            let mut not_kept = None;
            while rows.next().is_some() {
                let Some(msg_id) = rows.get::<String>(1)? else { continue };
                if rows.get::<bool>(3)? == Some(true) {
                    not_kept.get_or_insert(msg_id);
                    continue;
                }
                let payload = rows.get_datum_by_ordinal(2)?;
                // SAFETY: column 2 is the jsonb payload; it is read before the SPI call ends.
                let event = payload.and_then(|datum| unsafe { RawJsonb::from_datum(datum, false) });
                stored.insert(msg_id, event.map(|jsonb| jsonb.to_value(&EVENT_FIELDS)));
            }
            Ok((stored, not_kept))
        })
    })?;
    match not_kept {
        Some(msg_id) => Err(ClerkSyncError::PayloadNotKept(msg_id)),
        None => Ok(stored),
    }
}

/// One delivery's replays in a batch: the last outcome (and failure), how many times.
pub struct Replayed<'a> {
    pub msg_id: &'a str,
    pub outcome: &'static str,
    pub failure: Option<Failure>,
    pub times: i32,
}

/// Records a batch's replays; `drop_applied`: the payload of each that applied goes.
pub fn record_replays(replays: &[Replayed], drop_applied: bool) -> Result<(), ClerkSyncError> {
    let ids: Vec<String> = replays.iter().map(|r| r.msg_id.to_owned()).collect();
    let outcomes: Vec<String> = replays.iter().map(|r| r.outcome.to_owned()).collect();
    let codes: Vec<Option<String>> = replays.iter().map(|r| r.failure.as_ref().map(|f| f.sqlstate.clone())).collect();
    let messages: Vec<Option<String>> = replays.iter().map(|r| r.failure.as_ref().map(|f| f.message.clone())).collect();
    let times: Vec<i32> = replays.iter().map(|r| r.times).collect();
    let args = [ids.into(), outcomes.into(), codes.into(), messages.into(), times.into(), drop_applied.into()];
    RECORD_REPLAYS.with(|s| s.execute_planned_now(&args, |_| Ok(())))
}

/// Erasure of the stored payloads of every user of `user_ids`.
pub fn redact_many(user_ids: &[String]) -> Result<(), ClerkSyncError> {
    REDACT_MANY.with(|s| s.execute_planned_now(&[user_ids.to_vec().into()], |_| Ok(())))
}

/// Records a replay; `drop_applied`: its payload goes if it applied.
pub fn record_replay(
    msg_id: &str,
    outcome: &str,
    failure: Option<&Failure>,
    drop_applied: bool,
) -> Result<(), ClerkSyncError> {
    let args = [
        msg_id.into(),
        outcome.into(),
        failure.map(|f| f.sqlstate.clone()).into(),
        failure.map(|f| f.message.clone()).into(),
        drop_applied.into(),
    ];
    RECORD_REPLAY.with(|s| s.execute(&args, |_| Ok(())))
}

/// Erasure of user `user_id`'s stored payloads; how many were redacted.
pub fn redact(user_id: &str) -> Result<i64, ClerkSyncError> {
    REDACT.with(|s| s.execute(&[user_id.into()], |rows| Ok(rows.len() as i64)))
}

/// Erasure: keeps only type, times and ids of that user's stored payloads.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn redact_user_payloads(user_id: Option<&str>) -> i64 {
    redact(user_id.ok_or(ClerkSyncError::NullArgument("user_id")).or_report()).or_report()
}

/// Retention: deletes deliveries received before `now() - older_than`. Failed deliveries are kept
/// unless `include_failed`, so that no event is lost to pruning by accident.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn prune(older_than: Option<pgrx::datum::Interval>, include_failed: default!(Option<bool>, false)) -> i64 {
    let older_than = older_than.ok_or(ClerkSyncError::NullArgument("older_than")).or_report();
    let include_failed = include_failed.unwrap_or(false);
    PRUNE.with(|s| s.execute(&[older_than.into(), include_failed.into()], |rows| Ok(rows.len() as i64))).or_report()
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::json;

    fn inbox_field(msg_id: &str, column: &str) -> Option<String> {
        text_query(&format!("SELECT {column}::text FROM clerk_sync.inbox WHERE msg_id = $1"), &[msg_id])
    }

    #[pg_test]
    fn ingest_records_applies_and_answers_redeliveries_as_duplicates() {
        prisma_schema();
        assert_eq!(ingest("msg_1", &event(CREATED)), "created");
        let before = users();
        assert_eq!(ingest("msg_1", &event(CREATED)), "duplicate");
        assert_eq!(ingest("msg_1", &event(UPDATED)), "duplicate", "the id decides, not the payload");
        assert_eq!(users(), before);
        assert_eq!(inbox_field("msg_1", "attempts").as_deref(), Some("1"));
        assert_eq!(inbox_field("msg_1", "outcome").as_deref(), Some("created"));
        assert_eq!(inbox_field("msg_1", "event_type").as_deref(), Some("user.created"));
        assert_eq!(inbox_field("msg_1", "user_id").as_deref(), Some("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG"));
        assert_eq!(inbox_field("msg_1", "event_at").as_deref(), Some("2026-01-01 00:00:00.123+00"));
        assert_eq!(ingest("msg_s", &event(SESSION)), "ignored");
        assert_eq!(inbox_field("msg_s", "user_id").as_deref(), Some("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG"));
    }

    #[pg_test]
    fn a_failure_is_recorded_not_lost_and_retried_on_redelivery() {
        prisma_schema();
        Spi::run("SELECT clerk_sync.set_setting('column.phone_number', 'phone')").unwrap();
        assert_eq!(ingest("msg_f", &event(CREATED)), "failed");
        assert_eq!(inbox_field("msg_f", "outcome").as_deref(), Some("failed"));
        let error = inbox_field("msg_f", "last_error").unwrap();
        assert!(error.starts_with("55000: ") && error.contains("phone"), "{error}");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
        assert_eq!(count("SELECT count(*) FROM clerk_sync.user_state"), 0, "the failed apply left no mark");

        Spi::run("SELECT clerk_sync.reset_setting('column.phone_number')").unwrap();
        assert_eq!(ingest("msg_f", &event(CREATED)), "created");
        assert_eq!(inbox_field("msg_f", "attempts").as_deref(), Some("2"));
        assert_eq!(inbox_field("msg_f", "last_error"), None);
        assert_eq!(ingest("msg_f", &event(CREATED)), "duplicate");
    }

    #[pg_test]
    fn a_constraint_violation_is_recorded_with_its_sqlstate() {
        prisma_schema();
        Spi::run("INSERT INTO \"User\" (id, email, username, \"updatedAt\") VALUES ('app', 'jane.doe@example.com', 'app', now())").unwrap();
        assert_eq!(ingest("msg_c", &event(CREATED)), "failed");
        assert!(inbox_field("msg_c", "last_error").unwrap().starts_with("23505: "));
    }

    #[pg_test]
    fn a_new_users_insert_that_meets_an_app_row_is_applied_again_checking_first() {
        prisma_schema();
        Spi::run(
            "INSERT INTO \"User\" (id, email, username, \"clerkUserId\", \"updatedAt\") VALUES \
             ('from-the-old-route', 'old@example.com', 'jane.doe', 'user_2zQmA7bXkP4rLwN9sT1vC3dE5fG', now()), \
             ('app-row', 'app@example.com', 'zoe_unal', NULL, now())",
        )
        .unwrap();
        assert_eq!(ingest("msg_1", &event(CREATED)), "updated", "the row written before clerk_sync, in place");
        assert_eq!(user_field("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "id").as_deref(), Some("from-the-old-route"));
        assert_eq!(user_field("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "email").as_deref(), Some("jane.doe@example.com"));
        assert_eq!(ingest("msg_2", &event(UNICODE)), "created");
        let username = user_field("user_2zQmC9dZmR6tNyP1uV3xE5fG7hI", "username").unwrap();
        assert!(username != "zoe_unal" && username.starts_with("zoe_unal"), "the app's row keeps its name: {username}");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 3);
        assert_eq!(ingest("msg_3", &event(CREATED)), "stale", "a creation of a user seen before");
        assert_eq!(ingest("msg_3", &event(CREATED)), "duplicate");
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox WHERE attempts = 1 AND outcome <> 'failed'"), 3);
    }

    #[pg_test]
    fn replay_one_all_failed_and_a_range_in_event_order() {
        prisma_schema();
        keep_all_payloads();
        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Nobody')").unwrap();
        assert_eq!(ingest("msg_u", &event(UPDATED)), "failed");
        assert_eq!(ingest("msg_c", &event(CREATED)), "failed");
        assert_eq!(ingest("msg_p", &event(PHONE_ONLY)), "failed");
        Spi::run("SELECT clerk_sync.reset_setting('target_table')").unwrap();

        assert_eq!(text_query("SELECT clerk_sync.replay('msg_p')", &[]).as_deref(), Some("created"));
        let replayed =
            text_query("SELECT string_agg(msg_id || ':' || outcome, ',') FROM clerk_sync.replay_failed()", &[]);
        assert_eq!(replayed.as_deref(), Some("msg_c:created,msg_u:updated"), "event order, not arrival order");
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox WHERE outcome = 'failed'"), 0);

        let range = text_query(
            "SELECT string_agg(msg_id || ':' || outcome, ',') FROM clerk_sync.replay_range(now() - interval '1 hour', now() + interval '1 hour')",
            &[],
        );
        assert_eq!(range.as_deref(), Some("msg_c:stale,msg_p:stale,msg_u:stale"));
        assert_eq!(sqlstate_of("SELECT clerk_sync.replay('msg_nope')").as_deref(), Some("42704"));
        let plain = text_query(
            "SELECT string_agg(clerk_sync.clerk_apply(payload), ',' ORDER BY event_at) FROM clerk_sync.inbox",
            &[],
        );
        assert_eq!(plain.as_deref(), Some("stale,stale,stale"), "plain SELECT clerk_apply(payload) works too");
    }

    /// The hint of the error `query` raises.
    fn hint_of(query: &str) -> Option<String> {
        Spi::run(
            "CREATE OR REPLACE FUNCTION public.hint_of(query text) RETURNS text LANGUAGE plpgsql AS $$ \
             DECLARE hint text; BEGIN EXECUTE query; RETURN NULL; \
             EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT; RETURN hint; END $$",
        )
        .unwrap();
        text_query("SELECT public.hint_of($1)", &[query])
    }

    #[pg_test]
    fn with_keep_payloads_failed_a_payload_stays_only_until_its_delivery_applies() {
        prisma_schema();
        assert_eq!(text_query("SELECT clerk_sync.setting_value('keep_payloads')", &[]).as_deref(), Some("failed"));
        assert_eq!(ingest("msg_1", &event(CREATED)), "created");
        assert_eq!(inbox_field("msg_1", "payload"), None, "applied: its payload went");
        assert_eq!(inbox_field("msg_1", "outcome").as_deref(), Some("created"));
        assert_eq!(inbox_field("msg_1", "event_type").as_deref(), Some("user.created"));
        assert_eq!(inbox_field("msg_1", "user_id").as_deref(), Some("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG"));
        assert_eq!(inbox_field("msg_1", "event_at").as_deref(), Some("2026-01-01 00:00:00.123+00"));
        assert_eq!(ingest("msg_1", &event(UPDATED)), "duplicate", "the id still decides");
        let mut late = event(UPDATED);
        late["data"]["updated_at"] = json!(1);
        late["timestamp"] = json!(1);
        assert_eq!(ingest("msg_late", &late), "stale", "the order still decides");

        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Nobody')").unwrap();
        assert_eq!(ingest("msg_f", &event(UPDATED)), "failed");
        assert_eq!(ingest("msg_g", &event(UNICODE)), "failed");
        Spi::run("SELECT clerk_sync.reset_setting('target_table')").unwrap();
        assert!(inbox_field("msg_f", "payload").unwrap().contains("jane.doe"), "a failed delivery keeps it");
        assert_eq!(ingest("msg_f", &event(UPDATED)), "updated", "Svix's redelivery applies it");
        assert_eq!((inbox_field("msg_f", "payload"), inbox_field("msg_f", "attempts").as_deref()), (None, Some("2")));
        let replayed =
            text_query("SELECT string_agg(msg_id || ':' || outcome, ',') FROM clerk_sync.replay_failed()", &[]);
        assert_eq!(replayed.as_deref(), Some("msg_g:created"), "a failed delivery replays");
        assert_eq!(inbox_field("msg_g", "payload"), None, "and then its payload goes");

        for replay in [
            "SELECT clerk_sync.replay('msg_1')",
            "SELECT * FROM clerk_sync.replay_each(ARRAY['msg_1'])",
            "SELECT * FROM clerk_sync.replay_range(now() - interval '1 hour', now() + interval '1 hour')",
        ] {
            assert_eq!(sqlstate_of(replay).as_deref(), Some("55000"), "{replay}");
            assert!(hint_of(replay).unwrap().contains("replay_failed()"), "{replay}");
        }
        assert_eq!(inbox_field("msg_1", "attempts").as_deref(), Some("1"), "a refused replay records nothing");
        let stats =
            text_query("SELECT string_agg(outcome || '=' || deliveries, ',') FROM clerk_sync.inbox_stats()", &[]);
        assert_eq!(stats.as_deref(), Some("created=2,stale=1,updated=1"));

        // What was kept before the switch stays replayable, and goes once replayed.
        keep_all_payloads();
        assert_eq!(ingest("msg_kept", &event(PHONE_ONLY)), "created");
        Spi::run("SELECT clerk_sync.reset_setting('keep_payloads')").unwrap();
        assert!(inbox_field("msg_kept", "payload").is_some());
        assert_eq!(text_query("SELECT clerk_sync.replay('msg_kept')", &[]).as_deref(), Some("stale"));
        assert_eq!(inbox_field("msg_kept", "payload"), None);
    }

    #[pg_test]
    fn with_keep_payloads_failed_a_deleted_users_failed_deliveries_are_erased() {
        prisma_schema();
        assert_eq!(ingest("msg_c", &event(CREATED)), "created");
        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Nobody')").unwrap();
        assert_eq!(ingest("msg_f", &event(UPDATED)), "failed");
        Spi::run("SELECT clerk_sync.reset_setting('target_table')").unwrap();
        assert_eq!(ingest("msg_d", &event(DELETED)), "deleted");
        let stored = inbox_field("msg_f", "payload").unwrap();
        assert!(!stored.contains("jane.doe") && stored.contains("\"redacted\": true"), "{stored}");
        assert_eq!(inbox_field("msg_d", "payload"), None);
        assert_eq!(inbox_field("msg_c", "payload"), None, "nothing to erase is left as it is");
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox WHERE redacted_at IS NOT NULL"), 1);
        assert_eq!(text_query("SELECT clerk_sync.replay('msg_f')", &[]).as_deref(), Some("stale"));
    }

    #[pg_test]
    fn inbox_stats_counts_deliveries_by_outcome() {
        prisma_schema();
        ingest("msg_1", &event(CREATED));
        ingest("msg_2", &event(UPDATED));
        ingest("msg_s", &event(SESSION));
        let stats =
            text_query("SELECT string_agg(outcome || '=' || deliveries, ',') FROM clerk_sync.inbox_stats()", &[]);
        assert_eq!(stats.as_deref(), Some("created=1,ignored=1,updated=1"));
    }

    #[pg_test]
    fn prune_keeps_failed_deliveries_unless_asked() {
        prisma_schema();
        ingest("msg_old", &event(CREATED));
        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Nobody')").unwrap();
        ingest("msg_bad", &event(UPDATED));
        ingest("msg_new", &event(PHONE_ONLY));
        Spi::run("UPDATE clerk_sync.inbox SET received_at = now() - interval '40 days' WHERE msg_id IN ('msg_old', 'msg_bad')").unwrap();
        assert_eq!(count("SELECT clerk_sync.prune('30 days')"), 1);
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox"), 2);
        assert_eq!(count("SELECT clerk_sync.prune('30 days', include_failed => true)"), 1);
        assert_eq!(text_query("SELECT string_agg(msg_id, ',') FROM clerk_sync.inbox", &[]).as_deref(), Some("msg_new"));
    }

    #[pg_test]
    fn deletion_redacts_that_users_stored_payloads() {
        prisma_schema();
        keep_all_payloads();
        ingest("msg_1", &event(CREATED));
        ingest("msg_2", &event(UPDATED));
        ingest("msg_s", &event(SESSION));
        ingest("msg_other", &event(UNICODE));
        assert_eq!(ingest("msg_3", &event(DELETED)), "deleted");
        let mut late = event(UPDATED);
        late["data"]["first_name"] = json!("Late");
        assert_eq!(ingest("msg_4", &late), "stale");
        let stored = text_query(
            "SELECT string_agg(payload::text, ' ') FROM clerk_sync.inbox WHERE user_id = 'user_2zQmA7bXkP4rLwN9sT1vC3dE5fG'",
            &[],
        )
        .unwrap();
        for personal in ["jane.doe", "Jane", "Janet", "Late", "Doe", "203.0.113.7", "Mozilla"] {
            assert!(!stored.contains(personal), "{personal} in {stored}");
        }
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox WHERE redacted_at IS NOT NULL"), 5);
        assert!(text_query("SELECT payload::text FROM clerk_sync.inbox WHERE msg_id = 'msg_other'", &[])
            .unwrap()
            .contains("Zoë"));
        let replay = text_query("SELECT string_agg(clerk_sync.replay(msg_id), ',' ORDER BY msg_id) FROM clerk_sync.inbox WHERE redacted_at IS NOT NULL", &[]);
        assert_eq!(replay.as_deref(), Some("stale,stale,stale,stale,ignored"), "redacted events stay replayable");
        assert_eq!(
            count("SELECT count(*) FROM \"User\" WHERE \"clerkUserId\" = 'user_2zQmA7bXkP4rLwN9sT1vC3dE5fG'"),
            0
        );
    }

    #[pg_test]
    fn redaction_can_be_turned_off() {
        prisma_schema();
        keep_all_payloads();
        Spi::run("SELECT clerk_sync.set_setting('redact_on_delete', 'off')").unwrap();
        ingest("msg_1", &event(CREATED));
        ingest("msg_3", &event(DELETED));
        assert!(text_query("SELECT payload::text FROM clerk_sync.inbox WHERE msg_id = 'msg_1'", &[])
            .unwrap()
            .contains("jane.doe"));
    }

    #[pg_test]
    fn odd_payloads_are_stored_without_raising() {
        prisma_schema();
        for (i, payload) in [
            json!([1, 2]),
            json!("text"),
            json!({"type": 7, "timestamp": "x"}),
            json!({"timestamp": 1e300}),
            json!({"type": "user.created", "timestamp": -5, "data": {"id": 5}}),
        ]
        .iter()
        .enumerate()
        {
            let id = format!("msg_odd_{i}");
            let outcome = ingest(&id, payload);
            assert_eq!(outcome, "failed", "{payload}");
            assert!(inbox_field(&id, "last_error").unwrap().starts_with("22023: "));
        }
    }
}
