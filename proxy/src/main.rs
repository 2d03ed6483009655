//! clerk-sync-proxy: a thin HTTP front for the clerk_sync extension.
//!
//!   clerk-sync-proxy [serve]          serve POST $WEBHOOK_PATH and GET /healthz
//!   clerk-sync-proxy send-test [URL]  post a signed test user.created (CLERK_WEBHOOK_SECRET)

mod config;
mod dotenv;
mod headers;
mod metrics;
mod send_test;
mod server;

use std::process::ExitCode;

const USAGE: &str = "usage: clerk-sync-proxy [serve | send-test [URL]]

environment (also read from ./.env):
  DATABASE_URL        postgres://user@host:port/db (required to serve)
  LISTEN_ADDR         default 127.0.0.1:3000
  WEBHOOK_PATH        default /api/webhooks/clerk
  MAX_BODY_BYTES      a bound of the proxy's own; the limit is the database's
                      max_body_bytes setting (read every 30 s; 1048576 until read)
  REQUEST_TIMEOUT_MS  default 10000
  POOL_SIZE           default 16
  METRICS_ADDR        a listener of its own for GET /metrics (default: beside the webhook)
  WORKER_THREADS      default 1
  CLERK_WEBHOOK_SECRET  signs send-test's event
  RUST_LOG            default info";

fn main() -> ExitCode {
    dotenv::load();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // One thread forwards thousands of requests a second; the database is the work, and it
    // needs the cores more than the proxy does.
    let workers = std::env::var("WORKER_THREADS").ok().and_then(|n| n.trim().parse::<usize>().ok()).filter(|&n| n > 0);
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().worker_threads(workers.unwrap_or(1)).build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("cannot start: {error}");
                return ExitCode::FAILURE;
            }
        };
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => config::Config::from_env(|name| std::env::var(name).ok())
            .map_err(|e| e.to_string())
            .and_then(|config| runtime.block_on(server::serve(config))),
        Some("send-test") => {
            let default_url = format!(
                "http://{}{}",
                std::env::var("LISTEN_ADDR").unwrap_or_else(|_| config::DEFAULT_LISTEN.to_owned()),
                std::env::var("WEBHOOK_PATH").unwrap_or_else(|_| config::DEFAULT_PATH.to_owned())
            );
            let url = args.get(1).cloned().unwrap_or(default_url);
            match std::env::var("CLERK_WEBHOOK_SECRET") {
                Err(_) => Err("CLERK_WEBHOOK_SECRET is not set".to_owned()),
                Ok(secret) => runtime.block_on(send_test::send(&url, &secret)).and_then(|status| {
                    (200..300).contains(&status).then_some(()).ok_or_else(|| format!("the endpoint answered {status}"))
                }),
            }
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clerk-sync-proxy: {error}");
            ExitCode::FAILURE
        }
    }
}
