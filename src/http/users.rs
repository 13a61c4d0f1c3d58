//! `/v1/users`: create, get, delete, delete a phone number.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Authenticated;
use super::context::RequestId;
use super::dto::UserBody;
use super::errors::{ApiError, ErrorBody, ServerErrors, Unauthorized};
use super::json::Json;
use super::otps::{recipient, Attributes};
use super::AppState;
use crate::domain::ids::{ExternalId, PhoneId, UserRef};
use crate::domain::project::Project;
use crate::domain::user::{Name, SearchCursor, UserFilter, UserQuery, UserStatus};
use crate::otp::users::{self, parse_email, CreateUser, UpdateUser};

#[derive(Deserialize, ToSchema)]
pub struct NameInput {
    #[schema(
        max_length = 256,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    first_name: Option<String>,
    #[schema(
        max_length = 256,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    middle_name: Option<String>,
    #[schema(
        max_length = 256,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    last_name: Option<String>,
}

/// A role id: 1 to 128 characters of `A-Z a-z 0-9 _ . : -`.
#[derive(Deserialize, ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_.:-]{1,128}$")]
pub struct RoleId(String);

fn checked_roles(v: Option<Vec<RoleId>>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    if v.len() > 64 {
        return Err(ApiError::bad_request("roles: at most 64 roles"));
    }
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for RoleId(r) in v {
        let ok = (1..=128).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !ok {
            return Err(ApiError::bad_request(
                "roles: a role id is 1 to 128 characters of A-Z a-z 0-9 _ . : -",
            ));
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(Some(out))
}

fn checked_name_part(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.chars().count() > 256 => Err(ApiError::bad_request(format!(
            "name.{field}: at most 256 characters"
        ))),
        other => Ok(other),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateUserInput {
    /// Stored lower-cased; unique in the project (`duplicate_email`).
    #[schema(
        pattern = r"^[^@\s\u0000-\u001F\u007F-\u009F]+@[^@.\s\u0000-\u001F\u007F-\u009F][^@\s\u0000-\u001F\u007F-\u009F]*\.[^@\s\u0000-\u001F\u007F-\u009F]*[^@.\s\u0000-\u001F\u007F-\u009F]$",
        max_length = 254
    )]
    email: Option<String>,
    /// E.164; unique in the project (`duplicate_phone_number`). A well-formed number that
    /// isn't a real one is refused with `invalid_phone_number`. `+10000000000` (Stytch's
    /// sandbox number) in test projects.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$|^\+10000000000$")]
    phone_number: Option<String>,
    #[serde(default, deserialize_with = "super::json::object_or_null")]
    name: Option<NameInput>,
    /// The caller's own key for the user; unique in the project (`duplicate_user_external_id`).
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    external_id: Option<String>,
    create_user_as_pending: Option<bool>,
    /// Request context; checked, not stored (as Stytch, which only logs it).
    #[serde(default, deserialize_with = "super::json::object_or_null")]
    attributes: Option<Attributes>,
    #[schema(max_items = 64, inline)]
    roles: Option<Vec<RoleId>>,
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    #[schema(schema_with = super::openapi::metadata)]
    untrusted_metadata: Option<serde_json::Map<String, Value>>,
}

impl CreateUserInput {
    fn into_request(self, project: &Project) -> Result<CreateUser, ApiError> {
        if let Some(a) = &self.attributes {
            a.ip()?;
        }
        let email = self.email.as_deref().map(parse_email).transpose()?;
        let phone = self
            .phone_number
            .as_deref()
            .map(|raw| recipient(project, raw))
            .transpose()?;
        let external_id = self
            .external_id
            .as_deref()
            .map(ExternalId::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let name = match self.name {
            None => Name::default(),
            Some(n) => Name {
                first_name: checked_name_part("first_name", n.first_name)?.unwrap_or_default(),
                middle_name: checked_name_part("middle_name", n.middle_name)?.unwrap_or_default(),
                last_name: checked_name_part("last_name", n.last_name)?.unwrap_or_default(),
            },
        };
        Ok(CreateUser {
            email,
            phone,
            name,
            external_id,
            pending: self.create_user_as_pending.unwrap_or(false),
            trusted_metadata: Value::Object(self.trusted_metadata.unwrap_or_default()),
            untrusted_metadata: Value::Object(self.untrusted_metadata.unwrap_or_default()),
            roles: checked_roles(self.roles)?.unwrap_or_default(),
        })
    }
}

#[derive(Serialize, ToSchema)]
struct CreateUserOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
    email_id: &'a str,
    phone_id: &'a str,
    status: &'a str,
    user: UserBody<'a>,
}

/// Create a user.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    operation_id = "users_create",
    security(("basic" = [])),
    request_body = CreateUserInput,
    responses(
        (status = 201, description = "The user was created", body = CreateUserOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(input): Json<CreateUserInput>,
) -> Result<HttpResponse, ApiError> {
    let req = input.into_request(&project)?;
    let created = users::create(&state.services, &project, req).await?;
    Ok(HttpResponse::Created().json(CreateUserOutput {
        status_code: 201,
        request_id: &request_id,
        user_id: created.user.id.as_str(),
        email_id: created.email_id.as_ref().map_or("", |e| e.as_str()),
        phone_id: created.phone_id.as_ref().map_or("", |p| p.as_str()),
        status: created.user.status.as_str(),
        user: UserBody::from(&created.user),
    }))
}

#[derive(Serialize, ToSchema)]
struct GetUserOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    #[serde(flatten)]
    user: UserBody<'a>,
}

/// Get a user by user id or external id.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}",
    tag = "users",
    operation_id = "users_get",
    security(("basic" = [])),
    params(("user_id" = String, Path, description = "`user-<env>-<uuid>` or the user's `external_id`", pattern = r"^(user-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-tv-z0-9._|-][A-Za-z0-9._|-]*|u|u[A-Za-rt-z0-9._|-][A-Za-z0-9._|-]*|us|us[A-Za-df-z0-9._|-][A-Za-z0-9._|-]*|use|use[A-Za-qs-z0-9._|-][A-Za-z0-9._|-]*|user|user[A-Za-z0-9._|][A-Za-z0-9._|-]*)$", min_length = 1, max_length = 128)),
    responses(
        (status = 200, description = "The user", body = GetUserOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_ref = UserRef::parse(&path.into_inner())?;
    let user = users::get(&state.services, &project, &user_ref).await?;
    Ok(HttpResponse::Ok().json(GetUserOutput {
        status_code: 200,
        request_id: &request_id,
        user: UserBody::from(&user),
    }))
}

/// `users.update`: only the fields present change.
#[derive(Deserialize, ToSchema)]
pub struct UpdateUserInput {
    /// Each given part replaces that part of the name.
    #[serde(default, deserialize_with = "super::json::object_or_null")]
    name: Option<NameInput>,
    /// Request context; accepted and not stored (as Stytch, which only logs it).
    #[serde(default, deserialize_with = "super::json::object_or_null")]
    attributes: Option<Attributes>,
    /// Replaces the whole object.
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    /// Replaces the whole object.
    #[schema(schema_with = super::openapi::metadata)]
    untrusted_metadata: Option<serde_json::Map<String, Value>>,
    /// An empty string removes it.
    #[schema(pattern = r"^([A-Za-z0-9._|-]{1,128})?$")]
    external_id: Option<String>,
    /// Replaces the user's roles.
    #[schema(max_items = 64, inline)]
    roles: Option<Vec<RoleId>>,
}

#[derive(Serialize, ToSchema)]
struct UpdateUserOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
    #[schema(value_type = Vec<Object>)]
    emails: Vec<super::dto::EmailBody<'a>>,
    #[schema(value_type = Vec<Object>)]
    phone_numbers: Vec<super::dto::PhoneBody<'a>>,
    #[schema(value_type = Vec<Object>)]
    crypto_wallets: [Value; 0],
    user: UserBody<'a>,
}

/// Update a user's name, metadata, external id or roles.
#[utoipa::path(
    put,
    path = "/v1/users/{user_id}",
    tag = "users",
    operation_id = "users_update",
    security(("basic" = [])),
    params(("user_id" = String, Path, description = "`user-<env>-<uuid>` or the user's `external_id`", pattern = r"^(user-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-tv-z0-9._|-][A-Za-z0-9._|-]*|u|u[A-Za-rt-z0-9._|-][A-Za-z0-9._|-]*|us|us[A-Za-df-z0-9._|-][A-Za-z0-9._|-]*|use|use[A-Za-qs-z0-9._|-][A-Za-z0-9._|-]*|user|user[A-Za-z0-9._|][A-Za-z0-9._|-]*)$", min_length = 1, max_length = 128)),
    request_body = UpdateUserInput,
    responses(
        (status = 200, description = "The updated user", body = UpdateUserOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_user_id`, `duplicate_user_external_id`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
    Json(i): Json<UpdateUserInput>,
) -> Result<HttpResponse, ApiError> {
    let user_ref = UserRef::parse(&path.into_inner())?;
    if let Some(a) = &i.attributes {
        a.ip()?;
    }
    let (first_name, middle_name, last_name) = match i.name {
        None => (None, None, None),
        Some(n) => (
            checked_name_part("first_name", n.first_name)?,
            checked_name_part("middle_name", n.middle_name)?,
            checked_name_part("last_name", n.last_name)?,
        ),
    };
    let external_id = match i.external_id {
        Some(e) if !e.is_empty() => Some(
            ExternalId::parse(&e)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
                .as_str()
                .to_owned(),
        ),
        other => other,
    };
    let req = UpdateUser {
        first_name,
        middle_name,
        last_name,
        external_id,
        trusted_metadata: i.trusted_metadata.map(Value::Object),
        untrusted_metadata: i.untrusted_metadata.map(Value::Object),
        roles: checked_roles(i.roles)?,
    };
    let user = users::update(&state.services, &project, &user_ref, req).await?;
    let body = UserBody::from(&user);
    Ok(HttpResponse::Ok().json(UpdateUserOutput {
        status_code: 200,
        request_id: &request_id,
        user_id: user.id.as_str(),
        emails: UserBody::from(&user).emails,
        phone_numbers: UserBody::from(&user).phone_numbers,
        crypto_wallets: [],
        user: body,
    }))
}

/// `AND` or `OR`.
#[derive(Deserialize, ToSchema, Clone, Copy)]
pub enum SearchOperator {
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "OR")]
    Or,
}

/// `{"filter_name": …, "filter_value": …}`: `user_id`, `external_id` and `phone_id` (lists
/// of ids), `phone_number` (list of E.164), `phone_number_fuzzy` (3+ digits), `phone_verified`
/// (bool), `status` (`active`/`pending`), `created_at_greater_than` / `created_at_less_than`
/// (RFC 3339), `created_at_between` (`{"greater_than", "less_than"}`).
#[derive(Deserialize, ToSchema)]
pub struct SearchOperand {
    #[schema(
        pattern = r"^(user_id|external_id|phone_id|phone_number|phone_number_fuzzy|phone_verified|status|created_at_greater_than|created_at_less_than|created_at_between)$"
    )]
    filter_name: String,
    /// A list, a string, a boolean or an object, as `filter_name` says (see above); a value
    /// of another shape is refused with `bad_request` ("… as filter_value", or "… takes an
    /// RFC 3339 timestamp").
    #[schema(schema_with = super::openapi::json_value)]
    filter_value: Value,
}

#[derive(Deserialize, ToSchema)]
pub struct SearchQueryInput {
    operator: SearchOperator,
    #[schema(max_items = 20)]
    operands: Vec<SearchOperand>,
}

#[derive(Deserialize, ToSchema)]
pub struct SearchUsersInput {
    /// 1 to 1000; default 100.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    limit: Option<u32>,
    /// `results_metadata.next_cursor` of the previous page. A cursor otpd didn't issue (or
    /// one of another search) is refused (`bad_request`, "cursor is not one otpd issued").
    #[schema(
        max_length = 512,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    cursor: Option<String>,
    query: Option<SearchQueryInput>,
}

fn strings(name: &str, v: Value, max: usize) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "query: `{name}` takes a list of 1 to {max} strings as filter_value"
        ))
    };
    let list: Vec<String> = serde_json::from_value(v).map_err(|_| bad())?;
    if list.is_empty() || list.len() > max || list.iter().any(|s| s.is_empty() || s.len() > 128) {
        return Err(bad());
    }
    Ok(list)
}

fn timestamp(name: &str, v: &Value) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| {
            ApiError::bad_request(format!("query: `{name}` takes an RFC 3339 timestamp"))
        })
}

fn operand(o: SearchOperand, out: &mut Vec<UserFilter>) -> Result<(), ApiError> {
    let name = o.filter_name.as_str();
    let v = o.filter_value;
    match name {
        "user_id" => out.push(UserFilter::UserIds(strings(name, v, 100)?)),
        "external_id" => out.push(UserFilter::ExternalIds(strings(name, v, 100)?)),
        "phone_number" => out.push(UserFilter::PhoneNumbers(strings(name, v, 100)?)),
        "phone_id" => out.push(UserFilter::PhoneIds(strings(name, v, 100)?)),
        "phone_number_fuzzy" => {
            let part = v
                .as_str()
                .map(|s| s.trim_start_matches('+'))
                .filter(|s| (3..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "query: `phone_number_fuzzy` takes 3 to 15 digits as filter_value",
                    )
                })?;
            out.push(UserFilter::PhoneNumberFuzzy(part.to_owned()));
        }
        "phone_verified" => out.push(UserFilter::PhoneVerified(v.as_bool().ok_or_else(|| {
            ApiError::bad_request("query: `phone_verified` takes a boolean as filter_value")
        })?)),
        "status" => out.push(UserFilter::Status(match v.as_str() {
            Some("active") => UserStatus::Active,
            Some("pending") => UserStatus::Pending,
            _ => {
                return Err(ApiError::bad_request(
                    "query: `status` takes `active` or `pending` as filter_value",
                ))
            }
        })),
        "created_at_greater_than" => out.push(UserFilter::CreatedAfter(timestamp(name, &v)?)),
        "created_at_less_than" => out.push(UserFilter::CreatedBefore(timestamp(name, &v)?)),
        "created_at_between" => {
            let after = timestamp("created_at_between.greater_than", &v["greater_than"])?;
            let before = timestamp("created_at_between.less_than", &v["less_than"])?;
            out.push(UserFilter::CreatedBetween(after, before));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "query: filter_name `{other}` is not one otpd supports (user_id, external_id, phone_id, phone_number, phone_number_fuzzy, phone_verified, status, created_at_greater_than, created_at_less_than, created_at_between)"
            )))
        }
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
struct ResultsMetadata {
    total: i64,
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct SearchUsersOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    results: Vec<UserBody<'a>>,
    results_metadata: ResultsMetadata,
}

/// Search users, a page at a time (oldest first).
#[utoipa::path(
    post,
    path = "/v1/users/search",
    tag = "users",
    operation_id = "users_search",
    security(("basic" = [])),
    request_body = SearchUsersInput,
    responses(
        (status = 200, description = "A page of users", body = SearchUsersOutput),
        (status = 400, description = "Malformed request or query (`bad_request`)", body = ErrorBody),
        Unauthorized,
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn search(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    Json(i): Json<SearchUsersInput>,
) -> Result<HttpResponse, ApiError> {
    let limit = match i.limit {
        None => 100,
        Some(l @ 1..=1000) => l as u16,
        Some(_) => return Err(ApiError::bad_request("limit must be between 1 and 1000")),
    };
    let cursor = match i.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            SearchCursor::decode(c)
                .ok_or_else(|| ApiError::bad_request("cursor is not one otpd issued"))?,
        ),
    };
    let mut query = UserQuery::default();
    if let Some(q) = i.query {
        query.all = matches!(q.operator, SearchOperator::And);
        if q.operands.len() > 20 {
            return Err(ApiError::bad_request("query: at most 20 operands"));
        }
        for o in q.operands {
            operand(o, &mut query.filters)?;
        }
    }
    let page = users::search(&state.services, &project, &query, cursor.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(SearchUsersOutput {
        status_code: 200,
        request_id: &request_id,
        results: page.users.iter().map(UserBody::from).collect(),
        results_metadata: ResultsMetadata {
            total: page.total,
            next_cursor: page.next.as_ref().map(SearchCursor::encode),
        },
    }))
}

#[derive(Serialize, ToSchema)]
struct DeleteUserOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
}

/// Delete a user, their phone numbers and codes.
#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}",
    tag = "users",
    operation_id = "users_delete",
    security(("basic" = [])),
    params(("user_id" = String, Path, description = "`user-<env>-<uuid>` or the user's `external_id`", pattern = r"^(user-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-tv-z0-9._|-][A-Za-z0-9._|-]*|u|u[A-Za-rt-z0-9._|-][A-Za-z0-9._|-]*|us|us[A-Za-df-z0-9._|-][A-Za-z0-9._|-]*|use|use[A-Za-qs-z0-9._|-][A-Za-z0-9._|-]*|user|user[A-Za-z0-9._|][A-Za-z0-9._|-]*)$", min_length = 1, max_length = 128)),
    responses(
        (status = 200, description = "The user was deleted", body = DeleteUserOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_ref = UserRef::parse(&path.into_inner())?;
    let id = users::delete(&state.services, &project, &user_ref).await?;
    Ok(HttpResponse::Ok().json(DeleteUserOutput {
        status_code: 200,
        request_id: &request_id,
        user_id: id.as_str(),
    }))
}

#[derive(Serialize, ToSchema)]
struct DeletePhoneOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    user_id: &'a str,
    user: UserBody<'a>,
}

/// Remove a phone number (and its codes) from its user.
#[utoipa::path(
    delete,
    path = "/v1/users/phone_numbers/{phone_id}",
    tag = "users",
    operation_id = "users_delete_phone",
    security(("basic" = [])),
    params(("phone_id" = String, Path, description = "`phone-number-<env>-<uuid>`", pattern = r"^phone-number-(test|live)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    responses(
        (status = 200, description = "The phone number was removed", body = DeletePhoneOutput),
        (status = 400, description = "Malformed request (`bad_request`, `invalid_*`, `duplicate_*`)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`phone_number_not_found`", body = ErrorBody),
        (status = 429, description = "`too_many_requests` (a rate limit or guess budget) or `too_few_tokens_authenticated`, with `Retry-After`", body = ErrorBody),
        ServerErrors
    )
)]
pub async fn delete_phone(
    state: web::Data<AppState>,
    Authenticated(project): Authenticated,
    RequestId(request_id): RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let phone_id = PhoneId::parse(&path.into_inner())?;
    let user = users::delete_phone(&state.services, &project, &phone_id).await?;
    Ok(HttpResponse::Ok().json(DeletePhoneOutput {
        status_code: 200,
        request_id: &request_id,
        user_id: user.id.as_str(),
        user: UserBody::from(&user),
    }))
}
