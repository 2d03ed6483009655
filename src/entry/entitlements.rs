//! `active_plans(payer_id)`: which plans a user or organization is entitled to now, from the
//! subscription items table, by Clerk's rule (`clerk_sync_core::event::billing::entitles`).

use clerk_sync_core::event::billing::entitles;
use pgrx::prelude::*;

use crate::app_tables::subscription_items;
use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;
use crate::postgres::unix_time;

/// The slugs of the plans whose items entitle the user or organization `payer_id` (a Clerk id)
/// at the start of the transaction, sorted; an empty array for a payer with none, NULL for a
/// NULL id. Read with the caller's rights: a policy or a job needs `SELECT` on the table.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn active_plans(payer_id: Option<&str>) -> Option<Vec<String>> {
    let payer = payer_id?;
    let settings = config_cache::settings().or_report();
    let target = &settings.subscription_items;
    let plan = subscription_items::plan(target)
        .and_then(|plan| {
            plan.ok_or_else(|| {
                clerk_sync_core::app_tables::users_sql::TargetError::NoTable(format!(
                    "{}.{}",
                    target.schema, target.table
                ))
                .into()
            })
        })
        .or_report();
    let items = plan.items_of_payer(payer).and_then(|items| items.ok_or(ClerkSyncError::NotConfigured)).or_report();
    let now_ms = unix_time::transaction_start_ms();
    let mut slugs: Vec<String> = items
        .into_iter()
        .filter(|item| item.status.as_deref().is_some_and(|status| entitles(status, item.period_end_ms, now_ms)))
        .filter_map(|item| item.plan_slug)
        .collect();
    slugs.sort_unstable();
    slugs.dedup();
    Some(slugs)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::json;

    const SUBSCRIPTION_ITEMS: &str = include_str!("../../tests/fixtures/prisma_subscription_items.sql");

    fn item_event(
        kind: &str,
        id: &str,
        payer: serde_json::Value,
        slug: &str,
        status: &str,
        at: i64,
        end: i64,
    ) -> serde_json::Value {
        json!({
            "type": kind, "object": "event", "timestamp": at,
            "data": {"id": id, "object": "commerce_subscription_item", "status": status, "payer": payer,
                     "plan_id": format!("cplan_{slug}"), "plan": {"id": format!("cplan_{slug}"), "slug": slug},
                     "subscription_id": "csub_1", "is_free_trial": false, "period_start": at - 1000,
                     "period_end": end, "canceled_at": null, "created_at": at - 1000, "updated_at": at}
        })
    }

    fn plans(payer: &str) -> Option<String> {
        text_query("SELECT array_to_string(clerk_sync.active_plans($1), ',')", &[payer])
    }

    #[pg_test]
    fn items_are_written_in_order_and_entitle_as_clerk_says() {
        prisma_b2b_schema();
        Spi::run(SUBSCRIPTION_ITEMS).unwrap();
        let now = count("SELECT (extract(epoch FROM now()) * 1000)::bigint");
        let first = ingest(
            "m1",
            &item_event(
                "subscriptionItem.active",
                "csub_item_free",
                json!({"user_id": "user_1", "organization_id": ""}),
                "free",
                "active",
                now - 50,
                0,
            ),
        );
        assert_eq!(
            first,
            "created",
            "{:?}",
            text_query("SELECT last_error FROM clerk_sync.inbox WHERE msg_id = 'm1'", &[])
        );
        let user = json!({"user_id": "user_1", "organization_id": ""});
        let org = json!({"user_id": "", "organization_id": "org_1"});
        assert_eq!(
            ingest(
                "m2",
                &item_event(
                    "subscriptionItem.active",
                    "csub_item_pro",
                    user.clone(),
                    "pro",
                    "active",
                    now - 40,
                    now + 86_400_000
                )
            ),
            "created"
        );
        assert_eq!(plans("user_1").as_deref(), Some("free,pro"));
        let canceled = item_event(
            "subscriptionItem.canceled",
            "csub_item_pro",
            user.clone(),
            "pro",
            "canceled",
            now - 30,
            now + 86_400_000,
        );
        assert_eq!(ingest("m3", &canceled), "updated");
        assert_eq!(plans("user_1").as_deref(), Some("free,pro"), "canceled keeps its features until the period ends");
        let late = item_event(
            "subscriptionItem.active",
            "csub_item_pro",
            user.clone(),
            "pro",
            "active",
            now - 35,
            now + 86_400_000,
        );
        assert_eq!(ingest("m4", &late), "stale");
        let ended_period =
            item_event("subscriptionItem.canceled", "csub_item_pro", user, "pro", "canceled", now - 20, now - 1);
        assert_eq!(ingest("m5", &ended_period), "updated");
        assert_eq!(plans("user_1").as_deref(), Some("free"), "and not after it");
        assert_eq!(
            ingest(
                "m6",
                &item_event(
                    "subscriptionItem.pastDue",
                    "csub_item_team",
                    org,
                    "team",
                    "past_due",
                    now - 10,
                    now + 1000
                )
            ),
            "created"
        );
        assert_eq!(plans("org_1").as_deref(), Some("team"));
        assert_eq!(plans("user_nobody").as_deref(), Some(""));
        assert_eq!(
            text_query("SELECT \"payerOrganizationId\" || '/' || coalesce(\"payerUserId\", 'NULL') || '/' || \"planSlug\" FROM \"SubscriptionItem\" WHERE \"clerkItemId\" = 'csub_item_team'", &[]).as_deref(),
            Some("org_1/NULL/team")
        );
        assert_eq!(ingest("m7", &json!({"type": "paymentAttempt.updated", "data": {"id": "cpa_1"}})), "ignored");
    }

    #[pg_test]
    fn a_deleted_payers_billing_payloads_are_erased_and_stay_replayable() {
        prisma_b2b_schema();
        Spi::run(SUBSCRIPTION_ITEMS).unwrap();
        keep_all_payloads();
        let payer = json!({"user_id": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "organization_id": "",
                           "first_name": "Jane", "email_address": "jane.doe@example.com"});
        let event = item_event(
            "subscriptionItem.active",
            "csub_item_1",
            payer,
            "pro",
            "active",
            1_767_225_600_000,
            1_769_904_000_000,
        );
        assert_eq!(ingest("m1", &event), "created");
        assert_eq!(ingest("m2", &crate::testing::event(DELETED)), "deleted");
        let stored = text_query("SELECT payload::text FROM clerk_sync.inbox WHERE msg_id = 'm1'", &[]).unwrap();
        assert!(!stored.contains("Jane") && !stored.contains("jane.doe"), "{stored}");
        assert!(
            stored.contains("csub_item_1")
                && stored.contains("\"pro\"")
                && stored.contains("user_2zQmA7bXkP4rLwN9sT1vC3dE5fG"),
            "{stored}"
        );
        assert_eq!(text_query("SELECT clerk_sync.replay('m1')", &[]).as_deref(), Some("stale"));
    }

    #[pg_test]
    fn an_import_of_the_backend_apis_items_and_webhooks_converge() {
        prisma_b2b_schema();
        Spi::run(SUBSCRIPTION_ITEMS).unwrap();
        let listed = |status: &str, at: i64| {
            let mut item = item_event(
                "subscriptionItem.updated",
                "csub_item_1",
                json!({"user_id": "user_1", "organization_id": ""}),
                "pro",
                status,
                at,
                4_102_444_800_000,
            )["data"]
                .clone();
            item["object"] = json!("commerce_subscription_item");
            item
        };
        let backfill = |items: serde_json::Value| {
            text_query(
                "SELECT string_agg(outcome || '=' || users, ',') FROM clerk_sync.backfill($1::jsonb)",
                &[&items.to_string()],
            )
        };
        assert_eq!(backfill(json!({"data": [listed("active", 1_767_225_600_000)]})).as_deref(), Some("created=1"));
        let newer = item_event(
            "subscriptionItem.canceled",
            "csub_item_1",
            json!({"user_id": "user_1", "organization_id": ""}),
            "pro",
            "canceled",
            1_767_225_700_000,
            4_102_444_800_000,
        );
        assert_eq!(ingest("m1", &newer), "updated", "a newer webhook wins over the import");
        assert_eq!(
            backfill(json!([listed("active", 1_767_225_650_000)])).as_deref(),
            Some("stale=1"),
            "and an older import changes nothing"
        );
        assert_eq!(text_query("SELECT status FROM \"SubscriptionItem\"", &[]).as_deref(), Some("canceled"));
        assert_eq!(
            backfill(json!([listed("ended", 1_767_225_800_000)])).as_deref(),
            Some("updated=1"),
            "a newer import wins"
        );
        assert_eq!(plans("user_1").as_deref(), Some(""));
    }

    #[pg_test]
    fn without_the_table_billing_events_are_kept_and_ignored() {
        prisma_schema();
        let odd = json!({"type": "subscriptionItem.active", "timestamp": 1, "data": {"id": "csub_item_1"}});
        assert_eq!(ingest("m1", &odd), "ignored");
        assert_eq!(sqlstate_of("SELECT clerk_sync.active_plans('user_1')").as_deref(), Some("55000"));
    }
}
