//! What each backend caches is dropped when what it was built from changes: one relcache callback
//! for the configuration cache and every app table's plan, and the schema guard's syscache
//! callback. Registered once, in `_PG_init`.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::app_tables;
use crate::own_tables::config_cache;
use crate::postgres::schema_guard;

pub fn register() {
    // SAFETY: called once from _PG_init; the callback lives as long as the loaded library.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0)) };
    schema_guard::register_invalidation();
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let config_changed = config_cache::invalidate(relid);
    app_tables::invalidate(relid, config_changed);
}

/// Trigger on the secret and setting tables: tells every backend to reload its cache.
#[pg_trigger]
fn config_changed<'a>(trigger: &'a PgTrigger<'a>) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    // SAFETY: the relation id comes from the firing trigger and names an existing table.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relid()?) };
    Ok(None)
}
