//! `clerk_apply(event)` and `backfill(users)`: Clerk users into the configured table,
//! idempotent and order-safe. What an event does is decided in `clerk_sync_core::apply::engine`.
//!
//! Outcome words: `created`, `updated` (row written), `deleted` (row removed or soft-deleted, or
//! a tombstone recorded for a user never seen), `stale` (older than what the table reflects, or
//! the user is deleted: nothing changed), `ignored` (an event type that is not applied).

use clerk_sync_core::apply::engine::{self, EngineError, Outcome};
use clerk_sync_core::event::organization::{MembershipRecord, OrganizationRecord};
use clerk_sync_core::event::{EVENT_FIELDS, LIST_FIELDS};
use clerk_sync_core::{parse_ours, ClerkEvent, PayloadError, UserRecord};
use pgrx::prelude::*;
use serde_json::Value;

use crate::entry::batches;
use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;
use crate::postgres::jsonb::RawJsonb;
use crate::postgres::notify;
use crate::store::SpiStore;

impl From<EngineError<ClerkSyncError>> for ClerkSyncError {
    fn from(error: EngineError<ClerkSyncError>) -> Self {
        match error {
            EngineError::UsernameExhausted(base) => ClerkSyncError::UsernameExhausted(base),
            EngineError::MissingParent(membership, parents) => ClerkSyncError::MissingParent(membership, parents),
            EngineError::Payload(error) => ClerkSyncError::Payload(error),
            EngineError::Store(error) => error,
        }
    }
}

/// Applies one parsed Clerk event with the configured target and settings.
pub fn apply_event(event: &Value) -> Result<Outcome, ClerkSyncError> {
    let settings = config_cache::settings()?;
    let ours = parse_ours(event, settings.instance_id.as_deref())?;
    let channel = settings.notify_channel.clone();
    let outcome = engine::apply_ours(&mut SpiStore::new(settings), ours.as_ref())?;
    notify::applied(channel.as_deref(), ours.as_ref(), outcome);
    Ok(outcome)
}

/// Applies one Clerk event (the parsed webhook body) and returns the outcome word.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn clerk_apply(event: Option<RawJsonb>) -> &'static str {
    let event = event.ok_or(ClerkSyncError::NullArgument("event")).or_report();
    apply_event(&event.to_value(&EVENT_FIELDS)).or_report().word()
}

/// An object of a Backend API list (a user, an organization, a membership or a subscription item,
/// by its `object`) as the event that brings its state: an update at its `updated_at`.
fn imported(object: &Value) -> Result<ClerkEvent, ClerkSyncError> {
    let fields = object.as_object().ok_or(PayloadError::NotAnObject)?;
    let time = |updated_at_ms: Option<i64>| updated_at_ms.ok_or(PayloadError::MissingTime);
    Ok(match fields.get("object").and_then(Value::as_str) {
        Some(object) if object.ends_with("subscription_item") => {
            let item = clerk_sync_core::event::billing::listed_item(fields)?;
            time(item.updated_at_ms)?;
            ClerkEvent::SubscriptionItems { items: Ok(vec![item]), envelope_ms: None }
        }
        Some("organization") => {
            let organization = OrganizationRecord::from_clerk(fields)?;
            ClerkEvent::OrganizationUpsert { order_ms: time(organization.updated_at_ms)?, organization }
        }
        Some("organization_membership") => {
            let membership = Box::new(MembershipRecord::from_clerk(fields)?);
            ClerkEvent::MembershipUpsert { order_ms: time(membership.updated_at_ms)?, membership }
        }
        _ => {
            let user = UserRecord::from_clerk(fields)?;
            ClerkEvent::Upsert { order_ms: time(user.updated_at_ms)?, user }
        }
    })
}

/// Imports what existed before the webhook: a JSON array of Clerk objects (the shape of the
/// Backend API's lists, or such a list's `{"data": [...]}` page) — users, organizations and
/// memberships, told apart by `object` (a user when absent) — each applied like an update at its
/// `updated_at`, so newer webhooks win over older imports and the other way round. All or
/// nothing: a malformed element raises, naming its index. Runs as the extension's owner (the
/// app's tables are written as their owners): the role `sync` connects as needs EXECUTE and
/// nothing else.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn backfill(users: Option<RawJsonb>) -> TableIterator<'static, (name!(outcome, String), name!(users, i64))> {
    let users = users.ok_or(ClerkSyncError::NullArgument("users")).or_report().to_value(&LIST_FIELDS);
    let list = match users {
        Value::Array(list) => list,
        Value::Object(mut page) => match page.remove("data") {
            Some(Value::Array(list)) => list,
            _ => ClerkSyncError::from(PayloadError::NotAnObject).report(),
        },
        _ => ClerkSyncError::from(PayloadError::NotAnObject).report(),
    };
    let events: Vec<ClerkEvent> = list
        .iter()
        .enumerate()
        .map(|(index, user)| {
            imported(user).map_err(|e| ClerkSyncError::Element { function: "backfill", index, source: Box::new(e) })
        })
        .collect::<Result<_, _>>()
        .or_report();
    let mut counts: Vec<(Outcome, i64)> = Vec::new();
    for outcome in batches::apply_all(&events, config_cache::settings().or_report(), "backfill").or_report() {
        match counts.iter_mut().find(|(o, _)| *o == outcome) {
            Some((_, n)) => *n += 1,
            None => counts.push((outcome, 1)),
        }
    }
    TableIterator::new(counts.into_iter().map(|(o, n)| (o.word().to_owned(), n)))
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::{json, Value};

    const JANE: &str = "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG";

    fn with_id(text: &str, id: &str) -> Value {
        let mut e = event(text);
        e["data"]["id"] = json!(id);
        e
    }

    #[pg_test]
    fn created_maps_every_field_of_the_seed_table() {
        prisma_schema();
        assert_eq!(apply(&event(CREATED)), "created");
        assert_eq!(user_field(JANE, "email").as_deref(), Some("jane.doe@example.com"));
        assert_eq!(user_field(JANE, "username").as_deref(), Some("jane.doe"));
        assert_eq!(user_field(JANE, "firstName").as_deref(), Some("Jane"));
        assert_eq!(user_field(JANE, "lastName").as_deref(), Some("Doe"));
        assert!(user_field(JANE, "photoUrl").unwrap().starts_with("https://img.clerk.com/"));
        assert_eq!(user_field(JANE, "phoneNumber"), None);
        assert_eq!(user_field(JANE, "createdAt").as_deref(), Some("2026-01-01 00:00:00"));
        assert_eq!(user_field(JANE, "updatedAt").as_deref(), Some("2026-01-01 00:00:00"));
        assert_eq!(user_field(JANE, "id").map(|id| id.len()), Some(36));
    }

    #[pg_test]
    fn updated_changes_the_row_in_place() {
        prisma_schema();
        apply(&event(CREATED));
        let id = user_field(JANE, "id");
        Spi::run("INSERT INTO \"Session\" (id, \"userId\") SELECT 's1', id FROM \"User\"").unwrap();
        assert_eq!(apply(&event(UPDATED)), "updated");
        assert_eq!(user_field(JANE, "firstName").as_deref(), Some("Janet"));
        assert_eq!(user_field(JANE, "lastName").as_deref(), Some("Doe-Smith"));
        assert_eq!(user_field(JANE, "updatedAt").as_deref(), Some("2026-01-01 01:00:00"));
        assert_eq!(user_field(JANE, "id"), id, "never delete and re-insert");
        assert_eq!(count("SELECT count(*) FROM \"Session\""), 1);
    }

    /// Every order of created/updated/deleted, each event once or twice, ends the same way.
    #[pg_test]
    fn every_order_with_duplicates_converges() {
        prisma_schema();
        let events = [event(CREATED), event(UPDATED), event(DELETED)];
        let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        let reset = || Spi::run("DELETE FROM \"User\"; DELETE FROM clerk_sync.user_state").unwrap();

        let mut finals = Vec::new();
        for order in orders {
            for twice in [false, true] {
                reset();
                for &i in &order {
                    apply(&events[i]);
                    if twice {
                        apply(&events[i]);
                    }
                }
                if twice {
                    for &i in &order {
                        apply(&events[i]);
                    }
                }
                finals.push((
                    order,
                    twice,
                    users(),
                    count("SELECT count(*) FROM clerk_sync.user_state WHERE deleted_at_ms IS NOT NULL"),
                ));
            }
        }
        for (order, twice, rows, tombstones) in &finals {
            assert_eq!(rows, "[]", "{order:?} twice={twice}: deleted must stay deleted");
            assert_eq!(*tombstones, 1, "{order:?} twice={twice}");
        }

        let mut finals = Vec::new();
        for order in [[0, 1], [1, 0]] {
            reset();
            let outcomes: Vec<String> = order.iter().map(|&i| apply(&events[i])).collect();
            finals.push((order, outcomes, users()));
        }
        assert_eq!(finals[0].2, finals[1].2, "created/updated in either order");
        assert_eq!(finals[0].1, ["created", "updated"]);
        assert_eq!(finals[1].1, ["created", "stale"], "updated first creates the row; the late created is stale");

        for i in [0, 1] {
            reset();
            let once = (apply(&events[i]), users());
            let again = (apply(&events[i]), users());
            assert_eq!(once.0, "created", "event {i} first");
            assert_eq!(again, ("stale".to_owned(), once.1), "event {i} again changes nothing");
        }
        assert!(finals[0].2.contains("\"firstName\": \"Janet\""), "{}", finals[0].2);
    }

    #[pg_test]
    fn deletion_cascades_and_tombstones() {
        prisma_schema();
        apply(&event(CREATED));
        Spi::run(
            "INSERT INTO \"Session\" (id, \"userId\") SELECT 's1', id FROM \"User\";
             INSERT INTO \"TrainingData\" (id, \"userId\", content) SELECT 't1', id, 'notes' FROM \"User\";",
        )
        .unwrap();
        assert_eq!(apply(&event(DELETED)), "deleted");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
        assert_eq!(count("SELECT count(*) FROM \"Session\""), 0);
        assert_eq!(count("SELECT count(*) FROM \"TrainingData\""), 0);
        assert_eq!(apply(&event(DELETED)), "stale");
        let mut late = event(UPDATED);
        late["data"]["updated_at"] = json!(1899999999000i64);
        assert_eq!(apply(&late), "stale", "not even a newer update resurrects a deleted user");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
    }

    #[pg_test]
    fn a_delete_for_an_unseen_user_leaves_a_tombstone() {
        prisma_schema();
        assert_eq!(apply(&event(DELETED)), "deleted");
        assert_eq!(apply(&event(CREATED)), "stale");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
    }

    #[pg_test]
    fn soft_delete_keeps_the_row() {
        prisma_schema();
        Spi::run(
            "ALTER TABLE \"User\" ADD COLUMN \"deletedAt\" TIMESTAMP(3);
             SELECT clerk_sync.set_setting('delete_mode', 'soft');
             SELECT clerk_sync.set_setting('column.deleted_at', 'deletedAt');",
        )
        .unwrap();
        apply(&event(CREATED));
        assert_eq!(apply(&event(DELETED)), "deleted");
        assert_eq!(user_field(JANE, "deletedAt").as_deref(), Some("2026-01-01 02:00:00"));
        assert_eq!(apply(&event(UPDATED)), "stale");
        assert_eq!(user_field(JANE, "firstName").as_deref(), Some("Jane"));
    }

    #[pg_test]
    fn soft_delete_without_its_column_is_a_configuration_error() {
        prisma_schema();
        Spi::run("SELECT clerk_sync.set_setting('delete_mode', 'soft')").unwrap();
        let q = format!("SELECT clerk_sync.clerk_apply('{}'::jsonb)", DELETED.trim());
        assert_eq!(sqlstate_of(&q).as_deref(), Some("55000"));
    }

    #[pg_test]
    fn phone_only_users_get_a_placeholder_email_or_null() {
        prisma_schema();
        let id = "user_2zQmB8cYlQ5sMxO0tU2wD4eF6gH";
        assert_eq!(apply(&event(PHONE_ONLY)), "created");
        assert_eq!(user_field(id, "email").as_deref(), Some("user_2zQmB8cYlQ5sMxO0tU2wD4eF6gH@no-email.invalid"));
        assert_eq!(user_field(id, "username").as_deref(), Some("user_2zqmb8cylq5smxo0tu2wd4ef6gh"));
        assert_eq!(user_field(id, "phoneNumber").as_deref(), Some("+15555550123"));

        Spi::run("ALTER TABLE \"User\" ALTER COLUMN email DROP NOT NULL").unwrap();
        let mut later = event(PHONE_ONLY);
        later["data"]["updated_at"] = json!(1767225700000i64);
        assert_eq!(apply(&later), "updated");
        assert_eq!(user_field(id, "email"), None, "NULL where the column allows it");
    }

    #[pg_test]
    fn unicode_names_and_clerk_usernames_are_kept() {
        prisma_schema();
        assert_eq!(apply(&event(UNICODE)), "created");
        let id = "user_2zQmC9dZmR6tNyP1uV3xE5fG7hI";
        assert_eq!(user_field(id, "firstName").as_deref(), Some("Zoë"));
        assert_eq!(user_field(id, "lastName").as_deref(), Some("Ünal"));
        assert_eq!(user_field(id, "email").as_deref(), Some("zoë.ünal@example.org"));
        assert_eq!(user_field(id, "username").as_deref(), Some("zoe_unal"));
    }

    #[pg_test]
    fn username_collisions_get_a_deterministic_suffix() {
        prisma_schema();
        apply(&event(UNICODE));
        let other = "user_other000000000000000000001";
        let mut clash = with_id(UNICODE, other);
        clash["data"]["email_addresses"][0]["email_address"] = json!("other@example.org");
        assert_eq!(apply(&clash), "created");
        let expected = clerk_sync_core::event::username::candidate("zoe_unal", other, 1);
        assert_eq!(user_field(other, "username"), Some(expected.clone()));
        clash["data"]["updated_at"] = json!(1767225700000i64);
        assert_eq!(apply(&clash), "updated");
        assert_eq!(user_field(other, "username"), Some(expected), "stable across updates");

        let mut derived = with_id(CREATED, "user_third0000000000000000000002");
        derived["data"]["email_addresses"][0]["email_address"] = json!("zoe_unal@elsewhere.example");
        assert_eq!(apply(&derived), "created");
        assert!(user_field("user_third0000000000000000000002", "username").unwrap().starts_with("zoe_unal_"));
        assert_eq!(count("SELECT count(DISTINCT username) FROM \"User\""), 3);
    }

    /// The seed's schema; without its unique index on "username" when `claims`, so that
    /// clerk_sync keeps usernames unique through its claims instead of the table's index.
    fn schema_with_username_claims(claims: bool) {
        prisma_schema();
        if claims {
            Spi::run("DROP INDEX \"User_username_key\"").unwrap();
        }
    }

    fn claims_of(clerk_id: &str) -> Option<String> {
        text_query(
            "SELECT string_agg(username, ',' ORDER BY username) FROM clerk_sync.username_claim WHERE clerk_user_id = $1",
            &[clerk_id],
        )
    }

    fn usernames_are_released_on_rename_and_on_delete(claims: bool) {
        schema_with_username_claims(claims);
        apply(&event(CREATED));
        let mut renamed = event(UPDATED);
        renamed["data"]["username"] = json!("jane_new");
        assert_eq!(apply(&renamed), "updated");
        assert_eq!(user_field(JANE, "username").as_deref(), Some("jane_new"));
        assert_eq!(claims_of(JANE).as_deref(), claims.then_some("jane_new"));

        let other = "user_other000000000000000000001";
        let mut second = with_id(CREATED, other);
        second["data"]["email_addresses"][0]["email_address"] = json!("jane.doe@other.example");
        assert_eq!(apply(&second), "created");
        assert_eq!(user_field(other, "username").as_deref(), Some("jane.doe"), "the old name was released");

        let mut gone = event(DELETED);
        gone["timestamp"] = json!(1767240000000i64);
        assert_eq!(apply(&gone), "deleted");
        assert_eq!(claims_of(JANE), None);
        let third = "user_third0000000000000000000002";
        let mut taker = with_id(CREATED, third);
        taker["data"]["username"] = json!("jane_new");
        taker["data"]["email_addresses"][0]["email_address"] = json!("third@example.com");
        assert_eq!(apply(&taker), "created");
        assert_eq!(user_field(third, "username").as_deref(), Some("jane_new"), "a deleted user's name is free again");
    }

    #[pg_test]
    fn usernames_are_released_on_rename_and_on_delete_by_the_tables_unique_index() {
        usernames_are_released_on_rename_and_on_delete(false);
    }

    #[pg_test]
    fn usernames_are_released_on_rename_and_on_delete_through_claims() {
        usernames_are_released_on_rename_and_on_delete(true);
    }

    fn a_name_the_app_itself_holds_is_skipped_and_not_kept_claimed(claims: bool) {
        schema_with_username_claims(claims);
        Spi::run("INSERT INTO \"User\" (id, email, username, \"updatedAt\") VALUES ('app-row', 'app@example.com', 'jane.doe', now())").unwrap();
        assert_eq!(apply(&event(CREATED)), "created");
        let expected = clerk_sync_core::event::username::candidate("jane.doe", JANE, 1);
        assert_eq!(user_field(JANE, "username"), Some(expected.clone()));
        assert_eq!(claims_of(JANE), claims.then_some(expected));
    }

    #[pg_test]
    fn a_name_the_app_itself_holds_is_skipped_by_the_tables_unique_index() {
        a_name_the_app_itself_holds_is_skipped_and_not_kept_claimed(false);
    }

    #[pg_test]
    fn a_name_the_app_itself_holds_is_skipped_and_not_kept_claimed_through_claims() {
        a_name_the_app_itself_holds_is_skipped_and_not_kept_claimed(true);
    }

    #[pg_test]
    fn rows_written_before_clerk_sync_are_updated_in_place() {
        prisma_schema();
        Spi::run(&format!(
            "INSERT INTO \"User\" (id, email, username, \"clerkUserId\", \"updatedAt\") \
             VALUES ('from-the-old-route', 'old@example.com', 'jane.doe', '{JANE}', now())"
        ))
        .unwrap();
        assert_eq!(apply(&event(CREATED)), "updated");
        assert_eq!(user_field(JANE, "id").as_deref(), Some("from-the-old-route"));
        assert_eq!(user_field(JANE, "email").as_deref(), Some("jane.doe@example.com"));
        assert_eq!(user_field(JANE, "username").as_deref(), Some("jane.doe"), "its own name is not a collision");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 1);
    }

    #[pg_test]
    fn new_rows_get_distinct_random_version_4_ids_of_the_columns_type() {
        prisma_schema();
        for n in 0..20 {
            let mut user = with_id(CREATED, &format!("user_id_{n}"));
            user["data"]["email_addresses"][0]["email_address"] = json!(format!("person{n}@example.com"));
            user["data"]["username"] = json!(format!("person{n}"));
            assert_eq!(apply(&user), "created");
        }
        let v4 = "SELECT count(DISTINCT id) FROM \"User\" \
                  WHERE id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'";
        assert_eq!(count(v4), 20);
        Spi::run(
            "CREATE TABLE uuid_users (id uuid PRIMARY KEY, \"clerkUserId\" text UNIQUE, email text, username text,
                 \"firstName\" text, \"lastName\" text, \"photoUrl\" text, \"phoneNumber\" text,
                 \"createdAt\" timestamp(3), \"updatedAt\" timestamp(3));
             SELECT clerk_sync.set_setting('target_table', 'uuid_users');",
        )
        .unwrap();
        assert_eq!(apply(&with_id(CREATED, "user_with_a_uuid_id")), "created");
        assert_eq!(count("SELECT count(*) FROM uuid_users WHERE id IS NOT NULL AND substr(id::text, 15, 1) = '4'"), 1);
    }

    #[pg_test]
    fn a_dangling_primary_email_id_does_not_crash() {
        prisma_schema();
        let mut e = event(CREATED);
        e["data"]["primary_email_address_id"] = json!("idn_does_not_exist");
        assert_eq!(apply(&e), "created");
        assert_eq!(user_field(JANE, "email").as_deref(), Some("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG@no-email.invalid"));
        assert_eq!(user_field(JANE, "username").as_deref(), Some("user_2zqma7bxkp4rlwn9st1vc3de5fg"));
    }

    #[pg_test]
    fn unknown_types_are_ignored_and_a_missing_id_is_rejected() {
        prisma_schema();
        assert_eq!(apply(&event(SESSION)), "ignored");
        let mut e = event(CREATED);
        e["data"].as_object_mut().unwrap().remove("id");
        let q = format!("SELECT clerk_sync.clerk_apply('{e}'::jsonb)");
        assert_eq!(sqlstate_of(&q).as_deref(), Some("22023"));
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
        let message = text_query(
            "DO $$ BEGIN PERFORM clerk_sync.clerk_apply('{\"type\":\"user.created\",\"data\":{}}'); \
             EXCEPTION WHEN OTHERS THEN PERFORM set_config('t.msg', SQLERRM, true); END $$; \
             SELECT current_setting('t.msg')",
            &[],
        );
        assert_eq!(message.as_deref(), Some("invalid Clerk event: the event has no data.id (the Clerk user id)"));
    }

    #[pg_test]
    fn a_custom_snake_case_table_works() {
        Spi::run(
            "CREATE SCHEMA app;
             CREATE TABLE app.users (
                 id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 clerk_id text NOT NULL UNIQUE,
                 email text,
                 display_name text,
                 avatar text,
                 updated_at timestamptz NOT NULL,
                 removed boolean NOT NULL DEFAULT false);
             SELECT clerk_sync.set_setting(name, value) FROM (VALUES
                 ('target_schema', 'app'), ('target_table', 'users'),
                 ('column.clerk_user_id', 'clerk_id'), ('column.id', 'id'), ('column.email', 'email'),
                 ('column.username', 'display_name'), ('column.first_name', ''), ('column.last_name', ''),
                 ('column.photo_url', 'avatar'), ('column.phone_number', ''), ('column.created_at', ''),
                 ('column.updated_at', 'updated_at'), ('delete_mode', 'soft'), ('column.deleted_at', 'removed')) s(name, value);",
        )
        .unwrap();
        assert_eq!(apply(&event(CREATED)), "created");
        assert_eq!(apply(&event(UPDATED)), "updated");
        assert_eq!(apply(&event(PHONE_ONLY)), "created");
        let rows = text_query(
            "SELECT jsonb_agg(jsonb_build_object('c', clerk_id, 'e', email, 'u', display_name, 't', updated_at, 'r', removed) ORDER BY clerk_id)::text FROM app.users",
            &[],
        )
        .unwrap();
        assert_eq!(
            rows,
            r#"[{"c": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "e": "jane.doe@example.com", "r": false, "t": "2026-01-01T01:00:00+00:00", "u": "jane.doe"}, {"c": "user_2zQmB8cYlQ5sMxO0tU2wD4eF6gH", "e": null, "r": false, "t": "2026-01-01T00:00:00+00:00", "u": "user_2zqmb8cylq5smxo0tu2wd4ef6gh"}]"#
        );
        assert_eq!(apply(&event(DELETED)), "deleted");
        assert_eq!(count("SELECT count(*) FROM app.users WHERE removed"), 1);
    }

    #[pg_test]
    fn a_hostile_configured_identifier_cannot_inject_sql() {
        Spi::run(
            "CREATE TABLE canary (x int);
             CREATE TABLE public.\"u\"\"; DROP TABLE canary; --\" (\"clerkUserId\" text PRIMARY KEY);
             SELECT clerk_sync.set_setting(name, '') FROM unnest(ARRAY['column.id','column.email','column.username',
                 'column.first_name','column.last_name','column.photo_url','column.phone_number',
                 'column.created_at','column.updated_at']) name;
             SELECT clerk_sync.set_setting('target_table', 'u\"; DROP TABLE canary; --');",
        )
        .unwrap();
        assert_eq!(apply(&event(CREATED)), "created");
        assert_eq!(apply(&event(DELETED)), "deleted");
        assert_eq!(count("SELECT count(*) FROM canary"), 0, "the canary table still exists");
    }

    #[pg_test]
    fn a_missing_target_table_is_a_configuration_error() {
        let q = format!("SELECT clerk_sync.clerk_apply('{}'::jsonb)", CREATED.trim());
        assert_eq!(sqlstate_of(&q).as_deref(), Some("55000"));
    }

    #[pg_test]
    fn backfill_obeys_the_same_high_water_marks() {
        prisma_schema();
        apply(&event(UPDATED));
        let older = event(CREATED)["data"].clone();
        let mut brand_new = event(UNICODE)["data"].clone();
        brand_new["updated_at"] = json!(1767225600000i64);
        let list = json!([older, brand_new]);
        let outcomes = text_query(
            "SELECT string_agg(outcome || '=' || users, ',' ORDER BY outcome) FROM clerk_sync.backfill($1::jsonb)",
            &[&list.to_string()],
        );
        assert_eq!(outcomes.as_deref(), Some("created=1,stale=1"));
        assert_eq!(user_field(JANE, "firstName").as_deref(), Some("Janet"), "the newer webhook wins");

        let mut newer = event(UPDATED)["data"].clone();
        newer["first_name"] = json!("Imported");
        newer["updated_at"] = json!(1767240000000i64);
        let page = json!({"data": [newer], "total_count": 1});
        text_query("SELECT string_agg(outcome, ',') FROM clerk_sync.backfill($1::jsonb)", &[&page.to_string()]);
        assert_eq!(user_field(JANE, "firstName").as_deref(), Some("Imported"), "a newer import wins");
        assert_eq!(apply(&event(UPDATED)), "stale");

        apply(&event(DELETED));
        let again = json!([newer]);
        let outcomes =
            text_query("SELECT string_agg(outcome, ',') FROM clerk_sync.backfill($1::jsonb)", &[&again.to_string()]);
        assert_eq!(outcomes.as_deref(), Some("stale"), "no import resurrects a deleted user");

        let q = "SELECT * FROM clerk_sync.backfill('[{\"id\": \"user_x\", \"updated_at\": 1}, {\"first_name\": \"no id\"}]')";
        assert_eq!(sqlstate_of(q).as_deref(), Some("22023"));
        assert_eq!(user_field("user_x", "id"), None, "all or nothing");
    }
}
