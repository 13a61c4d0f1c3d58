//! `/v1/b2b/...`: organizations, members and SMS MFA, in Stytch's B2B wire shape.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
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

fn member_reply(request_id: &str, m: &Member, o: &Organization, extra: Value) -> HttpResponse {
    let mut body = json!({
        "status_code": 200,
        "request_id": request_id,
        "member_id": m.id.as_str(),
        "member": member_body(m),
        "organization": organization_body(o),
    });
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
    /// 1 to 128 characters, not all blank.
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 128
    )]
    organization_name: String,
    /// Unique in the project (`duplicate_organization_slug`).
    #[schema(
        pattern = r"^[A-Za-z0-9._~-]{2,128}$",
        min_length = 2,
        max_length = 128
    )]
    organization_slug: String,
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    organization_external_id: Option<String>,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    organization_logo_url: Option<String>,
    /// `OPTIONAL` (default, also for empty) or `REQUIRED_FOR_ALL`.
    #[schema(value_type = Option<String>, pattern = r"^(|OPTIONAL|REQUIRED_FOR_ALL)$")]
    mfa_policy: Option<String>,
    #[schema(schema_with = super::openapi::metadata)]
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
    // The length as sent, so the documented `maxLength` is the rule.
    if name.is_empty() || i.organization_name.chars().count() > 128 {
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
    params(("organization_id" = String, Path, description = "Organization id, slug or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1)),
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
    /// Stored lower-cased.
    #[schema(
        pattern = r"^[^@\s\u0000-\u001F\u007F-\u009F]+@[^@.\s\u0000-\u001F\u007F-\u009F][^@\s\u0000-\u001F\u007F-\u009F]*\.[^@\s\u0000-\u001F\u007F-\u009F]*[^@.\s\u0000-\u001F\u007F-\u009F]$",
        max_length = 254
    )]
    email_address: String,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    name: Option<String>,
    /// Unique in the organization (`duplicate_external_id`).
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    external_id: Option<String>,
    /// E.164, or empty for none. A well-formed number that isn't a real one is refused
    /// with `invalid_phone_number`.
    #[schema(pattern = r"^(\+[1-9][0-9]{6,14})?$")]
    mfa_phone_number: Option<String>,
    mfa_enrolled: Option<bool>,
    create_member_as_pending: Option<bool>,
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    #[schema(schema_with = super::openapi::metadata)]
    untrusted_metadata: Option<serde_json::Map<String, Value>>,
}

/// Create a member of an organization.
#[utoipa::path(
    post,
    path = "/v1/b2b/organizations/{organization_id}/members",
    tag = "b2b",
    operation_id = "b2b_create_member",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1)),
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
    /// Member id or external id. One of `member_id` and `email_address` must be non-empty
    /// (a rule the schema can't state: `bad_request` otherwise).
    #[param(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    member_id: Option<String>,
    /// Used when `member_id` is absent or empty.
    #[param(
        pattern = r"^([^@\s\u0000-\u001F\u007F-\u009F]+@[^@.\s\u0000-\u001F\u007F-\u009F][^@\s\u0000-\u001F\u007F-\u009F]*\.[^@\s\u0000-\u001F\u007F-\u009F]*[^@.\s\u0000-\u001F\u007F-\u009F])?$",
        max_length = 254
    )]
    email_address: Option<String>,
}

/// Get a member by id, external id or email address.
#[utoipa::path(
    get,
    path = "/v1/b2b/organizations/{organization_id}/member",
    tag = "b2b",
    operation_id = "b2b_get_member",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1), GetMemberQuery),
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
    // A malformed email is refused even when `member_id` wins, as the schema says.
    let email = match query.email_address.as_deref() {
        Some(e) if !e.is_empty() => Some(parse_email(e)?),
        _ => None,
    };
    let key = match (query.member_id.as_deref(), email.as_deref()) {
        (Some(id), _) if !id.is_empty() => MemberKey::IdOrExternal(id),
        (_, Some(e)) => MemberKey::Email(e),
        _ => return Err(ApiError::bad_request("pass member_id or email_address")),
    };
    let m = b2b::member(&state.services, &org, key).await?;
    Ok(member_reply(&request_id, &m, &org, Value::Null))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMemberInput {
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    name: Option<String>,
    /// Unique in the organization (`duplicate_external_id`).
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    external_id: Option<String>,
    /// E.164, or empty to leave it. Refused with `member_phone_number_already_verified`
    /// when the member has a different, verified number.
    #[schema(pattern = r"^(\+[1-9][0-9]{6,14})?$")]
    mfa_phone_number: Option<String>,
    mfa_enrolled: Option<bool>,
    /// `sms_otp` or `totp`.
    #[schema(value_type = Option<String>, pattern = r"^(sms_otp|totp)$")]
    default_mfa_method: Option<String>,
}

/// Update a member; changing the MFA phone withdraws codes sent to the old one.
#[utoipa::path(
    put,
    path = "/v1/b2b/organizations/{organization_id}/members/{member_id}",
    tag = "b2b",
    operation_id = "b2b_update_member",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1), ("member_id" = String, Path, description = "Member id or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1)),
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
    params(("organization_id" = String, Path, description = "Organization id, slug or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1), ("member_id" = String, Path, description = "Member id or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1)),
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
    /// Organization id, slug or external id.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    organization_id: String,
    /// Member id or external id.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    member_id: String,
    /// E.164, or empty to use the member's number (`member_phone_number_not_found` when it
    /// has none). A well-formed number can still be refused: not a real number
    /// (`invalid_phone_number`), a country the project doesn't allow
    /// (`invalid_phone_number_country_code`), a different verified number on the member
    /// (`member_phone_number_already_verified`).
    #[schema(pattern = r"^(\+[1-9][0-9]{6,14})?$")]
    mfa_phone_number: Option<String>,
    /// As for consumer sends: any tag, unknown ones fall back to English.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
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
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    organization_id: String,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    member_id: String,
    #[schema(pattern = r"^[0-9]{6}$")]
    code: String,
    /// `enroll` or `unenroll` (empty: neither).
    #[schema(pattern = r"^(|enroll|unenroll)$")]
    set_mfa_enrollment: Option<String>,
    set_default_mfa: Option<bool>,
}

#[derive(Serialize)]
struct NoSession {
    session_token: &'static str,
    session_jwt: &'static str,
    member_session: Option<Value>,
    member_device: Option<Value>,
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
    let org = b2b::organization(&state.services, &project, &i.organization_id).await?;
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
    let extra = serde_json::to_value(NoSession {
        session_token: "",
        session_jwt: "",
        member_session: None,
        member_device: None,
    })
    .unwrap_or(Value::Null);
    Ok(member_reply(&request_id, &m, &org, extra))
}
