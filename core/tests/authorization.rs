//! v2 tokens' permissions decoded by the core against an independent reference: masks as
//! arbitrary-precision integers (num-bigint), far past 2^64, malformed ones among them, and
//! user-scoped features before, between and after the organization's.

use clerk_sync_core::session::authorization::{decode_permissions, split_by_scope};
use num_bigint::BigUint;
use proptest::prelude::*;

/// The reference: for the i-th organization feature, the i-th mask read as a big integer; bit j
/// (least significant first) grants the j-th permission. A mask that is not a number grants
/// nothing.
fn reference(elements: &[(String, String)], per: &[String], masks: &[String]) -> Vec<String> {
    let org_features: Vec<&String> =
        elements.iter().filter(|(scope, _)| matches!(scope.as_str(), "o" | "ou" | "uo")).map(|(_, f)| f).collect();
    let mut granted = Vec::new();
    for (index, feature) in org_features.iter().enumerate() {
        let Some(mask) = masks.get(index) else { break };
        let trimmed = mask.trim();
        let Some(value) = (!trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()))
            .then(|| BigUint::parse_bytes(trimmed.as_bytes(), 10))
            .flatten()
        else {
            continue;
        };
        for (bit, permission) in per.iter().enumerate() {
            if value.bit(bit as u64) {
                granted.push(format!("org:{feature}:{permission}"));
            }
        }
    }
    granted
}

fn mask() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,60}",
        1 => "[0-9]{1,3}",
        1 => Just(String::new()),
        1 => "[a-z+.-]{1,4}",
        1 => " [0-9]{1,20} ",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoding_matches_big_integers(
        elements in prop::collection::vec((prop::sample::select(vec!["o", "u", "ou", "uo", "x"]), "[a-z_]{1,8}"), 0..8),
        per in prop::collection::vec("[a-z]{1,6}", 0..70),
        masks in prop::collection::vec(mask(), 0..10),
    ) {
        let elements: Vec<(String, String)> = elements.into_iter().map(|(s, f)| (s.to_owned(), f)).collect();
        let fea = elements.iter().map(|(scope, feature)| format!("{scope}:{feature}")).collect::<Vec<_>>().join(",");
        let scoped = split_by_scope(&fea).expect("every element has a colon");
        let decoded = decode_permissions(&scoped.org, &per.join(","), &masks.join(","));
        prop_assert_eq!(decoded, reference(&elements, &per, &masks));
    }
}
