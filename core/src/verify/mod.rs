//! Is this request from Clerk? Svix's signature scheme: the headers forwarded with a delivery,
//! the signing keys, the signature check, and why a request is refused.

pub mod headers;
pub mod rejection;
pub mod signature;
pub mod signing_key;

use headers::{HeaderEntry, SignatureHeaders};
use rejection::Rejection;
use signature::Verified;
use signing_key::SigningKey;

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
    signature::verify(&headers, body, keys, now_s, tolerance_s)
}
