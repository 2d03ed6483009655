//! A delivery's body parsed once, in Rust, into both what the engine reads (`serde_json::Value`)
//! and the `jsonb` datum the inbox stores: the same bytes PostgreSQL's `jsonb_in` makes of the
//! same text, without its character-at-a-time lexer (the larger part of a delivery's parse).
//!
//! Only what it can write exactly: `parse` is None for a body that is not a JSON object, a number
//! with a fraction or exponent or past 64 bits (`jsonb_in` keeps a number as written, which
//! `serde_json` does not), a string holding NUL (which jsonb refuses), nesting deeper than
//! `MAX_DEPTH`, or a container past jsonb's size limit. The caller then asks `jsonb_in`, which
//! gives PostgreSQL's own answer, error included. The layout is PostgreSQL's `jsonb.h` (15).

use serde_json::{Map, Number, Value};

const JB_FOBJECT: u32 = 0x2000_0000;
const JB_FARRAY: u32 = 0x4000_0000;
const JENTRY_OFFLENMASK: u32 = 0x0FFF_FFFF;
const JENTRY_TYPEMASK: u32 = 0x7000_0000;
const JENTRY_HAS_OFF: u32 = 0x8000_0000;
const JENTRY_ISSTRING: u32 = 0x0000_0000;
const JENTRY_ISNUMERIC: u32 = 0x1000_0000;
const JENTRY_ISBOOL_FALSE: u32 = 0x2000_0000;
const JENTRY_ISBOOL_TRUE: u32 = 0x3000_0000;
const JENTRY_ISNULL: u32 = 0x4000_0000;
const JENTRY_ISCONTAINER: u32 = 0x5000_0000;
/// Every 32nd entry of a container holds its end offset instead of its length.
const JB_OFFSET_STRIDE: usize = 32;

/// `numeric`'s short format: sign, display scale and a weight of -64..=63 in 16 bits.
const NUMERIC_SHORT: u16 = 0x8000;
const NUMERIC_SHORT_SIGN_MASK: u16 = 0x2000;
const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;
const NBASE: u64 = 10_000;

/// Deeper bodies go to `jsonb_in`, which checks the stack as it recurses.
pub const MAX_DEPTH: usize = 64;

/// A verified body, parsed: the event and its `jsonb` datum (a 4-byte varlena header first).
pub struct Parsed {
    pub event: Value,
    pub jsonb: Vec<u8>,
}

/// Parses a body that `encode` can write exactly; None sends it to `jsonb_in`.
pub fn parse(text: &str) -> Option<Parsed> {
    if !cfg!(target_endian = "little") || !depth_at_most(text, MAX_DEPTH) {
        return None;
    }
    let event: Value = serde_json::from_str(text).ok()?;
    let jsonb = encode(&event)?;
    Some(Parsed { event, jsonb })
}

/// Whether no array or object in `text` nests deeper than `limit` (brackets inside strings do
/// not count); checked before `serde_json` recurses into it.
fn depth_at_most(text: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// The `jsonb` datum of an object, as `jsonb_in` writes it; None when it cannot be written
/// exactly (see the module's comment).
pub fn encode(value: &Value) -> Option<Vec<u8>> {
    let Value::Object(object) = value else { return None };
    let mut buffer = Vec::with_capacity(256);
    buffer.extend_from_slice(&[0; 4]);
    write_object(&mut buffer, object)?;
    let size = u32::try_from(buffer.len()).ok().filter(|&size| size < 1 << 30)?;
    buffer[..4].copy_from_slice(&(size << 2).to_ne_bytes());
    Some(buffer)
}

/// Zero bytes up to the next multiple of four (counted from the datum's start); how many.
fn pad_to_int(buffer: &mut Vec<u8>) -> u32 {
    let padding = buffer.len().next_multiple_of(4) - buffer.len();
    buffer.resize(buffer.len() + padding, 0);
    padding as u32
}

/// Writes a container's children (their data after a reserved array of entries) and returns
/// the container's own entry. `children` yields each child's writer in storage order.
fn write_container<'a>(
    buffer: &mut Vec<u8>,
    header: u32,
    count: usize,
    children: impl Iterator<Item = Child<'a>>,
) -> Option<u32> {
    let start = buffer.len();
    pad_to_int(buffer);
    buffer.extend_from_slice(&header.to_ne_bytes());
    let mut entry_at = buffer.len();
    buffer.resize(buffer.len() + 4 * count, 0);
    let mut total: u32 = 0;
    for (index, child) in children.enumerate() {
        let mut entry = match child {
            Child::Key(key) => write_string(buffer, key)?,
            Child::Value(value) => write_value(buffer, value)?,
        };
        total = total.checked_add(entry & JENTRY_OFFLENMASK).filter(|&t| t <= JENTRY_OFFLENMASK)?;
        if index % JB_OFFSET_STRIDE == 0 {
            entry = (entry & JENTRY_TYPEMASK) | total | JENTRY_HAS_OFF;
        }
        buffer[entry_at..entry_at + 4].copy_from_slice(&entry.to_ne_bytes());
        entry_at += 4;
    }
    let length = u32::try_from(buffer.len() - start).ok().filter(|&l| l <= JENTRY_OFFLENMASK)?;
    Some(JENTRY_ISCONTAINER | length)
}

enum Child<'a> {
    Key(&'a str),
    Value(&'a Value),
}

/// An object's keys sorted as jsonb keeps them (shorter first, then bytewise), then its values
/// in the same order.
fn write_object(buffer: &mut Vec<u8>, object: &Map<String, Value>) -> Option<u32> {
    let mut pairs: Vec<(&String, &Value)> = object.iter().collect();
    pairs.sort_unstable_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
    let keys = pairs.iter().map(|(key, _)| Child::Key(key.as_str()));
    let values = pairs.iter().map(|(_, value)| Child::Value(value));
    write_container(buffer, pairs.len() as u32 | JB_FOBJECT, pairs.len() * 2, keys.chain(values))
}

fn write_value(buffer: &mut Vec<u8>, value: &Value) -> Option<u32> {
    match value {
        Value::Null => Some(JENTRY_ISNULL),
        Value::Bool(false) => Some(JENTRY_ISBOOL_FALSE),
        Value::Bool(true) => Some(JENTRY_ISBOOL_TRUE),
        Value::String(string) => write_string(buffer, string),
        Value::Number(number) => {
            let padding = pad_to_int(buffer);
            let numeric = numeric(number)?;
            buffer.extend_from_slice(&numeric);
            Some(JENTRY_ISNUMERIC | (padding + numeric.len() as u32))
        }
        Value::Array(items) => {
            write_container(buffer, items.len() as u32 | JB_FARRAY, items.len(), items.iter().map(Child::Value))
        }
        Value::Object(object) => write_object(buffer, object),
    }
}

fn write_string(buffer: &mut Vec<u8>, string: &str) -> Option<u32> {
    let length = u32::try_from(string.len()).ok().filter(|&l| l <= JENTRY_OFFLENMASK)?;
    if string.as_bytes().contains(&0) {
        return None;
    }
    buffer.extend_from_slice(string.as_bytes());
    Some(JENTRY_ISSTRING | length)
}

/// An integer as `numeric_in` stores it: short format, base-10000 digits from the most
/// significant, trailing zero digits dropped (the weight keeps the magnitude), zero with none.
fn numeric(number: &Number) -> Option<Vec<u8>> {
    let (negative, mut magnitude) = match (number.as_u64(), number.as_i64()) {
        (Some(unsigned), _) => (false, unsigned),
        (None, Some(signed)) => (signed < 0, signed.unsigned_abs()),
        (None, None) => return None,
    };
    let mut digits = Vec::with_capacity(5);
    while magnitude > 0 {
        digits.push((magnitude % NBASE) as u16);
        magnitude /= NBASE;
    }
    let weight = digits.len().saturating_sub(1) as u16;
    let first_nonzero = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    digits.drain(..first_nonzero);
    let negative = negative && !digits.is_empty();
    let header =
        NUMERIC_SHORT | if negative { NUMERIC_SHORT_SIGN_MASK } else { 0 } | (weight & NUMERIC_SHORT_WEIGHT_MASK);
    let size = 6 + 2 * digits.len();
    let mut numeric = Vec::with_capacity(size);
    numeric.extend_from_slice(&((size as u32) << 2).to_ne_bytes());
    numeric.extend_from_slice(&header.to_ne_bytes());
    for digit in digits.iter().rev() {
        numeric.extend_from_slice(&digit.to_ne_bytes());
    }
    Some(numeric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes.chunks(4).map(|c| u32::from_ne_bytes(c.try_into().expect("whole words"))).collect()
    }

    #[test]
    fn an_empty_object_is_its_header_alone() {
        assert_eq!(words(&encode(&json!({})).unwrap()), vec![8 << 2, JB_FOBJECT]);
    }

    #[test]
    fn keys_are_sorted_shorter_first_then_bytewise_and_values_follow_in_that_order() {
        let bytes = encode(&json!({"bb": true, "c": null, "a": "x"})).unwrap();
        // header, six entries (a, c, bb, then their values), then "a", "c", "bb", "x"
        let entries = &words(&bytes[4..32])[1..];
        assert_eq!(entries[0], JENTRY_HAS_OFF | 1, "the first entry holds its end offset");
        assert_eq!(&entries[1..], &[1, 2, JENTRY_ISSTRING | 1, JENTRY_ISNULL, JENTRY_ISBOOL_TRUE]);
        assert_eq!(&bytes[32..], b"acbbx");
        assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()) >> 2, bytes.len() as u32);
    }

    #[test]
    fn integers_are_short_numerics_in_base_10000() {
        let digits = |n: serde_json::Value| {
            let bytes = numeric(n.as_number().unwrap()).unwrap();
            let header = u16::from_ne_bytes(bytes[4..6].try_into().unwrap());
            let digits: Vec<u16> = bytes[6..].chunks(2).map(|c| u16::from_ne_bytes(c.try_into().unwrap())).collect();
            (header, digits)
        };
        assert_eq!(digits(json!(0)), (NUMERIC_SHORT, vec![]));
        assert_eq!(digits(json!(7)), (NUMERIC_SHORT, vec![7]));
        assert_eq!(digits(json!(10_000)), (NUMERIC_SHORT | 1, vec![1]));
        assert_eq!(digits(json!(1_767_225_600_000_u64)), (NUMERIC_SHORT | 3, vec![1, 7672, 2560]));
        assert_eq!(digits(json!(-12_345)), (NUMERIC_SHORT | NUMERIC_SHORT_SIGN_MASK | 1, vec![1, 2345]));
        assert_eq!(digits(json!(u64::MAX)), (NUMERIC_SHORT | 4, vec![1844, 6744, 737, 955, 1615]));
    }

    #[test]
    fn what_it_cannot_write_exactly_goes_to_jsonb_in() {
        for text in [
            r#"{"a": 1.5}"#,
            r#"{"a": 1e3}"#,
            r#"{"a": -0}"#,
            r#"{"a": 123456789012345678901234}"#,
            r#"{"a": "nul \u0000"}"#,
            r#"[1, 2]"#,
            r#""text""#,
            r#"{"a": 1"#,
            r#"{"a": 1} x"#,
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&deep).is_none());
        let shallow = format!("{{\"a\": {}{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse(&shallow).is_some());
        assert!(parse(r#"{"a": "[[[[\"]]"}"#).is_some(), "brackets in strings do not nest");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_as_jsonb_does() {
        let parsed = parse(r#"{"a": 1, "a": 2}"#).unwrap();
        assert_eq!(parsed.jsonb, encode(&json!({"a": 2})).unwrap());
    }
}
