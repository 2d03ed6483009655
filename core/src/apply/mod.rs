//! What events do to the tables: the engine's decisions, the ordering rule they rest on, and the
//! planner that applies many events at once by the same decisions.

pub mod batch;
pub mod engine;
pub mod ordering;
