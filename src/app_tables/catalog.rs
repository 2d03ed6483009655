//! The app's tables as the catalog describes them: found by name, their owner, their columns,
//! and the one kind of trigger clerk_sync refuses to write under.

use std::cell::RefCell;
use std::rc::Rc;

use clerk_sync_core::app_tables::users_sql::{ColumnInfo, ColumnKind, TargetError};
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::app_tables::table_owner;
use crate::error::ClerkSyncError;
use crate::postgres::statements::execute_planned_now;

/// The table's oid and owner; None when there is no such table.
pub fn find(schema: &str, table: &str) -> Result<Option<(pg_sys::Oid, pg_sys::Oid)>, ClerkSyncError> {
    let found = Spi::connect(|client| {
        client
            .select(
                "SELECT c.oid, c.relowner FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                Some(1),
                &[schema.into(), table.into()],
            )?
            .next()
            .map(|row| Ok::<_, pgrx::spi::Error>((row.get::<pg_sys::Oid>(1)?, row.get::<pg_sys::Oid>(2)?)))
            .transpose()
    })?;
    Ok(match found {
        Some((Some(oid), Some(owner))) => Some((oid, owner)),
        _ => None,
    })
}

/// A trigger that can be deferred to commit would run there with the rights of whoever commits,
/// outside the owner's restricted context; one whose function is SECURITY DEFINER runs as that
/// function's owner anyway.
pub fn deferrable_trigger(relid: pg_sys::Oid) -> Result<Option<String>, ClerkSyncError> {
    Ok(Spi::connect(|client| {
        client
            .select(
                "SELECT t.tgname::text FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid \
                 WHERE t.tgrelid = $1 AND t.tgdeferrable AND NOT t.tgisinternal AND NOT p.prosecdef \
                 ORDER BY t.tgname LIMIT 1",
                Some(1),
                &[relid.into()],
            )?
            .next()
            .map(|row| row.get::<String>(1))
            .transpose()
            .map(Option::flatten)
    })?)
}

pub fn columns(relid: pg_sys::Oid) -> Result<Vec<(String, ColumnInfo)>, ClerkSyncError> {
    Ok(Spi::connect(|client| {
        client
            .select(
                "SELECT a.attname::text, bt.typname::text, bt.typcategory::text, a.attnotnull,
                        a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', a.attgenerated <> '',
                        EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1
                                  AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indexprs IS NULL)
                 FROM pg_catalog.pg_attribute a
                 JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                 JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
                None,
                &[relid.into()],
            )?
            .map(|row| {
                let name = row.get::<String>(1)?.unwrap_or_default();
                let typname = row.get::<String>(2)?.unwrap_or_default();
                let category = row.get::<String>(3)?.unwrap_or_default();
                let info = ColumnInfo {
                    kind: ColumnKind::from_catalog(&typname, &category),
                    not_null: row.get::<bool>(4)?.unwrap_or(false),
                    has_default: row.get::<bool>(5)?.unwrap_or(false),
                    generated: row.get::<bool>(6)?.unwrap_or(false),
                    unique: row.get::<bool>(7)?.unwrap_or(false),
                };
                Ok((name, info))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })?)
}

/// Refuses a table with a deferrable trigger (see `deferrable_trigger`).
fn refuse_deferrable_triggers(relid: pg_sys::Oid) -> Result<(), ClerkSyncError> {
    match deferrable_trigger(relid)? {
        Some(trigger) => Err(TargetError::DeferrableTrigger(trigger).into()),
        None => Ok(()),
    }
}

/// An app table clerk_sync may write: what its statements are built from.
pub struct Writable {
    pub relid: pg_sys::Oid,
    pub owner: pg_sys::Oid,
    columns: Vec<(String, ColumnInfo)>,
}

impl Writable {
    /// Its columns by name, as `clerk_sync_core`'s statement builders look them up.
    pub fn column_lookup(self) -> impl Fn(&str) -> Option<ColumnInfo> + 'static {
        move |name| self.columns.iter().find(|(column, _)| column == name).map(|(_, info)| info.clone())
    }
}

/// The table, when it exists; one with a deferrable trigger is refused.
pub fn writable(schema: &str, table: &str) -> Result<Option<Writable>, ClerkSyncError> {
    let Some((relid, owner)) = find(schema, table)? else {
        return Ok(None);
    };
    refuse_deferrable_triggers(relid)?;
    Ok(Some(Writable { relid, owner, columns: columns(relid)? }))
}

/// What is built from an app table: it says which table.
pub trait OfTable {
    fn relid(&self) -> pg_sys::Oid;
}

/// A backend's plan for an app table the app may not have: built on first use, kept until the
/// settings or the table change. A missing table is looked up again on any relcache
/// invalidation, since a table created since shows as one of a relation not known here.
pub struct Cached<T> {
    slot: RefCell<Option<Option<Rc<T>>>>,
}

impl<T: OfTable> Cached<T> {
    pub const fn new() -> Self {
        Cached { slot: RefCell::new(None) }
    }

    /// Called from the relcache callback: `config_changed` when the settings may have changed.
    pub fn invalidate(&self, relid: pg_sys::Oid, config_changed: bool) {
        let mut slot = self.slot.borrow_mut();
        let stale = match slot.as_ref() {
            None => false,
            Some(None) => true,
            Some(Some(plan)) => config_changed || relid == pg_sys::InvalidOid || plan.relid() == relid,
        };
        if stale {
            *slot = None;
        }
    }

    /// The plan; None when the table does not exist.
    pub fn get(
        &self,
        build: impl FnOnce() -> Result<Option<T>, ClerkSyncError>,
    ) -> Result<Option<Rc<T>>, ClerkSyncError> {
        if let Some(plan) = self.slot.borrow().clone() {
            return Ok(plan);
        }
        let plan = build()?.map(Rc::new);
        *self.slot.borrow_mut() = Some(plan.clone());
        Ok(plan)
    }
}

/// The Clerk ids `unlisted` (a statement of `clerk_sync_core`'s, over the text[] $1) finds for
/// `listed`, read as the table's owner. Planned with the array, so that the planner sees its size.
pub fn unlisted(owner: pg_sys::Oid, unlisted: &str, listed: Vec<String>) -> Result<Vec<String>, ClerkSyncError> {
    table_owner::run_as(owner, || {
        execute_planned_now(unlisted, &[listed.into()], |rows| {
            rows.filter_map(|row| row.get::<String>(1).transpose()).collect()
        })
    })
}
