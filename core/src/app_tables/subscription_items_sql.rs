//! The SQL that writes the subscription items table (Clerk Billing), built once per
//! configuration from its column types, and the look-up `active_plans` reads.
//!
//! Parameters of `upsert`: $1 Clerk item id, $2 subscription id, $3 paying user's Clerk id, $4
//! paying organization's Clerk id, $5 plan id, $6 plan slug, $7 status (text), $8 free trial
//! (boolean), $9 period start, $10 period end, $11 canceled at, $12 created at, $13 updated at
//! (Unix ms, bigint).

use crate::app_tables::ident::quote_ident;
use crate::app_tables::organizations_sql::{row_assignments, upsert_sql, Holds, Mapped};
use crate::app_tables::users_sql::{checked, table_name, text_expr, time_expr, ColumnInfo, ColumnKind, TargetError};
use crate::settings::SubscriptionItemTarget;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionItemStatements {
    /// Updates the row in place, else inserts it; a row when it inserted.
    pub upsert: String,
    /// The (plan slug, status, period end as Unix ms) of every item paid by $1 (a user's or an
    /// organization's Clerk id); None when the table maps no plan slug, status or payer column.
    pub items_of_payer: Option<String>,
}

pub fn subscription_item_statements<F>(
    target: &SubscriptionItemTarget,
    column: F,
) -> Result<SubscriptionItemStatements, TargetError>
where
    F: Fn(&str) -> Option<ColumnInfo> + 'static,
{
    let table = table_name(&target.schema, &target.table);
    let lookup = checked(&table, column);
    let clerk = quote_ident(&target.clerk_item_id);
    let clerk_info = lookup(&target.clerk_item_id, "subscription_item.column.clerk_item_id")?;
    text_expr(&target.clerk_item_id, &clerk_info.kind, "$1")?;
    let mapped: &Mapped<'_> = &[
        (&target.clerk_subscription_id, "subscription_item.column.clerk_subscription_id", "$2", Holds::Text),
        (&target.payer_user_id, "subscription_item.column.payer_user_id", "$3", Holds::Text),
        (&target.payer_organization_id, "subscription_item.column.payer_organization_id", "$4", Holds::Text),
        (&target.plan_id, "subscription_item.column.plan_id", "$5", Holds::Text),
        (&target.plan_slug, "subscription_item.column.plan_slug", "$6", Holds::Text),
        (&target.status, "subscription_item.column.status", "$7", Holds::Text),
        (&target.is_free_trial, "subscription_item.column.is_free_trial", "$8", Holds::Boolean),
        (&target.period_start, "subscription_item.column.period_start", "$9", Holds::Time),
        (&target.period_end, "subscription_item.column.period_end", "$10", Holds::Time),
        (&target.canceled_at, "subscription_item.column.canceled_at", "$11", Holds::Time),
        (&target.created_at, "subscription_item.column.created_at", "$12", Holds::Time),
        (&target.updated_at, "subscription_item.column.updated_at", "$13", Holds::Time),
    ];
    let row = row_assignments(&clerk, mapped, (&target.id, "subscription_item.column.id"), &lookup)?;
    let items_of_payer = match (&target.plan_slug, &target.status, &target.payer_user_id, &target.payer_organization_id)
    {
        (Some(slug), Some(status), user, organization) if user.is_some() || organization.is_some() => {
            let period_end = match &target.period_end {
                Some(end) => {
                    let info = lookup(end, "subscription_item.column.period_end")?;
                    time_as_ms(&quote_ident(end), &info.kind, end)?
                }
                None => "NULL::pg_catalog.int8".to_owned(),
            };
            let payers: Vec<String> =
                [user, organization].into_iter().flatten().map(|c| format!("{} = $1", quote_ident(c))).collect();
            Some(format!(
                "SELECT {}::pg_catalog.text, {}::pg_catalog.text, {period_end} FROM {table} WHERE {}",
                quote_ident(slug),
                quote_ident(status),
                payers.join(" OR ")
            ))
        }
        _ => None,
    };
    Ok(SubscriptionItemStatements { upsert: upsert_sql(&table, &clerk, &row), items_of_payer })
}

/// A time column read back as Unix milliseconds (bigint): the inverse of `time_expr`, which
/// also names a column of a kind no time is written to.
fn time_as_ms(column: &str, kind: &ColumnKind, name: &str) -> Result<String, TargetError> {
    time_expr(name, kind, "0")?;
    Ok(match kind {
        ColumnKind::BigInteger => format!("{column}::pg_catalog.int8"),
        ColumnKind::Timestamp => {
            format!("(pg_catalog.date_part('epoch', {column} AT TIME ZONE 'UTC') * 1000)::pg_catalog.int8")
        }
        // timestamptz, date, or text as `time_expr` writes it
        _ => format!("(pg_catalog.date_part('epoch', {column}::pg_catalog.timestamptz) * 1000)::pg_catalog.int8"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn col(kind: ColumnKind) -> Option<ColumnInfo> {
        Some(ColumnInfo { kind, not_null: false, has_default: false, generated: false, unique: false })
    }

    /// The columns `prisma migrate` makes of the README's SubscriptionItem model.
    fn prisma(name: &str) -> Option<ColumnInfo> {
        match name {
            "periodStart" | "periodEnd" | "canceledAt" | "createdAt" | "updatedAt" => col(ColumnKind::Timestamp),
            "isFreeTrial" => col(ColumnKind::Boolean),
            "id"
            | "clerkItemId"
            | "clerkSubscriptionId"
            | "payerUserId"
            | "payerOrganizationId"
            | "planId"
            | "planSlug"
            | "status" => col(ColumnKind::Text),
            _ => None,
        }
    }

    #[test]
    fn an_item_is_upserted_by_its_clerk_id_and_read_back_by_payer() {
        let s = subscription_item_statements(&Settings::default().subscription_items, prisma).unwrap();
        assert!(
            s.upsert.starts_with(
                "WITH updated AS (UPDATE \"public\".\"SubscriptionItem\" SET \"clerkItemId\" = $1, \
                 \"clerkSubscriptionId\" = $2, \"payerUserId\" = $3, \"payerOrganizationId\" = $4, \"planId\" = $5, \
                 \"planSlug\" = $6, \"status\" = $7, \"isFreeTrial\" = $8, \"periodStart\" = ((\'epoch\'"
            ),
            "{}",
            s.upsert
        );
        assert!(s.upsert.contains("WHERE \"clerkItemId\" = $1 RETURNING 1)"), "{}", s.upsert);
        assert!(s.upsert.ends_with(
            "pg_catalog.gen_random_uuid()::pg_catalog.text WHERE NOT EXISTS (SELECT FROM updated) RETURNING 1"
        ));
        assert_eq!(
            s.items_of_payer.as_deref(),
            Some(
                "SELECT \"planSlug\"::pg_catalog.text, \"status\"::pg_catalog.text, \
                 (pg_catalog.date_part('epoch', \"periodEnd\" AT TIME ZONE 'UTC') * 1000)::pg_catalog.int8 \
                 FROM \"public\".\"SubscriptionItem\" WHERE \"payerUserId\" = $1 OR \"payerOrganizationId\" = $1"
            )
        );
    }

    #[test]
    fn mistakes_are_named_and_unmapped_columns_left_out() {
        let mut target = Settings::default().subscription_items;
        target.is_free_trial = Some("planSlug".into());
        assert!(matches!(
            subscription_item_statements(&target, prisma),
            Err(TargetError::WrongType { wanted: "boolean", .. })
        ));
        let mut target = Settings::default().subscription_items;
        target.status = None;
        target.period_end = None;
        let s = subscription_item_statements(&target, prisma).unwrap();
        assert!(!s.upsert.contains("\"status\"") && !s.upsert.contains("periodEnd"));
        assert_eq!(s.items_of_payer, None, "no status, no entitlement");
        target.clerk_item_id = "nope".into();
        assert!(matches!(subscription_item_statements(&target, prisma), Err(TargetError::NoColumn { .. })));
    }
}
