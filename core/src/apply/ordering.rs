//! The one rule that orders what happens to a Clerk object (a user, an organization, a
//! membership): which event is newer, that a deletion is final, when an object missing from a
//! listing may go. Every store decides by it: the batch planner and the engine's test store call
//! these functions, and the SQL that writes `clerk_sync.user_state` is checked against them over
//! a grid of states and events (its `#[pg_test]`).

/// An object's row in `clerk_sync.user_state`: the time of the newest event applied for it and,
/// once deleted, when (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectState {
    pub high_water_ms: i64,
    pub deleted_at_ms: Option<i64>,
}

/// Why an object goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Removal {
    /// A deletion event: final, whatever the high-water mark says.
    Deleted,
    /// Absent from a complete listing begun at the removal time: only when nothing newer than
    /// that was applied for the object.
    Unlisted,
}

/// An event that changes the object, at `order_ms`: the new state, and whether the object is
/// seen for the first time; None when the event is not newer than the mark or the object is
/// deleted (nothing is written).
#[must_use]
pub fn change(state: Option<ObjectState>, order_ms: i64) -> Option<(ObjectState, bool)> {
    let first_seen = match state {
        Some(s) if s.deleted_at_ms.is_some() || s.high_water_ms >= order_ms => return None,
        Some(_) => false,
        None => true,
    };
    Some((ObjectState { high_water_ms: order_ms, deleted_at_ms: None }, first_seen))
}

/// The object's removal at `at_ms`: its tombstone, or None when it was already deleted or, for
/// [`Removal::Unlisted`], when an event at or after `at_ms` was applied for it.
#[must_use]
pub fn remove(state: Option<ObjectState>, at_ms: i64, removal: Removal) -> Option<ObjectState> {
    let high_water_ms = match state {
        Some(s) if s.deleted_at_ms.is_some() => return None,
        Some(s) if removal == Removal::Unlisted && s.high_water_ms >= at_ms => return None,
        Some(s) => s.high_water_ms.max(at_ms),
        None => at_ms,
    };
    Some(ObjectState { high_water_ms, deleted_at_ms: Some(at_ms) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: ObjectState = ObjectState { high_water_ms: 100, deleted_at_ms: None };
    const GONE: ObjectState = ObjectState { high_water_ms: 100, deleted_at_ms: Some(100) };

    #[test]
    fn only_a_newer_event_changes_a_live_object() {
        assert_eq!(change(None, 5), Some((ObjectState { high_water_ms: 5, deleted_at_ms: None }, true)));
        assert_eq!(change(Some(LIVE), 101), Some((ObjectState { high_water_ms: 101, deleted_at_ms: None }, false)));
        assert_eq!(change(Some(LIVE), 100), None);
        assert_eq!(change(Some(LIVE), 99), None);
    }

    #[test]
    fn a_deletion_is_final() {
        assert_eq!(change(Some(GONE), 1_000), None);
        assert_eq!(remove(Some(GONE), 1_000, Removal::Deleted), None);
        assert_eq!(remove(Some(GONE), 1_000, Removal::Unlisted), None);
        assert_eq!(
            remove(Some(LIVE), 50, Removal::Deleted),
            Some(ObjectState { high_water_ms: 100, deleted_at_ms: Some(50) })
        );
        assert_eq!(
            remove(None, 50, Removal::Deleted),
            Some(ObjectState { high_water_ms: 50, deleted_at_ms: Some(50) })
        );
    }

    #[test]
    fn an_unlisted_object_goes_only_when_nothing_newer_was_applied() {
        assert_eq!(remove(Some(LIVE), 100, Removal::Unlisted), None);
        assert_eq!(
            remove(Some(LIVE), 101, Removal::Unlisted),
            Some(ObjectState { high_water_ms: 101, deleted_at_ms: Some(101) })
        );
        assert_eq!(remove(None, 7, Removal::Unlisted), Some(ObjectState { high_water_ms: 7, deleted_at_ms: Some(7) }));
    }
}
