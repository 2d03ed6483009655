//! Svix / Standard Webhooks signatures, scheme v1:
//! `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::verify::headers::SignatureHeaders;
use crate::verify::rejection::Rejection;
use crate::verify::signing_key::{SigningKey, LENIENT_BASE64};

const MAC_LEN: usize = 32;

/// What a successful verification established about the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub msg_id: String,
    pub timestamp: i64,
}

fn mac(key: &SigningKey, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `svix-signature` value (`v1,<base64>`) for a delivery.
pub fn sign(key: &SigningKey, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", LENIENT_BASE64.encode(mac(key, msg_id, timestamp, body)))
}

/// Parses a timestamp header: ASCII digits only (no sign, no fraction, no spaces inside).
/// All digits but too large for an i64 is reported as `None` inside `Ok`, meaning "far future".
fn parse_timestamp(raw: &str) -> Result<Option<i64>, Rejection> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::MalformedTimestamp);
    }
    Ok(raw.parse::<i64>().ok())
}

fn check_window(timestamp: Option<i64>, now_s: i64, tolerance_s: u64) -> Result<i64, Rejection> {
    let Some(ts) = timestamp else {
        return Err(Rejection::TooNew { ahead_s: u128::MAX, tolerance_s });
    };
    let diff = i128::from(now_s) - i128::from(ts);
    let tolerance = i128::from(tolerance_s);
    if diff > tolerance {
        Err(Rejection::TooOld { age_s: diff.unsigned_abs(), tolerance_s })
    } else if -diff > tolerance {
        Err(Rejection::TooNew { ahead_s: diff.unsigned_abs(), tolerance_s })
    } else {
        Ok(ts)
    }
}

/// The decoded MACs of every well-formed `v1` entry; other versions and junk are skipped.
fn v1_macs(signature_header: &str) -> Vec<[u8; MAC_LEN]> {
    signature_header
        .split_ascii_whitespace()
        .filter_map(|entry| {
            let (version, encoded) = entry.split_once(',')?;
            if version != "v1" {
                return None;
            }
            let decoded = LENIENT_BASE64.decode(encoded).ok()?;
            decoded.try_into().ok()
        })
        .collect()
}

/// Verifies one delivery against every key: valid when any v1 entry matches any key, and the
/// timestamp lies within `tolerance_s` of `now_s` (inclusive, both directions). The timestamp is
/// checked before any MAC is computed.
pub fn verify(
    headers: &SignatureHeaders<'_>,
    body: &[u8],
    keys: &[SigningKey],
    now_s: i64,
    tolerance_s: u64,
) -> Result<Verified, Rejection> {
    let timestamp = check_window(parse_timestamp(headers.timestamp)?, now_s, tolerance_s)?;
    let candidates = v1_macs(headers.signature);
    let mut matched = subtle::Choice::from(0);
    if !candidates.is_empty() {
        for key in keys {
            let expected = mac(key, headers.id, timestamp, body);
            for candidate in &candidates {
                matched |= expected.ct_eq(candidate);
            }
        }
    }
    if bool::from(matched) {
        Ok(Verified { msg_id: headers.id.to_owned(), timestamp })
    } else {
        Err(Rejection::NoMatchingSignature { v1_entries: candidates.len(), keys: keys.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignatureHeaders<'a> {
        SignatureHeaders { id, timestamp: ts, signature: sig }
    }

    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const TS: i64 = 1614265330;

    #[test]
    fn sign_matches_the_public_vector() {
        assert_eq!(sign(&key(), "msg_p5jXN8AQM9LWM0D4loKWxJek", TS, BODY), SIG);
    }

    #[test]
    fn tolerance_is_inclusive_in_both_directions() {
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", SIG);
        let k = [key()];
        assert!(verify(&h, BODY, &k, TS + 300, 300).is_ok());
        assert!(verify(&h, BODY, &k, TS - 300, 300).is_ok());
        assert_eq!(verify(&h, BODY, &k, TS + 301, 300), Err(Rejection::TooOld { age_s: 301, tolerance_s: 300 }));
        assert_eq!(verify(&h, BODY, &k, TS - 301, 300), Err(Rejection::TooNew { ahead_s: 301, tolerance_s: 300 }));
        assert!(verify(&h, BODY, &k, TS + 1000, 1000).is_ok());
        assert!(verify(&h, BODY, &k, TS, 0).is_ok());
        assert!(verify(&h, BODY, &k, TS + 1, 0).is_err());
    }

    #[test]
    fn non_digit_timestamps_are_malformed() {
        let k = [key()];
        for ts in ["hello", "-1", "1614265330.5", "1614265330abc", "+1614265330", "1 2", "١٢٣"] {
            let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, SIG);
            assert_eq!(verify(&h, BODY, &k, TS, 300), Err(Rejection::MalformedTimestamp), "{ts}");
        }
    }

    #[test]
    fn leading_zeros_are_the_same_instant() {
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "0001614265330", SIG);
        assert!(verify(&h, BODY, &[key()], TS, 300).is_ok());
    }

    #[test]
    fn huge_timestamps_are_too_new_not_a_crash() {
        let k = [key()];
        for ts in ["99999999999999999999999999", "9223372036854775807", "9223372036854775808"] {
            let h = headers("m", ts, SIG);
            assert!(matches!(verify(&h, BODY, &k, TS, 300), Err(Rejection::TooNew { .. })), "{ts}");
        }
        let h = headers("m", "0", SIG);
        assert!(matches!(verify(&h, BODY, &k, i64::MAX, u64::MAX), Err(Rejection::NoMatchingSignature { .. })));
    }

    #[test]
    fn any_key_may_match_any_entry() {
        let old = SigningKey::parse("whsec_plJ3nmyCDGBKInavdOK15jsl").unwrap();
        let new = key();
        let sig_old = sign(&old, "m", TS, BODY);
        let sig_new = sign(&new, "m", TS, BODY);
        let both = format!("{sig_old} {sig_new}");
        for sig in [&sig_old, &sig_new, &both] {
            let h = headers("m", "1614265330", sig);
            assert!(verify(&h, BODY, &[old.clone(), new.clone()], TS, 300).is_ok());
        }
        let h = headers("m", "1614265330", &sig_old);
        assert_eq!(
            verify(&h, BODY, std::slice::from_ref(&new), TS, 300),
            Err(Rejection::NoMatchingSignature { v1_entries: 1, keys: 1 })
        );
        assert_eq!(verify(&h, BODY, &[], TS, 300), Err(Rejection::NoMatchingSignature { v1_entries: 1, keys: 0 }));
    }

    #[test]
    fn junk_entries_are_skipped() {
        let sig = format!("v1 v1, ,, v2,{} v1,!!! v1,AAAA {SIG} v1,", &SIG[3..]);
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &sig);
        assert!(verify(&h, BODY, &[key()], TS, 300).is_ok());
    }

    #[test]
    fn every_part_of_the_signed_content_matters() {
        let k = [key()];
        let ok = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", SIG);
        assert!(verify(&ok, BODY, &k, TS, 300).is_ok());
        let other_id = headers("msg_p5jXN8AQM9LWM0D4loKWxJel", "1614265330", SIG);
        assert!(verify(&other_id, BODY, &k, TS, 300).is_err());
        let other_ts = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331", SIG);
        assert!(verify(&other_ts, BODY, &k, TS, 300).is_err());
        let mut body = BODY.to_vec();
        for i in 0..body.len() {
            body[i] ^= 1;
            assert!(verify(&ok, &body, &k, TS, 300).is_err(), "byte {i}");
            body[i] ^= 1;
        }
    }
}
