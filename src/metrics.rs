//! Prometheus metrics: one process-global registry, the recording functions every layer calls,
//! and the text rendering served at `/metrics`.
//!
//! Labels are low-cardinality by construction: channel, country (ISO region), provider,
//! outcome, route pattern, status. Never a phone number, id or code.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sqlx::PgPool;

/// Closed label sets, initialised to 0 so dashboards show 0 rather than "no data".
pub const AUTHENTICATION_OUTCOMES: [&str; 6] = [
    "success",
    "wrong_code",
    "expired",
    "exhausted",
    "not_found",
    "rate_limited",
];
/// `otpd_sessions_total` labels: `event` × `outcome`, per `kind` (`consumer`, `b2b`).
pub const SESSION_EVENTS: [&str; 5] = [
    "created",
    "authenticated",
    "revoked",
    "intermediate",
    "attested",
];
pub const SESSION_OUTCOMES: [&str; 3] = ["success", "not_found", "invalid"];
pub const SESSION_KINDS: [&str; 2] = ["consumer", "b2b"];
pub const REFUSAL_REASONS: [&str; 11] = [
    "rate_limit",
    "daily_cap",
    "guess_budget",
    "client_limit",
    "country",
    "number_type",
    "prefix_velocity",
    "conversion",
    "pending_sends",
    "new_number_rate",
    "budget",
];

// HTTP answers are mostly database round trips (ms) plus one argon2 hash (tens of ms);
// anything past a few seconds is an outage or a provider timeout.
const HTTP_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
// Provider APIs answer in 100 ms – 2 s; the router's deadline bounds the tail.
const PROVIDER_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0];
// One argon2id hash is ~10–100 ms at the measured defaults; the tail is queueing.
const HASHING_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

struct Metrics {
    registry: Registry,
    sends: IntCounterVec,
    authentications: IntCounterVec,
    sessions: IntCounterVec,
    refusals: IntCounterVec,
    provider_requests: IntCounterVec,
    provider_errors: IntCounterVec,
    provider_duration: HistogramVec,
    circuit_open: IntGaugeVec,
    delivery_receipts: IntCounterVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    hashing_queue_depth: IntGauge,
    hashing_duration: Histogram,
    hashing_shed: IntCounter,
    db_pool_connections: IntGaugeVec,
    db_pool_max_connections: IntGauge,
    retention_deleted: IntCounterVec,
    sdk_events: IntCounterVec,
    build_info: IntGaugeVec,
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    fn new() -> prometheus::Result<Metrics> {
        let r = Registry::new();
        let m = Metrics {
            sends: counter_vec(
                &r,
                "otpd_sends_total",
                "Passcode sends by channel, destination country, provider and outcome.",
                &["channel", "country", "provider", "outcome"],
            )?,
            authentications: counter_vec(
                &r,
                "otpd_authentications_total",
                "Passcode authentications by outcome.",
                &["outcome"],
            )?,
            sessions: counter_vec(
                &r,
                "otpd_sessions_total",
                "Session events (created, authenticated, revoked) by kind and outcome.",
                &["kind", "event", "outcome"],
            )?,
            refusals: counter_vec(
                &r,
                "otpd_refusals_total",
                "Sends or attempts refused by a limit or fraud rule, by reason.",
                &["reason"],
            )?,
            provider_requests: counter_vec(
                &r,
                "otpd_provider_requests_total",
                "Requests to SMS/WhatsApp providers by provider and outcome.",
                &["provider", "outcome"],
            )?,
            provider_errors: counter_vec(
                &r,
                "otpd_provider_errors_total",
                "Provider errors by provider and error code (provider code or HTTP status).",
                &["provider", "code"],
            )?,
            provider_duration: histogram_vec(
                &r,
                "otpd_provider_request_duration_seconds",
                "Latency of one provider request.",
                &["provider"],
                &PROVIDER_BUCKETS,
            )?,
            circuit_open: gauge_vec(
                &r,
                "otpd_provider_circuit_open",
                "1 while the provider's circuit breaker is open, 0 when closed.",
                &["provider"],
            )?,
            delivery_receipts: counter_vec(
                &r,
                "otpd_delivery_receipts_total",
                "Delivery receipts received from providers by status.",
                &["provider", "status"],
            )?,
            http_requests: counter_vec(
                &r,
                "otpd_http_requests_total",
                "HTTP requests by method, route pattern and status.",
                &["method", "route", "status"],
            )?,
            http_duration: histogram_vec(
                &r,
                "otpd_http_request_duration_seconds",
                "HTTP request latency by method and route pattern.",
                &["method", "route"],
                &HTTP_BUCKETS,
            )?,
            hashing_queue_depth: gauge(
                &r,
                "otpd_hashing_queue_depth",
                "Argon2 hash jobs waiting for a hashing thread.",
            )?,
            hashing_duration: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        "otpd_hashing_duration_seconds",
                        "Time for one argon2 hash or verify, queueing included.",
                    )
                    .buckets(HASHING_BUCKETS.to_vec()),
                )?;
                r.register(Box::new(h.clone()))?;
                h
            },
            hashing_shed: {
                let c = IntCounter::new(
                    "otpd_hashing_shed_total",
                    "Requests shed with 503 before doing any work: their hash would wait longer than hashing.max_wait_ms, or hashing.queue jobs were waiting.",
                )?;
                r.register(Box::new(c.clone()))?;
                c
            },
            db_pool_connections: gauge_vec(
                &r,
                "otpd_db_pool_connections",
                "PostgreSQL pool connections by state.",
                &["state"],
            )?,
            db_pool_max_connections: gauge(
                &r,
                "otpd_db_pool_max_connections",
                "Configured maximum of PostgreSQL pool connections.",
            )?,
            retention_deleted: counter_vec(
                &r,
                "otpd_retention_deleted_total",
                "Rows purged by the retention job, by table.",
                &["table"],
            )?,
            sdk_events: counter_vec(
                &r,
                "otpd_sdk_events_total",
                "Frontend SDK telemetry events received on /sdk/v1/events (counted, then dropped), by outcome.",
                &["outcome"],
            )?,
            build_info: gauge_vec(
                &r,
                "otpd_build_info",
                "Always 1; the version label says which otpd is running.",
                &["version"],
            )?,
            registry: r,
        };
        for outcome in ["accepted", "rejected"] {
            m.sdk_events.with_label_values(&[outcome]);
        }
        for outcome in AUTHENTICATION_OUTCOMES {
            m.authentications.with_label_values(&[outcome]);
        }
        for reason in REFUSAL_REASONS {
            m.refusals.with_label_values(&[reason]);
        }
        for kind in SESSION_KINDS {
            for event in SESSION_EVENTS {
                for outcome in SESSION_OUTCOMES {
                    m.sessions.with_label_values(&[kind, event, outcome]);
                }
            }
        }
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(m)
    }
}

static METRICS: LazyLock<prometheus::Result<Metrics>> = LazyLock::new(Metrics::new);

fn get() -> Option<&'static Metrics> {
    METRICS.as_ref().ok()
}

/// Builds the registry (and its zeroed series) eagerly, so the first scrape is complete.
pub fn init() -> Result<(), String> {
    METRICS.as_ref().map(|_| ()).map_err(|e| e.to_string())
}

/// One send after the provider answered: `outcome` is `sent`, `rejected`, `failed`, or
/// `unknown` (every attempt timed out or lost its connection; the code was kept).
pub fn send(channel: &str, country: &str, provider: &str, outcome: &str) {
    if let Some(m) = get() {
        m.sends
            .with_label_values(&[channel, country, provider, outcome])
            .inc();
    }
}

/// One decided authentication; see [`AUTHENTICATION_OUTCOMES`].
pub fn authentication(outcome: &str) {
    if let Some(m) = get() {
        m.authentications.with_label_values(&[outcome]).inc();
    }
}

/// One session event; labels from [`SESSION_KINDS`], [`SESSION_EVENTS`], [`SESSION_OUTCOMES`].
pub fn session(kind: &str, event: &str, outcome: &str) {
    if let Some(m) = get() {
        m.sessions.with_label_values(&[kind, event, outcome]).inc();
    }
}

/// One refusal by a limit or fraud rule; see [`REFUSAL_REASONS`].
pub fn refusal(reason: &str) {
    if let Some(m) = get() {
        m.refusals.with_label_values(&[reason]).inc();
    }
}

/// One provider HTTP request. `outcome` is `ok`, `rejected`, `retryable` or `misconfigured`;
/// `error_code` is the provider's code or `http_<status>`, `timeout`, `connect`.
pub fn provider_request(
    provider: &str,
    outcome: &str,
    error_code: Option<&str>,
    elapsed: Duration,
) {
    if let Some(m) = get() {
        m.provider_requests
            .with_label_values(&[provider, outcome])
            .inc();
        m.provider_duration
            .with_label_values(&[provider])
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error_code {
            m.provider_errors.with_label_values(&[provider, code]).inc();
        }
    }
}

pub fn circuit_open(provider: &str, open: bool) {
    if let Some(m) = get() {
        m.circuit_open
            .with_label_values(&[provider])
            .set(i64::from(open));
    }
}

pub fn delivery_receipt(provider: &str, status: &str) {
    if let Some(m) = get() {
        m.delivery_receipts
            .with_label_values(&[provider, status])
            .inc();
    }
}

pub fn retention_deleted(table: &str, n: u64) {
    if let Some(m) = get() {
        m.retention_deleted.with_label_values(&[table]).inc_by(n);
    }
}

/// `n` frontend SDK telemetry events: `accepted` (counted and dropped) or `rejected`
/// (a batch that isn't an array of objects, or over the size bounds).
pub fn sdk_events(outcome: &str, n: u64) {
    if let Some(m) = get() {
        m.sdk_events.with_label_values(&[outcome]).inc_by(n);
    }
}

/// One HTTP request; `route` must be the matched pattern (or `unmatched`), never the path.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    if let Some(m) = get() {
        m.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        m.http_duration
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }
}

/// One argon2 job, from submission to answer.
pub fn hashing_observed(elapsed: Duration) {
    if let Some(m) = get() {
        m.hashing_duration.observe(elapsed.as_secs_f64());
    }
}

pub fn hashing_shed() {
    if let Some(m) = get() {
        m.hashing_shed.inc();
    }
}

/// What a scrape samples rather than counts.
pub struct Sampled<'a> {
    pub pool: &'a PgPool,
    /// Connections the request path keeps between statements (`store::held`): idle, though
    /// the pool counts them as in use.
    pub held_idle: usize,
    pub hashing_queue_depth: usize,
}

/// The Prometheus text exposition of every family, with gauges sampled now.
pub fn render(sampled: &Sampled<'_>) -> Result<String, prometheus::Error> {
    let m = METRICS
        .as_ref()
        .map_err(|e| prometheus::Error::Msg(e.to_string()))?;
    let size = i64::from(sampled.pool.size());
    let idle = i64::try_from(sampled.pool.num_idle().saturating_add(sampled.held_idle))
        .unwrap_or(i64::MAX);
    m.db_pool_connections.with_label_values(&["idle"]).set(idle);
    m.db_pool_connections
        .with_label_values(&["in_use"])
        .set((size - idle).max(0));
    m.db_pool_max_connections
        .set(i64::from(sampled.pool.options().get_max_connections()));
    m.hashing_queue_depth
        .set(i64::try_from(sampled.hashing_queue_depth).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    TextEncoder::new().encode(&m.registry.gather(), &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_family_registers_with_a_valid_name() {
        assert!(init().is_ok(), "{:?}", init());
    }

    #[test]
    fn closed_label_sets_are_present_before_anything_happens() {
        let m = get().expect("registry");
        let text = {
            let mut out = Vec::new();
            TextEncoder::new()
                .encode(&m.registry.gather(), &mut out)
                .expect("encode");
            String::from_utf8(out).expect("utf8")
        };
        for outcome in AUTHENTICATION_OUTCOMES {
            assert!(text.contains(&format!(
                "otpd_authentications_total{{outcome=\"{outcome}\"}}"
            )));
        }
        for reason in REFUSAL_REASONS {
            assert!(text.contains(&format!("otpd_refusals_total{{reason=\"{reason}\"}}")));
        }
        assert!(text.contains("# HELP otpd_build_info"));
    }
}
