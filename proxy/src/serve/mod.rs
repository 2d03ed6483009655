//! The HTTP server: `POST <path>` forwards to `clerk_sync.receive`, `GET /healthz` checks the
//! database. Graceful shutdown on SIGTERM and SIGINT. Connections are taken in by `listener`;
//! here a request is bounded: its body by the limit, its whole life by the request timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{json, Value};
use tower_http::timeout::TimeoutLayer;

use crate::config::Config;
mod headers;
mod listener;
pub mod metrics;

use listener::Limits;
use metrics::Metrics;

const RECEIVE: &str = "SELECT clerk_sync.receive($1::jsonb, $2::text)";
const MAX_BODY_BYTES: &str = "SELECT clerk_sync.max_body_bytes()";

/// The body limit: the database's setting `max_body_bytes` (what `receive` itself enforces),
/// read at start and every 30 s, and never more than MAX_BODY_BYTES when that is set. Until the
/// database has said, 1 MiB (the setting's default).
pub struct BodyLimit {
    current: AtomicUsize,
    cap: Option<usize>,
}

pub const LIMIT_REFRESH: Duration = Duration::from_secs(30);
const DEFAULT_LIMIT: usize = 1024 * 1024;

impl BodyLimit {
    pub fn new(cap: Option<usize>) -> Self {
        BodyLimit { current: AtomicUsize::new(cap.map_or(DEFAULT_LIMIT, |cap| cap.min(DEFAULT_LIMIT))), cap }
    }

    pub fn get(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    fn set_from_database(&self, bytes: usize) {
        self.current.store(self.cap.map_or(bytes, |cap| cap.min(bytes)), Ordering::Relaxed);
    }

    /// Reads the database's setting; logs (once per change of mind) when it cannot.
    async fn refresh(&self, pool: &Pool) {
        let read = async {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            let row = client.query_one(MAX_BODY_BYTES, &[]).await.map_err(|e| e.to_string())?;
            row.try_get::<_, i64>(0).map_err(|e| e.to_string())
        };
        match read.await {
            Ok(bytes) => {
                let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
                if self.cap.map_or(bytes, |cap| cap.min(bytes)) != self.get() {
                    tracing::info!("body limit: {bytes} bytes (the database's max_body_bytes)");
                }
                self.set_from_database(bytes);
            }
            Err(error) => tracing::warn!(
                "body limit stays {} bytes: cannot read clerk_sync.max_body_bytes(): {error}",
                self.get()
            ),
        }
    }
}

struct App {
    pool: Pool,
    limit: Arc<BodyLimit>,
    metrics: Arc<Metrics>,
}

pub fn pool(config: &Config) -> Result<Pool, String> {
    let mut pg: tokio_postgres::Config = config.database_url.parse().map_err(|e| format!("DATABASE_URL: {e}"))?;
    pg.application_name("clerk-sync-proxy");
    // The database gives up before the HTTP timeout answers, so no statement outlives its request.
    pg.options(format!("-c statement_timeout={}", config.request_timeout.as_millis().saturating_sub(500).max(100)));
    let manager =
        Manager::from_config(pg, tokio_postgres::NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    // Last in, first out: a quiet endpoint keeps reusing the one warm backend instead of cycling
    // through every connection a burst opened.
    Pool::builder(manager)
        .max_size(config.pool_size)
        .queue_mode(deadpool_postgres::QueueMode::Lifo)
        .build()
        .map_err(|e| e.to_string())
}

/// The webhook and /healthz, and /metrics when the webhook listens on loopback and METRICS_ADDR
/// does not give it a listener of its own.
fn router(config: &Config, app: Arc<App>) -> Router {
    let router = Router::new().route(&config.path, post(webhook)).route("/healthz", get(healthz));
    let router = if config.metrics_beside_webhook() { router.route("/metrics", get(metrics)) } else { router };
    router
        .with_state(app)
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout))
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.render(&app.pool);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// One line per delivery; `User created: user_…` as the sign-up guide tells users to look for.
fn log_delivery(answer: &Value) {
    let text = |key: &str| answer.get(key).and_then(Value::as_str).unwrap_or("-");
    let status = answer.get("status").and_then(Value::as_u64).unwrap_or(0);
    let (outcome, kind, user) = (text("outcome"), text("type"), text("user_id"));
    match (status, kind, outcome) {
        (200, "user.created" | "user.updated" | "user.deleted", "created" | "updated" | "deleted") => {
            tracing::info!("User {outcome}: {user}");
        }
        (200, _, _) => tracing::info!("{kind} {outcome}: {user} (svix-id {})", text("id")),
        _ => tracing::warn!(
            "webhook answered {status}: {outcome} (svix-id {}, reason {}, error {})",
            text("id"),
            text("reason"),
            text("error_code")
        ),
    }
}

/// The body, or None when it is over the limit; it never holds more than `limit` bytes. A body
/// without a declared length that turns out oversize is still read to its end and dropped
/// (within the request timeout), so that the client, still sending, gets the 413 rather than a
/// reset connection. Hand-written on purpose: axum's `DefaultBodyLimit` and tower-http's
/// `RequestBodyLimitLayer` stop reading at the limit, and a sender still writing then sees the
/// connection reset instead of the answer. A declared length over the limit is answered before
/// this (`declared_too_large`).
async fn read_body(body: Body, limit: usize, declared: Option<usize>) -> Result<Option<Bytes>, axum::Error> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut collected = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut over = false;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        if over || collected.len() + data.len() > limit {
            over = true;
            collected = Vec::new();
        } else {
            if collected.capacity() < collected.len() + data.len() {
                // Grown by doubling as a Vec does, but never past the limit.
                let wanted = (collected.len() + data.len()).max(collected.capacity() * 2).min(limit);
                collected.reserve_exact(wanted - collected.len());
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok((!over).then(|| Bytes::from(collected)))
}

/// The declared Content-Length, if any and a number.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(axum::http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// 413 at once for a body declared longer than the limit: nothing is read, and the connection
/// is closed after the answer (the rest of the body is never wanted).
fn declared_too_large(limit: usize) -> Response {
    tracing::warn!("webhook answered 413: declared body over the limit of {limit} bytes");
    let mut response = answer(StatusCode::PAYLOAD_TOO_LARGE, json!({"status": 413, "outcome": "too_large"}));
    response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

async fn webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let limit = app.limit.get();
    let declared = declared_length(&headers);
    if declared.is_some_and(|length| length > limit) {
        app.metrics.answered(413, "too_large", started.elapsed());
        return declared_too_large(limit);
    }
    let (status, receipt) = deliver(&app, headers, body, limit, declared).await;
    let outcome = receipt.get("outcome").and_then(Value::as_str).unwrap_or("-");
    if matches!(outcome, "unavailable" | "error") {
        app.metrics.database_error();
    }
    app.metrics.answered(status.as_u16(), outcome, started.elapsed());
    answer(status, receipt)
}

/// The delivery's answer: its status and body.
async fn deliver(
    app: &App,
    headers: HeaderMap,
    body: Body,
    limit: usize,
    declared: Option<usize>,
) -> (StatusCode, Value) {
    let body = match read_body(body, limit, declared).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            tracing::warn!("webhook answered 413: body over the limit of {limit} bytes");
            return (StatusCode::PAYLOAD_TOO_LARGE, json!({"status": 413, "outcome": "too_large"}));
        }
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                json!({"status": 400, "outcome": "malformed", "error": "unreadable body"}),
            )
        }
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, json!({"status": 400, "outcome": "malformed", "error": "body is not UTF-8"}));
    };
    if body.contains('\0') {
        return (StatusCode::BAD_REQUEST, json!({"status": 400, "outcome": "malformed", "error": "body contains NUL"}));
    }
    let client = match app.pool.get().await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!("database unavailable: {error}");
            return (StatusCode::SERVICE_UNAVAILABLE, json!({"status": 503, "outcome": "unavailable"}));
        }
    };
    let forwarded = headers::to_json(&headers);
    let result = async {
        let statement = client.prepare_cached(RECEIVE).await?;
        let row = client.query_one(&statement, &[&forwarded, &body]).await?;
        row.try_get::<_, Value>(0)
    }
    .await;
    match result {
        Ok(receipt) => {
            log_delivery(&receipt);
            let status = receipt
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, receipt)
        }
        Err(error) => {
            let code = error.code().map(|c| c.code().to_owned()).unwrap_or_default();
            tracing::error!("clerk_sync.receive failed: SQLSTATE {code}: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, json!({"status": 500, "outcome": "error", "error_code": code}))
        }
    }
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let check = async {
        let client = app.pool.get().await.map_err(|e| e.to_string())?;
        client.query_one("SELECT 1", &[]).await.map_err(|e| e.to_string())
    };
    match check.await {
        Ok(_) => answer(StatusCode::OK, json!({"status": "ok"})),
        Err(error) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "unavailable", "error": error})),
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

pub async fn serve(config: Config) -> Result<(), String> {
    let pool = pool(&config)?;
    let limit = Arc::new(BodyLimit::new(config.max_body_bytes));
    limit.refresh(&pool).await;
    let refresher = {
        let (limit, pool) = (limit.clone(), pool.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LIMIT_REFRESH).await;
                limit.refresh(&pool).await;
            }
        })
    };
    let files = listener::raise_file_limit();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(
        "listening on http://{}{} (health: /healthz; at most {} connections, {} open files)",
        config.listen,
        config.path,
        config.max_connections,
        files
    );
    if !config.metrics_beside_webhook() && config.metrics_listen.is_none() {
        tracing::info!("/metrics is off on a non-loopback listener: METRICS_ADDR=127.0.0.1:9187 serves it");
    }
    let counters = Arc::new(Metrics::new());
    let app = Arc::new(App { pool, limit, metrics: counters.clone() });
    let metrics_server = match config.metrics_listen {
        None => None,
        Some(address) => {
            let listener =
                tokio::net::TcpListener::bind(address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
            tracing::info!("metrics on http://{address}/metrics");
            let router = Router::new().route("/metrics", get(metrics)).with_state(app.clone());
            Some(tokio::spawn(async move { axum::serve(listener, router).await }))
        }
    };
    let limits = Limits {
        max_connections: config.max_connections,
        header_timeout: config.header_timeout,
        drain: config.request_timeout + Duration::from_secs(1),
    };
    listener::serve(listener, router(&config, app), limits, counters, shutdown_signal()).await;
    refresher.abort();
    if let Some(server) = metrics_server {
        server.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_the_databases_within_the_proxys_own_bound() {
        let limit = BodyLimit::new(None);
        assert_eq!(limit.get(), 1_048_576, "the setting's default until the database says");
        limit.set_from_database(1000);
        assert_eq!(limit.get(), 1000);
        let bounded = BodyLimit::new(Some(65_536));
        assert_eq!(bounded.get(), 65_536);
        bounded.set_from_database(10_000_000);
        assert_eq!(bounded.get(), 65_536, "never more than MAX_BODY_BYTES");
        bounded.set_from_database(1000);
        assert_eq!(bounded.get(), 1000);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_read_to_the_end_and_dropped() {
        let small = read_body(Body::from("0123456789"), 10, Some(10)).await.unwrap();
        assert_eq!(small.as_deref(), Some(&b"0123456789"[..]));
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..100).map(|_| Ok(Bytes::from(vec![b'x'; 1000]))).collect();
        let large = Body::from_stream(stream_of(chunks));
        assert_eq!(read_body(large, 50_000, None).await.unwrap(), None);
        assert_eq!(read_body(Body::from("01234567890"), 10, None).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_body_never_holds_more_than_the_limit() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..10).map(|_| Ok(Bytes::from(vec![b'x'; 999]))).collect();
        let body = read_body(Body::from_stream(stream_of(chunks)), 10_000, None).await.unwrap().unwrap();
        assert_eq!(body.len(), 9_990);
        let declared = read_body(Body::from(vec![b'y'; 5000]), 10_000, Some(1_000_000_000)).await.unwrap();
        assert_eq!(declared.map(|b| b.len()), Some(5000), "a declared length is no reason to allocate past the limit");
    }

    #[test]
    fn a_declared_length_is_read_from_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_length(&headers), None);
        headers.insert(axum::http::header::CONTENT_LENGTH, "1073741824".parse().unwrap());
        assert_eq!(declared_length(&headers), Some(1_073_741_824));
        let response = declared_too_large(1024);
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.headers()[axum::http::header::CONNECTION], "close");
    }

    fn stream_of(
        chunks: Vec<Result<Bytes, std::io::Error>>,
    ) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        struct Chunks(std::vec::IntoIter<Result<Bytes, std::io::Error>>);
        impl futures_core::Stream for Chunks {
            type Item = Result<Bytes, std::io::Error>;
            fn poll_next(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                std::task::Poll::Ready(self.0.next())
            }
        }
        Chunks(chunks.into_iter())
    }
}
