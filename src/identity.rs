//! The signed-in user, from the session token PostgREST (or Supabase) verified and put in
//! `request.jwt.claims`: `ensure_user()` gives a user whose webhook has not arrived yet a
//! provisional row (`clerk_sync_core::engine::provision`), and `user_id()`, `org_id()`,
//! `org_role()`, `org_slug()` read the claims for row-level security policies. What the claims
//! say is read in `clerk_sync_core::claims`.

use std::ffi::CStr;

use clerk_sync_core::claims::{Claims, PROVISIONAL_MS};
use clerk_sync_core::engine;
use clerk_sync_core::ClerkEvent;
use pgrx::prelude::*;

use crate::config;
use crate::error::ClerkSyncError;
use crate::notify;
use crate::store::SpiStore;
use crate::subtransaction;
use crate::{target, unix_time, user_state};

/// The claims of the current request; None when there are none or they are not a JSON object.
fn request_claims() -> Option<Claims> {
    // SAFETY: GetConfigOption returns NULL for an unknown setting (missing_ok) or a pointer to the
    // setting's current value, valid until it changes; it is copied out at once.
    let value = unsafe { pg_sys::GetConfigOption(c"request.jwt.claims".as_ptr(), true, false) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string owned by the GUC machinery (see above).
    let text = unsafe { CStr::from_ptr(value) }.to_str().ok()?;
    Claims::parse(text)
}

// The four helpers run no SQL, so they need no pinned search_path (which would cost every call
// a GUC save and restore, in a policy evaluated for every row).

/// The signed-in Clerk user's id (`sub`); NULL when there is none.
#[pg_extern(stable, parallel_safe)]
fn user_id() -> Option<String> {
    request_claims()?.user_id().map(str::to_owned)
}

/// The id of the signed-in user's active organization; NULL when there is none.
#[pg_extern(stable, parallel_safe)]
fn org_id() -> Option<String> {
    request_claims()?.org_id().map(str::to_owned)
}

/// The signed-in user's role in the active organization (`org:admin`, `org:member`, …).
#[pg_extern(stable, parallel_safe)]
fn org_role() -> Option<String> {
    request_claims()?.org_role()
}

#[pg_extern(stable, parallel_safe)]
fn org_slug() -> Option<String> {
    request_claims()?.org_slug().map(str::to_owned)
}

/// What `ensure` did: `existing` (clerk_sync knows the user, or the table has the row),
/// `deleted` (the user is deleted: nothing), `created` (a provisional row), `stale` (the user's
/// webhook landed while it waited for the user's lock: nothing to write), `failed` (no row
/// could be written — a WARNING says why — and the request goes on without it, as it would have
/// without clerk_sync); NULL without a user. It never raises for anything the claims or the
/// configuration hold: it runs before every request of the app.
fn ensure(claims: Option<Claims>) -> Option<&'static str> {
    let claims = claims?;
    let clerk_id = claims.user_id()?;
    // Every request after the user's first: one index probe, no subtransaction.
    match user_state::deleted_if_known(clerk_id) {
        Ok(Some(true)) => return Some("deleted"),
        Ok(Some(false)) => return Some("existing"),
        Ok(None) | Err(_) => {}
    }
    let tried = subtransaction::attempt(|| provide(&claims, clerk_id));
    let why = match tried {
        Ok(Ok(outcome)) => return Some(outcome),
        Ok(Err(error)) => error.to_string(),
        Err(failure) => format!("{}: {}", failure.sqlstate, failure.message),
    };
    warning!("clerk_sync: no provisional row for {clerk_id}: {why}");
    Some("failed")
}

/// `ensure`'s work for a user clerk_sync has not seen, in its subtransaction (the engine's mark
/// still refuses a user deleted meanwhile).
fn provide(claims: &Claims, clerk_id: &str) -> Result<&'static str, ClerkSyncError> {
    let settings = config::settings()?;
    if target::plan(&settings.target)?.has_row(clerk_id)? {
        return Ok("existing");
    }
    let Some(user) = claims.provisional_user(unix_time::transaction_start() * 1000) else { return Ok("existing") };
    let channel = settings.notify_channel.clone();
    let outcome = engine::provision(&mut SpiStore::new(settings), &user)?;
    let event = ClerkEvent::Upsert { user, order_ms: PROVISIONAL_MS };
    notify::applied(channel.as_deref(), Some(&event), outcome);
    Ok(outcome.word())
}

/// For PostgREST's `db-pre-request`: when the signed-in user has no row yet (their first request
/// came before their `user.created` webhook), writes a provisional one from the session token's
/// claims, which the user's events then overwrite in place. Does nothing for an anonymous
/// request, a user who has a row, or a deleted user.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn ensure_user() -> Option<&'static str> {
    ensure(request_claims())
}

/// `ensure_user()` for claims the app verified itself.
#[pg_extern(volatile, parallel_unsafe, security_definer, name = "ensure_user")]
#[search_path(pg_catalog, pg_temp)]
fn ensure_user_with(claims: Option<pgrx::JsonB>) -> Option<&'static str> {
    ensure(claims.and_then(|claims| Claims::from_value(claims.0)))
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::json;

    /// Sets the request's claims as PostgREST does (for the transaction).
    fn sign_in(claims: &serde_json::Value) {
        Spi::run_with_args("SELECT set_config('request.jwt.claims', $1, true)", &[claims.to_string().into()]).unwrap();
    }

    fn helpers() -> String {
        text_query(
            "SELECT concat_ws('|', coalesce(clerk_sync.user_id(), '-'), coalesce(clerk_sync.org_id(), '-'), \
             coalesce(clerk_sync.org_role(), '-'), coalesce(clerk_sync.org_slug(), '-'))",
            &[],
        )
        .unwrap()
    }

    #[pg_test]
    fn the_helpers_read_both_token_versions_and_never_raise() {
        assert_eq!(helpers(), "-|-|-|-", "no claims set");
        sign_in(&json!({"sub": "user_1", "org_id": "org_1", "org_role": "org:admin", "org_slug": "acme"}));
        assert_eq!(helpers(), "user_1|org_1|org:admin|acme");
        sign_in(&json!({"v": 2, "sub": "user_2", "o": {"id": "org_2", "rol": "member", "slg": "beta"}}));
        assert_eq!(helpers(), "user_2|org_2|org:member|beta");
        for odd in ["", "not json", "[1, 2]", "{\"sub\": 5, \"v\": 2, \"o\": \"x\"}"] {
            Spi::run_with_args("SELECT set_config('request.jwt.claims', $1, true)", &[odd.into()]).unwrap();
            assert_eq!(helpers(), "-|-|-|-", "{odd}");
        }
    }

    fn ensure_user() -> Option<String> {
        text_query("SELECT clerk_sync.ensure_user()", &[])
    }

    #[pg_test]
    fn a_provisional_row_is_overwritten_in_place_and_never_outlives_a_deletion() {
        prisma_schema();
        assert_eq!(ensure_user(), None, "an anonymous request does nothing");
        let jane =
            json!({"sub": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "email": "jane@token.example", "first_name": "Token"});
        sign_in(&jane);
        assert_eq!(ensure_user().as_deref(), Some("created"));
        let id = text_query("SELECT id FROM \"User\"", &[]).unwrap();
        assert_eq!(
            text_query("SELECT email || ' ' || \"firstName\" || ' ' || username FROM \"User\"", &[]).as_deref(),
            Some("jane@token.example Token jane")
        );
        assert_eq!(ensure_user().as_deref(), Some("existing"));

        assert_eq!(ingest("msg_c", &event(CREATED)), "updated", "the real user.created lands on the provisional row");
        assert_eq!(ingest("msg_u", &event(UPDATED)), "updated");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 1);
        assert_eq!(text_query("SELECT id FROM \"User\"", &[]), Some(id), "same row, same id");
        assert_eq!(text_query("SELECT \"firstName\" FROM \"User\"", &[]).as_deref(), Some("Janet"));

        assert_eq!(ingest("msg_d", &event(DELETED)), "deleted");
        assert_eq!(ensure_user().as_deref(), Some("deleted"), "a token outliving the deletion brings nothing back");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
    }

    #[pg_test]
    fn a_row_the_app_wrote_itself_is_left_alone() {
        prisma_schema();
        Spi::run("INSERT INTO \"User\" (id, email, username, \"clerkUserId\", \"firstName\", \"updatedAt\") VALUES ('app', 'app@example.com', 'app', 'user_app', 'Kept', now())").unwrap();
        sign_in(&json!({"sub": "user_app", "first_name": "Token"}));
        assert_eq!(ensure_user().as_deref(), Some("existing"));
        assert_eq!(text_query("SELECT \"firstName\" FROM \"User\"", &[]).as_deref(), Some("Kept"));
        assert_eq!(count("SELECT count(*) FROM clerk_sync.user_state"), 0);
    }

    #[pg_test]
    fn a_row_that_cannot_be_written_is_a_warning_not_an_error() {
        prisma_schema();
        Spi::run("INSERT INTO \"User\" (id, email, username, \"updatedAt\") VALUES ('app', 'taken@example.com', 'other', now())").unwrap();
        sign_in(&json!({"sub": "user_t", "email": "taken@example.com"}));
        assert_eq!(ensure_user().as_deref(), Some("failed"));
        assert_eq!(count("SELECT count(*) FROM \"User\""), 1);
        assert_eq!(count("SELECT count(*) FROM clerk_sync.user_state"), 0, "rolled back whole");
    }

    #[pg_test]
    fn a_misconfigured_users_table_is_a_warning_not_an_error() {
        prisma_schema();
        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Nobody')").unwrap();
        sign_in(&json!({"sub": "user_m"}));
        assert_eq!(ensure_user().as_deref(), Some("failed"), "the app's request goes on");
    }

    #[pg_test]
    fn claims_given_as_jsonb_and_a_role_with_only_execute() {
        prisma_schema();
        assert_eq!(
            text_query("SELECT clerk_sync.ensure_user('{\"sub\": \"user_j\"}'::jsonb)", &[]).as_deref(),
            Some("created")
        );
        assert_eq!(text_query("SELECT clerk_sync.ensure_user('[]'::jsonb)", &[]), None);
        Spi::run(
            "CREATE ROLE clerk_test_authenticated; \
             GRANT USAGE ON SCHEMA clerk_sync TO clerk_test_authenticated; \
             GRANT EXECUTE ON FUNCTION clerk_sync.ensure_user(), clerk_sync.user_id() TO clerk_test_authenticated; \
             ALTER TABLE \"User\" ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY own_row ON \"User\" FOR SELECT TO clerk_test_authenticated \
                 USING (\"clerkUserId\" = (SELECT clerk_sync.user_id())); \
             GRANT SELECT ON \"User\" TO clerk_test_authenticated; \
             SET ROLE clerk_test_authenticated",
        )
        .unwrap();
        sign_in(&json!({"sub": "user_k", "first_name": "Kay"}));
        assert_eq!(ensure_user().as_deref(), Some("created"), "EXECUTE is all the role needs");
        assert_eq!(
            text_query("SELECT string_agg(\"clerkUserId\", ',') FROM \"User\"", &[]).as_deref(),
            Some("user_k"),
            "the policy shows the user their own row only"
        );
        Spi::run("RESET ROLE").unwrap();
        assert_eq!(count("SELECT count(*) FROM \"User\""), 2);
    }
}
