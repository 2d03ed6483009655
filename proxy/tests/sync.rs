//! `clerk-sync-proxy sync` against a fake Clerk Backend API on 127.0.0.1: pages of users in the
//! API's list shape (tests/fixtures/backend_api/users.json), a 429 with Retry-After, 5xx, an
//! interruption and the resumed run, users deleted under the listing, and --reconcile.
//!
//! Needs a database with the extension and the sign-up guide's tables;
//! `tests/e2e/sync.sh` makes one and runs
//! `cargo test -p clerk_sync_proxy --test sync -- --ignored --test-threads=1`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const KEY: &str = "sk_test_FakeBackendApiKey0123456789";
const PAGE: &str = include_str!("../../tests/fixtures/backend_api/users.json");

/// What the fake API holds and how it misbehaves.
#[derive(Default)]
struct Api {
    /// Oldest first: what `GET /users?order_by=+created_at` lists.
    users: Vec<Value>,
    /// Users `GET /users/{id}` finds but no listing had (created after it ended).
    created_after_the_listing: Vec<Value>,
    /// The offset of each list request, in order.
    offsets: Vec<usize>,
    /// List request number → the status (and Retry-After) it gets instead of its page.
    faults: HashMap<usize, (u16, Option<u64>)>,
    /// List requests at or past this offset get 500.
    down_from_offset: Option<usize>,
    /// After list request number n is answered, these users are deleted.
    deleted_after: Option<(usize, Vec<String>)>,
    /// Oldest first, and each one's memberships.
    organizations: Vec<Value>,
    /// Clerk Billing's subscription items; None: Billing is not enabled (404).
    subscription_items: Option<Vec<Value>>,
    memberships: BTreeMap<String, Vec<Value>>,
}

type Shared = Arc<Mutex<Api>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"errors": [{"code": "resource_not_found", "message": "not found"}]})))
        .into_response()
}

async fn list(State(api): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let (limit, offset) = paging(&query);
    let mut api = api.lock().unwrap();
    let number = api.offsets.len();
    api.offsets.push(offset);
    if let Some((status, retry_after)) = api.faults.get(&number).copied() {
        let mut response = StatusCode::from_u16(status).unwrap().into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
        }
        return response;
    }
    if api.down_from_offset.is_some_and(|down| offset >= down) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let page: Vec<Value> = api.users.iter().skip(offset).take(limit).cloned().collect();
    if let Some((after, ids)) = api.deleted_after.clone() {
        if after == number {
            api.users.retain(|u| !ids.iter().any(|id| u["id"] == *id));
        }
    }
    Json(Value::Array(page)).into_response()
}

/// `limit` and `offset` of a list request, after checking it asks oldest first.
fn paging(query: &Option<String>) -> (usize, usize) {
    let pairs: HashMap<&str, &str> =
        query.as_deref().unwrap_or_default().split('&').filter_map(|pair| pair.split_once('=')).collect();
    assert_eq!(pairs.get("order_by").copied(), Some("%2Bcreated_at"), "oldest first");
    limit_and_offset(query)
}

fn limit_and_offset(query: &Option<String>) -> (usize, usize) {
    let pairs: HashMap<&str, &str> =
        query.as_deref().unwrap_or_default().split('&').filter_map(|pair| pair.split_once('=')).collect();
    (pairs["limit"].parse().unwrap(), pairs["offset"].parse().unwrap())
}

fn page_of(objects: &[Value], (limit, offset): (usize, usize)) -> Response {
    let data: Vec<Value> = objects.iter().skip(offset).take(limit).cloned().collect();
    Json(json!({"data": data, "total_count": objects.len()})).into_response()
}

async fn organizations(State(api): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    page_of(&api.lock().unwrap().organizations, paging(&query))
}

async fn subscription_items(State(api): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    assert!(query.as_deref().unwrap_or_default().contains("include_free=true"), "the default plan's items too");
    match &api.lock().unwrap().subscription_items {
        Some(items) => page_of(items, limit_and_offset(&query)),
        None => not_found(),
    }
}

async fn organization(State(api): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match api.lock().unwrap().organizations.iter().find(|o| o["id"] == *id) {
        Some(organization) => Json(organization.clone()).into_response(),
        None => not_found(),
    }
}

async fn memberships(
    State(api): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let api = api.lock().unwrap();
    match api.memberships.get(&id) {
        Some(list) => page_of(list, paging(&query)),
        None if api.organizations.iter().any(|o| o["id"] == *id) => page_of(&[], paging(&query)),
        None => not_found(),
    }
}

async fn count(State(api): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({"object": "total_count", "total_count": api.lock().unwrap().users.len()})).into_response()
}

async fn one(State(api): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let api = api.lock().unwrap();
    match api.users.iter().chain(&api.created_after_the_listing).find(|u| u["id"] == *id) {
        Some(user) => Json(user.clone()).into_response(),
        None => not_found(),
    }
}

/// A user of the fixture page's shape: the first fixture user with another id, email and name,
/// created and updated at `at` (Unix ms).
fn user(id: &str, at: i64) -> Value {
    let mut user: Vec<Value> = serde_json::from_str(PAGE).unwrap();
    let mut user = user.remove(0);
    let email_id = format!("idn_{id}");
    user["id"] = json!(id);
    user["first_name"] = json!(format!("First {id}"));
    user["email_addresses"][0]["id"] = json!(email_id);
    user["email_addresses"][0]["email_address"] = json!(format!("{id}@example.com"));
    user["primary_email_address_id"] = json!(email_id);
    user["created_at"] = json!(at);
    user["updated_at"] = json!(at);
    user
}

/// The fixture page and `n - 2` more users, oldest first.
fn users(n: usize) -> Vec<Value> {
    let mut all: Vec<Value> = serde_json::from_str(PAGE).unwrap();
    let newest = all.iter().map(|u| u["created_at"].as_i64().unwrap()).max().unwrap();
    all.sort_by_key(|u| u["created_at"].as_i64());
    all.extend((all.len()..n).map(|i| user(&format!("user_sync{i:05}"), newest + i as i64)));
    all
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

struct Harness {
    api: Shared,
    url: String,
    db: tokio_postgres::Client,
    dir: PathBuf,
}

impl Harness {
    async fn start(users: Vec<Value>) -> Harness {
        let database_url = std::env::var("CLERK_SYNC_TEST_DATABASE_URL").expect("CLERK_SYNC_TEST_DATABASE_URL");
        let (db, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        // A B2C app's tables unless a test adds the organization ones.
        db.batch_execute(
            "DROP TABLE IF EXISTS \"Membership\", \"Organization\", \"SubscriptionItem\"; TRUNCATE \"User\" CASCADE; \
             TRUNCATE clerk_sync.user_state, clerk_sync.username_claim, clerk_sync.inbox",
        )
        .await
        .unwrap();
        let api: Shared = Arc::new(Mutex::new(Api { users, ..Api::default() }));
        let app = Router::new()
            .route("/v1/users", get(list))
            .route("/v1/users/count", get(count))
            .route("/v1/users/{id}", get(one))
            .route("/v1/organizations", get(organizations))
            .route("/v1/organizations/{id}", get(organization))
            .route("/v1/organizations/{id}/memberships", get(memberships))
            .route("/v1/billing/subscription_items", get(subscription_items))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let dir = std::env::temp_dir().join(format!("clerk-sync-test-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&dir).unwrap();
        Harness { api, url, db, dir }
    }

    /// Runs `clerk-sync-proxy sync` with these flags, in a directory of its own (the checkpoint's).
    async fn sync(&self, flags: &[&str]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clerk-sync-proxy"));
        command
            .arg("sync")
            .args(flags)
            .current_dir(&self.dir)
            // The role sync connects as: one with only the grants docs/sync.md gives it, when the
            // caller made one; the harness itself reads and resets the tables as a superuser.
            .env(
                "DATABASE_URL",
                std::env::var("CLERK_SYNC_TEST_SYNC_DATABASE_URL")
                    .or_else(|_| std::env::var("CLERK_SYNC_TEST_DATABASE_URL"))
                    .unwrap(),
            )
            .env("CLERK_SECRET_KEY", KEY)
            .env("CLERK_API_URL", &self.url)
            .env_remove("RUST_LOG");
        let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
        let run = Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY), "the secret key printed");
        println!("$ clerk-sync-proxy sync {}\n{}{}", flags.join(" "), run.stdout, run.stderr);
        run
    }

    fn checkpoint_exists(&self) -> bool {
        self.dir.join(".clerk-sync-checkpoint.json").exists()
    }

    async fn clerk_ids(&self) -> BTreeSet<String> {
        let rows = self.db.query("SELECT \"clerkUserId\" FROM \"User\"", &[]).await.unwrap();
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    }

    /// The rows of the table `name`.
    async fn count(&self, name: &str) -> i64 {
        self.db.query_one(&format!("SELECT count(*) FROM \"{name}\""), &[]).await.unwrap().get(0)
    }

    async fn text(&self, sql: &str) -> Option<String> {
        self.db.query_opt(sql, &[]).await.unwrap().and_then(|row| row.get(0))
    }

    async fn apply(&self, event: Value) -> String {
        let row = self.db.query_one("SELECT clerk_sync.clerk_apply($1::jsonb)", &[&event]).await.unwrap();
        row.get(0)
    }

    fn api_ids(&self) -> BTreeSet<String> {
        self.api.lock().unwrap().users.iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn webhook(kind: &str, data: Value, at: i64) -> Value {
    json!({"type": kind, "object": "event", "timestamp": at, "data": data})
}

/// The number after `word ` in `text`.
fn figure(text: &str, word: &str) -> Option<u64> {
    let at = text.find(&format!("{word} "))? + word.len() + 1;
    text[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn a_sync_imports_everyone_through_429s_and_5xx_newer_webhooks_win_and_a_rerun_changes_nothing() {
    let h = Harness::start(users(1200)).await;
    let dry = h.sync(&["--page-size=100", "--dry-run"]).await;
    assert!(dry.ok && dry.stdout.contains("dry run, rolled back: users: created 1200, updated 0"), "{}", dry.stdout);
    assert!(h.clerk_ids().await.is_empty() && !h.checkpoint_exists(), "a dry run changes nothing");
    h.api.lock().unwrap().offsets.clear();
    h.api.lock().unwrap().faults = HashMap::from([(2, (429, Some(1))), (5, (500, None)), (6, (503, None))]);
    let mut newer = user("user_sync00010", now_ms());
    newer["first_name"] = json!("From the webhook");
    assert_eq!(h.apply(webhook("user.updated", newer, now_ms())).await, "created");

    let run = h.sync(&["--page-size=100", "--first-retry-ms=50"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(h.clerk_ids().await, h.api_ids(), "every user, once");
    assert_eq!(figure(&run.stdout, "listed"), Some(1200));
    assert!(run.stdout.contains("\n3 retries\n"), "{}", run.stdout);
    assert!(run.stdout.contains("created 1199, updated 0, unchanged 1"), "{}", run.stdout);
    assert_eq!(
        h.text("SELECT \"firstName\" FROM \"User\" WHERE \"clerkUserId\" = 'user_sync00010'").await.as_deref(),
        Some("From the webhook"),
        "a newer webhook wins over older API data"
    );
    assert_eq!(
        h.text("SELECT email FROM \"User\" WHERE \"clerkUserId\" = 'user_2zQmA7bXkP4rLwN9sT1vC3dE5fG'")
            .await
            .as_deref(),
        Some("jane.doe@example.com")
    );
    let offsets = h.api.lock().unwrap().offsets.clone();
    assert_eq!(offsets[..4], [0, 99, 198, 198], "each page overlaps the last by one; the 429 is asked again");
    assert!(!h.checkpoint_exists(), "a finished sync leaves no checkpoint");

    let again = h.sync(&["--page-size=100"]).await;
    assert!(again.ok);
    assert!(again.stdout.contains("created 0, updated 0, unchanged 1200"), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn an_interrupted_sync_keeps_what_it_imported_and_resumes_where_it_stopped() {
    let h = Harness::start(users(600)).await;
    h.api.lock().unwrap().down_from_offset = Some(297);
    let run = h.sync(&["--page-size=100", "--max-retries=2", "--first-retry-ms=10"]).await;
    assert!(!run.ok);
    assert!(run.stderr.contains("sync incomplete: Clerk's Backend API answered 500"), "{}", run.stderr);
    let imported = h.clerk_ids().await.len();
    assert_eq!(imported, 298, "pages 0..100, 99..199, 198..298 committed");
    assert!(run.stderr.contains("run it again to resume where it stopped"), "{}", run.stderr);
    assert!(h.checkpoint_exists());

    {
        let mut api = h.api.lock().unwrap();
        api.down_from_offset = None;
        api.offsets.clear();
    }
    let resumed = h.sync(&["--page-size=100"]).await;
    assert!(resumed.ok, "{}", resumed.stderr);
    assert!(resumed.stderr.contains("resuming the sync that began"), "{}", resumed.stderr);
    assert_eq!(h.api.lock().unwrap().offsets[0], 297, "from where it stopped, not from 0");
    assert!(resumed.stdout.contains("created 302,"), "{}", resumed.stdout);
    assert_eq!(h.clerk_ids().await, h.api_ids());
    assert!(!h.checkpoint_exists());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn users_deleted_under_the_listing_hide_nobody() {
    let h = Harness::start(users(500)).await;
    let early: Vec<String> = (20..30).map(|i| format!("user_sync{i:05}")).collect();
    h.api.lock().unwrap().deleted_after = Some((1, early.clone()));
    let run = h.sync(&["--page-size=100"]).await;
    assert!(run.ok, "{}", run.stderr);
    let table = h.clerk_ids().await;
    assert!(h.api_ids().is_subset(&table), "every user still in Clerk is imported");
    assert_eq!(table.len(), 500, "and the ten deleted meanwhile were imported before they went");
    assert!(run.stdout.contains("(1 pages asked again)") && run.stdout.contains("\n0 retries\n"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn reconcile_removes_exactly_the_users_clerk_no_longer_has() {
    let h = Harness::start(users(300)).await;
    assert!(h.sync(&["--page-size=100"]).await.ok);
    // Deleted in Clerk while the webhook was down: their user.deleted never came.
    let missed: Vec<String> = [3, 50, 120, 200, 299].iter().map(|i| format!("user_sync{i:05}")).collect();
    h.api.lock().unwrap().users.retain(|u| !missed.iter().any(|id| u["id"] == *id));
    // Signed up after the listing's last page: Clerk has them, the listing does not.
    let late = user("user_late", now_ms());
    h.api.lock().unwrap().created_after_the_listing.push(late.clone());
    assert_eq!(h.apply(webhook("user.created", late, now_ms())).await, "created");
    // Changed after the listing began (by the clocks) though Clerk answers 404 for it now.
    let racing = user("user_racing", now_ms() + 600_000);
    assert_eq!(h.apply(webhook("user.created", racing, now_ms())).await, "created");
    let before = h.clerk_ids().await;

    let refused = h.sync(&["--page-size=100", "--reconcile", "--max-removals=5"]).await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("7 rows of the tables are not in Clerk's listings, more than --max-removals 5"),
        "{}",
        refused.stderr
    );
    assert_eq!(h.clerk_ids().await, before, "refused: nothing removed");
    assert!(!h.checkpoint_exists(), "the listing was complete: the next run lists afresh");

    let dry = h.sync(&["--page-size=100", "--reconcile", "--dry-run"]).await;
    assert!(dry.ok, "{}", dry.stderr);
    assert!(dry.stdout.contains(&format!("would remove 5 ({})", missed.join(", "))), "{}", dry.stdout);
    assert_eq!(h.clerk_ids().await, before, "a dry run changes nothing");

    let run = h.sync(&["--page-size=100", "--reconcile"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains("reconcile: remove 5 ("), "{}", run.stdout);
    assert!(
        run.stdout.contains("keep 1 changed since the listing began; 1 found in Clerk after all"),
        "{}",
        run.stdout
    );
    let expected: BTreeSet<String> = before.iter().filter(|id| !missed.contains(id)).cloned().collect();
    assert_eq!(h.clerk_ids().await, expected, "exactly the missing users went; user_late and user_racing stayed");

    // Removed like user.deleted: a late event does not bring them back.
    let late_update = webhook("user.updated", user(&missed[0], now_ms()), now_ms());
    assert_eq!(h.apply(late_update).await, "stale");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn a_failed_page_aborts_reconcile_not_the_import() {
    let h = Harness::start(users(300)).await;
    assert!(h.sync(&["--page-size=100"]).await.ok);
    {
        let mut api = h.api.lock().unwrap();
        api.users.retain(|u| u["id"] != "user_sync00007");
        let newest = api.users.last().unwrap()["created_at"].as_i64().unwrap();
        let more: Vec<Value> = (0..100).map(|i| user(&format!("user_more{i:03}"), newest + 1 + i)).collect();
        api.users.extend(more);
        api.down_from_offset = Some(350);
    }
    let run = h.sync(&["--page-size=100", "--reconcile", "--max-retries=1", "--first-retry-ms=10"]).await;
    assert!(!run.ok);
    assert!(run.stderr.contains("nothing removed (reconcile needs complete listings)"), "{}", run.stderr);
    let table = h.clerk_ids().await;
    assert!(table.contains("user_sync00007"), "not removed on an incomplete listing");
    assert!(table.contains("user_more000"), "the pages before the failure are imported");
}

const ORGANIZATION: &str = include_str!("../../tests/fixtures/events/organization.created.json");
const MEMBERSHIP: &str = include_str!("../../tests/fixtures/events/organizationMembership.created.json");

/// An organization of the fixture's shape, created and updated at `at`.
fn api_organization(id: &str, at: i64) -> Value {
    let mut organization = serde_json::from_str::<Value>(ORGANIZATION).unwrap()["data"].take();
    organization["id"] = json!(id);
    organization["slug"] = json!(id);
    organization["created_at"] = json!(at);
    organization["updated_at"] = json!(at);
    organization
}

/// A membership of the fixture's shape of `user` in `organization`.
fn api_membership(id: &str, organization: &str, user: &str, at: i64) -> Value {
    let mut membership = serde_json::from_str::<Value>(MEMBERSHIP).unwrap()["data"].take();
    membership["id"] = json!(id);
    membership["organization"] = api_organization(organization, at);
    membership["public_user_data"]["user_id"] = json!(user);
    membership["public_user_data"]["identifier"] = json!(format!("{user}@example.com"));
    membership["created_at"] = json!(at);
    membership["updated_at"] = json!(at);
    membership
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn organizations_and_memberships_are_synced_and_reconciled() {
    let all = users(6);
    let ids: Vec<String> = all.iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
    let h = Harness::start(all).await;
    h.db.batch_execute(include_str!("../../tests/fixtures/prisma_organizations.sql")).await.unwrap();
    let at = 1767225600000;
    {
        let mut api = h.api.lock().unwrap();
        api.organizations = (0..3).map(|o| api_organization(&format!("org_sync{o}"), at + o)).collect();
        for o in 0..3 {
            let members: Vec<Value> = (0..4)
                .map(|u| api_membership(&format!("orgmem_sync{o}{u}"), &format!("org_sync{o}"), &ids[u + o], at + 10))
                .collect();
            api.memberships.insert(format!("org_sync{o}"), members);
        }
    }
    let run = h.sync(&["--page-size=3"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains("listed 3 organizations in 2 pages"), "{}", run.stdout);
    assert!(run.stdout.contains("listed 12 memberships of 3 organizations"), "{}", run.stdout);
    assert!(run.stdout.contains("memberships: created 12, updated 0, unchanged 0"), "{}", run.stdout);
    assert_eq!(h.count("Organization").await, 3);
    assert_eq!(h.count("Membership").await, 12);

    // Gone from Clerk while the webhook was down: an organization (and its memberships), and one
    // membership of another.
    {
        let mut api = h.api.lock().unwrap();
        api.organizations.retain(|o| o["id"] != "org_sync2");
        api.memberships.remove("org_sync2");
        api.memberships.get_mut("org_sync0").unwrap().retain(|m| m["id"] != "orgmem_sync01");
    }
    let run = h.sync(&["--page-size=3", "--reconcile"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains("reconcile: remove 6 (org_sync2, orgmem_sync01, orgmem_sync20"), "{}", run.stdout);
    assert_eq!(h.count("Organization").await, 2);
    assert_eq!(h.count("Membership").await, 7);
    let late = json!({"type": "organizationMembership.updated", "object": "event", "timestamp": now_ms(),
                      "data": api_membership("orgmem_sync01", "org_sync0", &ids[1], now_ms())});
    assert_eq!(h.apply(late).await, "stale", "removed like organizationMembership.deleted");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn without_organization_tables_organizations_are_not_listed_past_the_first_page() {
    let h = Harness::start(users(3)).await;
    h.api.lock().unwrap().organizations = (0..5).map(|o| api_organization(&format!("org_b2c{o}"), 1 + o)).collect();
    let run = h.sync(&["--page-size=2"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains("listed 2 organizations in 1 pages"), "one page, then no further: {}", run.stdout);
    assert!(!run.stdout.contains("memberships"), "{}", run.stdout);
    assert_eq!(h.clerk_ids().await.len(), 3);
}

fn api_subscription_item(id: &str, payer: &str, slug: &str, status: &str, at: i64) -> Value {
    json!({"object": "commerce_subscription_item", "id": id, "status": status, "plan_id": format!("cplan_{slug}"),
           "plan": {"id": format!("cplan_{slug}"), "slug": slug}, "payer": {"user_id": payer, "organization_id": ""},
           "subscription_id": format!("csub_{payer}"), "is_free_trial": false, "period_start": at, "period_end": null,
           "canceled_at": null, "created_at": at, "updated_at": at})
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a database: tests/e2e/sync.sh"]
async fn subscription_items_are_imported_and_converge_with_webhooks() {
    let all = users(3);
    let ids: Vec<String> = all.iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
    let h = Harness::start(all).await;
    let run = h.sync(&["--page-size=2"]).await;
    assert!(
        run.ok && run.stderr.contains("Clerk Billing is not enabled"),
        "an instance without Billing: {}{}",
        run.stdout,
        run.stderr
    );
    h.db.batch_execute(include_str!("../../tests/fixtures/prisma_subscription_items.sql")).await.unwrap();
    let at = 1767225600000;
    h.api.lock().unwrap().subscription_items = Some(
        ids.iter()
            .enumerate()
            .map(|(i, id)| api_subscription_item(&format!("csub_item_{i}"), id, "free", "active", at))
            .collect(),
    );
    let newer = json!({"type": "subscriptionItem.active", "object": "event", "timestamp": at + 10,
                       "data": api_subscription_item("csub_item_0", &ids[0], "pro", "active", at + 10)});
    assert_eq!(h.apply(newer).await, "created", "a webhook before the import");
    let run = h.sync(&["--page-size=2"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(h.count("SubscriptionItem").await, 3);
    let plans =
        h.db.query("SELECT \"planSlug\" FROM \"SubscriptionItem\" ORDER BY \"clerkItemId\"", &[]).await.unwrap();
    let plans: Vec<String> = plans.iter().map(|r| r.get(0)).collect();
    assert_eq!(plans, ["pro", "free", "free"], "the newer webhook wins over the older import");
    h.api.lock().unwrap().subscription_items.as_mut().unwrap()[1] =
        api_subscription_item("csub_item_1", &ids[1], "team", "active", at + 20);
    std::fs::remove_file(h.dir.join(".clerk-sync-checkpoint.json")).ok();
    assert!(h.sync(&["--page-size=2"]).await.ok);
    let team: String =
        h.db.query_one("SELECT \"planSlug\" FROM \"SubscriptionItem\" WHERE \"clerkItemId\" = 'csub_item_1'", &[])
            .await
            .unwrap()
            .get(0);
    assert_eq!(team, "team", "and a newer import wins over an older webhook");
}
