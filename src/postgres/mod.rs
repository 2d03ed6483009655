//! PostgreSQL plumbing: prepared statements, subtransactions, GUC nest levels, `jsonb` read in
//! place, times, notifications, cache invalidation and the schema guard.

pub mod delivery_body;
pub mod invalidation;
pub mod jsonb;
pub mod nest_level;
pub mod notify;
pub mod schema_guard;
pub mod statements;
pub mod subtransaction;
pub mod unix_time;
