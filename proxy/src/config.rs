//! Configuration: every setting an environment variable (also read from `./.env`) or a flag,
//! with its default and check in one place; `--help` lists them.

use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_PATH: &str = "/api/webhooks/clerk";

fn database_url(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("empty (e.g. postgres://user@127.0.0.1:5432/app)".into());
    }
    Ok(value.to_owned())
}

fn webhook_path(value: &str) -> Result<String, String> {
    if !value.starts_with('/') || value == "/healthz" || value == "/metrics" {
        return Err("must start with / and be neither /healthz nor /metrics".into());
    }
    Ok(value.to_owned())
}

fn request_timeout(value: &str) -> Result<Duration, String> {
    let ms: u64 = value.trim().parse().map_err(|_| "not a whole number of milliseconds".to_owned())?;
    if !(100..=14_000).contains(&ms) {
        return Err("must lie within 100..=14000 (Svix gives up at 15 s)".into());
    }
    Ok(Duration::from_millis(ms))
}

fn at_least_one(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number, at least 1".into()),
    }
}

fn header_timeout(value: &str) -> Result<Duration, String> {
    let ms: u64 = value.trim().parse().map_err(|_| "not a whole number of milliseconds".to_owned())?;
    if !(100..=60_000).contains(&ms) {
        return Err("must lie within 100..=60000".into());
    }
    Ok(Duration::from_millis(ms))
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Config {
    /// The database with clerk_sync, e.g. postgres://clerk_sync_proxy@127.0.0.1:5432/app
    #[arg(long, env = "DATABASE_URL", value_parser = database_url, hide_env_values = true)]
    pub database_url: String,
    /// Where to listen
    #[arg(long = "listen", env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Where Clerk posts webhooks (the sign-up guide's route by default)
    #[arg(long = "path", env = "WEBHOOK_PATH", default_value = DEFAULT_PATH, value_parser = webhook_path)]
    pub path: String,
    /// A body limit of the proxy's own; the limit is the database's setting max_body_bytes, read
    /// at start and every 30 s (1048576 until read)
    #[arg(long, env = "MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Every request is answered within this many milliseconds (503 past it), well under Svix's 15 s
    #[arg(long = "request-timeout-ms", env = "REQUEST_TIMEOUT_MS", default_value = "10000", value_parser = request_timeout)]
    pub request_timeout: Duration,
    /// Database connections
    #[arg(long, env = "POOL_SIZE", default_value = "16", value_parser = at_least_one)]
    pub pool_size: usize,
    /// A listener of its own for GET /metrics. Without one, /metrics is served beside the webhook
    /// only when that listens on a loopback address
    #[arg(long = "metrics-addr", env = "METRICS_ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Connections open at once; one more is answered 503 and closed
    #[arg(long, env = "MAX_CONNECTIONS", default_value = "1024", value_parser = at_least_one)]
    pub max_connections: usize,
    /// A connection must send a whole request head within this many milliseconds, also after
    /// idling between requests, or it is closed
    #[arg(long = "header-timeout-ms", env = "HEADER_TIMEOUT_MS", default_value = "5000", value_parser = header_timeout)]
    pub header_timeout: Duration,
}

impl Config {
    /// Whether GET /metrics is served beside the webhook: only on loopback, unless METRICS_ADDR
    /// gives it a listener of its own.
    pub fn metrics_beside_webhook(&self) -> bool {
        self.metrics_listen.is_none() && self.listen.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    /// Flags only, so that the test's own environment cannot leak in through `env`.
    fn parse(flags: &[&str]) -> Result<Config, clap::Error> {
        Cli::try_parse_from(std::iter::once("clerk-sync-proxy").chain(flags.iter().copied())).map(|cli| cli.config)
    }

    #[test]
    fn defaults_listen_on_loopback_at_the_guides_path() {
        let config = parse(&["--database-url", "postgres://u@127.0.0.1/db"]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.path, "/api/webhooks/clerk");
        assert_eq!(config.max_body_bytes, None, "the database's setting decides");
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.pool_size, 16);
        assert_eq!(config.metrics_listen, None);
        assert_eq!((config.max_connections, config.header_timeout), (1024, Duration::from_secs(5)));
        assert!(config.metrics_beside_webhook(), "on loopback");
    }

    #[test]
    fn metrics_stay_off_a_public_listener_unless_asked_for() {
        let public = parse(&["--database-url=x", "--listen=0.0.0.0:3000"]).unwrap();
        assert!(!public.metrics_beside_webhook());
        let own = parse(&["--database-url=x", "--listen=0.0.0.0:3000", "--metrics-addr=127.0.0.1:9187"]).unwrap();
        assert!(!own.metrics_beside_webhook(), "served on its own listener");
    }

    #[test]
    fn everything_can_be_set() {
        let config = parse(&[
            "--database-url=postgres://u@127.0.0.1/db",
            "--listen=127.0.0.1:8080",
            "--path=/hooks/clerk",
            "--max-body-bytes=2048",
            "--request-timeout-ms=5000",
            "--pool-size=4",
            "--metrics-addr=127.0.0.1:9187",
            "--max-connections=64",
            "--header-timeout-ms=1000",
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 8080);
        assert_eq!(config.path, "/hooks/clerk");
        assert_eq!((config.max_body_bytes, config.pool_size), (Some(2048), 4));
        assert_eq!(config.request_timeout, Duration::from_secs(5));
        assert_eq!(config.metrics_listen.map(|a| a.port()), Some(9187));
        assert_eq!((config.max_connections, config.header_timeout), (64, Duration::from_secs(1)));
    }

    /// What `main` reads from ./.env with dotenvy: the sign-up guide's format and its variants.
    #[test]
    fn the_guides_env_file_reads_as_written() {
        let text =
            "# Clerk\nCLERK_WEBHOOK_SECRET=\"whsec_abc\"\nexport DATABASE_URL='postgres://x'\nPLAIN=value # note\n";
        let pairs: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes()).map(Result::unwrap).collect();
        let expected = [("CLERK_WEBHOOK_SECRET", "whsec_abc"), ("DATABASE_URL", "postgres://x"), ("PLAIN", "value")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[&[&str]] = &[
            &["--database-url", " "],
            &["--database-url=x", "--listen=localhost"],
            &["--database-url=x", "--path=hooks"],
            &["--database-url=x", "--path=/metrics"],
            &["--database-url=x", "--request-timeout-ms=20000"],
            &["--database-url=x", "--pool-size=0"],
            &["--database-url=x", "--max-body-bytes=1MB"],
            &["--database-url=x", "--metrics-addr=9187"],
            &["--database-url=x", "--max-connections=0"],
            &["--database-url=x", "--header-timeout-ms=5"],
        ];
        for case in cases {
            let error = parse(case).expect_err(&format!("{case:?}"));
            let flag = case[1].split('=').next().unwrap().trim_start_matches('-');
            assert!(error.to_string().contains(flag), "{case:?}: {error}");
        }
    }
}
