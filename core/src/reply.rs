//! What the sender of a delivery is answered: the HTTP status and the outcome word, decided once
//! here for `receive`, `webhook()` and the proxy alike.

use crate::apply::engine::Outcome;

/// How a delivery ended, as far as its sender is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Over setting `max_body_bytes`; nothing stored.
    TooLarge,
    /// No signing secret (or clerk_sync is not installed); nothing stored.
    NotConfigured,
    /// The signature does not verify; nothing stored.
    Unverified,
    /// Verified, but the body is not JSON: kept with its raw body.
    Malformed,
    /// Verified and applied.
    Applied(Outcome),
    /// A redelivery of a delivery that was applied: nothing changed.
    Duplicate,
    /// Verified, but not a valid Clerk event: kept; Svix should not retry it.
    Invalid,
    /// Applying failed: kept; Svix retries it, and so can a DBA.
    Failed,
}

impl Reply {
    /// The HTTP status: 2xx only when nothing is left to do, 4xx when retrying cannot help,
    /// 5xx when a retry may succeed (Svix retries 5xx and timeouts).
    #[must_use]
    pub fn status(self) -> u16 {
        match self {
            Reply::TooLarge => 413,
            Reply::Unverified => 401,
            Reply::Malformed | Reply::Invalid => 400,
            Reply::Applied(_) | Reply::Duplicate => 200,
            Reply::NotConfigured | Reply::Failed => 500,
        }
    }

    #[must_use]
    pub fn outcome(self) -> &'static str {
        match self {
            Reply::TooLarge => "too_large",
            Reply::NotConfigured => "not_configured",
            Reply::Unverified => "unverified",
            Reply::Malformed => "malformed",
            Reply::Applied(outcome) => outcome.word(),
            Reply::Duplicate => "duplicate",
            Reply::Invalid | Reply::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_delivery_with_nothing_left_to_do_is_acknowledged() {
        let all = [
            Reply::TooLarge,
            Reply::NotConfigured,
            Reply::Unverified,
            Reply::Malformed,
            Reply::Applied(Outcome::Created),
            Reply::Applied(Outcome::Ignored),
            Reply::Duplicate,
            Reply::Invalid,
            Reply::Failed,
        ];
        let acknowledged: Vec<_> = all.iter().filter(|r| r.status() == 200).map(|r| r.outcome()).collect();
        assert_eq!(acknowledged, ["created", "ignored", "duplicate"]);
        assert_eq!(Reply::Failed.status(), 500, "Svix retries it");
        assert_eq!(Reply::Invalid.status(), 400, "no retry can fix the payload");
        assert_eq!(Reply::Unverified.outcome(), "unverified");
    }
}
