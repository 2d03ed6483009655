//! The extension's settings: their names, defaults and validation. Stored as text in a table so
//! that they are transactional and kept by pg_dump; read back into typed [`Settings`].

use crate::session::authorization::PendingSessions;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting \"{0}\"")]
    Unknown(String),
    #[error("invalid value for setting \"{name}\": {reason}")]
    Invalid { name: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// `DELETE` the row; the app's ON DELETE CASCADE foreign keys remove its dependants.
    Delete,
    /// Keep the row and set the configured `column.deleted_at`.
    Soft,
}

/// Which deliveries keep their payload in the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPayloads {
    /// Every delivery's: any delivery can be replayed, the app tables rebuilt from the inbox.
    All,
    /// Only while a delivery is unapplied or failed: once it applies, its row keeps the svix-id,
    /// type, object id, event time, outcome, attempts and errors, not the payload.
    Failed,
}

impl KeepPayloads {
    /// Whether a delivery that ended `failed` (true) or applied (false) keeps its payload.
    pub fn keeps(self, failed: bool) -> bool {
        failed || self == KeepPayloads::All
    }
}

/// Where users are written. Optional columns are `None` when not mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub schema: String,
    pub table: String,
    pub clerk_user_id: String,
    pub id: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub photo_url: Option<String>,
    pub phone_number: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub deleted_at: Option<String>,
    pub delete_mode: DeleteMode,
}

/// How a membership's row names its organization and its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    /// By the app's row ids (`"Organization".id`, `"User".id`): foreign keys, ON DELETE CASCADE.
    AppIds,
    /// By Clerk ids (`org_…`, `user_…`) in text columns.
    ClerkIds,
}

/// Where organizations are written. Optional columns are `None` when not mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationTarget {
    pub schema: String,
    pub table: String,
    pub clerk_org_id: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub image_url: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// Where memberships are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipTarget {
    pub schema: String,
    pub table: String,
    pub clerk_membership_id: String,
    pub id: Option<String>,
    pub organization: String,
    pub user: String,
    pub references: References,
    pub role: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// Where Clerk Billing's subscription items are written. Optional columns are `None` when not
/// mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionItemTarget {
    pub schema: String,
    pub table: String,
    pub clerk_item_id: String,
    pub id: Option<String>,
    pub clerk_subscription_id: Option<String>,
    pub payer_user_id: Option<String>,
    pub payer_organization_id: Option<String>,
    pub plan_id: Option<String>,
    pub plan_slug: Option<String>,
    pub status: Option<String>,
    pub is_free_trial: Option<String>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub canceled_at: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// The typed, effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub timestamp_tolerance_s: u64,
    pub max_body_bytes: u64,
    pub redact_on_delete: bool,
    pub keep_payloads: KeepPayloads,
    /// The Clerk instance this database serves; None: any.
    pub instance_id: Option<String>,
    /// The channel that applied changes are notified on; None: no notifications.
    pub notify_channel: Option<String>,
    /// What a session token whose `sts` is `pending` counts as.
    pub pending_sessions: PendingSessions,
    pub target: Target,
    pub organizations: OrganizationTarget,
    pub memberships: MembershipTarget,
    pub subscription_items: SubscriptionItemTarget,
    /// Every setting's effective value as text, in `SPECS` order.
    values: Vec<String>,
}

type Apply = fn(&mut Settings, &str) -> Result<(), String>;

/// One known setting, as listed by `clerk_sync.settings()`.
pub struct SettingSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub description: &'static str,
    apply: Apply,
}

fn integer(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = value.trim().parse().map_err(|_| format!("\"{value}\" is not a whole number"))?;
    if n < min || n > max {
        return Err(format!("{n} is outside {min}..={max}"));
    }
    Ok(n)
}

/// Postgres truncates identifiers longer than NAMEDATALEN - 1 bytes; refuse them instead.
const MAX_IDENTIFIER_BYTES: usize = 63;

fn identifier(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("an identifier cannot be empty".into());
    }
    if value.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!("identifiers are at most {MAX_IDENTIFIER_BYTES} bytes"));
    }
    if value.contains('\0') {
        return Err("identifiers cannot contain NUL".into());
    }
    Ok(value.to_owned())
}

/// An optional column: the empty string means "not mapped".
fn optional_column(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        identifier(value).map(Some)
    }
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("\"{value}\" is not on/off")),
    }
}

macro_rules! column_spec {
    ($name:literal, $default:literal, $field:ident, $what:literal) => {
        column_spec!($name, $default, target.$field, $what)
    };
    ($name:literal, $default:literal, $target:ident . $field:ident, $what:literal) => {
        SettingSpec {
            name: $name,
            default: $default,
            description: concat!("Column for ", $what, "; empty: not written"),
            apply: |s, v| {
                s.$target.$field = optional_column(v)?;
                Ok(())
            },
        }
    };
}

/// A required identifier: a schema, a table, or a column rows are matched on.
macro_rules! identifier_spec {
    ($name:literal, $default:literal, $target:ident . $field:ident, $what:literal) => {
        SettingSpec {
            name: $name,
            default: $default,
            description: $what,
            apply: |s, v| {
                s.$target.$field = identifier(v)?;
                Ok(())
            },
        }
    };
}

pub const SPECS: &[SettingSpec] = &[
    SettingSpec {
        name: "timestamp_tolerance",
        default: "300",
        description: "How far, in seconds, svix-timestamp may lie from now, in either direction",
        apply: |s, v| {
            s.timestamp_tolerance_s = integer(v, 0, 7 * 24 * 3600)?;
            Ok(())
        },
    },
    SettingSpec {
        name: "max_body_bytes",
        default: "1048576",
        description: "Largest webhook body accepted, in bytes; larger ones are answered 413",
        apply: |s, v| {
            s.max_body_bytes = integer(v, 1, 1 << 30)?;
            Ok(())
        },
    },
    SettingSpec {
        name: "redact_on_delete",
        default: "on",
        description: "On user.deleted, replace the personal data in that user's stored payloads",
        apply: |s, v| {
            s.redact_on_delete = boolean(v)?;
            Ok(())
        },
    },
    SettingSpec {
        name: "keep_payloads",
        default: "failed",
        description: "Which deliveries keep their payload in the inbox: failed (only until they apply; applied ones cannot be replayed) or all (any can be replayed)",
        apply: |s, v| {
            s.keep_payloads = match v.trim() {
                "all" => KeepPayloads::All,
                "failed" => KeepPayloads::Failed,
                _ => return Err(format!("\"{v}\" is neither all nor failed")),
            };
            Ok(())
        },
    },
    SettingSpec {
        name: "instance_id",
        default: "",
        description: "The Clerk instance (ins_...) this database serves: other instances' events are kept as foreign and applied nowhere; empty: any",
        apply: |s, v| {
            let v = v.trim();
            if v.chars().any(char::is_whitespace) {
                return Err(format!("\"{v}\" is not an instance id"));
            }
            s.instance_id = (!v.is_empty()).then(|| v.to_owned());
            Ok(())
        },
    },
    SettingSpec {
        name: "notify_channel",
        default: "",
        description: "NOTIFY channel told of each applied change at commit (object, Clerk id, outcome; no personal data); empty: none",
        apply: |s, v| {
            s.notify_channel = optional_column(v)?;
            Ok(())
        },
    },
    SettingSpec {
        name: "pending_sessions",
        default: "signed_out",
        description: "A session token whose sts is pending (a session task not done): signed_out, as Clerk's backend treats it, or signed_in",
        apply: |s, v| {
            s.pending_sessions =
                PendingSessions::parse(v).ok_or_else(|| format!("\"{v}\" is neither signed_out nor signed_in"))?;
            Ok(())
        },
    },
    SettingSpec {
        name: "target_schema",
        default: "public",
        description: "Schema of the users table",
        apply: |s, v| {
            s.target.schema = identifier(v)?;
            Ok(())
        },
    },
    SettingSpec {
        name: "target_table",
        default: "User",
        description: "Name of the users table",
        apply: |s, v| {
            s.target.table = identifier(v)?;
            Ok(())
        },
    },
    SettingSpec {
        name: "column.clerk_user_id",
        default: "clerkUserId",
        description: "Column holding the Clerk user id (required; rows are matched on it)",
        apply: |s, v| {
            s.target.clerk_user_id = identifier(v)?;
            Ok(())
        },
    },
    column_spec!("column.id", "id", id, "the row id, filled with a random UUID when it has no default"),
    column_spec!("column.email", "email", email, "the primary email address"),
    column_spec!("column.username", "username", username, "the username (kept unique)"),
    column_spec!("column.first_name", "firstName", first_name, "the first name"),
    column_spec!("column.last_name", "lastName", last_name, "the last name"),
    column_spec!("column.photo_url", "photoUrl", photo_url, "image_url (else profile_image_url)"),
    column_spec!("column.phone_number", "phoneNumber", phone_number, "the primary phone number"),
    column_spec!("column.created_at", "createdAt", created_at, "Clerk's created_at"),
    column_spec!("column.updated_at", "updatedAt", updated_at, "Clerk's updated_at"),
    column_spec!(
        "column.deleted_at",
        "",
        deleted_at,
        "the soft-delete mark (timestamp or boolean), used when delete_mode = soft"
    ),
    SettingSpec {
        name: "delete_mode",
        default: "delete",
        description: "On user.deleted: delete (remove the row) or soft (set column.deleted_at)",
        apply: |s, v| {
            s.target.delete_mode = match v.trim() {
                "delete" => DeleteMode::Delete,
                "soft" => DeleteMode::Soft,
                _ => return Err(format!("\"{v}\" is neither delete nor soft")),
            };
            Ok(())
        },
    },
    identifier_spec!(
        "organization.schema",
        "public",
        organizations.schema,
        "Schema of the organizations table"
    ),
    identifier_spec!(
        "organization.table",
        "Organization",
        organizations.table,
        "Name of the organizations table; organization events are ignored while it does not exist"
    ),
    identifier_spec!(
        "organization.column.clerk_org_id",
        "clerkOrgId",
        organizations.clerk_org_id,
        "Column holding the Clerk organization id (required; rows are matched on it)"
    ),
    column_spec!("organization.column.id", "id", organizations.id, "the organization's row id"),
    column_spec!("organization.column.name", "name", organizations.name, "the organization's name"),
    column_spec!("organization.column.slug", "slug", organizations.slug, "the organization's slug"),
    column_spec!("organization.column.image_url", "imageUrl", organizations.image_url, "the organization's image_url"),
    column_spec!("organization.column.created_at", "createdAt", organizations.created_at, "the organization's created_at"),
    column_spec!("organization.column.updated_at", "updatedAt", organizations.updated_at, "the organization's updated_at"),
    identifier_spec!("membership.schema", "public", memberships.schema, "Schema of the memberships table"),
    identifier_spec!(
        "membership.table",
        "Membership",
        memberships.table,
        "Name of the memberships table; membership events are ignored while it does not exist"
    ),
    identifier_spec!(
        "membership.column.clerk_membership_id",
        "clerkMembershipId",
        memberships.clerk_membership_id,
        "Column holding the Clerk membership id (required; rows are matched on it)"
    ),
    column_spec!("membership.column.id", "id", memberships.id, "the membership's row id"),
    identifier_spec!(
        "membership.column.organization",
        "organizationId",
        memberships.organization,
        "Column referring to the membership's organization (see membership.references)"
    ),
    identifier_spec!(
        "membership.column.user",
        "userId",
        memberships.user,
        "Column referring to the membership's user (see membership.references)"
    ),
    SettingSpec {
        name: "membership.references",
        default: "ids",
        description: "What membership.column.organization and .user hold: ids (the rows' ids, foreign keys) or clerk_ids (org_... and user_...)",
        apply: |s, v| {
            s.memberships.references = match v.trim() {
                "ids" => References::AppIds,
                "clerk_ids" => References::ClerkIds,
                _ => return Err(format!("\"{v}\" is neither ids nor clerk_ids")),
            };
            Ok(())
        },
    },
    column_spec!("membership.column.role", "role", memberships.role, "the role key (org:admin, org:member, custom)"),
    column_spec!("membership.column.created_at", "createdAt", memberships.created_at, "the membership's created_at"),
    column_spec!("membership.column.updated_at", "updatedAt", memberships.updated_at, "the membership's updated_at"),
    identifier_spec!(
        "subscription_item.schema",
        "public",
        subscription_items.schema,
        "Schema of the subscription items table (Clerk Billing)"
    ),
    identifier_spec!(
        "subscription_item.table",
        "SubscriptionItem",
        subscription_items.table,
        "Name of the subscription items table; subscription and subscription item events are ignored while it does not exist"
    ),
    identifier_spec!(
        "subscription_item.column.clerk_item_id",
        "clerkItemId",
        subscription_items.clerk_item_id,
        "Column holding the Clerk subscription item id, csub_item_... (required; rows are matched on it)"
    ),
    column_spec!("subscription_item.column.id", "id", subscription_items.id, "the item's row id"),
    column_spec!(
        "subscription_item.column.clerk_subscription_id",
        "clerkSubscriptionId",
        subscription_items.clerk_subscription_id,
        "the item's subscription (csub_...)"
    ),
    column_spec!(
        "subscription_item.column.payer_user_id",
        "payerUserId",
        subscription_items.payer_user_id,
        "the paying user's Clerk id (NULL when an organization pays)"
    ),
    column_spec!(
        "subscription_item.column.payer_organization_id",
        "payerOrganizationId",
        subscription_items.payer_organization_id,
        "the paying organization's Clerk id (NULL when a user pays)"
    ),
    column_spec!("subscription_item.column.plan_id", "planId", subscription_items.plan_id, "the plan's Clerk id (cplan_...)"),
    column_spec!("subscription_item.column.plan_slug", "planSlug", subscription_items.plan_slug, "the plan's slug"),
    column_spec!("subscription_item.column.status", "status", subscription_items.status, "the item's status"),
    column_spec!(
        "subscription_item.column.is_free_trial",
        "isFreeTrial",
        subscription_items.is_free_trial,
        "whether the item is a free trial"
    ),
    column_spec!(
        "subscription_item.column.period_start",
        "periodStart",
        subscription_items.period_start,
        "the start of the item's current period"
    ),
    column_spec!(
        "subscription_item.column.period_end",
        "periodEnd",
        subscription_items.period_end,
        "the end of the item's current period (NULL for the default plan)"
    ),
    column_spec!("subscription_item.column.canceled_at", "canceledAt", subscription_items.canceled_at, "when the item was canceled"),
    column_spec!("subscription_item.column.created_at", "createdAt", subscription_items.created_at, "the item's created_at"),
    column_spec!("subscription_item.column.updated_at", "updatedAt", subscription_items.updated_at, "the item's updated_at"),
];

impl Default for Settings {
    fn default() -> Self {
        let mut settings = Settings {
            timestamp_tolerance_s: 0,
            max_body_bytes: 0,
            redact_on_delete: false,
            keep_payloads: KeepPayloads::All,
            instance_id: None,
            notify_channel: None,
            pending_sessions: PendingSessions::SignedOut,
            target: Target {
                schema: String::new(),
                table: String::new(),
                clerk_user_id: String::new(),
                id: None,
                email: None,
                username: None,
                first_name: None,
                last_name: None,
                photo_url: None,
                phone_number: None,
                created_at: None,
                updated_at: None,
                deleted_at: None,
                delete_mode: DeleteMode::Delete,
            },
            organizations: OrganizationTarget {
                schema: String::new(),
                table: String::new(),
                clerk_org_id: String::new(),
                id: None,
                name: None,
                slug: None,
                image_url: None,
                created_at: None,
                updated_at: None,
            },
            memberships: MembershipTarget {
                schema: String::new(),
                table: String::new(),
                clerk_membership_id: String::new(),
                id: None,
                organization: String::new(),
                user: String::new(),
                references: References::AppIds,
                role: None,
                created_at: None,
                updated_at: None,
            },
            subscription_items: SubscriptionItemTarget {
                schema: String::new(),
                table: String::new(),
                clerk_item_id: String::new(),
                id: None,
                clerk_subscription_id: None,
                payer_user_id: None,
                payer_organization_id: None,
                plan_id: None,
                plan_slug: None,
                status: None,
                is_free_trial: None,
                period_start: None,
                period_end: None,
                canceled_at: None,
                created_at: None,
                updated_at: None,
            },
            values: vec![String::new(); SPECS.len()],
        };
        for spec in SPECS {
            settings.set(spec.name, spec.default).expect("built-in defaults are valid");
        }
        settings
    }
}

/// The first release whose installs keep only failed deliveries' payloads by default.
const KEEP_FAILED_PAYLOADS_SINCE: (u32, u32, u32) = (0, 6, 0);

impl Settings {
    /// The defaults of an install whose SQL is release `version` (`pg_extension.extversion`): one
    /// made before 0.6.0 keeps every payload, as it did, until its setting says otherwise (the
    /// update script to 0.6.0 writes `keep_payloads = all` down).
    pub fn defaults_of_release(version: &str) -> Settings {
        let mut settings = Settings::default();
        let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
        if let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) = (parts.next(), parts.next(), parts.next()) {
            if (major, minor, patch) < KEEP_FAILED_PAYLOADS_SINCE {
                settings.set("keep_payloads", "all").expect("a valid value");
            }
        }
        settings
    }
}

pub fn spec(name: &str) -> Result<&'static SettingSpec, SettingError> {
    SPECS.iter().find(|s| s.name == name).ok_or_else(|| SettingError::Unknown(name.to_owned()))
}

/// Checks a value without applying it.
pub fn validate(name: &str, value: &str) -> Result<(), SettingError> {
    Settings::default().set(name, value)
}

impl Settings {
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let index = SPECS.iter().position(|s| s.name == name).ok_or_else(|| SettingError::Unknown(name.to_owned()))?;
        (SPECS[index].apply)(self, value).map_err(|reason| SettingError::Invalid { name: name.to_owned(), reason })?;
        self.values[index] = value.trim().to_owned();
        Ok(())
    }

    /// The effective value of a setting, as text.
    pub fn value(&self, name: &str) -> Result<&str, SettingError> {
        let index = SPECS.iter().position(|s| s.name == name).ok_or_else(|| SettingError::Unknown(name.to_owned()))?;
        Ok(&self.values[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = Settings::default();
        assert_eq!(s.timestamp_tolerance_s, 300);
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert!(s.redact_on_delete);
        assert_eq!(s.keep_payloads, KeepPayloads::Failed);
        assert_eq!(
            (s.subscription_items.table.as_str(), s.subscription_items.clerk_item_id.as_str()),
            ("SubscriptionItem", "clerkItemId")
        );
        assert_eq!(s.subscription_items.payer_organization_id.as_deref(), Some("payerOrganizationId"));
        assert_eq!(s.target.schema, "public");
        assert_eq!(s.target.table, "User");
        assert_eq!(s.target.clerk_user_id, "clerkUserId");
        assert_eq!(s.target.id.as_deref(), Some("id"));
        assert_eq!(s.target.photo_url.as_deref(), Some("photoUrl"));
        assert_eq!(s.target.deleted_at, None);
        assert_eq!(s.target.delete_mode, DeleteMode::Delete);
        assert_eq!(
            (s.organizations.table.as_str(), s.organizations.clerk_org_id.as_str()),
            ("Organization", "clerkOrgId")
        );
        assert_eq!(s.organizations.slug.as_deref(), Some("slug"));
        assert_eq!(
            (s.memberships.table.as_str(), s.memberships.organization.as_str()),
            ("Membership", "organizationId")
        );
        assert_eq!((s.memberships.user.as_str(), s.memberships.references), ("userId", References::AppIds));
    }

    #[test]
    fn every_spec_has_a_valid_default_and_a_unique_name() {
        let mut names: Vec<_> = SPECS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SPECS.len());
        for spec in SPECS {
            assert!(validate(spec.name, spec.default).is_ok(), "{}", spec.name);
        }
    }

    #[test]
    fn values_are_validated() {
        assert!(validate("timestamp_tolerance", "600").is_ok());
        assert!(validate("timestamp_tolerance", " 0 ").is_ok());
        for bad in ["-1", "5m", "99999999", ""] {
            assert!(matches!(validate("timestamp_tolerance", bad), Err(SettingError::Invalid { .. })), "{bad}");
        }
        assert!(matches!(validate("max_body_bytes", "0"), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("delete_mode", "hard"), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("membership.references", "fk"), Err(SettingError::Invalid { .. })));
        assert!(validate("membership.references", "clerk_ids").is_ok());
        assert!(matches!(validate("membership.column.user", ""), Err(SettingError::Invalid { .. })));
        assert!(validate("organization.column.slug", "").is_ok());
        assert!(matches!(validate("redact_on_delete", "maybe"), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("keep_payloads", "none"), Err(SettingError::Invalid { .. })));
        assert!(validate("keep_payloads", " all ").is_ok());
        assert!(matches!(validate("target_table", ""), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("column.clerk_user_id", ""), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("column.email", &"x".repeat(64)), Err(SettingError::Invalid { .. })));
        assert!(validate("column.email", "").is_ok());
        assert!(validate("column.email", "e\"; DROP TABLE x; --").is_ok(), "any name is fine: it is quoted");
        assert_eq!(validate("no_such", "1"), Err(SettingError::Unknown("no_such".into())));
    }

    #[test]
    fn applied_deliveries_keep_their_payload_only_when_all_are_kept() {
        assert!(KeepPayloads::All.keeps(false) && KeepPayloads::All.keeps(true));
        assert!(!KeepPayloads::Failed.keeps(false), "an applied delivery's payload goes");
        assert!(KeepPayloads::Failed.keeps(true), "a failed delivery's payload stays until it applies");
    }

    #[test]
    fn installs_made_before_0_6_0_keep_every_payload() {
        for (version, keep) in [
            ("0.5.0", KeepPayloads::All),
            ("0.1.0", KeepPayloads::All),
            ("0.6.0", KeepPayloads::Failed),
            ("0.10.0", KeepPayloads::Failed),
            ("1.0.0", KeepPayloads::Failed),
            ("unknown", KeepPayloads::Failed),
        ] {
            let settings = Settings::defaults_of_release(version);
            assert_eq!(settings.keep_payloads, keep, "{version}");
            assert_eq!(settings.value("keep_payloads"), Ok(if keep == KeepPayloads::All { "all" } else { "failed" }));
        }
    }

    #[test]
    fn values_read_back_as_text() {
        let mut s = Settings::default();
        assert_eq!(s.value("max_body_bytes"), Ok("1048576"));
        s.set("max_body_bytes", " 2048 ").unwrap();
        assert_eq!(s.value("max_body_bytes"), Ok("2048"));
        assert_eq!(s.value("column.deleted_at"), Ok(""));
        assert!(s.value("nope").is_err());
    }

    #[test]
    fn set_changes_only_the_named_setting() {
        let mut s = Settings::default();
        s.set("timestamp_tolerance", "42").unwrap();
        s.set("column.email", "").unwrap();
        s.set("delete_mode", "soft").unwrap();
        let defaults = Settings::default();
        let expected = Settings {
            timestamp_tolerance_s: 42,
            target: Target { email: None, delete_mode: DeleteMode::Soft, ..defaults.target.clone() },
            ..defaults
        };
        assert_eq!((s.timestamp_tolerance_s, &s.target), (expected.timestamp_tolerance_s, &expected.target));
        assert_eq!(s.max_body_bytes, expected.max_body_bytes);
        assert_eq!(s.redact_on_delete, expected.redact_on_delete);
    }
}
