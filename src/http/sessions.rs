//! `/v1/sessions/...` and `/v1/b2b/sessions/...`: Stytch's sessions APIs (authenticate, get,
//! revoke, jwks), and the session pieces `otps.authenticate` and B2B authenticate share.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Authenticated, Guarded};
use super::context::RequestId;
use super::dto::UserBody;
use super::errors::{ApiError, ErrorBody, ErrorKind, ServerErrors, Unauthorized};
use super::json::Json;
use super::AppState;
use crate::domain::ids::{Environment, ProjectId, UserId, UserRef};
use crate::domain::project::Project;
use crate::domain::session::{ClaimsUpdate, SessionDuration, SANDBOX_SESSION_TOKEN};
use crate::otp::sessions::{self, Issued, Kind, Presented, RevokeTarget};
use crate::otp::trusted_tokens::MemberAttested;
use crate::otp::{b2b, users, OtpError};
use crate::store::organizations::MemberKey;
use crate::store::sessions::SessionRow;

/// `session_duration_minutes`, when given.
pub fn duration(raw: Option<i64>) -> Result<Option<SessionDuration>, ApiError> {
    raw.map(SessionDuration::parse)
        .transpose()
        .map_err(|_| ApiError::new(ErrorKind::InvalidSessionDuration))
}

/// `session_custom_claims`: an object without reserved claims, at most 4 KB.
pub fn claims(raw: Option<Value>) -> Result<ClaimsUpdate, ApiError> {
    ClaimsUpdate::parse(raw)
        .map_err(|e| ApiError::with_message(ErrorKind::InvalidSessionCustomClaims, e.to_string()))
}

/// The session's `attributes` as Stytch's model has them.
pub fn attributes(ip_address: Option<&str>, user_agent: Option<&str>) -> Value {
    json!({
        "ip_address": ip_address.unwrap_or_default(),
        "user_agent": user_agent.unwrap_or_default(),
    })
}

/// A consumer `Session` with every field the SDK models require.
pub fn session_body(row: &SessionRow) -> Value {
    let (started, accessed, expires) = sessions::timestamps(row);
    json!({
        "session_id": row.id,
        "user_id": row.user_id.as_deref().unwrap_or_default(),
        "started_at": started,
        "last_accessed_at": accessed,
        "expires_at": expires,
        "attributes": row.attributes,
        "authentication_factors": row.factors,
        "custom_claims": row.custom_claims,
        "roles": sessions::roles(Kind::Consumer),
    })
}

/// A B2B `MemberSession` with every field the SDK models require.
pub fn member_session_body(row: &SessionRow, organization_slug: &str) -> Value {
    let (started, accessed, expires) = sessions::timestamps(row);
    json!({
        "member_session_id": row.id,
        "member_id": row.member_id.as_deref().unwrap_or_default(),
        "organization_id": row.organization_id.as_deref().unwrap_or_default(),
        "organization_slug": organization_slug,
        "started_at": started,
        "last_accessed_at": accessed,
        "expires_at": expires,
        "authentication_factors": row.factors,
        "custom_claims": row.custom_claims,
        "roles": sessions::roles(Kind::Member),
    })
}

/// Which session a request names: `session_token` or `session_jwt` (at most one).
pub async fn presented(
    state: &AppState,
    project: &Project,
    kind: Kind,
    token: Option<String>,
    jwt: Option<String>,
) -> Result<Option<sessions::Identified>, ApiError> {
    match Presented::from_fields(token, jwt)? {
        Some(p) => Ok(Some(
            sessions::identify_live(&state.services, &project.id, kind, p).await?,
        )),
        None => Ok(None),
    }
}

/// `send` with `session_token` / `session_jwt`: the session's user, to attach the number to.
pub async fn session_user(
    state: &AppState,
    project: &Project,
    token: Option<String>,
    jwt: Option<String>,
) -> Result<Option<String>, ApiError> {
    match Presented::from_fields(token, jwt)? {
        Some(p) => Ok(Some(sessions::user_of(&state.services, project, p).await?)),
        None => Ok(None),
    }
}

/// `otps.authenticate` with a session asked for: the phone factor, on the presented session
/// or a new one.
#[allow(clippy::too_many_arguments)]
pub async fn phone_factor_session(
    state: &AppState,
    project: &Project,
    user: &crate::domain::user::User,
    method_id: &crate::domain::ids::PhoneId,
    presented: Option<sessions::Identified>,
    duration: Option<SessionDuration>,
    claims: &ClaimsUpdate,
    attributes: Value,
) -> Result<Option<Issued>, ApiError> {
    let number = user
        .phones
        .iter()
        .find(|p| p.id == *method_id)
        .map(|p| p.phone_number.clone())
        .unwrap_or_default();
    Ok(sessions::after_phone_factor(
        &state.services,
        project,
        user.id.as_str(),
        method_id.as_str(),
        &number,
        presented,
        duration,
        claims,
        &attributes,
    )
    .await?)
}

/// `sessions.authenticate` (consumer and B2B): exactly one of `session_token` and
/// `session_jwt` (non-empty). Neither is refused with `bad_request` ("session_token or
/// session_jwt is required"), both with `too_many_session_arguments`.
#[derive(Deserialize, ToSchema)]
#[schema(as = SessionAuthenticateInput)]
pub struct AuthenticateInput {
    /// The opaque token from an authenticate response.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    pub(super) session_token: Option<String>,
    /// A JWT from an authenticate response (an expired one is accepted while its session lives).
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    pub(super) session_jwt: Option<String>,
    /// Extend the session to end this many minutes from now.
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    pub(super) session_duration_minutes: Option<i64>,
    /// Claims to set (a `null` value deletes one); reserved JWT claims are refused.
    #[schema(schema_with = super::openapi::metadata)]
    pub(super) session_custom_claims: Option<Value>,
}

pub(super) async fn run_authenticate(
    state: &AppState,
    project: &Project,
    kind: Kind,
    i: AuthenticateInput,
) -> Result<Issued, ApiError> {
    let duration = duration(i.session_duration_minutes)?;
    let claims = claims(i.session_custom_claims)?;
    let presented = Presented::from_fields(i.session_token, i.session_jwt)?
        .ok_or_else(|| ApiError::bad_request("session_token or session_jwt is required."))?;
    Ok(
        sessions::authenticate(&state.services, project, kind, presented, duration, &claims)
            .await?,
    )
}

fn is_sandbox(project: &Project, token: Option<&str>) -> bool {
    project.env() == Environment::Test && token == Some(SANDBOX_SESSION_TOKEN)
}

/// Authenticate a session token or JWT; returns the session and a fresh JWT.
#[utoipa::path(
    post,
    path = "/v1/sessions/authenticate",
    tag = "sessions",
    operation_id = "sessions_authenticate",
    security(("basic" = [])),
    request_body = AuthenticateInput,
    responses(
        (status = 200, description = "The session is live", body = Object),
        (status = 400, description = "`bad_request` (neither `session_token` nor `session_jwt`), `too_many_session_arguments` (both), `invalid_session_duration`, `invalid_session_custom_claims` (a reserved claim, or over 4 KB)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`session_not_found`: unknown, expired or revoked", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn authenticate(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<AuthenticateInput>,
) -> Result<HttpResponse, ApiError> {
    if is_sandbox(&project, i.session_token.as_deref()) {
        let row = sessions::sandbox_row();
        return Ok(HttpResponse::Ok().json(json!({
            "status_code": 200,
            "request_id": request_id,
            "session": session_body(&row),
            "session_token": SANDBOX_SESSION_TOKEN,
            "session_jwt": "",
            "user": sandbox_user(&row),
        })));
    }
    let issued = run_authenticate(&state, &project, Kind::Consumer, i).await?;
    Ok(HttpResponse::Ok().json(user_session_reply(&state, &project, &request_id, &issued).await?))
}

/// A consumer session as `sessions.authenticate` answers it, with its user.
pub(super) async fn user_session_reply(
    state: &AppState,
    project: &Project,
    request_id: &str,
    issued: &Issued,
) -> Result<Value, ApiError> {
    let user_id = UserId::from_trusted(issued.row.user_id.clone().unwrap_or_default());
    let user = users::load(&state.services, project, &user_id).await?;
    Ok(json!({
        "status_code": 200,
        "request_id": request_id,
        "session": session_body(&issued.row),
        "session_token": issued.token,
        "session_jwt": issued.jwt,
        "user": UserBody::from(&user),
    }))
}

fn sandbox_user(row: &SessionRow) -> Value {
    json!({
        "user_id": row.user_id, "created_at": "2021-12-29T12:33:09Z", "status": "active",
        "name": {"first_name": "", "middle_name": "", "last_name": ""},
        "emails": [], "phone_numbers": [{
            "phone_id": row.factors.pointer("/0/phone_number_factor/phone_id"),
            "phone_number": crate::domain::SANDBOX_NUMBER, "verified": true}],
        "webauthn_registrations": [], "providers": [], "totps": [], "crypto_wallets": [],
        "biometric_registrations": [], "password": null, "trusted_metadata": {},
        "untrusted_metadata": {}, "external_id": null, "is_locked": false, "roles": [],
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A `user_id` or the user's `external_id`.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^(user-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-tv-z0-9._|-][A-Za-z0-9._|-]*|u|u[A-Za-rt-z0-9._|-][A-Za-z0-9._|-]*|us|us[A-Za-df-z0-9._|-][A-Za-z0-9._|-]*|use|use[A-Za-qs-z0-9._|-][A-Za-z0-9._|-]*|user|user[A-Za-z0-9._|][A-Za-z0-9._|-]*)$"
    )]
    user_id: String,
}

/// List a user's live sessions.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "sessions",
    operation_id = "sessions_get",
    security(("basic" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "The user's live sessions", body = Object),
        (status = 400, description = "`invalid_user_id`", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = UserRef::parse(&q.user_id)?;
    let id = crate::store::users::resolve_user(&state.services.pool, &project.id, &user)
        .await
        .map_err(OtpError::from)?
        .ok_or(OtpError::UserNotFound)?;
    let rows = sessions::list(&state.services, &project, Some(id.as_str()), None).await?;
    let list: Vec<Value> = rows.iter().map(session_body).collect();
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200,
        "request_id": request_id,
        "sessions": list,
    })))
}

/// Exactly one of `session_id`, `session_token` and `session_jwt` (non-empty): none is
/// refused with `bad_request` ("Pass one of the session id, session_token or session_jwt"),
/// several with `too_many_session_arguments`.
#[derive(Deserialize, ToSchema)]
pub struct RevokeInput {
    #[schema(
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    session_id: Option<String>,
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    session_token: Option<String>,
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    session_jwt: Option<String>,
}

/// `session_token` / `session_jwt` as the document declares them (length and alphabet),
/// checked even where they are ignored, so the document's constraints are the rule.
pub fn check_syntax(token: Option<&str>, jwt: Option<&str>) -> Result<(), ApiError> {
    let fits = |v: &str, max: usize, dot: bool| {
        v.len() <= max
            && v.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || b == b'_'
                    || b == b'='
                    || b == b'-'
                    || (dot && b == b'.')
            })
    };
    if !token.is_none_or(|t| fits(t, 128, false)) {
        return Err(ApiError::bad_request(
            "session_token: at most 128 characters of A-Z, a-z, 0-9, _, = and -",
        ));
    }
    if !jwt.is_none_or(|j| fits(j, 16384, true)) {
        return Err(ApiError::bad_request(
            "session_jwt: at most 16384 characters of A-Z, a-z, 0-9, _, =, - and .",
        ));
    }
    Ok(())
}

fn one_target(
    id: Option<String>,
    token: Option<String>,
    jwt: Option<String>,
    member: Option<String>,
) -> Result<RevokeTarget, ApiError> {
    check_syntax(token.as_deref(), jwt.as_deref())?;
    for v in [&id, &member].into_iter().flatten() {
        if v.chars().count() > 128 {
            return Err(ApiError::bad_request(
                "session and member ids are at most 128 characters",
            ));
        }
    }
    let given = |s: Option<String>| s.filter(|s| !s.is_empty());
    match (given(id), given(token), given(jwt), given(member)) {
        (Some(id), None, None, None) => Ok(RevokeTarget::Id(id)),
        (None, Some(t), None, None) => Ok(RevokeTarget::Presented(Presented::Token(t))),
        (None, None, Some(j), None) => Ok(RevokeTarget::Presented(Presented::Jwt(j))),
        (None, None, None, Some(m)) => Ok(RevokeTarget::Member(m)),
        (None, None, None, None) => Err(ApiError::bad_request(
            "Pass one of the session id, session_token or session_jwt.",
        )),
        _ => Err(ApiError::new(ErrorKind::TooManySessionArguments)),
    }
}

/// Revoke a session by id, token or JWT.
#[utoipa::path(
    post,
    path = "/v1/sessions/revoke",
    tag = "sessions",
    operation_id = "sessions_revoke",
    security(("basic" = [])),
    request_body = RevokeInput,
    responses(
        (status = 200, description = "The session is revoked", body = Object),
        (status = 400, description = "`bad_request` (no session named), `too_many_session_arguments` (more than one named)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`session_not_found`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<RevokeInput>,
) -> Result<HttpResponse, ApiError> {
    let target = one_target(i.session_id, i.session_token, i.session_jwt, None)?;
    sessions::revoke(&state.services, &project, Kind::Consumer, target).await?;
    Ok(HttpResponse::Ok().json(json!({"status_code": 200, "request_id": request_id})))
}

/// The project's JWT verification keys. Public (no credentials), as the SDKs fetch it with a
/// plain HTTP client; it only ever holds public keys.
#[utoipa::path(
    get,
    path = "/v1/sessions/jwks/{project_id}",
    tag = "sessions",
    operation_id = "sessions_jwks",
    params(("project_id" = String, Path, max_length = 128, pattern = r"^project-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The project id")),
    responses(
        (status = 200, description = "The JWKS", body = Object),
        (status = 400, description = "`bad_request`: not a project id", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn jwks(
    _guard: Guarded,
    state: web::Data<AppState>,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = ProjectId::parse(&path.into_inner())?;
    let keys = sessions::jwks(&state.services, &project).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200,
        "request_id": request_id,
        "keys": keys,
    })))
}

/// The B2B JWKS: the same keys.
#[utoipa::path(
    get,
    path = "/v1/b2b/sessions/jwks/{project_id}",
    tag = "b2b",
    operation_id = "b2b_sessions_jwks",
    params(("project_id" = String, Path, max_length = 128, pattern = r"^project-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The project id")),
    responses(
        (status = 200, description = "The JWKS", body = Object),
        (status = 400, description = "`bad_request`: not a project id", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn b2b_jwks(
    guard: Guarded,
    state: web::Data<AppState>,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    jwks(guard, state, request_id, path).await
}

/// Authenticate a member session token or JWT.
#[utoipa::path(
    post,
    path = "/v1/b2b/sessions/authenticate",
    tag = "b2b",
    operation_id = "b2b_sessions_authenticate",
    security(("basic" = [])),
    request_body = AuthenticateInput,
    responses(
        (status = 200, description = "The member session is live", body = Object),
        (status = 400, description = "`bad_request` (neither `session_token` nor `session_jwt`), `too_many_session_arguments` (both), `invalid_session_duration`, `invalid_session_custom_claims` (a reserved claim, or over 4 KB)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`session_not_found`: unknown, expired or revoked", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn b2b_authenticate(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<AuthenticateInput>,
) -> Result<HttpResponse, ApiError> {
    let issued = run_authenticate(&state, &project, Kind::Member, i).await?;
    Ok(
        HttpResponse::Ok()
            .json(member_session_reply(&state, &project, &request_id, &issued).await?),
    )
}

/// A member session as `b2b.sessions.authenticate` answers it, with member and organization.
pub(super) async fn member_session_reply(
    state: &AppState,
    project: &Project,
    request_id: &str,
    issued: &Issued,
) -> Result<Value, ApiError> {
    let org_id = issued.row.organization_id.clone().unwrap_or_default();
    let org = b2b::organization(&state.services, project, &org_id).await?;
    let member_id = issued.row.member_id.clone().unwrap_or_default();
    let m = b2b::member(&state.services, &org, MemberKey::IdOrExternal(&member_id)).await?;
    let mut body = super::b2b::member_reply_body(request_id, &m, &org);
    if let Some(b) = body.as_object_mut() {
        b.insert(
            "member_session".into(),
            member_session_body(&issued.row, &org.slug),
        );
        b.insert("session_token".into(), json!(issued.token));
        b.insert("session_jwt".into(), json!(issued.jwt));
    }
    Ok(body)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct B2bListQuery {
    /// Organization id, slug or external id.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    organization_id: String,
    /// Member id or external id.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    member_id: String,
}

/// List a member's live sessions.
#[utoipa::path(
    get,
    path = "/v1/b2b/sessions",
    tag = "b2b",
    operation_id = "b2b_sessions_get",
    security(("basic" = [])),
    params(B2bListQuery),
    responses(
        (status = 200, description = "The member's live sessions", body = Object),
        (status = 400, description = "`bad_request`: a missing or malformed parameter", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found`, `member_not_found`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn b2b_list(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    q: web::Query<B2bListQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = b2b::organization(&state.services, &project, &q.organization_id).await?;
    let m = b2b::member(&state.services, &org, MemberKey::IdOrExternal(&q.member_id)).await?;
    let rows = sessions::list(&state.services, &project, None, Some(m.id.as_str())).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| member_session_body(r, &org.slug))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200,
        "request_id": request_id,
        "member_sessions": list,
    })))
}

/// Exactly one of `member_session_id`, `session_token`, `session_jwt` and `member_id`
/// (non-empty): none is refused with `bad_request` ("Pass one of the session id,
/// session_token or session_jwt"), several with `too_many_session_arguments`.
#[derive(Deserialize, ToSchema)]
pub struct B2bRevokeInput {
    #[schema(
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    member_session_id: Option<String>,
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    session_token: Option<String>,
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    session_jwt: Option<String>,
    /// Revokes every session of this member.
    #[schema(
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    member_id: Option<String>,
}

/// Revoke a member session (by id, token or JWT), or all of a member's sessions.
#[utoipa::path(
    post,
    path = "/v1/b2b/sessions/revoke",
    tag = "b2b",
    operation_id = "b2b_sessions_revoke",
    security(("basic" = [])),
    request_body = B2bRevokeInput,
    responses(
        (status = 200, description = "Revoked", body = Object),
        (status = 400, description = "`bad_request` (no session named), `too_many_session_arguments` (more than one named)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`session_not_found`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn b2b_revoke(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<B2bRevokeInput>,
) -> Result<HttpResponse, ApiError> {
    let target = one_target(
        i.member_session_id,
        i.session_token,
        i.session_jwt,
        i.member_id,
    )?;
    sessions::revoke(&state.services, &project, Kind::Member, target).await?;
    Ok(HttpResponse::Ok().json(json!({"status_code": 200, "request_id": request_id})))
}

/// `sessions.attest` (consumer and B2B): a trusted auth token for a session.
#[derive(Deserialize, ToSchema)]
pub struct AttestInput {
    /// A `trusted-auth-token-profile-…` id from `otpd project trusted-token create`.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    profile_id: String,
    /// The JWT (RS256) the profile's issuer signed.
    #[schema(min_length = 1, max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    token: String,
    /// B2B only, and required there: the organization (id, slug or external id) whose member
    /// the token's email names.
    #[schema(
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    organization_id: Option<String>,
    /// Consumer: without it (and without a presented session) no session is started. B2B:
    /// default 60.
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    session_duration_minutes: Option<i64>,
    #[schema(schema_with = super::openapi::metadata)]
    session_custom_claims: Option<Value>,
    /// A live session (of the token's user or member) to add the factor to.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    session_token: Option<String>,
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    session_jwt: Option<String>,
    /// Accepted and ignored (otpd has no device fingerprinting).
    #[schema(
        max_length = 256,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    telemetry_id: Option<String>,
}

fn attest_parts(
    i: &mut AttestInput,
) -> Result<(Option<SessionDuration>, ClaimsUpdate, Option<Presented>), ApiError> {
    if i.profile_id.is_empty() || i.profile_id.chars().count() > 128 {
        return Err(ApiError::bad_request("profile_id: 1 to 128 characters"));
    }
    if i.token.is_empty() {
        return Err(ApiError::bad_request("token is required"));
    }
    check_syntax(None, Some(&i.token))
        .map_err(|_| ApiError::bad_request("token: a JWT of at most 16384 characters"))?;
    check_syntax(i.session_token.as_deref(), i.session_jwt.as_deref())?;
    if i.telemetry_id
        .as_ref()
        .is_some_and(|t| t.chars().count() > 256)
    {
        return Err(ApiError::bad_request(
            "telemetry_id: at most 256 characters",
        ));
    }
    if i.organization_id
        .as_ref()
        .is_some_and(|o| o.chars().count() > 128)
    {
        return Err(ApiError::bad_request(
            "organization_id: at most 128 characters",
        ));
    }
    let duration = duration(i.session_duration_minutes)?;
    let claims = claims(i.session_custom_claims.take())?;
    let presented = Presented::from_fields(i.session_token.take(), i.session_jwt.take())?;
    Ok((duration, claims, presented))
}

/// Exchange a trusted auth token (a JWT from an issuer registered as a profile) for a user
/// and, when asked, a session.
#[utoipa::path(
    post,
    path = "/v1/sessions/attest",
    tag = "sessions",
    operation_id = "sessions_attest",
    security(("basic" = [])),
    request_body = AttestInput,
    responses(
        (status = 200, description = "The token is valid: the user, and the session when one was asked for or presented", body = Object),
        (status = 400, description = "`bad_request`, `too_many_session_arguments`, `invalid_session_duration`, `invalid_session_custom_claims`", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials`; the token refused: `invalid_token` (signature, key, replayed token id), `jwt_invalid_issuer`, `jwt_invalid_audience`, `jwt_invalid_claims` (expired, not yet valid, a mapped claim missing)", body = ErrorBody),
        (status = 404, description = "`trusted_auth_token_profile_not_found`, `user_not_found` (no user has the token's email and the profile doesn't provision), `session_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn attest(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(mut i): Json<AttestInput>,
) -> Result<HttpResponse, ApiError> {
    let (duration, claims, presented) = attest_parts(&mut i)?;
    let (user, issued) = crate::otp::trusted_tokens::attest_user(
        &state.services,
        &project,
        &i.profile_id,
        &i.token,
        presented,
        duration,
        &claims,
    )
    .await?;
    let (token, jwt, session) = match &issued {
        Some(s) => (s.token.clone(), s.jwt.clone(), session_body(&s.row)),
        None => (String::new(), String::new(), Value::Null),
    };
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200,
        "request_id": request_id,
        "user_id": user.id.as_str(),
        "user": UserBody::from(&user),
        "session": session,
        "session_token": token,
        "session_jwt": jwt,
        "user_device": null,
    })))
}

/// A phone number as Stytch's `mfa_required.member_options` shows it: only the last four
/// digits.
fn masked(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().saturating_sub(4);
    digits
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep { 'X' } else { *c })
        .collect()
}

/// Exchange a trusted auth token for a member session, or, when the organization requires
/// MFA or the member is enrolled, an intermediate session (and an SMS code to an enrolled
/// member with an MFA phone).
#[utoipa::path(
    post,
    path = "/v1/b2b/sessions/attest",
    tag = "b2b",
    operation_id = "b2b_sessions_attest",
    security(("basic" = [])),
    request_body = AttestInput,
    responses(
        (status = 200, description = "`member_authenticated: true` with `member_session`, `session_token`, `session_jwt`; or `member_authenticated: false` with `intermediate_session_token` and `mfa_required` (`member_session: null`)", body = Object),
        (status = 400, description = "`bad_request` (no `organization_id`), `too_many_session_arguments`, `invalid_session_duration`, `invalid_session_custom_claims`", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials`; the token refused: `invalid_token` (signature, key, replayed token id), `jwt_invalid_issuer`, `jwt_invalid_audience`, `jwt_invalid_claims` (expired, not yet valid, a mapped claim missing)", body = ErrorBody),
        (status = 404, description = "`trusted_auth_token_profile_not_found`, `organization_not_found`, `member_not_found` (no member of the organization has the token's email), `session_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn b2b_attest(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(mut i): Json<AttestInput>,
) -> Result<HttpResponse, ApiError> {
    let (duration, claims, presented) = attest_parts(&mut i)?;
    let org_key = i
        .organization_id
        .take()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| ApiError::bad_request("organization_id is required"))?;
    let org = b2b::organization(&state.services, &project, &org_key).await?;
    let (m, outcome) = crate::otp::trusted_tokens::attest_member(
        &state.services,
        &project,
        &org,
        &i.profile_id,
        &i.token,
        presented,
        duration,
        &claims,
        crate::domain::Locale::parse_lenient(None),
    )
    .await?;
    let mut body = super::b2b::member_reply_body(&request_id, &m, &org);
    let extra = match outcome {
        MemberAttested::Session(issued) => json!({
            "member_authenticated": true,
            "member_session": member_session_body(&issued.row, &org.slug),
            "session_token": issued.token,
            "session_jwt": issued.jwt,
            "intermediate_session_token": "",
            "mfa_required": null,
            "primary_required": null,
            "member_device": null,
        }),
        MemberAttested::MfaRequired {
            intermediate_session_token,
            sms_sent,
        } => json!({
            "member_authenticated": false,
            "member_session": null,
            "session_token": "",
            "session_jwt": "",
            "intermediate_session_token": intermediate_session_token,
            "mfa_required": {
                "member_options": {
                    "mfa_phone_number": masked(&m.mfa_phone_number),
                    "totp_registration_id": "",
                },
                "secondary_auth_initiated": if sms_sent { json!("sms_otp") } else { Value::Null },
            },
            "primary_required": null,
            "member_device": null,
        }),
    };
    if let (Some(b), Value::Object(more)) = (body.as_object_mut(), extra) {
        b.extend(more);
    }
    Ok(HttpResponse::Ok().json(body))
}
