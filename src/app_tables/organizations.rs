//! The organizations table (settings `organization.*`), when the app has one: its statements,
//! prepared once per backend and configuration, run as the table's owner (see `table_owner`).
//! The SQL comes from `clerk_sync_core::app_tables::organizations_sql`.

use std::rc::Rc;

use clerk_sync_core::app_tables::organizations_sql;
use clerk_sync_core::apply::engine::{OrganizationRow, Written};
use clerk_sync_core::settings::OrganizationTarget;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::OwnedPreparedStatement;

use crate::app_tables::catalog::{self, Cached, OfTable};
use crate::app_tables::table_owner;
use crate::error::ClerkSyncError;
use crate::postgres::statements::{execute, prepare, INT8, TEXT};

pub struct OrganizationPlan {
    relid: pg_sys::Oid,
    owner: pg_sys::Oid,
    upsert: OwnedPreparedStatement,
    delete: OwnedPreparedStatement,
    has_row: OwnedPreparedStatement,
    /// Planned on each use.
    unlisted: String,
}

thread_local! {
    static PLAN: Cached<OrganizationPlan> = const { Cached::new() };
}

impl OfTable for OrganizationPlan {
    fn relid(&self) -> pg_sys::Oid {
        self.relid
    }
}

/// Called from the relcache callback.
pub fn invalidate(relid: pg_sys::Oid, config_changed: bool) {
    PLAN.with(|plan| plan.invalidate(relid, config_changed));
}

const ROW_TYPES: [pg_sys::Oid; 6] = [TEXT, TEXT, TEXT, TEXT, INT8, INT8];

fn row_args(row: &OrganizationRow) -> [DatumWithOid<'static>; 6] {
    let text = |v: Option<&str>| -> DatumWithOid<'static> { v.map(str::to_owned).into() };
    [
        row.clerk_id.to_owned().into(),
        text(row.name),
        text(row.slug),
        text(row.image_url),
        row.created_at_ms.into(),
        row.updated_at_ms.into(),
    ]
}

impl OrganizationPlan {
    pub fn write(&self, row: &OrganizationRow) -> Result<Written, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            let inserted = execute(&self.upsert, &row_args(row), |rows| Ok(!rows.is_empty()))?;
            Ok(if inserted { Written::Inserted } else { Written::Updated })
        })
    }

    pub fn delete(&self, clerk_id: &str) -> Result<(), ClerkSyncError> {
        table_owner::run_as(self.owner, || execute(&self.delete, &[clerk_id.into()], |_| Ok(())))
    }

    /// The Clerk ids of the rows not in `listed`, sorted.
    pub fn unlisted(&self, listed: Vec<String>) -> Result<Vec<String>, ClerkSyncError> {
        catalog::unlisted(self.owner, &self.unlisted, listed)
    }

    pub fn has_row(&self, clerk_id: &str) -> Result<bool, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            execute(&self.has_row, &[clerk_id.into()], |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false)))
        })
    }
}

fn build(target: &OrganizationTarget) -> Result<Option<OrganizationPlan>, ClerkSyncError> {
    let Some(table) = catalog::writable(&target.schema, &target.table)? else {
        return Ok(None);
    };
    let (relid, owner) = (table.relid, table.owner);
    let statements = organizations_sql::organization_statements(target, table.column_lookup())?;
    table_owner::run_as(owner, || {
        Ok(Some(OrganizationPlan {
            relid,
            owner,
            upsert: prepare(&statements.upsert, &ROW_TYPES)?,
            delete: prepare(&statements.delete, &[TEXT])?,
            has_row: prepare(&statements.has_row, &[TEXT])?,
            unlisted: statements.unlisted.clone(),
        }))
    })
}

/// The plan for the current configuration, built on first use; None when the app has no
/// organizations table.
pub fn plan(target: &OrganizationTarget) -> Result<Option<Rc<OrganizationPlan>>, ClerkSyncError> {
    PLAN.with(|plan| plan.get(|| build(target)))
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;

    const ACME: &str = "org_2zR8kLmN4pQ6sT9vW1xY3zA5bC";

    fn organization(field: &str) -> Option<String> {
        text_query(&format!("SELECT \"{field}\"::text FROM \"Organization\" WHERE \"clerkOrgId\" = $1"), &[ACME])
    }

    #[pg_test]
    fn an_organization_is_created_updated_in_place_and_deleted_with_its_memberships() {
        prisma_b2b_schema();
        assert_eq!(apply(&event(ORG_CREATED)), "created");
        let id = organization("id");
        assert_eq!(organization("name").as_deref(), Some("Acme Inc"));
        assert_eq!(organization("createdAt").as_deref(), Some("2026-01-01 00:00:00"), "written in UTC");
        assert_eq!(apply(&event(ORG_UPDATED)), "updated");
        assert_eq!(apply(&event(ORG_CREATED)), "stale");
        assert_eq!(
            (organization("name").as_deref(), organization("slug").as_deref()),
            (Some("Acme Corporation"), Some("acme-corp"))
        );
        assert_eq!(organization("id"), id, "in place");
        apply(&event(CREATED));
        assert_eq!(apply(&event(MEMBER_CREATED)), "created");
        assert_eq!(apply(&event(ORG_DELETED)), "deleted");
        assert_eq!(count("SELECT count(*) FROM \"Organization\""), 0);
        assert_eq!(count("SELECT count(*) FROM \"Membership\""), 0, "its memberships went with it");
        assert_eq!(apply(&event(ORG_UPDATED)), "stale", "never resurrected");
        assert_eq!(apply(&event(MEMBER_UPDATED)), "stale", "nor its memberships");
        assert_eq!(count("SELECT count(*) FROM \"Organization\""), 0);
        assert_eq!(count("SELECT count(*) FROM \"User\""), 1, "the member stays");
    }

    #[pg_test]
    fn without_the_tables_organization_events_are_kept_and_ignored() {
        prisma_schema();
        text_query("SELECT clerk_sync.add_secret($1)", &[TEST_SECRET]);
        for (msg_id, body) in [("msg_o1", ORG_CREATED), ("msg_o2", MEMBER_CREATED), ("msg_o3", ORG_DELETED)] {
            assert_eq!(receive(msg_id, body)["outcome"], "ignored", "{msg_id}");
        }
        assert_eq!(count("SELECT count(*) FROM clerk_sync.inbox WHERE outcome = 'ignored'"), 3);
        assert_eq!(count("SELECT count(*) FROM \"User\""), 0, "no provisional user");
        apply(&event(CREATED));
        assert_eq!(apply(&event(DELETED)), "deleted", "a user's deletion needs no memberships table");
    }

    #[pg_test]
    fn a_table_created_later_is_found_without_a_reconnect() {
        prisma_schema();
        assert_eq!(apply(&event(ORG_CREATED)), "ignored");
        Spi::run(PRISMA_ORGANIZATIONS).unwrap();
        assert_eq!(apply(&event(ORG_CREATED)), "created");
    }

    #[pg_test]
    fn a_misconfigured_memberships_table_fails_only_the_events_that_write_it() {
        prisma_b2b_schema();
        Spi::run("SELECT clerk_sync.set_setting('membership.column.role', 'rank')").unwrap();
        assert_eq!(apply(&event(ORG_CREATED)), "created");
        let membership = event(MEMBER_CREATED).to_string().replace('\'', "''");
        let error = sqlstate_of(&format!("SELECT clerk_sync.clerk_apply('{membership}'::jsonb)"));
        assert_eq!(error.as_deref(), Some("55000"), "the memberships table's mapping is wrong");
    }
}
