//! The app's tables: found in the catalog (`catalog`), planned once per backend and
//! configuration (`catalog::Cached`), written as their owner (`table_owner`). One module per
//! table; a new one adds its module and its line in `PLANS`.

use pgrx::pg_sys;

pub mod catalog;
pub mod memberships;
pub mod organizations;
pub mod subscription_items;
pub mod table_owner;
pub mod users;

/// Every app table's plan cache, dropped when its table or the settings change.
const PLANS: [fn(pg_sys::Oid, bool); 4] =
    [users::invalidate, organizations::invalidate, memberships::invalidate, subscription_items::invalidate];

/// Called from the relcache callback: `config_changed` when the settings may have changed.
pub fn invalidate(relid: pg_sys::Oid, config_changed: bool) {
    for invalidate in PLANS {
        invalidate(relid, config_changed);
    }
}
