//! `GET /v1/sandbox/messages`: the fake provider's outbox, for staging and tests.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::auth::Authenticated;
use super::context::RequestId;
use super::dto::rfc3339;
use super::errors::{ApiError, ErrorKind};
use super::AppState;
use crate::domain::{PhoneNumber, SANDBOX_NUMBER};
use crate::otp::OtpError;
use crate::store;

#[derive(Deserialize)]
pub struct OutboxQuery {
    to: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct OutboxMessageBody {
    message_id: String,
    to: String,
    channel: String,
    body: String,
    created_at: String,
}

#[derive(Serialize)]
struct OutboxOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    messages: Vec<OutboxMessageBody>,
}

pub async fn messages(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    if !state.sandbox_outbox {
        return Err(ApiError::with_message(
            ErrorKind::RouteNotFound,
            "The sandbox outbox exists only when the fake provider is configured.",
        ));
    }
    let query = query.into_inner();
    let to = match query.to.as_deref() {
        None => None,
        Some(SANDBOX_NUMBER) => Some(SANDBOX_NUMBER.to_owned()),
        Some(raw) => Some(
            PhoneNumber::parse(raw)
                .map_err(|_| ApiError::new(ErrorKind::InvalidPhoneNumber))?
                .as_e164()
                .to_owned(),
        ),
    };
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 100"));
    }
    let rows =
        store::messages::outbox_list(&state.services.pool, &project.id, to.as_deref(), limit)
            .await
            .map_err(|e| ApiError::from(OtpError::Store(e)))?;
    Ok(HttpResponse::Ok().json(OutboxOutput {
        status_code: 200,
        request_id: &request_id,
        messages: rows
            .into_iter()
            .map(|m| OutboxMessageBody {
                message_id: m.id.to_string(),
                to: m.to,
                channel: m.channel,
                body: m.body,
                created_at: rfc3339(&m.created_at),
            })
            .collect(),
    }))
}
