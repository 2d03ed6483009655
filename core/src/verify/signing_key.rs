//! Svix signing secrets: `whsec_<base64>` or bare base64, decoded to the HMAC key.

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Standard alphabet; padded and unpadded input are both accepted.
pub(crate) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the signing secret is empty")]
    Empty,
    #[error(
        "the signing secret is not base64 (expected \"whsec_\" followed by base64, as the Clerk dashboard shows it)"
    )]
    NotBase64,
}

/// A decoded HMAC key. `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.fingerprint())
    }
}

impl SigningKey {
    /// Parses a secret as the Clerk dashboard shows it. Surrounding whitespace (a pasted newline)
    /// is ignored; there is no minimum length, since Svix's own examples use 18-byte keys.
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let trimmed = secret.trim();
        let encoded = trimmed.strip_prefix(PREFIX).unwrap_or(trimmed);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = LENIENT_BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { bytes })
    }

    /// Wraps key bytes already decoded (as stored by the extension).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key in the dashboard's `whsec_` form.
    pub fn to_whsec(&self) -> String {
        format!("{PREFIX}{}", LENIENT_BASE64.encode(&self.bytes))
    }

    /// A short, stable name for the key that reveals nothing usable about it: the first 8 bytes
    /// of a domain-separated SHA-256, in hex.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new().chain_update(b"clerk_sync key fingerprint\0").chain_update(&self.bytes).finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_optional_and_padding_lenient() {
        let with_prefix = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let bare = SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(with_prefix, bare);
        assert_eq!(with_prefix.as_bytes().len(), 24);

        let padded = SigningKey::parse("whsec_AAECAwQ=").unwrap();
        let unpadded = SigningKey::parse("whsec_AAECAwQ").unwrap();
        assert_eq!(padded, unpadded);
        assert_eq!(padded.as_bytes(), &[0, 1, 2, 3, 4]);
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let key = SigningKey::parse("  whsec_plJ3nmyCDGBKInavdOK15jsl\n").unwrap();
        assert_eq!(key.as_bytes().len(), 18);
    }

    #[test]
    fn empty_and_non_base64_are_rejected() {
        assert_eq!(SigningKey::parse(""), Err(SecretError::Empty));
        assert_eq!(SigningKey::parse("whsec_"), Err(SecretError::Empty));
        assert_eq!(SigningKey::parse("   "), Err(SecretError::Empty));
        assert_eq!(SigningKey::parse("whsec_not base64!"), Err(SecretError::NotBase64));
        assert_eq!(SigningKey::parse("whsec_@@@@"), Err(SecretError::NotBase64));
        assert_eq!(SigningKey::from_bytes(vec![]), Err(SecretError::Empty));
    }

    #[test]
    fn whsec_round_trips() {
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(key.to_whsec(), "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        assert_eq!(SigningKey::parse(&key.to_whsec()).unwrap(), key);
    }

    #[test]
    fn fingerprint_is_short_stable_and_secret_free() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let other = SigningKey::parse("whsec_plJ3nmyCDGBKInavdOK15jsl").unwrap();
        assert_eq!(key.fingerprint().len(), 16);
        assert_eq!(key.fingerprint(), key.clone().fingerprint());
        assert_ne!(key.fingerprint(), other.fingerprint());
        let debug = format!("{key:?}");
        assert!(!debug.contains("MfKQ9r8"), "{debug}");
        assert!(debug.contains(&key.fingerprint()));
    }
}
