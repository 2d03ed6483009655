//! The Postgres-free core of clerk_sync: Svix signature verification and Clerk payload mapping.

pub mod authorization;
pub mod batch;
pub mod claims;
pub mod doctor;
pub mod engine;
pub mod event;
pub mod headers;
pub mod ident;
pub mod jsonb_encode;
pub mod ordering;
pub mod organization;
pub mod organization_sql;
pub mod rejection;
pub mod secret;
pub mod settings;
pub mod signature;
pub mod target_sql;
pub mod user;
pub mod username;

pub use event::{envelope, parse_event, parse_ours, ClerkEvent, Envelope, PayloadError};
pub use headers::{HeaderEntry, SignatureHeaders};
pub use rejection::{HeaderKind, Rejection};
pub use secret::{SecretError, SigningKey};
pub use settings::{DeleteMode, MembershipTarget, OrganizationTarget, References, SettingError, Settings, Target};
pub use signature::{sign, verify, Verified};
pub use user::UserRecord;

/// Extracts the signature headers from forwarded header entries and verifies the delivery.
pub fn verify_delivery<'a, I>(
    entries: I,
    body: &[u8],
    keys: &[SigningKey],
    now_s: i64,
    tolerance_s: u64,
) -> Result<Verified, Rejection>
where
    I: IntoIterator<Item = HeaderEntry<'a>>,
{
    let headers = SignatureHeaders::extract(entries)?;
    verify(&headers, body, keys, now_s, tolerance_s)
}
