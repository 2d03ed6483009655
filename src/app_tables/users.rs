//! The configured users table: its statements, prepared once per backend and configuration, run
//! as the table's owner (see `table_owner`).
//!
//! The SQL comes from `clerk_sync_core::app_tables::users_sql` (quoted identifiers, parameters only); this
//! module reads the table's owner and column types from the catalog, prepares the statements and
//! runs them. The plan is dropped when the settings change or the table is altered (relcache
//! invalidation).

use std::rc::Rc;

use clerk_sync_core::app_tables::users_sql::{self, BatchStatements, InsertNew, TargetError};
use clerk_sync_core::apply::batch::Plan;
use clerk_sync_core::apply::engine::{UserRow, Usernames, Written};
use clerk_sync_core::settings::Target;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::OwnedPreparedStatement;

use crate::app_tables::catalog::{Cached, OfTable};
use crate::app_tables::{catalog, table_owner};
use crate::error::ClerkSyncError;
use crate::postgres::statements::{execute, execute_planned_now, prepare, Inserts, INT8, TEXT};

pub struct TargetPlan {
    relid: pg_sys::Oid,
    owner: pg_sys::Oid,
    insert_new: InsertNewPlan,
    upsert: OwnedPreparedStatement,
    row_id: OwnedPreparedStatement,
    delete: OwnedPreparedStatement,
    /// Planned on each use: the planner must see how many ids are listed.
    unlisted: String,
    /// Planned on each use (`statements::execute_planned_now`).
    batch: BatchStatements,
    pub email_required: bool,
    pub usernames: Usernames,
}

/// The prepared `InsertNew`.
enum InsertNewPlan {
    OnConflictDoNothing { on_conflict: OwnedPreparedStatement, plain: OwnedPreparedStatement },
    Checked(OwnedPreparedStatement),
}

/// A row's Clerk id and username (either may be NULL in the app's table).
pub type RowKeys = (Option<String>, Option<String>);

thread_local! {
    static PLAN: Cached<TargetPlan> = const { Cached::new() };
}

impl OfTable for TargetPlan {
    fn relid(&self) -> pg_sys::Oid {
        self.relid
    }
}

/// Called from the relcache callback: `config_changed` when the settings may have changed.
pub fn invalidate(relid: pg_sys::Oid, config_changed: bool) {
    PLAN.with(|plan| plan.invalidate(relid, config_changed));
}

/// A random (version 4) UUID as text: a new row's id, when the table has no default for it.
/// Made here rather than by `gen_random_uuid()`, which asks OpenSSL for each one.
fn new_row_id() -> Result<String, ClerkSyncError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| ClerkSyncError::Random(error.to_string()))?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string())
}

/// The values of one user, in the parameter order of `users_sql`, and a new row's id.
fn user_row_args(row: &UserRow) -> Result<[DatumWithOid<'static>; 10], ClerkSyncError> {
    Ok([
        row.clerk_id.clone().into(),
        row.email.clone().into(),
        row.username.clone().into(),
        row.first_name.clone().into(),
        row.last_name.clone().into(),
        row.photo_url.clone().into(),
        row.phone_number.clone().into(),
        row.created_at_ms.into(),
        row.updated_at_ms.into(),
        new_row_id()?.into(),
    ])
}

const USER_ROW_TYPES: [pg_sys::Oid; 10] = [TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INT8, INT8, TEXT];

/// Many users' values, as the nine arrays of the batch statements.
fn user_rows_args(rows: &[UserRow]) -> [DatumWithOid<'static>; 9] {
    let column = |get: fn(&UserRow) -> Option<&String>| -> DatumWithOid<'static> {
        rows.iter().map(|r| get(r).cloned()).collect::<Vec<Option<String>>>().into()
    };
    [
        column(|r| Some(&r.clerk_id)),
        column(|r| r.email.as_ref()),
        column(|r| r.username.as_ref()),
        column(|r| r.first_name.as_ref()),
        column(|r| r.last_name.as_ref()),
        column(|r| r.photo_url.as_ref()),
        column(|r| r.phone_number.as_ref()),
        rows.iter().map(|r| r.created_at_ms).collect::<Vec<i64>>().into(),
        rows.iter().map(|r| r.updated_at_ms).collect::<Vec<i64>>().into(),
    ]
}

/// A batch's write did not touch the rows its snapshot said it would: something else changed
/// the table meanwhile. The batch is rolled back and applied one event at a time.
#[derive(Debug, thiserror::Error)]
#[error("the users table changed under a batch: {0} rows written where {1} were planned")]
pub struct RowsMoved(usize, usize);

/// Reads the (username in use, inserted) row of `insert_new` and `upsert`.
fn written(statement: &OwnedPreparedStatement, row: &UserRow) -> Result<Option<Written>, ClerkSyncError> {
    let (in_use, inserted) = execute(statement, &user_row_args(row)?, |rows| rows.first().get_two::<bool, bool>())?;
    Ok(match (in_use, inserted) {
        (Some(true), _) => Some(Written::UsernameInUse),
        (_, Some(true)) => Some(Written::Inserted),
        _ => None,
    })
}

impl TargetPlan {
    /// Writes the user's row: inserts it, or updates it in place when it exists. `first_seen`
    /// tries the insert first (a user clerk_sync has never seen usually has no row yet), as
    /// `inserts` says (as new only when the table's unique indexes guard the plain insert).
    pub fn write(&self, row: &UserRow, first_seen: bool, inserts: Inserts) -> Result<Written, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            if first_seen {
                let inserted = match &self.insert_new {
                    InsertNewPlan::OnConflictDoNothing { plain, .. } if inserts == Inserts::AsNew => {
                        execute(plain, &user_row_args(row)?, |_| Ok(()))?;
                        Some(Written::Inserted)
                    }
                    InsertNewPlan::OnConflictDoNothing { on_conflict, .. } => {
                        execute(on_conflict, &user_row_args(row)?, |rows| Ok(!rows.is_empty()))?
                            .then_some(Written::Inserted)
                    }
                    InsertNewPlan::Checked(statement) => written(statement, row)?,
                };
                if let Some(written) = inserted {
                    return Ok(written);
                }
            }
            Ok(written(&self.upsert, row)?.unwrap_or(Written::Updated))
        })
    }

    /// The rows whose Clerk id is one of `users` or whose username one of `names`.
    pub fn rows_of(&self, users: &[String], names: &[String]) -> Result<Vec<RowKeys>, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            execute_planned_now(&self.batch.rows_of, &[users.to_vec().into(), names.to_vec().into()], |rows| {
                rows.map(|row| Ok((row.get::<String>(1)?, row.get::<String>(2)?))).collect()
            })
        })
    }

    /// Writes what a batch plan says of the users table: deletes, then updates, then inserts.
    /// Ok(Err) when the rows written are not the rows planned.
    pub fn write_batch(&self, plan: &Plan) -> Result<Result<(), RowsMoved>, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            if !plan.deletes.is_empty() {
                let delete = self.batch.delete.as_ref().expect("a batch deletes only when deletes are not soft");
                execute_planned_now(delete, &[plan.deletes.clone().into()], |_| Ok(()))?;
            }
            for (statement, rows) in [(&self.batch.update, &plan.updates), (&self.batch.insert, &plan.inserts)] {
                if rows.is_empty() {
                    continue;
                }
                let written = execute_planned_now(statement, &user_rows_args(rows), |result| Ok(result.len()))?;
                if written != rows.len() {
                    return Ok(Err(RowsMoved(written, rows.len())));
                }
            }
            Ok(Ok(()))
        })
    }

    /// The id of the row with this Clerk id, if the table has one (read as the owner).
    pub fn row_id(&self, clerk_id: &str) -> Result<Option<String>, ClerkSyncError> {
        table_owner::run_as(self.owner, || {
            execute(&self.row_id, &[clerk_id.into()], |rows| {
                if rows.is_empty() {
                    return Ok(None);
                }
                rows.first().get_one::<String>()
            })
        })
    }

    /// Whether the table has a row with this Clerk id (read as the owner).
    pub fn has_row(&self, clerk_id: &str) -> Result<bool, ClerkSyncError> {
        Ok(self.row_id(clerk_id)?.is_some())
    }

    /// The Clerk ids of the rows (not deleted) whose id is not one of `listed`, sorted.
    pub fn unlisted(&self, listed: Vec<String>) -> Result<Vec<String>, ClerkSyncError> {
        catalog::unlisted(self.owner, &self.unlisted, listed)
    }

    /// Deletes (or soft-deletes) the user's row, if there is one.
    pub fn delete(&self, clerk_id: &str, deleted_at_ms: i64) -> Result<(), ClerkSyncError> {
        table_owner::run_as(self.owner, || execute(&self.delete, &[clerk_id.into(), deleted_at_ms.into()], |_| Ok(())))
    }
}

fn build(target: &Target) -> Result<Option<TargetPlan>, ClerkSyncError> {
    let Some(table) = catalog::writable(&target.schema, &target.table)? else {
        return Ok(None);
    };
    let (relid, owner) = (table.relid, table.owner);
    let statements = users_sql::build(target, table.column_lookup())?;
    // Prepared in the context they run in, so the plans are parsed with its search_path.
    table_owner::run_as(owner, || {
        let insert_new = match &statements.insert_new {
            InsertNew::OnConflictDoNothing { on_conflict, plain } => InsertNewPlan::OnConflictDoNothing {
                on_conflict: prepare(on_conflict, &USER_ROW_TYPES)?,
                plain: prepare(plain, &USER_ROW_TYPES)?,
            },
            InsertNew::Checked(sql) => InsertNewPlan::Checked(prepare(sql, &USER_ROW_TYPES)?),
        };
        Ok(Some(TargetPlan {
            relid,
            owner,
            insert_new,
            upsert: prepare(&statements.upsert, &USER_ROW_TYPES)?,
            row_id: prepare(&statements.row_id, &[TEXT])?,
            delete: prepare(&statements.delete, &[TEXT, INT8])?,
            unlisted: statements.unlisted.clone(),
            batch: statements.batch.clone(),
            email_required: statements.email_required,
            usernames: statements.usernames,
        }))
    })
}

/// The plan for the current configuration, built on first use; a missing table is an error.
pub fn plan(target: &Target) -> Result<Rc<TargetPlan>, ClerkSyncError> {
    PLAN.with(|plan| plan.get(|| build(target)))?
        .ok_or_else(|| TargetError::NoTable(format!("{}.{}", target.schema, target.table)).into())
}
