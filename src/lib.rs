//! clerk_sync: Clerk webhooks verified and applied inside PostgreSQL.
//!
//! The logic lives in the Postgres-free `clerk_sync_core` crate; the modules here are the SQL glue.

use pgrx::prelude::*;

mod app_table;
mod apply;
mod batch;
mod config;
mod error;
mod guc;
mod identity;
mod inbox;
mod jsonb;
mod memberships;
mod notify;
mod organizations;
mod receive;
mod reconcile;
mod schema_guard;
mod secrets;
mod session_token;
mod settings;
mod statements;
mod status;
mod store;
mod subtransaction;
mod table_owner;
mod target;
#[cfg(any(test, feature = "pg_test"))]
mod testing;
mod unix_time;
mod user_state;
mod usernames;
mod verify;
mod webhook;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/schema_owner.sql", name = "schema_owner", bootstrap);
pgrx::extension_sql_file!(
    "../sql/schema.sql",
    name = "schema",
    requires = [settings::setting_is_valid, config::config_changed]
);
pgrx::extension_sql_file!(
    "../sql/inbox.sql",
    name = "inbox",
    requires = ["schema", receive::replay, batch::replay_each]
);
pgrx::extension_sql_file!("../sql/webhook.sql", name = "webhook", requires = ["inbox", receive::receive]);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    config::register_invalidation();
    schema_guard::register_invalidation();
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
