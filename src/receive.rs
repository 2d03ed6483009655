//! One delivery, from the request to the row. `receive(headers, body)` checks the size and the
//! signature, then applies the event (`clerk_sync_core::engine`) and records it in the inbox;
//! `ingest` does the same for a delivery verified elsewhere, `replay` for a stored one. What the
//! sender is answered is decided in one place, `Answer`, from typed results.

use std::rc::Rc;

use clerk_sync_core::engine::{self, Outcome};
use clerk_sync_core::event::EVENT_FIELDS;
use clerk_sync_core::{envelope, jsonb_encode, parse_ours, Envelope, PayloadError, Settings};
use pgrx::prelude::*;
use pgrx::FromDatum;
use serde_json::{json, Map, Value};

use crate::config;
use crate::error::{ClerkSyncError, OrReport};
use crate::inbox::{self, Delivery};
use crate::jsonb::RawJsonb;
use crate::notify;
use crate::store::SpiStore;
use crate::subtransaction::{self, Failure};
use crate::{unix_time, verify};

/// What a delivery gets, and so what its sender is answered.
enum Answer {
    /// Over setting `max_body_bytes`; nothing stored.
    TooLarge,
    /// No signing secret (or clerk_sync is not installed); nothing stored.
    NotConfigured(ClerkSyncError),
    /// The signature does not verify; nothing stored.
    Unverified(&'static str),
    /// Verified, but the body is not JSON: kept with its raw body.
    Malformed {
        msg_id: String,
    },
    Recorded {
        msg_id: String,
        envelope: Envelope,
        result: Applied,
    },
}

/// What applying a verified JSON body did.
enum Applied {
    Done(Outcome),
    /// A redelivery of a delivery that was applied: nothing changed.
    Duplicate,
    /// The body is not a valid Clerk event: kept, answered 400.
    Invalid(Failure),
    /// Applying failed: kept, answered 500, applied again when Svix redelivers it.
    Failed(Failure),
}

impl Answer {
    fn status(&self) -> u16 {
        match self {
            Answer::TooLarge => 413,
            Answer::NotConfigured(_) => 500,
            Answer::Unverified(_) => 401,
            Answer::Malformed { .. } => 400,
            Answer::Recorded { result, .. } => match result {
                Applied::Done(_) | Applied::Duplicate => 200,
                Applied::Invalid(_) => 400,
                Applied::Failed(_) => 500,
            },
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Answer::TooLarge => "too_large",
            Answer::NotConfigured(_) => "not_configured",
            Answer::Unverified(_) => "unverified",
            Answer::Malformed { .. } => "malformed",
            Answer::Recorded { result, .. } => result.outcome(),
        }
    }

    /// `{"status", "outcome", ...}`: `id`, `type`, `user_id` of a recorded delivery, `error_code`
    /// of a failed one, `reason` of an unverified one, `error` when not configured.
    fn to_json(&self) -> Value {
        let mut answer = Map::new();
        answer.insert("status".into(), json!(self.status()));
        answer.insert("outcome".into(), json!(self.outcome()));
        match self {
            Answer::TooLarge => {}
            Answer::NotConfigured(error) => {
                answer.insert("error".into(), json!(error.to_string()));
            }
            Answer::Unverified(reason) => {
                answer.insert("reason".into(), json!(reason));
            }
            Answer::Malformed { msg_id } => {
                answer.insert("id".into(), json!(msg_id));
            }
            Answer::Recorded { msg_id, envelope, result } => {
                answer.insert("id".into(), json!(msg_id));
                answer.insert("type".into(), json!(envelope.event_type));
                answer.insert("user_id".into(), json!(envelope.user_id));
                if let Applied::Invalid(failure) | Applied::Failed(failure) = result {
                    answer.insert("error_code".into(), json!(failure.sqlstate));
                }
            }
        }
        Value::Object(answer)
    }
}

impl Applied {
    fn outcome(&self) -> &'static str {
        match self {
            Applied::Done(outcome) => outcome.word(),
            Applied::Duplicate => "duplicate",
            Applied::Invalid(_) | Applied::Failed(_) => "failed",
        }
    }

    fn failure(&self) -> Option<&Failure> {
        match self {
            Applied::Invalid(failure) | Applied::Failed(failure) => Some(failure),
            Applied::Done(_) | Applied::Duplicate => None,
        }
    }
}

/// The body of a verified delivery: the raw text, or `jsonb` that was parsed already.
enum Body<'a> {
    Text(&'a str),
    Jsonb(&'a RawJsonb),
}

/// The body, parsed: its `jsonb` datum (what the inbox stores) and the event the engine reads.
/// Parsed in Rust when `jsonb_encode` can write the datum exactly, else by Postgres
/// (`jsonb_in`), which raises (inside the caller's subtransaction) when the body is not JSON.
fn parse_body(body: &Body) -> Result<(pg_sys::Datum, Value), PayloadError> {
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

/// Why applying a verified JSON body came to nothing: the subtransaction is rolled back.
enum NotApplied {
    /// The inbox recorded this delivery before, with an outcome that stands: a redelivery changes
    /// nothing, whatever it carries.
    Duplicate,
    Error(ClerkSyncError),
}

impl<E: Into<ClerkSyncError>> From<E> for NotApplied {
    fn from(error: E) -> Self {
        NotApplied::Error(error.into())
    }
}

/// Applies a verified delivery and records it. Parse, apply and record run in one
/// subtransaction: a failure is recorded after it is rolled back, and a redelivery's apply is
/// undone once the inbox says the delivery was recorded before.
fn accept(msg_id: &str, body: Body, settings: Rc<Settings>) -> Answer {
    let (instance_id, channel) = (settings.instance_id.clone(), settings.notify_channel.clone());
    let mut store = SpiStore::new(settings);
    let mut parsed: Option<(pg_sys::Datum, Envelope)> = None;
    let tried = subtransaction::attempt(|| -> Result<Outcome, NotApplied> {
        let (payload, event) = parse_body(&body)?;
        let envelope = envelope(&event);
        parsed = Some((payload, envelope.clone()));
        let ours = parse_ours(&event, instance_id.as_deref())?;
        let outcome = engine::apply_ours(&mut store, ours.as_ref())?;
        notify::applied(channel.as_deref(), ours.as_ref(), outcome);
        let delivery = Delivery::of(msg_id, &envelope, payload, outcome.word(), None, store.erased());
        if !inbox::record(&delivery)? {
            return Err(NotApplied::Duplicate);
        }
        Ok(outcome)
    });
    let Some((payload, envelope)) = parsed else {
        let failure = match tried {
            Err(failure) => failure,
            Ok(Err(NotApplied::Error(error))) => Failure::from(&error),
            Ok(_) => unreachable!("the body is parsed before anything else succeeds"),
        };
        let raw_body = match body {
            Body::Text(text) => Some(text),
            Body::Jsonb(_) => None,
        };
        record(&Delivery::malformed(msg_id, raw_body, &failure));
        return Answer::Malformed { msg_id: msg_id.to_owned() };
    };
    let result = match tried {
        Ok(Ok(outcome)) => Applied::Done(outcome),
        Ok(Err(NotApplied::Duplicate)) => Applied::Duplicate,
        Ok(Err(NotApplied::Error(error @ ClerkSyncError::Payload(_)))) => Applied::Invalid(Failure::from(&error)),
        Ok(Err(NotApplied::Error(error))) => Applied::Failed(Failure::from(&error)),
        Err(failure) => Applied::Failed(failure),
    };
    if let Some(failure) = result.failure() {
        let delivery = Delivery::of(msg_id, &envelope, payload, "failed", Some(failure), false);
        if !record(&delivery) {
            // Recorded before, with an outcome that stands: this redelivery changed nothing.
            return Answer::Recorded { msg_id: msg_id.to_owned(), envelope, result: Applied::Duplicate };
        }
    }
    Answer::Recorded { msg_id: msg_id.to_owned(), envelope, result }
}

fn record(delivery: &Delivery) -> bool {
    inbox::record(delivery).or_report()
}

/// Checks size and signature, then accepts.
fn deliver(headers: Option<&RawJsonb>, body: &str) -> Answer {
    let settings = match config::settings() {
        Ok(settings) => settings,
        Err(error) => return Answer::NotConfigured(error),
    };
    if body.len() as u64 > settings.max_body_bytes {
        return Answer::TooLarge;
    }
    let keys = match config::keys() {
        Ok(keys) => keys,
        Err(error) => return Answer::NotConfigured(error),
    };
    let verified =
        match verify::check(headers, Some(body), &keys, unix_time::transaction_start(), settings.timestamp_tolerance_s)
        {
            Ok(verified) => verified,
            Err(rejection) => return Answer::Unverified(rejection.code()),
        };
    accept(&verified.msg_id, Body::Text(body), settings)
}

/// Verifies, records and applies one delivery; never raises for anything a sender can send.
/// Returns `{"status": <HTTP status>, "outcome": ..., "id": <svix-id>, ...}`:
///   200 created, updated, deleted, stale, ignored, duplicate;
///   400 malformed (verified, but not JSON) or failed with `error_code` 22023 (not a valid event);
///   401 unverified (`reason` says why); 413 too_large;
///   500 failed (applying failed; kept with its error, applied again on redelivery) or
///   not_configured.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn receive(headers: Option<RawJsonb>, body: Option<&str>) -> pgrx::JsonB {
    pgrx::JsonB(deliver(headers.as_ref(), body.unwrap_or_default()).to_json())
}

/// Records a delivery verified elsewhere and applies it: the outcome word, `duplicate` for a
/// redelivery of an applied id, `failed` when applying failed (recorded, not raised).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn ingest(msg_id: Option<&str>, payload: Option<RawJsonb>) -> &'static str {
    let msg_id = msg_id.ok_or(ClerkSyncError::NullArgument("msg_id")).or_report();
    let payload = payload.ok_or(ClerkSyncError::NullArgument("payload")).or_report();
    let settings = config::settings().or_report();
    accept(msg_id, Body::Jsonb(&payload), settings).outcome()
}

/// Applies the stored payload of one delivery again and records the outcome; a failure is
/// recorded (`failed`) and rolled back, never raised.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn replay(msg_id: Option<&str>) -> &'static str {
    replay_delivery(msg_id.ok_or(ClerkSyncError::NullArgument("msg_id")).or_report())
}

/// `replay` of one delivery; raises when there is no such delivery.
pub fn replay_delivery(msg_id: &str) -> &'static str {
    let event = inbox::stored_event(msg_id)
        .and_then(|stored| stored.ok_or_else(|| ClerkSyncError::NoSuchDelivery(msg_id.to_owned())))
        .or_report();
    let settings = config::settings().or_report();
    let (instance_id, channel) = (settings.instance_id.clone(), settings.notify_channel.clone());
    let mut store = SpiStore::new(settings);
    let tried = subtransaction::attempt(|| -> Result<Outcome, ClerkSyncError> {
        let event = event.ok_or(ClerkSyncError::NullArgument("payload"))?;
        let ours = parse_ours(&event, instance_id.as_deref())?;
        let outcome = engine::apply_ours(&mut store, ours.as_ref())?;
        notify::applied(channel.as_deref(), ours.as_ref(), outcome);
        Ok(outcome)
    });
    let (outcome, failure) = match tried {
        Ok(Ok(outcome)) => (outcome.word(), None),
        Ok(Err(error)) => ("failed", Some(Failure::from(&error))),
        Err(failure) => ("failed", Some(failure)),
    };
    inbox::record_replay(msg_id, outcome, failure.as_ref()).or_report();
    outcome
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use clerk_sync_core::event::{Fields, EVENT_FIELDS};
    use clerk_sync_core::{jsonb_encode, parse_ours};
    use pgrx::prelude::*;
    use pgrx::FromDatum;
    use proptest::prelude::{prop, prop_assert_eq, prop_oneof, BoxedStrategy, Just, Strategy};
    use proptest::test_runner::{Config, TestRunner};

    use super::{parse_body, Body};
    use crate::jsonb::RawJsonb;
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
