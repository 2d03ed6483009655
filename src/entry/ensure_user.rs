//! `ensure_user()`: the signed-in user's row id, and a provisional row
//! (`clerk_sync_core::apply::engine::provision`) for a user whose webhook has not arrived yet. Who is
//! signed in is the session token's (`session_token`).

use clerk_sync_core::apply::engine;
use clerk_sync_core::session::authorization::Access;
use clerk_sync_core::session::claims::{Claims, PROVISIONAL_MS};
use clerk_sync_core::ClerkEvent;
use pgrx::prelude::*;

use crate::app_tables::users;
use crate::entry::session_token;
use crate::error::ClerkSyncError;
use crate::own_tables::config_cache;
use crate::own_tables::user_state;
use crate::postgres::notify;
use crate::postgres::subtransaction::{self, Failure};
use crate::postgres::unix_time;
use crate::store::SpiStore;

/// The signed-in user's row id: the row's id when the table has one; else, for a user
/// clerk_sync has not seen, a provisional row's (`provide`). NULL without a user (no claims, or a
/// `sub` that is no Clerk user id), for a deleted user, for a known user whose row is gone, when
/// there is no row yet in a read-only transaction (PostgREST's GET and HEAD: the first writing
/// request creates it), and when no row could be written — a WARNING says so with the SQLSTATE,
/// naming no constraint and no value. It never raises for anything the claims, the
/// configuration or the transaction hold: it runs before every request of the app.
fn ensure(claims: Option<&Claims>, access: &Access) -> Option<String> {
    let claims = claims?;
    access.user_id.as_ref()?;
    let clerk_id = claims.clerk_user_id()?;
    let tried = subtransaction::attempt(|| -> Result<Option<String>, ClerkSyncError> {
        let settings = config_cache::settings()?;
        let known = user_state::deleted_if_known(clerk_id)?;
        if known == Some(true) {
            debug1!("clerk_sync: ensure_user {clerk_id}: deleted");
            return Ok(None);
        }
        let plan = users::plan(&settings.target)?;
        let row = plan.row_id(clerk_id)?;
        if row.is_some() || known.is_some() || read_only() {
            debug1!("clerk_sync: ensure_user {clerk_id}: {}", if row.is_some() { "existing" } else { "no row" });
            return Ok(row);
        }
        let outcome = provide(claims, settings)?;
        debug1!("clerk_sync: ensure_user {clerk_id}: {outcome}");
        plan.row_id(clerk_id)
    });
    let sqlstate = match tried {
        Ok(Ok(id)) => return id,
        Ok(Err(error)) => Failure::from(&error).sqlstate,
        Err(failure) => failure.sqlstate,
    };
    warning!("clerk_sync: no row for {clerk_id} (SQLSTATE {sqlstate}); the request goes on without one");
    None
}

/// Whether this transaction may not write (`SET TRANSACTION READ ONLY`, as PostgREST runs GET and
/// HEAD, or a standby).
fn read_only() -> bool {
    // SAFETY: plain reads of the backend's transaction state.
    unsafe { pg_sys::XactReadOnly || pg_sys::RecoveryInProgress() }
}

/// A provisional row for a user clerk_sync has not seen (the engine's mark still refuses a user
/// deleted meanwhile; a user whose webhook landed while this waited for the user's lock is left
/// as the webhook wrote it).
fn provide(claims: &Claims, settings: std::rc::Rc<clerk_sync_core::Settings>) -> Result<&'static str, ClerkSyncError> {
    let Some(user) = claims.provisional_user(unix_time::transaction_start() * 1000) else { return Ok("no user") };
    let channel = settings.notify_channel.clone();
    let outcome = engine::provision(&mut SpiStore::new(settings), &user)?;
    let event = ClerkEvent::Upsert { user, order_ms: PROVISIONAL_MS };
    notify::applied(channel.as_deref(), Some(&event), outcome);
    Ok(outcome.word())
}

/// For PostgREST's `db-pre-request`, or an app's own code: the signed-in user's row id. When the
/// user has no row yet (their first request came before their `user.created` webhook), writes a
/// provisional one from the session token's claims, which the user's events then overwrite in
/// place. NULL for an anonymous request or a deleted user (see `ensure`).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn ensure_user() -> Option<String> {
    let token = session_token::current();
    ensure(token.claims.as_ref(), &token.access)
}

/// `ensure_user()` for claims the app verified itself.
#[pg_extern(volatile, parallel_unsafe, security_definer, name = "ensure_user")]
#[search_path(pg_catalog, pg_temp)]
fn ensure_user_with(claims: Option<pgrx::JsonB>) -> Option<String> {
    let claims = claims.and_then(|claims| Claims::from_value(claims.0));
    let access = session_token::decide(claims.as_ref(), session_token::pending_sessions());
    ensure(claims.as_ref(), &access)
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
        let id = ensure_user().expect("the new row's id");
        assert_eq!(text_query("SELECT id FROM \"User\"", &[]).as_deref(), Some(&*id), "the row id, not a word");
        assert_eq!(
            text_query("SELECT email || ' ' || \"firstName\" || ' ' || username FROM \"User\"", &[]).as_deref(),
            Some("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG@no-email.invalid Token user_2zqma7bxkp4rlwn9st1vc3de5fg"),
            "no email or username from claims: another user's real event may need them"
        );
        assert_eq!(ensure_user(), Some(id.clone()), "the same id on every request");

        assert_eq!(ingest("msg_c", &event(CREATED)), "updated", "the real user.created lands on the provisional row");
        assert_eq!(ingest("msg_u", &event(UPDATED)), "updated");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 1);
        assert_eq!(text_query("SELECT id FROM \"User\"", &[]), Some(id.clone()), "same row, same id");
        assert_eq!(text_query("SELECT \"firstName\" FROM \"User\"", &[]).as_deref(), Some("Janet"));
        assert_eq!(ensure_user(), Some(id));

        assert_eq!(ingest("msg_d", &event(DELETED)), "deleted");
        assert_eq!(ensure_user(), None, "a token outliving the deletion brings nothing back");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
    }

    #[pg_test]
    fn a_row_the_app_wrote_itself_is_left_alone() {
        prisma_schema();
        Spi::run("INSERT INTO \"User\" (id, email, username, \"clerkUserId\", \"firstName\", \"updatedAt\") VALUES ('app', 'app@example.com', 'app', 'user_app', 'Kept', now())").unwrap();
        sign_in(&json!({"sub": "user_app", "first_name": "Token"}));
        assert_eq!(ensure_user().as_deref(), Some("app"));
        assert_eq!(text_query("SELECT \"firstName\" FROM \"User\"", &[]).as_deref(), Some("Kept"));
        assert_eq!(count("SELECT count(*) FROM clerk_sync.user_state"), 0);
    }

    #[pg_test]
    fn forged_claims_cannot_hold_what_a_real_user_needs() {
        prisma_schema();
        let jane = "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG";
        // Claims anyone with EXECUTE on ensure_user(claims) can write: the real Jane's email and
        // username, a sub of another kind, a 10 KB sub, a 50-million-character name.
        let forged = json!({"sub": "user_forger", "email": "jane.doe@example.com", "username": "jane.doe"});
        assert!(text_query("SELECT clerk_sync.ensure_user($1::jsonb)", &[&forged.to_string()]).is_some());
        for odd in
            [json!({"sub": "org_2zR8kLmN4pQ6sT9vW1xY3zA5bC"}), json!({"sub": format!("user_{}", "a".repeat(10_000))})]
        {
            assert_eq!(text_query("SELECT clerk_sync.ensure_user($1::jsonb)", &[&odd.to_string()]), None);
        }
        let huge = json!({"sub": "user_huge", "first_name": "x".repeat(50_000_000)}).to_string();
        assert!(text_query("SELECT clerk_sync.ensure_user($1::jsonb)", &[&huge]).is_some());
        assert_eq!(count("SELECT count(*) FROM \"User\" WHERE length(\"firstName\") > 256"), 0, "left out");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 2, "the forger and the huge-name user, nothing else");

        assert_eq!(ingest("msg_jane", &event(CREATED)), "created", "the real user.created is never blocked");
        assert_eq!(
            text_query("SELECT email || ' ' || username FROM \"User\" WHERE \"clerkUserId\" = $1", &[jane]).as_deref(),
            Some("jane.doe@example.com jane.doe")
        );
    }

    #[pg_test]
    fn a_row_that_cannot_be_written_is_a_warning_naming_nothing() {
        prisma_schema();
        Spi::run("ALTER TABLE \"User\" ADD CONSTRAINT \"secret_rule\" CHECK (\"firstName\" <> 'Forbidden')").unwrap();
        sign_in(&json!({"sub": "user_t", "first_name": "Forbidden"}));
        let warning = warnings_of("SELECT clerk_sync.ensure_user()");
        assert_eq!(ensure_user(), None, "the request goes on without a row");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
        assert_eq!(count("SELECT count(*) FROM clerk_sync.user_state"), 0, "rolled back whole");
        assert_eq!(warning, ["clerk_sync: no row for user_t (SQLSTATE 23514); the request goes on without one"]);
    }

    #[pg_test]
    fn a_misconfigured_users_table_is_a_warning_not_an_error() {
        prisma_schema();
        Spi::run("SELECT clerk_sync.set_setting('target_table', 'Nobody')").unwrap();
        sign_in(&json!({"sub": "user_m"}));
        assert_eq!(ensure_user(), None, "the app's request goes on");
    }

    #[pg_test]
    fn a_read_only_transaction_never_raises() {
        prisma_schema();
        sign_in(&json!({"sub": "user_ro"}));
        Spi::run("SET TRANSACTION READ ONLY").unwrap();
        assert_eq!(ensure_user(), None, "no row yet, and none written: the first writing request makes it");
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0);
    }

    #[pg_test]
    fn a_read_only_transaction_gets_the_existing_id() {
        prisma_schema();
        sign_in(&json!({"sub": "user_ro"}));
        let id = ensure_user().expect("created");
        Spi::run("SET TRANSACTION READ ONLY").unwrap();
        assert_eq!(ensure_user(), Some(id));
    }

    #[pg_test]
    fn claims_given_as_jsonb_and_a_role_with_only_execute() {
        prisma_schema();
        assert_eq!(
            text_query("SELECT clerk_sync.ensure_user('{\"sub\": \"user_j\"}'::jsonb)", &[]),
            text_query("SELECT id FROM \"User\" WHERE \"clerkUserId\" = 'user_j'", &[])
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
        assert!(ensure_user().is_some(), "EXECUTE is all the role needs");
        assert_eq!(
            text_query("SELECT string_agg(\"clerkUserId\", ',') FROM \"User\"", &[]).as_deref(),
            Some("user_k"),
            "the policy shows the user their own row only"
        );
        Spi::run("RESET ROLE").unwrap();
        assert_eq!(count("SELECT count(*) FROM \"User\""), 2);
    }
}
