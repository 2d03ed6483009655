//! `add_secret`, `remove_secret`, `secrets()`: the signing secrets, several at once for rotation.
//! Only the decoded key is stored, in a table PUBLIC cannot read; listings show a fingerprint.

use clerk_sync_core::SigningKey;
use pgrx::prelude::*;

use crate::error::{ClerkSyncError, OrReport};

/// Adds an active secret and returns its fingerprint. Adding a key that is already configured
/// changes nothing (a NOTICE names its label), so set-up scripts may run twice.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn add_secret(secret: Option<&str>, label: default!(Option<&str>, "NULL")) -> String {
    add(secret, label).or_report()
}

fn add(secret: Option<&str>, label: Option<&str>) -> Result<String, ClerkSyncError> {
    let key = SigningKey::parse(secret.ok_or(ClerkSyncError::NullArgument("secret"))?)?;
    let fingerprint = key.fingerprint();
    let label = label.map(str::trim).filter(|l| !l.is_empty()).unwrap_or(&fingerprint).to_owned();
    Spi::connect_mut(|client| {
        let existing = client
            .select(
                "SELECT label FROM clerk_sync.secret WHERE fingerprint = $1",
                Some(1),
                &[fingerprint.clone().into()],
            )?
            .next()
            .map(|row| row.get::<String>(1))
            .transpose()?
            .flatten();
        if let Some(existing) = existing {
            pgrx::notice!("this secret is already configured with label \"{existing}\"");
            return Ok(fingerprint);
        }
        let inserted = client
            .update(
                "INSERT INTO clerk_sync.secret (label, key, fingerprint) VALUES ($1, $2, $3) \
                 ON CONFLICT (label) DO NOTHING RETURNING label",
                None,
                &[label.clone().into(), key.as_bytes().to_vec().into(), fingerprint.clone().into()],
            )?
            .len();
        if inserted == 0 {
            return Err(ClerkSyncError::LabelTaken(label));
        }
        Ok(fingerprint)
    })
}

/// Removes the secret with this label (or fingerprint).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn remove_secret(label: Option<&str>) {
    remove(label).or_report()
}

fn remove(label: Option<&str>) -> Result<(), ClerkSyncError> {
    let label = label.ok_or(ClerkSyncError::NullArgument("label"))?;
    let removed = Spi::connect_mut(|client| {
        client
            .update(
                "DELETE FROM clerk_sync.secret WHERE label = $1 OR fingerprint = $1 RETURNING 1",
                None,
                &[label.into()],
            )
            .map(|rows| rows.len())
    })?;
    if removed == 0 {
        return Err(ClerkSyncError::UnknownSecret(label.to_owned()));
    }
    Ok(())
}

/// The configured secrets: label, fingerprint, when added. Never the secret.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn secrets(
) -> TableIterator<'static, (name!(label, String), name!(fingerprint, String), name!(added_at, TimestampWithTimeZone))>
{
    let rows = Spi::connect(|client| {
        client
            .select("SELECT label, fingerprint, added_at FROM clerk_sync.secret ORDER BY added_at, label", None, &[])?
            .map(|row| {
                Ok((
                    row.get::<String>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<TimestampWithTimeZone>(3)?.expect("added_at is NOT NULL"),
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .or_report();
    TableIterator::new(rows)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::{bool_query, sqlstate_of, text_query};
    use pgrx::prelude::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BARE: &str = "plJ3nmyCDGBKInavdOK15jsl";

    fn signed_headers(secret: &str) -> String {
        let sig = text_query("SELECT clerk_sync.clerk_sign($1, 'msg_s', 1767225600, 'body')", &[secret]).unwrap();
        serde_json::json!({"svix-id": "msg_s", "svix-timestamp": "1767225600", "svix-signature": sig}).to_string()
    }

    fn verifies(secret: &str) -> bool {
        bool_query(
            "SELECT clerk_sync.clerk_verify($1::jsonb, 'body', to_timestamp(1767225600))",
            &[&signed_headers(secret)],
        )
    }

    #[pg_test]
    fn add_accepts_whsec_and_bare_base64_and_returns_the_fingerprint() {
        let fp = text_query("SELECT clerk_sync.add_secret($1)", &[SECRET]).unwrap();
        assert_eq!(fp.len(), 16);
        assert_eq!(text_query("SELECT label FROM clerk_sync.secrets()", &[]).unwrap(), fp);
        text_query("SELECT clerk_sync.add_secret($1, 'bare')", &[BARE]).unwrap();
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM clerk_sync.secrets()").unwrap(), Some(2));
        assert!(verifies(SECRET));
        assert!(verifies(BARE));
    }

    #[pg_test]
    fn add_rejects_empty_and_non_base64_with_22023() {
        for bad in ["", "whsec_", "   ", "whsec_not base64!", "@@@@"] {
            let q = format!("SELECT clerk_sync.add_secret('{bad}')");
            assert_eq!(sqlstate_of(&q).as_deref(), Some("22023"), "{bad:?}");
        }
        assert_eq!(sqlstate_of("SELECT clerk_sync.add_secret(NULL)").as_deref(), Some("22004"));
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM clerk_sync.secret").unwrap(), Some(0));
    }

    #[pg_test]
    fn adding_the_same_key_twice_changes_nothing_and_labels_are_unique() {
        let first = text_query("SELECT clerk_sync.add_secret($1, 'a')", &[SECRET]).unwrap();
        let again = text_query("SELECT clerk_sync.add_secret($1, 'b')", &[SECRET]).unwrap();
        assert_eq!(first, again);
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM clerk_sync.secret").unwrap(), Some(1));
        let q = format!("SELECT clerk_sync.add_secret('{BARE}', 'a')");
        assert_eq!(sqlstate_of(&q).as_deref(), Some("42710"));
    }

    #[pg_test]
    fn remove_by_label_or_fingerprint_and_unknown_is_42704() {
        text_query("SELECT clerk_sync.add_secret($1, 'a')", &[SECRET]).unwrap();
        let fp = text_query("SELECT clerk_sync.add_secret($1, 'b')", &[BARE]).unwrap();
        Spi::run("SELECT clerk_sync.remove_secret('a')").unwrap();
        assert!(!verifies(SECRET));
        Spi::run_with_args("SELECT clerk_sync.remove_secret($1)", &[fp.as_str().into()]).unwrap();
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM clerk_sync.secret").unwrap(), Some(0));
        assert_eq!(sqlstate_of("SELECT clerk_sync.remove_secret('a')").as_deref(), Some("42704"));
    }

    #[pg_test]
    fn the_listing_never_contains_the_secret() {
        text_query("SELECT clerk_sync.add_secret($1, 'main')", &[SECRET]).unwrap();
        let listing = text_query("SELECT string_agg(s::text, ' ') FROM clerk_sync.secrets() s", &[]).unwrap();
        assert!(listing.contains("main"));
        assert!(!listing.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "{listing}");
        let hex_key = text_query("SELECT encode(key, 'hex') FROM clerk_sync.secret", &[]).unwrap();
        assert!(!listing.contains(&hex_key));
    }

    #[pg_test]
    fn a_rolled_back_change_is_not_used() {
        let headers = signed_headers(SECRET);
        Spi::run(&format!(
            "DO $$ BEGIN
                     PERFORM clerk_sync.add_secret('{SECRET}');
                     IF clerk_sync.clerk_verify('{headers}'::jsonb, 'body', to_timestamp(1767225600)) THEN
                         RAISE EXCEPTION 'seen, now roll back';
                     END IF;
                 EXCEPTION WHEN raise_exception THEN
                     PERFORM set_config('clerk_sync_test.outcome', SQLERRM, true);
                 END $$"
        ))
        .unwrap();
        let outcome = text_query("SELECT current_setting('clerk_sync_test.outcome', true)", &[]);
        assert_eq!(outcome.as_deref(), Some("seen, now roll back"));
        text_query("SELECT clerk_sync.add_secret($1)", &[BARE]).unwrap();
        assert!(!verifies(SECRET));
        assert!(verifies(BARE));
    }

    #[pg_test]
    fn direct_dml_on_the_tables_is_seen_at_once() {
        text_query("SELECT clerk_sync.add_secret($1, 'main')", &[SECRET]).unwrap();
        assert!(verifies(SECRET));
        Spi::run("DELETE FROM clerk_sync.secret").unwrap();
        assert_eq!(sqlstate_of("SELECT clerk_sync.clerk_verify('{}'::jsonb, '')").as_deref(), Some("55000"));
        assert_eq!(
            sqlstate_of("INSERT INTO clerk_sync.setting VALUES ('timestamp_tolerance', 'soon')").as_deref(),
            Some("22023")
        );
        assert_eq!(sqlstate_of("SELECT clerk_sync.set_setting('no_such', '1')").as_deref(), Some("42704"));
    }

    #[pg_test]
    fn public_cannot_read_secrets_even_with_a_warm_cache() {
        text_query("SELECT clerk_sync.add_secret($1, 'main')", &[SECRET]).unwrap();
        assert!(verifies(SECRET));
        Spi::run(
            "CREATE ROLE clerk_sync_test_intruder NOLOGIN;
             GRANT USAGE ON SCHEMA clerk_sync TO clerk_sync_test_intruder;",
        )
        .unwrap();
        Spi::run("SET LOCAL ROLE clerk_sync_test_intruder").unwrap();
        let read = sqlstate_of("SELECT * FROM clerk_sync.secret");
        let call = sqlstate_of("SELECT clerk_sync.clerk_verify('{}'::jsonb, '')");
        let list = sqlstate_of("SELECT * FROM clerk_sync.secrets()");
        Spi::run("RESET ROLE").unwrap();
        assert_eq!(read.as_deref(), Some("42501"));
        assert_eq!(call.as_deref(), Some("42501"));
        assert_eq!(list.as_deref(), Some("42501"));

        Spi::run("GRANT EXECUTE ON FUNCTION clerk_sync.clerk_verify(jsonb, text) TO clerk_sync_test_intruder").unwrap();
        Spi::run("SET LOCAL ROLE clerk_sync_test_intruder").unwrap();
        let call = sqlstate_of("SELECT clerk_sync.clerk_verify('{}'::jsonb, '')");
        Spi::run("RESET ROLE").unwrap();
        assert_eq!(call.as_deref(), Some("42501"), "the cached secrets must not serve a role that cannot read them");
    }

    #[pg_test]
    fn tables_are_registered_for_pg_dump() {
        let dumped = text_query(
            "SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
             FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'clerk_sync'",
            &[],
        )
        .unwrap();
        assert_eq!(
            dumped,
            "clerk_sync.inbox,clerk_sync.secret,clerk_sync.setting,clerk_sync.user_state,clerk_sync.username_claim"
        );
    }
}
