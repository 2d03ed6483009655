//! Random header maps and bodies: verification never panics and never succeeds without the key.

use clerk_sync_core::{sign, verify_delivery, HeaderEntry, SigningKey};
use proptest::prelude::*;

const NOW: i64 = 1_767_225_600;

fn key() -> SigningKey {
    SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("svix-id".to_owned()),
        Just("SVIX-TIMESTAMP".to_owned()),
        Just("Svix-Signature".to_owned()),
        Just("webhook-id".to_owned()),
        Just("webhook-timestamp".to_owned()),
        Just("webhook-signature".to_owned()),
        "\\PC{0,20}",
    ]
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => "\\PC{0,80}".prop_map(Some),
        2 => "(v1|v2|v1a|)[, ]{0,2}[A-Za-z0-9+/=]{0,60}( [A-Za-z0-9+/=,]{0,50}){0,3}".prop_map(Some),
        2 => "[0-9]{0,22}".prop_map(Some),
        1 => Just(None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_requests_never_panic_nor_verify(
        pairs in proptest::collection::vec((header_name(), header_value()), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
        tolerance in any::<u64>(),
    ) {
        let entries = pairs.iter().map(|(n, v)| HeaderEntry { name: n, value: v.as_deref() });
        prop_assert!(verify_delivery(entries, &body, &[key()], now, tolerance).is_err());
    }

    #[test]
    fn a_signature_from_another_key_never_verifies(
        id in "[a-zA-Z0-9_]{1,30}",
        offset in -300i64..=300,
        body in proptest::collection::vec(any::<u8>(), 0..512),
        other_key in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let other = SigningKey::from_bytes(other_key).unwrap();
        prop_assume!(other != key());
        let ts = (NOW + offset).to_string();
        let forged = sign(&other, &id, NOW + offset, &body);
        let good = sign(&key(), &id, NOW + offset, &body);
        let check = |sig: &str| {
            let entries = [
                HeaderEntry { name: "svix-id", value: Some(&id) },
                HeaderEntry { name: "svix-timestamp", value: Some(&ts) },
                HeaderEntry { name: "svix-signature", value: Some(sig) },
            ];
            verify_delivery(entries, &body, &[key()], NOW, 300)
        };
        prop_assert!(check(&forged).is_err());
        prop_assert!(check(&good).is_ok());
    }
}
