//! `/v1/b2b/...`: organizations, members and SMS MFA, in Stytch's B2B wire shape.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::auth::{Authenticated, AuthenticatedToHash};
use super::context::RequestId;
use super::dto::rfc3339;
use super::errors::{ApiError, ErrorBody, ErrorKind, ServerErrors, Unauthorized};
use super::json::Json;
use super::openapi::{
    MemberAuthenticateResponse, MemberResponse, MemberSearchResponse, OrganizationResponse,
    OrganizationSearchResponse,
};
use super::AppState;
use crate::domain::ids::ExternalId;
use crate::domain::organization::{
    valid_slug, EnrollmentChange, Member, MfaPolicy, OrgSettings, Organization,
};
use crate::domain::project::Project;
use crate::domain::{Locale, Passcode, PhoneNumber};
use crate::otp::b2b::{
    self, CreateMember, CreateOrganization, SmsAuthenticateOptions, UpdateMember,
};
use crate::otp::sessions::MfaProof;
use crate::otp::users::parse_email;
use crate::otp::Caller;
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
        "sso_jit_provisioning": o.settings.sso_jit_provisioning,
        "sso_jit_provisioning_allowed_connections": [],
        "sso_active_connections": [],
        "sso_default_connection_id": null,
        "scim_active_connection": null,
        "email_allowed_domains": o.settings.email_allowed_domains,
        "email_jit_provisioning": o.settings.email_jit_provisioning,
        "email_invites": o.settings.email_invites,
        "auth_methods": o.settings.auth_methods,
        "allowed_auth_methods": o.settings.allowed_auth_methods,
        "mfa_policy": o.mfa_policy.as_str(),
        "rbac_email_implicit_role_assignments": o.settings.rbac_email_implicit_role_assignments,
        "mfa_methods": o.settings.mfa_methods,
        "allowed_mfa_methods": o.settings.allowed_mfa_methods,
        "oauth_tenant_jit_provisioning": o.settings.oauth_tenant_jit_provisioning,
        "allowed_oauth_tenants": o.settings.allowed_oauth_tenants,
        "claimed_email_domains": o.settings.claimed_email_domains,
        "first_party_connected_apps_allowed_type": o.settings.first_party_connected_apps_allowed_type,
        "allowed_first_party_connected_apps": o.settings.allowed_first_party_connected_apps,
        "third_party_connected_apps_allowed_type": o.settings.third_party_connected_apps_allowed_type,
        "allowed_third_party_connected_apps": o.settings.allowed_third_party_connected_apps,
        "custom_roles": [],
    })
}

/// Stytch's `MemberRole`: otpd has only roles assigned directly.
fn member_roles(roles: &[String]) -> Value {
    roles
        .iter()
        .map(|r| json!({"role_id": r, "sources": [{"type": "direct_assignment", "details": {}}]}))
        .collect()
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
        "roles": member_roles(&m.roles),
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

/// The body's `intermediate_session_token` / `session_token` / `session_jwt`, at most one.
fn proof(
    ist: Option<String>,
    token: Option<String>,
    jwt: Option<String>,
) -> Result<Option<MfaProof>, ApiError> {
    super::sessions::check_syntax(token.as_deref(), jwt.as_deref())?;
    super::sessions::check_syntax(ist.as_deref(), None).map_err(|_| {
        ApiError::bad_request(
            "intermediate_session_token: at most 128 characters of A-Z, a-z, 0-9, _, = and -",
        )
    })?;
    Ok(MfaProof::from_fields(ist, token, jwt)?)
}

fn external_id(raw: Option<String>) -> Result<Option<String>, ApiError> {
    raw.map(|s| ExternalId::parse(&s).map(|e| e.as_str().to_owned()))
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `ALL_ALLOWED`, `RESTRICTED` or `NOT_ALLOWED`.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Allowance {
    AllAllowed,
    Restricted,
    NotAllowed,
}

/// `ALL_ALLOWED` or `RESTRICTED`.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Restriction {
    AllAllowed,
    Restricted,
}

/// `RESTRICTED` or `NOT_ALLOWED`.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JitAllowance {
    Restricted,
    NotAllowed,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Sso,
    MagicLink,
    Password,
    GoogleOauth,
    MicrosoftOauth,
    SlackOauth,
    GithubOauth,
    HubspotOauth,
    EmailOtp,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum MfaMethod {
    SmsOtp,
    Totp,
}

/// Stytch's `EmailImplicitRoleAssignment`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignmentInput {
    /// A domain name, as in `email_allowed_domains`.
    #[schema(
        max_length = 253,
        pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9.-]*[A-Za-z0-9]$"
    )]
    domain: String,
    #[schema(pattern = r"^[A-Za-z0-9_.:-]{1,128}$")]
    role_id: String,
}

/// `mfa_policy`: `OPTIONAL` or `REQUIRED_FOR_ALL`.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MfaPolicyInput {
    Optional,
    RequiredForAll,
}

impl From<MfaPolicyInput> for MfaPolicy {
    fn from(p: MfaPolicyInput) -> Self {
        match p {
            MfaPolicyInput::Optional => MfaPolicy::Optional,
            MfaPolicyInput::RequiredForAll => MfaPolicy::RequiredForAll,
        }
    }
}

/// The organization settings of `organizations.create` and `.update`. They are stored and
/// returned as given; only `mfa_methods`/`allowed_mfa_methods` change what otpd does (SMS MFA
/// is refused when `RESTRICTED` without `sms_otp`). Fields that would name SSO connections,
/// which cannot exist in otpd, are refused unless empty.
#[derive(Deserialize, ToSchema, Default)]
pub struct OrgSettingsInput {
    sso_jit_provisioning: Option<Allowance>,
    /// Must be empty: otpd has no SSO connections.
    #[schema(max_items = 0)]
    sso_jit_provisioning_allowed_connections: Option<Vec<String>>,
    /// Must be empty or null: otpd has no SSO connections.
    #[schema(max_length = 0)]
    sso_default_connection_id: Option<String>,
    #[schema(max_items = 100, inline)]
    email_allowed_domains: Option<Vec<DomainName>>,
    email_jit_provisioning: Option<JitAllowance>,
    email_invites: Option<Allowance>,
    /// `RESTRICTED` requires a non-empty `allowed_auth_methods` (in the request or already
    /// stored); otherwise `bad_request` ("allowed_auth_methods: required when auth_methods is
    /// RESTRICTED").
    auth_methods: Option<Restriction>,
    /// Each method at most once.
    #[schema(schema_with = super::openapi::auth_methods)]
    allowed_auth_methods: Option<Vec<AuthMethod>>,
    /// `RESTRICTED` requires a non-empty `allowed_mfa_methods` (in the request or already
    /// stored); otherwise `bad_request` ("allowed_mfa_methods: required when mfa_methods is
    /// RESTRICTED").
    mfa_methods: Option<Restriction>,
    /// Each method at most once.
    #[schema(schema_with = super::openapi::mfa_methods)]
    allowed_mfa_methods: Option<Vec<MfaMethod>>,
    oauth_tenant_jit_provisioning: Option<JitAllowance>,
    #[schema(schema_with = super::openapi::metadata)]
    allowed_oauth_tenants: Option<serde_json::Map<String, Value>>,
    #[schema(max_items = 100, inline)]
    claimed_email_domains: Option<Vec<DomainName>>,
    #[schema(max_items = 100)]
    rbac_email_implicit_role_assignments: Option<Vec<RoleAssignmentInput>>,
    first_party_connected_apps_allowed_type: Option<Allowance>,
    #[schema(max_items = 100, inline)]
    allowed_first_party_connected_apps: Option<Vec<AppId>>,
    third_party_connected_apps_allowed_type: Option<Allowance>,
    #[schema(max_items = 100, inline)]
    allowed_third_party_connected_apps: Option<Vec<AppId>>,
}

/// A domain name: letters, digits, dots and hyphens, with a dot, starting and ending with a
/// letter or digit; at most 253 characters.
#[derive(Deserialize, ToSchema)]
#[schema(pattern = r"^(?=.{1,253}$)[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9.-]*[A-Za-z0-9]$")]
pub struct DomainName(String);

/// A connected app id.
#[derive(Deserialize, ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_.:-]{1,128}$")]
pub struct AppId(String);

fn wire<T: Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn wire_all<T: Serialize>(v: Vec<T>) -> Vec<String> {
    v.into_iter().map(wire).collect()
}

/// A list of methods, each at most once (the document's `uniqueItems`).
fn distinct(field: &str, v: Vec<String>) -> Result<Vec<String>, ApiError> {
    if v.iter().enumerate().any(|(i, m)| v[..i].contains(m)) {
        return Err(ApiError::bad_request(format!(
            "{field}: each method at most once"
        )));
    }
    Ok(v)
}

/// The settings lists hold at most 100 entries (the document's `maxItems`).
fn at_most_100<T>(field: &str, v: &[T]) -> Result<(), ApiError> {
    if v.len() > 100 {
        return Err(ApiError::bad_request(format!(
            "{field}: at most 100 entries"
        )));
    }
    Ok(())
}

fn checked_domains(field: &str, v: Vec<DomainName>) -> Result<Vec<String>, ApiError> {
    at_most_100(field, &v)?;
    v.into_iter()
        .map(|DomainName(d)| {
            let ok = (1..=253).contains(&d.len())
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
                && d.contains('.')
                && !d.starts_with(['.', '-'])
                && !d.ends_with(['.', '-']);
            ok.then(|| d.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::bad_request(format!("{field}: `{d}` is not a domain name"))
            })
        })
        .collect()
}

fn checked_ids(field: &str, v: Vec<AppId>) -> Result<Vec<String>, ApiError> {
    at_most_100(field, &v)?;
    v.into_iter()
        .map(|AppId(a)| {
            valid_role_id(&a)
                .then_some(a)
                .ok_or_else(|| ApiError::bad_request(format!("{field}: malformed id")))
        })
        .collect()
}

/// Role and app ids: 1 to 128 characters of `A-Z a-z 0-9 _ . : -`.
fn valid_role_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

fn checked_roles(field: &str, roles: Vec<String>) -> Result<Vec<String>, ApiError> {
    if roles.len() > 64 {
        return Err(ApiError::bad_request(format!("{field}: at most 64 roles")));
    }
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for r in roles {
        if !valid_role_id(&r) {
            return Err(ApiError::bad_request(format!(
                "{field}: a role id is 1 to 128 characters of A-Z a-z 0-9 _ . : -"
            )));
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

impl OrgSettingsInput {
    /// Applies the fields the request carries onto `s`.
    fn apply(self, s: &mut OrgSettings) -> Result<(), ApiError> {
        if self
            .sso_jit_provisioning_allowed_connections
            .is_some_and(|c| !c.is_empty())
        {
            return Err(ApiError::bad_request(
                "sso_jit_provisioning_allowed_connections: otpd has no SSO connections",
            ));
        }
        if self
            .sso_default_connection_id
            .is_some_and(|c| !c.is_empty())
        {
            return Err(ApiError::bad_request(
                "sso_default_connection_id: otpd has no SSO connections",
            ));
        }
        if let Some(v) = self.sso_jit_provisioning {
            s.sso_jit_provisioning = wire(v);
        }
        if let Some(v) = self.email_allowed_domains {
            s.email_allowed_domains = checked_domains("email_allowed_domains", v)?;
        }
        if let Some(v) = self.email_jit_provisioning {
            s.email_jit_provisioning = wire(v);
        }
        if let Some(v) = self.email_invites {
            s.email_invites = wire(v);
        }
        if let Some(v) = self.auth_methods {
            s.auth_methods = wire(v);
        }
        if let Some(v) = self.allowed_auth_methods {
            s.allowed_auth_methods = distinct("allowed_auth_methods", wire_all(v))?;
        }
        if let Some(v) = self.mfa_methods {
            s.mfa_methods = wire(v);
        }
        if let Some(v) = self.allowed_mfa_methods {
            s.allowed_mfa_methods = distinct("allowed_mfa_methods", wire_all(v))?;
        }
        if let Some(v) = self.oauth_tenant_jit_provisioning {
            s.oauth_tenant_jit_provisioning = wire(v);
        }
        if let Some(v) = self.allowed_oauth_tenants {
            s.allowed_oauth_tenants = v;
        }
        if let Some(v) = self.claimed_email_domains {
            s.claimed_email_domains = checked_domains("claimed_email_domains", v)?;
        }
        if let Some(v) = self.rbac_email_implicit_role_assignments {
            at_most_100("rbac_email_implicit_role_assignments", &v)?;
            let mut out = Vec::with_capacity(v.len());
            for a in v {
                let domain = checked_domains(
                    "rbac_email_implicit_role_assignments",
                    vec![DomainName(a.domain)],
                )?;
                if !valid_role_id(&a.role_id) {
                    return Err(ApiError::bad_request(
                        "rbac_email_implicit_role_assignments: malformed role_id",
                    ));
                }
                out.push(json!({"domain": domain.concat(), "role_id": a.role_id}));
            }
            s.rbac_email_implicit_role_assignments = out;
        }
        if let Some(v) = self.first_party_connected_apps_allowed_type {
            s.first_party_connected_apps_allowed_type = wire(v);
        }
        if let Some(v) = self.allowed_first_party_connected_apps {
            s.allowed_first_party_connected_apps =
                checked_ids("allowed_first_party_connected_apps", v)?;
        }
        if let Some(v) = self.third_party_connected_apps_allowed_type {
            s.third_party_connected_apps_allowed_type = wire(v);
        }
        if let Some(v) = self.allowed_third_party_connected_apps {
            s.allowed_third_party_connected_apps =
                checked_ids("allowed_third_party_connected_apps", v)?;
        }
        if s.mfa_methods == "RESTRICTED" && s.allowed_mfa_methods.is_empty() {
            return Err(ApiError::bad_request(
                "allowed_mfa_methods: required when mfa_methods is RESTRICTED",
            ));
        }
        if s.auth_methods == "RESTRICTED" && s.allowed_auth_methods.is_empty() {
            return Err(ApiError::bad_request(
                "allowed_auth_methods: required when auth_methods is RESTRICTED",
            ));
        }
        Ok(())
    }
}

fn checked_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim().to_owned();
    // The length as sent, so the documented `maxLength` is the rule.
    if name.is_empty() || raw.chars().count() > 128 {
        return Err(ApiError::bad_request(
            "organization_name must be 1 to 128 characters",
        ));
    }
    Ok(name)
}

fn checked_logo_url(raw: String) -> Result<String, ApiError> {
    if raw.is_empty() {
        return Ok(raw);
    }
    if raw.chars().count() > 2048 || !(raw.starts_with("https://") || raw.starts_with("http://")) {
        return Err(ApiError::bad_request(
            "organization_logo_url must be an http(s) URL of at most 2048 characters",
        ));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad_request(
            "organization_logo_url must not contain whitespace",
        ));
    }
    Ok(raw)
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
    /// Unique in the project (`organization_slug_already_used`).
    #[schema(
        pattern = r"^[A-Za-z0-9._~-]{2,128}$",
        min_length = 2,
        max_length = 128
    )]
    organization_slug: String,
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    organization_external_id: Option<String>,
    /// An `http://` or `https://` URL without whitespace, or empty for none.
    #[schema(
        max_length = 2048,
        pattern = r"^(https?://[^\s\u0000-\u001F\u007F-\u009F]*)?$"
    )]
    organization_logo_url: Option<String>,
    mfa_policy: Option<MfaPolicyInput>,
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    #[serde(flatten)]
    settings: OrgSettingsInput,
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
    let name = checked_name(&i.organization_name)?;
    if !valid_slug(&i.organization_slug) {
        return Err(ApiError::new(ErrorKind::InvalidOrganizationSlug));
    }
    let mut settings = OrgSettings::default();
    i.settings.apply(&mut settings)?;
    let org = b2b::create_organization(
        &state.services,
        &project,
        CreateOrganization {
            name,
            slug: i.organization_slug,
            external_id: external_id(i.organization_external_id)?,
            logo_url: checked_logo_url(i.organization_logo_url.unwrap_or_default())?,
            mfa_policy: i.mfa_policy.map_or(MfaPolicy::Optional, MfaPolicy::from),
            trusted_metadata: Value::Object(i.trusted_metadata.unwrap_or_default()),
            settings,
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

/// `AND` or `OR` (Stytch deprecated `OR`; with otpd's single filter they mean the same).
#[derive(Deserialize, ToSchema, Clone, Copy)]
pub enum B2bSearchOperator {
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "OR")]
    Or,
}

/// An organization id (`organization-<env>-<uuid>`).
#[derive(Deserialize, ToSchema)]
#[schema(
    pattern = r"^organization-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)]
pub struct OrganizationIdText(String);

/// A member id (`member-<env>-<uuid>`).
#[derive(Deserialize, ToSchema)]
#[schema(
    pattern = r"^member-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)]
pub struct MemberIdText(String);

/// `{"filter_name": "organization_ids", "filter_value": [ids]}`: the only filter otpd's
/// `organizations.search` knows; Stytch's others are refused with `bad_request`.
#[derive(Deserialize, ToSchema)]
pub struct OrganizationSearchOperand {
    #[schema(pattern = r"^organization_ids$")]
    filter_name: String,
    #[schema(min_items = 1, max_items = 100, inline)]
    filter_value: Vec<OrganizationIdText>,
}

/// `{"filter_name": "member_ids", "filter_value": [ids]}`: the only filter otpd's
/// `organizations.members.search` knows; Stytch's others are refused with `bad_request`.
#[derive(Deserialize, ToSchema)]
pub struct MemberSearchOperand {
    #[schema(pattern = r"^member_ids$")]
    filter_name: String,
    #[schema(min_items = 1, max_items = 100, inline)]
    filter_value: Vec<MemberIdText>,
}

/// `{operator, operands}`; no operands matches everything.
#[derive(Deserialize, ToSchema)]
pub struct OrganizationSearchQuery {
    #[allow(dead_code)]
    operator: B2bSearchOperator,
    #[schema(max_items = 20)]
    #[serde(default)]
    operands: Vec<OrganizationSearchOperand>,
}

/// `{operator, operands}`; no operands matches everything.
#[derive(Deserialize, ToSchema)]
pub struct MemberSearchQuery {
    #[allow(dead_code)]
    operator: B2bSearchOperator,
    #[schema(max_items = 20)]
    #[serde(default)]
    operands: Vec<MemberSearchOperand>,
}

#[derive(Deserialize, ToSchema)]
pub struct SearchOrganizationsInput {
    /// 1 to 1000; default 100.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    limit: Option<u32>,
    /// `results_metadata.next_cursor` of the previous page (a cursor otpd didn't issue, or
    /// one of another search, is refused with `bad_request`).
    #[schema(
        max_length = 512,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    cursor: Option<String>,
    query: Option<OrganizationSearchQuery>,
}

#[derive(Deserialize, ToSchema)]
pub struct SearchMembersInput {
    /// The organizations whose members to list (1 to 100; Stytch requires at least one).
    #[schema(min_items = 1, max_items = 100, inline)]
    organization_ids: Vec<OrganizationIdText>,
    /// 1 to 1000; default 100.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    limit: Option<u32>,
    #[schema(
        max_length = 512,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    cursor: Option<String>,
    query: Option<MemberSearchQuery>,
}

fn search_limit(limit: Option<u32>) -> Result<u16, ApiError> {
    match limit {
        None => Ok(100),
        Some(l @ 1..=1000) => Ok(l as u16),
        Some(_) => Err(ApiError::bad_request("limit must be between 1 and 1000")),
    }
}

fn search_cursor(
    kind: crate::domain::organization::SearchKind,
    cursor: Option<&str>,
) -> Result<Option<crate::domain::organization::B2bCursor>, ApiError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => crate::domain::organization::B2bCursor::decode(kind, c)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("cursor is not one otpd issued")),
    }
}

/// The ids of the one filter a search supports, intersected when given more than once.
fn id_filter(
    operands: Vec<(String, Vec<String>)>,
    supported: &str,
    valid: fn(&str) -> bool,
) -> Result<Option<Vec<String>>, ApiError> {
    if operands.len() > 20 {
        return Err(ApiError::bad_request("query: at most 20 operands"));
    }
    let mut ids: Option<Vec<String>> = None;
    for (name, values) in operands {
        if name != supported {
            return Err(ApiError::bad_request(format!(
                "query: filter_name `{}` is not one otpd supports here ({supported})",
                name.chars().take(64).collect::<String>()
            )));
        }
        if values.is_empty() || values.len() > 100 {
            return Err(ApiError::bad_request(format!(
                "query: `{supported}` takes a list of 1 to 100 ids as filter_value"
            )));
        }
        if let Some(bad) = values.iter().find(|v| !valid(v)) {
            return Err(ApiError::bad_request(format!(
                "query: `{}` is not a valid id for `{supported}`",
                bad.chars().take(64).collect::<String>()
            )));
        }
        ids = Some(match ids {
            None => values,
            Some(prev) => prev.into_iter().filter(|i| values.contains(i)).collect(),
        });
    }
    Ok(ids)
}

fn is_org_id(s: &str) -> bool {
    crate::domain::ids::OrganizationId::parse(s).is_ok()
}

fn is_member_id(s: &str) -> bool {
    crate::domain::ids::MemberId::parse(s).is_ok()
}

/// Search organizations, a page at a time (oldest first).
#[utoipa::path(
    post,
    path = "/v1/b2b/organizations/search",
    tag = "b2b",
    operation_id = "b2b_search_organizations",
    security(("basic" = [])),
    request_body = SearchOrganizationsInput,
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationSearchResponse),
        (status = 400, description = "Malformed request or query (`bad_request`)", body = ErrorBody),
        Unauthorized,
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn search_organizations(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<SearchOrganizationsInput>,
) -> Result<HttpResponse, ApiError> {
    use crate::domain::organization::SearchKind;
    let limit = search_limit(i.limit)?;
    let cursor = search_cursor(SearchKind::Organizations, i.cursor.as_deref())?;
    let operands = i
        .query
        .map(|q| {
            q.operands
                .into_iter()
                .map(|o| {
                    (
                        o.filter_name,
                        o.filter_value.into_iter().map(|v| v.0).collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ids = id_filter(operands, "organization_ids", is_org_id)?;
    let page = b2b::search_organizations(
        &state.services,
        &project,
        ids.as_deref(),
        cursor.as_ref(),
        limit,
    )
    .await?;
    let orgs: Vec<Value> = page.items.iter().map(organization_body).collect();
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200,
        "request_id": request_id,
        "organizations": orgs,
        "results_metadata": {
            "total": page.total,
            "next_cursor": page.next.map(|c| c.encode(SearchKind::Organizations)),
        },
    })))
}

/// Search the members of some organizations, a page at a time (oldest first).
#[utoipa::path(
    post,
    path = "/v1/b2b/organizations/members/search",
    tag = "b2b",
    operation_id = "b2b_search_members",
    security(("basic" = [])),
    request_body = SearchMembersInput,
    responses(
        (status = 200, description = "A page of members and their organizations", body = MemberSearchResponse),
        (status = 400, description = "Malformed request or query (`bad_request`)", body = ErrorBody),
        Unauthorized,
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn search_members(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<SearchMembersInput>,
) -> Result<HttpResponse, ApiError> {
    use crate::domain::organization::SearchKind;
    let organization_ids: Vec<String> = i.organization_ids.into_iter().map(|o| o.0).collect();
    if organization_ids.is_empty() || organization_ids.len() > 100 {
        return Err(ApiError::bad_request(
            "organization_ids must list 1 to 100 organization ids",
        ));
    }
    if let Some(bad) = organization_ids.iter().find(|v| !is_org_id(v)) {
        return Err(ApiError::bad_request(format!(
            "organization_ids: `{}` is not an organization id",
            bad.chars().take(64).collect::<String>()
        )));
    }
    let limit = search_limit(i.limit)?;
    let cursor = search_cursor(SearchKind::Members, i.cursor.as_deref())?;
    let operands = i
        .query
        .map(|q| {
            q.operands
                .into_iter()
                .map(|o| {
                    (
                        o.filter_name,
                        o.filter_value.into_iter().map(|v| v.0).collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ids = id_filter(operands, "member_ids", is_member_id)?;
    let page = b2b::search_members(
        &state.services,
        &project,
        &organization_ids,
        ids.as_deref(),
        cursor.as_ref(),
        limit,
    )
    .await?;
    let members: Vec<Value> = page.items.iter().map(member_body).collect();
    let orgs: serde_json::Map<String, Value> = page
        .organizations
        .iter()
        .map(|o| (o.id.as_str().to_owned(), organization_body(o)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200,
        "request_id": request_id,
        "members": members,
        "results_metadata": {
            "total": page.total,
            "next_cursor": page.next.map(|c| c.encode(SearchKind::Members)),
        },
        "organizations": orgs,
    })))
}

/// `organizations.update`: only the fields present change.
#[derive(Deserialize, ToSchema)]
pub struct UpdateOrganizationInput {
    #[schema(min_length = 1, max_length = 128)]
    organization_name: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9._~-]{2,128}$")]
    organization_slug: Option<String>,
    /// An empty string removes the external id.
    #[schema(pattern = r"^([A-Za-z0-9._|-]{1,128})?$")]
    organization_external_id: Option<String>,
    /// An empty string removes the logo.
    /// An `http://` or `https://` URL without whitespace, or empty for none.
    #[schema(
        max_length = 2048,
        pattern = r"^(https?://[^\s\u0000-\u001F\u007F-\u009F]*)?$"
    )]
    organization_logo_url: Option<String>,
    mfa_policy: Option<MfaPolicyInput>,
    /// Replaces the whole trusted metadata.
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    #[serde(flatten)]
    settings: OrgSettingsInput,
}

/// Update an organization.
#[utoipa::path(
    put,
    path = "/v1/b2b/organizations/{organization_id}",
    tag = "b2b",
    operation_id = "b2b_update_organization",
    security(("basic" = [])),
    params(("organization_id" = String, Path, description = "Organization id, slug or external id", pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$", min_length = 1)),
    request_body = UpdateOrganizationInput,
    responses(
        (status = 200, description = "The updated organization", body = OrganizationResponse),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_organization_slug`, `organization_slug_already_used`, `organization_external_id_already_used`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`organization_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn update_organization(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
    Json(i): Json<UpdateOrganizationInput>,
) -> Result<HttpResponse, ApiError> {
    let mut org = b2b::organization(&state.services, &project, &path.into_inner()).await?;
    if let Some(name) = i.organization_name {
        org.name = checked_name(&name)?;
    }
    if let Some(slug) = i.organization_slug {
        if !valid_slug(&slug) {
            return Err(ApiError::new(ErrorKind::InvalidOrganizationSlug));
        }
        org.slug = slug;
    }
    if let Some(ext) = i.organization_external_id {
        org.external_id = if ext.is_empty() {
            None
        } else {
            external_id(Some(ext))?
        };
    }
    if let Some(url) = i.organization_logo_url {
        org.logo_url = checked_logo_url(url)?;
    }
    if let Some(p) = i.mfa_policy {
        org.mfa_policy = p.into();
    }
    if let Some(meta) = i.trusted_metadata {
        org.trusted_metadata = Value::Object(meta);
    }
    i.settings.apply(&mut org.settings)?;
    let org = b2b::update_organization(&state.services, &project, &org).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status_code": 200, "request_id": request_id, "organization": organization_body(&org)
    })))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateMemberInput {
    /// Stored lower-cased; unique in the organization (`duplicate_member_email`).
    #[schema(
        pattern = r"^[^@\s\u0000-\u001F\u007F-\u009F]+@[^@.\s\u0000-\u001F\u007F-\u009F][^@\s\u0000-\u001F\u007F-\u009F]*\.[^@\s\u0000-\u001F\u007F-\u009F]*[^@.\s\u0000-\u001F\u007F-\u009F]$",
        max_length = 254
    )]
    email_address: String,
    #[schema(
        max_length = 256,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    name: Option<String>,
    /// Unique in the organization (`duplicate_member_external_id`).
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    external_id: Option<String>,
    /// E.164, or empty for none; unique in the organization (`duplicate_member_phone_number`).
    /// A well-formed number that isn't a real one is refused with `invalid_phone_number`.
    #[schema(pattern = r"^(\+[1-9][0-9]{6,14})?$")]
    mfa_phone_number: Option<String>,
    mfa_enrolled: Option<bool>,
    create_member_as_pending: Option<bool>,
    /// Only `false`: otpd has no break-glass (SSO-bypass) members.
    #[schema(schema_with = super::openapi::only_false)]
    is_breakglass: Option<bool>,
    /// Role ids assigned directly (otpd stores them; it enforces no RBAC).
    #[schema(max_items = 64, inline)]
    roles: Option<Vec<RoleId>>,
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    #[schema(schema_with = super::openapi::metadata)]
    untrusted_metadata: Option<serde_json::Map<String, Value>>,
}

/// A role id.
#[derive(Deserialize, ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_.:-]{1,128}$")]
pub struct RoleId(String);

fn roles(field: &str, v: Option<Vec<RoleId>>) -> Result<Option<Vec<String>>, ApiError> {
    v.map(|r| checked_roles(field, r.into_iter().map(|RoleId(s)| s).collect()))
        .transpose()
}

/// A member's `name`: at most 256 characters, the document's `maxLength`.
fn member_name(v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.chars().count() > 256 => {
            Err(ApiError::bad_request("name: at most 256 characters"))
        }
        other => Ok(other),
    }
}

fn no_breakglass(v: Option<bool>) -> Result<(), ApiError> {
    if v == Some(true) {
        return Err(ApiError::bad_request(
            "is_breakglass: otpd has no SSO to bypass, so no break-glass members",
        ));
    }
    Ok(())
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
    no_breakglass(i.is_breakglass)?;
    let req = CreateMember {
        email_address: parse_email(&i.email_address)?,
        name: member_name(i.name)?.unwrap_or_default(),
        external_id: external_id(i.external_id)?,
        mfa_phone_number: phone(i.mfa_phone_number.as_deref())?,
        mfa_enrolled: i.mfa_enrolled.unwrap_or(false),
        pending: i.create_member_as_pending.unwrap_or(false),
        trusted_metadata: Value::Object(i.trusted_metadata.unwrap_or_default()),
        untrusted_metadata: Value::Object(i.untrusted_metadata.unwrap_or_default()),
        roles: roles("roles", i.roles)?.unwrap_or_default(),
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
    #[schema(
        max_length = 256,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    name: Option<String>,
    /// Unique in the organization (`duplicate_member_email`).
    #[schema(
        pattern = r"^[^@\s\u0000-\u001F\u007F-\u009F]+@[^@.\s\u0000-\u001F\u007F-\u009F][^@\s\u0000-\u001F\u007F-\u009F]*\.[^@\s\u0000-\u001F\u007F-\u009F]*[^@.\s\u0000-\u001F\u007F-\u009F]$",
        max_length = 254
    )]
    email_address: Option<String>,
    /// Unique in the organization (`duplicate_member_external_id`).
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    external_id: Option<String>,
    /// E.164, or empty to leave it. A verified number is never replaced: delete it first.
    #[schema(pattern = r"^(\+[1-9][0-9]{6,14})?$")]
    mfa_phone_number: Option<String>,
    mfa_enrolled: Option<bool>,
    /// `sms_otp` or `totp`.
    default_mfa_method: Option<MfaMethod>,
    /// Only `false`: otpd has no break-glass members.
    #[schema(schema_with = super::openapi::only_false)]
    is_breakglass: Option<bool>,
    /// Replaces the member's directly assigned roles.
    #[schema(max_items = 64, inline)]
    roles: Option<Vec<RoleId>>,
    /// Accepted: otpd keeps no retired email addresses, so a changed email is always unlinked.
    #[allow(dead_code)]
    unlink_email: Option<bool>,
    /// Accepted: role changes never revoke sessions in otpd.
    #[allow(dead_code)]
    preserve_existing_sessions: Option<bool>,
    /// Replaces the whole object.
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    /// Replaces the whole object.
    #[schema(schema_with = super::openapi::metadata)]
    untrusted_metadata: Option<serde_json::Map<String, Value>>,
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
    no_breakglass(i.is_breakglass)?;
    let req = UpdateMember {
        name: member_name(i.name)?,
        email_address: i.email_address.as_deref().map(parse_email).transpose()?,
        external_id: external_id(i.external_id)?,
        mfa_phone_number: phone(i.mfa_phone_number.as_deref())?,
        mfa_enrolled: i.mfa_enrolled,
        default_mfa_method: i.default_mfa_method.map(wire),
        trusted_metadata: i.trusted_metadata.map(Value::Object),
        untrusted_metadata: i.untrusted_metadata.map(Value::Object),
        roles: roles("roles", i.roles)?,
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

/// Once the member has an active MFA factor (a verified MFA phone), exactly one of
/// `intermediate_session_token`, `session_token` and `session_jwt` of this member is required
/// (`no_session_arguments` otherwise); before that it is optional, and checked when given.
#[derive(Deserialize, ToSchema)]
pub struct SmsSendInput {
    /// Organization id, slug or external id.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub(super) organization_id: String,
    /// Member id or external id.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub(super) member_id: String,
    /// E.164, or empty to use the member's number (`member_phone_number_not_found` when it
    /// has none). A well-formed number can still be refused: not a real number
    /// (`invalid_phone_number`), a country the project doesn't allow
    /// (`invalid_phone_number_country_code`), a different verified number on the member
    /// (`member_phone_number_already_verified`).
    #[schema(pattern = r"^(\+[1-9][0-9]{6,14})?$")]
    pub(super) mfa_phone_number: Option<String>,
    /// As for consumer sends: any tag, unknown ones fall back to English.
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub(super) locale: Option<String>,
    /// An intermediate session of this member (from `sessions.attest`), not consumed by a send.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    pub(super) intermediate_session_token: Option<String>,
    /// A live session of this member.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    pub(super) session_token: Option<String>,
    /// As `session_token`, naming the session by a JWT.
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    pub(super) session_jwt: Option<String>,
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
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`), `no_session_arguments` (the member has an active MFA factor and no proof was given), `too_many_session_arguments`, `invalid_intermediate_session_token_for_organization`", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`operation_restricted_by_organization_mfa_methods`", body = ErrorBody),
        (status = 404, description = "`organization_not_found`, `member_not_found`, `intermediate_session_not_found` or `session_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn sms_send(
    state: web::Data<AppState>,
    AuthenticatedToHash(project): AuthenticatedToHash,
    RequestId(request_id): RequestId,
    Json(i): Json<SmsSendInput>,
) -> Result<HttpResponse, ApiError> {
    run_sms_send(&state, &project, &request_id, i, Caller::Backend).await
}

/// `b2b.otps.sms.send` on either surface (`caller`: whether the send vouches for the number).
pub(super) async fn run_sms_send(
    state: &AppState,
    project: &Project,
    request_id: &str,
    i: SmsSendInput,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let org = b2b::organization(&state.services, project, &i.organization_id).await?;
    let phone = phone(i.mfa_phone_number.as_deref())?;
    let locale = Locale::parse_lenient(i.locale.as_deref());
    let proof = proof(i.intermediate_session_token, i.session_token, i.session_jwt)?;
    let m = b2b::send_sms(
        &state.services,
        project,
        &org,
        &i.member_id,
        phone,
        locale,
        proof,
        caller,
    )
    .await?;
    Ok(member_reply(request_id, &m, &org, Value::Null))
}

#[derive(Deserialize, ToSchema)]
pub struct SmsAuthenticateInput {
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub(super) organization_id: String,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub(super) member_id: String,
    #[schema(pattern = r"^[0-9]{6}$")]
    pub(super) code: String,
    /// `enroll` or `unenroll` (empty: neither).
    #[schema(pattern = r"^(|enroll|unenroll)$")]
    pub(super) set_mfa_enrollment: Option<String>,
    pub(super) set_default_mfa: Option<bool>,
    /// An intermediate session of this member (from `sessions.attest`); consumed on success,
    /// when the member session starts.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    pub(super) intermediate_session_token: Option<String>,
    /// The member session to add this factor to (it must be this member's).
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_=-]*$")]
    pub(super) session_token: Option<String>,
    /// As `session_token`, naming the session by a JWT.
    #[schema(max_length = 16384, pattern = "^[A-Za-z0-9_=.-]*$")]
    pub(super) session_jwt: Option<String>,
    /// Default 60: a member session is always started or extended.
    #[schema(minimum = 5, maximum = 527040)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    pub(super) session_duration_minutes: Option<i64>,
    /// Stored on the session and put into its JWTs; reserved claims are refused.
    #[schema(schema_with = super::openapi::metadata)]
    pub(super) session_custom_claims: Option<Value>,
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
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`), `no_session_arguments` (none of `intermediate_session_token`, `session_token`, `session_jwt`), `too_many_session_arguments` (more than one), `invalid_intermediate_session_token_for_organization`", body = ErrorBody),
        (status = 401, description = "`unauthorized_credentials`, or `unable_to_auth_otp_code`", body = ErrorBody),
        (status = 403, description = "`operation_restricted_by_organization_mfa_methods`", body = ErrorBody),
        (status = 404, description = "`otp_code_not_found`, `organization_not_found`, `member_not_found`, `intermediate_session_not_found` or `session_not_found` (the proof is not this member's, or not live)", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn sms_authenticate(
    state: web::Data<AppState>,
    AuthenticatedToHash(project): AuthenticatedToHash,
    RequestId(request_id): RequestId,
    Json(i): Json<SmsAuthenticateInput>,
) -> Result<HttpResponse, ApiError> {
    run_sms_authenticate(&state, &project, &request_id, i).await
}

/// `b2b.otps.sms.authenticate` on either surface.
pub(super) async fn run_sms_authenticate(
    state: &AppState,
    project: &Project,
    request_id: &str,
    i: SmsAuthenticateInput,
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
    let proof = proof(i.intermediate_session_token, i.session_token, i.session_jwt)?;
    let org = b2b::organization(&state.services, project, &i.organization_id).await?;
    let done = b2b::authenticate_sms(
        &state.services,
        project,
        &org,
        &i.member_id,
        &code,
        proof,
        SmsAuthenticateOptions {
            enrollment,
            set_default: i.set_default_mfa.unwrap_or(false),
            duration,
            claims,
        },
    )
    .await?;
    let (m, issued) = (done.member, done.session);
    let extra = json!({
        "session_token": issued.token,
        "session_jwt": issued.jwt,
        "member_session": super::sessions::member_session_body(&issued.row, &org.slug),
        "member_device": null,
    });
    Ok(member_reply(request_id, &m, &org, extra))
}
