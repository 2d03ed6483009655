//! What is wrong with a clerk_sync set-up, from facts the extension reads (`src/entry/status.rs`): one
//! finding per problem, each with its severity and the statement or setting that fixes it. A
//! healthy set-up gives none.

use crate::app_tables::ident::quote_ident;
use crate::app_tables::users_sql::{self, ColumnInfo, TargetError};
use crate::settings::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Deliveries fail or are refused until it is fixed.
    Error,
    /// Something will go wrong, or has.
    Warning,
    /// Works, could be better.
    Notice,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub problem: String,
    pub fix: String,
}

/// The users table as the catalog describes it; None when it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFacts {
    /// Every column, with its type, nullability, default and single-column unique index.
    pub columns: Vec<(String, ColumnInfo)>,
    pub owner: String,
    /// The privileges among SELECT, INSERT, UPDATE, DELETE that the owner lacks on the table.
    pub owner_lacks: Vec<&'static str>,
    /// A deferrable trigger whose function is not SECURITY DEFINER, if any.
    pub deferrable_trigger: Option<String>,
}

/// An organizations or memberships table the app has, and what is wrong with its mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTable {
    /// `organization` or `membership`: the prefix of its settings too.
    pub object: &'static str,
    pub table: String,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub secrets: usize,
    pub table: Option<TableFacts>,
    /// The organizations and memberships tables the app has (none for a B2C app).
    pub object_tables: Vec<ObjectTable>,
    pub failed: i64,
    pub oldest_failed_age_s: Option<i64>,
    /// How far this server's clock seems to run behind Clerk's (seconds; negative: ahead), from
    /// recent deliveries: None when there are too few to tell.
    pub clock_behind_s: Option<f64>,
}

fn finding(severity: Severity, problem: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { severity, problem: problem.into(), fix: fix.into() }
}

/// Schema `clerk_sync` is not the extension's own, or another role owns it or may create in it:
/// nothing else is read (its owner decides what the names in it mean).
pub fn untrusted_schema(problem: &str) -> Finding {
    finding(
        Severity::Error,
        format!("{problem}: every entry point refuses to run until it is fixed"),
        "check what is in the schema, then as a superuser: ALTER SCHEMA clerk_sync OWNER TO <the extension's owner>; \
         REVOKE CREATE ON SCHEMA clerk_sync FROM <every other role>",
    )
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The columns clerk_sync writes, by setting.
fn mapped(target: &Target) -> Vec<(&'static str, &str)> {
    let optional = [
        ("column.id", &target.id),
        ("column.email", &target.email),
        ("column.username", &target.username),
        ("column.first_name", &target.first_name),
        ("column.last_name", &target.last_name),
        ("column.photo_url", &target.photo_url),
        ("column.phone_number", &target.phone_number),
        ("column.created_at", &target.created_at),
        ("column.updated_at", &target.updated_at),
        ("column.deleted_at", &target.deleted_at),
    ];
    let mut columns = vec![("column.clerk_user_id", target.clerk_user_id.as_str())];
    columns.extend(optional.iter().filter_map(|(setting, column)| column.as_deref().map(|c| (*setting, c))));
    columns
}

fn target_findings(target: &Target, facts: &TableFacts, out: &mut Vec<Finding>) {
    let table = format!("{}.{}", quote_ident(&target.schema), quote_ident(&target.table));
    let column = |name: &str| facts.columns.iter().find(|(c, _)| c == name).map(|(_, info)| info.clone());
    if let Err(error) = users_sql::build(target, column) {
        let fix = match &error {
            TargetError::NoColumn { column, setting, .. } => format!(
                "ALTER TABLE {table} ADD COLUMN {} ...; or SELECT clerk_sync.set_setting({}, <its name>); ('' leaves an optional column unwritten)",
                quote_ident(column),
                literal(setting)
            ),
            TargetError::WrongType { column, .. } | TargetError::Generated(column) => {
                let setting = mapped(target).into_iter().find(|(_, c)| c == column).map_or("column.<name>", |(s, _)| s);
                format!("change the type of {}, or SELECT clerk_sync.set_setting({}, '');", quote_ident(column), literal(setting))
            }
            TargetError::SoftDeleteWithoutColumn => {
                "SELECT clerk_sync.set_setting('column.deleted_at', <a timestamp or boolean column>);".to_owned()
            }
            TargetError::ReferenceWithoutId(setting) => format!(
                "SELECT clerk_sync.set_setting({}, 'id'); or SELECT clerk_sync.set_setting('membership.references', 'clerk_ids');",
                literal(setting)
            ),
            // The table is known to exist here; triggers are checked below.
            TargetError::NoTable(_) | TargetError::DeferrableTrigger(_) => String::new(),
        };
        out.push(finding(Severity::Error, error.to_string(), fix));
    }
    if let Some(trigger) = &facts.deferrable_trigger {
        out.push(finding(
            Severity::Error,
            TargetError::DeferrableTrigger(trigger.clone()).to_string(),
            format!(
                "recreate trigger {} on {table} without DEFERRABLE, or make its function SECURITY DEFINER",
                quote_ident(trigger)
            ),
        ));
    }
    if column(&target.clerk_user_id).is_some_and(|info| !info.unique) {
        out.push(finding(
            Severity::Warning,
            format!(
                "{table} has no unique index on {} alone: nothing stops the app itself from writing a user twice",
                quote_ident(&target.clerk_user_id)
            ),
            format!("CREATE UNIQUE INDEX ON {table} ({});", quote_ident(&target.clerk_user_id)),
        ));
    }
    let written: Vec<&str> = mapped(target).into_iter().map(|(_, c)| c).collect();
    for (name, info) in &facts.columns {
        if info.not_null && !info.has_default && !written.contains(&name.as_str()) {
            out.push(finding(
                Severity::Error,
                format!("column {} of {table} is NOT NULL without a default, and clerk_sync does not write it: every new user fails", quote_ident(name)),
                format!("ALTER TABLE {table} ALTER COLUMN {} SET DEFAULT ...; or map a Clerk field to it", quote_ident(name)),
            ));
        }
    }
    if let Some(username) = &target.username {
        if column(username).is_some_and(|info| !info.unique) {
            out.push(finding(
                Severity::Notice,
                format!("{table} has no unique index on {}: clerk_sync keeps usernames unique through its own claims, which the app's own writes do not see", quote_ident(username)),
                format!("CREATE UNIQUE INDEX ON {table} ({});", quote_ident(username)),
            ));
        }
    }
    if !facts.owner_lacks.is_empty() {
        out.push(finding(
            Severity::Error,
            format!(
                "the owner of {table}, {}, lacks {} on it: clerk_sync writes the table as its owner",
                quote_ident(&facts.owner),
                facts.owner_lacks.join(", ")
            ),
            format!("GRANT {} ON {table} TO {};", facts.owner_lacks.join(", "), quote_ident(&facts.owner)),
        ));
    }
}

/// Tolerated lag of this server's clock behind Clerk's before it is a finding (deliveries
/// arrive after their events, never before).
const CLOCK_BEHIND_TOLERANCE_S: f64 = 30.0;

pub fn findings(target: &Target, facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    if facts.secrets == 0 {
        out.push(finding(
            Severity::Error,
            "no signing secret: every delivery is answered 500",
            "SELECT clerk_sync.add_secret('whsec_...'); (Clerk dashboard: Webhooks, the endpoint, Signing Secret)",
        ));
    }
    match &facts.table {
        None => out.push(finding(
            Severity::Error,
            format!("the users table {}.{} does not exist", quote_ident(&target.schema), quote_ident(&target.table)),
            "create it (the app's migration), or SELECT clerk_sync.set_setting('target_schema', ...), set_setting('target_table', ...);",
        )),
        Some(table) => target_findings(target, table, &mut out),
    }
    for table in &facts.object_tables {
        if let Some(problem) = &table.problem {
            out.push(finding(
                Severity::Error,
                format!("the {}s table {} is misconfigured: {problem}; its events fail", table.object, table.table),
                format!(
                    "SELECT * FROM clerk_sync.settings() WHERE name LIKE '{}.%'; fix the table or the setting, then SELECT * FROM clerk_sync.replay_failed();",
                    table.object
                ),
            ));
        }
    }
    if facts.failed > 0 {
        let age = facts.oldest_failed_age_s.map_or(String::new(), |s| format!(", the oldest received {s} s ago"));
        out.push(finding(
            Severity::Warning,
            format!("{} failed deliveries are waiting{age}; Svix stops retrying after about 27 hours", facts.failed),
            "SELECT msg_id, last_error FROM clerk_sync.inbox WHERE outcome = 'failed'; fix the cause, then SELECT * FROM clerk_sync.replay_failed();",
        ));
    }
    if let Some(behind) = facts.clock_behind_s.filter(|s| *s > CLOCK_BEHIND_TOLERANCE_S) {
        out.push(finding(
            Severity::Warning,
            format!("this server's clock seems {behind:.0} s behind Clerk's (deliveries arrive before their events happened); past the timestamp tolerance, deliveries are refused"),
            "synchronize the clock (systemd-timesyncd, chrony)",
        ));
    }
    out.sort_by_key(|f| f.severity);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_tables::users_sql::ColumnKind;
    use crate::settings::Settings;

    fn column(kind: ColumnKind, not_null: bool, has_default: bool, unique: bool) -> ColumnInfo {
        ColumnInfo { kind, not_null, has_default, generated: false, unique }
    }

    /// The sign-up guide's table, healthy.
    fn prisma() -> TableFacts {
        let text = |not_null, unique| column(ColumnKind::Text, not_null, false, unique);
        TableFacts {
            columns: vec![
                ("id".into(), text(true, true)),
                ("email".into(), text(true, true)),
                ("username".into(), text(true, true)),
                ("clerkUserId".into(), text(false, true)),
                ("firstName".into(), text(false, false)),
                ("lastName".into(), text(false, false)),
                ("photoUrl".into(), text(false, false)),
                ("phoneNumber".into(), text(false, false)),
                ("createdAt".into(), column(ColumnKind::Timestamp, true, true, false)),
                ("updatedAt".into(), column(ColumnKind::Timestamp, true, false, false)),
            ],
            owner: "app".into(),
            owner_lacks: vec![],
            deferrable_trigger: None,
        }
    }

    fn healthy() -> Facts {
        Facts {
            secrets: 1,
            table: Some(prisma()),
            object_tables: vec![ObjectTable {
                object: "organization",
                table: "public.Organization".into(),
                problem: None,
            }],
            failed: 0,
            oldest_failed_age_s: None,
            clock_behind_s: Some(2.0),
        }
    }

    fn problems(facts: &Facts) -> Vec<String> {
        findings(&Settings::default().target, facts)
            .into_iter()
            .map(|f| format!("{}: {}", f.severity.word(), f.problem))
            .collect()
    }

    #[test]
    fn a_healthy_set_up_has_nothing_to_say() {
        assert_eq!(problems(&healthy()), Vec::<String>::new());
    }

    #[test]
    fn a_misconfigured_memberships_table_is_named_with_its_settings() {
        let mut facts = healthy();
        facts.object_tables.push(ObjectTable {
            object: "membership",
            table: "public.Membership".into(),
            problem: Some("column role (setting membership.column.role) does not exist".into()),
        });
        let found = findings(&Settings::default().target, &facts);
        assert_eq!(found.len(), 1);
        assert!(found[0].problem.starts_with("the memberships table public.Membership is misconfigured: column role"));
        assert!(found[0].fix.contains("LIKE 'membership.%'"), "{}", found[0].fix);
    }

    #[test]
    fn each_problem_is_found_with_its_fix() {
        let target = Settings::default().target;
        let mut facts = healthy();
        facts.secrets = 0;
        let found = findings(&target, &facts);
        assert_eq!(found.len(), 1);
        assert!(found[0].fix.starts_with("SELECT clerk_sync.add_secret("), "{:?}", found[0]);

        let mut facts = healthy();
        facts.table = None;
        assert_eq!(problems(&facts), ["error: the users table \"public\".\"User\" does not exist"]);

        let mut facts = healthy();
        facts.table.as_mut().unwrap().columns.retain(|(c, _)| c != "photoUrl");
        let found = findings(&target, &facts);
        assert!(found[0].problem.contains("photoUrl") && found[0].fix.contains("'column.photo_url'"), "{found:?}");

        let mut facts = healthy();
        facts.table.as_mut().unwrap().columns[3].1.unique = false;
        assert!(problems(&facts)[0].starts_with("warning: \"public\".\"User\" has no unique index on \"clerkUserId\""));

        let mut facts = healthy();
        facts.table.as_mut().unwrap().columns.push(("tenantId".into(), column(ColumnKind::Text, true, false, false)));
        let found = findings(&target, &facts);
        assert!(found[0].problem.contains("\"tenantId\"") && found[0].severity == Severity::Error, "{found:?}");

        let mut facts = healthy();
        facts.table.as_mut().unwrap().columns[2].1.unique = false;
        assert!(problems(&facts)[0].starts_with("notice: \"public\".\"User\" has no unique index on \"username\""));

        let mut facts = healthy();
        facts.table.as_mut().unwrap().owner_lacks = vec!["INSERT", "UPDATE"];
        let found = findings(&target, &facts);
        assert_eq!(found[0].fix, "GRANT INSERT, UPDATE ON \"public\".\"User\" TO \"app\";");

        let mut facts = healthy();
        facts.table.as_mut().unwrap().deferrable_trigger = Some("audit".into());
        assert!(
            problems(&facts)[0].contains("trigger audit on the target table is DEFERRABLE"),
            "{:?}",
            problems(&facts)
        );

        let mut facts = healthy();
        facts.failed = 3;
        facts.oldest_failed_age_s = Some(7200);
        assert!(
            problems(&facts)[0].starts_with("warning: 3 failed deliveries are waiting, the oldest received 7200 s ago")
        );

        let mut facts = healthy();
        facts.clock_behind_s = Some(95.0);
        assert!(problems(&facts)[0].contains("95 s behind"));

        let mut facts = healthy();
        facts.table.as_mut().unwrap().columns[9].1.kind = ColumnKind::Boolean;
        let found = findings(&target, &facts);
        assert!(found[0].problem.contains("updatedAt") && found[0].fix.contains("'column.updated_at'"), "{found:?}");
    }

    #[test]
    fn errors_come_first() {
        let mut facts = healthy();
        facts.failed = 1;
        facts.secrets = 0;
        let severities: Vec<Severity> =
            findings(&Settings::default().target, &facts).iter().map(|f| f.severity).collect();
        assert_eq!(severities, [Severity::Error, Severity::Warning]);
    }
}
