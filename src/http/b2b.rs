//! `/v1/b2b/...`: organizations, members and SMS MFA, in Stytch's B2B wire shape.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::auth::Authenticated;
use super::context::RequestId;
use super::dto::rfc3339;
use super::errors::{ApiError, ErrorBody, ErrorKind, ServerErrors, Unauthorized};
use super::json::Json;
use super::openapi::{MemberAuthenticateResponse, MemberResponse, OrganizationResponse};
use super::AppState;
use crate::domain::ids::ExternalId;
use crate::domain::organization::{valid_slug, EnrollmentChange, Member, MfaPolicy, Organization};
use crate::domain::{Locale, Passcode, PhoneNumber};
use crate::otp::b2b::{self, CreateMember, CreateOrganization, UpdateMember};
use crate::otp::users::parse_email;
use crate::store::organizations::MemberKey;

/// Every field Stytch's `Organization` model requires, non-null.
fn organization_body(o: &Organization) -> Value {
    json!({
        "organization_id": o.id.as_str(),
        "organization_name": o.name,
        "organization_logo_url": o.logo_url,
        "organization_slug": o.slug,
        "organization_external_id": o.external_id,
        "trusted_metadata": o.trusted_metadata,
        "created_at": rfc3339(&o.created_at),
        "updated_at": rfc3339(&o.updated_at),
        "sso_jit_provisioning": "ALL_ALLOWED",
        "sso_jit_provisioning_allowed_connections": [],
        "sso_active_connections": [],
        "sso_default_connection_id": null,
        "scim_active_connection": null,
        "email_allowed_domains": [],
        "email_jit_provisioning": "NOT_ALLOWED",
        "email_invites": "ALL_ALLOWED",
        "auth_methods": "ALL_ALLOWED",
        "allowed_auth_methods": [],
        "mfa_policy": o.mfa_policy.as_str(),
        "rbac_email_implicit_role_assignments": [],
        "mfa_methods": "ALL_ALLOWED",
        "allowed_mfa_methods": [],
        "oauth_tenant_jit_provisioning": "NOT_ALLOWED",
        "allowed_oauth_tenants": {},
        "claimed_email_domains": [],
        "first_party_connected_apps_allowed_type": "ALL_ALLOWED",
        "allowed_first_party_connected_apps": [],
        "third_party_connected_apps_allowed_type": "ALL_ALLOWED",
        "allowed_third_party_connected_apps": [],
        "custom_roles": [],
    })
}

/// Every field Stytch's `Member` model requires, non-null.
fn member_body(m: &Member) -> Value {
    json!({
        "organization_id": m.organization_id.as_str(),
        "member_id": m.id.as_str(),
        "email_address": m.email_address,
        "status": m.status,
        "name": m.name,
        "external_id": m.external_id,
        "sso_registrations": [],
        "is_breakglass": false,
        "member_password_id": "",
        "oauth_registrations": [],
        "email_address_verified": false,
        "mfa_phone_number_verified": m.mfa_phone_number_verified,
        "is_admin": false,
        "totp_registration_id": "",
        "retired_email_addresses": [],
        "is_locked": false,
        "mfa_enrolled": m.mfa_enrolled,
        "mfa_phone_number": m.mfa_phone_number,
        "default_mfa_method": m.default_mfa_method,
        "roles": [],
        "trusted_metadata": m.trusted_metadata,
        "untrusted_metadata": m.untrusted_metadata,
        "created_at": rfc3339(&m.created_at),
        "updated_at": rfc3339(&m.updated_at),
        "scim_registration": null,
        "lock_created_at": null,
        "lock_expires_at": null,
    })
}

/// `{status_code, request_id, member_id, member, organization}`.
pub fn member_reply_body(request_id: &str, m: &Member, o: &Organization) -> Value {
    json!({
        "status_code": 200,
        "request_id": request_id,
        "member_id": m.id.as_str(),
        "member": member_body(m),
        "organization": organization_body(o),
    })
}

fn member_reply(request_id: &str, m: &Member, o: &Organization, extra: Value) -> HttpResponse {
    let mut body = member_reply_body(request_id, m, o);
    if let (Some(b), Value::Object(more)) = (body.as_object_mut(), extra) {
        b.extend(more);
    }
    HttpResponse::Ok().json(body)
}

fn phone(raw: Option<&str>) -> Result<Option<PhoneNumber>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(PhoneNumber::parse)
        .transpose()
        .map_err(|_| ApiError::new(ErrorKind::InvalidPhoneNumber))
}

fn external_id(raw: Option<String>) -> Result<Option<String>, ApiError> {
    raw.map(|s| ExternalId::parse(&s).map(|e| e.as_str().to_owned()))
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateOrganizationInput {
    organization_name: String,
    organization_slug: String,
    organization_external_id: Option<String>,
    organization_logo_url: Option<String>,
    /// `OPTIONAL` (default) or `REQUIRED_FOR_ALL`.
    mfa_policy: Option<String>,
    #[schema(value_type = Option<Object>)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
}

/// Create an organization.
#[utoipa::path(
    post,
    path = "/v1/b2b/organizations",
    tag = "b2b",
    operation_id = "b2b_create_organization",
    security(("basic" = [])),
    request_body = CreateOrganizationInput,
    responses(
        (status = 200, description = "The organization was created", body = OrganizationResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn create_organization(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<CreateOrganizationInput>,
) -> Result<HttpResponse, ApiError> {
    let name = i.organization_name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::bad_request(
            "organization_name must be 1 to 128 characters",
        ));
    }
    if !valid_slug(&i.organization_slug) {
        return Err(ApiError::new(ErrorKind::InvalidOrganizationSlug));
    }
    let mfa_policy = match i.mfa_policy.as_deref() {
        None | Some("") => MfaPolicy::Optional,
        Some(p) => MfaPolicy::parse(p).ok_or_else(|| {
            ApiError::bad_request("mfa_policy must be OPTIONAL or REQUIRED_FOR_ALL")
        })?,
    };
    let org = b2b::create_organization(
        &state.services,
        &project,
        CreateOrganization {
            name,
            slug: i.organization_slug,
            external_id: external_id(i.organization_external_id)?,
            logo_url: i.organization_logo_url.unwrap_or_default(),
            mfa_policy,
            trusted_metadata: Value::Object(i.trusted_metadata.unwrap_or_default()),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200, "request_id": request_id, "organization": organization_body(&org)
    })))
}

/// Get an organization.
#[utoipa::path(
    get,
    path = "/v1/b2b/organizations/{organization_id}",
    tag = "b2b",
    operation_id = "b2b_get_organization",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id")),
    responses(
        (status = 200, description = "The organization", body = OrganizationResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn get_organization(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = b2b::organization(&state.services, &project, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200, "request_id": request_id, "organization": organization_body(&org)
    })))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateMemberInput {
    email_address: String,
    name: Option<String>,
    external_id: Option<String>,
    mfa_phone_number: Option<String>,
    mfa_enrolled: Option<bool>,
    create_member_as_pending: Option<bool>,
    #[schema(value_type = Option<Object>)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    untrusted_metadata: Option<serde_json::Map<String, Value>>,
}

/// Create a member of an organization.
#[utoipa::path(
    post,
    path = "/v1/b2b/organizations/{organization_id}/members",
    tag = "b2b",
    operation_id = "b2b_create_member",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id")),
    request_body = CreateMemberInput,
    responses(
        (status = 200, description = "The member was created", body = MemberResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn create_member(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
    Json(i): Json<CreateMemberInput>,
) -> Result<HttpResponse, ApiError> {
    let org = b2b::organization(&state.services, &project, &path.into_inner()).await?;
    let req = CreateMember {
        email_address: parse_email(&i.email_address)?,
        name: i.name.unwrap_or_default(),
        external_id: external_id(i.external_id)?,
        mfa_phone_number: phone(i.mfa_phone_number.as_deref())?,
        mfa_enrolled: i.mfa_enrolled.unwrap_or(false),
        pending: i.create_member_as_pending.unwrap_or(false),
        trusted_metadata: Value::Object(i.trusted_metadata.unwrap_or_default()),
        untrusted_metadata: Value::Object(i.untrusted_metadata.unwrap_or_default()),
    };
    let m = b2b::create_member(&state.services, &project, &org, req).await?;
    Ok(member_reply(&request_id, &m, &org, Value::Null))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetMemberQuery {
    /// Member id or external id (this or `email_address`).
    member_id: Option<String>,
    email_address: Option<String>,
}

/// Get a member by id, external id or email address.
#[utoipa::path(
    get,
    path = "/v1/b2b/organizations/{organization_id}/member",
    tag = "b2b",
    operation_id = "b2b_get_member",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id"), GetMemberQuery),
    responses(
        (status = 200, description = "The member", body = MemberResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found` or `member_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn get_member(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
    query: web::Query<GetMemberQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = b2b::organization(&state.services, &project, &path.into_inner()).await?;
    let email;
    let key = match (query.member_id.as_deref(), query.email_address.as_deref()) {
        (Some(id), _) if !id.is_empty() => MemberKey::IdOrExternal(id),
        (_, Some(e)) if !e.is_empty() => {
            email = parse_email(e)?;
            MemberKey::Email(&email)
        }
        _ => return Err(ApiError::bad_request("pass member_id or email_address")),
    };
    let m = b2b::member(&state.services, &org, key).await?;
    Ok(member_reply(&request_id, &m, &org, Value::Null))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMemberInput {
    name: Option<String>,
    external_id: Option<String>,
    mfa_phone_number: Option<String>,
    mfa_enrolled: Option<bool>,
    /// `sms_otp` or `totp`.
    default_mfa_method: Option<String>,
}

/// Update a member; changing the MFA phone withdraws codes sent to the old one.
#[utoipa::path(
    put,
    path = "/v1/b2b/organizations/{organization_id}/members/{member_id}",
    tag = "b2b",
    operation_id = "b2b_update_member",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id"), ("member_id" = String, Path, description = "Member id or external id")),
    request_body = UpdateMemberInput,
    responses(
        (status = 200, description = "The updated member", body = MemberResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found` or `member_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn update_member(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<(String, String)>,
    Json(i): Json<UpdateMemberInput>,
) -> Result<HttpResponse, ApiError> {
    let (org_key, member_key) = path.into_inner();
    let org = b2b::organization(&state.services, &project, &org_key).await?;
    if let Some(method) = i.default_mfa_method.as_deref() {
        if !matches!(method, "sms_otp" | "totp") {
            return Err(ApiError::bad_request(
                "default_mfa_method must be sms_otp or totp",
            ));
        }
    }
    let req = UpdateMember {
        name: i.name,
        external_id: external_id(i.external_id)?,
        mfa_phone_number: phone(i.mfa_phone_number.as_deref())?,
        mfa_enrolled: i.mfa_enrolled,
        default_mfa_method: i.default_mfa_method,
    };
    let m = b2b::update_member(&state.services, &project, &org, &member_key, req).await?;
    Ok(member_reply(&request_id, &m, &org, Value::Null))
}

/// Remove a member's MFA phone number.
#[utoipa::path(
    delete,
    path = "/v1/b2b/organizations/{organization_id}/members/mfa_phone_numbers/{member_id}",
    tag = "b2b",
    operation_id = "b2b_delete_mfa_phone",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id"), ("member_id" = String, Path, description = "Member id or external id")),
    responses(
        (status = 200, description = "The member, without a phone", body = MemberResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found` or `member_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn delete_mfa_phone(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_key, member_key) = path.into_inner();
    let org = b2b::organization(&state.services, &project, &org_key).await?;
    let m = b2b::delete_mfa_phone(&state.services, &project, &org, &member_key).await?;
    Ok(member_reply(&request_id, &m, &org, Value::Null))
}

/// Session tokens in B2B requests are accepted and ignored: sessions are the caller's.
#[derive(Deserialize, ToSchema)]
pub struct SmsSendInput {
    organization_id: String,
    member_id: String,
    mfa_phone_number: Option<String>,
    locale: Option<String>,
}

/// Send an MFA passcode by SMS to a member (codes live 2 minutes).
#[utoipa::path(
    post,
    path = "/v1/b2b/otps/sms/send",
    tag = "b2b",
    operation_id = "b2b_otps_sms_send",
    security(("basic" = [])),
    request_body = SmsSendInput,
    responses(
        (status = 200, description = "The passcode was sent", body = MemberResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found` or `member_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn sms_send(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<SmsSendInput>,
) -> Result<HttpResponse, ApiError> {
    let org = b2b::organization(&state.services, &project, &i.organization_id).await?;
    let phone = phone(i.mfa_phone_number.as_deref())?;
    let locale = Locale::parse_lenient(i.locale.as_deref());
    let m = b2b::send_sms(&state.services, &project, &org, &i.member_id, phone, locale).await?;
    Ok(member_reply(&request_id, &m, &org, Value::Null))
}

#[derive(Deserialize, ToSchema)]
pub struct SmsAuthenticateInput {
    organization_id: String,
    member_id: String,
    code: String,
    /// `enroll` or `unenroll`.
    set_mfa_enrollment: Option<String>,
    set_default_mfa: Option<bool>,
    /// The member session to add this factor to (it must be this member's).
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    session_token: Option<String>,
    /// As `session_token`, naming the session by a JWT.
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    session_jwt: Option<String>,
    /// Default 60: a member session is always started or extended.
    #[schema(minimum = 5, maximum = 527040)]
    session_duration_minutes: Option<i64>,
    /// Stored on the session and put into its JWTs; reserved claims are refused.
    #[schema(value_type = Option<Object>)]
    session_custom_claims: Option<Value>,
}

/// Check a member's MFA passcode.
#[utoipa::path(
    post,
    path = "/v1/b2b/otps/sms/authenticate",
    tag = "b2b",
    operation_id = "b2b_otps_sms_authenticate",
    security(("basic" = [])),
    request_body = SmsAuthenticateInput,
    responses(
        (status = 200, description = "The code matched", body = MemberAuthenticateResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials`, or `unable_to_auth_otp_code`", body = ErrorBody),
        (status = 404, description = "`otp_code_not_found`, `organization_not_found` or `member_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn sms_authenticate(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<SmsAuthenticateInput>,
) -> Result<HttpResponse, ApiError> {
    let code = Passcode::parse(&i.code).map_err(|_| ApiError::new(ErrorKind::InvalidCode))?;
    let enrollment = match i.set_mfa_enrollment.as_deref() {
        None | Some("") => None,
        Some("enroll") => Some(EnrollmentChange::Enroll),
        Some("unenroll") => Some(EnrollmentChange::Unenroll),
        Some(_) => {
            return Err(ApiError::bad_request(
                "set_mfa_enrollment must be enroll or unenroll",
            ))
        }
    };
    let duration = super::sessions::duration(i.session_duration_minutes)?;
    let claims = super::sessions::claims(i.session_custom_claims)?;
    let org = b2b::organization(&state.services, &project, &i.organization_id).await?;
    // A presented session is checked before the code is spent.
    let presented = super::sessions::presented(
        &state,
        &project,
        crate::otp::sessions::Kind::Member,
        i.session_token,
        i.session_jwt,
    )
    .await?;
    let m = b2b::authenticate_sms(
        &state.services,
        &project,
        &org,
        &i.member_id,
        &code,
        enrollment,
        i.set_default_mfa.unwrap_or(false),
    )
    .await?;
    let issued = crate::otp::sessions::after_member_factor(
        &state.services,
        &project,
        &m,
        &org,
        presented,
        duration,
        &claims,
    )
    .await?;
    let extra = json!({
        "session_token": issued.token,
        "session_jwt": issued.jwt,
        "member_session": super::sessions::member_session_body(&issued.row, &org.slug),
        "member_device": null,
    });
    Ok(member_reply(&request_id, &m, &org, extra))
}
