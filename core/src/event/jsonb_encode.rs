//! A delivery's body parsed once, in Rust, into both what the engine reads (`serde_json::Value`)
//! and the `jsonb` datum the inbox stores: the same bytes PostgreSQL's `jsonb_in` makes of the
//! same text, without its character-at-a-time lexer (the larger part of a delivery's parse).
//!
//! Only what it can write exactly: `parse` is None for a body that is not a JSON object, a number
//! with a fraction or exponent or past 64 bits (`jsonb_in` keeps a number as written, which
//! `serde_json` does not), a string holding NUL (which jsonb refuses), nesting deeper than
//! `MAX_DEPTH`, or a container past jsonb's size limit. The caller then asks `jsonb_in`, which
//! gives PostgreSQL's own answer, error included. The layout is PostgreSQL's `jsonb.h` (15).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::event::Fields;

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

/// A verified body, parsed: the event trimmed to the fields asked for, and its `jsonb` datum (a
/// 4-byte varlena header first).
pub struct Parsed {
    pub event: Value,
    pub jsonb: Vec<u8>,
}

/// Parses a body that `encode` can write exactly; None sends it to `jsonb_in`.
pub fn parse(text: &str, fields: &Fields) -> Option<Parsed> {
    if !cfg!(target_endian = "little") || !depth_at_most(text, MAX_DEPTH) {
        return None;
    }
    let Json::Object(mut pairs) = serde_json::from_str(text).ok()? else { return None };
    let jsonb = encode_object(&mut pairs, text.len())?;
    Some(Parsed { event: Json::Object(pairs).to_value(fields), jsonb })
}

/// A JSON value whose strings borrow from the text when they hold no escapes. An object keeps
/// its pairs as written (duplicates too) until it is encoded.
enum Json<'a> {
    Null,
    Bool(bool),
    Signed(i64),
    Unsigned(u64),
    /// A fraction, an exponent or past 64 bits: not written exactly (see the module's comment).
    Inexact,
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Json<'_> {
    /// The value as `serde_json` holds it, trimmed to `fields`; a duplicate key keeps its last
    /// value.
    fn to_value(&self, fields: &Fields) -> Value {
        match self {
            Json::Null | Json::Inexact => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Signed(n) => Value::from(*n),
            Json::Unsigned(n) => Value::from(*n),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(items) => Value::Array(items.iter().map(|item| item.to_value(fields.element())).collect()),
            Json::Object(pairs) => {
                let mut object = Map::new();
                for (key, value) in pairs {
                    if let Some(fields) = fields.child(key) {
                        object.insert(key.to_string(), value.to_value(fields));
                    }
                }
                Value::Object(object)
            }
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Signed(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Unsigned(n))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Json<'de>, E> {
        Ok(Json::Inexact)
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((Key(key), value)) = map.next_entry()? {
            pairs.push((key, value));
        }
        Ok(Json::Object(pairs))
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// An object key, borrowed from the text when it holds no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(JsonVisitor)? {
            Json::String(key) => Ok(Key(key)),
            _ => Err(serde::de::Error::custom("an object key is a string")),
        }
    }
}

/// Whether no array or object in `text` nests deeper than `limit` (brackets inside strings do
/// not count); checked before `serde_json` recurses into it.
fn depth_at_most(text: &str, limit: usize) -> bool {
    // Fewer opening brackets than the limit cannot nest deeper; most bodies stop here.
    if text.bytes().filter(|&b| b == b'[' || b == b'{').count() <= limit {
        return true;
    }
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

/// The `jsonb` datum of an object with these pairs, as `jsonb_in` writes it; None when it cannot
/// be written exactly (see the module's comment). Sorts and dedupes the pairs as jsonb keeps them.
/// `text_len` sizes the buffer: jsonb takes a little more room than compact JSON text.
fn encode_object(pairs: &mut Vec<(Cow<str>, Json)>, text_len: usize) -> Option<Vec<u8>> {
    let mut buffer = Vec::with_capacity(text_len + text_len / 4 + 64);
    buffer.extend_from_slice(&[0; 4]);
    write_object(&mut buffer, pairs)?;
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
fn write_container<'a, 'b: 'a>(
    buffer: &mut Vec<u8>,
    header: u32,
    count: usize,
    children: impl Iterator<Item = Child<'a, 'b>>,
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

enum Child<'a, 'b> {
    Key(&'a str),
    Value(&'a mut Json<'b>),
}

/// An object's keys sorted as jsonb keeps them (shorter first, then bytewise; of equal keys the
/// last), then its values in the same order.
fn write_object(buffer: &mut Vec<u8>, pairs: &mut Vec<(Cow<str>, Json)>) -> Option<u32> {
    pairs.reverse();
    // Stable: of equal keys, the last written comes first and is the one kept.
    pairs.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
    pairs.dedup_by(|(later, _), (earlier, _)| later == earlier);
    let count = pairs.len();
    let (keys, values): (Vec<_>, Vec<_>) = pairs.iter_mut().map(|(key, value)| (&**key, value)).unzip();
    let children = keys.into_iter().map(Child::Key).chain(values.into_iter().map(Child::Value));
    write_container(buffer, count as u32 | JB_FOBJECT, count * 2, children)
}

fn write_value(buffer: &mut Vec<u8>, value: &mut Json) -> Option<u32> {
    match value {
        Json::Null => Some(JENTRY_ISNULL),
        Json::Bool(false) => Some(JENTRY_ISBOOL_FALSE),
        Json::Bool(true) => Some(JENTRY_ISBOOL_TRUE),
        Json::String(string) => write_string(buffer, string),
        Json::Signed(n) => write_numeric(buffer, *n < 0, n.unsigned_abs()),
        Json::Unsigned(n) => write_numeric(buffer, false, *n),
        Json::Inexact => None,
        Json::Array(items) => {
            let count = items.len();
            write_container(buffer, count as u32 | JB_FARRAY, count, items.iter_mut().map(Child::Value))
        }
        Json::Object(pairs) => write_object(buffer, pairs),
    }
}

fn write_numeric(buffer: &mut Vec<u8>, negative: bool, magnitude: u64) -> Option<u32> {
    let padding = pad_to_int(buffer);
    let numeric = numeric(negative, magnitude);
    buffer.extend_from_slice(&numeric);
    Some(JENTRY_ISNUMERIC | (padding + numeric.len() as u32))
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
fn numeric(negative: bool, mut magnitude: u64) -> Vec<u8> {
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
    numeric
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str) -> Vec<u8> {
        parse(text, &Fields::All).expect("written in Rust").jsonb
    }

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes.chunks(4).map(|c| u32::from_ne_bytes(c.try_into().expect("whole words"))).collect()
    }

    #[test]
    fn an_empty_object_is_its_header_alone() {
        assert_eq!(words(&encode("{}")), vec![8 << 2, JB_FOBJECT]);
    }

    #[test]
    fn keys_are_sorted_shorter_first_then_bytewise_and_values_follow_in_that_order() {
        let bytes = encode(r#"{"bb": true, "c": null, "a": "x"}"#);
        // header, six entries (a, c, bb, then their values), then "a", "c", "bb", "x"
        let entries = &words(&bytes[4..32])[1..];
        assert_eq!(entries[0], JENTRY_HAS_OFF | 1, "the first entry holds its end offset");
        assert_eq!(&entries[1..], &[1, 2, JENTRY_ISSTRING | 1, JENTRY_ISNULL, JENTRY_ISBOOL_TRUE]);
        assert_eq!(&bytes[32..], b"acbbx");
        assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()) >> 2, bytes.len() as u32);
    }

    #[test]
    fn integers_are_short_numerics_in_base_10000() {
        let digits = |negative: bool, magnitude: u64| {
            let bytes = numeric(negative, magnitude);
            let header = u16::from_ne_bytes(bytes[4..6].try_into().unwrap());
            let digits: Vec<u16> = bytes[6..].chunks(2).map(|c| u16::from_ne_bytes(c.try_into().unwrap())).collect();
            (header, digits)
        };
        assert_eq!(digits(false, 0), (NUMERIC_SHORT, vec![]));
        assert_eq!(digits(true, 0), (NUMERIC_SHORT, vec![]), "zero is never negative");
        assert_eq!(digits(false, 7), (NUMERIC_SHORT, vec![7]));
        assert_eq!(digits(false, 10_000), (NUMERIC_SHORT | 1, vec![1]));
        assert_eq!(digits(false, 1_767_225_600_000), (NUMERIC_SHORT | 3, vec![1, 7672, 2560]));
        assert_eq!(digits(true, 12_345), (NUMERIC_SHORT | NUMERIC_SHORT_SIGN_MASK | 1, vec![1, 2345]));
        assert_eq!(digits(false, u64::MAX), (NUMERIC_SHORT | 4, vec![1844, 6744, 737, 955, 1615]));
    }

    #[test]
    fn what_it_cannot_write_exactly_goes_to_jsonb_in() {
        for text in [
            r#"{"a": 1.5}"#,
            r#"{"a": 1e3}"#,
            r#"{"a": -0}"#,
            r#"{"a": 123456789012345678901234}"#,
            r#"{"a": "nul \u0000"}"#,
            r#"{"a": {"b": [1, 2.0]}}"#,
            r#"[1, 2]"#,
            r#""text""#,
            r#"{"a": 1"#,
            r#"{"a": 1} x"#,
        ] {
            assert!(parse(text, &Fields::All).is_none(), "{text}");
        }
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&deep, &Fields::All).is_none());
        let shallow = format!("{{\"a\": {}{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse(&shallow, &Fields::All).is_some());
        let in_strings =
            format!("{{\"a\": \"{}\\\"{}\", \"b\": [{{}}]}}", "[".repeat(MAX_DEPTH), "{".repeat(MAX_DEPTH));
        assert!(parse(&in_strings, &Fields::All).is_some(), "brackets in strings do not nest: {in_strings}");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_as_jsonb_does() {
        assert_eq!(encode(r#"{"a": 1, "b": {"c": 0, "c": []}, "a": 2}"#), encode(r#"{"b": {"c": []}, "a": 2}"#));
        let parsed = parse(r#"{"a": 1, "a": 2}"#, &Fields::All).unwrap();
        assert_eq!(parsed.event, serde_json::json!({"a": 2}));
    }

    #[test]
    fn the_event_is_trimmed_to_the_fields_asked_for() {
        let fields = Fields::Only(&[("keep", Fields::Only(&[("inner", Fields::All)]))]);
        let parsed = parse(r#"{"keep": [{"inner": "é\n", "other": 1}], "drop": true}"#, &fields).unwrap();
        assert_eq!(parsed.event, serde_json::json!({"keep": [{"inner": "é\n"}]}));
    }
}
