//! What `clerk-sync-proxy sync --reconcile` asks of the database once it has listed every user,
//! organization and membership of Clerk's Backend API: which of them the tables hold that the
//! listings did not have, and their removal, like their deletion events would (tombstone, row,
//! erasure) but never of one for which anything newer than the listing's start was applied
//! (`ClerkEvent::Unlisted` in the core). Like `backfill`, each runs as the extension's owner, so
//! that the role `sync` connects as needs EXECUTE on them and nothing else.

use clerk_sync_core::event::Object;
use clerk_sync_core::ClerkEvent;
use pgrx::prelude::*;

use crate::app_tables::{memberships, organizations, users};
use crate::entry::batches;
use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;
use crate::postgres::unix_time;

fn listed(listed: Option<Vec<Option<String>>>) -> Vec<String> {
    listed.ok_or(ClerkSyncError::NullArgument("listed")).or_report().into_iter().flatten().collect()
}

/// The Clerk ids of the rows of the users table (not deleted) that are not in `listed`, sorted.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn unlisted_users(listed: Option<Vec<Option<String>>>) -> SetOfIterator<'static, String> {
    let listed = self::listed(listed);
    let settings = config_cache::settings().or_report();
    SetOfIterator::new(users::plan(&settings.target).and_then(|plan| plan.unlisted(listed)).or_report())
}

/// The same of the organizations table; nothing when the app has none.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn unlisted_organizations(listed: Option<Vec<Option<String>>>) -> SetOfIterator<'static, String> {
    let listed = self::listed(listed);
    let settings = config_cache::settings().or_report();
    let plan = organizations::plan(&settings.organizations).or_report();
    SetOfIterator::new(plan.map_or(Ok(Vec::new()), |plan| plan.unlisted(listed)).or_report())
}

/// The same of the memberships table; nothing when the app has none.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn unlisted_memberships(listed: Option<Vec<Option<String>>>) -> SetOfIterator<'static, String> {
    let listed = self::listed(listed);
    let settings = config_cache::settings().or_report();
    let plan = memberships::plan(&settings).or_report();
    SetOfIterator::new(plan.map_or(Ok(Vec::new()), |plan| plan.unlisted(listed)).or_report())
}

/// Removes the `users`, `organizations` and `memberships` (by Clerk id; each list holds ids of its
/// own kind only, told by the caller rather than guessed) absent from complete listings that began
/// at `listing_began`: each as its deletion event would, unless an event or import newer than
/// `listing_began` was applied for it (outcome `stale`). Each one's outcome. (A C symbol of its
/// own: 0.4.1's SQL, which a new library runs against until `ALTER EXTENSION UPDATE`, declares
/// `remove_unlisted_wrapper` with two arguments, and calling it now fails cleanly.)
#[pg_extern(volatile, parallel_unsafe, security_definer, name = "remove_unlisted")]
#[search_path(pg_catalog, pg_temp)]
fn remove_unlisted_of_kinds(
    users: Option<Vec<Option<String>>>,
    organizations: Option<Vec<Option<String>>>,
    memberships: Option<Vec<Option<String>>>,
    listing_began: Option<TimestampWithTimeZone>,
) -> TableIterator<'static, (name!(clerk_id, String), name!(outcome, String))> {
    let began = listing_began.ok_or(ClerkSyncError::NullArgument("listing_began")).or_report();
    if !began.is_finite() {
        ClerkSyncError::InfiniteTime("listing_began").report();
    }
    let listed_at_ms = unix_time::unix_ms(began);
    let lists = [("users", Object::User, users), ("organizations", Object::Organization, organizations)];
    let lists = lists.into_iter().chain([("memberships", Object::Membership, memberships)]);
    let mut removals: Vec<(Object, String)> = Vec::new();
    for (argument, object, ids) in lists {
        let ids = ids.ok_or(ClerkSyncError::NullArgument(argument)).or_report();
        for (index, id) in ids.into_iter().enumerate() {
            let element = |source: ClerkSyncError| ClerkSyncError::Element {
                function: argument,
                index,
                source: Box::new(source),
            };
            let clerk_id = id.ok_or_else(|| element(ClerkSyncError::NullArgument(argument))).or_report();
            if Object::of_id(&clerk_id) != Some(object) {
                element(ClerkSyncError::NotOfKind(clerk_id, object.word())).report();
            }
            removals.push((object, clerk_id));
        }
    }
    let events: Vec<ClerkEvent> = removals
        .iter()
        .map(|(object, clerk_id)| ClerkEvent::Unlisted { object: *object, clerk_id: clerk_id.clone(), listed_at_ms })
        .collect();
    let outcomes = batches::apply_all(&events, config_cache::settings().or_report(), "remove_unlisted").or_report();
    TableIterator::new(removals.into_iter().zip(outcomes).map(|((_, id), outcome)| (id, outcome.word().to_owned())))
}

/// 0.4.1's `remove_unlisted(clerk_ids text[], listing_began timestamptz)`, which told ids' kinds
/// apart by their prefixes. Kept as a C symbol only (no SQL), so that an older release's script
/// still creates its functions against this library; called, it refuses and says why.
#[pg_extern(sql = false)]
fn remove_unlisted(
    _clerk_ids: Option<Vec<Option<String>>>,
    _listing_began: Option<TimestampWithTimeZone>,
) -> TableIterator<'static, (name!(clerk_id, String), name!(outcome, String))> {
    ClerkSyncError::Replaced(
        "remove_unlisted(text[], timestamptz)",
        "remove_unlisted(users, organizations, memberships, listing_began)",
    )
    .report()
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::json;

    /// A Backend API user updated at `updated_at` (Unix ms).
    fn api_user(id: &str, updated_at: i64) -> serde_json::Value {
        json!({"id": id, "object": "user", "first_name": id, "email_addresses": [], "created_at": 1, "updated_at": updated_at})
    }

    fn import(users: &[serde_json::Value]) {
        text_query("SELECT string_agg(outcome, ',') FROM clerk_sync.backfill($1::jsonb)", &[&json!(users).to_string()]);
    }

    fn clerk_ids() -> Option<String> {
        text_query("SELECT string_agg(\"clerkUserId\", ',' ORDER BY \"clerkUserId\") FROM \"User\"", &[])
    }

    fn unlisted(listed: &str) -> Option<String> {
        text_query("SELECT string_agg(u, ',') FROM clerk_sync.unlisted_users($1::text[]) AS u", &[listed])
    }

    #[pg_test]
    fn the_unlisted_are_rows_a_listing_did_not_have() {
        prisma_schema();
        import(&[api_user("user_a", 10), api_user("user_b", 10), api_user("user_c", 10)]);
        Spi::run("INSERT INTO \"User\" (id, \"clerkUserId\", email, username, \"updatedAt\") VALUES ('app', NULL, 'x@example.com', 'x', now())").unwrap();
        assert_eq!(
            unlisted("{user_b}").as_deref(),
            Some("user_a,user_c"),
            "sorted; a row without a Clerk id is not a user of Clerk's"
        );
        assert_eq!(unlisted("{user_a,user_b,user_c,user_zz,NULL}"), None);
        assert_eq!(unlisted("{}").as_deref(), Some("user_a,user_b,user_c"));
        assert_eq!(sqlstate_of("SELECT clerk_sync.unlisted_users(NULL)").as_deref(), Some("22004"));
    }

    #[pg_test]
    fn removal_is_a_deletion_unless_something_newer_than_the_listing_came() {
        prisma_schema();
        keep_all_payloads();
        Spi::run("SELECT clerk_sync.set_setting('redact_on_delete', 'on')").unwrap();
        import(&[api_user("user_old", 1_000), api_user("user_new", 3_000)]);
        ingest(
            "msg_old",
            &json!({"type": "user.updated", "object": "event", "timestamp": 1_000, "data": api_user("user_old", 1_000)}),
        );
        let remove = "SELECT string_agg(clerk_id || '=' || outcome, ',') \
                      FROM clerk_sync.remove_unlisted($1::text[], '{}', '{}', 'epoch'::timestamptz + interval '2 seconds')";
        assert_eq!(
            text_query(remove, &["{user_old,user_new,user_never}"]).as_deref(),
            Some("user_old=deleted,user_new=stale,user_never=deleted")
        );
        assert_eq!(clerk_ids().as_deref(), Some("user_new"), "user_new changed after the listing began");
        assert!(
            bool_query("SELECT redacted_at IS NOT NULL FROM clerk_sync.inbox WHERE msg_id = 'msg_old'", &[]),
            "erased"
        );
        assert_eq!(
            count("SELECT count(*) FROM clerk_sync.user_state WHERE deleted_at_ms = 2000"),
            2,
            "tombstones: user_old, user_never"
        );
        assert_eq!(
            text_query(
                "SELECT string_agg(outcome, ',') FROM clerk_sync.backfill($1::jsonb)",
                &[&json!([api_user("user_old", 5_000)]).to_string()]
            )
            .as_deref(),
            Some("stale"),
            "never resurrected"
        );
        assert_eq!(text_query(remove, &["{user_old}"]).as_deref(), Some("user_old=stale"), "once");
        assert_eq!(
            sqlstate_of("SELECT * FROM clerk_sync.remove_unlisted('{user_new}', '{}', '{}', 'infinity')").as_deref(),
            Some("22008")
        );
        assert_eq!(
            sqlstate_of("SELECT * FROM clerk_sync.remove_unlisted('{user_a,NULL}', '{}', '{}', now())").as_deref(),
            Some("22004")
        );
        assert_eq!(clerk_ids().as_deref(), Some("user_new"), "an error removes nothing");
    }

    #[pg_test]
    fn organizations_and_memberships_are_reconciled_like_users() {
        prisma_b2b_schema();
        apply(&event(MEMBER_CREATED));
        let org = "org_2zR8kLmN4pQ6sT9vW1xY3zA5bC";
        let member = "orgmem_2zR9aBcDeFgHiJkLmNoPqRsTuV";
        let organizations = "SELECT string_agg(u, ',') FROM clerk_sync.unlisted_organizations($1::text[]) AS u";
        let memberships = "SELECT string_agg(u, ',') FROM clerk_sync.unlisted_memberships($1::text[]) AS u";
        assert_eq!(text_query(organizations, &["{}"]).as_deref(), Some(org));
        assert_eq!(text_query(memberships, &["{}"]).as_deref(), Some(member));
        assert_eq!(text_query(memberships, &[&format!("{{{member}}}")]), None);
        let remove = "SELECT string_agg(clerk_id || '=' || outcome, ',') \
                      FROM clerk_sync.remove_unlisted('{}', $1::text[], $2::text[], now())";
        assert_eq!(
            text_query(remove, &["{}", &format!("{{{member}}}")]).as_deref(),
            Some(&*format!("{member}=deleted"))
        );
        assert_eq!(count("SELECT count(*) FROM \"Membership\""), 0);
        assert_eq!(apply(&event(MEMBER_UPDATED)), "stale", "tombstoned");
        assert_eq!(text_query(remove, &[&format!("{{{org}}}"), "{}"]).as_deref(), Some(&*format!("{org}=deleted")));
        assert_eq!(count("SELECT count(*) FROM \"Organization\""), 0);
        for wrong_kind in
            ["'{sess_1}', '{}', '{}'", "'{org_x}', '{}', '{}'", "'{}', '{user_x}', '{}'", "'{}', '{}', '{org_x}'"]
        {
            assert_eq!(
                sqlstate_of(&format!("SELECT * FROM clerk_sync.remove_unlisted({wrong_kind}, now())")).as_deref(),
                Some("22023"),
                "{wrong_kind}"
            );
        }
    }

    #[pg_test]
    fn without_organization_tables_nothing_is_unlisted() {
        prisma_schema();
        assert_eq!(
            text_query("SELECT count(*)::text FROM clerk_sync.unlisted_organizations('{}')", &[]).as_deref(),
            Some("0")
        );
        assert_eq!(
            text_query("SELECT count(*)::text FROM clerk_sync.unlisted_memberships('{}')", &[]).as_deref(),
            Some("0")
        );
    }
}
