//! clerk_sync's own tables in schema `clerk_sync` (`sql/schema.sql`, `sql/inbox.sql`), each
//! written from exactly one module here, and the per-backend cache of the secrets and settings.

pub mod config_cache;
pub mod inbox;
pub mod secret;
pub mod setting;
pub mod user_state;
pub mod username_claim;
