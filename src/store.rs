//! The engine's storage (`clerk_sync_core::apply::engine::Store`) over SPI: each step is one
//! statement of the module that owns its table — `own_tables::{user_state, username_claim,
//! inbox}` and `app_tables::{users, organizations, memberships}` (the app's, as their owner).

use std::rc::Rc;

use clerk_sync_core::app_tables::users_sql::TargetError;
use clerk_sync_core::apply::engine::{
    Claim, MembershipRow, Moved, Objects, OrganizationRow, Parent, Policy, Release, Store, UserRow, Written,
};
use clerk_sync_core::apply::ordering::Removal;
use clerk_sync_core::event::billing::SubscriptionItemRecord;
use clerk_sync_core::Settings;

use crate::app_tables::memberships::{self, MembershipPlan};
use crate::app_tables::organizations::{self, OrganizationPlan};
use crate::app_tables::subscription_items::{self, SubscriptionItemPlan};
use crate::app_tables::users::{self, TargetPlan};
use crate::error::ClerkSyncError;
use crate::own_tables::{inbox, user_state, username_claim};
use crate::postgres::statements::Inserts;

/// The configured target's statements are prepared on the first step that needs them.
pub struct SpiStore {
    settings: Rc<Settings>,
    target: Option<Rc<TargetPlan>>,
    erased: bool,
    inserts: Inserts,
    /// The next mark is of an object never marked before.
    mark_new: bool,
}

impl SpiStore {
    pub fn new(settings: Rc<Settings>) -> Self {
        SpiStore { settings, target: None, erased: false, inserts: Inserts::Checking, mark_new: false }
    }

    /// A store that inserts as new (`Inserts::AsNew`): a user's row seen for the first time,
    /// and, when the event `creates` its object, that object's state; for a delivery that is
    /// applied again with `new`'s store when it raises a unique violation.
    pub fn inserting_as_new(settings: Rc<Settings>, creates: bool) -> Self {
        SpiStore { inserts: Inserts::AsNew, mark_new: creates, ..SpiStore::new(settings) }
    }

    /// The engine erased the event's user's stored payloads: the delivery being recorded is
    /// stored erased too.
    pub fn erased(&self) -> bool {
        self.erased
    }

    fn organizations(&self) -> Result<Option<Rc<OrganizationPlan>>, ClerkSyncError> {
        organizations::plan(&self.settings.organizations)
    }

    fn memberships(&self) -> Result<Option<Rc<MembershipPlan>>, ClerkSyncError> {
        memberships::plan(&self.settings)
    }

    fn subscription_items(&self) -> Result<Option<Rc<SubscriptionItemPlan>>, ClerkSyncError> {
        subscription_items::plan(&self.settings.subscription_items)
    }

    /// The organizations table, which the engine asks for only once it knows it exists (it may
    /// have been dropped since).
    fn organizations_table(&self) -> Result<Rc<OrganizationPlan>, ClerkSyncError> {
        let target = &self.settings.organizations;
        self.organizations()?.ok_or_else(|| TargetError::NoTable(format!("{}.{}", target.schema, target.table)).into())
    }

    fn memberships_table(&self) -> Result<Rc<MembershipPlan>, ClerkSyncError> {
        let target = &self.settings.memberships;
        self.memberships()?.ok_or_else(|| TargetError::NoTable(format!("{}.{}", target.schema, target.table)).into())
    }

    fn target(&mut self) -> Result<&TargetPlan, ClerkSyncError> {
        if self.target.is_none() {
            self.target = Some(users::plan(&self.settings.target)?);
        }
        Ok(self.target.as_deref().expect("set above"))
    }
}

impl Store for SpiStore {
    type Error = ClerkSyncError;

    fn policy(&mut self) -> Result<Policy, Self::Error> {
        let target = self.target()?;
        let (usernames, email_required) = (target.usernames, target.email_required);
        Ok(Policy {
            usernames,
            email_required,
            delete_mode: self.settings.target.delete_mode,
            redact_on_delete: self.settings.redact_on_delete,
        })
    }

    fn mark(
        &mut self,
        clerk_id: &str,
        order_ms: i64,
        first_choice: Option<&str>,
    ) -> Result<Option<Moved>, Self::Error> {
        let marked = if std::mem::take(&mut self.mark_new) {
            user_state::mark_new(clerk_id, order_ms)?
        } else {
            user_state::mark(clerk_id, order_ms)?
        };
        let Some(first_seen) = marked else {
            return Ok(None);
        };
        let first_claim = first_choice.map(|name| username_claim::claim(name, clerk_id)).transpose()?;
        Ok(Some(Moved { first_seen, first_claim }))
    }

    fn tombstone(&mut self, clerk_id: &str, deleted_at_ms: i64, removal: Removal) -> Result<bool, Self::Error> {
        user_state::tombstone(clerk_id, deleted_at_ms, removal == Removal::Unlisted)
    }

    fn is_deleted(&mut self, clerk_id: &str) -> Result<bool, Self::Error> {
        user_state::is_deleted(clerk_id)
    }

    fn claim(&mut self, username: &str, clerk_id: &str) -> Result<Claim, Self::Error> {
        username_claim::claim(username, clerk_id)
    }

    fn release(&mut self, clerk_id: &str, which: Release<'_>) -> Result<(), Self::Error> {
        username_claim::release(clerk_id, which)
    }

    fn write_user(&mut self, row: &UserRow, first_seen: bool) -> Result<Written, Self::Error> {
        let inserts = self.inserts;
        self.target()?.write(row, first_seen, inserts)
    }

    fn delete_user(&mut self, clerk_id: &str, deleted_at_ms: i64) -> Result<(), Self::Error> {
        self.target()?.delete(clerk_id, deleted_at_ms)
    }

    fn redact_payloads(&mut self, clerk_id: &str) -> Result<(), Self::Error> {
        self.erased = true;
        inbox::redact(clerk_id).map(|_| ())
    }

    /// A table that exists but is misconfigured counts as there: the step that writes it fails
    /// with what is wrong, and only the events that write it.
    fn objects(&mut self) -> Result<Objects, Self::Error> {
        Ok(Objects {
            organizations: !matches!(self.organizations(), Ok(None)),
            memberships: !matches!(self.memberships(), Ok(None)),
            subscription_items: !matches!(self.subscription_items(), Ok(None)),
        })
    }

    fn hold(&mut self, clerk_id: &str) -> Result<Option<bool>, Self::Error> {
        user_state::hold(clerk_id)
    }

    fn has_row(&mut self, parent: Parent<'_>) -> Result<bool, Self::Error> {
        match parent {
            Parent::User(id) => self.target()?.has_row(id),
            Parent::Organization(id) => self.organizations()?.map_or(Ok(false), |plan| plan.has_row(id)),
        }
    }

    fn write_organization(&mut self, row: &OrganizationRow<'_>) -> Result<Written, Self::Error> {
        self.organizations_table()?.write(row)
    }

    fn delete_organization(&mut self, clerk_id: &str) -> Result<(), Self::Error> {
        self.organizations_table()?.delete(clerk_id)
    }

    fn write_membership(&mut self, row: &MembershipRow<'_>) -> Result<Option<Written>, Self::Error> {
        self.memberships_table()?.write(row)
    }

    fn delete_membership(&mut self, clerk_id: &str) -> Result<(), Self::Error> {
        self.memberships_table()?.delete(clerk_id)
    }

    fn delete_memberships_of(&mut self, parent: Parent<'_>) -> Result<(), Self::Error> {
        self.memberships_table()?.delete_of(parent)
    }

    fn write_subscription_item(&mut self, item: &SubscriptionItemRecord) -> Result<Written, Self::Error> {
        let target = &self.settings.subscription_items;
        let plan = self
            .subscription_items()?
            .ok_or_else(|| ClerkSyncError::from(TargetError::NoTable(format!("{}.{}", target.schema, target.table))))?;
        plan.write(item)
    }
}
