//! The configured users table: its statements, prepared once per backend and configuration.
//!
//! The SQL comes from `clerk_sync_core::target_sql` (quoted identifiers, parameters only); this
//! module reads the column types from the catalog, prepares the statements and runs them. The
//! plan is dropped when the settings change or the table is altered (relcache invalidation).

use std::cell::RefCell;
use std::rc::Rc;

use clerk_sync_core::settings::Target;
use clerk_sync_core::target_sql::{self, ColumnInfo, ColumnKind, TargetError};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;

use crate::error::ClerkSyncError;
use crate::statements::{execute, prepare, INT8, TEXT};

pub struct TargetPlan {
    relid: pg_sys::Oid,
    mark: OwnedPreparedStatement,
    insert_new: OwnedPreparedStatement,
    upsert: OwnedPreparedStatement,
    delete: OwnedPreparedStatement,
    claim_username: Option<OwnedPreparedStatement>,
    pub email_required: bool,
}

/// What claiming a username found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The user holds it from now on.
    New,
    /// The user held it already.
    Kept,
    /// The user holds the claim, but a row the app wrote itself has the name.
    InUse,
    /// Another user's claim holds it.
    Taken,
}

impl Claim {
    fn from_columns(fresh: Option<bool>, in_use: Option<bool>) -> Self {
        match (fresh, in_use) {
            (None, _) => Claim::Taken,
            (Some(_), Some(true)) => Claim::InUse,
            (Some(true), _) => Claim::New,
            (Some(false), _) => Claim::Kept,
        }
    }
}

/// The first step of applying a user event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Older than the user's high-water mark, or the user is deleted: change nothing.
    Stale,
    /// The mark moved. `claim` is the first-choice username's (None without a username column).
    Moved { first_seen: bool, claim: Option<Claim> },
}

thread_local! {
    static PLAN: RefCell<Option<Rc<TargetPlan>>> = const { RefCell::new(None) };
}

/// Called from the relcache callback: `config_changed` when the settings may have changed.
pub fn invalidate(relid: pg_sys::Oid, config_changed: bool) {
    PLAN.with(|plan| {
        let mut plan = plan.borrow_mut();
        let stale = config_changed
            || relid == pg_sys::InvalidOid
            || plan.as_ref().is_some_and(|p| p.relid == relid);
        if stale {
            *plan = None;
        }
    });
}

/// The values of one user, in the parameter order of `target_sql`.
pub struct UserRow<'a> {
    pub clerk_id: &'a str,
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub photo_url: Option<&'a str>,
    pub phone_number: Option<&'a str>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl UserRow<'_> {
    fn args(&self) -> [DatumWithOid<'static>; 9] {
        let text = |v: Option<&str>| -> DatumWithOid<'static> { v.map(str::to_owned).into() };
        [
            self.clerk_id.to_owned().into(),
            text(self.email),
            text(self.username),
            text(self.first_name),
            text(self.last_name),
            text(self.photo_url),
            text(self.phone_number),
            self.created_at_ms.into(),
            self.updated_at_ms.into(),
        ]
    }
}

const USER_ROW_TYPES: [pg_sys::Oid; 9] = [TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INT8, INT8];

impl TargetPlan {
    /// Moves the user's high-water mark to `order_ms` and claims `username`, the first choice.
    /// Locks the user's state row until commit.
    pub fn mark(&self, clerk_id: &str, order_ms: i64, username: Option<&str>) -> Result<Mark, ClerkSyncError> {
        let args = [clerk_id.into(), order_ms.into(), username.map(str::to_owned).into()];
        execute(&self.mark, &args, |mut rows| {
            let Some(row) = rows.next() else {
                return Ok(Mark::Stale);
            };
            let first_seen = row.get::<bool>(1)?.unwrap_or(false);
            let claim = self.has_username().then(|| -> Result<Claim, pgrx::spi::Error> {
                Ok(Claim::from_columns(row.get::<bool>(2)?, row.get::<bool>(3)?))
            });
            Ok(Mark::Moved { first_seen, claim: claim.transpose()? })
        })
    }

    /// Inserts the row of a user seen for the first time; false when a row with its Clerk id
    /// already exists (written before clerk_sync was installed).
    pub fn insert_new(&self, row: &UserRow) -> Result<bool, ClerkSyncError> {
        execute(&self.insert_new, &row.args(), |rows| Ok(!rows.is_empty()))
    }

    /// Updates the user's row in place, or inserts it; true when it inserted.
    pub fn upsert(&self, row: &UserRow) -> Result<bool, ClerkSyncError> {
        execute(&self.upsert, &row.args(), |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false)))
    }

    /// Deletes (or soft-deletes) the user's row, if there is one.
    pub fn delete(&self, clerk_id: &str, deleted_at_ms: i64) -> Result<(), ClerkSyncError> {
        execute(&self.delete, &[clerk_id.into(), deleted_at_ms.into()], |_| Ok(()))
    }

    pub fn has_username(&self) -> bool {
        self.claim_username.is_some()
    }

    /// Claims `username` for the user (see `usernames`).
    pub fn claim_username(&self, username: &str, clerk_id: &str) -> Result<Claim, ClerkSyncError> {
        let Some(statement) = &self.claim_username else {
            return Ok(Claim::Taken);
        };
        let (fresh, in_use) = execute(statement, &[username.into(), clerk_id.into()], |rows| {
            rows.first().get_two::<bool, bool>()
        })?;
        Ok(Claim::from_columns(fresh, in_use))
    }
}

fn table_oid(target: &Target) -> Result<pg_sys::Oid, ClerkSyncError> {
    let oid = Spi::connect(|client| {
        client
            .select(
                "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                Some(1),
                &[target.schema.as_str().into(), target.table.as_str().into()],
            )?
            .next()
            .map(|row| row.get::<pg_sys::Oid>(1))
            .transpose()
            .map(Option::flatten)
    })?;
    oid.ok_or_else(|| {
        TargetError::NoTable(format!("{}.{}", target.schema, target.table)).into()
    })
}

fn columns(relid: pg_sys::Oid) -> Result<Vec<(String, ColumnInfo)>, ClerkSyncError> {
    Ok(Spi::connect(|client| {
        client
            .select(
                "SELECT a.attname::text, bt.typname::text, bt.typcategory::text, a.attnotnull,
                        a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', a.attgenerated <> ''
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
                };
                Ok((name, info))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })?)
}

fn build(target: &Target) -> Result<TargetPlan, ClerkSyncError> {
    let relid = table_oid(target)?;
    let columns = columns(relid)?;
    let statements = target_sql::build(target, |name| {
        columns.iter().find(|(column, _)| column == name).map(|(_, info)| info.clone())
    })?;
    Ok(TargetPlan {
        relid,
        mark: prepare(&statements.mark, &[TEXT, INT8, TEXT])?,
        insert_new: prepare(&statements.insert_new, &USER_ROW_TYPES)?,
        upsert: prepare(&statements.upsert, &USER_ROW_TYPES)?,
        delete: prepare(&statements.delete, &[TEXT, INT8])?,
        claim_username: statements.claim_username.as_deref().map(|sql| prepare(sql, &[TEXT, TEXT])).transpose()?,
        email_required: statements.email_required,
    })
}

/// The plan for the current configuration, built on first use.
pub fn plan(target: &Target) -> Result<Rc<TargetPlan>, ClerkSyncError> {
    if let Some(plan) = PLAN.with(|plan| plan.borrow().clone()) {
        return Ok(plan);
    }
    let plan = Rc::new(build(target)?);
    PLAN.with(|cell| *cell.borrow_mut() = Some(plan.clone()));
    Ok(plan)
}
