//! The schema is ours or nothing runs.
//!
//! The library's statements name clerk_sync's tables (`clerk_sync.inbox`, …) and run as the
//! extension's owner, a superuser. Whoever owns the schema called `clerk_sync` decides what those
//! names mean: its owner may drop, rename or replace what is in it. So before clerk_sync reads
//! its configuration — the first step of every entry point — it checks that the schema of that
//! name is the extension's own, is owned by the extension's owner, and lets no other role create
//! objects in it. The answer is kept until pg_namespace changes (a syscache callback), so the
//! check costs one flag test per call.

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::ClerkSyncError;

thread_local! {
    static VERIFIED: Cell<bool> = const { Cell::new(false) };
}

// Every operator qualified: the entry points that run this as their caller (the session-token
// helpers) do not pin search_path.
const CHECK: &str = "\
SELECT n.oid OPERATOR(pg_catalog.=) e.extnamespace, n.nspowner OPERATOR(pg_catalog.=) e.extowner, \
       pg_catalog.pg_get_userbyid(n.nspowner)::pg_catalog.text, pg_catalog.pg_get_userbyid(e.extowner)::pg_catalog.text, \
       EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a \
               WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner) \
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) 'clerk_sync' \
WHERE e.extname OPERATOR(pg_catalog.=) 'clerk_sync'";

pub fn register_invalidation() {
    // SAFETY: called once from _PG_init; the callback lives as long as the loaded library.
    unsafe {
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::NAMESPACEOID as std::ffi::c_int,
            Some(on_namespace_change),
            pg_sys::Datum::from(0),
        );
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_namespace_change(_arg: pg_sys::Datum, _cache: std::ffi::c_int, _hash: u32) {
    VERIFIED.with(|verified| verified.set(false));
}

/// Ok when schema `clerk_sync` can be trusted; else why not (SQLSTATE 42501).
pub fn verify() -> Result<(), ClerkSyncError> {
    if VERIFIED.with(Cell::get) {
        return Ok(());
    }
    let found = Spi::connect(|client| {
        let mut rows = client.select(CHECK, Some(1), &[])?;
        let Some(row) = rows.next() else { return Ok::<_, pgrx::spi::Error>(None) };
        Ok(Some((
            row.get::<bool>(1)?.unwrap_or(false),
            row.get::<bool>(2)?.unwrap_or(false),
            row.get::<String>(3)?.unwrap_or_default(),
            row.get::<String>(4)?.unwrap_or_default(),
            row.get::<bool>(5)?.unwrap_or(true),
        )))
    })?;
    let Some((is_extension_schema, owned, owner, extension_owner, others_create)) = found else {
        return Err(ClerkSyncError::NotInstalled("schema clerk_sync"));
    };
    let problem = if !is_extension_schema {
        Some("the schema named clerk_sync is not the one the extension was installed in".to_owned())
    } else if !owned {
        Some(format!("schema clerk_sync belongs to role {owner}, not to the extension's owner {extension_owner}"))
    } else if others_create {
        Some("roles other than its owner may create objects in schema clerk_sync".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(ClerkSyncError::UntrustedSchema(problem));
    }
    VERIFIED.with(|verified| verified.set(true));
    Ok(())
}
