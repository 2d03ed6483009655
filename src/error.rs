//! Every error the extension raises, with its SQLSTATE. Messages never contain a secret.

use clerk_sync_core::app_tables::users_sql::TargetError;
use clerk_sync_core::{PayloadError, SecretError, SettingError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ClerkSyncError {
    #[error("clerk_sync has no signing secret configured")]
    NotConfigured,
    #[error("invalid signing secret: {0}")]
    InvalidSecret(#[from] SecretError),
    #[error("a different secret is already configured with label \"{0}\"")]
    LabelTaken(String),
    #[error("no configured secret has label or fingerprint \"{0}\"")]
    UnknownSecret(String),
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("argument \"{0}\" must not be NULL")]
    NullArgument(&'static str),
    #[error("tolerance_s must not be negative")]
    NegativeTolerance,
    #[error("argument \"{0}\" must be a finite time")]
    InfiniteTime(&'static str),
    #[error("\"{0}\" is not the id of a Clerk {1}")]
    NotOfKind(String, &'static str),
    #[error("permission denied for clerk_sync's {0}")]
    PermissionDenied(&'static str),
    #[error("clerk_sync is not installed in this database (table {0} is missing)")]
    NotInstalled(&'static str),
    #[error("invalid Clerk event: {0}")]
    Payload(#[from] PayloadError),
    #[error("clerk_sync's target table is misconfigured: {0}")]
    Target(#[from] TargetError),
    #[error("every candidate username derived from \"{0}\" is taken")]
    UsernameExhausted(String),
    #[error("membership {0}: the row of {1} it refers to is missing")]
    MissingParent(String, String),
    #[error("no stored delivery with svix-id \"{0}\"")]
    NoSuchDelivery(String),
    #[error("delivery \"{0}\" applied, and its payload was not kept (keep_payloads = failed)")]
    PayloadNotKept(String),
    /// Element `index` (from 0) of a function's array argument.
    #[error("{function} element {index}: {source}")]
    Element { function: &'static str, index: usize, source: Box<ClerkSyncError> },
    #[error("the operating system gave no random bytes for a new row id: {0}")]
    Random(String),
    #[error("clerk_sync refuses to run: {0}")]
    UntrustedSchema(String),
    #[error("this session has temporary objects; clerk_sync writes nothing as a table's owner while a name could resolve to them")]
    TemporaryObjects,
    #[error("{0} was replaced by {1} in clerk_sync 0.4.2")]
    Replaced(&'static str, &'static str),
    #[error("internal SPI error: {0}")]
    Spi(#[from] pgrx::spi::Error),
}

impl ClerkSyncError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            Self::NotConfigured => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Self::InvalidSecret(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            Self::LabelTaken(_) => ERRCODE_DUPLICATE_OBJECT,
            Self::UnknownSecret(_) => ERRCODE_UNDEFINED_OBJECT,
            Self::Setting(SettingError::Unknown(_)) => ERRCODE_UNDEFINED_OBJECT,
            Self::Setting(SettingError::Invalid { .. }) => ERRCODE_INVALID_PARAMETER_VALUE,
            Self::NullArgument(_) => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Self::NegativeTolerance => ERRCODE_INVALID_PARAMETER_VALUE,
            Self::InfiniteTime(_) => ERRCODE_DATETIME_FIELD_OVERFLOW,
            Self::NotOfKind(..) => ERRCODE_INVALID_PARAMETER_VALUE,
            Self::PermissionDenied(_) | Self::UntrustedSchema(_) | Self::TemporaryObjects => {
                ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            Self::NotInstalled(_) => ERRCODE_UNDEFINED_TABLE,
            Self::Payload(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            Self::Target(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Self::UsernameExhausted(_) => ERRCODE_UNIQUE_VIOLATION,
            Self::MissingParent(..) => ERRCODE_FOREIGN_KEY_VIOLATION,
            Self::NoSuchDelivery(_) => ERRCODE_UNDEFINED_OBJECT,
            Self::PayloadNotKept(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Self::Element { source, .. } => source.sqlstate(),
            Self::Replaced(..) => ERRCODE_FEATURE_NOT_SUPPORTED,
            Self::Random(_) | Self::Spi(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::NotConfigured => {
                Some("Add the endpoint's signing secret from the Clerk dashboard: SELECT clerk_sync.add_secret('whsec_...');")
            }
            Self::InvalidSecret(_) => Some("Copy the signing secret from the Clerk dashboard: Webhooks, your endpoint, Signing Secret."),
            Self::UnknownSecret(_) => Some("SELECT * FROM clerk_sync.secrets(); lists labels and fingerprints."),
            Self::Setting(_) | Self::Target(_) => Some("SELECT * FROM clerk_sync.settings(); lists every setting."),
            Self::NoSuchDelivery(_) => Some("SELECT msg_id FROM clerk_sync.inbox lists them."),
            Self::PayloadNotKept(_) => Some(
                "Only deliveries with a payload can be replayed: replay_failed() replays the failed ones; SELECT msg_id FROM clerk_sync.inbox WHERE payload IS NOT NULL lists the others. To bring the app's tables back in line with Clerk, run clerk-sync-proxy sync (see docs/sync.md); to keep every payload from now on, SELECT clerk_sync.set_setting('keep_payloads', 'all').",
            ),
            Self::Replaced(..) => Some("ALTER EXTENSION clerk_sync UPDATE; and use the sync command of the same release."),
            Self::TemporaryObjects => Some(
                "Call clerk_sync from a session without temporary tables, types or functions (DISCARD TEMP drops them); REVOKE TEMPORARY ON DATABASE from the roles that call it.",
            ),
            Self::UntrustedSchema(_) => Some(
                "The owner of schema clerk_sync controls what the extension's code runs as superuser. Check what is in it, then as a superuser: ALTER SCHEMA clerk_sync OWNER TO <the extension's owner>; REVOKE CREATE ON SCHEMA clerk_sync FROM <every other role>.",
            ),
            _ => None,
        }
    }

    /// Raises this error as a Postgres ERROR; does not return.
    pub fn report(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.to_string(), "clerk_sync");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Unwraps a result or raises its error.
pub trait OrReport<T> {
    fn or_report(self) -> T;
}

impl<T, E: Into<ClerkSyncError>> OrReport<T> for Result<T, E> {
    fn or_report(self) -> T {
        self.unwrap_or_else(|e| e.into().report())
    }
}
