//! `clerk_verify`, `clerk_verify_report`, `clerk_sign`: Svix signatures in SQL.
//!
//! Nothing a sender controls (headers, body) makes these raise; only missing configuration or a
//! bad argument from the caller (an explicit secret, a NULL time) does.

use clerk_sync_core::{sign, verify_delivery, Rejection, SigningKey, Verified};
use pgrx::prelude::*;

use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;
use crate::postgres::jsonb::RawJsonb;
use crate::postgres::unix_time::{to_timestamptz, transaction_start, unix_seconds};

fn required<T>(value: Option<T>, name: &'static str) -> T {
    value.ok_or(ClerkSyncError::NullArgument(name)).or_report()
}

/// Verifies with the given keys; a NULL header map has no headers and a NULL body is empty.
pub fn check(
    headers: Option<&RawJsonb>,
    body: Option<&str>,
    keys: &[SigningKey],
    now_s: i64,
    tolerance_s: u64,
) -> Result<Verified, Rejection> {
    let entries = headers.map(RawJsonb::entries).unwrap_or_default();
    verify_delivery(entries, body.unwrap_or_default().as_bytes(), keys, now_s, tolerance_s)
}

fn check_configured(headers: Option<&RawJsonb>, body: Option<&str>, now_s: i64) -> Result<Verified, Rejection> {
    let keys = config_cache::keys().or_report();
    let settings = config_cache::settings().or_report();
    check(headers, body, &keys, now_s, settings.timestamp_tolerance_s)
}

fn check_explicit(
    headers: Option<&RawJsonb>,
    body: Option<&str>,
    secret: Option<&str>,
    at: Option<TimestampWithTimeZone>,
    tolerance_s: Option<i32>,
) -> Result<Verified, Rejection> {
    let key = SigningKey::parse(required(secret, "secret")).or_report();
    let at = unix_seconds(required(at, "at"));
    let tolerance_s =
        u64::try_from(required(tolerance_s, "tolerance_s")).map_err(|_| ClerkSyncError::NegativeTolerance).or_report();
    check(headers, body, &[key], at, tolerance_s)
}

/// True when the request carries a valid signature from a configured secret, now.
#[pg_extern(stable, parallel_restricted, name = "clerk_verify")]
#[search_path(pg_catalog, pg_temp)]
fn clerk_verify(headers: Option<RawJsonb>, body: Option<&str>) -> bool {
    check_configured(headers.as_ref(), body, transaction_start()).is_ok()
}

/// As `clerk_verify(headers, body)`, judged at time `at` (to check a stored delivery).
#[pg_extern(stable, parallel_restricted, name = "clerk_verify")]
#[search_path(pg_catalog, pg_temp)]
fn clerk_verify_at(headers: Option<RawJsonb>, body: Option<&str>, at: Option<TimestampWithTimeZone>) -> bool {
    check_configured(headers.as_ref(), body, unix_seconds(required(at, "at"))).is_ok()
}

/// Verification with an explicit secret and time, independent of the configuration.
#[pg_extern(immutable, parallel_safe, name = "clerk_verify")]
#[search_path(pg_catalog, pg_temp)]
fn clerk_verify_with_secret(
    headers: Option<RawJsonb>,
    body: Option<&str>,
    secret: Option<&str>,
    at: Option<TimestampWithTimeZone>,
    tolerance_s: default!(Option<i32>, 300),
) -> bool {
    check_explicit(headers.as_ref(), body, secret, at, tolerance_s).is_ok()
}

type ReportRow = (bool, String, Option<String>, Option<String>, Option<TimestampWithTimeZone>);

fn report(outcome: Result<Verified, Rejection>) -> std::iter::Once<ReportRow> {
    let row = match outcome {
        Ok(v) => (true, "verified".to_owned(), None, Some(v.msg_id), to_timestamptz(v.timestamp)),
        Err(r) => (false, r.code().to_owned(), Some(r.to_string()), None, None),
    };
    std::iter::once(row)
}

/// One row saying whether the request verifies at `at` (default: now) and, if not, why. Never
/// shows a secret or MAC.
#[pg_extern(stable, parallel_restricted, name = "clerk_verify_report")]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)] // pgrx reads the column names from the spelled-out type
fn clerk_verify_report(
    headers: Option<RawJsonb>,
    body: Option<&str>,
    at: default!(Option<TimestampWithTimeZone>, "now()"),
) -> TableIterator<
    'static,
    (
        name!(verified, bool),
        name!(reason, String),
        name!(detail, Option<String>),
        name!(msg_id, Option<String>),
        name!(signed_at, Option<TimestampWithTimeZone>),
    ),
> {
    TableIterator::new(report(check_configured(headers.as_ref(), body, unix_seconds(required(at, "at")))))
}

#[pg_extern(immutable, parallel_safe, name = "clerk_verify_report")]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)] // as above
fn clerk_verify_report_with_secret(
    headers: Option<RawJsonb>,
    body: Option<&str>,
    secret: Option<&str>,
    at: Option<TimestampWithTimeZone>,
    tolerance_s: default!(Option<i32>, 300),
) -> TableIterator<
    'static,
    (
        name!(verified, bool),
        name!(reason, String),
        name!(detail, Option<String>),
        name!(msg_id, Option<String>),
        name!(signed_at, Option<TimestampWithTimeZone>),
    ),
> {
    TableIterator::new(report(check_explicit(headers.as_ref(), body, secret, at, tolerance_s)))
}

/// The `svix-signature` value (`v1,<base64>`) Svix would send for this delivery.
#[pg_extern(immutable, parallel_safe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn clerk_sign(secret: &str, msg_id: &str, ts: i64, body: &str) -> String {
    let key = SigningKey::parse(secret).or_report();
    sign(&key, msg_id, ts, body.as_bytes())
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::{bool_query, sqlstate_of, text_query};
    use pgrx::prelude::*;
    use serde_json::{json, Value};

    const VECTORS: &str = include_str!("../../tests/fixtures/signature-vectors.json");
    const EVENT: &str = include_str!("../../tests/fixtures/events/user.created.email.json");
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER_SECRET: &str = "whsec_plJ3nmyCDGBKInavdOK15jsl";
    const TS: i64 = 1_767_225_600;

    fn sign(secret: &str, id: &str, ts: i64, body: &str) -> String {
        text_query("SELECT clerk_sync.clerk_sign($1, $2, $3::bigint, $4)", &[secret, id, &ts.to_string(), body])
            .unwrap()
    }

    fn headers(id: &str, ts: &str, sig: &str) -> String {
        json!({"svix-id": id, "svix-timestamp": ts, "svix-signature": sig, "content-type": "application/json"})
            .to_string()
    }

    /// Verifies with the configured secrets at `at` (Unix seconds).
    fn verify_at(headers: &str, body: &str, at: i64) -> bool {
        bool_query(
            "SELECT clerk_sync.clerk_verify($1::jsonb, $2, to_timestamp($3::bigint))",
            &[headers, body, &at.to_string()],
        )
    }

    fn reason_at(headers: &str, body: &str, at: i64) -> String {
        text_query(
            "SELECT reason FROM clerk_sync.clerk_verify_report($1::jsonb, $2, to_timestamp($3::bigint))",
            &[headers, body, &at.to_string()],
        )
        .unwrap()
    }

    fn add_secret(secret: &str, label: &str) {
        text_query("SELECT clerk_sync.add_secret($1, $2)", &[secret, label]).unwrap();
    }

    fn body() -> &'static str {
        EVENT.trim_end()
    }

    #[pg_test]
    fn every_shared_vector_through_sql() {
        let doc: Value = serde_json::from_str(VECTORS).unwrap();
        for (group, expected) in [("valid", true), ("invalid", false)] {
            let cases = doc[group].as_array().unwrap();
            assert!(!cases.is_empty());
            for case in cases {
                let ts = case["timestamp"].as_i64().unwrap().to_string();
                let h = headers(case["msg_id"].as_str().unwrap(), &ts, case["signature"].as_str().unwrap());
                let ok = bool_query(
                    "SELECT clerk_sync.clerk_verify($1::jsonb, $2, $3, to_timestamp($4::bigint))",
                    &[&h, case["body"].as_str().unwrap(), case["secret"].as_str().unwrap(), &ts],
                );
                assert_eq!(ok, expected, "{}", case["name"]);
            }
        }
    }

    #[pg_test]
    fn sign_reproduces_the_canonical_vector() {
        let sig = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[pg_test]
    fn tolerance_boundaries_both_directions() {
        add_secret(SECRET, "main");
        let h = headers("msg_1", &TS.to_string(), &sign(SECRET, "msg_1", TS, body()));
        assert!(verify_at(&h, body(), TS + 300));
        assert!(verify_at(&h, body(), TS - 300));
        assert!(!verify_at(&h, body(), TS + 301));
        assert!(!verify_at(&h, body(), TS - 301));
        assert_eq!(reason_at(&h, body(), TS + 301), "timestamp_too_old");
        assert_eq!(reason_at(&h, body(), TS - 301), "timestamp_too_new");
        assert_eq!(reason_at(&h, body(), TS), "verified");

        Spi::run("SELECT clerk_sync.set_setting('timestamp_tolerance', '10')").unwrap();
        assert!(verify_at(&h, body(), TS + 10));
        assert!(!verify_at(&h, body(), TS + 11));
        Spi::run("SELECT clerk_sync.reset_setting('timestamp_tolerance')").unwrap();
        assert!(verify_at(&h, body(), TS + 300));
    }

    #[pg_test]
    fn verify_without_time_uses_now() {
        add_secret(SECRET, "main");
        let now: i64 = Spi::get_one("SELECT extract(epoch FROM now())::bigint").unwrap().unwrap();
        let h = headers("msg_now", &now.to_string(), &sign(SECRET, "msg_now", now, body()));
        assert!(bool_query("SELECT clerk_sync.clerk_verify($1::jsonb, $2)", &[&h, body()]));
        let old = headers("msg_old", &TS.to_string(), &sign(SECRET, "msg_old", TS, body()));
        assert!(!bool_query("SELECT clerk_sync.clerk_verify($1::jsonb, $2)", &[&old, body()]));
    }

    #[pg_test]
    fn non_digit_timestamps_are_malformed() {
        add_secret(SECRET, "main");
        for ts in ["hello", "-1", "1767225600.5", "1767225600abc", "", " ", "1e9", "0x10"] {
            let h = headers("msg_1", ts, &sign(SECRET, "msg_1", TS, body()));
            let reason = reason_at(&h, body(), TS);
            let expected = if ts.trim().is_empty() { "missing_header" } else { "malformed_timestamp" };
            assert_eq!(reason, expected, "{ts:?}");
        }
    }

    #[pg_test]
    fn header_names_any_case_fallback_and_whitespace() {
        add_secret(SECRET, "main");
        let sig = sign(SECRET, "msg_1", TS, body());
        let variants = [
            json!({"SVIX-ID": "msg_1", "Svix-Timestamp": TS.to_string(), "svix-SIGNATURE": sig}),
            json!({"webhook-id": "msg_1", "webhook-timestamp": TS.to_string(), "Webhook-Signature": sig}),
            json!({"svix-id": " msg_1\t", "svix-timestamp": format!(" {TS} "), "svix-signature": format!("  {sig}  ")}),
            json!({"svix-id": "msg_1", "webhook-id": "msg_other", "svix-timestamp": TS.to_string(), "svix-signature": sig}),
        ];
        for h in variants {
            assert!(verify_at(&h.to_string(), body(), TS), "{h}");
        }
        let svix_wins = json!({"svix-id": "msg_other", "webhook-id": "msg_1", "svix-timestamp": TS.to_string(), "svix-signature": sig});
        assert!(!verify_at(&svix_wins.to_string(), body(), TS));
    }

    #[pg_test]
    fn rotation_with_two_secrets() {
        add_secret(SECRET, "old");
        add_secret(OTHER_SECRET, "new");
        let by_old = headers("msg_r", &TS.to_string(), &sign(SECRET, "msg_r", TS, body()));
        let by_new = headers("msg_r", &TS.to_string(), &sign(OTHER_SECRET, "msg_r", TS, body()));
        assert!(verify_at(&by_old, body(), TS));
        assert!(verify_at(&by_new, body(), TS));
        Spi::run("SELECT clerk_sync.remove_secret('old')").unwrap();
        assert!(!verify_at(&by_old, body(), TS));
        assert!(verify_at(&by_new, body(), TS));
        assert_eq!(reason_at(&by_old, body(), TS), "no_matching_signature");
    }

    #[pg_test]
    fn the_body_is_verified_byte_for_byte() {
        add_secret(SECRET, "main");
        let h = headers("msg_b", &TS.to_string(), &sign(SECRET, "msg_b", TS, body()));
        assert!(verify_at(&h, body(), TS));
        let reserialised = text_query("SELECT $1::jsonb::text", &[body()]).unwrap();
        assert_ne!(reserialised, body());
        assert!(!verify_at(&h, &reserialised, TS));
        assert!(!verify_at(&h, &format!("{} ", body()), TS));
    }

    #[pg_test]
    fn unconfigured_verify_raises_object_not_in_prerequisite_state() {
        let h = headers("m", &TS.to_string(), "v1,x");
        let q = format!("SELECT clerk_sync.clerk_verify('{h}'::jsonb, 'body')");
        assert_eq!(sqlstate_of(&q).as_deref(), Some("55000"));
        let q = format!("SELECT * FROM clerk_sync.clerk_verify_report('{h}'::jsonb, 'body')");
        assert_eq!(sqlstate_of(&q).as_deref(), Some("55000"));
    }

    #[pg_test]
    fn odd_sender_input_never_raises() {
        add_secret(SECRET, "main");
        let long_sig = "v1,".to_owned() + &"A".repeat(100_000);
        let odd_headers = [
            "null",
            "[]",
            "[1,2]",
            "\"svix-id\"",
            "42",
            "{}",
            r#"{"svix-id": 1, "svix-timestamp": 2, "svix-signature": 3}"#,
            r#"{"svix-id": ["a"], "svix-timestamp": {"x": 1}, "svix-signature": null}"#,
            r#"{"svix-id": "a", "svix-timestamp": "99999999999999999999999", "svix-signature": "v1,"}"#,
            r#"{"svix-id": "a", "Svix-Id": "b", "svix-timestamp": "1767225600", "svix-signature": "v1,x"}"#,
            r#"{"svix-id": "\u0001", "svix-timestamp": "1767225600", "svix-signature": "v1,,,, v1 ,"}"#,
        ];
        for h in odd_headers {
            for body in ["", "\u{1}", "{", "ü", "null"] {
                assert!(!verify_at(h, body, TS), "{h} / {body:?}");
                let reason = reason_at(h, body, TS);
                assert_ne!(reason, "verified");
            }
        }
        let h = json!({"svix-id": "a", "svix-timestamp": TS.to_string(), "svix-signature": long_sig}).to_string();
        assert!(!verify_at(&h, "x", TS));
        assert!(!bool_query("SELECT clerk_sync.clerk_verify(NULL::jsonb, NULL::text, to_timestamp(0))", &[]));
        assert!(!bool_query("SELECT clerk_sync.clerk_verify('{}'::jsonb, NULL::text)", &[]));
    }

    #[pg_test]
    fn random_requests_in_sql_never_raise_nor_verify() {
        add_secret(SECRET, "main");
        let any_verified = bool_query(
            "SELECT bool_or(clerk_sync.clerk_verify(
                 jsonb_build_object(
                     CASE WHEN i % 3 = 0 THEN 'Svix-Id' ELSE 'webhook-id' END, md5(i::text),
                     'svix-timestamp', CASE WHEN i % 5 = 0 THEN md5(i::text) ELSE (1767225600 + i % 700 - 350)::text END,
                     'svix-signature', 'v1,' || encode(sha256(i::text::bytea), 'base64') || ' v2,' || md5(i::text)),
                 repeat(md5(i::text), i % 40),
                 to_timestamp(1767225600)))
             FROM generate_series(1, 3000) AS i",
            &[],
        );
        assert!(!any_verified);
    }

    #[pg_test]
    fn explicit_secret_variant_checks_its_arguments() {
        let h = headers("m", &TS.to_string(), "v1,x");
        assert_eq!(
            sqlstate_of(&format!("SELECT clerk_sync.clerk_verify('{h}'::jsonb, 'b', 'not base64!', now())")).as_deref(),
            Some("22023")
        );
        assert_eq!(
            sqlstate_of(&format!("SELECT clerk_sync.clerk_verify('{h}'::jsonb, 'b', '{SECRET}', NULL)")).as_deref(),
            Some("22004")
        );
        assert_eq!(
            sqlstate_of(&format!("SELECT clerk_sync.clerk_verify('{h}'::jsonb, 'b', '{SECRET}', now(), -1)"))
                .as_deref(),
            Some("22023")
        );
    }

    #[pg_test]
    fn reports_never_show_the_secret_or_the_mac() {
        add_secret(SECRET, "main");
        let expected_sig = sign(SECRET, "msg_1", TS, body());
        let mac = expected_sig.trim_start_matches("v1,");
        let h = headers("msg_1", &TS.to_string(), "v1,AAAA");
        let everything = text_query(
            "SELECT string_agg(r::text, ' ') FROM (
                 SELECT * FROM clerk_sync.clerk_verify_report($1::jsonb, $2, to_timestamp(1767225600))
                 UNION ALL SELECT * FROM clerk_sync.clerk_verify_report($1::jsonb, $2, to_timestamp(1767229999))
             ) r",
            &[&h, body()],
        )
        .unwrap();
        assert!(everything.contains("no_matching_signature"), "{everything}");
        assert!(!everything.contains(mac), "{everything}");
        assert!(!everything.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "{everything}");
    }
}
