//! Running the app's code with the app's rights.
//!
//! Triggers, column defaults, CHECK constraints, index expressions and rules on the app's table
//! run as whoever writes the table. clerk_sync's entry points run as the extension's owner (a
//! superuser), so every statement that touches an app table runs here instead: as the table's
//! owner, inside a security-restricted operation, with `search_path = pg_catalog, pg_temp` and a
//! GUC nest level of its own — what PostgreSQL does for `REFRESH MATERIALIZED VIEW`, `VACUUM` and
//! `CREATE INDEX`. The owner cannot `SET ROLE` back, create temporary objects or leave a setting
//! changed behind it, and what it lacks the right to do fails with SQLSTATE 42501.

use std::ffi::{c_int, CStr};

use pgrx::pg_sys;

use crate::guc::NestLevel;

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

/// Runs `work` as `owner` in a security-restricted operation.
pub fn run_as<T>(owner: pg_sys::Oid, work: impl FnOnce() -> T) -> T {
    let _context = OwnerContext::enter(owner);
    work()
}
