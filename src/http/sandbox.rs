//! `GET /v1/sandbox/messages`: the fake provider's outbox, for staging and tests (the rules
//! are `otp::outbox`'s, shared with the console).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authenticated;
use super::context::RequestId;
use super::dto::rfc3339;
use super::errors::{ApiError, ErrorBody, ErrorKind, ServerErrors, Unauthorized};
use super::AppState;
use crate::otp::outbox::{self, OutboxFilter, Viewer};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only messages to this E.164 number (`+10000000000` included).
    #[param(pattern = r"^\+[1-9][0-9]{6,14}$")]
    to: Option<String>,
    /// 1 to 100; default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct OutboxMessageBody {
    message_id: String,
    to: String,
    /// `sms` or `whatsapp`.
    channel: String,
    /// The message text, passcode included.
    body: String,
    created_at: String,
}

/// Newest first.
#[derive(Serialize, ToSchema)]
struct OutboxOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    messages: Vec<OutboxMessageBody>,
}

/// The fake provider's outbox, newest first; 404 unless the provider is `fake`.
#[utoipa::path(
    get,
    path = "/v1/sandbox/messages",
    tag = "sandbox",
    operation_id = "sandbox_messages",
    security(("basic" = [])),
    params(OutboxQuery),
    responses(
        (status = 200, description = "The messages", body = OutboxOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`route_not_found` when the provider is not `fake`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn messages(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    ensure_outbox(&state)?;
    let query = query.into_inner();
    let filter = OutboxFilter::parse(query.to.as_deref(), None, None, query.limit)?;
    let rows = outbox::list(&state.services.pool, &Viewer::Project(project.id), &filter).await?;
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

/// The outbox (and the console on it) exists only with the fake provider: 404 otherwise.
pub fn ensure_outbox(state: &AppState) -> Result<(), ApiError> {
    if state.sandbox_outbox {
        Ok(())
    } else {
        Err(ApiError::with_message(
            ErrorKind::RouteNotFound,
            "The sandbox outbox exists only when the fake provider is configured.",
        ))
    }
}
