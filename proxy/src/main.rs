//! clerk-sync-proxy: a thin HTTP front for the clerk_sync extension. `--help` lists every
//! setting, its environment variable (also read from ./.env) and its default.

mod config;
mod send_test;
mod serve;
mod sync_from_clerk;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "clerk-sync-proxy", version, about = "Forwards Clerk (Svix) webhooks to clerk_sync.receive")]
struct Cli {
    /// Without one: serve, configured from the environment
    #[command(subcommand)]
    command: Option<Command>,
    /// Threads forwarding requests: the database does the work and needs the cores more
    #[arg(long, env = "WORKER_THREADS", default_value = "1", global = true)]
    worker_threads: usize,
}

/// `serve` with its settings from the environment alone: what the bare command runs.
#[derive(Parser)]
#[command(name = "clerk-sync-proxy")]
struct ServeFromEnvironment {
    #[command(flatten)]
    config: config::Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve POST <path>, GET /healthz and GET /metrics (the default)
    Serve(config::Config),
    /// Sign a Clerk-shaped user.created for a new user and post it, like the dashboard's Testing tab
    SendTest {
        /// Default: http://<LISTEN_ADDR><WEBHOOK_PATH>
        url: Option<String>,
        /// The endpoint's signing secret
        #[arg(long, env = "CLERK_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        #[arg(long = "listen", env = "LISTEN_ADDR", default_value = config::DEFAULT_LISTEN)]
        listen: String,
        #[arg(long = "path", env = "WEBHOOK_PATH", default_value = config::DEFAULT_PATH)]
        path: String,
    },
    /// Import every user from Clerk's Backend API (resumable); --reconcile removes those Clerk no longer has
    Sync(sync_from_clerk::SyncArgs),
    /// Print a variable as the proxy reads it (the environment, else ./.env); exit 1 when unset
    Env { name: String },
}

/// RUST_LOG (default `info`), except that the database client never logs below `info`: at
/// `debug` tokio-postgres prints every statement's parameters — each delivery's headers,
/// signature and personal data.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    filter.add_directive("tokio_postgres=info".parse().expect("a valid directive"))
}

fn main() -> ExitCode {
    // ./.env only (not a parent directory's); variables already in the environment win.
    let _ = dotenvy::from_path(".env");
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(cli.worker_threads.max(1))
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Serve(config)) => runtime.block_on(serve::serve(config)),
        None => match ServeFromEnvironment::try_parse_from(["clerk-sync-proxy"]) {
            Ok(serve) => runtime.block_on(serve::serve(serve.config)),
            Err(error) => Err(error.to_string()),
        },
        Some(Command::SendTest { url, secret, listen, path }) => {
            let url = url.unwrap_or_else(|| format!("http://{listen}{path}"));
            runtime.block_on(send_test::send(&url, &secret)).and_then(|status| {
                (200..300).contains(&status).then_some(()).ok_or_else(|| format!("the endpoint answered {status}"))
            })
        }
        Some(Command::Sync(args)) => runtime.block_on(sync_from_clerk::run(args)),
        Some(Command::Env { name }) => match std::env::var(&name) {
            Ok(value) => {
                println!("{value}");
                Ok(())
            }
            Err(_) => return ExitCode::FAILURE,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clerk-sync-proxy: {error}");
            ExitCode::FAILURE
        }
    }
}
