//! `/v1/otps/...`: send and login_or_create over SMS and WhatsApp, and authenticate.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use std::net::IpAddr;

use super::auth::{limited, AuthenticatedToHash};
use super::context::RequestId;
use super::dto::UserBody;
use super::errors::{ApiError, ErrorBody, ErrorKind, ServerErrors, Unauthorized};
use super::json::Json;
use super::sessions;
use super::AppState;
use crate::domain::ids::{Environment, PhoneId, UserRef};
use crate::domain::project::Project;
use crate::domain::{Channel, ExpiryMinutes, Locale, Passcode, PhoneNumber, SANDBOX_NUMBER};
use crate::otp::authenticate::authenticate as authenticate_code;
use crate::otp::send::{self, Recipient, SendOutcome, SendRequest, Target};
use crate::otp::Caller;

/// Stytch's `attributes`: what the calling backend knows about the end user.
#[derive(Deserialize, Default, ToSchema)]
pub struct Attributes {
    /// The end user's IPv4 or IPv6 address (blank is the same as absent).
    #[schema(schema_with = super::openapi::ip_address)]
    pub(super) ip_address: Option<String>,
    /// Recorded on a session this request starts (and carried in its JWT): at most 512
    /// characters.
    #[schema(
        max_length = 512,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[serde(default, deserialize_with = "bounded_user_agent")]
    pub(super) user_agent: Option<String>,
}

/// Longest `attributes.user_agent`: real ones are a few hundred characters, and the value
/// rides in every JWT of the session, which must stay under the API's 16,384 characters.
pub const MAX_USER_AGENT_CHARS: usize = 512;

fn bounded_user_agent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let ua = Option::<String>::deserialize(d)?;
    match ua {
        Some(s) if s.chars().count() > MAX_USER_AGENT_CHARS => Err(serde::de::Error::custom(
            format!("user_agent: at most {MAX_USER_AGENT_CHARS} characters"),
        )),
        other => Ok(other),
    }
}

impl Attributes {
    /// The end user's IP when given (blank is absent); 400 naming the field when it isn't an
    /// address, on every route that takes `attributes`, whether or not it is used there.
    pub(super) fn ip(&self) -> Result<Option<IpAddr>, ApiError> {
        let Some(raw) = self
            .ip_address
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return Ok(None);
        };
        raw.parse().map(Some).map_err(|_| {
            ApiError::bad_request("attributes.ip_address must be an IPv4 or IPv6 address.")
        })
    }
}

impl Attributes {
    /// The frontend surface's: the browser is the end user, so its network address and
    /// `User-Agent` are the attributes a backend would have passed.
    pub(super) fn direct(ip: IpAddr, user_agent: Option<&str>) -> Self {
        Attributes {
            ip_address: Some(ip.to_string()),
            user_agent: user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        }
    }
}

/// The end-user IP guard applies only when the end user's IP is known (`attributes`).
fn guard_end_user(
    state: &AppState,
    project: &Project,
    attributes: Option<&Attributes>,
) -> Result<(), ApiError> {
    let Some(ip) = attributes.map(Attributes::ip).transpose()?.flatten() else {
        return Ok(());
    };
    state
        .client_limits
        .check_end_user(project.id.as_str(), ip)
        .map_err(limited)
}

/// Fields of both `send` and `login_or_create`; unknown fields (session fields we don't
/// use) are accepted and ignored, as the SDKs send them.
#[derive(Deserialize, ToSchema)]
pub struct SendInput {
    /// E.164, e.g. `+12015550123`. A well-formed number can still be refused: one that
    /// isn't a real number (`invalid_phone_number`), one in a country the project doesn't
    /// allow (`invalid_phone_number_country_code`), or a line type that can't receive
    /// passcodes (`unsupported_phone_number_type`). Test projects also accept Stytch's
    /// sandbox number `+10000000000`.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$", example = "+12015550123")]
    pub(super) phone_number: String,
    /// With `ip_address`, the end user's IP is rate limited too.
    #[serde(default, deserialize_with = "super::json::object_or_null")]
    pub(super) attributes: Option<Attributes>,
    /// 1 to 10; default 2.
    #[schema(minimum = 1, maximum = 10)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    pub(super) expiration_minutes: Option<i64>,
    /// One of Stytch's 16: `en`, `es`, `pt-br`, `fr`, `it`, `de-DE`, `zh-Hans`, `ca-ES`, `ja`,
    /// `ru`, `nl`, `pl`, `tr`, `fa`, `vi`, `cs` (matched by language); others fall back to English.
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$",
        example = "pt-br"
    )]
    pub(super) locale: Option<String>,
    /// The Stytch frontend SDKs' field, accepted on the backend endpoints too.
    pub(super) enable_autofill: Option<bool>,
    /// `send` only: attach the number, unverified, to this user (its id or external id;
    /// empty is the same as absent). `user_not_found` when no such user exists.
    #[schema(
        pattern = r"^(|user-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-tv-z0-9._|-][A-Za-z0-9._|-]*|u|u[A-Za-rt-z0-9._|-][A-Za-z0-9._|-]*|us|us[A-Za-df-z0-9._|-][A-Za-z0-9._|-]*|use|use[A-Za-qs-z0-9._|-][A-Za-z0-9._|-]*|user|user[A-Za-z0-9._|][A-Za-z0-9._|-]*)$",
        max_length = 128
    )]
    pub(super) user_id: Option<String>,
    /// `login_or_create` only.
    pub(super) create_user_as_pending: Option<bool>,
    /// `send` only: attach the number to this session's user (as `user_id` does).
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    pub(super) session_token: Option<String>,
    /// `send` only: as `session_token`.
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    pub(super) session_jwt: Option<String>,
}

/// A real number, or Stytch's sandbox number in a test project (live projects refuse it).
pub(super) fn recipient(project: &Project, raw: &str) -> Result<Recipient, ApiError> {
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
    autofill_host: Option<String>,
    caller: Caller,
) -> Result<SendRequest, ApiError> {
    super::sessions::check_syntax(input.session_token.as_deref(), input.session_jwt.as_deref())?;
    let expiry = ExpiryMinutes::parse(input.expiration_minutes)
        .map_err(|_| ApiError::new(ErrorKind::InvalidExpiration))?;
    // Parsed on both routes, so a malformed `user_id` is refused as documented even where
    // it is not used.
    let attach_to = input
        .user_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(UserRef::parse)
        .transpose()?;
    let target = if login_or_create {
        Target::LoginOrCreate {
            pending: input.create_user_as_pending.unwrap_or(false),
        }
    } else {
        match attach_to {
            Some(u) => Target::AttachTo(u),
            None => Target::Existing,
        }
    };
    Ok(SendRequest {
        recipient: recipient(project, &input.phone_number)?,
        channel,
        expiry,
        locale: Locale::parse_lenient(input.locale.as_deref()),
        autofill: input.enable_autofill.unwrap_or(false),
        autofill_host,
        target,
        caller,
    })
}

#[derive(Serialize, ToSchema)]
struct SendOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
    phone_id: &'a str,
    /// `login_or_create` only.
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
    let SendOutcome {
        user_id,
        phone_id,
        user_created,
    } = send_for(
        state,
        project,
        input,
        channel,
        login_or_create,
        None,
        Caller::Backend,
    )
    .await?;
    Ok(HttpResponse::Ok().json(SendOutput {
        status_code: 200,
        request_id,
        user_id: user_id.as_str(),
        phone_id: phone_id.as_str(),
        user_created: login_or_create.then_some(user_created),
    }))
}

/// `send` / `login_or_create` on either surface. A session in the input (`/v1`'s
/// `session_token`, or the frontend surface's signed-in browser) attaches the number to its
/// user; `autofill_host` is a browser caller's own host, for the WebOTP line; `caller` says
/// whether an attachment vouches for the number (the backend's does, a browser's doesn't).
pub(super) async fn send_for(
    state: &AppState,
    project: &Project,
    input: SendInput,
    channel: Channel,
    login_or_create: bool,
    autofill_host: Option<String>,
    caller: Caller,
) -> Result<SendOutcome, ApiError> {
    guard_end_user(state, project, input.attributes.as_ref())?;
    let mut input = input;
    if !login_or_create {
        let session_user = super::sessions::session_user(
            state,
            project,
            input.session_token.take(),
            input.session_jwt.take(),
        )
        .await?;
        if let Some(user_id) = session_user {
            if input
                .user_id
                .as_deref()
                .is_some_and(|u| !u.is_empty() && u != user_id)
            {
                return Err(ApiError::bad_request(
                    "user_id and the session name different users.",
                ));
            }
            input.user_id = Some(user_id);
        }
    }
    let req = send_request(
        project,
        input,
        channel,
        login_or_create,
        autofill_host,
        caller,
    )?;
    Ok(send::send(&state.services, project, req).await?)
}

/// Send a passcode by SMS to a user's phone number.
#[utoipa::path(
    post,
    path = "/v1/otps/sms/send",
    tag = "otps",
    operation_id = "otps_sms_send",
    security(("basic" = [])),
    request_body = SendInput,
    responses(
        (status = 200, description = "The passcode was sent", body = SendOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`phone_number_not_found` (send to a number no user owns) or `user_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn sms_send(
    state: web::Data<AppState>,
    AuthenticatedToHash(project): AuthenticatedToHash,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::Sms, false).await
}

/// Send a passcode by SMS, creating the user if the number is new.
#[utoipa::path(
    post,
    path = "/v1/otps/sms/login_or_create",
    tag = "otps",
    operation_id = "otps_sms_login_or_create",
    security(("basic" = [])),
    request_body = SendInput,
    responses(
        (status = 200, description = "The passcode was sent", body = SendOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn sms_login_or_create(
    state: web::Data<AppState>,
    AuthenticatedToHash(project): AuthenticatedToHash,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::Sms, true).await
}

/// Send a passcode by WhatsApp to a user's phone number.
#[utoipa::path(
    post,
    path = "/v1/otps/whatsapp/send",
    tag = "otps",
    operation_id = "otps_whatsapp_send",
    security(("basic" = [])),
    request_body = SendInput,
    responses(
        (status = 200, description = "The passcode was sent", body = SendOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`phone_number_not_found` (send to a number no user owns) or `user_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn whatsapp_send(
    state: web::Data<AppState>,
    AuthenticatedToHash(project): AuthenticatedToHash,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::WhatsApp, false).await
}

/// Send a passcode by WhatsApp, creating the user if the number is new.
#[utoipa::path(
    post,
    path = "/v1/otps/whatsapp/login_or_create",
    tag = "otps",
    operation_id = "otps_whatsapp_login_or_create",
    security(("basic" = [])),
    request_body = SendInput,
    responses(
        (status = 200, description = "The passcode was sent", body = SendOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn whatsapp_login_or_create(
    state: web::Data<AppState>,
    AuthenticatedToHash(project): AuthenticatedToHash,
    RequestId(id): RequestId,
    Json(input): Json<SendInput>,
) -> Result<HttpResponse, ApiError> {
    run_send(&state, &project, &id, input, Channel::WhatsApp, true).await
}

/// Without `session_duration_minutes`, `session_token` or `session_jwt` no session is made
/// (the calling backend owns its sessions) and the session fields come back empty.
#[derive(Deserialize, ToSchema)]
pub struct AuthenticateInput {
    /// The `phone_id` the code was sent to.
    #[schema(
        pattern = r"^phone-number-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub(super) method_id: String,
    /// Six digits.
    #[schema(pattern = r"^[0-9]{6}$", example = "123456")]
    pub(super) code: String,
    #[serde(default, deserialize_with = "super::json::object_or_null")]
    pub(super) attributes: Option<Attributes>,
    /// Start a session lasting this long (or extend the presented one to end this long from now).
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    pub(super) session_duration_minutes: Option<i64>,
    /// Add this factor to the session of this token instead of starting one.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    pub(super) session_token: Option<String>,
    /// As `session_token`, naming the session by a JWT.
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    pub(super) session_jwt: Option<String>,
    /// Stored on the session and put into its JWTs; reserved claims are refused.
    #[schema(schema_with = super::openapi::metadata)]
    pub(super) session_custom_claims: Option<serde_json::Value>,
}

/// The session fields are empty and `session` null unless a session was asked for.
#[derive(Serialize, ToSchema)]
struct AuthenticateOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
    method_id: &'a str,
    session_token: &'a str,
    session_jwt: &'a str,
    #[schema(value_type = Option<Object>)]
    session: Option<serde_json::Value>,
    user: UserBody<'a>,
    reset_sessions: bool,
    #[schema(value_type = Option<Object>)]
    user_device: Option<serde_json::Value>,
}

/// Check a passcode: one counted attempt; success consumes the code and verifies the phone.
#[utoipa::path(
    post,
    path = "/v1/otps/authenticate",
    tag = "otps",
    operation_id = "otps_authenticate",
    security(("basic" = [])),
    request_body = AuthenticateInput,
    responses(
        (status = 200, description = "The code matched", body = AuthenticateOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials`, or `unable_to_auth_otp_code` (expired, used, superseded or out of attempts)", body = ErrorBody),
        (status = 404, description = "`otp_code_not_found`: wrong code, or no code was sent to this method", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn authenticate(
    state: web::Data<AppState>,
    AuthenticatedToHash(project): AuthenticatedToHash,
    RequestId(request_id): RequestId,
    Json(input): Json<AuthenticateInput>,
) -> Result<HttpResponse, ApiError> {
    let body = authenticate_for(&state, &project, &request_id, input, None).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `otps.authenticate` on either surface: the response body. `default_duration` starts a
/// session when none was asked for (the frontend surface always signs the person in).
pub(super) async fn authenticate_for(
    state: &AppState,
    project: &Project,
    request_id: &str,
    input: AuthenticateInput,
    default_duration: Option<i64>,
) -> Result<serde_json::Value, ApiError> {
    guard_end_user(state, project, input.attributes.as_ref())?;
    let method_id = PhoneId::parse(&input.method_id)
        .map_err(|e| ApiError::with_message(ErrorKind::InvalidMethodId, e.to_string()))?;
    let code = Passcode::parse(&input.code).map_err(|_| ApiError::new(ErrorKind::InvalidCode))?;
    let duration = sessions::duration(input.session_duration_minutes.or(default_duration))?;
    let claims = sessions::claims(input.session_custom_claims)?;
    // A presented session is checked before the code is spent.
    let presented = sessions::presented(
        state,
        project,
        crate::otp::sessions::Kind::Consumer,
        input.session_token,
        input.session_jwt,
    )
    .await?;
    let user = authenticate_code(&state.services, project, &method_id, &code).await?;
    let issued = if presented.is_some() || duration.is_some() {
        let attributes = input.attributes.as_ref();
        sessions::phone_factor_session(
            state,
            project,
            &user,
            &method_id,
            presented,
            duration,
            &claims,
            sessions::attributes(
                attributes.and_then(|a| a.ip_address.as_deref()),
                attributes.and_then(|a| a.user_agent.as_deref()),
            ),
        )
        .await?
    } else {
        None
    };
    serde_json::to_value(AuthenticateOutput {
        status_code: 200,
        request_id,
        user_id: user.id.as_str(),
        method_id: method_id.as_str(),
        session_token: issued.as_ref().map_or("", |i| i.token.as_str()),
        session_jwt: issued.as_ref().map_or("", |i| i.jwt.as_str()),
        session: issued.as_ref().map(|i| sessions::session_body(&i.row)),
        user: UserBody::from(&user),
        reset_sessions: false,
        user_device: None,
    })
    .map_err(|_| ApiError::new(ErrorKind::InternalServerError))
}
