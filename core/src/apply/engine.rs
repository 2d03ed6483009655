//! What an event does. Every decision about applying a Clerk event lives here — username choice,
//! placeholder email, redaction, the outcome word — or in `ordering` (stale or newer, first seen,
//! tombstone). The engine reads and writes state only through [`Store`]; the extension
//! implements it over SPI (`src/store.rs`, one module per table), the tests over memory
//! (`core/tests/common`).

use crate::apply::ordering::Removal;
use crate::event::billing::SubscriptionItemRecord;
use crate::event::organization::{MembershipRecord, OrganizationRecord};
use crate::event::user::UserRecord;
use crate::event::username::{base_username, candidate, placeholder_email, MAX_SUFFIX_ATTEMPTS};
use crate::event::{ClerkEvent, Object};
use crate::session::claims::PROVISIONAL_MS;
use crate::settings::DeleteMode;

/// What applying an event did; `word()` is what `clerk_apply` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A row was inserted.
    Created,
    /// A row was updated in place.
    Updated,
    /// The row was removed or soft-deleted, or a tombstone recorded for a user never seen.
    Deleted,
    /// Older than what the table reflects, or the user is deleted: nothing changed.
    Stale,
    /// An event type that is not applied.
    Ignored,
    /// Another Clerk instance's event (setting `instance_id`): kept, applied nowhere.
    Foreign,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Deleted => "deleted",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Foreign => "foreign",
        }
    }
}

/// How usernames are kept unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usernames {
    /// No username column is mapped.
    Unmapped,
    /// Through clerk_sync's own claims: the table has no unique index on the column.
    Claimed,
    /// Through the table's own unique index on the column: a taken name shows when writing.
    UniqueInTarget,
}

/// What the target table and the settings ask of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub usernames: Usernames,
    /// The email column is NOT NULL: a user without email gets a placeholder.
    pub email_required: bool,
    pub delete_mode: DeleteMode,
    /// Erasure: a deleted user's stored payloads lose their personal data.
    pub redact_on_delete: bool,
}

/// What claiming a username found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The user holds it from now on.
    New,
    /// The user held it already.
    Kept,
    /// Another user's claim holds it.
    Taken,
}

/// The user's high-water mark moved: the event is newer than anything applied for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub first_seen: bool,
    /// The claim of the first-choice username; None when none was asked for.
    pub first_claim: Option<Claim>,
}

/// The values of one user's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub clerk_id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub photo_url: Option<String>,
    pub phone_number: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What writing a user's row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Inserted,
    Updated,
    /// Nothing: another row (one the app wrote itself) has the username.
    UsernameInUse,
}

/// Which of the app's organization tables exist: events for a missing one are ignored (a B2C
/// app has neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Objects {
    pub organizations: bool,
    pub memberships: bool,
    pub subscription_items: bool,
}

/// The values of one organization's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRow<'a> {
    pub clerk_id: &'a str,
    pub name: Option<&'a str>,
    pub slug: Option<&'a str>,
    pub image_url: Option<&'a str>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// The values of one membership's row; its organization and user by Clerk id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRow<'a> {
    pub clerk_id: &'a str,
    pub organization_id: &'a str,
    pub user_id: &'a str,
    pub role: Option<&'a str>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What a membership belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent<'a> {
    User(&'a str),
    Organization(&'a str),
}

/// Which of a user's username claims to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release<'a> {
    /// This one.
    Only(&'a str),
    /// Every one but this.
    AllBut(&'a str),
    All,
}

/// The state the engine works on. Each method is one step that the extension runs as one
/// statement on one table.
pub trait Store {
    type Error;

    /// What the target and the settings ask; asked only for events that touch the target.
    fn policy(&mut self) -> Result<Policy, Self::Error>;

    /// Moves the user's high-water mark to `order_ms` and claims `first_choice` for the user;
    /// None when [`ordering::change`](crate::apply::ordering::change) says the event changes nothing. Holds the user
    /// (no other session applies an event for the user) until the transaction ends.
    fn mark(&mut self, clerk_id: &str, order_ms: i64, first_choice: Option<&str>)
        -> Result<Option<Moved>, Self::Error>;
    /// Records the removal as a tombstone (and holds the user); false when
    /// [`ordering::remove`](crate::apply::ordering::remove) says it removes nothing.
    fn tombstone(&mut self, clerk_id: &str, deleted_at_ms: i64, removal: Removal) -> Result<bool, Self::Error>;
    fn is_deleted(&mut self, clerk_id: &str) -> Result<bool, Self::Error>;
    fn claim(&mut self, username: &str, clerk_id: &str) -> Result<Claim, Self::Error>;
    fn release(&mut self, clerk_id: &str, which: Release<'_>) -> Result<(), Self::Error>;
    /// Inserts the row, or updates it in place when one has its Clerk id; writes nothing when
    /// another row has its username. `first_seen` tries the insert first.
    fn write_user(&mut self, row: &UserRow, first_seen: bool) -> Result<Written, Self::Error>;
    /// Deletes (or soft-deletes) the user's row, if there is one.
    fn delete_user(&mut self, clerk_id: &str, deleted_at_ms: i64) -> Result<(), Self::Error>;
    /// Erasure of the user's stored payloads.
    fn redact_payloads(&mut self, clerk_id: &str) -> Result<(), Self::Error>;

    /// Which organization tables the app has.
    fn objects(&mut self) -> Result<Objects, Self::Error>;
    /// Whether the object was ever seen (None: never) and is deleted; holds it against a deletion
    /// (a deletion waits, or is waited for) until the transaction ends.
    fn hold(&mut self, clerk_id: &str) -> Result<Option<bool>, Self::Error>;
    /// Whether the parent's table has a row for it (one the app wrote itself, say).
    fn has_row(&mut self, parent: Parent<'_>) -> Result<bool, Self::Error>;
    /// Inserts the organization's row, or updates it in place.
    fn write_organization(&mut self, row: &OrganizationRow<'_>) -> Result<Written, Self::Error>;
    fn delete_organization(&mut self, clerk_id: &str) -> Result<(), Self::Error>;
    /// Inserts the membership's row, or updates it in place; None when the row of its
    /// organization or its user, which it refers to, is missing.
    fn write_membership(&mut self, row: &MembershipRow<'_>) -> Result<Option<Written>, Self::Error>;
    fn delete_membership(&mut self, clerk_id: &str) -> Result<(), Self::Error>;
    /// Deletes the rows of every membership of the user or organization.
    fn delete_memberships_of(&mut self, parent: Parent<'_>) -> Result<(), Self::Error>;
    /// Inserts the subscription item's row, or updates it in place.
    fn write_subscription_item(&mut self, item: &SubscriptionItemRecord) -> Result<Written, Self::Error>;
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError<E> {
    #[error("every candidate username derived from \"{0}\" is taken")]
    UsernameExhausted(String),
    #[error("membership {0}: the row of {1} it refers to is missing")]
    MissingParent(String, String),
    /// A payload the engine reads only once it knows the event applies (Clerk Billing's).
    #[error(transparent)]
    Payload(crate::event::PayloadError),
    #[error(transparent)]
    Store(#[from] E),
}

/// What listeners of setting `notify_channel` are told of a change: the object, its Clerk id and
/// the outcome, as JSON; nothing for an event that changed nothing. No personal data.
pub fn change_notice(event: &ClerkEvent, outcome: Outcome) -> Option<String> {
    if !matches!(outcome, Outcome::Created | Outcome::Updated | Outcome::Deleted) {
        return None;
    }
    let (object, id) = match event {
        ClerkEvent::Upsert { user, .. } => ("user", &user.clerk_id),
        ClerkEvent::Delete { user_id, .. } => ("user", user_id),
        ClerkEvent::Unlisted { object, clerk_id, .. } => (object.word(), clerk_id),
        ClerkEvent::OrganizationUpsert { organization, .. } => ("organization", &organization.clerk_id),
        ClerkEvent::OrganizationDelete { organization_id, .. } => ("organization", organization_id),
        ClerkEvent::MembershipUpsert { membership, .. } => ("organization_membership", &membership.clerk_id),
        ClerkEvent::MembershipDelete { membership_id, .. } => ("organization_membership", membership_id),
        ClerkEvent::SubscriptionItems { items, .. } => match items.as_deref().ok()? {
            [item] => ("subscription_item", &item.clerk_id),
            items => ("subscription", items.first().and_then(|item| item.subscription_id.as_ref())?),
        },
        ClerkEvent::Other { .. } => return None,
    };
    Some(serde_json::json!({"object": object, "id": id, "outcome": outcome.word()}).to_string())
}

/// Applies an event that `parse_ours` read: None is another instance's.
pub fn apply_ours<S: Store>(store: &mut S, event: Option<&ClerkEvent>) -> Result<Outcome, EngineError<S::Error>> {
    event.map_or(Ok(Outcome::Foreign), |event| apply(store, event))
}

/// Applies one parsed event.
pub fn apply<S: Store>(store: &mut S, event: &ClerkEvent) -> Result<Outcome, EngineError<S::Error>> {
    match event {
        ClerkEvent::Other { .. } => Ok(Outcome::Ignored),
        ClerkEvent::Upsert { user, order_ms } => upsert(store, user, *order_ms),
        ClerkEvent::Delete { user_id, order_ms } => remove(store, user_id, *order_ms, Removal::Deleted),
        ClerkEvent::Unlisted { object, clerk_id, listed_at_ms } => {
            let at = *listed_at_ms;
            match object {
                Object::User => remove(store, clerk_id, at, Removal::Unlisted),
                Object::Organization => remove_organization(store, clerk_id, at, Removal::Unlisted),
                Object::Membership => remove_membership(store, clerk_id, at, Removal::Unlisted),
            }
        }
        ClerkEvent::OrganizationUpsert { organization, order_ms } => {
            upsert_organization(store, organization, *order_ms)
        }
        ClerkEvent::OrganizationDelete { organization_id, order_ms } => {
            remove_organization(store, organization_id, *order_ms, Removal::Deleted)
        }
        ClerkEvent::MembershipUpsert { membership, order_ms } => upsert_membership(store, membership, *order_ms),
        ClerkEvent::MembershipDelete { membership_id, order_ms } => {
            remove_membership(store, membership_id, *order_ms, Removal::Deleted)
        }
        ClerkEvent::SubscriptionItems { items, envelope_ms } => {
            if !store.objects()?.subscription_items {
                return Ok(Outcome::Ignored);
            }
            upsert_subscription_items(store, items.as_ref().map_err(|e| EngineError::Payload(e.clone()))?, *envelope_ms)
        }
    }
}

/// The items of a `subscription.*` or `subscriptionItem.*` event: each written when it is newer
/// than what was applied for it (its own `updated_at`, else the event's time). `created` when
/// any row was inserted, else `updated` when any was written, else `stale`; `ignored` without
/// the table.
pub fn upsert_subscription_items<S: Store>(
    store: &mut S,
    items: &[SubscriptionItemRecord],
    envelope_ms: Option<i64>,
) -> Result<Outcome, EngineError<S::Error>> {
    if !store.objects()?.subscription_items {
        return Ok(Outcome::Ignored);
    }
    let mut outcome = Outcome::Stale;
    for item in items {
        let Some(order_ms) = item.updated_at_ms.or(envelope_ms) else { continue };
        if store.mark(&item.clerk_id, order_ms, None)?.is_none() {
            continue;
        }
        // The times the row is written with: the order it was applied in, and that when Clerk
        // gave no creation time.
        let row = SubscriptionItemRecord {
            updated_at_ms: Some(order_ms),
            created_at_ms: item.created_at_ms.or(Some(order_ms)),
            ..item.clone()
        };
        outcome = match (store.write_subscription_item(&row)?, outcome) {
            (Written::Inserted, _) | (_, Outcome::Created) => Outcome::Created,
            _ => Outcome::Updated,
        };
    }
    Ok(outcome)
}

/// A user's current state, as `user.created`/`user.updated` or an import carry it.
pub fn upsert<S: Store>(store: &mut S, user: &UserRecord, order_ms: i64) -> Result<Outcome, EngineError<S::Error>> {
    let policy = store.policy()?;
    let base = (policy.usernames != Usernames::Unmapped).then(|| base_username(user));
    let first_choice = match (&base, policy.usernames) {
        (Some(base), Usernames::Claimed) => Some(candidate(base, &user.clerk_id, 0)),
        _ => None,
    };
    let Some(moved) = store.mark(&user.clerk_id, order_ms, first_choice.as_deref())? else {
        // A late event for a deleted user may still carry personal data: redact it too.
        if policy.redact_on_delete && store.is_deleted(&user.clerk_id)? {
            store.redact_payloads(&user.clerk_id)?;
        }
        return Ok(Outcome::Stale);
    };
    let placeholder = (user.email.is_none() && policy.email_required).then(|| placeholder_email(&user.clerk_id));
    let updated_at_ms = user.updated_at_ms.unwrap_or(order_ms);
    let row = UserRow {
        clerk_id: user.clerk_id.clone(),
        email: user.email.clone().or(placeholder),
        username: None,
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        photo_url: user.image_url.clone(),
        phone_number: user.phone.clone(),
        created_at_ms: user.created_at_ms.unwrap_or(updated_at_ms),
        updated_at_ms,
    };
    let written = match base {
        Some(base) => {
            write_under_unique_name(store, user, &base, moved.first_claim, moved.first_seen, |store, name| {
                store.write_user(&UserRow { username: Some(name.to_owned()), ..row.clone() }, moved.first_seen)
            })?
        }
        None => store.write_user(&row, moved.first_seen)?,
    };
    Ok(if written == Written::Inserted { Outcome::Created } else { Outcome::Updated })
}

/// Writes under the first name the user can have: the first choice, else the first suffixed
/// candidate that no other row holds. With claims (`first_claim` is the first choice's, made by
/// `mark`), a candidate another user's claim holds is skipped, and once the user moves to a name
/// its other claims go; without, the table's unique index is what says a name is taken.
fn write_under_unique_name<S: Store>(
    store: &mut S,
    user: &UserRecord,
    base: &str,
    first_claim: Option<Claim>,
    first_seen: bool,
    mut write: impl FnMut(&mut S, &str) -> Result<Written, S::Error>,
) -> Result<Written, EngineError<S::Error>> {
    let mut claimed = first_claim;
    for attempt in 0..=MAX_SUFFIX_ATTEMPTS {
        let name = candidate(base, &user.clerk_id, attempt);
        if attempt > 0 && claimed.is_some() {
            claimed = Some(store.claim(&name, &user.clerk_id)?);
        }
        if claimed == Some(Claim::Taken) {
            continue;
        }
        match write(store, &name)? {
            Written::UsernameInUse if claimed.is_some() => store.release(&user.clerk_id, Release::Only(&name))?,
            Written::UsernameInUse => {}
            written => {
                let unchanged = attempt == 0 && claimed == Some(Claim::Kept);
                if claimed.is_some() && !first_seen && !unchanged {
                    store.release(&user.clerk_id, Release::AllBut(&name))?;
                }
                return Ok(written);
            }
        }
    }
    Err(EngineError::UsernameExhausted(base.to_owned()))
}

/// A provisional row for a user who has none yet (their first request came before their
/// webhook), from what their session token says: written at the lowest high-water mark, so that
/// any of their events overwrites it in place; nothing for a user clerk_sync has seen or deleted.
pub fn provision<S: Store>(store: &mut S, user: &UserRecord) -> Result<Outcome, EngineError<S::Error>> {
    upsert(store, user, crate::session::claims::PROVISIONAL_MS)
}

/// `user.deleted`, or a user a complete listing did not have: a tombstone that no later or
/// retried event gets past, then the row goes.
pub fn remove<S: Store>(
    store: &mut S,
    clerk_id: &str,
    order_ms: i64,
    removal: Removal,
) -> Result<Outcome, EngineError<S::Error>> {
    let policy = store.policy()?;
    if !store.tombstone(clerk_id, order_ms, removal)? {
        return Ok(Outcome::Stale);
    }
    if store.objects()?.memberships {
        store.delete_memberships_of(Parent::User(clerk_id))?;
    }
    store.delete_user(clerk_id, order_ms)?;
    if policy.delete_mode == DeleteMode::Delete && policy.usernames == Usernames::Claimed {
        store.release(clerk_id, Release::All)?;
    }
    if policy.redact_on_delete {
        store.redact_payloads(clerk_id)?;
    }
    Ok(Outcome::Deleted)
}

/// An organization's current state, as `organization.created`/`.updated`, an import or (at the
/// lowest mark, provisionally) a membership carry it.
pub fn upsert_organization<S: Store>(
    store: &mut S,
    organization: &OrganizationRecord,
    order_ms: i64,
) -> Result<Outcome, EngineError<S::Error>> {
    if !store.objects()?.organizations {
        return Ok(Outcome::Ignored);
    }
    if store.mark(&organization.clerk_id, order_ms, None)?.is_none() {
        return Ok(Outcome::Stale);
    }
    let updated_at_ms = organization.updated_at_ms.unwrap_or(order_ms);
    let row = OrganizationRow {
        clerk_id: &organization.clerk_id,
        name: organization.name.as_deref(),
        slug: organization.slug.as_deref(),
        image_url: organization.image_url.as_deref(),
        created_at_ms: organization.created_at_ms.unwrap_or(updated_at_ms),
        updated_at_ms,
    };
    Ok(match store.write_organization(&row)? {
        Written::Inserted => Outcome::Created,
        _ => Outcome::Updated,
    })
}

/// `organization.deleted`, or an organization a complete listing did not have: a tombstone, then
/// its memberships and its row go.
pub fn remove_organization<S: Store>(
    store: &mut S,
    clerk_id: &str,
    order_ms: i64,
    removal: Removal,
) -> Result<Outcome, EngineError<S::Error>> {
    let objects = store.objects()?;
    if !objects.organizations && !objects.memberships {
        return Ok(Outcome::Ignored);
    }
    if !store.tombstone(clerk_id, order_ms, removal)? {
        return Ok(Outcome::Stale);
    }
    if objects.memberships {
        store.delete_memberships_of(Parent::Organization(clerk_id))?;
    }
    if objects.organizations {
        store.delete_organization(clerk_id)?;
    }
    Ok(Outcome::Deleted)
}

/// Whether the membership's organization or user is alive: held against its deletion until the
/// transaction ends, and, never seen, first written provisionally from what the membership says
/// of it (at the lowest mark, so that its own events overwrite the row in place) unless its table
/// has a row for it already.
fn parent_alive<S: Store>(
    store: &mut S,
    parent: Parent<'_>,
    membership: &MembershipRecord,
) -> Result<bool, EngineError<S::Error>> {
    let id = match parent {
        Parent::User(id) | Parent::Organization(id) => id,
    };
    if let Some(deleted) = store.hold(id)? {
        return Ok(!deleted);
    }
    if !store.has_row(parent)? {
        match parent {
            Parent::User(_) => provision(store, &membership.user)?,
            Parent::Organization(_) => upsert_organization(store, &membership.organization, PROVISIONAL_MS)?,
        };
    }
    Ok(store.hold(id)? != Some(true))
}

/// A membership's current state. One of a deleted organization or user is deleted with it: a
/// tombstone, and no row.
pub fn upsert_membership<S: Store>(
    store: &mut S,
    membership: &MembershipRecord,
    order_ms: i64,
) -> Result<Outcome, EngineError<S::Error>> {
    let objects = store.objects()?;
    if !objects.memberships {
        return Ok(Outcome::Ignored);
    }
    if store.mark(&membership.clerk_id, order_ms, None)?.is_none() {
        return Ok(Outcome::Stale);
    }
    let organization = Parent::Organization(&membership.organization.clerk_id);
    let organization_alive = !objects.organizations || parent_alive(store, organization, membership)?;
    let user_alive = organization_alive && parent_alive(store, Parent::User(&membership.user.clerk_id), membership)?;
    if !user_alive {
        if store.policy()?.redact_on_delete && store.is_deleted(&membership.user.clerk_id)? {
            store.redact_payloads(&membership.user.clerk_id)?;
        }
        store.tombstone(&membership.clerk_id, order_ms, Removal::Deleted)?;
        store.delete_membership(&membership.clerk_id)?;
        return Ok(Outcome::Stale);
    }
    let updated_at_ms = membership.updated_at_ms.unwrap_or(order_ms);
    let row = MembershipRow {
        clerk_id: &membership.clerk_id,
        organization_id: &membership.organization.clerk_id,
        user_id: &membership.user.clerk_id,
        role: membership.role.as_deref(),
        created_at_ms: membership.created_at_ms.unwrap_or(updated_at_ms),
        updated_at_ms,
    };
    match store.write_membership(&row)? {
        Some(Written::Inserted) => Ok(Outcome::Created),
        Some(_) => Ok(Outcome::Updated),
        None => Err(EngineError::MissingParent(
            membership.clerk_id.clone(),
            format!("{} or {}", membership.organization.clerk_id, membership.user.clerk_id),
        )),
    }
}

/// `organizationMembership.deleted`, or a membership a complete listing did not have: a
/// tombstone, then the row goes.
pub fn remove_membership<S: Store>(
    store: &mut S,
    clerk_id: &str,
    order_ms: i64,
    removal: Removal,
) -> Result<Outcome, EngineError<S::Error>> {
    if !store.objects()?.memberships {
        return Ok(Outcome::Ignored);
    }
    if !store.tombstone(clerk_id, order_ms, removal)? {
        return Ok(Outcome::Stale);
    }
    store.delete_membership(clerk_id)?;
    Ok(Outcome::Deleted)
}
