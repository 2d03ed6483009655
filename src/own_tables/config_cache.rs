//! The configured secrets and settings, cached per backend.
//!
//! Reading two tables through SPI on every verification would cost more than the HMAC itself, so
//! the first call loads them and later calls reuse them. A statement trigger on both tables sends
//! a relcache invalidation for the table on every change, and `postgres::invalidation` drops the
//! cache. Postgres delivers that invalidation to this backend at the end of the
//! changing command, on rollback, and to other backends when the change commits, so the cache
//! follows the tables transactionally.

use std::cell::RefCell;
use std::rc::Rc;

use clerk_sync_core::{Settings, SigningKey};
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::app_tables::table_owner;
use crate::error::ClerkSyncError;
use crate::postgres::schema_guard;

const SCHEMA: &std::ffi::CStr = c"clerk_sync";
const SECRET_TABLE: &std::ffi::CStr = c"secret";
const SETTING_TABLE: &std::ffi::CStr = c"setting";

struct Cached {
    keys: Option<Rc<[SigningKey]>>,
    settings: Option<Rc<Settings>>,
    secret_table: pg_sys::Oid,
    setting_table: pg_sys::Oid,
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached {
            keys: None,
            settings: None,
            secret_table: pg_sys::InvalidOid,
            setting_table: pg_sys::InvalidOid,
        })
    };
}

/// Drops the cache when `relid` is the secret or the setting table (or every relation); true
/// when it did: the settings may have changed.
pub fn invalidate(relid: pg_sys::Oid) -> bool {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let changed = relid == pg_sys::InvalidOid || relid == cache.secret_table || relid == cache.setting_table;
        if changed {
            cache.keys = None;
            cache.settings = None;
        }
        changed
    })
}

fn table_oid(name: &'static std::ffi::CStr) -> Result<pg_sys::Oid, ClerkSyncError> {
    // SAFETY: syscache lookups with NUL-terminated names; missing objects yield InvalidOid.
    let oid = unsafe {
        let namespace = pg_sys::get_namespace_oid(SCHEMA.as_ptr(), true);
        pg_sys::get_relname_relid(name.as_ptr(), namespace)
    };
    if oid == pg_sys::InvalidOid {
        return Err(ClerkSyncError::NotInstalled(name.to_str().unwrap_or("?")));
    }
    Ok(oid)
}

fn ensure_readable(table: pg_sys::Oid) -> Result<(), ClerkSyncError> {
    // SAFETY: plain catalog lookups for an existing relation and the current user.
    let allowed = unsafe {
        pg_sys::pg_class_aclcheck(table, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode)
            == pg_sys::AclResult::ACLCHECK_OK
    };
    if allowed {
        Ok(())
    } else {
        Err(ClerkSyncError::PermissionDenied("secrets"))
    }
}

fn load_keys() -> Result<Rc<[SigningKey]>, ClerkSyncError> {
    Spi::connect(|client| {
        let mut keys = Vec::new();
        for row in client.select("SELECT key FROM clerk_sync.secret ORDER BY added_at, label", None, &[])? {
            if let Some(bytes) = row.get::<Vec<u8>>(1)? {
                keys.push(SigningKey::from_bytes(bytes)?);
            }
        }
        Ok(keys.into())
    })
}

fn load_settings() -> Result<Rc<Settings>, ClerkSyncError> {
    Spi::connect(|client| {
        let release = client
            .select("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'clerk_sync'", None, &[])?
            .first()
            .get::<String>(1)?;
        let mut settings = release.as_deref().map_or_else(Settings::default, Settings::defaults_of_release);
        for row in client.select("SELECT name, value FROM clerk_sync.setting", None, &[])? {
            if let (Some(name), Some(value)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                settings.set(&name, &value)?;
            }
        }
        Ok(Rc::new(settings))
    })
}

/// The role that owns a relation.
fn owner_of(relid: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: `relid` names an existing relation (found just before); the relcache entry is
    // released at once.
    unsafe {
        let relation = pg_sys::RelationIdGetRelation(relid);
        let owner = (*(*relation).rd_rel).relowner;
        pg_sys::RelationClose(relation);
        owner
    }
}

/// The effective settings. Read as the settings table's owner: settings are no secret, and the
/// session-token helpers need `pending_sessions` for roles that may not read the table.
pub fn settings() -> Result<Rc<Settings>, ClerkSyncError> {
    schema_guard::verify()?;
    if let Some(settings) = CACHE.with(|cache| cache.borrow().settings.clone()) {
        return Ok(settings);
    }
    let setting_table = table_oid(SETTING_TABLE)?;
    let settings = table_owner::read_own_table_as(owner_of(setting_table), load_settings)?;
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.setting_table = setting_table;
        cache.settings = Some(settings.clone());
    });
    Ok(settings)
}

/// The configured signing keys; at least one. A role that may not read the secrets gets
/// `insufficient_privilege`, whether or not another role already filled this backend's cache.
pub fn keys() -> Result<Rc<[SigningKey]>, ClerkSyncError> {
    schema_guard::verify()?;
    let (cached, secret_table) = CACHE.with(|cache| {
        let cache = cache.borrow();
        (cache.keys.clone(), cache.secret_table)
    });
    let keys = match cached {
        Some(keys) => {
            ensure_readable(secret_table)?;
            keys
        }
        None => {
            let secret_table = table_oid(SECRET_TABLE)?;
            ensure_readable(secret_table)?;
            let keys = load_keys()?;
            CACHE.with(|cache| {
                let mut cache = cache.borrow_mut();
                cache.secret_table = secret_table;
                cache.keys = Some(keys.clone());
            });
            keys
        }
    };
    if keys.is_empty() {
        return Err(ClerkSyncError::NotConfigured);
    }
    Ok(keys)
}
