//! A delivery's body as PostgreSQL stores it and as the engine reads it: the `jsonb` datum the
//! inbox keeps, written in Rust (`clerk_sync_core::event::jsonb_encode`) when it can be written
//! byte for byte as `jsonb_in` would, and the event's fields.

use clerk_sync_core::event::jsonb_encode;
use clerk_sync_core::event::EVENT_FIELDS;
use clerk_sync_core::PayloadError;
use pgrx::prelude::*;
use pgrx::FromDatum;
use serde_json::Value;

use crate::postgres::jsonb::RawJsonb;

/// The body of a verified delivery: the raw text, or `jsonb` that was parsed already.
pub enum Body<'a> {
    Text(&'a str),
    Jsonb(&'a RawJsonb),
}

/// The body, parsed: its `jsonb` datum (what the inbox stores) and the event the engine reads.
/// Parsed in Rust when `jsonb_encode` can write the datum exactly, else by Postgres
/// (`jsonb_in`), which raises (inside the caller's subtransaction) when the body is not JSON.
pub fn parse_body(body: &Body) -> Result<(pg_sys::Datum, Value), PayloadError> {
    let payload = match body {
        Body::Jsonb(jsonb) => jsonb.datum(),
        Body::Text(text) => match jsonb_encode::parse(text, &EVENT_FIELDS) {
            Some(parsed) => return Ok((palloc_copy(&parsed.jsonb), parsed.event)),
            None => jsonb_in(text)?,
        },
    };
    // SAFETY: `payload` is a jsonb datum: the argument, or made just above.
    let event = unsafe { RawJsonb::from_datum(payload, false) }.map(|j| j.to_value(&EVENT_FIELDS));
    Ok((payload, event.unwrap_or(Value::Null)))
}

/// The text as jsonb, parsed by Postgres; raises when it is not JSON.
fn jsonb_in(text: &str) -> Result<pg_sys::Datum, PayloadError> {
    // Text values cannot hold NUL, so the conversion does not fail.
    let text = std::ffi::CString::new(text).map_err(|_| PayloadError::NotAnObject)?;
    // SAFETY: jsonb_in takes a NUL-terminated C string; its result is palloc'd in the current
    // memory context, which outlives this delivery.
    unsafe { pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(pg_sys::Datum::from(text.as_ptr()))]) }
        .ok_or(PayloadError::NotAnObject)
}

/// A datum of these bytes (a varlena, header included) in the current memory context, which
/// outlives this delivery.
fn palloc_copy(bytes: &[u8]) -> pg_sys::Datum {
    // SAFETY: palloc raises rather than return NULL; the copy fills what was allocated.
    unsafe {
        let copy = pg_sys::palloc(bytes.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
        pg_sys::Datum::from(copy)
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use clerk_sync_core::event::jsonb_encode;
    use clerk_sync_core::event::{Fields, EVENT_FIELDS};
    use clerk_sync_core::parse_ours;
    use pgrx::prelude::*;
    use pgrx::FromDatum;
    use proptest::prelude::{prop, prop_assert_eq, prop_oneof, BoxedStrategy, Just, Strategy};
    use proptest::test_runner::{Config, TestRunner};

    use super::{parse_body, Body};
    use crate::postgres::jsonb::RawJsonb;
    use crate::testing::{
        CREATED, DELETED, MEMBER_CREATED, MEMBER_DELETED, MEMBER_UPDATED, ORG_CREATED, ORG_DELETED, ORG_UPDATED,
        PHONE_ONLY, SESSION, UNICODE, UPDATED,
    };

    const FIXTURES: [&str; 12] = [
        CREATED,
        UPDATED,
        DELETED,
        PHONE_ONLY,
        UNICODE,
        SESSION,
        ORG_CREATED,
        ORG_UPDATED,
        ORG_DELETED,
        MEMBER_CREATED,
        MEMBER_UPDATED,
        MEMBER_DELETED,
    ];

    /// The bytes of a jsonb datum that is not toasted (a 4-byte header, as jsonb_in makes it).
    fn datum_bytes(datum: pg_sys::Datum) -> Vec<u8> {
        let pointer = datum.cast_mut_ptr::<u8>();
        // SAFETY: a varlena with a 4-byte header (little-endian: the size shifted left by two).
        unsafe {
            let size = u32::from_ne_bytes(std::slice::from_raw_parts(pointer, 4).try_into().unwrap()) >> 2;
            std::slice::from_raw_parts(pointer, size as usize).to_vec()
        }
    }

    /// What `jsonb_in` makes of the text, as bytes.
    fn jsonb_in(text: &str) -> Vec<u8> {
        datum_bytes(super::jsonb_in(text).unwrap())
    }

    /// Pieces of JSON string content: escapes of every kind, multi-byte text, nothing.
    const PIECES: [&str; 14] =
        ["a", "id", "user_2x", " ", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "é", "\\ud83d\\ude00", "日本", "", "\\t"];

    fn string() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(&PIECES[..]), 0..6).prop_map(|pieces| pieces.concat())
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("0".to_owned()),
            (0u64..10_000).prop_map(|n| n.to_string()),
            (0..u64::MAX / 2).prop_map(|n| format!("-{n}")),
            Just(u64::MAX.to_string()),
            (1_700_000_000_000u64..1_800_000_000_000).prop_map(|n| n.to_string()),
        ]
    }

    fn space() -> impl Strategy<Value = &'static str> {
        prop::sample::select(&[" ", "", "\n\t", "  "][..])
    }

    /// JSON text of an object: containers up to three deep, wide enough to cross jsonb's
    /// 32-entry stride, with duplicate keys and assorted whitespace.
    fn object_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            string().prop_map(|s| format!("\"{s}\"")),
            number(),
        ];
        let value = leaf.prop_recursive(3, 120, 40, |inner| {
            prop_oneof![
                (space(), prop::collection::vec(inner.clone(), 0..40))
                    .prop_map(|(sp, items)| format!("[{sp}{}{sp}]", items.join(&format!(",{sp}")))),
                members(inner),
            ]
        });
        members(value.boxed())
    }

    fn members(value: BoxedStrategy<String>) -> BoxedStrategy<String> {
        (space(), prop::collection::vec((string(), value), 0..40))
            .prop_map(|(sp, pairs)| {
                let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\"{sp}:{sp}{v}")).collect();
                format!("{{{sp}{}{sp}}}", pairs.join(&format!(",{sp}")))
            })
            .boxed()
    }

    #[pg_test]
    fn bodies_parsed_in_rust_are_the_bytes_jsonb_in_makes() {
        for text in FIXTURES {
            let parsed = jsonb_encode::parse(text, &Fields::All).expect("a fixture is written in Rust");
            assert_eq!(parsed.jsonb, jsonb_in(text), "{text}");
        }
        let config = Config { cases: 2_000, failure_persistence: None, ..Config::default() };
        let written = std::cell::Cell::new(0);
        TestRunner::new(config)
            .run(&object_text(), |text| {
                if let Some(parsed) = jsonb_encode::parse(&text, &Fields::All) {
                    written.set(written.get() + 1);
                    prop_assert_eq!(parsed.jsonb, jsonb_in(&text), "{}", text);
                }
                Ok(())
            })
            .unwrap();
        assert!(written.get() > 1_600, "only {} cases were written in Rust", written.get());
    }

    #[pg_test]
    fn a_body_parsed_in_rust_reads_as_the_event_jsonb_in_gives() {
        for text in FIXTURES {
            let (payload, event) = parse_body(&Body::Text(text)).unwrap();
            assert_eq!(datum_bytes(payload), jsonb_in(text));
            // SAFETY: a jsonb datum made by parse_body.
            let stored = unsafe { RawJsonb::from_datum(payload, false) }.unwrap().to_value(&EVENT_FIELDS);
            assert_eq!(event, stored, "{text}");
            assert_eq!(parse_ours(&event, None).unwrap(), parse_ours(&stored, None).unwrap(), "{text}");
        }
    }

    #[pg_test]
    fn a_body_rust_does_not_write_goes_to_jsonb_in() {
        let (payload, event) = parse_body(&Body::Text(r#"{"type": "user.deleted", "ratio": 1.50}"#)).unwrap();
        assert_eq!(datum_bytes(payload), jsonb_in(r#"{"type": "user.deleted", "ratio": 1.50}"#));
        assert_eq!(event["type"], "user.deleted");
    }
}
