//! The memberships table (settings `membership.*`), when the app has one: its statements,
//! prepared once per backend and configuration, run as the table's owner (see `table_owner`).
//! The SQL comes from `clerk_sync_core::app_tables::memberships_sql`; with `membership.references = ids` it
//! reads the organizations and users tables to find the rows' ids, as the same owner.

use std::rc::Rc;

use clerk_sync_core::app_tables::memberships_sql;
use clerk_sync_core::apply::engine::{MembershipRow, Parent, Written};
use clerk_sync_core::Settings;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::OwnedPreparedStatement;

use crate::app_tables::catalog::{self, Cached, OfTable};
use crate::app_tables::table_owner;
use crate::error::ClerkSyncError;
use crate::postgres::statements::{execute, prepare, INT8, TEXT, TEXT_ARRAY};

pub struct MembershipPlan {
    relid: pg_sys::Oid,
    owner: pg_sys::Oid,
    upsert: OwnedPreparedStatement,
    delete: OwnedPreparedStatement,
    delete_of_users: OwnedPreparedStatement,
    delete_of_organization: OwnedPreparedStatement,
    /// Planned on each use.
    unlisted: String,
}

thread_local! {
    static PLAN: Cached<MembershipPlan> = const { Cached::new() };
}

impl OfTable for MembershipPlan {
    fn relid(&self) -> pg_sys::Oid {
        self.relid
    }
}

/// Called from the relcache callback.
pub fn invalidate(relid: pg_sys::Oid, config_changed: bool) {
    PLAN.with(|plan| plan.invalidate(relid, config_changed));
}

const ROW_TYPES: [pg_sys::Oid; 6] = [TEXT, TEXT, TEXT, TEXT, INT8, INT8];

fn row_args(row: &MembershipRow) -> [DatumWithOid<'static>; 6] {
    [
        row.clerk_id.to_owned().into(),
        row.organization_id.to_owned().into(),
        row.user_id.to_owned().into(),
        row.role.map(str::to_owned).into(),
        row.created_at_ms.into(),
        row.updated_at_ms.into(),
    ]
}

impl MembershipPlan {
    /// None when the rows it refers to are missing.
    pub fn write(&self, row: &MembershipRow) -> Result<Option<Written>, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            let (found, inserted) = execute(&self.upsert, &row_args(row), |rows| rows.first().get_two::<bool, bool>())?;
            Ok(match (found, inserted) {
                (Some(true), Some(true)) => Some(Written::Inserted),
                (Some(true), _) => Some(Written::Updated),
                _ => None,
            })
        })
    }

    pub fn delete(&self, clerk_id: &str) -> Result<(), ClerkSyncError> {
        table_owner::run_as(self.owner, || execute(&self.delete, &[clerk_id.into()], |_| Ok(())))
    }

    /// The Clerk ids of the rows not in `listed`, sorted.
    pub fn unlisted(&self, listed: Vec<String>) -> Result<Vec<String>, ClerkSyncError> {
        catalog::unlisted(self.owner, &self.unlisted, listed)
    }

    pub fn delete_of(&self, parent: Parent) -> Result<(), ClerkSyncError> {
        match parent {
            Parent::User(id) => self.delete_of_users(vec![id.to_owned()]),
            Parent::Organization(id) => {
                table_owner::run_as(self.owner, || execute(&self.delete_of_organization, &[id.into()], |_| Ok(())))
            }
        }
    }

    /// Deletes the memberships of all these users (a batch's deleted users).
    pub fn delete_of_users(&self, users: Vec<String>) -> Result<(), ClerkSyncError> {
        table_owner::run_as(self.owner, || execute(&self.delete_of_users, &[users.into()], |_| Ok(())))
    }
}

fn build(settings: &Settings) -> Result<Option<MembershipPlan>, ClerkSyncError> {
    let target = &settings.memberships;
    let Some(table) = catalog::writable(&target.schema, &target.table)? else {
        return Ok(None);
    };
    let (relid, owner) = (table.relid, table.owner);
    let statements = memberships_sql::membership_statements(
        target,
        &settings.organizations,
        &settings.target,
        table.column_lookup(),
    )?;
    table_owner::run_as(owner, || {
        Ok(Some(MembershipPlan {
            relid,
            owner,
            upsert: prepare(&statements.upsert, &ROW_TYPES)?,
            delete: prepare(&statements.delete, &[TEXT])?,
            delete_of_users: prepare(&statements.delete_of_users, &[TEXT_ARRAY])?,
            delete_of_organization: prepare(&statements.delete_of_organization, &[TEXT])?,
            unlisted: statements.unlisted.clone(),
        }))
    })
}

/// The plan for the current configuration, built on first use; None when the app has no
/// memberships table.
pub fn plan(settings: &Settings) -> Result<Option<Rc<MembershipPlan>>, ClerkSyncError> {
    PLAN.with(|plan| plan.get(|| build(settings)))
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::json;

    const JANE: &str = "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG";
    const MEMBERSHIP: &str = "orgmem_2zR9aBcDeFgHiJkLmNoPqRsTuV";

    fn membership(field: &str) -> Option<String> {
        text_query(
            &format!("SELECT \"{field}\"::text FROM \"Membership\" WHERE \"clerkMembershipId\" = $1"),
            &[MEMBERSHIP],
        )
    }

    #[pg_test]
    fn a_membership_before_its_user_and_organization_lands_and_their_events_overwrite_them_in_place() {
        prisma_b2b_schema();
        assert_eq!(apply(&event(MEMBER_CREATED)), "created");
        assert_eq!(membership("role").as_deref(), Some("org:admin"));
        let user_id = text_query("SELECT id FROM \"User\" WHERE \"clerkUserId\" = $1", &[JANE]);
        let org_id = text_query("SELECT id FROM \"Organization\"", &[]);
        assert_eq!(membership("userId"), user_id, "refers to the app's row ids");
        assert_eq!(membership("organizationId"), org_id);
        assert_eq!(
            user_field(JANE, "email").as_deref(),
            Some("jane.doe@example.com"),
            "provisional, from public_user_data"
        );
        assert_eq!(apply(&event(CREATED)), "updated", "the user's own event, in place");
        assert_eq!(apply(&event(ORG_CREATED)), "updated", "the organization's own event, in place");
        assert_eq!(text_query("SELECT id FROM \"User\" WHERE \"clerkUserId\" = $1", &[JANE]), user_id);
        assert_eq!(text_query("SELECT id FROM \"Organization\"", &[]), org_id);
        assert_eq!(apply(&event(MEMBER_UPDATED)), "updated");
        assert_eq!(membership("role").as_deref(), Some("org:member"));
        assert_eq!(apply(&event(MEMBER_CREATED)), "stale");
        assert_eq!(apply(&event(MEMBER_DELETED)), "deleted");
        assert_eq!(apply(&event(MEMBER_UPDATED)), "stale", "never resurrected");
        assert_eq!(count("SELECT count(*) FROM \"Membership\""), 0);
    }

    #[pg_test]
    fn a_deleted_user_takes_their_memberships_and_their_public_data_is_erased() {
        prisma_b2b_schema();
        keep_all_payloads();
        text_query("SELECT clerk_sync.add_secret($1)", &[TEST_SECRET]);
        assert_eq!(receive("msg_m1", MEMBER_CREATED)["outcome"], "created");
        assert_eq!(
            text_query("SELECT user_id FROM clerk_sync.inbox WHERE msg_id = 'msg_m1'", &[]).as_deref(),
            Some(JANE),
            "a membership's delivery is its user's"
        );
        assert_eq!(receive("msg_d1", DELETED)["outcome"], "deleted");
        assert_eq!(count("SELECT count(*) FROM \"Membership\""), 0);
        let stored = text_query("SELECT payload::text FROM clerk_sync.inbox WHERE msg_id = 'msg_m1'", &[]).unwrap();
        assert!(!stored.contains("Jane") && !stored.contains("jane.doe@example.com"), "{stored}");
        assert!(stored.contains(JANE) && stored.contains("org_2zR8kLmN4pQ6sT9vW1xY3zA5bC"), "ids stay: {stored}");
        assert_eq!(receive("msg_m2", MEMBER_UPDATED)["outcome"], "stale", "a late membership event stays out");
        let late = text_query("SELECT payload::text FROM clerk_sync.inbox WHERE msg_id = 'msg_m2'", &[]).unwrap();
        assert!(!late.contains("jane.doe@example.com"), "and is stored erased: {late}");
        assert_eq!(
            text_query("SELECT clerk_sync.replay('msg_m1')", &[]).as_deref(),
            Some("stale"),
            "an erased payload replays"
        );
    }

    #[pg_test]
    fn memberships_may_refer_to_clerk_ids() {
        prisma_schema();
        Spi::run(
            "CREATE TABLE org_members (clerk_membership_id text PRIMARY KEY, org text NOT NULL, member text NOT NULL, role text);
             SELECT clerk_sync.set_setting(name, value) FROM (VALUES
                 ('membership.table', 'org_members'), ('membership.column.clerk_membership_id', 'clerk_membership_id'),
                 ('membership.column.id', ''), ('membership.column.organization', 'org'), ('membership.column.user', 'member'),
                 ('membership.references', 'clerk_ids'), ('membership.column.created_at', ''),
                 ('membership.column.updated_at', '')) AS s (name, value)",
        )
        .unwrap();
        assert_eq!(apply(&event(MEMBER_CREATED)), "created");
        assert_eq!(
            text_query("SELECT org || ' ' || member || ' ' || role FROM org_members", &[]).as_deref(),
            Some("org_2zR8kLmN4pQ6sT9vW1xY3zA5bC user_2zQmA7bXkP4rLwN9sT1vC3dE5fG org:admin")
        );
        assert_eq!(user_field(JANE, "firstName").as_deref(), Some("Jane"), "the user is still provisioned");
        assert_eq!(apply(&event(DELETED)), "deleted");
        assert_eq!(count("SELECT count(*) FROM org_members"), 0, "no foreign key: removed by clerk_sync");
    }

    #[pg_test]
    fn backfill_takes_the_backend_apis_organization_and_membership_lists() {
        prisma_b2b_schema();
        let organizations = json!({"data": [event(ORG_UPDATED)["data"]], "total_count": 1});
        let memberships = json!({"data": [event(MEMBER_UPDATED)["data"]], "total_count": 1});
        let q = "SELECT string_agg(outcome || '=' || users, ',') FROM clerk_sync.backfill($1::jsonb)";
        assert_eq!(text_query(q, &[&organizations.to_string()]).as_deref(), Some("created=1"));
        assert_eq!(text_query(q, &[&memberships.to_string()]).as_deref(), Some("created=1"));
        assert_eq!(text_query(q, &[&memberships.to_string()]).as_deref(), Some("stale=1"), "a rerun changes nothing");
        assert_eq!(membership("role").as_deref(), Some("org:member"));
        assert_eq!(apply(&event(ORG_CREATED)), "stale", "an older webhook loses to a newer import");
    }

    #[pg_test]
    fn a_soft_deleted_user_keeps_the_row_and_loses_the_memberships() {
        prisma_b2b_schema();
        Spi::run(
            "ALTER TABLE \"User\" ADD COLUMN \"deletedAt\" timestamp;
             SELECT clerk_sync.set_setting('delete_mode', 'soft');
             SELECT clerk_sync.set_setting('column.deleted_at', 'deletedAt');",
        )
        .unwrap();
        apply(&event(CREATED));
        assert_eq!(apply(&event(MEMBER_CREATED)), "created");
        assert_eq!(apply(&event(DELETED)), "deleted");
        assert!(user_field(JANE, "deletedAt").is_some(), "the row stays, marked");
        assert_eq!(count("SELECT count(*) FROM \"Membership\""), 0, "its memberships go");
        assert_eq!(apply(&event(MEMBER_UPDATED)), "stale");
        assert_eq!(count("SELECT count(*) FROM \"Membership\""), 0);
    }
}
