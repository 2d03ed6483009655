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

const SAFE_SEARCH_PATH: &CStr = c"pg_catalog, pg_temp";

/// The caller's identity, restored when this is dropped: on return and while unwinding an error.
struct OwnerContext {
    saved_user: pg_sys::Oid,
    saved_context: c_int,
    guc_nest_level: c_int,
}

impl OwnerContext {
    fn enter(owner: pg_sys::Oid) -> Self {
        let mut saved_user = pg_sys::InvalidOid;
        let mut saved_context: c_int = 0;
        // SAFETY: plain reads and writes of the backend's identity and GUC state, as PostgreSQL's
        // own maintenance commands do them; `owner` is a role from pg_class.relowner.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
            let restricted = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as c_int;
            pg_sys::SetUserIdAndSecContext(owner, saved_context | restricted);
            let guc_nest_level = pg_sys::NewGUCNestLevel();
            // Entered before the setting changes, so that dropping undoes it even if it fails.
            let context = OwnerContext { saved_user, saved_context, guc_nest_level };
            // The entry points pin this path already; setting it again would cost every write.
            let current = pg_sys::namespace_search_path;
            if !current.is_null() && CStr::from_ptr(current) == SAFE_SEARCH_PATH {
                return context;
            }
            pg_sys::set_config_option(
                c"search_path".as_ptr(),
                SAFE_SEARCH_PATH.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
            context
        }
    }
}

impl Drop for OwnerContext {
    fn drop(&mut self) {
        // SAFETY: undoes exactly what `enter` did, innermost first.
        unsafe {
            pg_sys::AtEOXact_GUC(false, self.guc_nest_level);
            pg_sys::SetUserIdAndSecContext(self.saved_user, self.saved_context);
        }
    }
}

/// Runs `work` as `owner` in a security-restricted operation.
pub fn run_as<T>(owner: pg_sys::Oid, work: impl FnOnce() -> T) -> T {
    let _context = OwnerContext::enter(owner);
    work()
}
