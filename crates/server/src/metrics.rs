//! Prometheus metrics, one registry per server (so tests can read their own numbers). SMS
//! counters are per process; the outbox gauge is read from the database at scrape time, so every
//! instance reports the same queue.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::store::Store;

/// Outbox states reported even when no message is in them.
const OUTBOX_STATES: [&str; 6] = ["queued", "sending", "sent", "delivered", "undelivered", "failed"];

pub struct Metrics {
    registry: Registry,
    pub sms_queued: IntCounter,
    pub sms_sent: IntCounterVec,
    pub sms_failed: IntCounterVec,
    pub sms_retried: IntCounterVec,
    pub sms_provider_errors: IntCounterVec,
    pub sms_delivery_seconds: HistogramVec,
    pub sms_provider_paused: IntGaugeVec,
    pub sms_receipts: IntCounterVec,
    pub rows_purged: IntCounterVec,
    outbox_messages: IntGaugeVec,
    pub http_requests: IntCounterVec,
    pub http_request_seconds: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("docspace_auth".into()), None).expect("a valid prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric");
            registry.register(Box::new(h.clone())).expect("unique metric");
            h
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let sms_queued = IntCounter::new("sms_queued_total", "SMS messages queued with their codes").expect("valid");
        registry.register(Box::new(sms_queued.clone())).expect("unique metric");
        Self {
            sms_queued,
            sms_sent: counter("sms_sent_total", "SMS messages a provider accepted", &["provider"]),
            sms_failed: counter(
                "sms_failed_total",
                "SMS messages given up on, by the provider that failed last",
                &["provider"],
            ),
            sms_retried: counter(
                "sms_retried_total",
                "SMS deliveries scheduled for another attempt, by the provider that failed last",
                &["provider"],
            ),
            sms_provider_errors: counter(
                "sms_provider_errors_total",
                "Failed provider requests by kind (unavailable, rejected, destination, recipient)",
                &["provider", "kind"],
            ),
            sms_delivery_seconds: histogram(
                "sms_delivery_seconds",
                "Time from queueing an SMS to a provider accepting it",
                &["provider"],
                vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0],
            ),
            sms_provider_paused: gauge(
                "sms_provider_paused",
                "1 while a provider is skipped after failing repeatedly",
                &["provider"],
            ),
            sms_receipts: counter(
                "sms_receipts_total",
                "Delivery receipts received from providers",
                &["provider", "status"],
            ),
            rows_purged: counter(
                "rows_purged_total",
                "Rows the housekeeping purge deleted: final rows past their retention, ended bookkeeping",
                &["table"],
            ),
            outbox_messages: gauge("sms_outbox_messages", "Messages in the outbox by state", &["state"]),
            http_requests: counter(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
                &["method", "route", "status"],
            ),
            http_request_seconds: histogram(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
                &["method", "route"],
                prometheus::DEFAULT_BUCKETS.to_vec(),
            ),
            registry,
        }
    }

    /// The text exposition, with the outbox gauge refreshed from the database.
    pub async fn render(&self, store: &dyn Store) -> anyhow::Result<String> {
        let counts = store.count_messages_by_state().await?;
        for state in OUTBOX_STATES {
            self.outbox_messages.with_label_values(&[state]).set(0);
        }
        for (state, count) in counts {
            self.outbox_messages.with_label_values(&[state.as_str()]).set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }
}
