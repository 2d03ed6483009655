//! Many events at once: the engine itself (`engine::apply`), run over a snapshot of the users the
//! events touch, with each step's effect kept in memory, so the extension can write the result in
//! a few set-based statements. The decisions are the engine's; this module only stands in for the
//! store and collects, per user, the last thing written: its state, its row, its erasure.
//!
//! A batch it cannot plan exactly as one event at a time would go comes back as [`Unplannable`];
//! the caller then applies those events one at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::apply::engine::{
    self, Claim, EngineError, MembershipRow, Moved, Objects, OrganizationRow, Outcome, Parent, Policy, Release, Store,
    UserRow, Usernames, Written,
};
use crate::apply::ordering::{self, ObjectState, Removal};
use crate::event::billing::SubscriptionItemRecord;
use crate::event::{ClerkEvent, Object};
use crate::settings::DeleteMode;

/// What the database holds for the users of a batch, read (and their state rows locked) before
/// planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Users with a state row.
    pub states: HashMap<String, ObjectState>,
    /// Users with a row in the target, and that row's username.
    pub rows: HashMap<String, Option<String>>,
    /// Usernames looked up in the target: the Clerk id of the row holding each (None for a row
    /// the app wrote without one). A name looked up and not here is free.
    pub holders: HashMap<String, Option<String>>,
    pub looked_up: HashSet<String>,
    /// The organization tables the app has.
    pub objects: Objects,
}

/// What a batch does, as the statements that write it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per event, in the order given.
    pub outcomes: Vec<Outcome>,
    /// The new state of every user whose state changed, by Clerk id.
    pub states: BTreeMap<String, ObjectState>,
    /// Rows to remove: users deleted who had a row before the batch.
    pub deletes: Vec<String>,
    /// Rows that existed before the batch, with their final values.
    pub updates: Vec<UserRow>,
    /// Rows new in the batch, with their final values.
    pub inserts: Vec<UserRow>,
    /// Users whose stored payloads are erased.
    pub redact: Vec<String>,
    /// Users deleted whose memberships go (before their rows: the memberships refer to them).
    pub memberships_of: Vec<String>,
}

/// Why a batch is applied one event at a time instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unplannable {
    #[error("usernames are kept unique by claims")]
    Claims,
    #[error("deletes are soft")]
    SoftDelete,
    #[error("username {0} was not looked up")]
    NameNotLooked(String),
    #[error("every candidate username derived from \"{0}\" is taken")]
    UsernameExhausted(String),
    #[error("organizations, memberships and subscription items are applied one event at a time")]
    Organizations,
}

/// The final write of one user's row.
enum Final {
    Write(UserRow),
    Delete,
}

/// The store the engine runs on while planning: the snapshot, changed as the engine goes.
struct Planner {
    policy: Policy,
    states: HashMap<String, ObjectState>,
    changed: BTreeSet<String>,
    had_row: HashSet<String>,
    rows: HashMap<String, Option<String>>,
    holders: HashMap<String, Option<String>>,
    looked_up: HashSet<String>,
    finals: BTreeMap<String, Final>,
    redact: BTreeSet<String>,
    objects: Objects,
    memberships_of: BTreeSet<String>,
}

impl Store for Planner {
    type Error = Unplannable;

    fn policy(&mut self) -> Result<Policy, Unplannable> {
        Ok(self.policy)
    }

    fn mark(
        &mut self,
        clerk_id: &str,
        order_ms: i64,
        first_choice: Option<&str>,
    ) -> Result<Option<Moved>, Unplannable> {
        if first_choice.is_some() {
            return Err(Unplannable::Claims);
        }
        let Some((state, first_seen)) = ordering::change(self.states.get(clerk_id).copied(), order_ms) else {
            return Ok(None);
        };
        self.states.insert(clerk_id.to_owned(), state);
        self.changed.insert(clerk_id.to_owned());
        Ok(Some(Moved { first_seen, first_claim: None }))
    }

    fn tombstone(&mut self, clerk_id: &str, deleted_at_ms: i64, removal: Removal) -> Result<bool, Unplannable> {
        let Some(state) = ordering::remove(self.states.get(clerk_id).copied(), deleted_at_ms, removal) else {
            return Ok(false);
        };
        self.states.insert(clerk_id.to_owned(), state);
        self.changed.insert(clerk_id.to_owned());
        Ok(true)
    }

    fn is_deleted(&mut self, clerk_id: &str) -> Result<bool, Unplannable> {
        Ok(self.states.get(clerk_id).is_some_and(|state| state.deleted_at_ms.is_some()))
    }

    fn claim(&mut self, _username: &str, _clerk_id: &str) -> Result<Claim, Unplannable> {
        Err(Unplannable::Claims)
    }

    fn release(&mut self, _clerk_id: &str, _which: Release<'_>) -> Result<(), Unplannable> {
        Err(Unplannable::Claims)
    }

    fn write_user(&mut self, row: &UserRow, _first_seen: bool) -> Result<Written, Unplannable> {
        if let Some(name) = row.username.as_deref() {
            if !self.looked_up.contains(name) {
                return Err(Unplannable::NameNotLooked(name.to_owned()));
            }
            match self.holders.get(name) {
                Some(Some(holder)) if *holder == row.clerk_id => {}
                Some(_) => return Ok(Written::UsernameInUse),
                None => {}
            }
        }
        let previous = self.rows.insert(row.clerk_id.clone(), row.username.clone());
        if let Some(Some(old)) = &previous {
            self.free(old, &row.clerk_id);
        }
        if let Some(name) = &row.username {
            self.holders.insert(name.clone(), Some(row.clerk_id.clone()));
        }
        self.finals.insert(row.clerk_id.clone(), Final::Write(row.clone()));
        Ok(if previous.is_some() { Written::Updated } else { Written::Inserted })
    }

    fn delete_user(&mut self, clerk_id: &str, _deleted_at_ms: i64) -> Result<(), Unplannable> {
        if self.policy.delete_mode == DeleteMode::Soft {
            return Err(Unplannable::SoftDelete);
        }
        if let Some(Some(name)) = self.rows.remove(clerk_id) {
            self.free(&name, clerk_id);
        }
        if self.had_row.contains(clerk_id) {
            self.finals.insert(clerk_id.to_owned(), Final::Delete);
        } else {
            self.finals.remove(clerk_id);
        }
        Ok(())
    }

    fn redact_payloads(&mut self, clerk_id: &str) -> Result<(), Unplannable> {
        self.redact.insert(clerk_id.to_owned());
        Ok(())
    }

    fn objects(&mut self) -> Result<Objects, Unplannable> {
        Ok(self.objects)
    }

    fn hold(&mut self, _clerk_id: &str) -> Result<Option<bool>, Unplannable> {
        Err(Unplannable::Organizations)
    }

    fn has_row(&mut self, _parent: Parent<'_>) -> Result<bool, Unplannable> {
        Err(Unplannable::Organizations)
    }

    fn write_organization(&mut self, _row: &OrganizationRow<'_>) -> Result<Written, Unplannable> {
        Err(Unplannable::Organizations)
    }

    fn delete_organization(&mut self, _clerk_id: &str) -> Result<(), Unplannable> {
        Err(Unplannable::Organizations)
    }

    fn write_membership(&mut self, _row: &MembershipRow<'_>) -> Result<Option<Written>, Unplannable> {
        Err(Unplannable::Organizations)
    }

    fn delete_membership(&mut self, _clerk_id: &str) -> Result<(), Unplannable> {
        Err(Unplannable::Organizations)
    }

    fn write_subscription_item(&mut self, _item: &SubscriptionItemRecord) -> Result<Written, Unplannable> {
        Err(Unplannable::Organizations)
    }

    fn delete_memberships_of(&mut self, parent: Parent<'_>) -> Result<(), Unplannable> {
        match parent {
            Parent::User(id) => {
                self.memberships_of.insert(id.to_owned());
                Ok(())
            }
            Parent::Organization(_) => Err(Unplannable::Organizations),
        }
    }
}

impl Planner {
    fn free(&mut self, name: &str, clerk_id: &str) {
        if self.holders.get(name).is_some_and(|holder| holder.as_deref() == Some(clerk_id)) {
            self.holders.remove(name);
        }
    }
}

/// Plans `events`, in order, over `snapshot`: the same outcomes and the same end state as
/// applying them one at a time.
pub fn plan(policy: Policy, snapshot: Snapshot, events: &[&ClerkEvent]) -> Result<Plan, Unplannable> {
    if policy.usernames == Usernames::Claimed {
        return Err(Unplannable::Claims);
    }
    let Snapshot { states, rows, holders, looked_up, objects } = snapshot;
    let mut planner = Planner {
        policy,
        states,
        changed: BTreeSet::new(),
        had_row: rows.keys().cloned().collect(),
        rows,
        holders,
        looked_up,
        finals: BTreeMap::new(),
        redact: BTreeSet::new(),
        objects,
        memberships_of: BTreeSet::new(),
    };
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        outcomes.push(engine::apply(&mut planner, event).map_err(|error| match error {
            EngineError::UsernameExhausted(base) => Unplannable::UsernameExhausted(base),
            EngineError::MissingParent(..) | EngineError::Payload(_) => Unplannable::Organizations,
            EngineError::Store(error) => error,
        })?);
    }
    let mut plan = Plan { outcomes, ..Plan::default() };
    for id in &planner.changed {
        plan.states.insert(id.clone(), planner.states[id]);
    }
    for (id, last) in planner.finals {
        match last {
            Final::Delete => plan.deletes.push(id),
            Final::Write(values) if planner.had_row.contains(&id) => plan.updates.push(values),
            Final::Write(values) => plan.inserts.push(values),
        }
    }
    plan.redact = planner.redact.into_iter().collect();
    plan.memberships_of = planner.memberships_of.into_iter().collect();
    Ok(plan)
}

/// The users and usernames a batch needs looked up: every user an event is about, and the first
/// choice of username of every user an event writes.
pub fn lookups(events: &[&ClerkEvent], policy_usernames: Usernames) -> (Vec<String>, Vec<String>) {
    let mut users = BTreeSet::new();
    let mut names = BTreeSet::new();
    for event in events {
        match event {
            ClerkEvent::Upsert { user, .. } => {
                users.insert(user.clerk_id.clone());
                if policy_usernames == Usernames::UniqueInTarget {
                    names.insert(crate::event::username::candidate(
                        &crate::event::username::base_username(user),
                        &user.clerk_id,
                        0,
                    ));
                }
            }
            ClerkEvent::Delete { user_id, .. }
            | ClerkEvent::Unlisted { object: Object::User, clerk_id: user_id, .. } => {
                users.insert(user_id.clone());
            }
            ClerkEvent::Unlisted { .. } => {}
            ClerkEvent::OrganizationUpsert { .. }
            | ClerkEvent::OrganizationDelete { .. }
            | ClerkEvent::MembershipUpsert { .. }
            | ClerkEvent::MembershipDelete { .. }
            | ClerkEvent::SubscriptionItems { .. }
            | ClerkEvent::Other { .. } => {}
        }
    }
    (users.into_iter().collect(), names.into_iter().collect())
}
