//! For whoever runs it: `status()`, one document that says whether it is working, and
//! `doctor()`, one row per problem with its fix (the findings are decided in
//! `clerk_sync_core::doctor` from the facts read here). Both read only; both run as the
//! extension's owner, so that a monitoring role needs nothing but `EXECUTE` on them.

use std::rc::Rc;

use clerk_sync_core::doctor::{self, Facts, ObjectTable, TableFacts};
use clerk_sync_core::settings::DeleteMode;
use pgrx::prelude::*;
use serde_json::{json, Map, Value};

use crate::app_tables::{catalog, memberships, organizations, subscription_items, users};
use crate::error::{ClerkSyncError, OrReport};
use crate::own_tables::config_cache;
use crate::postgres::{schema_guard, subtransaction};

/// The first column of the first row; None for NULL or no row.
fn one_row<T: pgrx::FromDatum + pgrx::IntoDatum>(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> Result<Option<T>, ClerkSyncError> {
    Ok(Spi::connect(|client| {
        let rows = client.select(sql, Some(1), args)?;
        if rows.is_empty() {
            return Ok(None);
        }
        rows.first().get_one::<T>()
    })?)
}

/// The users table's facts, or None when it does not exist.
fn table_facts(settings: &clerk_sync_core::Settings) -> Result<Option<TableFacts>, ClerkSyncError> {
    let Some((relid, owner)) = catalog::find(&settings.target.schema, &settings.target.table)? else {
        return Ok(None);
    };
    let mut needed = vec!["SELECT", "INSERT", "UPDATE"];
    if settings.target.delete_mode == DeleteMode::Delete {
        needed.push("DELETE");
    }
    let owner_lacks: Vec<&'static str> = needed
        .into_iter()
        .filter(|privilege| {
            let has = one_row::<bool>(
                "SELECT pg_catalog.has_table_privilege($1, $2, $3)",
                &[owner.into(), relid.into(), (*privilege).into()],
            );
            !matches!(has, Ok(Some(true)))
        })
        .collect();
    Ok(Some(TableFacts {
        columns: catalog::columns(relid)?,
        owner: one_row::<String>("SELECT pg_catalog.pg_get_userbyid($1)::text", &[owner.into()])?.unwrap_or_default(),
        owner_lacks,
        deferrable_trigger: catalog::deferrable_trigger(relid)?,
    }))
}

/// Whether a table's plan builds: Ok(false) when the table does not exist, Err(what is wrong)
/// when its mapping, or a table it refers to, is wrong. Built in a subtransaction: an error
/// PostgreSQL raises while preparing (a users table the memberships refer to is missing, say) is
/// reported, not raised.
fn plan_problem(build: impl FnOnce() -> Result<bool, ClerkSyncError>) -> Result<bool, String> {
    match subtransaction::attempt(build) {
        Ok(Ok(exists)) => Ok(exists),
        Ok(Err(ClerkSyncError::Target(mapping))) => Err(mapping.to_string()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(failure) => Err(failure.message),
    }
}

/// The organizations, memberships and subscription items tables the app has, each with what is
/// wrong with its mapping.
fn object_tables(settings: &clerk_sync_core::Settings) -> Vec<ObjectTable> {
    let (organizations, memberships) = (&settings.organizations, &settings.memberships);
    let items = &settings.subscription_items;
    let tables = [
        (
            "organization",
            &organizations.schema,
            &organizations.table,
            plan_problem(|| Ok(organizations::plan(organizations)?.is_some())),
        ),
        (
            "membership",
            &memberships.schema,
            &memberships.table,
            plan_problem(|| Ok(memberships::plan(settings)?.is_some())),
        ),
        (
            "subscription_item",
            &items.schema,
            &items.table,
            plan_problem(|| Ok(subscription_items::plan(items)?.is_some())),
        ),
    ];
    let mut found = Vec::new();
    for (object, schema, table, plan) in tables {
        let problem = match plan {
            Ok(false) => continue,
            Ok(true) => None,
            Err(problem) => Some(problem),
        };
        found.push(ObjectTable { object, table: format!("{schema}.{table}"), problem });
    }
    found
}

fn facts() -> Result<(Rc<clerk_sync_core::Settings>, Facts), ClerkSyncError> {
    let settings = config_cache::settings()?;
    let secrets = one_row::<i64>("SELECT count(*) FROM clerk_sync.secret", &[])?.unwrap_or(0);
    let failed = Spi::connect(|client| {
        client
            .select(
                "SELECT count(*), extract(epoch FROM pg_catalog.now() - min(received_at))::bigint \
                 FROM clerk_sync.inbox WHERE outcome = 'failed'",
                Some(1),
                &[],
            )?
            .first()
            .get_two::<i64, i64>()
    })?;
    // Deliveries arrive after their events; a median the other way round is this clock lagging.
    let clock_behind_s = one_row::<f64>(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM event_at - received_at)::float8) \
         FROM (SELECT event_at, received_at FROM clerk_sync.inbox \
               WHERE event_at IS NOT NULL AND attempts = 1 ORDER BY received_at DESC LIMIT 200) recent \
         HAVING count(*) >= 10",
        &[],
    )?;
    let facts = Facts {
        secrets: secrets as usize,
        table: table_facts(&settings)?,
        object_tables: object_tables(&settings),
        failed: failed.0.unwrap_or(0),
        oldest_failed_age_s: failed.1,
        clock_behind_s,
    };
    Ok((settings, facts))
}

/// One row per problem found, errors first: what is wrong and the statement or setting that
/// fixes it. Nothing when all is well.
#[pg_extern(stable, parallel_safe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn doctor() -> TableIterator<'static, (name!(severity, String), name!(problem, String), name!(fix, String))> {
    let findings = match schema_guard::verify() {
        Err(ClerkSyncError::UntrustedSchema(problem)) => vec![doctor::untrusted_schema(&problem)],
        verified => {
            verified.or_report();
            let (settings, facts) = facts().or_report();
            doctor::findings(&settings.target, &facts)
        }
    };
    let rows: Vec<_> = findings.into_iter().map(|f| (f.severity.word().to_owned(), f.problem, f.fix)).collect();
    TableIterator::new(rows)
}

/// Delivery counts by outcome.
type ByOutcome = Map<String, Value>;

/// Deliveries by outcome received in the last hour and in the last day, read in one pass over
/// the day's.
fn recent_outcomes() -> Result<(ByOutcome, ByOutcome), ClerkSyncError> {
    Ok(Spi::connect(|client| {
        let mut last_hour = Map::new();
        let mut last_day = Map::new();
        let rows = client.select(
            "SELECT outcome, count(*) FILTER (WHERE received_at > pg_catalog.now() - '1 hour'::pg_catalog.interval), \
                    count(*) \
             FROM clerk_sync.inbox WHERE received_at > pg_catalog.now() - '1 day'::pg_catalog.interval \
             GROUP BY outcome ORDER BY outcome",
            None,
            &[],
        )?;
        for row in rows {
            let outcome = row.get::<String>(1)?.unwrap_or_default();
            let hour = row.get::<i64>(2)?.unwrap_or(0);
            if hour > 0 {
                last_hour.insert(outcome.clone(), json!(hour));
            }
            last_day.insert(outcome, json!(row.get::<i64>(3)?.unwrap_or(0)));
        }
        Ok::<_, pgrx::spi::Error>((last_hour, last_day))
    })?)
}

fn status_document() -> Result<Value, ClerkSyncError> {
    let settings = config_cache::settings()?;
    let version =
        one_row::<String>("SELECT extversion::text FROM pg_catalog.pg_extension WHERE extname = 'clerk_sync'", &[])?;
    let fingerprints: Vec<String> = Spi::connect(|client| {
        client
            .select("SELECT fingerprint FROM clerk_sync.secret ORDER BY added_at, fingerprint", None, &[])?
            .map(|row| row.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<Result<_, pgrx::spi::Error>>()
    })?;
    let target = &settings.target;
    let problem = plan_problem(|| users::plan(target).map(|_| true)).err();
    let mut targets = vec![json!({
        "object": "user",
        "table": format!("{}.{}", target.schema, target.table),
        "valid": problem.is_none(),
        "problem": problem,
    })];
    targets.extend(
        object_tables(&settings)
            .into_iter()
            .map(|t| json!({"object": t.object, "table": t.table, "valid": t.problem.is_none(), "problem": t.problem})),
    );
    let (failed, oldest_failed, oldest_failed_age_s) = Spi::connect(|client| {
        let row = client
            .select(
                "SELECT count(*), min(received_at)::text, \
                        extract(epoch FROM pg_catalog.now() - min(received_at))::bigint \
                 FROM clerk_sync.inbox WHERE outcome = 'failed'",
                Some(1),
                &[],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>((row.get::<i64>(1)?, row.get::<String>(2)?, row.get::<i64>(3)?))
    })?;
    let last_received = one_row::<String>("SELECT max(received_at)::text FROM clerk_sync.inbox", &[])?;
    let (last_hour, last_day) = recent_outcomes()?;
    let count = |outcome: &str| last_day.get(outcome).cloned().unwrap_or(json!(0));
    Ok(json!({
        "version": version,
        "secrets": {"count": fingerprints.len(), "fingerprints": fingerprints},
        "targets": targets,
        "deliveries": {"last_hour": last_hour, "last_day": last_day.clone()},
        "failed": {
            "count": failed.unwrap_or(0),
            "oldest_received_at": oldest_failed,
            "oldest_age_s": oldest_failed_age_s,
        },
        "last_received_at": last_received,
        "foreign_last_day": count("foreign"),
        "ignored_last_day": count("ignored"),
    }))
}

/// Is it working? The version; the secrets (how many, their fingerprints — never a secret); the
/// users table and whether its mapping is valid; deliveries by outcome in the last hour and day;
/// failed deliveries and the oldest one's time and age; the last delivery received.
#[pg_extern(stable, parallel_safe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn status() -> pgrx::JsonB {
    if let Err(ClerkSyncError::UntrustedSchema(problem)) = schema_guard::verify() {
        return pgrx::JsonB(json!({"trusted_schema": false, "problem": problem}));
    }
    pgrx::JsonB(status_document().or_report())
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testing::*;
    use pgrx::prelude::*;
    use serde_json::Value;

    fn findings() -> Vec<String> {
        Spi::connect(|client| {
            client
                .select("SELECT severity || ': ' || problem || ' | ' || fix FROM clerk_sync.doctor()", None, &[])?
                .map(|row| row.get::<String>(1).map(Option::unwrap_or_default))
                .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap()
    }

    /// The status document's targets, each as `format` makes it.
    fn status_targets(format: impl Fn(&Value) -> String) -> Vec<String> {
        let status: Value =
            serde_json::from_str(&text_query("SELECT clerk_sync.status()::text", &[]).unwrap()).unwrap();
        status["targets"].as_array().unwrap().iter().map(format).collect()
    }

    fn healthy() {
        prisma_schema();
        text_query("SELECT clerk_sync.add_secret($1)", &[TEST_SECRET]);
    }

    /// Runs `provoke`, expects one finding starting with `expected` (and containing `fix`), then
    /// undoes `provoke` and expects no finding.
    fn found_after(provoke: &str, expected: &str, fix: &str) {
        Spi::run(provoke).unwrap();
        let found = findings();
        assert_eq!(found.len(), 1, "{provoke}: {found:?}");
        assert!(found[0].starts_with(expected) && found[0].contains(fix), "{provoke}: {found:?}");
        Spi::run(&format!("DO $$ BEGIN {} END $$", undo(provoke))).unwrap();
        assert_eq!(findings(), Vec::<String>::new(), "healthy again after undoing {provoke}");
    }

    fn undo(provoke: &str) -> &'static str {
        match provoke {
            p if p.contains("Nobody") => "PERFORM clerk_sync.reset_setting('target_table');",
            p if p.contains("DROP COLUMN") => "ALTER TABLE \"User\" ADD COLUMN \"photoUrl\" text;",
            p if p.contains("User_clerkUserId_key") => {
                "CREATE UNIQUE INDEX \"User_clerkUserId_key\" ON \"User\" (\"clerkUserId\");"
            }
            p if p.contains("tenantId") => "ALTER TABLE \"User\" DROP COLUMN \"tenantId\";",
            p if p.contains("User_username_key") => "CREATE UNIQUE INDEX \"User_username_key\" ON \"User\" (username);",
            p if p.contains("REVOKE") => "GRANT INSERT ON \"User\" TO clerk_doctor_app;",
            p if p.contains("DEFERRABLE") => "DROP TRIGGER audit ON \"User\";",
            p if p.contains("clerk_sync.inbox") => "DELETE FROM clerk_sync.inbox;",
            _ => unreachable!("{provoke}"),
        }
    }

    #[pg_test]
    fn the_doctor_finds_each_problem_and_nothing_in_a_healthy_set_up() {
        prisma_schema();
        let found = findings();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("error: no signing secret") && found[0].contains("clerk_sync.add_secret("));
        text_query("SELECT clerk_sync.add_secret($1)", &[TEST_SECRET]);
        assert_eq!(findings(), Vec::<String>::new(), "healthy");

        found_after(
            "SELECT clerk_sync.set_setting('target_table', 'Nobody')",
            "error: the users table \"public\".\"Nobody\" does not exist",
            "target_table",
        );
        found_after(
            "ALTER TABLE \"User\" DROP COLUMN \"photoUrl\"",
            "error: column photoUrl (setting column.photo_url) does not exist",
            "'column.photo_url'",
        );
        found_after(
            "DROP INDEX \"User_clerkUserId_key\"",
            "warning: \"public\".\"User\" has no unique index on \"clerkUserId\"",
            "CREATE UNIQUE INDEX",
        );
        found_after(
            "ALTER TABLE \"User\" ADD COLUMN \"tenantId\" text NOT NULL",
            "error: column \"tenantId\"",
            "SET DEFAULT",
        );
        found_after(
            "DROP INDEX \"User_username_key\"",
            "notice: \"public\".\"User\" has no unique index on \"username\"",
            "CREATE UNIQUE INDEX",
        );
        Spi::run("CREATE ROLE clerk_doctor_app; ALTER TABLE \"User\" OWNER TO clerk_doctor_app").unwrap();
        found_after(
            "REVOKE INSERT ON \"User\" FROM clerk_doctor_app",
            "error: the owner of \"public\".\"User\", \"clerk_doctor_app\", lacks INSERT",
            "GRANT INSERT ON \"public\".\"User\" TO \"clerk_doctor_app\";",
        );
        found_after(
            "CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'; \
             CREATE CONSTRAINT TRIGGER audit AFTER INSERT ON \"User\" DEFERRABLE FOR EACH ROW EXECUTE FUNCTION pg_temp.noop()",
            "error: trigger audit on the target table is DEFERRABLE",
            "without DEFERRABLE",
        );
        found_after(
            "INSERT INTO clerk_sync.inbox (msg_id, outcome, attempts, received_at, last_error) \
             VALUES ('msg_f', 'failed', 1, now() - interval '2 hours', '23505: duplicate')",
            "warning: 1 failed deliveries are waiting, the oldest received 720",
            "replay_failed()",
        );
        found_after(
            "INSERT INTO clerk_sync.inbox (msg_id, outcome, attempts, received_at, event_at) \
             SELECT 'msg_' || i, 'created', 1, now() - i * interval '1 minute', now() - i * interval '1 minute' + interval '95 seconds' \
             FROM generate_series(1, 20) AS i",
            "warning: this server's clock seems 95 s behind",
            "synchronize the clock",
        );
    }

    #[pg_test]
    fn status_says_whether_it_is_working() {
        healthy();
        ingest("msg_1", &event(CREATED));
        ingest("msg_s", &event(SESSION));
        Spi::run("SELECT clerk_sync.set_setting('column.phone_number', 'phone')").unwrap();
        ingest("msg_f", &event(UPDATED));
        let status: Value =
            serde_json::from_str(&text_query("SELECT clerk_sync.status()::text", &[]).unwrap()).unwrap();
        let version = text_query("SELECT extversion::text FROM pg_extension WHERE extname = 'clerk_sync'", &[]);
        assert_eq!(status["version"].as_str(), version.as_deref());
        assert_eq!(status["secrets"]["count"], 1);
        assert_eq!(status["secrets"]["fingerprints"].as_array().unwrap().len(), 1);
        assert!(!status.to_string().contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "never a secret");
        assert_eq!(status["targets"][0]["table"], "public.User");
        assert_eq!(status["targets"][0]["valid"], false, "{status}");
        assert!(status["targets"][0]["problem"].as_str().unwrap().contains("phone"));
        assert_eq!(status["deliveries"]["last_day"]["created"], 1);
        assert_eq!(status["deliveries"]["last_hour"]["failed"], 1);
        assert_eq!(status["ignored_last_day"], 1);
        assert_eq!(status["foreign_last_day"], 0);
        assert_eq!(status["failed"]["count"], 1);
        assert!(status["failed"]["oldest_received_at"].is_string() && status["last_received_at"].is_string());
        assert_eq!(status["failed"]["oldest_age_s"], 0, "received in this transaction");
        assert_eq!(status["targets"].as_array().unwrap().len(), 1, "a B2C app: no organization tables");
    }

    #[pg_test]
    fn organization_tables_are_listed_and_a_misconfigured_one_found() {
        healthy();
        Spi::run(PRISMA_ORGANIZATIONS).unwrap();
        Spi::run("SELECT clerk_sync.set_setting('membership.column.role', 'rank')").unwrap();
        let targets = status_targets(|t| {
            format!("{} {} {}", t["object"].as_str().unwrap(), t["table"].as_str().unwrap(), t["valid"])
        });
        assert_eq!(
            targets,
            ["user public.User true", "organization public.Organization true", "membership public.Membership false"]
        );
        let found = findings();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("error: the memberships table public.Membership is misconfigured: column rank"),
            "{found:?}"
        );
    }

    #[pg_test]
    fn the_subscription_items_table_is_listed_and_a_misconfigured_one_found() {
        healthy();
        Spi::run(include_str!("../../tests/fixtures/prisma_subscription_items.sql")).unwrap();
        Spi::run("SELECT clerk_sync.set_setting('subscription_item.column.is_free_trial', 'planSlug')").unwrap();
        let targets = status_targets(|t| {
            format!("{} {} {}", t["object"].as_str().unwrap(), t["table"].as_str().unwrap(), t["valid"])
        });
        assert_eq!(targets, ["user public.User true", "subscription_item public.SubscriptionItem false"]);
        let found = findings();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .starts_with("error: the subscription_items table public.SubscriptionItem is misconfigured: column")
                && found[0].contains("boolean"),
            "{found:?}"
        );
    }

    #[pg_test]
    fn a_missing_users_table_that_memberships_refer_to_is_reported_not_raised() {
        healthy();
        Spi::run(PRISMA_ORGANIZATIONS).unwrap();
        // CASCADE drops the foreign keys that refer to it, not the tables they belong to.
        Spi::run("DROP TABLE \"User\" CASCADE").unwrap();
        let valid = status_targets(|t| format!("{} {}", t["object"].as_str().unwrap(), t["valid"]));
        assert_eq!(valid, ["user false", "organization true", "membership false"]);
        let found = findings();
        assert!(found.iter().any(|f| f.starts_with("error: ") && f.contains("public.User")), "{found:?}");
        assert!(found.iter().any(|f| f.contains("public.Membership")), "{found:?}");
    }
}
