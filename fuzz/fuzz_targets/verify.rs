//! Header parsing and verification on arbitrary input: never panics, never verifies without the
//! key. Input: header entries separated by \n as `name: value`, then \0, then the body.
#![no_main]

use clerk_sync_core::{sign, verify_delivery, HeaderEntry, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let (head, body) = match data.iter().position(|&b| b == 0) {
        Some(split) => (&data[..split], &data[split + 1..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let entries: Vec<HeaderEntry> = head
        .split('\n')
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| HeaderEntry { name, value: Some(value) })
        .collect();
    let now = 1_767_225_600;
    if let Ok(verified) = verify_delivery(entries.iter().copied(), body, std::slice::from_ref(&key), now, 300) {
        // Only possible if the input carries the right MAC, which the fuzzer cannot compute.
        let expected = sign(&key, &verified.msg_id, verified.timestamp, body);
        assert!(head.contains(&expected[3..]), "verified without the key's MAC");
    }
    let _ = SigningKey::parse(&head);
});
