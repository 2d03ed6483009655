//! clerk-sync-loadgen: sends signed Clerk deliveries to the proxy (HTTP) or straight to
//! `clerk_sync.receive` (SQL), with a fixed number of events and a deadline, and prints
//! throughput and latency; or runs the chaos load (chaos.rs). Refuses any address outside
//! 127.0.0.0/8. `--help` lists every option.

mod chaos;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use clerk_sync_core::{sign, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("../../../tests/fixtures/events/user.created.email.json");

struct Delivery {
    msg_id: String,
    timestamp: String,
    signature: String,
    body: String,
}

enum Target {
    Http(hyper::Uri),
    Sql(String),
}

#[derive(Parser)]
#[command(name = "clerk-sync-loadgen", about = "Bounded load on clerk_sync, on 127.0.0.1 only")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deliveries (70 % user.created, 20 % user.updated, 10 % user.deleted) to a webhook URL
    Http {
        /// The webhook URL, e.g. http://127.0.0.1:3000/api/webhooks/clerk
        url: String,
        #[command(flatten)]
        load: Load,
    },
    /// The same deliveries straight to clerk_sync.receive
    Sql {
        /// postgres://user@127.0.0.1:5432/db
        database_url: String,
        #[command(flatten)]
        load: Load,
    },
    /// Every event delivered at least twice, shuffled, retried like Svix; then the users table
    /// against an oracle (see chaos.rs)
    Chaos(chaos::Options),
}

#[derive(Args)]
struct Load {
    /// Deliveries to send
    #[arg(long, default_value = "2000")]
    events: usize,
    /// Connections sending at once
    #[arg(long, default_value = "8", value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Stop at this deadline whatever is left
    #[arg(long, default_value = "120")]
    max_seconds: u64,
    /// The endpoint's signing secret
    #[arg(
        long,
        env = "CLERK_WEBHOOK_SECRET",
        default_value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        hide_env_values = true
    )]
    secret: String,
}

pub(crate) fn loopback_only(host: &str) -> Result<(), String> {
    let ok = host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    if ok {
        Ok(())
    } else {
        Err(format!("{host} is not on 127.0.0.0/8: this tool only loads the local machine"))
    }
}

/// A URL on 127.0.0.0/8.
pub(crate) fn loopback_url(text: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = text.parse().map_err(|e| format!("{text}: {e}"))?;
    loopback_only(uri.host().ok_or("URL has no host")?)?;
    Ok(uri)
}

/// The one HTTP client of the load tools: pooled connections (a broken one is replaced),
/// Nagle off.
pub(crate) fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

fn target(command: Command) -> Result<(Target, Load), String> {
    Ok(match command {
        Command::Http { url, load } => (Target::Http(loopback_url(&url)?), load),
        Command::Sql { database_url, load } => {
            let config: tokio_postgres::Config = database_url.parse().map_err(|e| format!("{e}"))?;
            for host in config.get_hosts() {
                match host {
                    tokio_postgres::config::Host::Tcp(name) => loopback_only(name)?,
                    tokio_postgres::config::Host::Unix(_) => {}
                }
            }
            (Target::Sql(database_url), load)
        }
        Command::Chaos(_) => unreachable!("chaos is run by main"),
    })
}

/// Clerk-shaped deliveries of about 2.4 KB (the fixture with a `public_metadata` bio), signed now,
/// about users of this run alone, in the receive benchmark's mix: 70 % `user.created`, then 20 %
/// `user.updated` of the first users created, then 10 % `user.deleted` of the next ones.
fn deliveries(count: usize, key: &SigningKey) -> Vec<Delivery> {
    let template: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    let run = now.as_nanos() as u64;
    let timestamp = now.as_secs() as i64;
    let (created, updated) = (count * 7 / 10, count * 2 / 10);
    (0..count)
        .map(|i| {
            let at = now.as_millis() as u64 + i as u64;
            let (kind, user) = if i < created {
                ("user.created", i)
            } else if i < created + updated {
                ("user.updated", i - created)
            } else {
                ("user.deleted", i - created)
            };
            let user_id = format!("user_load{run:x}{user:06}");
            let event = if kind == "user.deleted" {
                json!({"type": kind, "object": "event", "timestamp": at, "data": {"id": user_id, "object": "user", "deleted": true}})
            } else {
                let mut event = template.clone();
                event["type"] = json!(kind);
                event["data"]["id"] = json!(user_id);
                event["data"]["username"] = json!(format!("load{run:x}{user}"));
                event["data"]["email_addresses"][0]["email_address"] = json!(format!("load{run:x}{user}@example.com"));
                event["data"]["first_name"] = json!(if kind == "user.created" { "First" } else { "Renamed" });
                event["data"]["public_metadata"] = json!({"bio": "lorem ipsum ".repeat(60)});
                event["data"]["updated_at"] = json!(at);
                event["timestamp"] = json!(at);
                event
            };
            let body = event.to_string();
            let msg_id = format!("msg_load{run:x}{i:06}");
            let signature = sign(key, &msg_id, timestamp, body.as_bytes());
            Delivery { msg_id, timestamp: timestamp.to_string(), signature, body }
        })
        .collect()
}

/// (latency, status) of every delivery sent before the deadline.
type Samples = Vec<(Duration, u16)>;

/// The deliveries the workers share, each handed out once, none after the deadline.
struct Work {
    deliveries: Vec<Delivery>,
    next: AtomicUsize,
    deadline: Instant,
}

impl Work {
    fn take(&self) -> Option<&Delivery> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (Instant::now() <= self.deadline).then(|| self.deliveries.get(i)).flatten()
    }
}

async fn http_worker(
    client: Client<HttpConnector, Full<Bytes>>,
    uri: hyper::Uri,
    work: Arc<Work>,
) -> Result<Samples, String> {
    let mut samples = Vec::new();
    while let Some(d) = work.take() {
        let request = hyper::Request::post(uri.clone())
            .header("content-type", "application/json")
            .header("svix-id", &d.msg_id)
            .header("svix-timestamp", &d.timestamp)
            .header("svix-signature", &d.signature)
            .body(Full::new(Bytes::from(d.body.clone())))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        response.into_body().collect().await.map_err(|e| e.to_string())?;
        samples.push((started.elapsed(), status));
    }
    Ok(samples)
}

async fn sql_worker(url: String, work: Arc<Work>) -> Result<Samples, String> {
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let statement =
        client.prepare("SELECT clerk_sync.receive($1::jsonb, $2::text)").await.map_err(|e| e.to_string())?;
    let mut samples = Vec::new();
    while let Some(d) = work.take() {
        let headers = json!({"content-type": "application/json", "svix-id": d.msg_id, "svix-timestamp": d.timestamp, "svix-signature": d.signature});
        let started = Instant::now();
        let row = client.query_one(&statement, &[&headers, &d.body]).await.map_err(|e| e.to_string())?;
        let answer: Value = row.get(0);
        let status = answer["status"].as_u64().unwrap_or(0) as u16;
        samples.push((started.elapsed(), status));
    }
    Ok(samples)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(target: Target, options: Load) -> Result<(), String> {
    let key = SigningKey::parse(&options.secret).map_err(|e| e.to_string())?;
    let work = Arc::new(Work {
        deliveries: deliveries(options.events, &key),
        next: AtomicUsize::new(0),
        deadline: Instant::now() + Duration::from_secs(options.max_seconds),
    });
    let started = Instant::now();
    let client = http_client();
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let work = work.clone();
        workers.push(match &target {
            Target::Http(uri) => tokio::spawn(http_worker(client.clone(), uri.clone(), work)),
            Target::Sql(url) => tokio::spawn(sql_worker(url.clone(), work)),
        });
    }
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.map_err(|e| e.to_string())??);
    }
    let seconds = started.elapsed().as_secs_f64();
    let not_2xx = samples.iter().filter(|(_, s)| !(200..300).contains(s)).count();
    let mut latencies: Vec<Duration> = samples.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let kind = match target {
        Target::Http(_) => "http",
        Target::Sql(_) => "sql",
    };
    println!(
        "target={kind} concurrency={} events={} seconds={seconds:.2} per_second={:.0} p50_ms={:.2} p99_ms={:.2} not_2xx={not_2xx}",
        options.concurrency,
        samples.len(),
        samples.len() as f64 / seconds,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
    if samples.len() < options.events {
        return Err(format!("stopped at the deadline after {} of {} events", samples.len(), options.events));
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("clerk-sync-loadgen: {error}");
            std::process::exit(1);
        }
    };
    let result = match cli.command {
        Command::Chaos(options) => runtime.block_on(chaos::run(options)),
        command => target(command).and_then(|(target, load)| runtime.block_on(run(target, load))),
    };
    if let Err(error) = result {
        eprintln!("clerk-sync-loadgen: {error}");
        std::process::exit(1);
    }
}
