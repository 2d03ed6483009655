//! The in-memory store the engine's tests run on: the tables as maps, one method per statement.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;

use clerk_sync_core::apply::engine::{
    Claim, MembershipRow, Moved, Objects, OrganizationRow, Parent, Policy, Release, Store, UserRow, Usernames, Written,
};
use clerk_sync_core::apply::ordering::{self, ObjectState, Removal};
use clerk_sync_core::event::billing::SubscriptionItemRecord;
use clerk_sync_core::event::organization::{MembershipRecord, OrganizationRecord};
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
    /// clerk id → high-water mark and tombstone
    pub state: HashMap<String, ObjectState>,
    /// username → clerk id
    pub claims: HashMap<String, String>,
    /// clerk id → row
    pub rows: BTreeMap<String, Row>,
    /// usernames of rows the app wrote itself (no Clerk id)
    pub app_usernames: HashSet<String>,
    pub redacted: HashSet<String>,
    pub soft_delete: bool,
    pub policy: Policy,
    pub objects: Objects,
    /// clerk id → (name, updated_at_ms)
    pub organizations: BTreeMap<String, (Option<String>, i64)>,
    /// clerk id → (organization clerk id, user clerk id, role), with the app's foreign keys:
    /// both rows must exist, and go with them (ON DELETE CASCADE).
    pub memberships: BTreeMap<String, (String, String, Option<String>)>,
    /// clerk id → the item as last written
    pub subscription_items: BTreeMap<String, SubscriptionItemRecord>,
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
            objects: Objects { organizations: true, memberships: true, subscription_items: true },
            organizations: BTreeMap::new(),
            memberships: BTreeMap::new(),
            subscription_items: BTreeMap::new(),
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
        let Some((state, first_seen)) = ordering::change(self.state.get(clerk_id).copied(), order_ms) else {
            return Ok(None);
        };
        self.state.insert(clerk_id.to_owned(), state);
        let first_claim = first_choice.map(|name| self.claim_name(name, clerk_id));
        Ok(Some(Moved { first_seen, first_claim }))
    }

    fn tombstone(&mut self, clerk_id: &str, deleted_at_ms: i64, removal: Removal) -> Result<bool, Infallible> {
        let Some(state) = ordering::remove(self.state.get(clerk_id).copied(), deleted_at_ms, removal) else {
            return Ok(false);
        };
        self.state.insert(clerk_id.to_owned(), state);
        Ok(true)
    }

    fn is_deleted(&mut self, clerk_id: &str) -> Result<bool, Infallible> {
        Ok(self.state.get(clerk_id).is_some_and(|s| s.deleted_at_ms.is_some()))
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

    fn write_user(&mut self, row: &UserRow, _first_seen: bool) -> Result<Written, Infallible> {
        if let Some(name) = row.username.as_deref() {
            let held_by_other = self.app_usernames.contains(name)
                || self.rows.iter().any(|(id, r)| *id != row.clerk_id && r.username.as_deref() == Some(name));
            if held_by_other {
                return Ok(Written::UsernameInUse);
            }
        }
        let new = Row {
            email: row.email.clone(),
            username: row.username.clone(),
            first_name: row.first_name.clone(),
            updated_at_ms: row.updated_at_ms,
            deleted: false,
        };
        Ok(match self.rows.insert(row.clerk_id.clone(), new) {
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
            self.memberships.retain(|_, (_, user, _)| user != clerk_id);
        }
        Ok(())
    }

    fn redact_payloads(&mut self, clerk_id: &str) -> Result<(), Infallible> {
        self.redacted.insert(clerk_id.to_owned());
        Ok(())
    }

    fn objects(&mut self) -> Result<Objects, Infallible> {
        Ok(self.objects)
    }

    fn hold(&mut self, clerk_id: &str) -> Result<Option<bool>, Infallible> {
        Ok(self.state.get(clerk_id).map(|s| s.deleted_at_ms.is_some()))
    }

    fn has_row(&mut self, parent: Parent<'_>) -> Result<bool, Infallible> {
        Ok(match parent {
            Parent::User(id) => self.rows.contains_key(id),
            Parent::Organization(id) => self.organizations.contains_key(id),
        })
    }

    fn write_organization(&mut self, row: &OrganizationRow<'_>) -> Result<Written, Infallible> {
        let new = (row.name.map(Into::into), row.updated_at_ms);
        Ok(match self.organizations.insert(row.clerk_id.to_owned(), new) {
            None => Written::Inserted,
            Some(_) => Written::Updated,
        })
    }

    fn write_subscription_item(&mut self, item: &SubscriptionItemRecord) -> Result<Written, Infallible> {
        Ok(match self.subscription_items.insert(item.clerk_id.clone(), item.clone()) {
            None => Written::Inserted,
            Some(_) => Written::Updated,
        })
    }

    fn delete_organization(&mut self, clerk_id: &str) -> Result<(), Infallible> {
        self.organizations.remove(clerk_id);
        self.memberships.retain(|_, (organization, _, _)| organization != clerk_id);
        Ok(())
    }

    fn write_membership(&mut self, row: &MembershipRow<'_>) -> Result<Option<Written>, Infallible> {
        if !self.organizations.contains_key(row.organization_id) || !self.rows.contains_key(row.user_id) {
            return Ok(None);
        }
        let new = (row.organization_id.to_owned(), row.user_id.to_owned(), row.role.map(Into::into));
        Ok(Some(match self.memberships.insert(row.clerk_id.to_owned(), new) {
            None => Written::Inserted,
            Some(_) => Written::Updated,
        }))
    }

    fn delete_membership(&mut self, clerk_id: &str) -> Result<(), Infallible> {
        self.memberships.remove(clerk_id);
        Ok(())
    }

    fn delete_memberships_of(&mut self, parent: Parent<'_>) -> Result<(), Infallible> {
        self.memberships.retain(|_, (organization, user, _)| match parent {
            Parent::User(id) => user != id,
            Parent::Organization(id) => organization != id,
        });
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

pub fn organization(id: &str, name: &str, updated_at_ms: i64) -> OrganizationRecord {
    OrganizationRecord {
        clerk_id: id.into(),
        name: Some(name.into()),
        created_at_ms: Some(1),
        updated_at_ms: Some(updated_at_ms),
        ..OrganizationRecord::default()
    }
}

/// A membership of `user_id` in `org_id` with `role`, updated at `updated_at_ms`; it carries its
/// organization as of time 1 and the user's public data.
pub fn membership(id: &str, org_id: &str, user_id: &str, role: &str, updated_at_ms: i64) -> ClerkEvent {
    ClerkEvent::MembershipUpsert {
        membership: Box::new(MembershipRecord {
            clerk_id: id.into(),
            role: Some(role.into()),
            created_at_ms: Some(1),
            updated_at_ms: Some(updated_at_ms),
            organization: organization(org_id, "From a membership", 1),
            user: UserRecord {
                clerk_id: user_id.into(),
                email: Some(format!("{user_id}@example.com")),
                first_name: Some("Public".into()),
                ..UserRecord::default()
            },
        }),
        order_ms: updated_at_ms,
    }
}
