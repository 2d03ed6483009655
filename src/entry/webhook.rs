//! Tests of the HTTP path as a caller sees it: `receive` (`entry/receive.rs`), and PostgREST's
//! `webhook(json)` and `expose_webhook` (`sql/webhook.sql`), PostgREST's contract checked from SQL
//! (PostgREST itself is not needed to check it).

#[cfg(any(test, feature = "pg_test"))]
use pgrx::prelude::*;

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::json;

    fn configured() {
        prisma_schema();
        text_query("SELECT clerk_sync.add_secret($1)", &[TEST_SECRET]);
    }

    fn body(text: &str) -> &str {
        text.trim_end()
    }

    #[pg_test]
    fn statuses_of_the_pipeline() {
        configured();
        let answer = receive("msg_1", body(CREATED));
        assert_eq!(answer["status"], 200);
        assert_eq!(answer["outcome"], "created");
        assert_eq!(answer["id"], "msg_1");
        assert_eq!(answer["type"], "user.created");
        assert_eq!(answer["user_id"], "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 1);

        let again = receive("msg_1", body(CREATED));
        assert_eq!((again["status"].clone(), again["outcome"].clone()), (json!(200), json!("duplicate")));
        assert_eq!(receive("msg_s", body(SESSION))["outcome"], "ignored");
        assert_eq!(receive("msg_old", body(CREATED))["outcome"], "stale");
    }

    #[pg_test]
    fn another_instances_events_are_kept_as_foreign_and_applied_nowhere() {
        configured();
        keep_all_payloads();
        Spi::run("SELECT clerk_sync.set_setting('instance_id', 'ins_production')").unwrap();
        let answer = receive("msg_dev", body(CREATED));
        assert_eq!((answer["status"].clone(), answer["outcome"].clone()), (json!(200), json!("foreign")));
        assert_eq!(
            receive("msg_bad", "{\"type\": \"user.created\", \"instance_id\": \"ins_dev\"}")["outcome"],
            "foreign"
        );
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
        assert_eq!(count("SELECT count(*) FROM clerk_sync.user_state"), 0);
        assert_eq!(
            text_query("SELECT clerk_sync.clerk_apply(payload) FROM clerk_sync.inbox WHERE msg_id = 'msg_dev'", &[])
                .as_deref(),
            Some("foreign")
        );
        assert_eq!(text_query("SELECT clerk_sync.replay('msg_dev')", &[]).as_deref(), Some("foreign"));
        assert_eq!(
            text_query("SELECT string_agg(outcome, ',') FROM clerk_sync.replay_each(ARRAY['msg_dev', 'msg_bad'])", &[])
                .as_deref(),
            Some("foreign,foreign")
        );
        let stats =
            text_query("SELECT string_agg(outcome || '=' || deliveries, ',') FROM clerk_sync.inbox_stats()", &[]);
        assert_eq!(stats.as_deref(), Some("foreign=2"));

        Spi::run("SELECT clerk_sync.set_setting('instance_id', 'ins_2xYzAbCdEfGhIjKlMnOpQrStUv')").unwrap();
        assert_eq!(receive("msg_ours", body(UPDATED))["outcome"], "created");
        assert!(sqlstate_of("SELECT clerk_sync.set_setting('instance_id', 'ins x')").is_some());
    }

    #[pg_test]
    fn unverified_requests_are_401_and_leave_nothing() {
        configured();
        let headers = signed_headers("msg_x", body(CREATED));
        let tampered = format!("{} ", body(CREATED));
        let answer = text_query("SELECT clerk_sync.receive($1::jsonb, $2)::text", &[&headers, &tampered]).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer, json!({"status": 401, "outcome": "unverified", "reason": "no_matching_signature"}));
        let stale = text_query(
            "SELECT clerk_sync.receive(jsonb_build_object('svix-id', 'm', 'svix-timestamp', '1600000000',
                 'svix-signature', clerk_sync.clerk_sign($1, 'm', 1600000000, $2)), $2)->>'reason'",
            &[TEST_SECRET, body(CREATED)],
        );
        assert_eq!(stale.as_deref(), Some("timestamp_too_old"), "a replay outside the window is refused");
        let no_headers = text_query("SELECT clerk_sync.receive('{}', $1)->>'status'", &[body(CREATED)]);
        assert_eq!(no_headers.as_deref(), Some("401"));
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox"), 0);
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
    }

    #[pg_test]
    fn oversize_bodies_are_413_before_anything_else() {
        configured();
        Spi::run("SELECT clerk_sync.set_setting('max_body_bytes', '1000')").unwrap();
        let answer = receive("msg_big", body(CREATED));
        assert_eq!(answer, json!({"status": 413, "outcome": "too_large"}));
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox"), 0);
    }

    #[pg_test]
    fn verified_but_malformed_is_400_and_kept() {
        configured();
        let answer = receive("msg_m", "{\"type\": \"user.created\", ");
        assert_eq!(answer, json!({"status": 400, "outcome": "malformed", "id": "msg_m"}));
        assert_eq!(
            text_query(
                "SELECT outcome || ':' || error_code || ':' || raw_body FROM clerk_sync.inbox WHERE msg_id = 'msg_m'",
                &[]
            )
            .as_deref(),
            Some("malformed:22P02:{\"type\": \"user.created\", ")
        );
        let no_id = receive("msg_n", r#"{"type":"user.created","timestamp":1,"data":{"first_name":"x"}}"#);
        assert_eq!((no_id["status"].clone(), no_id["error_code"].clone()), (json!(400), json!("22023")));
        assert_eq!(
            text_query("SELECT outcome FROM clerk_sync.inbox WHERE msg_id = 'msg_n'", &[]).as_deref(),
            Some("failed")
        );
    }

    #[pg_test]
    fn an_apply_failure_is_500_kept_and_fixed_by_redelivery() {
        configured();
        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Users')").unwrap();
        let answer = receive("msg_f", body(CREATED));
        assert_eq!((answer["status"].clone(), answer["outcome"].clone()), (json!(500), json!("failed")));
        assert_eq!(answer["error_code"], "55000");
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox WHERE outcome = 'failed'"), 1);
        Spi::run("SELECT clerk_sync.reset_setting('target_table')").unwrap();
        let retried = receive("msg_f", body(CREATED));
        assert_eq!((retried["status"].clone(), retried["outcome"].clone()), (json!(200), json!("created")));
    }

    #[pg_test]
    fn not_configured_is_500() {
        prisma_schema();
        let answer = text_query("SELECT clerk_sync.receive('{}', '{}')::text", &[]).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!((answer["status"].clone(), answer["outcome"].clone()), (json!(500), json!("not_configured")));
    }

    /// PostgREST: the anon role, lower-cased request.headers, the raw body as $1::json, the status
    /// read back from response.status.
    #[pg_test]
    fn postgrest_contract() {
        configured();
        Spi::run("CREATE ROLE clerk_test_anon NOLOGIN").unwrap();
        let path = text_query("SELECT clerk_sync.expose_webhook('api', 'clerk_test_anon')", &[]);
        assert_eq!(path.as_deref(), Some("/rpc/clerk_webhook"));
        let raw = "{ \"type\":\"user.created\" ,\n  \"timestamp\" : 1767225600123,\"object\":\"event\",\t\"data\": {\"id\":\"user_pgrst\", \"updated_at\": 1767225600000,\"first_name\":\"Ærøskøbing ✓\", \"email_addresses\": [], \"primary_email_address_id\": null} }";
        let headers = signed_headers("msg_pgrst", raw);
        Spi::run("SET LOCAL ROLE clerk_test_anon").unwrap();
        Spi::run_with_args("SELECT set_config('request.headers', $1, true)", &[headers.as_str().into()]).unwrap();
        let answer = text_query("SELECT api.clerk_webhook($1::json)::text", &[raw]).unwrap();
        let status = text_query("SELECT current_setting('response.status')", &[]);
        Spi::run("RESET ROLE").unwrap();
        assert!(answer.contains("\"created\""), "{answer}");
        assert_eq!(status.as_deref(), Some("200"));
        assert_eq!(
            text_query("SELECT \"firstName\" FROM \"User\" WHERE \"clerkUserId\" = 'user_pgrst'", &[]).as_deref(),
            Some("Ærøskøbing ✓")
        );

        Spi::run("SET LOCAL ROLE clerk_test_anon").unwrap();
        Spi::run("SELECT set_config('request.headers', '{\"svix-id\": \"msg_forged\"}', true)").unwrap();
        let forged = text_query("SELECT api.clerk_webhook($1::json)->>'status'", &[raw]);
        let status = text_query("SELECT current_setting('response.status')", &[]);
        Spi::run("RESET ROLE").unwrap();
        assert_eq!((forged.as_deref(), status.as_deref()), (Some("401"), Some("401")));
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox WHERE msg_id = 'msg_forged'"), 0);
    }

    #[pg_test]
    fn the_webhook_role_can_call_the_entry_point_and_nothing_else() {
        configured();
        Spi::run("CREATE ROLE clerk_test_anon NOLOGIN").unwrap();
        text_query("SELECT clerk_sync.expose_webhook('api', 'clerk_test_anon')", &[]);
        let attempts = [
            "SELECT * FROM clerk_sync.secret",
            "SELECT * FROM clerk_sync.secrets()",
            "SELECT * FROM clerk_sync.inbox",
            "SELECT * FROM clerk_sync.user_state",
            "SELECT * FROM clerk_sync.setting",
            "SELECT * FROM \"User\"",
            "SELECT clerk_sync.clerk_apply('{}')",
            "SELECT clerk_sync.receive('{}', '{}')",
            "SELECT clerk_sync.ingest('m', '{}')",
            "SELECT clerk_sync.add_secret('whsec_AAAA')",
            "SELECT clerk_sync.set_setting('timestamp_tolerance', '999999')",
            "SELECT clerk_sync.clerk_verify('{}', '')",
            "SELECT clerk_sync.replay_failed()",
            "SELECT clerk_sync.prune('0')",
            "DELETE FROM clerk_sync.inbox",
        ];
        Spi::run("SET LOCAL ROLE clerk_test_anon").unwrap();
        let refused: Vec<(String, Option<String>)> = attempts.iter().map(|q| (q.to_string(), sqlstate_of(q))).collect();
        let allowed = sqlstate_of("SELECT api.clerk_webhook('{}'::json)");
        Spi::run("RESET ROLE").unwrap();
        for (query, state) in refused {
            assert_eq!(state.as_deref(), Some("42501"), "{query}");
        }
        assert_eq!(allowed, None, "the entry point itself works");
    }

    #[pg_test]
    fn entry_points_pin_their_search_path() {
        let unpinned = text_query(
            "SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
             WHERE p.pronamespace = 'clerk_sync'::regnamespace AND p.prosecdef
               AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)",
            &[],
        );
        assert_eq!(unpinned, None);
        let definers = text_query(
            "SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc
             WHERE pronamespace = 'clerk_sync'::regnamespace AND prosecdef",
            &[],
        );
        assert_eq!(
            definers.as_deref(),
            Some(
                "backfill,doctor,ensure_user,ensure_user,max_body_bytes,receive,remove_unlisted,status,\
                 unlisted_memberships,unlisted_organizations,unlisted_users,webhook"
            )
        );
    }

    /// A function whose body is resolved when it runs looks names up in the caller's search_path:
    /// an operator or function planted in a schema the caller searches first would run with the
    /// function's rights. Every one pins its path, but the trigger that runs no SQL and the
    /// session-token helpers, called once per row by policies, whose only SQL (the settings,
    /// once per backend) names everything qualified and pins its own path (src/entry/session_token.rs).
    /// A new function that does neither fails here.
    #[pg_test]
    fn every_function_that_runs_sql_pins_its_search_path() {
        let unpinned = text_query(
            "SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text) FROM pg_proc p
             WHERE p.pronamespace = 'clerk_sync'::regnamespace AND p.prosqlbody IS NULL
               AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)",
            &[],
        );
        let exempt = "clerk_sync.config_changed(), clerk_sync.has_feature(text), clerk_sync.has_permission(text), \
                      clerk_sync.has_plan(text), clerk_sync.has_role(text), clerk_sync.jwt(), clerk_sync.org_id(), \
                      clerk_sync.org_permissions(), clerk_sync.org_role(), clerk_sync.org_slug(), \
                      clerk_sync.session_status(), clerk_sync.user_id()";
        assert_eq!(unpinned.as_deref(), Some(exempt));
    }
}
