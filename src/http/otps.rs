//! `/v1/otps/...`: send and login_or_create over SMS and WhatsApp, and authenticate.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use std::net::IpAddr;

use super::auth::{limited, Authenticated};
use super::context::RequestId;
use super::dto::UserBody;
use super::errors::{ApiError, ErrorKind};
use super::json::Json;
use super::AppState;
use crate::domain::ids::{Environment, PhoneId, UserRef};
use crate::domain::project::Project;
use crate::domain::{Channel, ExpiryMinutes, Locale, Passcode, PhoneNumber, SANDBOX_NUMBER};
use crate::otp::authenticate::authenticate as authenticate_code;
use crate::otp::send::{self, Recipient, SendOutcome, SendRequest, Target};

/// Stytch's `attributes`: what the calling backend knows about the end user.
#[derive(Deserialize, Default)]
pub struct Attributes {
    ip_address: Option<String>,
    /// Accepted for compatibility; not used.
    #[allow(dead_code)]
    user_agent: Option<String>,
}

/// The end-user IP guard applies only when the backend tells us the end user's IP.
fn guard_end_user(
    state: &AppState,
    project: &Project,
    attributes: Option<&Attributes>,
) -> Result<(), ApiError> {
    let Some(raw) = attributes
        .and_then(|a| a.ip_address.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let ip: IpAddr = raw.parse().map_err(|_| {
        ApiError::bad_request("attributes.ip_address must be an IPv4 or IPv6 address.")
    })?;
    state
        .client_limits
        .check_end_user(project.id.as_str(), ip)
        .map_err(limited)
}

/// Fields of both `send` and `login_or_create`; unknown fields (session fields we don't
/// use) are accepted and ignored, as the SDKs send them.
#[derive(Deserialize)]
pub struct SendInput {
    phone_number: String,
    attributes: Option<Attributes>,
    expiration_minutes: Option<i64>,
    locale: Option<String>,
    /// The Stytch frontend SDKs' field, accepted on the backend endpoints too.
    enable_autofill: Option<bool>,
    /// `send` only.
    user_id: Option<String>,
    /// `login_or_create` only.
    create_user_as_pending: Option<bool>,
}

fn recipient(project: &Project, raw: &str) -> Result<Recipient, ApiError> {
    if raw == SANDBOX_NUMBER && project.env() == Environment::Test {
        return Ok(Recipient::Sandbox);
    }
    PhoneNumber::parse(raw)
        .map(Recipient::Phone)
        .map_err(|_| ApiError::new(ErrorKind::InvalidPhoneNumber))
}

fn send_request(
    project: &Project,
    input: SendInput,
    channel: Channel,
    login_or_create: bool,
) -> Result<SendRequest, ApiError> {
    let expiry = ExpiryMinutes::parse(input.expiration_minutes)
        .map_err(|_| ApiError::new(ErrorKind::InvalidExpiration))?;
    let target = if login_or_create {
        Target::LoginOrCreate {
            pending: input.create_user_as_pending.unwrap_or(false),
        }
    } else {
        match input.user_id.as_deref().filter(|s| !s.is_empty()) {
            Some(u) => Target::AttachTo(UserRef::parse(u)?),
            None => Target::Existing,
        }
    };
    Ok(SendRequest {
        recipient: recipient(project, &input.phone_number)?,
        channel,
        expiry,
        locale: Locale::parse_lenient(input.locale.as_deref()),
        autofill: input.enable_autofill.unwrap_or(false),
        target,
    })
}

#[derive(Serialize)]
struct SendOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
    phone_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_created: Option<bool>,
}

async fn run_send(
    state: &AppState,
    project: &Project,
    request_id: &str,
    input: SendInput,
    channel: Channel,
    login_or_create: bool,
) -> Result<HttpResponse, ApiError> {
    guard_end_user(state, project, input.attributes.as_ref())?;
    let req = send_request(project, input, channel, login_or_create)?;
    let SendOutcome {
        user_id,
        phone_id,
        user_created,
    } = send::send(&state.services, project, req).await?;
    Ok(HttpResponse::Ok().json(SendOutput {
        status_code: 200,
        request_id,
        user_id: user_id.as_str(),
        phone_id: phone_id.as_str(),
        user_created: login_or_create.then_some(user_created),
    }))
}

pub async fn sms_send(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::Sms, false).await
}

pub async fn sms_login_or_create(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::Sms, true).await
}

pub async fn whatsapp_send(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::WhatsApp, false).await
}

pub async fn whatsapp_login_or_create(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::WhatsApp, true).await
}

/// Session fields are accepted and ignored: sessions belong to the calling backend.
#[derive(Deserialize)]
pub struct AuthenticateInput {
    method_id: String,
    code: String,
    attributes: Option<Attributes>,
}

#[derive(Serialize)]
struct AuthenticateOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
    method_id: &'a str,
    session_token: &'a str,
    session_jwt: &'a str,
    session: Option<serde_json::Value>,
    user: UserBody<'a>,
    reset_sessions: bool,
    user_device: Option<serde_json::Value>,
}

pub async fn authenticate(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(input): Json<AuthenticateInput>,
) -> Result<HttpResponse, ApiError> {
    guard_end_user(&state, &project, input.attributes.as_ref())?;
    let method_id = PhoneId::parse(&input.method_id)
        .map_err(|e| ApiError::with_message(ErrorKind::InvalidMethodId, e.to_string()))?;
    let code = Passcode::parse(&input.code).map_err(|_| ApiError::new(ErrorKind::InvalidCode))?;
    let user = authenticate_code(&state.services, &project, &method_id, &code).await?;
    Ok(HttpResponse::Ok().json(AuthenticateOutput {
        status_code: 200,
        request_id: &request_id,
        user_id: user.id.as_str(),
        method_id: method_id.as_str(),
        session_token: "",
        session_jwt: "",
        session: None,
        user: UserBody::from(&user),
        reset_sessions: false,
        user_device: None,
    }))
}
