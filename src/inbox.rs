//! `clerk_sync.inbox`: the table and `ingest`, `replay*`, `prune` are in `sql/inbox.sql`; the
//! erasure of a deleted user's stored payloads is here.

use pgrx::prelude::*;

use crate::error::{ClerkSyncError, OrReport};
use crate::statements::{Statement, TEXT};

thread_local! {
    /// Replaces the stored payloads of user $1 by what ordering needs (type, timestamp, ids,
    /// updated_at), dropping names, emails, phone numbers, IP addresses and user agents.
    static REDACT: Statement = const { Statement::new(
        "UPDATE clerk_sync.inbox i \
         SET payload = pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object( \
                 'type', i.payload -> 'type', \
                 'object', i.payload -> 'object', \
                 'timestamp', i.payload -> 'timestamp', \
                 'data', pg_catalog.jsonb_build_object( \
                     'id', i.payload -> 'data' -> 'id', \
                     'user_id', i.payload -> 'data' -> 'user_id', \
                     'updated_at', i.payload -> 'data' -> 'updated_at', \
                     'redacted', true))), \
             raw_body = NULL, last_error = NULL, redacted_at = pg_catalog.now() \
         WHERE i.user_id = $1 AND i.redacted_at IS NULL \
         RETURNING 1",
        &[TEXT],
    ) };
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
    fn replay_one_all_failed_and_a_range_in_event_order() {
        prisma_schema();
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
