//! The SQL functions callers call. One delivery, from the request to the row: `receive` (here),
//! then `crate::store` (the engine's steps) and the table modules it calls.

pub mod apply;
pub mod batches;
pub mod ensure_user;
pub mod entitlements;
pub mod receive;
pub mod reconcile;
pub mod session_token;
pub mod status;
pub mod verify;
pub mod webhook;
