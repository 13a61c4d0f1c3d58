//! `/v1/users`: create, get, delete, delete a phone number.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Authenticated;
use super::context::RequestId;
use super::dto::UserBody;
use super::errors::{ApiError, ErrorBody, ErrorKind, ServerErrors, Unauthorized};
use super::json::Json;
use super::AppState;
use crate::domain::ids::{ExternalId, PhoneId, UserRef};
use crate::domain::user::Name;
use crate::domain::PhoneNumber;
use crate::otp::users::{self, parse_email, CreateUser};

#[derive(Deserialize, ToSchema)]
pub struct NameInput {
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    first_name: Option<String>,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    middle_name: Option<String>,
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    last_name: Option<String>,
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
    /// isn't a real one is refused with `invalid_phone_number`.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$")]
    phone_number: Option<String>,
    #[serde(default, deserialize_with = "super::json::object_or_null")]
    name: Option<NameInput>,
    /// The caller's own key for the user; unique in the project (`duplicate_external_id`).
    #[schema(pattern = r"^[A-Za-z0-9._|-]{1,128}$", max_length = 128)]
    external_id: Option<String>,
    create_user_as_pending: Option<bool>,
    #[schema(schema_with = super::openapi::metadata)]
    trusted_metadata: Option<serde_json::Map<String, Value>>,
    #[schema(schema_with = super::openapi::metadata)]
    untrusted_metadata: Option<serde_json::Map<String, Value>>,
}

impl TryFrom<CreateUserInput> for CreateUser {
    type Error = ApiError;

    fn try_from(i: CreateUserInput) -> Result<Self, ApiError> {
        let email = i.email.as_deref().map(parse_email).transpose()?;
        let phone = i
            .phone_number
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(|_| ApiError::new(ErrorKind::InvalidPhoneNumber))?;
        let external_id = i
            .external_id
            .as_deref()
            .map(ExternalId::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let name = i.name.map_or_else(Name::default, |n| Name {
            first_name: n.first_name.unwrap_or_default(),
            middle_name: n.middle_name.unwrap_or_default(),
            last_name: n.last_name.unwrap_or_default(),
        });
        Ok(CreateUser {
            email,
            phone,
            name,
            external_id,
            pending: i.create_user_as_pending.unwrap_or(false),
            trusted_metadata: Value::Object(i.trusted_metadata.unwrap_or_default()),
            untrusted_metadata: Value::Object(i.untrusted_metadata.unwrap_or_default()),
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
    let created = users::create(&state.services, &project, input.try_into()?).await?;
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
