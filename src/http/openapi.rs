//! The OpenAPI 3.1 description of otpd's HTTP API, generated from the handlers' annotations,
//! served at `/openapi.json` and committed as `openapi.json` (a test keeps the two equal).
//!
//! Bodies built with `json!` (B2B objects, health) are described here by documentation-only
//! types; a test checks real responses against them.

#![allow(dead_code)] // The documentation-only types below are never constructed.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{b2b, health, otps, sandbox, sdk, sessions, users, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "otpd",
        description = "Self-hosted one-time-passcode delivery with a Stytch-compatible API. \
                       Every `/v1` route requires HTTP Basic `project_id:secret`; every body, \
                       success or error, carries `status_code` and `request_id` (also in the \
                       `X-Request-Id` header).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        users::create,
        users::get,
        users::update,
        users::search,
        users::delete,
        users::delete_phone,
        otps::sms_send,
        otps::sms_login_or_create,
        otps::whatsapp_send,
        otps::whatsapp_login_or_create,
        otps::authenticate,
        b2b::create_organization,
        b2b::get_organization,
        b2b::search_organizations,
        b2b::search_members,
        b2b::update_organization,
        b2b::create_member,
        b2b::get_member,
        b2b::update_member,
        b2b::delete_mfa_phone,
        b2b::sms_send,
        b2b::sms_authenticate,
        sessions::authenticate,
        sessions::list,
        sessions::revoke,
        sessions::attest,
        sessions::jwks,
        sessions::b2b_authenticate,
        sessions::b2b_list,
        sessions::b2b_revoke,
        sessions::b2b_attest,
        sessions::b2b_jwks,
        sandbox::messages,
        sdk::bootstrap,
        sdk::events,
        sdk::sms_send_primary,
        sdk::sms_send_secondary,
        sdk::whatsapp_send_primary,
        sdk::whatsapp_send_secondary,
        sdk::sms_login_or_create,
        sdk::whatsapp_login_or_create,
        sdk::authenticate,
        sdk::sessions_authenticate,
        sdk::sessions_revoke,
        sdk::users_me,
        sdk::b2b_sms_send,
        sdk::b2b_sms_authenticate,
        sdk::b2b_sessions_authenticate,
        sdk::b2b_sessions_revoke,
        webhooks::twilio_status,
        health::healthz,
        health::readyz,
        health::metrics,
        openapi_json,
    ),
    // Referred to only from `allowed_auth_methods`' hand-built schema.
    components(schemas(b2b::AuthMethod)),
    modifiers(&BasicAuth, &FreeFormJson, &GuardRefusals),
    tags(
        (name = "users", description = "Consumer users and their phone numbers"),
        (name = "otps", description = "Consumer passcodes over SMS and WhatsApp"),
        (name = "b2b", description = "Organizations, members, SMS MFA and member sessions"),
        (name = "sessions", description = "Consumer sessions and the JWT signing keys"),
        (name = "sandbox", description = "The fake provider's outbox"),
        (name = "sdk", description = "The frontend surface for Stytch's frontend SDKs: public token, `{\"data\": …}` bodies, CORS"),
        (name = "webhooks", description = "Signed delivery status callbacks from providers"),
        (name = "operations", description = "Health and the API description")
    )
)]
pub struct ApiDoc;

struct BasicAuth;

/// Every route behind the per-client guard (all of `/v1`, through `Authenticated`, and the
/// unauthenticated routes that do work, through `Guarded`) can answer 429, whatever else it
/// documents: added here once, so no operation can leave it out. Only the health checks and
/// this document itself are outside the guard.
struct GuardRefusals;

impl Modify for GuardRefusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        const UNGUARDED: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];
        let response = ResponseBuilder::new()
            .description(
                "`too_many_requests`: a per-client or per-project guard of this replica, with `Retry-After`",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if UNGUARDED.contains(&path.as_str()) {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(|| response.clone().into());
            }
        }
    }
}

impl Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "`project_id` as the user name, a project secret as the password",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "public_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A public token as the user name; as the password the browser's \
                         session token, or the public token again when nobody is signed in",
                    ))
                    .build(),
            ),
        );
    }
}

/// `attributes.ip_address`: an IPv4 or IPv6 address, or blank (the same as absent).
pub fn ip_address() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let address = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    AnyOfBuilder::new()
        .item(address(KnownFormat::Ipv4))
        .item(address(KnownFormat::Ipv6))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[ \t\n\r]*$")),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "The end user's IPv4 or IPv6 address (blank is the same as absent).",
        ))
        .build()
        .into()
}

/// `is_breakglass`: only `false` (or null / absent), as otpd has no SSO to bypass.
pub fn only_false() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
        .enum_values(Some([Value::Bool(false), Value::Null]))
        .description(Some(
            "Only `false`: otpd has no SSO to bypass, so no break-glass members.",
        ))
        .into()
}

/// A nullable list of `item`s, at most `max`, each at most once.
fn unique_list(item: &str, max: usize) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    use utoipa::openapi::{Ref, RefOr};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(RefOr::Ref(Ref::from_schema_name(item)))
        .max_items(Some(max))
        .unique_items(true)
        .into()
}

/// `allowed_auth_methods`: each method at most once.
pub fn auth_methods() -> utoipa::openapi::schema::Schema {
    unique_list("AuthMethod", 9)
}

/// `allowed_mfa_methods`: each method at most once.
pub fn mfa_methods() -> utoipa::openapi::schema::Schema {
    unique_list("MfaMethod", 2)
}

/// The name of the recursive schema of free-form JSON (metadata, unknown fields).
const JSON_VALUE: &str = "JsonValue";

fn no_control_string() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(super::text::NO_CONTROL_PATTERN))
}

fn json_object(nullable: bool) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    use utoipa::openapi::{Ref, RefOr};
    let types = if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([Type::Object, Type::Null])
    } else {
        Type::Object.into()
    };
    ObjectBuilder::new()
        .schema_type(types)
        .property_names(Some(no_control_string()))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::Ref(
            Ref::from_schema_name(JSON_VALUE),
        ))))
        .into()
}

/// Any JSON value whose strings and keys hold no control character (`JsonValue`).
pub fn json_value() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::from_schema_name(JSON_VALUE))
}

/// `trusted_metadata` / `untrusted_metadata`: any JSON object (or null), its keys and
/// strings at every depth free of control characters.
pub fn metadata() -> utoipa::openapi::schema::Schema {
    json_object(true)
}

/// Any JSON value whose strings and keys, at every depth, hold no control character but
/// tab and line breaks (`text`): what metadata may hold, and what an unknown field may be.
struct FreeFormJson;

impl Modify for FreeFormJson {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{
            AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType,
            Type,
        };
        use utoipa::openapi::{Ref, RefOr};
        let value = AnyOfBuilder::new()
            .item(no_control_string())
            .item(ObjectBuilder::new().schema_type(SchemaType::from_iter([
                Type::Number,
                Type::Boolean,
                Type::Null,
            ])))
            .item(
                ArrayBuilder::new().items(RefOr::Ref(Ref::from_schema_name(JSON_VALUE))),
            )
            .item(json_object(false))
            .description(Some(
                "Any JSON value whose strings and object keys, at every depth, hold no control character (U+0000–U+001F, U+007F–U+009F) but tab, line feed and carriage return.",
            ))
            .build();
        // Request bodies (and the objects nested in them) accept unknown fields, which are
        // ignored but held to the same rule as everything else in the body.
        let mut names = Vec::new();
        for item in openapi.paths.paths.values() {
            for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
            {
                if let Some(body) = &op.request_body {
                    for content in body.content.values() {
                        if let Some(schema) = &content.schema {
                            refs(schema, &mut names);
                        }
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut i = 0;
        while i < names.len() {
            match components.schemas.get(&names[i]) {
                Some(RefOr::T(Schema::Object(object))) => {
                    for property in object.properties.values() {
                        refs(property, &mut names);
                    }
                }
                // A struct with a `#[serde(flatten)]` field: its own inline part and the
                // flattened component.
                Some(RefOr::T(Schema::AllOf(all))) => {
                    for item in &all.items {
                        refs(item, &mut names);
                        if let RefOr::T(Schema::Object(object)) = item {
                            for property in object.properties.values() {
                                refs(property, &mut names);
                            }
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
        for name in &names {
            // A flattened struct's keys are held to the rule through its inline part:
            // `propertyNames` there applies to every key of the body.
            if let Some(RefOr::T(Schema::AllOf(all))) = components.schemas.get_mut(name) {
                for item in &mut all.items {
                    if let RefOr::T(Schema::Object(object)) = item {
                        if object.property_names.is_none() {
                            object.property_names = Some(Box::new(no_control_string().into()));
                        }
                    }
                }
                continue;
            }
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                if object.additional_properties.is_none() {
                    object.additional_properties = Some(Box::new(AdditionalProperties::RefOr(
                        RefOr::Ref(Ref::from_schema_name(JSON_VALUE)),
                    )));
                    object.property_names = Some(Box::new(no_control_string().into()));
                }
            }
        }
        components
            .schemas
            .insert(JSON_VALUE.to_owned(), RefOr::T(Schema::AnyOf(value)));
    }
}

/// The component names `schema` refers to, directly or through `oneOf`/`anyOf`/`allOf`.
fn refs(schema: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>, names: &mut Vec<String>) {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.trim_start_matches("#/components/schemas/");
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        RefOr::T(Schema::OneOf(o)) => o.items.iter().for_each(|s| refs(s, names)),
        RefOr::T(Schema::AnyOf(a)) => a.items.iter().for_each(|s| refs(s, names)),
        RefOr::T(Schema::AllOf(a)) => a.items.iter().for_each(|s| refs(s, names)),
        RefOr::T(Schema::Array(a)) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(item) = &a.items {
                refs(item, names);
            }
        }
        RefOr::T(_) => {}
    }
}

/// The document as served and committed: pretty JSON with a trailing newline.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut s = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
        s.push('\n');
        s
    })
}

/// The documented methods (upper case, sorted) of every documented path template `path`
/// matches, a `{placeholder}` standing for one non-empty segment: what a 405's `Allow` lists.
/// Empty when no documented path matches (a 404).
pub fn allowed_methods(path: &str) -> Vec<String> {
    static TEMPLATES: OnceLock<Vec<(Vec<String>, Vec<String>)>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let doc: Value = serde_json::from_str(document()).unwrap_or_default();
        doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(template, item)| {
                        let segments = template.split('/').map(str::to_owned).collect();
                        let methods = item
                            .as_object()
                            .map(|ops| ops.keys().map(|m| m.to_uppercase()).collect())
                            .unwrap_or_default();
                        (segments, methods)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let segments: Vec<&str> = path.split('/').collect();
    let is_placeholder = |t: &String| t.starts_with('{') && t.ends_with('}');
    let matching: Vec<&(Vec<String>, Vec<String>)> = templates
        .iter()
        .filter(|(template, _)| {
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (is_placeholder(t) && !s.is_empty()))
        })
        .collect();
    // A literal path wins over a template it also matches (`/v1/users/search` is not the user
    // `search`), as the router resolves it.
    let fewest = matching
        .iter()
        .map(|(t, _)| t.iter().filter(|s| is_placeholder(s)).count())
        .min();
    let mut allowed: Vec<String> = matching
        .iter()
        .filter(|(t, _)| Some(t.iter().filter(|s| is_placeholder(s)).count()) == fewest)
        .flat_map(|(_, methods)| methods.iter().cloned())
        .collect();
    allowed.sort();
    allowed.dedup();
    allowed
}

/// This API description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// `GET /healthz` and a ready `GET /readyz`.
#[derive(ToSchema)]
pub struct HealthBody {
    pub status_code: u16,
    pub request_id: String,
    /// `ok`.
    pub status: String,
}

/// A B2B organization, with every field Stytch's SDK model requires. otpd manages the
/// name, slug, external id, logo, metadata and MFA policy; the other fields are Stytch's
/// defaults.
#[derive(ToSchema)]
pub struct Organization {
    pub organization_id: String,
    pub organization_name: String,
    pub organization_logo_url: String,
    pub organization_slug: String,
    pub organization_external_id: Option<String>,
    #[schema(value_type = Object)]
    pub trusted_metadata: Value,
    /// RFC 3339, UTC, second precision.
    pub created_at: String,
    pub updated_at: String,
    /// Always `ALL_ALLOWED`.
    pub sso_jit_provisioning: String,
    #[schema(value_type = Vec<String>)]
    pub sso_jit_provisioning_allowed_connections: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub sso_active_connections: Vec<Value>,
    pub sso_default_connection_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub scim_active_connection: Option<Value>,
    pub email_allowed_domains: Vec<String>,
    pub email_jit_provisioning: String,
    pub email_invites: String,
    pub auth_methods: String,
    pub allowed_auth_methods: Vec<String>,
    /// `OPTIONAL` or `REQUIRED_FOR_ALL`.
    pub mfa_policy: String,
    #[schema(value_type = Vec<Object>)]
    pub rbac_email_implicit_role_assignments: Vec<Value>,
    pub mfa_methods: String,
    pub allowed_mfa_methods: Vec<String>,
    pub oauth_tenant_jit_provisioning: String,
    #[schema(value_type = Object)]
    pub allowed_oauth_tenants: Value,
    pub claimed_email_domains: Vec<String>,
    pub first_party_connected_apps_allowed_type: String,
    pub allowed_first_party_connected_apps: Vec<String>,
    pub third_party_connected_apps_allowed_type: String,
    pub allowed_third_party_connected_apps: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub custom_roles: Vec<Value>,
}

/// A B2B member, with every field Stytch's SDK model requires.
#[derive(ToSchema)]
pub struct Member {
    pub organization_id: String,
    pub member_id: String,
    pub email_address: String,
    /// `active` or `pending`.
    pub status: String,
    pub name: String,
    pub external_id: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub sso_registrations: Vec<Value>,
    pub is_breakglass: bool,
    pub member_password_id: String,
    #[schema(value_type = Vec<Object>)]
    pub oauth_registrations: Vec<Value>,
    pub email_address_verified: bool,
    pub mfa_phone_number_verified: bool,
    pub is_admin: bool,
    pub totp_registration_id: String,
    #[schema(value_type = Vec<Object>)]
    pub retired_email_addresses: Vec<Value>,
    pub is_locked: bool,
    pub mfa_enrolled: bool,
    /// E.164, or empty when the member has none.
    pub mfa_phone_number: String,
    /// `sms_otp`, `totp` or empty.
    pub default_mfa_method: String,
    /// Directly assigned roles: `{role_id, sources: [{type: "direct_assignment", details: {}}]}`.
    #[schema(value_type = Vec<Object>)]
    pub roles: Vec<Value>,
    #[schema(value_type = Object)]
    pub trusted_metadata: Value,
    #[schema(value_type = Object)]
    pub untrusted_metadata: Value,
    pub created_at: String,
    pub updated_at: String,
    #[schema(value_type = Option<Object>)]
    pub scim_registration: Option<Value>,
    pub lock_created_at: Option<String>,
    pub lock_expires_at: Option<String>,
}

#[derive(ToSchema)]
pub struct OrganizationResponse {
    pub status_code: u16,
    pub request_id: String,
    pub organization: Organization,
}

/// `results_metadata` of a search: the filter's total and the next page's cursor (null on
/// the last page).
#[derive(ToSchema)]
pub struct SearchResultsMetadata {
    pub total: i64,
    pub next_cursor: Option<String>,
}

/// A page of `organizations.search`.
#[derive(ToSchema)]
pub struct OrganizationSearchResponse {
    pub status_code: u16,
    pub request_id: String,
    pub organizations: Vec<Organization>,
    pub results_metadata: SearchResultsMetadata,
}

/// A page of `organizations.members.search`, with the organizations of its members keyed
/// by organization id.
#[derive(ToSchema)]
pub struct MemberSearchResponse {
    pub status_code: u16,
    pub request_id: String,
    pub members: Vec<Member>,
    pub results_metadata: SearchResultsMetadata,
    pub organizations: std::collections::BTreeMap<String, Organization>,
}

/// The answer of every member route and of `b2b/otps/sms/send`.
#[derive(ToSchema)]
pub struct MemberResponse {
    pub status_code: u16,
    pub request_id: String,
    pub member_id: String,
    pub member: Member,
    pub organization: Organization,
}

/// Sessions are the caller's: the session fields are always empty.
#[derive(ToSchema)]
pub struct MemberAuthenticateResponse {
    pub status_code: u16,
    pub request_id: String,
    pub member_id: String,
    pub member: Member,
    pub organization: Organization,
    /// Always empty.
    pub session_token: String,
    /// Always empty.
    pub session_jwt: String,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub member_session: Option<Value>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub member_device: Option<Value>,
}

/// The fields of Twilio's status callback otpd reads (Twilio sends more; they are ignored).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct TwilioStatusCallback {
    /// The message's SID (`SmsSid` is accepted too).
    pub message_sid: String,
    /// `queued`, `sent`, `delivered`, `undelivered`, `failed`, … (`SmsStatus` is accepted too).
    pub message_status: String,
    /// Twilio's error code for `undelivered` and `failed`.
    pub error_code: Option<String>,
}
