//! clerk-sync-loadgen: sends signed Clerk deliveries to the proxy (HTTP) or straight to
//! `clerk_sync.receive` (SQL), with a fixed number of events and a deadline, and prints
//! throughput and latency. Refuses any address outside 127.0.0.0/8.
//!
//!   clerk-sync-loadgen http URL | sql DATABASE_URL
//!       [--events N] [--concurrency C] [--max-seconds S] [--secret whsec_...]
//!   clerk-sync-loadgen chaos URL DATABASE_URL [--users N] [--concurrency C] [--max-seconds S]
//!       [--seed N] [--secret whsec_...]     (see chaos.rs)

mod chaos;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clerk_sync_core::{sign, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("../../../tests/fixtures/events/user.created.email.json");

struct Delivery {
    msg_id: String,
    timestamp: String,
    signature: String,
    body: String,
}

enum Target {
    Http { host: String, port: u16, uri: hyper::Uri },
    Sql(String),
}

struct Options {
    target: Target,
    events: usize,
    concurrency: usize,
    max_seconds: u64,
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

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut rest = args.iter();
    let kind = rest.next().ok_or("usage: clerk-sync-loadgen http URL | sql DATABASE_URL [options]")?;
    let address = rest.next().ok_or("missing URL or DATABASE_URL")?;
    let target = match kind.as_str() {
        "http" => {
            let uri: hyper::Uri = address.parse().map_err(|e| format!("{address}: {e}"))?;
            let host = uri.host().ok_or("URL has no host")?.to_owned();
            loopback_only(&host)?;
            Target::Http { port: uri.port_u16().unwrap_or(80), host, uri }
        }
        "sql" => {
            let config: tokio_postgres::Config = address.parse().map_err(|e| format!("{e}"))?;
            for host in config.get_hosts() {
                match host {
                    tokio_postgres::config::Host::Tcp(name) => loopback_only(name)?,
                    tokio_postgres::config::Host::Unix(_) => {}
                }
            }
            Target::Sql(address.clone())
        }
        other => return Err(format!("unknown target kind {other:?}")),
    };
    let mut options = Options {
        target,
        events: 2000,
        concurrency: 8,
        max_seconds: 120,
        secret: std::env::var("CLERK_WEBHOOK_SECRET")
            .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
    };
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|_| format!("{flag}: {value:?} is not a number"));
        match flag.as_str() {
            "--events" => options.events = number()?,
            "--concurrency" => options.concurrency = number()?.max(1),
            "--max-seconds" => options.max_seconds = number()? as u64,
            "--secret" => options.secret = value.clone(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

/// Distinct `user.created` deliveries, signed now, Clerk-shaped (the fixture with its ids changed).
fn deliveries(count: usize, key: &SigningKey) -> Vec<Delivery> {
    let template: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    let run = now.as_nanos() as u64;
    let timestamp = now.as_secs() as i64;
    (0..count)
        .map(|i| {
            let mut event = template.clone();
            let user_id = format!("user_load{run:x}{i:06}");
            event["data"]["id"] = json!(user_id);
            event["data"]["email_addresses"][0]["email_address"] = json!(format!("load{run:x}{i}@example.com"));
            event["data"]["updated_at"] = json!(now.as_millis() as u64);
            event["timestamp"] = json!(now.as_millis() as u64 + i as u64);
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

async fn http_worker(host: String, port: u16, uri: hyper::Uri, work: Arc<Work>) -> Result<Samples, String> {
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut samples = Vec::new();
    while let Some(d) = work.take() {
        let request = hyper::Request::post(uri.clone())
            .header("host", format!("{host}:{port}"))
            .header("content-type", "application/json")
            .header("svix-id", &d.msg_id)
            .header("svix-timestamp", &d.timestamp)
            .header("svix-signature", &d.signature)
            .body(Full::new(Bytes::from(d.body.clone())))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
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

async fn run(options: Options) -> Result<(), String> {
    let key = SigningKey::parse(&options.secret).map_err(|e| e.to_string())?;
    let work = Arc::new(Work {
        deliveries: deliveries(options.events, &key),
        next: AtomicUsize::new(0),
        deadline: Instant::now() + Duration::from_secs(options.max_seconds),
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let work = work.clone();
        workers.push(match &options.target {
            Target::Http { host, port, uri } => tokio::spawn(http_worker(host.clone(), *port, uri.clone(), work)),
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
    let kind = match options.target {
        Target::Http { .. } => "http",
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("chaos") {
        let result = chaos::Options::parse(&args[1..]).and_then(|options| {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(chaos::run(options))
        });
        if let Err(error) = result {
            eprintln!("clerk-sync-loadgen chaos: {error}");
            std::process::exit(1);
        }
        return;
    }
    let result = parse_args(&args).and_then(|options| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(run(options))
    });
    if let Err(error) = result {
        eprintln!("clerk-sync-loadgen: {error}");
        std::process::exit(1);
    }
}
