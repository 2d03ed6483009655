//! The Postgres-free core of clerk_sync: every decision, as plain functions the extension and the
//! proxy call and plain tests reach.
//!
//! - `verify`: Svix signatures, headers, signing keys, why a request is refused;
//! - `event`: Clerk's payloads read into events (users, usernames, organizations, the `jsonb`
//!   bytes of a body);
//! - `apply`: what an event does (`engine`), the one ordering rule (`ordering`), many events at
//!   once (`batch`);
//! - `reply`: what the sender of a delivery is answered;
//! - `app_tables`: the SQL that writes the app's tables, built from their columns;
//! - `session`: the session token's claims and Clerk's `has()`;
//! - `settings` and `doctor`: configuration, and the problems `doctor()` names.

pub mod app_tables;
pub mod apply;
pub mod doctor;
pub mod event;
pub mod reply;
pub mod session;
pub mod settings;
pub mod verify;

pub use event::user::UserRecord;
pub use event::{envelope, parse_event, parse_ours, ClerkEvent, Envelope, PayloadError};
pub use settings::{DeleteMode, MembershipTarget, OrganizationTarget, References, SettingError, Settings, Target};
pub use verify::headers::{HeaderEntry, SignatureHeaders};
pub use verify::rejection::{HeaderKind, Rejection};
pub use verify::signature::{sign, verify, Verified};
pub use verify::signing_key::{SecretError, SigningKey};
pub use verify::verify_delivery;
