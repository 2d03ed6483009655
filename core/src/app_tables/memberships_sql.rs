//! The SQL that writes the memberships table, built once per configuration from its column types
//! and those of the organizations and users tables it refers to.
//!
//! Parameters of the membership statements: $1 Clerk membership id, $2 Clerk organization id, $3
//! Clerk user id, $4 role (text), $5 created_at, $6 updated_at (Unix ms); of `delete_of_users`,
//! $1 the Clerk ids of the users (text[]); of `delete_of_organization`, $1 the organization's
//! Clerk id.

use crate::app_tables::ident::quote_ident;
use crate::app_tables::organizations_sql::{row_assignments, Holds, Mapped};
use crate::app_tables::users_sql::{checked, table_name, text_expr, unlisted_sql, ColumnInfo, TargetError};
use crate::settings::{MembershipTarget, OrganizationTarget, References, Target};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipStatements {
    /// Updates the row in place, else inserts it. One row: (the rows it refers to exist, it inserted).
    pub upsert: String,
    pub delete: String,
    pub delete_of_users: String,
    pub delete_of_organization: String,
    /// The Clerk ids of the rows not in $1 (text[]); planned with it.
    pub unlisted: String,
}

/// `column` looks up a column of the memberships table.
pub fn membership_statements<F>(
    target: &MembershipTarget,
    organizations: &OrganizationTarget,
    users: &Target,
    column: F,
) -> Result<MembershipStatements, TargetError>
where
    F: Fn(&str) -> Option<ColumnInfo> + 'static,
{
    let table = table_name(&target.schema, &target.table);
    let lookup = checked(&table, column);
    let clerk = quote_ident(&target.clerk_membership_id);
    let clerk_info = lookup(&target.clerk_membership_id, "membership.column.clerk_membership_id")?;
    text_expr(&target.clerk_membership_id, &clerk_info.kind, "$1")?;
    let organization = quote_ident(&target.organization);
    let user = quote_ident(&target.user);
    lookup(&target.organization, "membership.column.organization")?;
    lookup(&target.user, "membership.column.user")?;
    let mapped: &Mapped<'_> = &[
        (&target.role, "membership.column.role", "$4", Holds::Text),
        (&target.created_at, "membership.column.created_at", "$5", Holds::Time),
        (&target.updated_at, "membership.column.updated_at", "$6", Holds::Time),
    ];
    let (mut set_list, mut columns, mut values) =
        row_assignments(&clerk, mapped, (&target.id, "membership.column.id"), &lookup)?;
    let organizations_table = table_name(&organizations.schema, &organizations.table);
    let users_table = table_name(&users.schema, &users.table);
    let clerk_org = quote_ident(&organizations.clerk_org_id);
    let clerk_user = quote_ident(&users.clerk_user_id);
    let (upsert, delete_of_users, delete_of_organization) = match target.references {
        References::ClerkIds => {
            for (name, setting) in
                [(&target.organization, "membership.column.organization"), (&target.user, "membership.column.user")]
            {
                text_expr(name, &lookup(name, setting)?.kind, "$2")?;
            }
            set_list.extend([format!("{organization} = $2"), format!("{user} = $3")]);
            columns.extend([organization.clone(), user.clone()]);
            values.extend(["$2".to_owned(), "$3".to_owned()]);
            (
                format!(
                    "WITH updated AS (UPDATE {table} SET {} WHERE {clerk} = $1 RETURNING 1), \
                     inserted AS (INSERT INTO {table} ({}) SELECT {} WHERE NOT EXISTS (SELECT FROM updated) RETURNING 1) \
                     SELECT true, EXISTS (SELECT FROM inserted)",
                    set_list.join(", "),
                    columns.join(", "),
                    values.join(", ")
                ),
                format!("DELETE FROM {table} WHERE {user} = ANY ($1)"),
                format!("DELETE FROM {table} WHERE {organization} = $1"),
            )
        }
        References::AppIds => {
            let org_id = quote_ident(
                organizations.id.as_deref().ok_or(TargetError::ReferenceWithoutId("organization.column.id"))?,
            );
            let user_id = quote_ident(users.id.as_deref().ok_or(TargetError::ReferenceWithoutId("column.id"))?);
            set_list.extend([format!("{organization} = p.o"), format!("{user} = p.u")]);
            columns.extend([organization.clone(), user.clone()]);
            values.extend(["p.o".to_owned(), "p.u".to_owned()]);
            (
                format!(
                    "WITH p AS (SELECT o.{org_id} AS o, u.{user_id} AS u FROM {organizations_table} AS o, {users_table} AS u \
                     WHERE o.{clerk_org} = $2 AND u.{clerk_user} = $3), \
                     updated AS (UPDATE {table} SET {} FROM p WHERE {table}.{clerk} = $1 RETURNING 1), \
                     inserted AS (INSERT INTO {table} ({}) SELECT {} FROM p WHERE NOT EXISTS (SELECT FROM updated) RETURNING 1) \
                     SELECT EXISTS (SELECT FROM p), EXISTS (SELECT FROM inserted)",
                    set_list.join(", "),
                    columns.join(", "),
                    values.join(", ")
                ),
                format!(
                    "DELETE FROM {table} WHERE {user} IN \
                     (SELECT u.{user_id} FROM {users_table} AS u WHERE u.{clerk_user} = ANY ($1))"
                ),
                format!(
                    "DELETE FROM {table} WHERE {organization} IN \
                     (SELECT o.{org_id} FROM {organizations_table} AS o WHERE o.{clerk_org} = $1)"
                ),
            )
        }
    };
    Ok(MembershipStatements {
        upsert,
        delete: format!("DELETE FROM {table} WHERE {clerk} = $1"),
        delete_of_users,
        delete_of_organization,
        unlisted: unlisted_sql(&table, &clerk, ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_tables::organizations_sql::tests::prisma;
    use crate::settings::Settings;

    #[test]
    fn a_membership_refers_to_the_rows_ids_or_to_clerk_ids() {
        let settings = Settings::default();
        let s =
            membership_statements(&settings.memberships, &settings.organizations, &settings.target, prisma).unwrap();
        assert!(s.upsert.starts_with(
            "WITH p AS (SELECT o.\"id\" AS o, u.\"id\" AS u FROM \"public\".\"Organization\" AS o, \"public\".\"User\" AS u \
             WHERE o.\"clerkOrgId\" = $2 AND u.\"clerkUserId\" = $3)"
        ), "{}", s.upsert);
        assert!(s.upsert.contains("\"organizationId\" = p.o, \"userId\" = p.u FROM p WHERE \"public\".\"Membership\".\"clerkMembershipId\" = $1"), "{}", s.upsert);
        assert!(s.upsert.ends_with("SELECT EXISTS (SELECT FROM p), EXISTS (SELECT FROM inserted)"));
        assert_eq!(
            s.delete_of_users,
            "DELETE FROM \"public\".\"Membership\" WHERE \"userId\" IN (SELECT u.\"id\" FROM \"public\".\"User\" AS u WHERE u.\"clerkUserId\" = ANY ($1))"
        );

        let mut clerk_ids = settings.memberships.clone();
        clerk_ids.references = References::ClerkIds;
        let s = membership_statements(&clerk_ids, &settings.organizations, &settings.target, prisma).unwrap();
        assert!(
            s.upsert.contains("\"organizationId\" = $2, \"userId\" = $3 WHERE \"clerkMembershipId\" = $1"),
            "{}",
            s.upsert
        );
        assert_eq!(s.delete_of_organization, "DELETE FROM \"public\".\"Membership\" WHERE \"organizationId\" = $1");
        for sql in [&s.upsert, &s.delete, &s.delete_of_users] {
            assert!(!sql.contains("clerk_sync"), "touches nothing of clerk_sync's: {sql}");
        }
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let settings = Settings::default();
        let no_role = |name: &str| if name == "role" { None } else { prisma(name) };
        let error = membership_statements(&settings.memberships, &settings.organizations, &settings.target, no_role);
        assert!(matches!(error, Err(TargetError::NoColumn { setting: "membership.column.role", .. })), "{error:?}");
        let mut organizations = settings.organizations.clone();
        organizations.id = None;
        let error = membership_statements(&settings.memberships, &organizations, &settings.target, prisma);
        assert_eq!(error, Err(TargetError::ReferenceWithoutId("organization.column.id")));
    }
}
