//! `jsonb_encode` on any JSON object without fractions: the datum it writes reads back (by
//! PostgreSQL's layout, decoded here) as the value parsed, and the event is that value. The
//! extension's `#[pg_test]` compares the same datum with `jsonb_in`'s, byte for byte.

use clerk_sync_core::event::jsonb_encode;
use clerk_sync_core::event::Fields;
use proptest::prelude::*;
use serde_json::{Map, Value};

const HAS_OFF: u32 = 0x8000_0000;
const TYPE_MASK: u32 = 0x7000_0000;
const OFFLEN_MASK: u32 = 0x0FFF_FFFF;
const STRIDE: usize = 32;

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// Where child `index` starts (from the start of the children's data), as PostgreSQL's
/// `getJsonbOffset` finds it: lengths summed back to the last entry that holds an end offset.
fn start_of(entries: &[u32], index: usize) -> usize {
    let mut offset = 0;
    for entry in entries[..index].iter().rev() {
        offset += (entry & OFFLEN_MASK) as usize;
        if entry & HAS_OFF != 0 {
            break;
        }
    }
    offset
}

/// `getJsonbLength`.
fn length_of(entries: &[u32], index: usize) -> usize {
    let field = (entries[index] & OFFLEN_MASK) as usize;
    if entries[index] & HAS_OFF != 0 {
        field - start_of(entries, index)
    } else {
        field
    }
}

/// Decodes a container starting at `at` (4-byte aligned in the datum).
fn container(bytes: &[u8], at: usize) -> Value {
    let header = word(bytes, at);
    let count = (header & OFFLEN_MASK) as usize;
    let object = header & 0x2000_0000 != 0;
    let children = if object { count * 2 } else { count };
    let entries: Vec<u32> = (0..children).map(|i| word(bytes, at + 4 + 4 * i)).collect();
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry & HAS_OFF != 0, i % STRIDE == 0, "entry {i} of {children}: an end offset every {STRIDE}");
    }
    let data = at + 4 + 4 * children;
    let child = |i: usize| -> Value {
        let start = start_of(&entries, i);
        scalar_or_container(bytes, data + start, data + start + length_of(&entries, i), entries[i] & TYPE_MASK)
    };
    if object {
        let mut map = Map::new();
        for i in 0..count {
            let Value::String(key) = child(i) else { panic!("a key is a string") };
            map.insert(key, child(count + i));
        }
        Value::Object(map)
    } else {
        Value::Array((0..count).map(child).collect())
    }
}

fn scalar_or_container(bytes: &[u8], start: usize, end: usize, kind: u32) -> Value {
    let aligned = start.next_multiple_of(4);
    match kind {
        0x0000_0000 => Value::String(std::str::from_utf8(&bytes[start..end]).unwrap().to_owned()),
        0x1000_0000 => numeric(&bytes[aligned..end]),
        0x2000_0000 => Value::Bool(false),
        0x3000_0000 => Value::Bool(true),
        0x4000_0000 => Value::Null,
        0x5000_0000 => container(bytes, aligned),
        other => panic!("entry type {other:#x}"),
    }
}

/// A short-format numeric holding an integer.
fn numeric(bytes: &[u8]) -> Value {
    assert_eq!((word(bytes, 0) >> 2) as usize, bytes.len(), "the numeric's own size");
    let header = u16::from_ne_bytes(bytes[4..6].try_into().unwrap());
    assert_eq!(header & 0xC000, 0x8000, "short format");
    assert_eq!(header & 0x1F80, 0, "display scale 0");
    let weight = (header & 0x3F) as u32;
    let digits: Vec<u128> = bytes[6..].chunks(2).map(|c| u16::from_ne_bytes(c.try_into().unwrap()) as u128).collect();
    assert!(digits.last() != Some(&0), "trailing zero digits are dropped");
    let magnitude = digits.iter().enumerate().map(|(i, d)| d * 10_000u128.pow(weight - i as u32)).sum::<u128>();
    if header & 0x2000 != 0 {
        Value::from(-(magnitude as i128) as i64)
    } else {
        Value::from(magnitude as u64)
    }
}

fn decode(datum: &[u8]) -> Value {
    assert_eq!((word(datum, 0) >> 2) as usize, datum.len(), "the datum's varlena size");
    container(datum, 4)
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "[a-zA-Z0-9 _é日\"\\\\/\n\t\u{1F600}-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 200, 40, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..40).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_é]{0,6}", inner, 0..40)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z_]{0,8}", json(), 0..40).prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_datum_reads_back_as_the_object_parsed(value in object(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
        let parsed = jsonb_encode::parse(&text, &Fields::All).expect("an object of integers is written in Rust");
        prop_assert_eq!(&parsed.event, &value);
        prop_assert_eq!(decode(&parsed.jsonb), value);
    }
}

#[test]
fn a_wide_object_crosses_the_offset_stride() {
    let value: Value =
        (0..STRIDE * 3 + 5).map(|i| (format!("k{i:03}"), Value::from(i as u64))).collect::<Map<_, _>>().into();
    let parsed = jsonb_encode::parse(&value.to_string(), &Fields::All).unwrap();
    assert_eq!(decode(&parsed.jsonb), value);
}
