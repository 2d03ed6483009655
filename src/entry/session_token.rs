//! The request's Clerk session token, as PostgREST (or Supabase) verified it and put its claims in
//! `request.jwt.claims`, and the helpers row-level security policies ask it: who is signed in,
//! the active organization, and Clerk's `has()` for a role, a permission, a feature, a plan.
//! Every decision is `clerk_sync_core::session::authorization::Access`'s.
//!
//! A policy calls these once per row. The claims are parsed once per distinct text of the
//! setting (and value of `pending_sessions`) and kept; every later call compares the text and
//! answers from what was decided. The helpers pin no search_path (it would cost every call a GUC
//! save and restore): the only SQL they reach — the settings, once per backend — names
//! everything schema-qualified and runs with a pinned path of its own.

use std::cell::RefCell;
use std::ffi::CStr;
use std::rc::Rc;

use clerk_sync_core::session::authorization::{session_status as sts, Access, PendingSessions};
use clerk_sync_core::session::claims::Claims;
use pgrx::prelude::*;

use crate::own_tables::config_cache;

/// One token, decided.
pub struct Token {
    text: Box<[u8]>,
    pending: PendingSessions,
    pub claims: Option<Claims>,
    pub access: Access,
}

thread_local! {
    static LAST: RefCell<Option<Rc<Token>>> = const { RefCell::new(None) };
}

/// `pending_sessions`, or signed out (Clerk's default) when the settings cannot be read.
pub fn pending_sessions() -> PendingSessions {
    config_cache::settings().map(|s| s.pending_sessions).unwrap_or_default()
}

/// What `claims` allow.
pub fn decide(claims: Option<&Claims>, pending: PendingSessions) -> Access {
    claims.map(|c| Access::of(c.object(), pending)).unwrap_or_default()
}

/// The current request's token.
pub fn current() -> Rc<Token> {
    // SAFETY: GetConfigOption returns NULL for an unknown setting (missing_ok) or a pointer to the
    // setting's current value, valid until it changes; it is only read here.
    let value = unsafe { pg_sys::GetConfigOption(c"request.jwt.claims".as_ptr(), true, false) };
    let text: &[u8] = if value.is_null() { b"" } else { unsafe { CStr::from_ptr(value) }.to_bytes() };
    let pending = pending_sessions();
    if let Some(token) =
        LAST.with(|last| last.borrow().as_ref().filter(|t| &*t.text == text && t.pending == pending).cloned())
    {
        return token;
    }
    let claims = std::str::from_utf8(text).ok().and_then(Claims::parse);
    let access = decide(claims.as_ref(), pending);
    let token = Rc::new(Token { text: text.into(), pending, claims, access });
    LAST.with(|last| *last.borrow_mut() = Some(token.clone()));
    token
}

/// The claims object; NULL when the setting is unset, empty or not a JSON object (as Supabase's
/// `auth.jwt()`). A pending session's claims are shown as they are.
#[pg_extern(stable, parallel_safe)]
fn jwt() -> Option<pgrx::JsonB> {
    current().claims.as_ref().map(|c| pgrx::JsonB(serde_json::Value::Object(c.object().clone())))
}

/// The `sts` claim (`active`, `pending`, …); NULL when absent.
#[pg_extern(stable, parallel_safe)]
fn session_status() -> Option<String> {
    current().claims.as_ref().and_then(|c| sts(c.object())).map(str::to_owned)
}

/// The signed-in Clerk user's id (`sub`); NULL when there is none.
#[pg_extern(stable, parallel_safe)]
fn user_id() -> Option<String> {
    current().access.user_id.clone()
}

/// The id of the signed-in user's active organization; NULL when there is none.
#[pg_extern(stable, parallel_safe)]
fn org_id() -> Option<String> {
    current().access.organization.as_ref().map(|o| o.id.clone())
}

/// The signed-in user's role in the active organization (`org:admin`, `org:member`, …).
#[pg_extern(stable, parallel_safe)]
fn org_role() -> Option<String> {
    current().access.organization.as_ref().and_then(|o| o.role.clone())
}

#[pg_extern(stable, parallel_safe)]
fn org_slug() -> Option<String> {
    current().access.organization.as_ref().and_then(|o| o.slug.clone())
}

/// The active organization's permissions (`org:<feature>:<permission>`); `{}` with an active
/// organization and none; NULL without one.
#[pg_extern(stable, parallel_safe)]
fn org_permissions() -> Option<Vec<String>> {
    current().access.org_permissions().map(<[String]>::to_vec)
}

/// Clerk's `has({ role })`: the active organization's role is `role` (`admin` = `org:admin`).
#[pg_extern(stable, parallel_safe)]
fn has_role(role: Option<&str>) -> bool {
    role.is_some_and(|role| current().access.has_role(role))
}

/// Clerk's `has({ permission })`.
#[pg_extern(stable, parallel_safe)]
fn has_permission(permission: Option<&str>) -> bool {
    permission.is_some_and(|permission| current().access.has_permission(permission))
}

/// Clerk's `has({ feature })`: `org:`/`o:`/`organization:` the organization's, `user:`/`u:` the
/// user's, no scope either.
#[pg_extern(stable, parallel_safe)]
fn has_feature(feature: Option<&str>) -> bool {
    feature.is_some_and(|feature| current().access.has_feature(feature))
}

/// Clerk's `has({ plan })`, with the same scopes.
#[pg_extern(stable, parallel_safe)]
fn has_plan(plan: Option<&str>) -> bool {
    plan.is_some_and(|plan| current().access.has_plan(plan))
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::json;

    fn sign_in(claims: &str) {
        Spi::run_with_args("SELECT set_config('request.jwt.claims', $1, true)", &[claims.into()]).unwrap();
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
        sign_in(&json!({"sub": "user_1", "org_id": "org_1", "org_role": "org:admin", "org_slug": "acme"}).to_string());
        assert_eq!(helpers(), "user_1|org_1|org:admin|acme");
        sign_in(&json!({"v": 2, "sub": "user_2", "o": {"id": "org_2", "rol": "member", "slg": "beta"}}).to_string());
        assert_eq!(helpers(), "user_2|org_2|org:member|beta");
        for odd in ["", "not json", "[1, 2]", "{\"sub\": 5, \"v\": 2, \"o\": \"x\"}"] {
            Spi::run_with_args("SELECT set_config('request.jwt.claims', $1, true)", &[odd.into()]).unwrap();
            assert_eq!(helpers(), "-|-|-|-", "{odd}");
        }
    }

    fn answers() -> String {
        text_query(
            "SELECT concat_ws('|', coalesce(clerk_sync.user_id(), '-'), coalesce(clerk_sync.org_id(), '-'), \
             coalesce(clerk_sync.org_role(), '-'), coalesce(clerk_sync.org_permissions()::text, '-'), \
             clerk_sync.has_role('admin'), clerk_sync.has_permission('org:invoices:read'), \
             clerk_sync.has_feature('export'), clerk_sync.has_plan('pro'), coalesce(clerk_sync.session_status(), '-'))",
            &[],
        )
        .unwrap()
    }

    #[pg_test]
    fn a_v2_token_decides_as_clerks_has() {
        sign_in(
            &json!({"v": 2, "sub": "user_1", "sts": "active", "fea": "o:invoices,u:export", "pla": "u:pro",
                    "o": {"id": "org_1", "rol": "admin", "per": "read,manage", "fpm": "1"}})
            .to_string(),
        );
        assert_eq!(answers(), "user_1|org_1|org:admin|{org:invoices:read}|t|t|t|t|active");
    }

    #[pg_test]
    fn a_v1_token_and_no_token() {
        assert_eq!(answers(), "-|-|-|-|f|f|f|f|-", "no claims: signed out, false never NULL");
        sign_in(&json!({"sub": "user_1", "org_id": "org_1", "org_role": "org:member", "org_permissions": ["org:invoices:read"]}).to_string());
        assert_eq!(answers(), "user_1|org_1|org:member|{org:invoices:read}|f|t|f|f|-");
        assert!(!bool_query("SELECT clerk_sync.has_role(NULL) OR clerk_sync.has_permission(NULL) OR clerk_sync.has_feature(NULL) OR clerk_sync.has_plan(NULL)", &[]));
    }

    #[pg_test]
    fn odd_claims_raise_nothing() {
        for odd in [
            "",
            "not json",
            "[1]",
            "{\"sub\": 7, \"v\": 2, \"o\": \"x\"}",
            "{\"sub\": \"user_1\", \"fea\": \"nocolon\"}",
            "{\"sub\": \"user_1\", \"v\": 2, \"o\": {\"id\": \"org_1\", \"fpm\": \"x,99999999999999999999999\"}}",
        ] {
            sign_in(odd);
            let answered = answers();
            assert!(answered.contains("|f|f|f|f|"), "{odd}: {answered}");
        }
        sign_in("[1]");
        assert_eq!(text_query("SELECT coalesce(clerk_sync.jwt()::text, 'NULL')", &[]).as_deref(), Some("NULL"));
    }

    #[pg_test]
    fn a_pending_session_is_signed_out_unless_the_setting_says_otherwise() {
        prisma_schema();
        let pending = json!({"sub": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "sts": "pending", "org_id": "org_1",
                             "org_role": "org:admin", "fea": "u:export"});
        sign_in(&pending.to_string());
        assert_eq!(answers(), "-|-|-|-|f|f|f|f|pending", "session_status() shows it as it is");
        assert_eq!(text_query("SELECT clerk_sync.jwt() ->> 'sts'", &[]).as_deref(), Some("pending"));
        assert_eq!(text_query("SELECT clerk_sync.ensure_user()", &[]), None);
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0, "a pending session creates nothing");
        assert_eq!(text_query("SELECT clerk_sync.ensure_user($1::jsonb)", &[&pending.to_string()]), None);

        Spi::run("SELECT clerk_sync.set_setting('pending_sessions', 'signed_in')").unwrap();
        assert_eq!(answers(), "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG|org_1|org:admin|{}|t|f|t|f|pending");
        assert!(text_query("SELECT clerk_sync.ensure_user()", &[]).is_some());
        assert_eq!(sqlstate_of("SELECT clerk_sync.set_setting('pending_sessions', 'maybe')").as_deref(), Some("22023"));
    }

    #[pg_test]
    fn a_new_token_in_the_same_transaction_is_read_anew() {
        sign_in(&json!({"sub": "user_a", "org_id": "org_a", "org_role": "org:admin"}).to_string());
        assert_eq!(
            text_query("SELECT clerk_sync.user_id() || clerk_sync.has_role('admin')::text", &[]).as_deref(),
            Some("user_atrue")
        );
        sign_in(&json!({"sub": "user_b", "org_id": "org_a", "org_role": "org:member"}).to_string());
        assert_eq!(
            text_query("SELECT clerk_sync.user_id() || clerk_sync.has_role('admin')::text", &[]).as_deref(),
            Some("user_bfalse")
        );
    }

    #[pg_test]
    fn a_role_with_only_execute_gets_the_setting_it_may_not_read() {
        Spi::run("SELECT clerk_sync.set_setting('pending_sessions', 'signed_in')").unwrap();
        Spi::run(
            "CREATE ROLE clerk_test_policy; GRANT USAGE ON SCHEMA clerk_sync TO clerk_test_policy; \
             GRANT EXECUTE ON FUNCTION clerk_sync.user_id() TO clerk_test_policy; SET ROLE clerk_test_policy",
        )
        .unwrap();
        sign_in(&json!({"sub": "user_p", "sts": "pending"}).to_string());
        assert_eq!(text_query("SELECT clerk_sync.user_id()", &[]).as_deref(), Some("user_p"));
        assert!(sqlstate_of("SELECT count(*) FROM clerk_sync.setting").is_some(), "the table itself stays closed");
        Spi::run("RESET ROLE").unwrap();
    }
}
