//! clerk_sync: Clerk webhooks verified and applied inside PostgreSQL.
//!
//! Every decision is the Postgres-free `clerk_sync_core`'s; the modules here are the SQL glue:
//!
//! - `entry`: the SQL functions callers call (`receive`, `clerk_verify`, `clerk_apply`, replay,
//!   `ensure_user`, the session-token helpers, `status`/`doctor`, reconcile);
//! - `own_tables`: clerk_sync's own tables, each written from one module (inbox, user_state,
//!   username_claim, secret, setting) and the cache of its configuration;
//! - `app_tables`: the app's tables (users, organizations, memberships), found in the catalog,
//!   planned once per backend and written as their owner;
//! - `postgres`: plumbing (prepared statements, subtransactions, jsonb, invalidation, the schema
//!   guard);
//! - `store`: the engine's `Store` over those tables.

use pgrx::prelude::*;

mod app_tables;
mod entry;
mod error;
mod own_tables;
mod postgres;
mod store;
#[cfg(any(test, feature = "pg_test"))]
mod testing;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/schema_owner.sql", name = "schema_owner", bootstrap);
pgrx::extension_sql_file!(
    "../sql/schema.sql",
    name = "schema",
    requires = [own_tables::setting::setting_is_valid, postgres::invalidation::config_changed]
);
pgrx::extension_sql_file!(
    "../sql/inbox.sql",
    name = "inbox",
    requires = ["schema", entry::receive::replay, entry::batches::replay_each]
);
pgrx::extension_sql_file!("../sql/webhook.sql", name = "webhook", requires = ["inbox", entry::receive::receive]);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    postgres::invalidation::register();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
