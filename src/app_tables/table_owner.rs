//! Running the app's code with the app's rights.
//!
//! Triggers, column defaults, CHECK constraints, index expressions and rules on the app's table
//! run as whoever writes the table. clerk_sync's entry points run as the extension's owner (a
//! superuser), so every statement that touches an app table runs here instead: as the table's
//! owner, inside a security-restricted operation, with `search_path = pg_catalog, pg_temp` and a
//! GUC nest level of its own — what PostgreSQL does for `REFRESH MATERIALIZED VIEW`, `VACUUM` and
//! `CREATE INDEX`. The owner cannot `SET ROLE` back, create temporary objects or leave a setting
//! changed behind it, and what it lacks the right to do fails with SQLSTATE 42501.
//!
//! One door stays open: a name the owner's code looks up — a trigger function with its own
//! `SET search_path = public` searches the session's temporary schema first for tables and types
//! — finds what the *caller* created there. So nothing runs as the owner while the calling
//! session's temporary schema holds a relation, a type or a function (PostgREST and the proxy
//! never create any; a session that did gets 42501, and a delivery is kept as failed).

use std::ffi::{c_int, CStr};

use pgrx::pg_sys;

use pgrx::Spi;

use crate::error::ClerkSyncError;
use crate::postgres::nest_level::NestLevel;

const SAFE_SEARCH_PATH: &CStr = c"pg_catalog, pg_temp";

/// The caller's identity, restored when this is dropped: on return and while unwinding an error.
struct SavedUser {
    user: pg_sys::Oid,
    context: c_int,
}

impl SavedUser {
    fn switch_to(owner: pg_sys::Oid) -> Self {
        let mut user = pg_sys::InvalidOid;
        let mut context: c_int = 0;
        // SAFETY: plain reads and writes of the backend's identity, as PostgreSQL's own
        // maintenance commands do them; `owner` is a role from pg_class.relowner.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            let restricted = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as c_int;
            pg_sys::SetUserIdAndSecContext(owner, context | restricted);
        }
        SavedUser { user, context }
    }
}

impl Drop for SavedUser {
    fn drop(&mut self) {
        // SAFETY: undoes what `switch_to` did.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) }
    }
}

/// Fields drop in order: the settings are undone before the identity is restored.
struct OwnerContext {
    _settings: NestLevel,
    _user: SavedUser,
}

impl OwnerContext {
    fn enter(owner: pg_sys::Oid) -> Self {
        let user = SavedUser::switch_to(owner);
        // Entered before the setting changes, so that dropping undoes it even if it fails.
        let settings = NestLevel::enter();
        // The entry points pin this path already; setting it again would cost every write.
        // SAFETY: namespace_search_path is the current setting's string or NULL.
        let current = unsafe { pg_sys::namespace_search_path };
        if current.is_null() || unsafe { CStr::from_ptr(current) } != SAFE_SEARCH_PATH {
            settings.set(c"search_path", SAFE_SEARCH_PATH);
        }
        OwnerContext { _settings: settings, _user: user }
    }
}

const TEMPORARY_OBJECTS: &str = "\
SELECT EXISTS (SELECT FROM pg_catalog.pg_class WHERE relnamespace = $1) \
    OR EXISTS (SELECT FROM pg_catalog.pg_type WHERE typnamespace = $1) \
    OR EXISTS (SELECT FROM pg_catalog.pg_proc WHERE pronamespace = $1)";

/// Raises 42501 when this session's temporary schema holds anything a name could resolve to.
fn refuse_temporary_objects() {
    // SAFETY: pg_my_temp_schema takes no argument and returns an oid, InvalidOid until this
    // session first creates a temporary object.
    let namespace = unsafe { pgrx::direct_function_call::<pg_sys::Oid>(pg_sys::pg_my_temp_schema, &[]) }
        .unwrap_or(pg_sys::InvalidOid);
    if namespace == pg_sys::InvalidOid {
        return;
    }
    let holds = Spi::get_one_with_args::<bool>(TEMPORARY_OBJECTS, &[namespace.into()]);
    if !matches!(holds, Ok(Some(false))) {
        ClerkSyncError::TemporaryObjects.report();
    }
}

/// Runs `work` as `owner` in a security-restricted operation.
pub fn run_as<T>(owner: pg_sys::Oid, work: impl FnOnce() -> T) -> T {
    refuse_temporary_objects();
    let _context = OwnerContext::enter(owner);
    work()
}

/// Reads one of clerk_sync's own tables as its owner, for a caller that may not read it (the
/// settings behind the session-token helpers). Only for statements that name everything
/// schema-qualified and run no app code: no temporary object can be reached, so none is refused.
pub fn read_own_table_as<T>(owner: pg_sys::Oid, work: impl FnOnce() -> T) -> T {
    let _context = OwnerContext::enter(owner);
    work()
}
