//! `set_setting`, `reset_setting`, `settings()`: configuration kept in a table, so it is
//! transactional and pg_dump keeps it. Defaults live in `clerk_sync_core::settings`.

use clerk_sync_core::settings::{self, SPECS};
use pgrx::prelude::*;

use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;

/// Used by the setting table's CHECK constraint, so that direct DML is validated too.
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn setting_is_valid(name: &str, value: &str) -> bool {
    settings::validate(name, value).or_report();
    true
}

/// The effective value of one setting (cached per backend, like everything the webhook reads).
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn setting_value(name: &str) -> String {
    let settings = config_cache::settings().or_report();
    settings.value(name).or_report().to_owned()
}

/// The setting `max_body_bytes`, for a proxy in front of `receive`: it answers 413 at the same
/// limit without sending the body. Runs as the extension's owner (the proxy's role cannot read
/// the settings table), so the proxy's role needs only `EXECUTE` on it.
#[pg_extern(stable, parallel_safe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn max_body_bytes() -> i64 {
    crate::own_tables::config_cache::settings().or_report().max_body_bytes as i64
}

#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn set_setting(name: Option<&str>, value: Option<&str>) {
    let name = name.ok_or(ClerkSyncError::NullArgument("name")).or_report();
    let value = value.ok_or(ClerkSyncError::NullArgument("value")).or_report();
    settings::validate(name, value).or_report();
    Spi::run_with_args(
        "INSERT INTO clerk_sync.setting (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        &[name.into(), value.trim().into()],
    )
    .or_report();
}

#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn reset_setting(name: Option<&str>) {
    let name = name.ok_or(ClerkSyncError::NullArgument("name")).or_report();
    settings::spec(name).or_report();
    Spi::run_with_args("DELETE FROM clerk_sync.setting WHERE name = $1", &[name.into()]).or_report();
}

/// Every setting with its effective value.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn settings() -> TableIterator<
    'static,
    (name!(name, String), name!(value, String), name!(is_default, bool), name!(description, String)),
> {
    let stored: Vec<(String, String)> = Spi::connect(|client| {
        client
            .select("SELECT name, value FROM clerk_sync.setting", None, &[])?
            .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default())))
            .collect::<Result<_, pgrx::spi::Error>>()
    })
    .or_report();
    let effective = config_cache::settings().or_report();
    let rows: Vec<_> = SPECS
        .iter()
        .map(|spec| {
            let is_default = !stored.iter().any(|(name, _)| name == spec.name);
            let value = effective.value(spec.name).expect("every spec has a value").to_owned();
            (spec.name.to_owned(), value, is_default, spec.description.to_owned())
        })
        .collect();
    TableIterator::new(rows)
}
