//! Every case of the shared Svix / Standard Webhooks vectors, through the public API.

use clerk_sync_core::{sign, verify_delivery, HeaderEntry, Rejection, SigningKey};
use serde_json::Value;

const VECTORS: &str = include_str!("../../tests/fixtures/signature-vectors.json");

struct Case {
    name: String,
    key: SigningKey,
    msg_id: String,
    timestamp: i64,
    body: String,
    signature: String,
}

fn cases(group: &str) -> Vec<Case> {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let list = doc[group].as_array().unwrap();
    assert!(!list.is_empty(), "no {group} vectors");
    list.iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_owned(),
            key: SigningKey::parse(c["secret"].as_str().unwrap()).unwrap(),
            msg_id: c["msg_id"].as_str().unwrap().to_owned(),
            timestamp: c["timestamp"].as_i64().unwrap(),
            body: c["body"].as_str().unwrap().to_owned(),
            signature: c["signature"].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn check(case: &Case, now: i64) -> Result<(), Rejection> {
    let ts = case.timestamp.to_string();
    let entries = [
        HeaderEntry { name: "svix-id", value: Some(&case.msg_id) },
        HeaderEntry { name: "svix-timestamp", value: Some(&ts) },
        HeaderEntry { name: "svix-signature", value: Some(&case.signature) },
    ];
    verify_delivery(entries, case.body.as_bytes(), std::slice::from_ref(&case.key), now, 300).map(|_| ())
}

#[test]
fn valid_vectors_verify_at_their_timestamp() {
    for case in cases("valid") {
        assert_eq!(check(&case, case.timestamp), Ok(()), "{}", case.name);
    }
}

#[test]
fn valid_vectors_are_reproduced_by_sign() {
    for case in cases("valid") {
        let ours = sign(&case.key, &case.msg_id, case.timestamp, case.body.as_bytes());
        assert!(case.signature.split(' ').any(|s| s == ours), "{}: {ours}", case.name);
    }
}

#[test]
fn invalid_vectors_fail_with_no_matching_signature() {
    for case in cases("invalid") {
        match check(&case, case.timestamp) {
            Err(Rejection::NoMatchingSignature { .. }) => {}
            other => panic!("{}: {other:?}", case.name),
        }
    }
}

#[test]
fn valid_vectors_obey_the_tolerance_rules() {
    for case in cases("valid") {
        assert!(check(&case, case.timestamp + 300).is_ok(), "{}", case.name);
        assert!(check(&case, case.timestamp - 300).is_ok(), "{}", case.name);
        assert!(matches!(check(&case, case.timestamp + 301), Err(Rejection::TooOld { .. })));
        assert!(matches!(check(&case, case.timestamp - 301), Err(Rejection::TooNew { .. })));
    }
}
