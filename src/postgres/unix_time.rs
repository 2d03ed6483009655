//! PostgreSQL's times (microseconds since 2000-01-01) as Unix times, and back.

use pgrx::pg_sys;
use pgrx::prelude::*;

const POSTGRES_EPOCH_UNIX_S: i64 = 946_684_800;
const USECS_PER_SEC: i64 = 1_000_000;

pub fn unix_seconds(at: TimestampWithTimeZone) -> i64 {
    let usecs: pg_sys::TimestampTz = at.into();
    usecs.div_euclid(USECS_PER_SEC).saturating_add(POSTGRES_EPOCH_UNIX_S)
}

pub fn unix_ms(at: TimestampWithTimeZone) -> i64 {
    let usecs: pg_sys::TimestampTz = at.into();
    usecs.div_euclid(1000).saturating_add(POSTGRES_EPOCH_UNIX_S * 1000)
}

pub fn to_timestamptz(unix_s: i64) -> Option<TimestampWithTimeZone> {
    let usecs = unix_s.checked_sub(POSTGRES_EPOCH_UNIX_S)?.checked_mul(USECS_PER_SEC)?;
    TimestampWithTimeZone::try_from(usecs).ok()
}

/// `now()` in Unix milliseconds.
pub fn transaction_start_ms() -> i64 {
    // SAFETY: always valid inside a transaction, which every SQL function call is.
    let usecs = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    usecs.div_euclid(1000) + POSTGRES_EPOCH_UNIX_S * 1000
}

/// `now()`: the start of the current transaction.
pub fn transaction_start() -> i64 {
    // SAFETY: always valid inside a transaction, which every SQL function call is.
    let usecs = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    usecs.div_euclid(USECS_PER_SEC) + POSTGRES_EPOCH_UNIX_S
}
