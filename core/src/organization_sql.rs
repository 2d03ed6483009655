//! The SQL that writes the organizations and memberships tables, built once per configuration
//! from their column types; every configured identifier is quoted and every value is a parameter.
//! Each statement writes one table and runs as that table's owner.
//!
//! Parameters of the organization statements: $1 Clerk organization id, $2 name, $3 slug, $4
//! image URL (text), $5 created_at, $6 updated_at (Unix ms, bigint). Of the membership
//! statements: $1 Clerk membership id, $2 Clerk organization id, $3 Clerk user id, $4 role
//! (text), $5 created_at, $6 updated_at (Unix ms); of `delete_of_users`, $1 the Clerk ids of the
//! users (text[]); of `delete_of_organization`, $1 the organization's Clerk id.

use crate::ident::quote_ident;
use crate::settings::{MembershipTarget, OrganizationTarget, References, Target};
use crate::target_sql::{generated_id, text_expr, time_expr, unlisted_sql, ColumnInfo, TargetError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationStatements {
    /// Updates the row in place, else inserts it; a row when it inserted.
    pub upsert: String,
    pub delete: String,
    /// Whether a row has Clerk id $1.
    pub has_row: String,
    /// The Clerk ids of the rows not in $1 (text[]); planned with it.
    pub unlisted: String,
}

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

fn table_name(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

/// (column, setting) of every optional column mapped, with its value parameter, as text or time.
type Mapped<'a> = [(&'a Option<String>, &'static str, &'static str, bool)];

/// The `SET` list, and the insert's columns and values.
type Assignments = (Vec<String>, Vec<String>, Vec<String>);

/// The assignments of `clerk = $1` and the mapped columns.
fn assignments<L>(clerk: &str, mapped: &Mapped<'_>, lookup: &L) -> Result<Assignments, TargetError>
where
    L: Fn(&str, &'static str) -> Result<ColumnInfo, TargetError>,
{
    let (mut set_list, mut columns, mut values) =
        (vec![format!("{clerk} = $1")], vec![clerk.to_owned()], vec!["$1".to_owned()]);
    for &(name, setting, param, is_time) in mapped {
        let Some(name) = name else { continue };
        let info = lookup(name, setting)?;
        let value = if is_time { time_expr(name, &info.kind, param)? } else { text_expr(name, &info.kind, param)? };
        set_list.push(format!("{} = {value}", quote_ident(name)));
        columns.push(quote_ident(name));
        values.push(value);
    }
    Ok((set_list, columns, values))
}

/// A checked column lookup for `table`: the column must exist and not be generated.
fn checked<F>(table: &str, column: F) -> impl Fn(&str, &'static str) -> Result<ColumnInfo, TargetError> + '_
where
    F: Fn(&str) -> Option<ColumnInfo> + 'static,
{
    let table = table.to_owned();
    move |name: &str, setting: &'static str| {
        let info = column(name).ok_or_else(|| TargetError::NoColumn {
            table: table.clone(),
            column: name.to_owned(),
            setting,
        })?;
        if info.generated {
            return Err(TargetError::Generated(name.to_owned()));
        }
        Ok(info)
    }
}

pub fn organization_statements<F>(target: &OrganizationTarget, column: F) -> Result<OrganizationStatements, TargetError>
where
    F: Fn(&str) -> Option<ColumnInfo> + 'static,
{
    let table = table_name(&target.schema, &target.table);
    let lookup = checked(&table, column);
    let clerk = quote_ident(&target.clerk_org_id);
    let clerk_info = lookup(&target.clerk_org_id, "organization.column.clerk_org_id")?;
    text_expr(&target.clerk_org_id, &clerk_info.kind, "$1")?;
    let mapped: &Mapped<'_> = &[
        (&target.name, "organization.column.name", "$2", false),
        (&target.slug, "organization.column.slug", "$3", false),
        (&target.image_url, "organization.column.image_url", "$4", false),
        (&target.created_at, "organization.column.created_at", "$5", true),
        (&target.updated_at, "organization.column.updated_at", "$6", true),
    ];
    let (set_list, mut columns, mut values) = assignments(&clerk, mapped, &lookup)?;
    if let Some(id) = &target.id {
        if let Some(value) = generated_id(id, &lookup(id, "organization.column.id")?, None)? {
            columns.push(quote_ident(id));
            values.push(value);
        }
    }
    Ok(OrganizationStatements {
        upsert: format!(
            "WITH updated AS (UPDATE {table} SET {} WHERE {clerk} = $1 RETURNING 1) \
             INSERT INTO {table} ({}) SELECT {} WHERE NOT EXISTS (SELECT FROM updated) RETURNING 1",
            set_list.join(", "),
            columns.join(", "),
            values.join(", ")
        ),
        delete: format!("DELETE FROM {table} WHERE {clerk} = $1"),
        has_row: format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {clerk} = $1)"),
        unlisted: unlisted_sql(&table, &clerk, ""),
    })
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
        (&target.role, "membership.column.role", "$4", false),
        (&target.created_at, "membership.column.created_at", "$5", true),
        (&target.updated_at, "membership.column.updated_at", "$6", true),
    ];
    let (mut set_list, mut columns, mut values) = assignments(&clerk, mapped, &lookup)?;
    if let Some(id) = &target.id {
        if let Some(value) = generated_id(id, &lookup(id, "membership.column.id")?, None)? {
            columns.push(quote_ident(id));
            values.push(value);
        }
    }
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
    use crate::settings::Settings;
    use crate::target_sql::ColumnKind;

    fn col(kind: ColumnKind) -> Option<ColumnInfo> {
        Some(ColumnInfo { kind, not_null: true, has_default: false, generated: false, unique: false })
    }

    /// The columns `prisma migrate` makes of the README's Organization and Membership models.
    fn prisma(name: &str) -> Option<ColumnInfo> {
        match name {
            "createdAt" | "updatedAt" => col(ColumnKind::Timestamp),
            "id" | "clerkOrgId" | "name" | "slug" | "imageUrl" | "clerkMembershipId" | "organizationId" | "userId"
            | "role" => col(ColumnKind::Text),
            _ => None,
        }
    }

    #[test]
    fn an_organization_is_upserted_by_its_clerk_id_with_a_new_id_when_inserted() {
        let s = organization_statements(&Settings::default().organizations, prisma).unwrap();
        assert_eq!(
            s.upsert,
            "WITH updated AS (UPDATE \"public\".\"Organization\" SET \"clerkOrgId\" = $1, \"name\" = $2, \"slug\" = $3, \
             \"imageUrl\" = $4, \"createdAt\" = ((\'epoch\'::pg_catalog.timestamptz + $5 * \'1 millisecond\'::pg_catalog.interval) AT TIME ZONE \'UTC\'), \
             \"updatedAt\" = ((\'epoch\'::pg_catalog.timestamptz + $6 * \'1 millisecond\'::pg_catalog.interval) AT TIME ZONE \'UTC\') \
             WHERE \"clerkOrgId\" = $1 RETURNING 1) \
             INSERT INTO \"public\".\"Organization\" (\"clerkOrgId\", \"name\", \"slug\", \"imageUrl\", \"createdAt\", \"updatedAt\", \"id\") \
             SELECT $1, $2, $3, $4, ((\'epoch\'::pg_catalog.timestamptz + $5 * \'1 millisecond\'::pg_catalog.interval) AT TIME ZONE \'UTC\'), \
             ((\'epoch\'::pg_catalog.timestamptz + $6 * \'1 millisecond\'::pg_catalog.interval) AT TIME ZONE \'UTC\'), \
             pg_catalog.gen_random_uuid()::pg_catalog.text WHERE NOT EXISTS (SELECT FROM updated) RETURNING 1"
        );
        assert_eq!(s.delete, "DELETE FROM \"public\".\"Organization\" WHERE \"clerkOrgId\" = $1");
    }

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
        let mut target = settings.organizations.clone();
        target.table = "Org\"; DROP TABLE x; --".into();
        let s = organization_statements(&target, prisma).unwrap();
        assert!(s.delete.starts_with("DELETE FROM \"public\".\"Org\"\"; DROP TABLE x; --\" WHERE"), "{}", s.delete);
    }
}
