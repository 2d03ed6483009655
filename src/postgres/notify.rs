//! Change notifications (setting `notify_channel`): a NOTIFY for each applied change, made in the
//! (sub)transaction that applied it, so that PostgreSQL delivers it at commit and drops it with
//! work that is rolled back. What is said is the core's `engine::change_notice`.

use clerk_sync_core::apply::engine::{self, Outcome};
use clerk_sync_core::ClerkEvent;
use pgrx::{pg_sys, IntoDatum};

/// Queues the notice of `event`'s `outcome` on `channel`, if any and if the event changed
/// something.
pub fn applied(channel: Option<&str>, event: Option<&ClerkEvent>, outcome: Outcome) {
    let (Some(channel), Some(event)) = (channel, event) else { return };
    let Some(notice) = engine::change_notice(event, outcome) else { return };
    // SAFETY: pg_notify(text, text) with two text datums made here; it copies both into the
    // transaction's queue of notifications.
    unsafe { pgrx::direct_function_call_as_datum(pg_sys::pg_notify, &[channel.into_datum(), notice.into_datum()]) };
}
