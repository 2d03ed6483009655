//! Helpers for the `#[pg_test]` modules.

use pgrx::prelude::*;

/// Runs `query` in a subtransaction and returns the SQLSTATE it raised, or None when it succeeded.
pub fn sqlstate_of(query: &str) -> Option<String> {
    match crate::postgres::subtransaction::attempt(|| Spi::run(query)) {
        Ok(Ok(())) => None,
        Ok(Err(error)) => panic!("{query}: {error}"),
        Err(failure) => Some(failure.sqlstate),
    }
}

pub fn bool_query(query: &str, args: &[&str]) -> bool {
    let args: Vec<pgrx::datum::DatumWithOid> = args.iter().map(|a| (*a).into()).collect();
    Spi::get_one_with_args::<bool>(query, &args).unwrap().expect("query returned NULL")
}

/// The first column of the first row as text; None for NULL or no row.
pub fn text_query(query: &str, args: &[&str]) -> Option<String> {
    let args: Vec<pgrx::datum::DatumWithOid> = args.iter().map(|a| (*a).into()).collect();
    Spi::connect_mut(|client| {
        let mut rows = client.update(query, None, &args)?;
        rows.next().map(|row| row.get::<String>(1)).transpose().map(Option::flatten)
    })
    .unwrap()
}

pub const CREATED: &str = include_str!("../tests/fixtures/events/user.created.email.json");
pub const UPDATED: &str = include_str!("../tests/fixtures/events/user.updated.email.json");
pub const DELETED: &str = include_str!("../tests/fixtures/events/user.deleted.json");
pub const PHONE_ONLY: &str = include_str!("../tests/fixtures/events/user.created.phone-only.json");
pub const UNICODE: &str = include_str!("../tests/fixtures/events/user.created.username-unicode.json");
pub const SESSION: &str = include_str!("../tests/fixtures/events/session.created.json");
pub const PRISMA_SCHEMA: &str = include_str!("../tests/fixtures/prisma_schema.sql");
pub const PRISMA_ORGANIZATIONS: &str = include_str!("../tests/fixtures/prisma_organizations.sql");
pub const ORG_CREATED: &str = include_str!("../tests/fixtures/events/organization.created.json");
pub const ORG_UPDATED: &str = include_str!("../tests/fixtures/events/organization.updated.json");
pub const ORG_DELETED: &str = include_str!("../tests/fixtures/events/organization.deleted.json");
pub const MEMBER_CREATED: &str = include_str!("../tests/fixtures/events/organizationMembership.created.json");
pub const MEMBER_UPDATED: &str = include_str!("../tests/fixtures/events/organizationMembership.updated.json");
pub const MEMBER_DELETED: &str = include_str!("../tests/fixtures/events/organizationMembership.deleted.json");

/// Creates the seed app's tables ("User", "Session", "TrainingData") in public.
pub fn prisma_schema() {
    Spi::run(PRISMA_SCHEMA).unwrap();
}

/// Every delivery keeps its payload (setting `keep_payloads`), as before 0.6.0.
pub fn keep_all_payloads() {
    Spi::run("SELECT clerk_sync.set_setting('keep_payloads', 'all')").unwrap();
}

/// The seed app's tables and the "Organization" and "Membership" of docs/organizations.md.
pub fn prisma_b2b_schema() {
    prisma_schema();
    Spi::run(PRISMA_ORGANIZATIONS).unwrap();
}

pub fn event(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// `clerk_apply` on an event; the outcome word.
pub fn apply(event: &serde_json::Value) -> String {
    text_query("SELECT clerk_sync.clerk_apply($1::jsonb)", &[&event.to_string()]).unwrap()
}

/// `ingest` of an event under a message id; the outcome word.
pub fn ingest(msg_id: &str, event: &serde_json::Value) -> String {
    text_query("SELECT clerk_sync.ingest($1, $2::jsonb)", &[msg_id, &event.to_string()]).unwrap()
}

/// Every "User" row but its random id, as one JSON text, in Clerk id order.
pub fn users() -> String {
    text_query(
        "SELECT coalesce(jsonb_agg(to_jsonb(u) - 'id' ORDER BY u.\"clerkUserId\"), '[]')::text FROM \"User\" u",
        &[],
    )
    .unwrap()
}

/// A column of the "User" row with this Clerk id, as text.
pub fn user_field(clerk_id: &str, column: &str) -> Option<String> {
    text_query(&format!("SELECT \"{column}\"::text FROM \"User\" WHERE \"clerkUserId\" = $1"), &[clerk_id])
}

pub fn count(query: &str) -> i64 {
    Spi::get_one::<i64>(query).unwrap().expect("count is never NULL")
}

pub const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Svix headers (lower-cased, as PostgREST and the proxy forward them) signing `body` now.
pub fn signed_headers(msg_id: &str, body: &str) -> String {
    text_query(
        "SELECT jsonb_build_object('content-type', 'application/json', 'svix-id', $1::text,
                'svix-timestamp', extract(epoch FROM now())::bigint::text,
                'svix-signature', clerk_sync.clerk_sign($3, $1, extract(epoch FROM now())::bigint, $2))::text",
        &[msg_id, body, TEST_SECRET],
    )
    .unwrap()
}

/// `receive` of a body signed now; the JSON answer.
pub fn receive(msg_id: &str, body: &str) -> serde_json::Value {
    let headers = signed_headers(msg_id, body);
    let answer = text_query("SELECT clerk_sync.receive($1::jsonb, $2)::text", &[&headers, body]).unwrap();
    serde_json::from_str(&answer).unwrap()
}

thread_local! {
    static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[pg_guard]
unsafe extern "C-unwind" fn keep_warning(report: *mut pg_sys::ErrorData) {
    // SAFETY: PostgreSQL passes the report being emitted; its message is a C string or NULL.
    unsafe {
        if (*report).elevel == pg_sys::WARNING as i32 && !(*report).message.is_null() {
            let message = std::ffi::CStr::from_ptr((*report).message).to_string_lossy().into_owned();
            WARNINGS.with(|w| w.borrow_mut().push(message));
        }
    }
}

/// Runs `query` and returns the WARNINGs it raised, as the client would see them.
pub fn warnings_of(query: &str) -> Vec<String> {
    // SAFETY: the hook is set for this one statement and restored after it.
    let previous = unsafe { (*std::ptr::addr_of_mut!(pg_sys::emit_log_hook)).replace(keep_warning) };
    let ran = Spi::run(query);
    unsafe { *std::ptr::addr_of_mut!(pg_sys::emit_log_hook) = previous };
    ran.unwrap();
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}
