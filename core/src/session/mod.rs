//! The request's Clerk session token: who is signed in (`claims`) and what Clerk's `has()` answers
//! (`authorization`).

pub mod authorization;
pub mod claims;
