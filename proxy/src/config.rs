//! Configuration from the environment.

use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_PATH: &str = "/api/webhooks/clerk";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    /// Where Clerk posts webhooks (the sign-up guide's route by default).
    pub path: String,
    /// An upper bound of its own on bodies (MAX_BODY_BYTES); the limit itself is the database's
    /// setting `max_body_bytes` (see `server::BodyLimit`).
    pub max_body_bytes: Option<usize>,
    /// Every request is answered within this, well under Svix's 15 s.
    pub request_timeout: Duration,
    pub pool_size: usize,
    /// A listener of its own for /metrics (METRICS_ADDR); None: /metrics beside the webhook.
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn number<T: std::str::FromStr>(name: &str, value: Option<String>, default: T) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => {
            text.trim().parse().map_err(|_| ConfigError(format!("{name} must be a whole number, not {text:?}")))
        }
    }
}

impl Config {
    /// Reads DATABASE_URL (required), LISTEN_ADDR, WEBHOOK_PATH, MAX_BODY_BYTES,
    /// REQUEST_TIMEOUT_MS, POOL_SIZE and METRICS_ADDR through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let database_url = var("DATABASE_URL")
            .filter(|url| !url.trim().is_empty())
            .ok_or_else(|| ConfigError("DATABASE_URL is not set (e.g. postgres://user@127.0.0.1:5432/app)".into()))?;
        let listen_text = var("LISTEN_ADDR").unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("LISTEN_ADDR must be host:port, not {listen_text:?}")))?;
        let path = var("WEBHOOK_PATH").unwrap_or_else(|| DEFAULT_PATH.to_owned());
        if !path.starts_with('/') || path == "/healthz" {
            return Err(ConfigError(format!("WEBHOOK_PATH must start with / and not be /healthz, not {path:?}")));
        }
        let timeout_ms: u64 = number("REQUEST_TIMEOUT_MS", var("REQUEST_TIMEOUT_MS"), 10_000)?;
        if !(100..=14_000).contains(&timeout_ms) {
            return Err(ConfigError("REQUEST_TIMEOUT_MS must lie within 100..=14000 (Svix gives up at 15 s)".into()));
        }
        let pool_size = number("POOL_SIZE", var("POOL_SIZE"), 16)?;
        if pool_size == 0 {
            return Err(ConfigError("POOL_SIZE must be at least 1".into()));
        }
        let metrics_listen = match var("METRICS_ADDR").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse()
                    .map_err(|_| ConfigError(format!("METRICS_ADDR must be host:port, not {text:?}")))?,
            ),
        };
        Ok(Config {
            database_url,
            metrics_listen,
            listen,
            path,
            max_body_bytes: var("MAX_BODY_BYTES").map(|v| number("MAX_BODY_BYTES", Some(v), 0)).transpose()?,
            request_timeout: Duration::from_millis(timeout_ms),
            pool_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn defaults_listen_on_loopback_at_the_guides_path() {
        let config = Config::from_env(env(&[("DATABASE_URL", "postgres://u@127.0.0.1/db")])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.path, "/api/webhooks/clerk");
        assert_eq!(config.max_body_bytes, None, "the database's setting decides");
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.pool_size, 16);
    }

    #[test]
    fn everything_can_be_set() {
        let config = Config::from_env(env(&[
            ("DATABASE_URL", "postgres://u@127.0.0.1/db"),
            ("LISTEN_ADDR", "127.0.0.1:8080"),
            ("WEBHOOK_PATH", "/hooks/clerk"),
            ("MAX_BODY_BYTES", "2048"),
            ("REQUEST_TIMEOUT_MS", "5000"),
            ("POOL_SIZE", "4"),
            ("METRICS_ADDR", "127.0.0.1:9187"),
        ]))
        .unwrap();
        assert_eq!(config.listen.port(), 8080);
        assert_eq!(config.path, "/hooks/clerk");
        assert_eq!((config.max_body_bytes, config.pool_size), (Some(2048), 4));
        assert_eq!(config.request_timeout, Duration::from_secs(5));
        assert_eq!(config.metrics_listen.map(|a| a.port()), Some(9187));
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("DATABASE_URL", " ")],
            &[("DATABASE_URL", "x"), ("LISTEN_ADDR", "localhost")],
            &[("DATABASE_URL", "x"), ("WEBHOOK_PATH", "hooks")],
            &[("DATABASE_URL", "x"), ("REQUEST_TIMEOUT_MS", "20000")],
            &[("DATABASE_URL", "x"), ("POOL_SIZE", "0")],
            &[("DATABASE_URL", "x"), ("MAX_BODY_BYTES", "1MB")],
            &[("DATABASE_URL", "x"), ("METRICS_ADDR", "9187")],
        ];
        for case in cases {
            assert!(Config::from_env(env(case)).is_err(), "{case:?}");
        }
    }
}
