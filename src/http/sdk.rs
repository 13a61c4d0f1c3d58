//! The frontend surface, `/sdk/v1`: what Stytch's frontend SDKs (`@stytch/vanilla-js`,
//! `@stytch/nextjs`, `@stytch/react`) call, given `customBaseUrl`. A thin adapter over the same
//! use cases as `/v1`: a public token instead of the secret (`auth::PublicCaller`), success
//! bodies wrapped as `{"data": …}` and credentialed CORS for the token's allowed origins (the
//! [`surface`] middleware). Wire facts: `reference/frontend-sdk.md` in the shared research.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, Error, HttpMessage, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::auth::{self, limited, Guarded, PublicCaller, PublicCallerToHash};
use super::context::RequestId;
use super::dto::UserBody;
use super::errors::{ApiError, ErrorBody, ErrorKind, ServerErrors};
use super::otps::{self, Attributes, AuthenticateInput, SendInput};
use super::sessions;
use super::AppState;
use crate::domain::ids::{PublicToken, UserId};
use crate::domain::origin::Origin;
use crate::domain::project::MAX_AUTOFILL_DOMAIN_LEN;
use crate::domain::Channel;
use crate::otp::sessions::{Kind, Presented, RevokeTarget};
use crate::otp::{public_tokens, users, Caller, OtpError};

/// How long a preflight's "some live token allows this origin" answer is reused.
const ORIGIN_TTL: Duration = Duration::from_secs(10);
/// Cached origins per replica; the map is cleared when full (an attacker sending random
/// `Origin`s costs one indexed lookup each, behind the per-client guard).
const ORIGIN_CACHE_MAX: usize = 4096;
/// Browsers cache a preflight this long, sparing a round trip per SDK call.
const PREFLIGHT_MAX_AGE: &str = "600";
/// What the SDKs send besides the CORS-safelisted headers.
const ALLOWED_HEADERS: &str =
    "authorization, content-type, x-sdk-client, x-sdk-parent-host, x-request-id";
const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
/// Telemetry batches: the SDK sends at most 15 events per batch.
const MAX_EVENTS: usize = 50;
/// The frontend SDKs always start a session on authenticate; when a call names no duration
/// (the SDK's typings require one), the session lasts this long.
pub const DEFAULT_SESSION_MINUTES: i64 = 60;

/// Per-replica answers to "does any live public token allow this origin?".
#[derive(Default)]
pub struct OriginCache {
    entries: Mutex<HashMap<String, (bool, Instant)>>,
}

impl OriginCache {
    async fn allows(&self, state: &AppState, origin: &Origin) -> bool {
        if let Ok(map) = self.entries.lock() {
            if let Some((allowed, at)) = map.get(origin.as_str()) {
                if at.elapsed() < ORIGIN_TTL {
                    return *allowed;
                }
            }
        }
        let allowed =
            match public_tokens::origin_allowed_anywhere(&state.services.pool, origin).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "origin lookup failed; no CORS grant");
                    return false;
                }
            };
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= ORIGIN_CACHE_MAX {
                map.clear();
            }
            map.insert(origin.as_str().to_owned(), (allowed, Instant::now()));
        }
        allowed
    }
}

/// The request's `Origin` is one of its public token's allowed origins.
#[derive(Clone)]
struct CorsGrant(Origin);

/// The request's `Origin` was refused by its public token.
#[derive(Clone, Copy)]
struct CorsDenied;

fn request_origin(req: &HttpRequest) -> Option<Result<Origin, ()>> {
    let raw = req.headers().get(header::ORIGIN)?;
    Some(
        raw.to_str()
            .ok()
            .and_then(|s| Origin::parse(s).ok())
            .ok_or(()),
    )
}

/// A browser's `Origin` must be one of the token's; a caller without one (a backend, a bot:
/// the token is public anyway) gets no CORS grant and passes on to the same guards.
pub fn check_origin(req: &HttpRequest, allowed: &[String]) -> Result<(), ApiError> {
    match request_origin(req) {
        None => Ok(()),
        Some(Ok(o)) if allowed.iter().any(|a| a == o.as_str()) => {
            req.extensions_mut().insert(CorsGrant(o));
            Ok(())
        }
        Some(_) => {
            req.extensions_mut().insert(CorsDenied);
            Err(ApiError::new(ErrorKind::OriginNotAllowed))
        }
    }
}

/// The host a WebOTP line should name: the allowed origin the browser called from.
fn autofill_host(req: &HttpRequest) -> Option<String> {
    let grant = req.extensions().get::<CorsGrant>().cloned()?;
    let host = grant.0.host();
    (host.len() <= MAX_AUTOFILL_DOMAIN_LEN).then(|| host.to_owned())
}

fn set(res: &mut HttpResponse<impl MessageBody>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

fn grant_cors(res: &mut HttpResponse<impl MessageBody>, origin: &Origin) {
    set(res, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str());
    set(res, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    set(
        res,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "x-request-id, retry-after",
    );
}

/// The surface's middleware: answers CORS preflights, grants CORS to allowed origins on
/// every answer (errors too, so the SDK can read them), and wraps success bodies in
/// `{"data": …}`.
pub async fn surface(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origin = request_origin(req.request()).and_then(Result::ok);
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let res = preflight(req.request(), origin.as_ref()).await;
        // Not `into_response`, which would drop the error the outer middleware renders.
        let (http_req, _) = req.into_parts();
        return Ok(ServiceResponse::new(http_req, res));
    }
    let res = next.call(req).await?;
    let grant = res.request().extensions().get::<CorsGrant>().cloned();
    let denied = res.request().extensions().get::<CorsDenied>().is_some();
    let cors = match (grant, denied, origin) {
        (Some(g), _, _) => Some(g.0),
        (None, true, _) | (None, false, None) => None,
        // Answered before its token's origins were known (a bad token, the guard, the
        // telemetry route): the same rule as a preflight.
        (None, false, Some(o)) => {
            let state = res.request().app_data::<web::Data<AppState>>().cloned();
            match state {
                Some(s) if s.sdk_origins.allows(&s, &o).await => Some(o),
                _ => None,
            }
        }
    };
    let (http_req, res) = res.into_parts();
    let mut res = if res.status().is_success() {
        envelope(res).await
    } else {
        res.map_into_boxed_body()
    };
    set(&mut res, header::VARY, "Origin");
    if let Some(o) = &cors {
        grant_cors(&mut res, o);
    }
    Ok(ServiceResponse::new(http_req, res))
}

/// Every success body here is a JSON object a handler just serialized, so the envelope is
/// spliced around its bytes instead of parsing and writing it again.
async fn envelope(res: HttpResponse<impl MessageBody + 'static>) -> HttpResponse<BoxBody> {
    let (head, body) = res.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(b) => b,
        Err(_) => return HttpResponse::from_error(ApiError::new(ErrorKind::InternalServerError)),
    };
    let inner: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
    let mut wrapped = Vec::with_capacity(inner.len() + 9);
    wrapped.extend_from_slice(b"{\"data\":");
    wrapped.extend_from_slice(inner);
    wrapped.push(b'}');
    let mut out = HttpResponse::build(head.status())
        .content_type(header::ContentType::json())
        .body(wrapped);
    for (name, value) in head.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

async fn preflight(req: &HttpRequest, origin: Option<&Origin>) -> HttpResponse {
    let Ok(state) = auth::app_state(req) else {
        return HttpResponse::from_error(ApiError::new(ErrorKind::InternalServerError));
    };
    if let Err(wait) = state.client_limits.check_peer(auth::client_ip(state, req)) {
        return HttpResponse::from_error(limited(wait));
    }
    let Some(origin) = origin else {
        return HttpResponse::from_error(ApiError::new(ErrorKind::OriginNotAllowed));
    };
    if !state.sdk_origins.allows(state, origin).await {
        return HttpResponse::from_error(ApiError::new(ErrorKind::OriginNotAllowed));
    }
    let mut res = HttpResponse::NoContent().finish();
    grant_cors(&mut res, origin);
    set(
        &mut res,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        ALLOWED_METHODS,
    );
    set(
        &mut res,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        ALLOWED_HEADERS,
    );
    set(&mut res, header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE);
    set(
        &mut res,
        header::VARY,
        "Origin, Access-Control-Request-Headers",
    );
    res
}

/// What every route that needs the browser's session can answer besides its own errors
/// (OpenAPI only).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum SessionRefusals {
    #[response(
        status = 401,
        description = "`unauthorized_credentials`: bad public token, no session or a session that is gone"
    )]
    Unauthorized(ErrorBody<'static>),
    #[response(status = 403, description = "`origin_not_allowed`")]
    Origin(ErrorBody<'static>),
    #[response(status = 429, description = "`too_many_requests`, with `Retry-After`")]
    Limited(ErrorBody<'static>),
}

/// A body that may be empty (`sessions/revoke` sends none, still as `application/json`).
fn body_or_default<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    super::json::parse(bytes)
}

/// On this surface a session that is gone means "signed out": the SDK clears its state on
/// `unauthorized_credentials` (any other error at start-up makes it retry forever).
fn signed_out(e: ApiError) -> ApiError {
    if e.kind == ErrorKind::SessionNotFound {
        ApiError::with_message(
            ErrorKind::UnauthorizedCredentials,
            "The session is unknown, expired or revoked: sign in again.",
        )
    } else {
        e
    }
}

fn no_session() -> ApiError {
    ApiError::with_message(
        ErrorKind::UnauthorizedCredentials,
        "No session: sign in first.",
    )
}

fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

// ---------------------------------------------------------------- start-up ----

/// The project's SDK configuration: captcha and device fingerprinting off (the SDK reads
/// `captcha_settings.enabled` before every OTP call), no other products.
#[utoipa::path(
    get,
    path = "/sdk/v1/projects/bootstrap/{public_token}",
    tag = "sdk",
    operation_id = "sdk_bootstrap",
    params(("public_token" = String, Path, pattern = r"^public-token-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The public token")),
    responses(
        (status = 200, description = "`{\"data\": {captcha_settings, password_config, …}}`", body = Object),
        (status = 400, description = "`bad_request`: not a public token", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials`: unknown or revoked token", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (per-client guard), with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn bootstrap(
    _: Guarded,
    state: web::Data<AppState>,
    req: HttpRequest,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    if PublicToken::parse(&token).is_err() {
        return Err(ApiError::bad_request(
            "not a public token (public-token-test-<uuid> or public-token-live-<uuid>)",
        ));
    }
    let project = auth::public_project(&state, &req, &token).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200,
        "request_id": request_id,
        "project_name": project.brand(),
        "disable_sdk_watermark": true,
        "cname_domain": null,
        "email_domains": [],
        "captcha_settings": { "enabled": false },
        "pkce_required_for_email_magic_links": false,
        "pkce_required_for_password_resets": false,
        "pkce_required_for_oauth": false,
        "pkce_required_for_sso": false,
        "slug_pattern": "",
        "create_organization_enabled": false,
        "password_config": null,
        "dfp_protected_auth_enabled": false,
        "dfp_protected_auth_mode": null,
        // otpd has no RBAC: an empty policy (no roles, no resources) is what the SDK assumes
        // anyway, but `null` makes it log "Unable to retrieve RBAC policy" on every page load.
        "rbac_policy": { "roles": [], "resources": [] },
        "siwe_required_for_crypto_wallets": false,
        "vertical": null,
    })))
}

/// The SDK's telemetry: a JSON array of at most 50 events, counted
/// (`otpd_sdk_events_total`) and dropped. Never an error the SDK would log for a well-formed
/// batch.
#[utoipa::path(
    post,
    path = "/sdk/v1/events",
    tag = "sdk",
    operation_id = "sdk_events",
    request_body(content = Vec<Object>, description = "Telemetry events", content_type = "application/json"),
    responses(
        (status = 200, description = "Counted and dropped", body = Object),
        (status = 400, description = "`bad_request`: not an array of at most 50 objects", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (per-client guard), with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn events(
    _: Guarded,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let events = serde_json::from_slice::<Vec<serde_json::Map<String, Value>>>(&body)
        .ok()
        .filter(|e| e.len() <= MAX_EVENTS);
    let Some(events) = events else {
        crate::metrics::sdk_events("rejected", 1);
        return Err(ApiError::bad_request(format!(
            "events must be a JSON array of at most {MAX_EVENTS} objects"
        )));
    };
    crate::metrics::sdk_events("accepted", events.len() as u64);
    Ok(HttpResponse::Ok().json(json!({ "status_code": 200, "request_id": request_id })))
}

// ------------------------------------------------------------------ consumer ----

/// What the SDK's `otps.sms.send`/`loginOrCreate` (and WhatsApp) send. Captcha and device
/// fingerprint fields are accepted and ignored (otpd's bootstrap turns both off).
#[derive(Deserialize, ToSchema)]
pub struct SdkSendInput {
    /// E.164, e.g. `+12015550123`.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$", example = "+12015550123")]
    phone_number: String,
    /// 1 to 10; default 2.
    #[schema(minimum = 1, maximum = 10)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    expiration_minutes: Option<i64>,
    /// One of Stytch's 16 locales; others fall back to English.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    locale: Option<String>,
    /// Add a WebOTP line naming the calling page's host (and the project's Android app hash).
    enable_autofill: Option<bool>,
    /// With `enable_autofill`: the session length an authenticate of this code gets when it
    /// names none (an autofilled one), 5 to 527040 minutes.
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    autofill_session_duration_minutes: Option<i64>,
}

/// The send answer as the surface wraps it.
#[derive(serde::Serialize, ToSchema)]
struct SdkSendReply<'a> {
    data: SdkSendOutput<'a>,
}

#[derive(serde::Serialize, ToSchema)]
struct SdkSendOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    method_id: &'a str,
    user_id: &'a str,
    phone_id: &'a str,
    /// `login_or_create` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_created: Option<bool>,
}

/// Which consumer send this is: the SDK picks `/primary` with no local session and
/// `/secondary` (adding the number to the signed-in user) with one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SendKind {
    Primary,
    Secondary,
    LoginOrCreate,
}

async fn run_send(
    state: &AppState,
    req: &HttpRequest,
    caller: PublicCaller,
    request_id: &str,
    body: Bytes,
    channel: Channel,
    kind: SendKind,
) -> Result<HttpResponse, ApiError> {
    let i: SdkSendInput = super::json::parse(&body)?;
    let autofill_session = sessions::duration(i.autofill_session_duration_minutes)?
        .filter(|_| i.enable_autofill == Some(true));
    let session_token = match kind {
        SendKind::Secondary => Some(caller.session_token.clone().ok_or_else(no_session)?),
        SendKind::Primary | SendKind::LoginOrCreate => None,
    };
    let input = SendInput {
        phone_number: i.phone_number,
        attributes: Some(Attributes::direct(caller.client_ip, user_agent(req))),
        expiration_minutes: i.expiration_minutes,
        locale: i.locale,
        enable_autofill: i.enable_autofill,
        user_id: None,
        create_user_as_pending: None,
        session_token,
        session_jwt: None,
    };
    let login_or_create = kind == SendKind::LoginOrCreate;
    let outcome = otps::send_for(
        state,
        &caller.project,
        input,
        channel,
        login_or_create,
        autofill_host(req),
        Caller::Browser,
    )
    .await
    .map_err(signed_out)?;
    if let Some(duration) = autofill_session {
        public_tokens::remember_autofill_session(
            &state.services.pool,
            &caller.project.id,
            &outcome.phone_id,
            duration,
        )
        .await
        .map_err(|e| ApiError::from(OtpError::Store(e)))?;
    }
    Ok(HttpResponse::Ok().json(SdkSendOutput {
        status_code: 200,
        request_id,
        method_id: outcome.phone_id.as_str(),
        user_id: outcome.user_id.as_str(),
        phone_id: outcome.phone_id.as_str(),
        user_created: login_or_create.then_some(outcome.user_created),
    }))
}

macro_rules! sdk_send_route {
    ($name:ident, $path:literal, $op:literal, $doc:literal, $channel:expr, $kind:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            post,
            path = $path,
            tag = "sdk",
            operation_id = $op,
            security(("public_token" = [])),
            request_body = SdkSendInput,
            responses(
                (status = 200, description = "`{\"data\": {method_id, …}}`", body = SdkSendReply),
                (status = 400, description = "Malformed request (`bad_request`, `invalid_*`)", body = ErrorBody),
                (status = 401, description = "`unauthorized_credentials`: bad public token, or (`/secondary`) no live session", body = ErrorBody),
                (status = 403, description = "`origin_not_allowed`", body = ErrorBody),
                (status = 404, description = "`phone_number_not_found` (`/primary`: no user has this number)", body = ErrorBody),
                (status = 429, description = "`too_many_requests` or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
                ServerErrors
            )
        )]
        pub async fn $name(
            state: web::Data<AppState>,
            req: HttpRequest,
            PublicCallerToHash(caller): PublicCallerToHash,
            RequestId(id): RequestId,
            body: Bytes,
        ) -> Result<HttpResponse, ApiError> {
            run_send(&state, &req, caller, &id, body, $channel, $kind).await
        }
    };
}

sdk_send_route!(
    sms_send_primary,
    "/sdk/v1/otps/sms/send/primary",
    "sdk_otps_sms_send_primary",
    "`otps.sms.send` with nobody signed in: to an existing user's number.",
    Channel::Sms,
    SendKind::Primary
);
sdk_send_route!(
    sms_send_secondary,
    "/sdk/v1/otps/sms/send/secondary",
    "sdk_otps_sms_send_secondary",
    "`otps.sms.send` while signed in: the number is added to the session's user once its code authenticates.",
    Channel::Sms,
    SendKind::Secondary
);
sdk_send_route!(
    whatsapp_send_primary,
    "/sdk/v1/otps/whatsapp/send/primary",
    "sdk_otps_whatsapp_send_primary",
    "`otps.whatsapp.send` with nobody signed in.",
    Channel::WhatsApp,
    SendKind::Primary
);
sdk_send_route!(
    whatsapp_send_secondary,
    "/sdk/v1/otps/whatsapp/send/secondary",
    "sdk_otps_whatsapp_send_secondary",
    "`otps.whatsapp.send` while signed in.",
    Channel::WhatsApp,
    SendKind::Secondary
);
sdk_send_route!(
    sms_login_or_create,
    "/sdk/v1/otps/sms/login_or_create",
    "sdk_otps_sms_login_or_create",
    "`otps.sms.loginOrCreate`: creates the user if the number is new.",
    Channel::Sms,
    SendKind::LoginOrCreate
);
sdk_send_route!(
    whatsapp_login_or_create,
    "/sdk/v1/otps/whatsapp/login_or_create",
    "sdk_otps_whatsapp_login_or_create",
    "`otps.whatsapp.loginOrCreate`.",
    Channel::WhatsApp,
    SendKind::LoginOrCreate
);

/// What the SDK's `otps.authenticate(code, method_id, options)` sends: the code as `token`.
#[derive(Deserialize, ToSchema)]
pub struct SdkAuthenticateInput {
    /// The six-digit code.
    #[schema(pattern = r"^[0-9]{6}$", example = "123456")]
    token: String,
    /// The `phone_id` (`method_id` of the send).
    #[schema(
        pattern = r"^phone-number-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    method_id: String,
    /// The session's length: the SDK always signs the person in. When absent, the send's
    /// `autofill_session_duration_minutes`, else 60.
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    session_duration_minutes: Option<i64>,
}

/// `otps.authenticate`: a session for the code's user, or (signed in) the phone factor added
/// to the browser's session.
#[utoipa::path(
    post,
    path = "/sdk/v1/otps/authenticate",
    tag = "sdk",
    operation_id = "sdk_otps_authenticate",
    security(("public_token" = [])),
    request_body = SdkAuthenticateInput,
    responses(
        (status = 200, description = "`{\"data\": {session_token, session_jwt, session, user, …}}`", body = Object),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`)", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials` (bad public token, or a session that is gone) or `unable_to_auth_otp_code`", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`", body = ErrorBody),
        (status = 404, description = "`otp_code_not_found`: wrong code", body = ErrorBody),
        (status = 429, description = "`too_many_requests`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn authenticate(
    state: web::Data<AppState>,
    req: HttpRequest,
    PublicCallerToHash(caller): PublicCallerToHash,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let i: SdkAuthenticateInput = super::json::parse(&body)?;
    // An authenticate naming no duration (an autofilled one) gets what the send asked for.
    let default_minutes = match i.session_duration_minutes {
        Some(_) => DEFAULT_SESSION_MINUTES,
        None => {
            public_tokens::autofill_session(&state.services.pool, &caller.project.id, &i.method_id)
                .await
                .map_err(|e| ApiError::from(OtpError::Store(e)))?
                .unwrap_or(DEFAULT_SESSION_MINUTES)
        }
    };
    let input = AuthenticateInput {
        method_id: i.method_id,
        code: i.token,
        attributes: Some(Attributes::direct(caller.client_ip, user_agent(&req))),
        session_duration_minutes: i.session_duration_minutes,
        session_token: caller.session_token,
        session_jwt: None,
        session_custom_claims: None,
    };
    let body = otps::authenticate_for(
        &state,
        &caller.project,
        &request_id,
        input,
        Some(default_minutes),
    )
    .await
    .map_err(signed_out)?;
    Ok(HttpResponse::Ok().json(body))
}

/// `session.authenticate` / `session.revoke` bodies (`{}` or none at all).
#[derive(Deserialize, Default, ToSchema)]
pub struct SdkSessionInput {
    /// Extend the session to end this many minutes from now.
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    session_duration_minutes: Option<i64>,
}

async fn session_of(
    state: &AppState,
    caller: PublicCaller,
    body: &Bytes,
    kind: Kind,
) -> Result<
    (
        crate::domain::project::Project,
        crate::otp::sessions::Issued,
    ),
    ApiError,
> {
    let i: SdkSessionInput = body_or_default(body)?;
    let token = caller.session_token.ok_or_else(no_session)?;
    let input = sessions::AuthenticateInput {
        session_token: Some(token),
        session_jwt: None,
        session_duration_minutes: i.session_duration_minutes,
        session_custom_claims: None,
    };
    let issued = sessions::run_authenticate(state, &caller.project, kind, input)
        .await
        .map_err(signed_out)?;
    Ok((caller.project, issued))
}

/// `session.authenticate` (at start-up and every few minutes): the browser's session, with
/// its user; no session is a 401 `unauthorized_credentials`, on which the SDK signs out.
#[utoipa::path(
    post,
    path = "/sdk/v1/sessions/authenticate",
    tag = "sdk",
    operation_id = "sdk_sessions_authenticate",
    security(("public_token" = [])),
    request_body = SdkSessionInput,
    responses(
        (status = 200, description = "`{\"data\": {session, user, session_token, session_jwt}}`", body = Object),
        (status = 400, description = "`bad_request`, `invalid_session_duration`", body = ErrorBody),
        SessionRefusals,
        ServerErrors
    )
)]
pub async fn sessions_authenticate(
    state: web::Data<AppState>,
    caller: PublicCaller,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let (project, issued) = session_of(&state, caller, &body, Kind::Consumer).await?;
    let reply = sessions::user_session_reply(&state, &project, &request_id, &issued).await?;
    Ok(HttpResponse::Ok().json(reply))
}

/// `session.revoke`: ends the browser's session (the SDK sends no body).
#[utoipa::path(
    post,
    path = "/sdk/v1/sessions/revoke",
    tag = "sdk",
    operation_id = "sdk_sessions_revoke",
    security(("public_token" = [])),
    responses(
        (status = 200, description = "Revoked", body = Object),
        SessionRefusals,
        ServerErrors
    )
)]
pub async fn sessions_revoke(
    state: web::Data<AppState>,
    caller: PublicCaller,
    RequestId(request_id): RequestId,
) -> Result<HttpResponse, ApiError> {
    revoke(&state, caller, Kind::Consumer, &request_id).await
}

async fn revoke(
    state: &AppState,
    caller: PublicCaller,
    kind: Kind,
    request_id: &str,
) -> Result<HttpResponse, ApiError> {
    let token = caller.session_token.ok_or_else(no_session)?;
    let target = RevokeTarget::Presented(Presented::Token(token));
    crate::otp::sessions::revoke(&state.services, &caller.project, kind, target)
        .await
        .map_err(|e| signed_out(ApiError::from(e)))?;
    Ok(HttpResponse::Ok().json(json!({ "status_code": 200, "request_id": request_id })))
}

/// `user.get`: the signed-in user, flattened into `data`.
#[utoipa::path(
    get,
    path = "/sdk/v1/users/me",
    tag = "sdk",
    operation_id = "sdk_users_me",
    security(("public_token" = [])),
    responses(
        (status = 200, description = "`{\"data\": {user_id, phone_numbers, …}}`", body = Object),
        SessionRefusals,
        ServerErrors
    )
)]
pub async fn users_me(
    state: web::Data<AppState>,
    caller: PublicCaller,
    RequestId(request_id): RequestId,
) -> Result<HttpResponse, ApiError> {
    let token = caller.session_token.ok_or_else(no_session)?;
    let user_id =
        crate::otp::sessions::user_of(&state.services, &caller.project, Presented::Token(token))
            .await
            .map_err(|e| signed_out(ApiError::from(e)))?;
    let user = users::load(
        &state.services,
        &caller.project,
        &UserId::from_trusted(user_id),
    )
    .await
    .map_err(|e| match e {
        OtpError::UserNotFound => no_session(),
        other => ApiError::from(other),
    })?;
    let mut body = serde_json::to_value(UserBody::from(&user))
        .map_err(|_| ApiError::new(ErrorKind::InternalServerError))?;
    if let Some(b) = body.as_object_mut() {
        b.insert("status_code".into(), json!(200));
        b.insert("request_id".into(), json!(request_id));
    }
    Ok(HttpResponse::Ok().json(body))
}

// ----------------------------------------------------------------------- B2B ----

/// What the B2B SDK's `otps.sms.send` sends: the options, plus the
/// `stytch_intermediate_session_token` cookie's value when the browser has one.
#[derive(Deserialize, ToSchema)]
pub struct SdkB2bSendInput {
    /// Organization id, slug or external id.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    organization_id: String,
    /// Member id or external id.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    member_id: String,
    /// E.164, or absent to use the member's number.
    #[schema(pattern = r"^(\+[1-9][0-9]{6,14})?$")]
    mfa_phone_number: Option<String>,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    locale: Option<String>,
    /// From a primary factor that left MFA pending (`sessions.attest`).
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    intermediate_session_token: Option<String>,
}

/// What the B2B SDK's `otps.sms.authenticate` sends (here the code is `code`).
#[derive(Deserialize, ToSchema)]
pub struct SdkB2bAuthenticateInput {
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    organization_id: String,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    member_id: String,
    #[schema(pattern = r"^[0-9]{6}$")]
    code: String,
    /// `enroll` or `unenroll` (empty: neither).
    #[schema(pattern = r"^(|enroll|unenroll)$")]
    set_mfa_enrollment: Option<String>,
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    session_duration_minutes: Option<i64>,
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    intermediate_session_token: Option<String>,
}

/// The proof of a first factor a browser holds: the intermediate session in the body (MFA
/// pending after a primary factor) wins over the session cookie (a step-up), so a stale
/// session cookie never shadows the IST the SDK just stored.
fn b2b_proof(
    ist: Option<String>,
    session_token: Option<String>,
) -> (Option<String>, Option<String>) {
    match ist.filter(|t| !t.is_empty()) {
        Some(ist) => (Some(ist), None),
        None => (None, session_token),
    }
}

/// B2B `otps.sms.send`: always needs an intermediate session or a member session of this
/// member (the public token alone texts no member).
#[utoipa::path(
    post,
    path = "/sdk/v1/b2b/otps/sms/send",
    tag = "sdk",
    operation_id = "sdk_b2b_otps_sms_send",
    security(("public_token" = [])),
    request_body = SdkB2bSendInput,
    responses(
        (status = 200, description = "`{\"data\": {member, organization, …}}`", body = Object),
        (status = 400, description = "Malformed request, `no_session_arguments`, `invalid_intermediate_session_token_for_organization`", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials`: bad public token, or a session that is gone", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`, `operation_restricted_by_organization_mfa_methods`", body = ErrorBody),
        (status = 404, description = "`organization_not_found`, `member_not_found`, `intermediate_session_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn b2b_sms_send(
    state: web::Data<AppState>,
    PublicCallerToHash(caller): PublicCallerToHash,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let i: SdkB2bSendInput = super::json::parse(&body)?;
    guard_end_user(&state, &caller)?;
    let (ist, session_token) = b2b_proof(i.intermediate_session_token, caller.session_token);
    // Stytch lets a backend send to a member with no MFA factor yet without a proof; the
    // public token is public, so here a first factor is always needed.
    if ist.is_none() && session_token.is_none() {
        return Err(ApiError::with_message(
            ErrorKind::NoSessionArguments,
            "A B2B SMS from the browser needs the intermediate session of a primary factor or the member's session: the public token alone texts no member.",
        ));
    }
    let input = super::b2b::SmsSendInput {
        organization_id: i.organization_id,
        member_id: i.member_id,
        mfa_phone_number: i.mfa_phone_number,
        locale: i.locale,
        intermediate_session_token: ist,
        session_token,
        session_jwt: None,
    };
    super::b2b::run_sms_send(&state, &caller.project, &request_id, input, Caller::Browser)
        .await
        .map_err(signed_out)
}

/// B2B `otps.sms.authenticate`: exactly one of an intermediate session (in the body) or the
/// browser's member session; the code alone never signs anyone in.
#[utoipa::path(
    post,
    path = "/sdk/v1/b2b/otps/sms/authenticate",
    tag = "sdk",
    operation_id = "sdk_b2b_otps_sms_authenticate",
    security(("public_token" = [])),
    request_body = SdkB2bAuthenticateInput,
    responses(
        (status = 200, description = "`{\"data\": {member_session, session_token, session_jwt, member, organization}}`", body = Object),
        (status = 400, description = "Malformed request, `no_session_arguments`, `invalid_intermediate_session_token_for_organization`", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials` (bad public token, or a session that is gone) or `unable_to_auth_otp_code`", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`, `operation_restricted_by_organization_mfa_methods`", body = ErrorBody),
        (status = 404, description = "`otp_code_not_found`, `organization_not_found`, `member_not_found`, `intermediate_session_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn b2b_sms_authenticate(
    state: web::Data<AppState>,
    PublicCallerToHash(caller): PublicCallerToHash,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let i: SdkB2bAuthenticateInput = super::json::parse(&body)?;
    guard_end_user(&state, &caller)?;
    let (ist, session_token) = b2b_proof(i.intermediate_session_token, caller.session_token);
    let input = super::b2b::SmsAuthenticateInput {
        organization_id: i.organization_id,
        member_id: i.member_id,
        code: i.code,
        set_mfa_enrollment: i.set_mfa_enrollment,
        set_default_mfa: None,
        intermediate_session_token: ist,
        session_token,
        session_jwt: None,
        session_duration_minutes: i.session_duration_minutes,
        session_custom_claims: None,
    };
    super::b2b::run_sms_authenticate(&state, &caller.project, &request_id, input)
        .await
        .map_err(signed_out)
}

/// B2B `session.authenticate`: the browser's member session with member and organization.
#[utoipa::path(
    post,
    path = "/sdk/v1/b2b/sessions/authenticate",
    tag = "sdk",
    operation_id = "sdk_b2b_sessions_authenticate",
    security(("public_token" = [])),
    request_body = SdkSessionInput,
    responses(
        (status = 200, description = "`{\"data\": {member_session, member, organization, session_token, session_jwt}}`", body = Object),
        (status = 400, description = "`bad_request`, `invalid_session_duration`", body = ErrorBody),
        SessionRefusals,
        ServerErrors
    )
)]
pub async fn b2b_sessions_authenticate(
    state: web::Data<AppState>,
    caller: PublicCaller,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let (project, issued) = session_of(&state, caller, &body, Kind::Member).await?;
    let reply = sessions::member_session_reply(&state, &project, &request_id, &issued).await?;
    Ok(HttpResponse::Ok().json(reply))
}

/// B2B `session.revoke`.
#[utoipa::path(
    post,
    path = "/sdk/v1/b2b/sessions/revoke",
    tag = "sdk",
    operation_id = "sdk_b2b_sessions_revoke",
    security(("public_token" = [])),
    responses(
        (status = 200, description = "Revoked", body = Object),
        SessionRefusals,
        ServerErrors
    )
)]
pub async fn b2b_sessions_revoke(
    state: web::Data<AppState>,
    caller: PublicCaller,
    RequestId(request_id): RequestId,
) -> Result<HttpResponse, ApiError> {
    revoke(&state, caller, Kind::Member, &request_id).await
}

/// The end-user guard for routes whose use case takes no `attributes` (B2B).
fn guard_end_user(state: &AppState, caller: &PublicCaller) -> Result<(), ApiError> {
    state
        .client_limits
        .check_end_user(caller.project.id.as_str(), caller.client_ip)
        .map_err(limited)
}

/// Routes of the surface, under `/sdk/v1` with [`surface`] around them.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/projects/bootstrap/{public_token}",
        web::get().to(bootstrap),
    )
    .route("/events", web::post().to(events))
    .route("/otps/sms/send/primary", web::post().to(sms_send_primary))
    .route(
        "/otps/sms/send/secondary",
        web::post().to(sms_send_secondary),
    )
    .route(
        "/otps/whatsapp/send/primary",
        web::post().to(whatsapp_send_primary),
    )
    .route(
        "/otps/whatsapp/send/secondary",
        web::post().to(whatsapp_send_secondary),
    )
    .route(
        "/otps/sms/login_or_create",
        web::post().to(sms_login_or_create),
    )
    .route(
        "/otps/whatsapp/login_or_create",
        web::post().to(whatsapp_login_or_create),
    )
    .route("/otps/authenticate", web::post().to(authenticate))
    .route(
        "/sessions/authenticate",
        web::post().to(sessions_authenticate),
    )
    .route("/sessions/revoke", web::post().to(sessions_revoke))
    .route("/users/me", web::get().to(users_me))
    .route("/b2b/otps/sms/send", web::post().to(b2b_sms_send))
    .route(
        "/b2b/otps/sms/authenticate",
        web::post().to(b2b_sms_authenticate),
    )
    .route(
        "/b2b/sessions/authenticate",
        web::post().to(b2b_sessions_authenticate),
    )
    .route("/b2b/sessions/revoke", web::post().to(b2b_sessions_revoke));
}
