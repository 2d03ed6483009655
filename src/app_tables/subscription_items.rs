//! The subscription items table (settings `subscription_item.*`), when the app has one: its
//! statements, prepared once per backend and configuration, run as the table's owner (see
//! `table_owner`). The SQL comes from `clerk_sync_core::app_tables::subscription_items_sql`.

use std::rc::Rc;

use clerk_sync_core::app_tables::subscription_items_sql;
use clerk_sync_core::apply::engine::Written;
use clerk_sync_core::event::billing::{Payer, SubscriptionItemRecord};
use clerk_sync_core::settings::SubscriptionItemTarget;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::OwnedPreparedStatement;

use crate::app_tables::catalog::{self, Cached, OfTable};
use crate::app_tables::table_owner;
use crate::error::ClerkSyncError;
use crate::postgres::statements::{execute, prepare, BOOL, INT8, TEXT};

pub struct SubscriptionItemPlan {
    relid: pg_sys::Oid,
    owner: pg_sys::Oid,
    upsert: OwnedPreparedStatement,
    items_of_payer: Option<OwnedPreparedStatement>,
}

thread_local! {
    static PLAN: Cached<SubscriptionItemPlan> = const { Cached::new() };
}

impl OfTable for SubscriptionItemPlan {
    fn relid(&self) -> pg_sys::Oid {
        self.relid
    }
}

/// Called from the relcache callback.
pub fn invalidate(relid: pg_sys::Oid, config_changed: bool) {
    PLAN.with(|plan| plan.invalidate(relid, config_changed));
}

const ROW_TYPES: [pg_sys::Oid; 13] = [TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, BOOL, INT8, INT8, INT8, INT8, INT8];

fn row_args(item: &SubscriptionItemRecord) -> [DatumWithOid<'static>; 13] {
    let (user, organization) = match &item.payer {
        Payer::User(id) => (Some(id.clone()), None),
        Payer::Organization(id) => (None, Some(id.clone())),
    };
    [
        item.clerk_id.clone().into(),
        item.subscription_id.clone().into(),
        user.into(),
        organization.into(),
        item.plan_id.clone().into(),
        item.plan_slug.clone().into(),
        item.status.clone().into(),
        item.is_free_trial.into(),
        item.period_start_ms.into(),
        item.period_end_ms.into(),
        item.canceled_at_ms.into(),
        item.created_at_ms.into(),
        item.updated_at_ms.into(),
    ]
}

/// One item of a payer, as `active_plans` reads it.
pub struct PayerItem {
    pub plan_slug: Option<String>,
    pub status: Option<String>,
    pub period_end_ms: Option<i64>,
}

impl SubscriptionItemPlan {
    pub fn write(&self, item: &SubscriptionItemRecord) -> Result<Written, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            let inserted = execute(&self.upsert, &row_args(item), |rows| Ok(!rows.is_empty()))?;
            Ok(if inserted { Written::Inserted } else { Written::Updated })
        })
    }

    /// Every item the user or organization `payer` pays, read with the caller's rights; None
    /// when the table maps no plan slug, status or payer.
    pub fn items_of_payer(&self, payer: &str) -> Result<Option<Vec<PayerItem>>, ClerkSyncError> {
        let Some(statement) = &self.items_of_payer else { return Ok(None) };
        execute(statement, &[payer.into()], |rows| {
            rows.map(|row| {
                Ok(PayerItem {
                    plan_slug: row.get::<String>(1)?,
                    status: row.get::<String>(2)?,
                    period_end_ms: row.get::<i64>(3)?,
                })
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .map(Some)
    }
}

fn build(target: &SubscriptionItemTarget) -> Result<Option<SubscriptionItemPlan>, ClerkSyncError> {
    let Some(table) = catalog::writable(&target.schema, &target.table)? else {
        return Ok(None);
    };
    let (relid, owner) = (table.relid, table.owner);
    let statements = subscription_items_sql::subscription_item_statements(target, table.column_lookup())?;
    table_owner::run_as(owner, || {
        Ok(Some(SubscriptionItemPlan {
            relid,
            owner,
            upsert: prepare(&statements.upsert, &ROW_TYPES)?,
            items_of_payer: statements.items_of_payer.as_deref().map(|sql| prepare(sql, &[TEXT])).transpose()?,
        }))
    })
}

/// The plan for the current configuration, built on first use; None when the app has no
/// subscription items table.
pub fn plan(target: &SubscriptionItemTarget) -> Result<Option<Rc<SubscriptionItemPlan>>, ClerkSyncError> {
    PLAN.with(|plan| plan.get(|| build(target)))
}
