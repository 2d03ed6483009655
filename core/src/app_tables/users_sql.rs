//! The SQL that writes users into the configured table. Built once per configuration from the
//! table's column types; every configured identifier is quoted and every value is a parameter.
//! These statements touch the app's table and nothing of clerk_sync's own: they run as the
//! table's owner (see `src/app_tables/table_owner.rs` in the extension).
//!
//! Parameters of `insert_new` and `upsert`: $1 Clerk user id, $2 email, $3 username, $4 first
//! name, $5 last name, $6 photo URL, $7 phone number (all text), $8 created_at, $9 updated_at
//! (Unix ms, bigint). Of `delete`: $1 Clerk user id, $2 deletion time (Unix ms). Statements are
//! prepared with all their parameter types, so a parameter that an unmapped column leaves unused
//! is harmless.

use crate::app_tables::ident::quote_ident;
use crate::apply::engine::Usernames;
use crate::settings::{DeleteMode, Target};

/// What the catalog says about one column (for a domain: its base type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub kind: ColumnKind,
    pub not_null: bool,
    /// A default, an identity or a generated expression: the database fills it.
    pub has_default: bool,
    pub generated: bool,
    /// A unique index on this column alone (no predicate, no expression).
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    TimestampTz,
    Timestamp,
    Date,
    /// bigint or numeric: holds Unix milliseconds.
    BigInteger,
    Uuid,
    Boolean,
    Other(String),
}

impl ColumnKind {
    /// From `pg_type.typname` and `typcategory` of the column's (base) type.
    pub fn from_catalog(typname: &str, typcategory: &str) -> Self {
        match typname {
            "timestamptz" => ColumnKind::TimestampTz,
            "timestamp" => ColumnKind::Timestamp,
            "date" => ColumnKind::Date,
            "int8" | "numeric" => ColumnKind::BigInteger,
            "uuid" => ColumnKind::Uuid,
            "bool" => ColumnKind::Boolean,
            _ if typcategory == "S" => ColumnKind::Text,
            other => ColumnKind::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target table {0} does not exist")]
    NoTable(String),
    #[error("column {column} (setting {setting}) does not exist in {table}")]
    NoColumn { table: String, column: String, setting: &'static str },
    #[error("column {column} has type {found}; clerk_sync writes {wanted} into it")]
    WrongType { column: String, found: String, wanted: &'static str },
    #[error("column {0} is generated; clerk_sync cannot write it")]
    Generated(String),
    #[error("delete_mode = soft needs setting column.deleted_at")]
    SoftDeleteWithoutColumn,
    #[error("membership.references = ids needs setting {0} (the row id the membership refers to)")]
    ReferenceWithoutId(&'static str),
    #[error("trigger {0} on the target table is DEFERRABLE: at commit it would run with the committing role's rights, not the table owner's")]
    DeferrableTrigger(String),
}

/// The insert of a user seen for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertNew {
    /// `INSERT … ON CONFLICT DO NOTHING RETURNING 1`, when the table's own unique indexes on the
    /// Clerk id (and the username) say when a row may not be inserted: a row back when it was.
    /// `plain`: the same insert without `ON CONFLICT`, which checks no index before it inserts
    /// (only as it inserts): a delivery tries it first, and when it raises a unique violation
    /// the delivery is rolled back and applied again with `on_conflict`.
    OnConflictDoNothing { on_conflict: String, plain: String },
    /// Checks both first; columns: the username is in use, it inserted.
    Checked(String),
}

/// The set-based statements of a batch (`clerk_sync_core::apply::batch`). Parameters of `insert` and
/// `update`: nine arrays, element by element the nine values of a user's row (text[] × 7,
/// bigint[] × 2). Of `rows_of`: $1 Clerk ids, $2 usernames (text[]); its rows: (Clerk id,
/// username) of every row having one of them. Of `delete`: $1 Clerk ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatements {
    pub rows_of: String,
    pub insert: String,
    pub update: String,
    /// None when deletes are soft (a batch is not planned then).
    pub delete: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatements {
    pub insert_new: InsertNew,
    pub upsert: String,
    pub delete: String,
    /// The row id (as text) of the row with Clerk id $1; the Clerk id itself when no id column
    /// is mapped. No row: no result.
    pub row_id: String,
    /// The Clerk ids of the rows not deleted (or soft-deleted) whose id is not in $1 (text[]).
    pub unlisted: String,
    pub batch: BatchStatements,
    /// The email column is NOT NULL: a user without email gets a placeholder.
    pub email_required: bool,
    /// How usernames are kept unique: not at all (no column), by clerk_sync's claims, or by the
    /// table's own unique index on the column.
    pub usernames: Usernames,
}

pub(crate) fn kind_name(kind: &ColumnKind) -> String {
    match kind {
        ColumnKind::Other(name) => name.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// `ms` (a bigint parameter of Unix milliseconds) as a value of the column's type.
pub(crate) fn time_expr(column: &str, kind: &ColumnKind, ms: &str) -> Result<String, TargetError> {
    let tstz = format!("('epoch'::pg_catalog.timestamptz + {ms} * '1 millisecond'::pg_catalog.interval)");
    let utc = format!("({tstz} AT TIME ZONE 'UTC')");
    Ok(match kind {
        ColumnKind::TimestampTz => tstz,
        ColumnKind::Timestamp => utc,
        ColumnKind::Date => format!("{utc}::pg_catalog.date"),
        ColumnKind::BigInteger => ms.to_owned(),
        ColumnKind::Text => format!("pg_catalog.to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
        other => {
            return Err(TargetError::WrongType {
                column: column.to_owned(),
                found: kind_name(other),
                wanted: "a time (timestamptz, timestamp, date, bigint Unix ms or text)",
            })
        }
    })
}

pub(crate) fn text_expr(column: &str, kind: &ColumnKind, param: &str) -> Result<String, TargetError> {
    match kind {
        ColumnKind::Text => Ok(param.to_owned()),
        other => Err(TargetError::WrongType { column: column.to_owned(), found: kind_name(other), wanted: "text" }),
    }
}

/// The columns a user's row writes, with their values as expressions of the nine values
/// (`arg(n)` names value n: a parameter, or a column of the batch's `unnest`), and a new row's
/// id from parameter `fresh_id` when given (see `generated_id`).
struct Mapping {
    /// `column = value`, the Clerk id first.
    set_list: Vec<String>,
    insert_columns: Vec<String>,
    insert_values: Vec<String>,
}

fn mapping<L>(
    target: &Target,
    lookup: &L,
    arg: &dyn Fn(usize) -> String,
    fresh_id: Option<&str>,
) -> Result<Mapping, TargetError>
where
    L: Fn(&str, &'static str) -> Result<ColumnInfo, TargetError>,
{
    let clerk = quote_ident(&target.clerk_user_id);
    // (quoted column, value expression) for every mapped column, in value order.
    let mut assignments: Vec<(String, String)> = Vec::new();
    let text_columns = [
        (&target.email, "column.email", 2),
        (&target.username, "column.username", 3),
        (&target.first_name, "column.first_name", 4),
        (&target.last_name, "column.last_name", 5),
        (&target.photo_url, "column.photo_url", 6),
        (&target.phone_number, "column.phone_number", 7),
    ];
    for (name, setting, value) in text_columns {
        if let Some(name) = name {
            let info = lookup(name, setting)?;
            assignments.push((quote_ident(name), text_expr(name, &info.kind, &arg(value))?));
        }
    }
    for (name, setting, value) in
        [(&target.created_at, "column.created_at", 8), (&target.updated_at, "column.updated_at", 9)]
    {
        if let Some(name) = name {
            let info = lookup(name, setting)?;
            assignments.push((quote_ident(name), time_expr(name, &info.kind, &arg(value))?));
        }
    }

    let mut set_list = vec![format!("{clerk} = {}", arg(1))];
    set_list.extend(assignments.iter().map(|(col, expr)| format!("{col} = {expr}")));
    let mut insert_columns = vec![clerk.clone()];
    let mut insert_values = vec![arg(1)];
    for (col, expr) in &assignments {
        insert_columns.push(col.clone());
        insert_values.push(expr.clone());
    }
    if let Some(id) = &target.id {
        if let Some(value) = generated_id(id, &lookup(id, "column.id")?, fresh_id)? {
            insert_columns.push(quote_ident(id));
            insert_values.push(value);
        }
    }
    Ok(Mapping { set_list, insert_columns, insert_values })
}

/// The Clerk ids (column `clerk`, quoted) of `table`'s rows, `live` (an SQL condition on `t`,
/// after AND, or empty), not in the text[] $1; sorted.
pub(crate) fn unlisted_sql(table: &str, clerk: &str, live: &str) -> String {
    format!(
        "SELECT t.{clerk} FROM {table} AS t WHERE t.{clerk} IS NOT NULL{live} \
         AND NOT EXISTS (SELECT FROM pg_catalog.unnest($1::pg_catalog.text[]) AS l (id) WHERE l.id = t.{clerk}) \
         ORDER BY 1"
    )
}

/// The value of a new row's id column: a random UUID when the column has no default (Prisma
/// fills ids client-side), else nothing (the database fills it). `fresh` names a parameter that
/// holds one (text) made by the caller; without it the statement makes its own.
pub(crate) fn generated_id(id: &str, info: &ColumnInfo, fresh: Option<&str>) -> Result<Option<String>, TargetError> {
    if info.has_default {
        return Ok(None);
    }
    match (&info.kind, fresh) {
        (ColumnKind::Uuid, Some(param)) => Ok(Some(format!("{param}::pg_catalog.uuid"))),
        (ColumnKind::Text, Some(param)) => Ok(Some(param.to_owned())),
        (ColumnKind::Uuid, None) => Ok(Some("pg_catalog.gen_random_uuid()".to_owned())),
        (ColumnKind::Text, None) => Ok(Some("pg_catalog.gen_random_uuid()::pg_catalog.text".to_owned())),
        (other, _) => Err(TargetError::WrongType {
            column: id.to_owned(),
            found: kind_name(other),
            wanted: "a generated id (uuid or text), or give the column a default",
        }),
    }
}

const UNNEST_ROWS: &str = "ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), \
    pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), \
    pg_catalog.unnest($9)) AS u (a1, a2, a3, a4, a5, a6, a7, a8, a9)";

fn batch_statements(target: &Target, table: &str, clerk: &str, m: Mapping) -> BatchStatements {
    // One index probe per value and key: the subquery with OFFSET 0 keeps the planner from
    // scanning the whole table, which statistics taken while it was smaller make look cheaper.
    // A row found by both keys comes twice; that is harmless.
    let by = |name: &str, key: &str, values: &str| {
        format!(
            "SELECT r.c, r.n FROM ROWS FROM (pg_catalog.unnest({values})) AS k (v) CROSS JOIN LATERAL \
             (SELECT t.{clerk}, {name} FROM {table} AS t WHERE t.{key} = k.v OFFSET 0) AS r (c, n)"
        )
    };
    let rows_of = match &target.username {
        Some(column) => {
            let name = format!("t.{}", quote_ident(column));
            format!("{} UNION ALL {}", by(&name, clerk, "$1"), by(&name, &quote_ident(column), "$2"))
        }
        None => by("NULL::pg_catalog.text", clerk, "$1"),
    };
    BatchStatements {
        rows_of,
        insert: format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {UNNEST_ROWS}",
            m.insert_columns.join(", "),
            m.insert_values.join(", ")
        ),
        update: format!("UPDATE {table} SET {} FROM {UNNEST_ROWS} WHERE {table}.{clerk} = u.a1", m.set_list.join(", ")),
        delete: (target.delete_mode == DeleteMode::Delete)
            .then(|| format!("DELETE FROM {table} WHERE {clerk} = ANY ($1)")),
    }
}

/// `"schema"."table"`, both quoted.
pub(super) fn table_name(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

/// A checked column lookup for `table`, as every app table's statements use it: the column
/// must exist and not be generated; a missing one names its setting.
pub(super) fn checked<'a, F>(
    table: &str,
    column: F,
) -> impl Fn(&str, &'static str) -> Result<ColumnInfo, TargetError> + 'a
where
    F: Fn(&str) -> Option<ColumnInfo> + 'a,
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

/// Builds the statements, looking each configured column up with `column`.
pub fn build<F>(target: &Target, column: F) -> Result<TargetStatements, TargetError>
where
    F: Fn(&str) -> Option<ColumnInfo>,
{
    let table = table_name(&target.schema, &target.table);
    let lookup = checked(&table, column);

    let clerk = quote_ident(&target.clerk_user_id);
    let clerk_info = lookup(&target.clerk_user_id, "column.clerk_user_id")?;
    text_expr(&target.clerk_user_id, &clerk_info.kind, "$1")?;
    let username_unique = match &target.username {
        Some(name) => lookup(name, "column.username")?.unique,
        None => false,
    };
    let email_required = match &target.email {
        Some(name) => lookup(name, "column.email")?.not_null,
        None => false,
    };
    let Mapping { set_list, insert_columns, insert_values } =
        mapping(target, &lookup, &|n| format!("${n}"), Some("$10"))?;
    // Whether another row of the target (one the app wrote itself) has username $3: a row is
    // written only when it does not. Without a username column, never.
    let taken = match &target.username {
        Some(column) => format!(
            "taken AS (SELECT EXISTS (SELECT 1 FROM {table} WHERE {} = $3 AND {clerk} IS DISTINCT FROM $1) AS in_use)",
            quote_ident(column)
        ),
        None => "taken AS (SELECT false AS in_use)".to_owned(),
    };
    let insert = format!(
        "INSERT INTO {table} ({}) SELECT {} FROM taken WHERE NOT taken.in_use",
        insert_columns.join(", "),
        insert_values.join(", ")
    );
    // For a user seen for the first time: insert unless a row (one written before clerk_sync
    // was installed) already has the Clerk id, or another row the username.
    let insert_new = if clerk_info.unique && (target.username.is_none() || username_unique) {
        let plain =
            format!("INSERT INTO {table} ({}) VALUES ({})", insert_columns.join(", "), insert_values.join(", "));
        InsertNew::OnConflictDoNothing { on_conflict: format!("{plain} ON CONFLICT DO NOTHING RETURNING 1"), plain }
    } else {
        InsertNew::Checked(format!(
            "WITH {taken}, inserted AS ({insert} AND NOT EXISTS (SELECT 1 FROM {table} WHERE {clerk} = $1) RETURNING 1) \
             SELECT taken.in_use, EXISTS (SELECT 1 FROM inserted) FROM taken"
        ))
    };
    // Update in place, else insert; one statement. Columns as for insert_new. Callers hold the
    // user's state row lock, so no other clerk_sync session writes this user meanwhile.
    let upsert = format!(
        "WITH {taken}, updated AS (UPDATE {table} SET {} FROM taken WHERE {clerk} = $1 AND NOT taken.in_use RETURNING 1), \
         inserted AS ({insert} AND NOT EXISTS (SELECT 1 FROM updated) RETURNING 1) \
         SELECT taken.in_use, EXISTS (SELECT 1 FROM inserted) FROM taken",
        set_list.join(", ")
    );

    let (delete, live) = match target.delete_mode {
        DeleteMode::Delete => (format!("DELETE FROM {table} WHERE {clerk} = $1"), String::new()),
        DeleteMode::Soft => {
            let name = target.deleted_at.as_ref().ok_or(TargetError::SoftDeleteWithoutColumn)?;
            let info = lookup(name, "column.deleted_at")?;
            let (value, live) = match info.kind {
                ColumnKind::Boolean => ("true".to_owned(), "IS NOT TRUE"),
                ref kind => (time_expr(name, kind, "$2")?, "IS NULL"),
            };
            let column = quote_ident(name);
            (format!("UPDATE {table} SET {column} = {value} WHERE {clerk} = $1"), format!(" AND t.{column} {live}"))
        }
    };
    let unlisted = unlisted_sql(&table, &clerk, &live);

    let batch = batch_statements(target, &table, &clerk, mapping(target, &lookup, &|n| format!("u.a{n}"), None)?);

    let id = target.id.as_deref().map_or_else(|| clerk.clone(), quote_ident);
    let row_id = format!("SELECT {id}::pg_catalog.text FROM {table} WHERE {clerk} = $1 LIMIT 1");

    Ok(TargetStatements {
        insert_new,
        upsert,
        delete,
        row_id,
        unlisted,
        batch,
        email_required,
        usernames: match (&target.username, username_unique) {
            (None, _) => Usernames::Unmapped,
            (Some(_), false) => Usernames::Claimed,
            (Some(_), true) => Usernames::UniqueInTarget,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn col(kind: ColumnKind) -> Option<ColumnInfo> {
        Some(ColumnInfo { kind, not_null: false, has_default: false, generated: false, unique: false })
    }

    /// The seed's Prisma table: text columns, timestamp(3) times, no defaults on id/updatedAt.
    fn prisma(name: &str) -> Option<ColumnInfo> {
        match name {
            "id" | "clerkUserId" | "username" => Some(ColumnInfo {
                kind: ColumnKind::Text,
                not_null: false,
                has_default: false,
                generated: false,
                unique: true,
            }),
            "firstName" | "lastName" | "photoUrl" | "phoneNumber" => col(ColumnKind::Text),
            "email" => Some(ColumnInfo {
                kind: ColumnKind::Text,
                not_null: true,
                has_default: false,
                generated: false,
                unique: true,
            }),
            "createdAt" => Some(ColumnInfo {
                kind: ColumnKind::Timestamp,
                not_null: true,
                has_default: true,
                generated: false,
                unique: false,
            }),
            "updatedAt" => Some(ColumnInfo {
                kind: ColumnKind::Timestamp,
                not_null: true,
                has_default: false,
                generated: false,
                unique: false,
            }),
            _ => None,
        }
    }

    #[test]
    fn the_default_target_is_the_prisma_user_table() {
        let s = build(&Settings::default().target, prisma).unwrap();
        assert!(s.upsert.starts_with("WITH taken AS (SELECT EXISTS (SELECT 1 FROM \"public\".\"User\" WHERE \"username\" = $3 AND \"clerkUserId\" IS DISTINCT FROM $1) AS in_use), updated AS (UPDATE \"public\".\"User\" SET \"clerkUserId\" = $1, \"email\" = $2, \"username\" = $3"), "{}", s.upsert);
        assert!(
            s.upsert.contains(" FROM taken WHERE \"clerkUserId\" = $1 AND NOT taken.in_use RETURNING 1)"),
            "{}",
            s.upsert
        );
        assert!(s.upsert.contains("\"updatedAt\" = (('epoch'::pg_catalog.timestamptz + $9 * '1 millisecond'::pg_catalog.interval) AT TIME ZONE 'UTC')"), "{}", s.upsert);
        assert!(s.upsert.contains("\"id\") SELECT $1, $2, $3"), "{}", s.upsert);
        assert!(
            s.upsert.contains(", $10 FROM taken WHERE NOT taken.in_use AND NOT EXISTS (SELECT 1 FROM updated)"),
            "{}",
            s.upsert
        );
        assert!(s.delete.starts_with("DELETE FROM \"public\".\"User\" WHERE \"clerkUserId\" = $1"));
        let plain = "INSERT INTO \"public\".\"User\" (\"clerkUserId\", \"email\", \"username\", \"firstName\", \"lastName\", \"photoUrl\", \"phoneNumber\", \"createdAt\", \"updatedAt\", \"id\") \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, (('epoch'::pg_catalog.timestamptz + $8 * '1 millisecond'::pg_catalog.interval) AT TIME ZONE 'UTC'), \
                 (('epoch'::pg_catalog.timestamptz + $9 * '1 millisecond'::pg_catalog.interval) AT TIME ZONE 'UTC'), $10)";
        assert_eq!(
            s.insert_new,
            InsertNew::OnConflictDoNothing {
                on_conflict: format!("{plain} ON CONFLICT DO NOTHING RETURNING 1"),
                plain: plain.into()
            },
            "the table's unique indexes on the Clerk id and the username guard the plain insert"
        );
        assert_eq!(s.usernames, Usernames::UniqueInTarget);
        assert!(s.email_required);
        let InsertNew::OnConflictDoNothing { on_conflict, plain } = &s.insert_new else { unreachable!() };
        for sql in [on_conflict, plain, &s.upsert, &s.delete] {
            assert!(!sql.contains("clerk_sync."), "the app's statements touch nothing of clerk_sync's: {sql}");
        }
    }

    #[test]
    fn a_batch_writes_the_same_columns_from_unnested_arrays() {
        let s = build(&Settings::default().target, prisma).unwrap();
        let b = &s.batch;
        assert_eq!(
            b.rows_of,
            "SELECT r.c, r.n FROM ROWS FROM (pg_catalog.unnest($1)) AS k (v) CROSS JOIN LATERAL \
             (SELECT t.\"clerkUserId\", t.\"username\" FROM \"public\".\"User\" AS t WHERE t.\"clerkUserId\" = k.v OFFSET 0) AS r (c, n) \
             UNION ALL SELECT r.c, r.n FROM ROWS FROM (pg_catalog.unnest($2)) AS k (v) CROSS JOIN LATERAL \
             (SELECT t.\"clerkUserId\", t.\"username\" FROM \"public\".\"User\" AS t WHERE t.\"username\" = k.v OFFSET 0) AS r (c, n)"
        );
        assert!(
            b.insert.starts_with("INSERT INTO \"public\".\"User\" (\"clerkUserId\", \"email\", \"username\""),
            "{}",
            b.insert
        );
        assert!(b.insert.contains("SELECT u.a1, u.a2, u.a3, u.a4"), "{}", b.insert);
        assert!(
            b.insert.contains(
                "(('epoch'::pg_catalog.timestamptz + u.a9 * '1 millisecond'::pg_catalog.interval) AT TIME ZONE 'UTC')"
            ),
            "{}",
            b.insert
        );
        assert!(b.insert.ends_with("pg_catalog.gen_random_uuid()::pg_catalog.text FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9)) AS u (a1, a2, a3, a4, a5, a6, a7, a8, a9)"), "{}", b.insert);
        assert!(
            b.update.starts_with(
                "UPDATE \"public\".\"User\" SET \"clerkUserId\" = u.a1, \"email\" = u.a2, \"username\" = u.a3"
            ),
            "{}",
            b.update
        );
        assert!(b.update.ends_with(" WHERE \"public\".\"User\".\"clerkUserId\" = u.a1"), "{}", b.update);
        assert!(!b.update.contains("\"id\""), "an update keeps the row's id");
        assert_eq!(b.delete.as_deref(), Some("DELETE FROM \"public\".\"User\" WHERE \"clerkUserId\" = ANY ($1)"));
        assert_eq!(
            s.row_id,
            "SELECT \"id\"::pg_catalog.text FROM \"public\".\"User\" WHERE \"clerkUserId\" = $1 LIMIT 1"
        );
        assert_eq!(
            s.unlisted,
            "SELECT t.\"clerkUserId\" FROM \"public\".\"User\" AS t WHERE t.\"clerkUserId\" IS NOT NULL \
             AND NOT EXISTS (SELECT FROM pg_catalog.unnest($1::pg_catalog.text[]) AS l (id) WHERE l.id = t.\"clerkUserId\") ORDER BY 1"
        );
        for sql in [&b.rows_of, &b.insert, &b.update, &s.unlisted] {
            assert!(!sql.contains("clerk_sync"), "touches nothing of clerk_sync's: {sql}");
        }
    }

    #[test]
    fn without_unique_indexes_the_insert_checks_first() {
        let plain = |name: &str| prisma(name).map(|info| ColumnInfo { unique: false, ..info });
        let s = build(&Settings::default().target, plain).unwrap();
        let InsertNew::Checked(sql) = &s.insert_new else { panic!("{:?}", s.insert_new) };
        assert!(sql.contains("inserted AS (INSERT INTO \"public\".\"User\" (\"clerkUserId\", \"email\""), "{sql}");
        assert!(sql.ends_with("AND NOT EXISTS (SELECT 1 FROM \"public\".\"User\" WHERE \"clerkUserId\" = $1) RETURNING 1) SELECT taken.in_use, EXISTS (SELECT 1 FROM inserted) FROM taken"), "{sql}");
        assert_eq!(s.usernames, Usernames::Claimed);
        let unique_clerk_only =
            |name: &str| prisma(name).map(|info| ColumnInfo { unique: name == "clerkUserId", ..info });
        let s = build(&Settings::default().target, unique_clerk_only).unwrap();
        assert!(matches!(s.insert_new, InsertNew::Checked(_)), "a username index is needed too");
    }

    #[test]
    fn hostile_identifiers_stay_inside_their_quotes() {
        let mut target = Settings::default().target;
        target.table = "User\"; DROP TABLE x; --".into();
        target.email = Some("e\"mail".into());
        let s = build(&target, |name| if name == "e\"mail" { col(ColumnKind::Text) } else { prisma(name) }).unwrap();
        assert!(s.upsert.contains("updated AS (UPDATE \"public\".\"User\"\"; DROP TABLE x; --\" SET"), "{}", s.upsert);
        assert!(s.upsert.contains("\"e\"\"mail\" = $2"));
    }

    #[test]
    fn optional_columns_can_be_left_out_and_ids_with_defaults_are_not_written() {
        let mut target = Settings::default().target;
        target.schema = "app".into();
        target.table = "users".into();
        target.clerk_user_id = "clerk_id".into();
        target.id = Some("id".into());
        target.email = Some("email".into());
        target.username = None;
        target.first_name = None;
        target.last_name = None;
        target.photo_url = None;
        target.phone_number = None;
        target.created_at = None;
        target.updated_at = Some("updated_at".into());
        let s = build(&target, |name| match name {
            "id" => Some(ColumnInfo {
                kind: ColumnKind::BigInteger,
                not_null: true,
                has_default: true,
                generated: false,
                unique: true,
            }),
            "clerk_id" | "email" => col(ColumnKind::Text),
            "updated_at" => col(ColumnKind::TimestampTz),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            s.upsert,
            "WITH taken AS (SELECT false AS in_use), \
             updated AS (UPDATE \"app\".\"users\" SET \"clerk_id\" = $1, \"email\" = $2, \"updated_at\" = ('epoch'::pg_catalog.timestamptz + $9 * '1 millisecond'::pg_catalog.interval) FROM taken WHERE \"clerk_id\" = $1 AND NOT taken.in_use RETURNING 1), \
             inserted AS (INSERT INTO \"app\".\"users\" (\"clerk_id\", \"email\", \"updated_at\") SELECT $1, $2, ('epoch'::pg_catalog.timestamptz + $9 * '1 millisecond'::pg_catalog.interval) FROM taken WHERE NOT taken.in_use AND NOT EXISTS (SELECT 1 FROM updated) RETURNING 1) \
             SELECT taken.in_use, EXISTS (SELECT 1 FROM inserted) FROM taken"
        );
        assert!(!s.email_required);
        assert_eq!(s.usernames, Usernames::Unmapped);
    }

    #[test]
    fn soft_delete_marks_the_configured_column() {
        let mut target = Settings::default().target;
        target.delete_mode = DeleteMode::Soft;
        assert_eq!(build(&target, prisma), Err(TargetError::SoftDeleteWithoutColumn));
        target.deleted_at = Some("deletedAt".into());
        let with =
            |kind: ColumnKind| move |name: &str| if name == "deletedAt" { col(kind.clone()) } else { prisma(name) };
        let s = build(&target, with(ColumnKind::Timestamp)).unwrap();
        assert!(
            s.delete.starts_with("UPDATE \"public\".\"User\" SET \"deletedAt\" = ((") && s.delete.contains("$2"),
            "{}",
            s.delete
        );
        assert!(s.unlisted.contains("IS NOT NULL AND t.\"deletedAt\" IS NULL AND NOT EXISTS"), "{}", s.unlisted);
        let s = build(&target, with(ColumnKind::Boolean)).unwrap();
        assert_eq!(s.delete, "UPDATE \"public\".\"User\" SET \"deletedAt\" = true WHERE \"clerkUserId\" = $1");
        assert!(s.unlisted.contains("AND t.\"deletedAt\" IS NOT TRUE AND"), "soft-deleted rows are gone already");
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let target = Settings::default().target;
        assert!(matches!(build(&target, |_| None), Err(TargetError::NoColumn { setting: "column.clerk_user_id", .. })));
        let no_phone = |name: &str| if name == "phoneNumber" { None } else { prisma(name) };
        assert!(matches!(build(&target, no_phone), Err(TargetError::NoColumn { setting: "column.phone_number", .. })));
        let int_id = |name: &str| if name == "id" { col(ColumnKind::Other("int4".into())) } else { prisma(name) };
        assert!(matches!(build(&target, int_id), Err(TargetError::WrongType { .. })));
        let int_time =
            |name: &str| if name == "updatedAt" { col(ColumnKind::Other("int4".into())) } else { prisma(name) };
        assert!(matches!(build(&target, int_time), Err(TargetError::WrongType { .. })));
        let uuid_email = |name: &str| if name == "email" { col(ColumnKind::Uuid) } else { prisma(name) };
        assert!(matches!(build(&target, uuid_email), Err(TargetError::WrongType { .. })));
        let generated = |name: &str| {
            if name == "firstName" {
                Some(ColumnInfo {
                    kind: ColumnKind::Text,
                    not_null: false,
                    has_default: true,
                    generated: true,
                    unique: false,
                })
            } else {
                prisma(name)
            }
        };
        assert_eq!(build(&target, generated), Err(TargetError::Generated("firstName".into())));
    }

    #[test]
    fn kinds_from_the_catalog() {
        assert_eq!(ColumnKind::from_catalog("varchar", "S"), ColumnKind::Text);
        assert_eq!(ColumnKind::from_catalog("citext", "S"), ColumnKind::Text);
        assert_eq!(ColumnKind::from_catalog("timestamp", "D"), ColumnKind::Timestamp);
        assert_eq!(ColumnKind::from_catalog("int8", "N"), ColumnKind::BigInteger);
        assert_eq!(ColumnKind::from_catalog("int4", "N"), ColumnKind::Other("int4".into()));
    }
}
