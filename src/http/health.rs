//! Operational endpoints: liveness, readiness and the Prometheus scrape.

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde_json::json;
use sqlx::PgPool;

use super::context::RequestId;
use super::errors::ErrorBody;
use super::openapi::HealthBody;
use super::AppState;
use crate::store;

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Alive", body = HealthBody))
)]
pub async fn healthz(RequestId(id): RequestId) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status_code": 200, "request_id": id, "status": "ok"}))
}

/// How long one readiness answer is reused: probes and an unauthenticated flood then cost at
/// most one database query per second per replica, and an outage shows within a second.
pub const READINESS_TTL: Duration = Duration::from_secs(1);

/// `/readyz`'s cached answer. The lock is held across the check, so concurrent probes while
/// it is stale wait for one query instead of each making their own.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Result<(), &'static str>)>>,
}

impl Readiness {
    async fn check(&self, pool: &PgPool) -> Result<(), &'static str> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = *last {
            if at.elapsed() < READINESS_TTL {
                return answer;
            }
        }
        let answer = match store::migrations_current(pool).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("migrations pending"),
            Err(_) => Err("database unreachable"),
        };
        *last = Some((Instant::now(), answer));
        answer
    }
}

/// Ready when the database answers and every migration this binary knows is applied.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "Database unreachable or migrations pending", body = ErrorBody)
    )
)]
// The answer is at most `READINESS_TTL` old.
pub async fn readyz(state: web::Data<AppState>, RequestId(id): RequestId) -> HttpResponse {
    let (ready, detail) = match state.readiness.check(&state.services.pool).await {
        Ok(()) => (true, "ok"),
        Err(why) => (false, why),
    };
    if ready {
        HttpResponse::Ok().json(json!({"status_code": 200, "request_id": id, "status": detail}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status_code": 503, "request_id": id, "error_type": "server_unavailable",
            "error_message": detail, "error_url": "https://stytch.com/docs/api/errors/503"
        }))
    }
}

/// Prometheus text exposition; pool and queue gauges are sampled at scrape time.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    description = "Prometheus text format, every family `otpd_`-prefixed. Served on `admin_listen` instead of the API listener when that key is set.",
    responses((status = 200, description = "The scrape", content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let sampled = crate::metrics::Sampled {
        pool: &state.services.pool,
        held_idle: state.services.held.idle(),
        hashing_queue_depth: state.services.hasher.queue_depth(),
    };
    match crate::metrics::render(&sampled) {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "rendering metrics failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
