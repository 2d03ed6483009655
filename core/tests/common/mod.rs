//! The in-memory store the engine's tests run on: the tables as maps, one method per statement.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;

use clerk_sync_core::engine::{Claim, Moved, Policy, Release, Removal, Store, UserRow, Usernames, Written};
use clerk_sync_core::{ClerkEvent, DeleteMode, UserRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub email: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub updated_at_ms: i64,
    pub deleted: bool,
}

/// The tables, as maps: what the SQL statements do, one method each.
pub struct Memory {
    /// clerk id → (high-water mark, deleted at)
    pub state: HashMap<String, (i64, Option<i64>)>,
    /// username → clerk id
    pub claims: HashMap<String, String>,
    /// clerk id → row
    pub rows: BTreeMap<String, Row>,
    /// usernames of rows the app wrote itself (no Clerk id)
    pub app_usernames: HashSet<String>,
    pub redacted: HashSet<String>,
    pub soft_delete: bool,
    pub policy: Policy,
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            state: HashMap::new(),
            claims: HashMap::new(),
            rows: BTreeMap::new(),
            app_usernames: HashSet::new(),
            redacted: HashSet::new(),
            soft_delete: false,
            policy: POLICY,
        }
    }
}

impl Memory {
    fn claim_name(&mut self, username: &str, clerk_id: &str) -> Claim {
        match self.claims.get(username) {
            None => {
                self.claims.insert(username.to_owned(), clerk_id.to_owned());
                Claim::New
            }
            Some(owner) if owner == clerk_id => Claim::Kept,
            Some(_) => Claim::Taken,
        }
    }
}

impl Store for Memory {
    type Error = Infallible;

    fn policy(&mut self) -> Result<Policy, Infallible> {
        Ok(self.policy)
    }

    fn mark(&mut self, clerk_id: &str, order_ms: i64, first_choice: Option<&str>) -> Result<Option<Moved>, Infallible> {
        let first_seen = match self.state.get(clerk_id) {
            Some((_, Some(_))) => return Ok(None),
            Some((mark, None)) if *mark >= order_ms => return Ok(None),
            Some(_) => false,
            None => true,
        };
        self.state.insert(clerk_id.to_owned(), (order_ms, None));
        let first_claim = first_choice.map(|name| self.claim_name(name, clerk_id));
        Ok(Some(Moved { first_seen, first_claim }))
    }

    fn tombstone(&mut self, clerk_id: &str, deleted_at_ms: i64, removal: Removal) -> Result<bool, Infallible> {
        match self.state.get_mut(clerk_id) {
            Some((_, Some(_))) => Ok(false),
            Some((mark, None)) if removal == Removal::Unlisted && *mark >= deleted_at_ms => Ok(false),
            Some((mark, deleted)) => {
                *mark = (*mark).max(deleted_at_ms);
                *deleted = Some(deleted_at_ms);
                Ok(true)
            }
            None => {
                self.state.insert(clerk_id.to_owned(), (deleted_at_ms, Some(deleted_at_ms)));
                Ok(true)
            }
        }
    }

    fn is_deleted(&mut self, clerk_id: &str) -> Result<bool, Infallible> {
        Ok(matches!(self.state.get(clerk_id), Some((_, Some(_)))))
    }

    fn claim(&mut self, username: &str, clerk_id: &str) -> Result<Claim, Infallible> {
        Ok(self.claim_name(username, clerk_id))
    }

    fn release(&mut self, clerk_id: &str, which: Release<'_>) -> Result<(), Infallible> {
        self.claims.retain(|name, owner| {
            owner != clerk_id
                || match which {
                    Release::Only(one) => name != one,
                    Release::AllBut(kept) => name == kept,
                    Release::All => false,
                }
        });
        Ok(())
    }

    fn write_user(&mut self, row: &UserRow<'_>, _first_seen: bool) -> Result<Written, Infallible> {
        if let Some(name) = row.username {
            let held_by_other = self.app_usernames.contains(name)
                || self.rows.iter().any(|(id, r)| id != row.clerk_id && r.username.as_deref() == Some(name));
            if held_by_other {
                return Ok(Written::UsernameInUse);
            }
        }
        let new = Row {
            email: row.email.map(Into::into),
            username: row.username.map(Into::into),
            first_name: row.first_name.map(Into::into),
            updated_at_ms: row.updated_at_ms,
            deleted: false,
        };
        Ok(match self.rows.insert(row.clerk_id.to_owned(), new) {
            None => Written::Inserted,
            Some(_) => Written::Updated,
        })
    }

    fn delete_user(&mut self, clerk_id: &str, _deleted_at_ms: i64) -> Result<(), Infallible> {
        if self.soft_delete {
            if let Some(row) = self.rows.get_mut(clerk_id) {
                row.deleted = true;
            }
        } else {
            self.rows.remove(clerk_id);
        }
        Ok(())
    }

    fn redact_payloads(&mut self, clerk_id: &str) -> Result<(), Infallible> {
        self.redacted.insert(clerk_id.to_owned());
        Ok(())
    }
}

pub const POLICY: Policy = Policy {
    usernames: Usernames::Claimed,
    email_required: true,
    delete_mode: DeleteMode::Delete,
    redact_on_delete: true,
};

pub fn user(id: &str, username: Option<&str>, email: Option<&str>, first_name: &str, updated_at_ms: i64) -> UserRecord {
    UserRecord {
        clerk_id: id.into(),
        email: email.map(Into::into),
        username: username.map(Into::into),
        first_name: Some(first_name.into()),
        updated_at_ms: Some(updated_at_ms),
        ..UserRecord::default()
    }
}

pub fn upsert(user: UserRecord) -> ClerkEvent {
    let order_ms = user.updated_at_ms.unwrap();
    ClerkEvent::Upsert { user, order_ms }
}
