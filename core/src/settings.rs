//! The extension's settings: their names, defaults and validation. Stored as text in a table so
//! that they are transactional and kept by pg_dump; read back into typed [`Settings`].

use crate::signature::DEFAULT_TOLERANCE_S;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting \"{0}\"")]
    Unknown(String),
    #[error("invalid value for setting \"{name}\": {reason}")]
    Invalid { name: String, reason: String },
}

/// One known setting, as listed by `clerk_sync.settings()`.
#[derive(Debug)]
pub struct SettingSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub description: &'static str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer in the inclusive range.
    Integer { min: u64, max: u64 },
}

pub const SPECS: &[SettingSpec] = &[
    SettingSpec {
        name: "timestamp_tolerance",
        default: "300",
        description: "How far, in seconds, svix-timestamp may lie from now, in either direction",
        kind: Kind::Integer { min: 0, max: 7 * 24 * 3600 },
    },
    SettingSpec {
        name: "max_body_bytes",
        default: "1048576",
        description: "Largest webhook body accepted, in bytes; larger ones are answered 413",
        kind: Kind::Integer { min: 1, max: 1 << 30 },
    },
];

/// The typed, effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub timestamp_tolerance_s: u64,
    pub max_body_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let mut settings = Settings { timestamp_tolerance_s: DEFAULT_TOLERANCE_S, max_body_bytes: 0 };
        for spec in SPECS {
            settings.set(spec.name, spec.default).expect("built-in defaults are valid");
        }
        settings
    }
}

pub fn spec(name: &str) -> Result<&'static SettingSpec, SettingError> {
    SPECS.iter().find(|s| s.name == name).ok_or_else(|| SettingError::Unknown(name.to_owned()))
}

fn parse_integer(name: &str, value: &str, min: u64, max: u64) -> Result<u64, SettingError> {
    let invalid = |reason: String| SettingError::Invalid { name: name.to_owned(), reason };
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(format!("\"{value}\" is not a whole number")))?;
    if n < min || n > max {
        return Err(invalid(format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

/// Checks a value without applying it.
pub fn validate(name: &str, value: &str) -> Result<(), SettingError> {
    Settings::default().set(name, value)
}

impl Settings {
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let spec = spec(name)?;
        match spec.kind {
            Kind::Integer { min, max } => {
                let n = parse_integer(name, value, min, max)?;
                match spec.name {
                    "timestamp_tolerance" => self.timestamp_tolerance_s = n,
                    "max_body_bytes" => self.max_body_bytes = n,
                    _ => unreachable!("every integer setting is assigned above"),
                }
            }
        }
        Ok(())
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
    }

    #[test]
    fn values_are_validated() {
        assert!(validate("timestamp_tolerance", "600").is_ok());
        assert!(validate("timestamp_tolerance", " 0 ").is_ok());
        assert!(matches!(validate("timestamp_tolerance", "-1"), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("timestamp_tolerance", "5m"), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("timestamp_tolerance", "99999999"), Err(SettingError::Invalid { .. })));
        assert!(matches!(validate("max_body_bytes", "0"), Err(SettingError::Invalid { .. })));
        assert_eq!(validate("no_such", "1"), Err(SettingError::Unknown("no_such".into())));
    }

    #[test]
    fn set_changes_only_the_named_setting() {
        let mut s = Settings::default();
        s.set("timestamp_tolerance", "42").unwrap();
        assert_eq!(s, Settings { timestamp_tolerance_s: 42, ..Settings::default() });
    }
}
