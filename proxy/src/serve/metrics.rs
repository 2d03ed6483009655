//! `GET /metrics` in Prometheus' text format: deliveries by status and outcome, their latency,
//! the database pool, database errors, bodies refused for their size, connections refused over
//! the cap.

use std::time::Duration;

use deadpool_postgres::Pool;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: Histogram,
    database_errors: IntCounter,
    too_large: IntCounter,
    connections_refused: IntCounter,
    pool_size: IntGauge,
    pool_in_use: IntGauge,
    pool_waiting: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("clerk_sync_proxy".into()), None).expect("a valid prefix");
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "Webhook deliveries answered, by HTTP status and outcome"),
            &["status", "outcome"],
        )
        .expect("valid metric");
        // From a fast commit to Svix's 15 s.
        let buckets = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0];
        let latency = Histogram::with_opts(
            HistogramOpts::new("request_duration_seconds", "Time from the request to its answer").buckets(buckets),
        )
        .expect("valid metric");
        let database_errors = IntCounter::new(
            "database_errors_total",
            "Deliveries answered 5xx because the database failed or was unreachable",
        )
        .expect("valid metric");
        let too_large =
            IntCounter::new("body_too_large_total", "Bodies over the limit, answered 413 without the database")
                .expect("valid metric");
        let connections_refused = IntCounter::new(
            "connections_refused_total",
            "Connections answered 503 and closed because MAX_CONNECTIONS were open",
        )
        .expect("valid metric");
        let pool_size = IntGauge::new("pool_connections", "Database connections open").expect("valid metric");
        let pool_in_use =
            IntGauge::new("pool_connections_in_use", "Database connections serving a delivery").expect("valid metric");
        let pool_waiting =
            IntGauge::new("pool_waiting", "Deliveries waiting for a database connection").expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(database_errors.clone()),
            Box::new(too_large.clone()),
            Box::new(connections_refused.clone()),
            Box::new(pool_size.clone()),
            Box::new(pool_in_use.clone()),
            Box::new(pool_waiting.clone()),
        ] {
            registry.register(collector).expect("each metric registered once");
        }
        Metrics {
            registry,
            requests,
            latency,
            database_errors,
            too_large,
            connections_refused,
            pool_size,
            pool_in_use,
            pool_waiting,
        }
    }

    /// One answered delivery.
    pub fn answered(&self, status: u16, outcome: &str, took: Duration) {
        self.requests.with_label_values(&[&status.to_string(), outcome]).inc();
        self.latency.observe(took.as_secs_f64());
        if status == 413 && outcome == "too_large" {
            self.too_large.inc();
        }
    }

    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    pub fn database_error(&self) {
        self.database_errors.inc();
    }

    /// The text exposition, with the pool's gauges read now.
    pub fn render(&self, pool: &Pool) -> String {
        let status = pool.status();
        self.pool_size.set(status.size as i64);
        self.pool_in_use.set((status.size - status.available) as i64);
        self.pool_waiting.set(status.waiting as i64);
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_status_and_outcome() {
        let metrics = Metrics::new();
        metrics.answered(200, "created", Duration::from_millis(3));
        metrics.answered(200, "created", Duration::from_millis(4));
        metrics.answered(413, "too_large", Duration::from_millis(1));
        metrics.database_error();
        let mut text = Vec::new();
        TextEncoder::new().encode(&metrics.registry.gather(), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("clerk_sync_proxy_requests_total{outcome=\"created\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("clerk_sync_proxy_body_too_large_total 1"), "{text}");
        assert!(text.contains("clerk_sync_proxy_database_errors_total 1"), "{text}");
        assert!(text.contains("clerk_sync_proxy_request_duration_seconds_count 3"), "{text}");
        assert!(text.contains("clerk_sync_proxy_request_duration_seconds_bucket{le=\"0.0025\"} 1"), "{text}");
    }
}
