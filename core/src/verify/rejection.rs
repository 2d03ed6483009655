//! Why a delivery failed verification. Every message here is safe to show a sender or write to a
//! log: none carries a secret or an expected MAC.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    Id = 0,
    Timestamp = 1,
    Signature = 2,
}

impl HeaderKind {
    pub fn name(self) -> &'static str {
        match self {
            HeaderKind::Id => "svix-id",
            HeaderKind::Timestamp => "svix-timestamp",
            HeaderKind::Signature => "svix-signature",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    MissingHeader(HeaderKind),
    InvalidHeader(HeaderKind),
    MalformedTimestamp,
    TooOld { age_s: u128, tolerance_s: u64 },
    TooNew { ahead_s: u128, tolerance_s: u64 },
    NoMatchingSignature { v1_entries: usize, keys: usize },
}

impl Rejection {
    /// A stable, machine-readable reason, documented in the README.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingHeader(_) => "missing_header",
            Rejection::InvalidHeader(_) => "invalid_header",
            Rejection::MalformedTimestamp => "malformed_timestamp",
            Rejection::TooOld { .. } => "timestamp_too_old",
            Rejection::TooNew { .. } => "timestamp_too_new",
            Rejection::NoMatchingSignature { .. } => "no_matching_signature",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingHeader(kind) => write!(
                f,
                "header {} (or {}) is missing or empty",
                kind.name(),
                kind.name().replacen("svix-", "webhook-", 1)
            ),
            Rejection::InvalidHeader(kind) => write!(
                f,
                "header {} is given more than once with different values, or is not a string",
                kind.name()
            ),
            Rejection::MalformedTimestamp => {
                write!(f, "header svix-timestamp is not an integer number of Unix seconds")
            }
            Rejection::TooOld { age_s, tolerance_s } => write!(
                f,
                "the timestamp is {age_s} s in the past; the tolerance is {tolerance_s} s (check the server clock, or replay with an explicit time)"
            ),
            Rejection::TooNew { ahead_s, tolerance_s } => write!(
                f,
                "the timestamp is {ahead_s} s in the future; the tolerance is {tolerance_s} s (check the server clock)"
            ),
            Rejection::NoMatchingSignature { v1_entries, keys } => write!(
                f,
                "none of the {v1_entries} v1 signature(s) matches any of the {keys} configured secret(s)"
            ),
        }
    }
}
