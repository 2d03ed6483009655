//! The SQL that writes the organizations table, built once per configuration from its column
//! types, and the column mapping it shares with the memberships table's (`memberships_sql`).
//! Each statement writes one table and runs as that table's owner.
//!
//! Parameters of the organization statements: $1 Clerk organization id, $2 name, $3 slug, $4
//! image URL (text), $5 created_at, $6 updated_at (Unix ms, bigint).

use crate::app_tables::ident::quote_ident;
use crate::app_tables::users_sql::{
    checked, generated_id, table_name, text_expr, time_expr, unlisted_sql, ColumnInfo, ColumnKind, TargetError,
};
use crate::settings::OrganizationTarget;

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

/// What a parameter holds, and so how a column is written from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holds {
    Text,
    /// Unix milliseconds (bigint), written as the column's kind of time.
    Time,
    Boolean,
}

/// (column, setting) of every optional column mapped, with its value parameter and what it holds.
pub(super) type Mapped<'a> = [(&'a Option<String>, &'static str, &'static str, Holds)];

/// The `SET` list, and the insert's columns and values.
pub(super) type Assignments = (Vec<String>, Vec<String>, Vec<String>);

/// The assignments of `clerk = $1` and the mapped columns.
pub(super) fn assignments<L>(clerk: &str, mapped: &Mapped<'_>, lookup: &L) -> Result<Assignments, TargetError>
where
    L: Fn(&str, &'static str) -> Result<ColumnInfo, TargetError>,
{
    let (mut set_list, mut columns, mut values) =
        (vec![format!("{clerk} = $1")], vec![clerk.to_owned()], vec!["$1".to_owned()]);
    for &(name, setting, param, holds) in mapped {
        let Some(name) = name else { continue };
        let info = lookup(name, setting)?;
        let value = match holds {
            Holds::Text => text_expr(name, &info.kind, param)?,
            Holds::Time => time_expr(name, &info.kind, param)?,
            Holds::Boolean => boolean_expr(name, &info.kind, param)?,
        };
        set_list.push(format!("{} = {value}", quote_ident(name)));
        columns.push(quote_ident(name));
        values.push(value);
    }
    Ok((set_list, columns, values))
}

/// A boolean parameter as the column takes it.
fn boolean_expr(column: &str, kind: &ColumnKind, param: &str) -> Result<String, TargetError> {
    match kind {
        ColumnKind::Boolean => Ok(param.to_owned()),
        other => Err(TargetError::WrongType {
            column: column.to_owned(),
            found: crate::app_tables::users_sql::kind_name(other),
            wanted: "boolean",
        }),
    }
}

/// `assignments`, and a new row's id when `id` (with its setting) is mapped and the column has
/// no default.
pub(super) fn row_assignments<L>(
    clerk: &str,
    mapped: &Mapped<'_>,
    id: (&Option<String>, &'static str),
    lookup: &L,
) -> Result<Assignments, TargetError>
where
    L: Fn(&str, &'static str) -> Result<ColumnInfo, TargetError>,
{
    let (set_list, mut columns, mut values) = assignments(clerk, mapped, lookup)?;
    if let (Some(id), setting) = id {
        if let Some(value) = generated_id(id, &lookup(id, setting)?, None)? {
            columns.push(quote_ident(id));
            values.push(value);
        }
    }
    Ok((set_list, columns, values))
}

/// Updates the row with Clerk id $1 in place, else inserts it; a row back when it inserted.
pub(super) fn upsert_sql(table: &str, clerk: &str, (set_list, columns, values): &Assignments) -> String {
    format!(
        "WITH updated AS (UPDATE {table} SET {} WHERE {clerk} = $1 RETURNING 1) \
         INSERT INTO {table} ({}) SELECT {} WHERE NOT EXISTS (SELECT FROM updated) RETURNING 1",
        set_list.join(", "),
        columns.join(", "),
        values.join(", ")
    )
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
        (&target.name, "organization.column.name", "$2", Holds::Text),
        (&target.slug, "organization.column.slug", "$3", Holds::Text),
        (&target.image_url, "organization.column.image_url", "$4", Holds::Text),
        (&target.created_at, "organization.column.created_at", "$5", Holds::Time),
        (&target.updated_at, "organization.column.updated_at", "$6", Holds::Time),
    ];
    let row = row_assignments(&clerk, mapped, (&target.id, "organization.column.id"), &lookup)?;
    Ok(OrganizationStatements {
        upsert: upsert_sql(&table, &clerk, &row),
        delete: format!("DELETE FROM {table} WHERE {clerk} = $1"),
        has_row: format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {clerk} = $1)"),
        unlisted: unlisted_sql(&table, &clerk, ""),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::app_tables::users_sql::ColumnKind;
    use crate::settings::Settings;

    fn col(kind: ColumnKind) -> Option<ColumnInfo> {
        Some(ColumnInfo { kind, not_null: true, has_default: false, generated: false, unique: false })
    }

    /// The columns `prisma migrate` makes of docs/organizations.md's Organization and Membership
    /// models (the memberships table's tests use them too).
    pub(in crate::app_tables) fn prisma(name: &str) -> Option<ColumnInfo> {
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
    fn a_hostile_table_name_is_quoted() {
        let mut target = Settings::default().organizations.clone();
        target.table = "Org\"; DROP TABLE x; --".into();
        let s = organization_statements(&target, prisma).unwrap();
        assert!(s.delete.starts_with("DELETE FROM \"public\".\"Org\"\"; DROP TABLE x; --\" WHERE"), "{}", s.delete);
    }
}
