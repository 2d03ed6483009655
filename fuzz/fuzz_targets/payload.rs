//! Event parsing and user mapping on arbitrary JSON: never panics; whatever maps yields a
//! username and passes the field trim unchanged; the body parsed in Rust (jsonb_encode) reads as
//! the same event.
#![no_main]

use clerk_sync_core::event::jsonb_encode;
use clerk_sync_core::event::username::{base_username, candidate};
use clerk_sync_core::event::EVENT_FIELDS;
use clerk_sync_core::{parse_event, ClerkEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let parsed = parse_event(&value);
    assert_eq!(parse_event(&EVENT_FIELDS.retain(&value)), parsed);
    if let Some(body) = std::str::from_utf8(data).ok().and_then(|text| jsonb_encode::parse(text, &EVENT_FIELDS)) {
        assert_eq!(parse_event(&body.event), parsed);
    }
    if let Ok(ClerkEvent::Upsert { user, .. }) = parsed {
        let base = base_username(&user);
        assert!(!base.is_empty());
        assert_ne!(candidate(&base, &user.clerk_id, 1), base);
    }
});
