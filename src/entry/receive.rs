//! One delivery, from the request to the row. `receive(headers, body)` checks the size and the
//! signature, then applies the event (`clerk_sync_core::apply::engine`) and records it in the inbox;
//! `ingest` does the same for a delivery verified elsewhere, `replay` for a stored one. What the
//! sender is answered is the core's `reply::Reply`, from the typed results here (`Answer`).

use std::rc::Rc;

use clerk_sync_core::apply::engine::{self, Outcome};
use clerk_sync_core::reply::Reply;
use clerk_sync_core::{envelope, parse_ours, Envelope, Settings};
use pgrx::prelude::*;
use serde_json::{json, Map, Value};

use crate::entry::verify;
use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;
use crate::own_tables::inbox::{self, Delivery};
use crate::postgres::delivery_body::{parse_body, Body};
use crate::postgres::jsonb::RawJsonb;
use crate::postgres::notify;
use crate::postgres::statements::Inserts;
use crate::postgres::subtransaction::{self, Failure};
use crate::postgres::unix_time;
use crate::store::SpiStore;

/// SQLSTATE unique_violation.
const UNIQUE_VIOLATION: &str = "23505";

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
    /// The body is not a valid Clerk event: kept.
    Invalid(Failure),
    /// Applying failed: kept, and applied again when Svix redelivers it.
    Failed(Failure),
}

impl Answer {
    /// What the sender is told, as the core decides it from how the delivery ended.
    fn reply(&self) -> Reply {
        match self {
            Answer::TooLarge => Reply::TooLarge,
            Answer::NotConfigured(_) => Reply::NotConfigured,
            Answer::Unverified(_) => Reply::Unverified,
            Answer::Malformed { .. } => Reply::Malformed,
            Answer::Recorded { result, .. } => result.reply(),
        }
    }

    /// `{"status", "outcome", ...}`: `id`, `type`, `user_id` of a recorded delivery, `error_code`
    /// of a failed one, `reason` of an unverified one, `error` when not configured.
    fn to_json(&self) -> Value {
        let mut answer = Map::new();
        let reply = self.reply();
        answer.insert("status".into(), json!(reply.status()));
        answer.insert("outcome".into(), json!(reply.outcome()));
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
    fn reply(&self) -> Reply {
        match self {
            Applied::Done(outcome) => Reply::Applied(*outcome),
            Applied::Duplicate => Reply::Duplicate,
            Applied::Invalid(_) => Reply::Invalid,
            Applied::Failed(_) => Reply::Failed,
        }
    }

    fn failure(&self) -> Option<&Failure> {
        match self {
            Applied::Invalid(failure) | Applied::Failed(failure) => Some(failure),
            Applied::Done(_) | Applied::Duplicate => None,
        }
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

/// Parse, apply and record, in one subtransaction. `parsed` is set once the body is parsed.
/// `Inserts::AsNew`: a new user's row, the state of the object a `*.created` event creates and
/// the delivery's inbox row are inserted as new; a row that is there (a redelivery, an object
/// seen before, a row the app wrote, a username taken meanwhile) raises a unique violation.
fn apply_and_record(
    msg_id: &str,
    body: &Body,
    settings: &Rc<Settings>,
    inserts: Inserts,
    parsed: &mut Option<(pg_sys::Datum, Envelope)>,
) -> Result<Result<Outcome, NotApplied>, Failure> {
    subtransaction::attempt(|| -> Result<Outcome, NotApplied> {
        let (payload, event) = parse_body(body)?;
        let envelope = envelope(&event);
        *parsed = Some((payload, envelope.clone()));
        let mut store = match inserts {
            Inserts::AsNew => SpiStore::inserting_as_new(settings.clone(), envelope.creates()),
            Inserts::Checking => SpiStore::new(settings.clone()),
        };
        let ours = parse_ours(&event, settings.instance_id.as_deref())?;
        let outcome = engine::apply_ours(&mut store, ours.as_ref())?;
        notify::applied(settings.notify_channel.as_deref(), ours.as_ref(), outcome);
        let kept = settings.keep_payloads.keeps(false).then_some(payload);
        let delivery = Delivery::of(msg_id, &envelope, kept, outcome.word(), None, store.erased());
        if !inbox::record(&delivery, inserts)? {
            return Err(NotApplied::Duplicate);
        }
        Ok(outcome)
    })
}

/// Applies a verified delivery and records it. Parse, apply and record run in one
/// subtransaction: a failure is recorded after it is rolled back, and a redelivery's apply is
/// undone once the inbox says the delivery was recorded before. The first attempt inserts as
/// new (`Inserts::AsNew`); a unique violation rolls it back and the delivery is applied again,
/// checking first.
fn accept(msg_id: &str, body: Body, settings: Rc<Settings>) -> Answer {
    let mut parsed: Option<(pg_sys::Datum, Envelope)> = None;
    let mut tried = apply_and_record(msg_id, &body, &settings, Inserts::AsNew, &mut parsed);
    if matches!(&tried, Err(failure) if failure.sqlstate == UNIQUE_VIOLATION) {
        tried = apply_and_record(msg_id, &body, &settings, Inserts::Checking, &mut parsed);
    }
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
        let delivery = Delivery::of(msg_id, &envelope, Some(payload), "failed", Some(failure), false);
        if !record(&delivery) {
            // Recorded before, with an outcome that stands: this redelivery changed nothing.
            return Answer::Recorded { msg_id: msg_id.to_owned(), envelope, result: Applied::Duplicate };
        }
    }
    Answer::Recorded { msg_id: msg_id.to_owned(), envelope, result }
}

fn record(delivery: &Delivery) -> bool {
    inbox::record(delivery, Inserts::Checking).or_report()
}

/// Checks size and signature, then accepts.
fn deliver(headers: Option<&RawJsonb>, body: &str) -> Answer {
    let settings = match config_cache::settings() {
        Ok(settings) => settings,
        Err(error) => return Answer::NotConfigured(error),
    };
    if body.len() as u64 > settings.max_body_bytes {
        return Answer::TooLarge;
    }
    let keys = match config_cache::keys() {
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
    let settings = config_cache::settings().or_report();
    accept(msg_id, Body::Jsonb(&payload), settings).reply().outcome()
}

/// Applies the stored payload of one delivery again and records the outcome; a failure is
/// recorded (`failed`) and rolled back, never raised. Raises when the delivery applied and its
/// payload was not kept (`keep_payloads = failed`).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn replay(msg_id: Option<&str>) -> &'static str {
    replay_delivery(msg_id.ok_or(ClerkSyncError::NullArgument("msg_id")).or_report())
}

/// `replay` of one delivery; raises when there is no such delivery or no payload kept.
pub fn replay_delivery(msg_id: &str) -> &'static str {
    let event = inbox::stored_event(msg_id)
        .and_then(|stored| stored.ok_or_else(|| ClerkSyncError::NoSuchDelivery(msg_id.to_owned())))
        .or_report();
    let settings = config_cache::settings().or_report();
    let (instance_id, channel) = (settings.instance_id.clone(), settings.notify_channel.clone());
    let drop_applied = !settings.keep_payloads.keeps(false);
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
    inbox::record_replay(msg_id, outcome, failure.as_ref(), drop_applied).or_report();
    outcome
}
