//! The chaos load: every user gets a created event, some updates and maybe a delete; so does every
//! organization (one per ten users); users join organizations, their memberships updated and
//! some removed. Every event is delivered at least twice, all deliveries shuffled, sent by many
//! clients at once; a non-2xx answer or a broken connection is retried, as Svix does, until the
//! deadline. Then the users, organizations and memberships tables must equal an oracle computed
//! from the events (newest wins, deleted stays deleted, no membership outlives its organization
//! or its user), with no duplicate rows, and the inbox must hold every message id exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clerk_sync_core::{sign, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde_json::json;

use crate::{http_client, loopback_url, percentile};

#[derive(clap::Args)]
pub struct Options {
    /// The webhook URL, e.g. http://127.0.0.1:3000/api/webhooks/clerk
    #[arg(value_parser = loopback_url)]
    url: hyper::Uri,
    /// The same database, to check the users table against the oracle
    database_url: String,
    /// Users, each with a created event, some updates and maybe a delete
    #[arg(long, default_value = "200")]
    users: usize,
    /// Clients sending at once
    #[arg(long, default_value = "16", value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Stop retrying at this deadline (what is left is lost, and reported)
    #[arg(long, default_value = "120")]
    max_seconds: u64,
    /// Shuffle seed (default: from the clock)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    seed: Option<u64>,
    /// The endpoint's signing secret
    #[arg(
        long,
        env = "CLERK_WEBHOOK_SECRET",
        default_value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        hide_env_values = true
    )]
    secret: String,
}

/// xorshift64*: small, seeded, good enough to shuffle.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Event {
    msg_id: String,
    body: String,
}

/// What a table must hold at the end: Clerk id → the newest value of one column, for the rows
/// not deleted.
type Rows = BTreeMap<String, String>;

/// The three tables at the end, and how many users and organizations were deleted.
#[derive(Default)]
struct Oracle {
    users: Rows,
    organizations: Rows,
    memberships: Rows,
    /// Clerk Billing's items: item id → the newest status.
    subscription_items: Rows,
    deleted_users: usize,
    deleted_organizations: usize,
}

const BASE: u64 = 1_767_225_600_000;

fn organization(org_id: &str, version: u64) -> serde_json::Value {
    json!({
        "object": "organization", "id": org_id, "name": format!("v{version}"), "slug": org_id,
        "image_url": "https://img.clerk.com/chaos", "created_at": BASE, "updated_at": BASE + version * 60_000
    })
}

/// Organizations (one per ten users, at least two) with their updates and some deletions, and
/// memberships of `users` in them: each user joins up to two, some promoted, some removed. The
/// users' own events come first (`oracle.users` holds those not deleted).
fn organization_events(run: &str, users: usize, rng: &mut Rng, events: &mut Vec<Event>, oracle: &mut Oracle) {
    let organizations = (users / 10).max(2);
    let mut deleted_orgs = Vec::new();
    for o in 0..organizations {
        let org_id = format!("org_chaos{run}o{o:04}");
        let updates = rng.below(3);
        for version in 0..=updates {
            let kind = if version == 0 { "organization.created" } else { "organization.updated" };
            let body = json!({"data": organization(&org_id, version), "object": "event",
                              "timestamp": BASE + version * 60_000 + 5, "type": kind});
            events.push(Event { msg_id: format!("msg_chaos{run}o{o:04}v{version}"), body: body.to_string() });
        }
        if rng.below(6) == 0 {
            oracle.deleted_organizations += 1;
            deleted_orgs.push(org_id.clone());
            let body = json!({"data": {"object": "organization", "id": org_id, "deleted": true},
                              "object": "event", "timestamp": BASE + 7_200_000, "type": "organization.deleted"});
            events.push(Event { msg_id: format!("msg_chaos{run}o{o:04}d"), body: body.to_string() });
        } else {
            oracle.organizations.insert(org_id, format!("v{updates}"));
        }
    }
    for u in 0..users {
        let user_id = format!("user_chaos{run}u{u:05}");
        let first = rng.below(organizations as u64);
        let joined = if rng.below(2) == 0 { vec![first] } else { vec![first, (first + 1) % organizations as u64] };
        for o in joined.into_iter().take(rng.below(3) as usize) {
            let org_id = format!("org_chaos{run}o{o:04}");
            let membership_id = format!("orgmem_chaos{run}u{u:05}o{o:04}");
            let promoted = rng.below(3) == 0;
            for (version, role) in [(0u64, "org:member"), (1, "org:admin")].into_iter().take(1 + promoted as usize) {
                let updated_at = BASE + 30_000 + version * 60_000;
                let kind =
                    if version == 0 { "organizationMembership.created" } else { "organizationMembership.updated" };
                let body = json!({
                    "data": {
                        "object": "organization_membership", "id": membership_id, "role": role,
                        "permissions": [], "public_metadata": {}, "created_at": BASE + 30_000, "updated_at": updated_at,
                        "organization": organization(&org_id, 0),
                        "public_user_data": {"user_id": user_id, "identifier": format!("{user_id}@example.com"),
                                             "first_name": "Public", "last_name": "Chaos", "image_url": "https://img.clerk.com/chaos"}
                    },
                    "object": "event", "timestamp": updated_at + 3, "type": kind
                });
                events
                    .push(Event { msg_id: format!("msg_chaos{run}u{u:05}o{o:04}v{version}"), body: body.to_string() });
            }
            if rng.below(5) == 0 {
                let body = json!({
                    "data": {"object": "organization_membership", "id": membership_id, "role": "org:member",
                             "created_at": BASE + 30_000, "updated_at": BASE + 30_000,
                             "organization": organization(&org_id, 0), "public_user_data": {"user_id": user_id}},
                    "object": "event", "timestamp": BASE + 5_400_000, "type": "organizationMembership.deleted"
                });
                events.push(Event { msg_id: format!("msg_chaos{run}u{u:05}o{o:04}d"), body: body.to_string() });
            } else if !deleted_orgs.contains(&org_id) && oracle.users.contains_key(&user_id) {
                oracle.memberships.insert(membership_id, if promoted { "org:admin" } else { "org:member" }.to_owned());
            }
        }
    }
}

/// A Clerk Billing item of each third user: up to three versions (the free plan, pro, then
/// canceled), each as a `subscriptionItem.*` event, the newest also inside a
/// `subscription.updated` (whose items carry no payer of their own).
fn billing_events(run: &str, users: usize, rng: &mut Rng, events: &mut Vec<Event>, oracle: &mut Oracle) {
    for u in (0..users).step_by(3) {
        let user_id = format!("user_chaos{run}u{u:05}");
        let item_id = format!("csub_item_chaos{run}u{u:05}");
        let versions = [
            ("subscriptionItem.active", "free", "active"),
            ("subscriptionItem.active", "pro", "active"),
            ("subscriptionItem.canceled", "pro", "canceled"),
        ];
        let newest = rng.below(3) as usize;
        let item = |version: usize, payer: serde_json::Value| {
            let (_, slug, status) = versions[version];
            let at = BASE + 10_000 + version as u64 * 60_000;
            json!({"object": "commerce_subscription_item", "id": item_id, "status": status, "payer": payer,
                   "plan_id": format!("cplan_{slug}"), "plan": {"id": format!("cplan_{slug}"), "slug": slug},
                   "subscription_id": format!("csub_chaos{run}u{u:05}"), "is_free_trial": false,
                   "period_start": at, "period_end": BASE + 2_592_000_000u64, "canceled_at": null,
                   "created_at": BASE + 10_000, "updated_at": at})
        };
        for (version, (kind, _, _)) in versions.iter().enumerate().take(newest + 1) {
            let body = json!({"data": item(version, json!({"user_id": user_id, "organization_id": ""})),
                              "object": "event", "timestamp": BASE + 10_000 + version as u64 * 60_000 + 2, "type": kind});
            events.push(Event { msg_id: format!("msg_chaos{run}u{u:05}b{version}"), body: body.to_string() });
        }
        let subscription = json!({
            "data": {"object": "commerce_subscription", "id": format!("csub_chaos{run}u{u:05}"), "status": "active",
                     "payer": {"user_id": user_id, "organization_id": ""}, "items": [item(newest, serde_json::Value::Null)]},
            "object": "event", "timestamp": BASE + 10_000 + newest as u64 * 60_000 + 4, "type": "subscription.updated"
        });
        events.push(Event { msg_id: format!("msg_chaos{run}u{u:05}s"), body: subscription.to_string() });
        oracle.subscription_items.insert(item_id, versions[newest].2.to_owned());
    }
}

fn events(run: &str, users: usize, rng: &mut Rng) -> (Vec<Event>, Oracle) {
    let base: u64 = BASE;
    let mut events = Vec::new();
    let mut oracle = Oracle::default();
    for u in 0..users {
        let user_id = format!("user_chaos{run}u{u:05}");
        let updates = rng.below(4);
        for version in 0..=updates {
            let updated_at = base + version * 60_000;
            let kind = if version == 0 { "user.created" } else { "user.updated" };
            let body = json!({
                "data": {
                    "id": user_id, "object": "user", "username": null,
                    "first_name": format!("v{version}"), "last_name": "Chaos",
                    "email_addresses": [{"id": "idn_1", "email_address": format!("{user_id}@example.com")}],
                    "primary_email_address_id": "idn_1", "phone_numbers": [], "primary_phone_number_id": null,
                    "image_url": "https://img.clerk.com/chaos", "created_at": base, "updated_at": updated_at
                },
                "object": "event", "timestamp": updated_at + 7, "type": kind
            });
            events.push(Event { msg_id: format!("msg_chaos{run}u{u:05}v{version}"), body: body.to_string() });
        }
        if rng.below(5) == 0 {
            oracle.deleted_users += 1;
            let body = json!({
                "data": {"id": user_id, "object": "user", "deleted": true},
                "object": "event", "timestamp": base + 3_600_000, "type": "user.deleted"
            });
            events.push(Event { msg_id: format!("msg_chaos{run}u{u:05}d"), body: body.to_string() });
        } else {
            oracle.users.insert(user_id, format!("v{updates}"));
        }
    }
    organization_events(run, users, rng, &mut events, &mut oracle);
    billing_events(run, users, rng, &mut events, &mut oracle);
    (events, oracle)
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    retries: usize,
    lost: usize,
}

/// Sends deliveries until none is left, retrying each until a 2xx or the deadline.
async fn worker(
    client: Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
    key: Arc<SigningKey>,
    events: Arc<Vec<Event>>,
    order: Arc<Vec<usize>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let slot = next.fetch_add(1, Ordering::Relaxed);
        let Some(&index) = order.get(slot) else {
            return tally;
        };
        let event = &events[index];
        let mut attempt = 0u32;
        loop {
            if Instant::now() > deadline {
                tally.lost += 1;
                break;
            }
            if attempt > 0 {
                tally.retries += 1;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(25)))).await;
            }
            attempt += 1;
            let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            let request = hyper::Request::post(url.clone())
                .header("content-type", "application/json")
                .header("svix-id", &event.msg_id)
                .header("svix-timestamp", ts.to_string())
                .header("svix-signature", sign(&key, &event.msg_id, ts, event.body.as_bytes()))
                .body(Full::new(Bytes::from(event.body.clone())));
            let Ok(request) = request else { continue };
            let started = Instant::now();
            // A refused or broken connection is an error here; the client opens a new one next time.
            if let Ok(response) = client.request(request).await {
                let ok = response.status().is_success();
                let _ = response.into_body().collect().await;
                if ok {
                    tally.latencies.push(started.elapsed());
                    break;
                }
            }
        }
    }
}

/// Compares one table's (Clerk id, column) rows whose id starts with `prefix` with `expected`;
/// what differs, if anything.
async fn compare(
    client: &tokio_postgres::Client,
    what: &str,
    sql: &str,
    prefix: &str,
    expected: &Rows,
) -> Result<(usize, Option<String>), String> {
    let rows = client.query(sql, &[&format!("{prefix}%")]).await.map_err(|e| e.to_string())?;
    let table: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let distinct: std::collections::BTreeSet<&String> = table.iter().map(|(id, _)| id).collect();
    let mut problems = Vec::new();
    if distinct.len() != table.len() {
        problems.push(format!("{} duplicate {what} rows", table.len() - distinct.len()));
    }
    let actual: Rows = table.into_iter().collect();
    let wrong = expected.iter().filter(|(id, value)| actual.get(*id) != Some(*value)).count();
    let extra = actual.keys().filter(|id| !expected.contains_key(*id)).count();
    if wrong > 0 || extra > 0 {
        problems.push(format!(
            "{wrong} {what} missing or not at their newest state, {extra} {what} present that must not be"
        ));
    }
    Ok((actual.len(), (!problems.is_empty()).then(|| problems.join(", "))))
}

async fn count(client: &tokio_postgres::Client, sql: &str, pattern: &str) -> Result<i64, String> {
    Ok(client.query_one(sql, &[&pattern]).await.map_err(|e| e.to_string())?.get(0))
}

async fn verify_against_oracle(options: &Options, run: &str, events: &[Event], oracle: &Oracle) -> Result<(), String> {
    let (client, connection) =
        tokio_postgres::connect(&options.database_url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let tables = [
        (
            "users",
            "SELECT \"clerkUserId\", \"firstName\" FROM \"User\" WHERE \"clerkUserId\" LIKE $1",
            "user_chaos",
            &oracle.users,
        ),
        (
            "organizations",
            "SELECT \"clerkOrgId\", name FROM \"Organization\" WHERE \"clerkOrgId\" LIKE $1",
            "org_chaos",
            &oracle.organizations,
        ),
        (
            "memberships",
            "SELECT \"clerkMembershipId\", role FROM \"Membership\" WHERE \"clerkMembershipId\" LIKE $1",
            "orgmem_chaos",
            &oracle.memberships,
        ),
        (
            "subscription items",
            "SELECT \"clerkItemId\", status FROM \"SubscriptionItem\" WHERE \"clerkItemId\" LIKE $1",
            "csub_item_chaos",
            &oracle.subscription_items,
        ),
    ];
    let mut problems = Vec::new();
    let mut present = Vec::new();
    for (what, sql, prefix, expected) in tables {
        let (rows, problem) = compare(&client, what, sql, &format!("{prefix}{run}"), expected).await?;
        present.push(rows);
        problems.extend(problem);
    }
    let msg_pattern = format!("msg_chaos{run}%");
    let stored =
        count(&client, "SELECT count(DISTINCT msg_id) FROM clerk_sync.inbox WHERE msg_id LIKE $1", &msg_pattern)
            .await?;
    let failed = count(
        &client,
        "SELECT count(*) FROM clerk_sync.inbox WHERE msg_id LIKE $1 AND outcome = 'failed'",
        &msg_pattern,
    )
    .await?;
    if stored as usize != events.len() {
        problems.push(format!("the inbox holds {stored} of {} message ids", events.len()));
    }
    if failed > 0 {
        problems.push(format!("{failed} deliveries left failed"));
    }
    let tombstones =
        "SELECT count(*) FROM clerk_sync.user_state WHERE clerk_user_id LIKE $1 AND deleted_at_ms IS NOT NULL";
    for (prefix, deleted, what) in
        [("user_chaos", oracle.deleted_users, "users"), ("org_chaos", oracle.deleted_organizations, "organizations")]
    {
        let found = count(&client, tombstones, &format!("{prefix}{run}%")).await?;
        if found as usize != deleted {
            problems.push(format!("{found} tombstones for {deleted} deleted {what}"));
        }
    }
    println!(
        "oracle: users {} expected, {} present ({} deleted); organizations {} expected, {} present ({} deleted); \
         memberships {} expected, {} present; subscription items {} expected, {} present; \
         {stored} message ids stored once each",
        oracle.users.len(),
        present[0],
        oracle.deleted_users,
        oracle.organizations.len(),
        present[1],
        oracle.deleted_organizations,
        oracle.memberships.len(),
        present[2],
        oracle.subscription_items.len(),
        present[3],
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

pub async fn run(options: Options) -> Result<(), String> {
    let key = Arc::new(SigningKey::parse(&options.secret).map_err(|e| e.to_string())?);
    let seed = options.seed.unwrap_or_else(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1).max(1)
    });
    let mut rng = Rng(seed);
    let run = format!("{:x}", rng.next() & 0xffff_ffff);
    let (events, oracle) = events(&run, options.users, &mut rng);
    let mut order: Vec<usize> = (0..events.len()).chain(0..events.len()).collect();
    for _ in 0..events.len() / 4 {
        order.push(rng.below(events.len() as u64) as usize);
    }
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    println!(
        "chaos seed={} users={} events={} deliveries={} concurrency={}",
        seed,
        options.users,
        events.len(),
        order.len(),
        options.concurrency
    );
    let (events, order) = (Arc::new(events), Arc::new(order));
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(options.max_seconds);
    let started = Instant::now();
    let client = http_client();
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| {
            tokio::spawn(worker(
                client.clone(),
                options.url.clone(),
                key.clone(),
                events.clone(),
                order.clone(),
                next.clone(),
                deadline,
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        let part = worker.await.map_err(|e| e.to_string())?;
        tally.latencies.extend(part.latencies);
        tally.retries += part.retries;
        tally.lost += part.lost;
    }
    let seconds = started.elapsed().as_secs_f64();
    tally.latencies.sort();
    println!(
        "delivered={} seconds={seconds:.2} per_second={:.0} p50_ms={:.2} p99_ms={:.2} retries={} lost={}",
        tally.latencies.len(),
        tally.latencies.len() as f64 / seconds,
        percentile(&tally.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&tally.latencies, 0.99).as_secs_f64() * 1e3,
        tally.retries,
        tally.lost
    );
    if tally.lost > 0 {
        return Err(format!("{} deliveries never got a 2xx before the deadline", tally.lost));
    }
    verify_against_oracle(&options, &run, &events, &oracle).await
}
