//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

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
pub async fn readyz(state: web::Data<AppState>, RequestId(id): RequestId) -> HttpResponse {
    let (ready, detail) = match store::migrations_current(&state.services.pool).await {
        Ok(true) => (true, "ok"),
        Ok(false) => (false, "migrations pending"),
        Err(_) => (false, "database unreachable"),
    };
    if ready {
        HttpResponse::Ok().json(json!({"status_code": 200, "request_id": id, "status": detail}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status_code": 503, "request_id": id, "error_type": "service_unavailable",
            "error_message": detail, "error_url": "https://stytch.com/docs/api/errors/503"
        }))
    }
}
