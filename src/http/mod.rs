//! The HTTP surface: routes, extractors, and the Stytch-shaped error renderer.

pub mod auth;
pub mod b2b;
pub mod console;
pub mod context;
pub mod dto;
pub mod errors;
pub mod health;
pub mod json;
pub mod openapi;
pub mod otps;
pub mod sandbox;
pub mod sdk;
pub mod sessions;
pub mod text;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use actix_web::web;

use crate::domain::secret::SecretHasher;
use crate::limits::client::ClientLimits;
use crate::otp::Services;

pub struct AppState {
    pub services: Services,
    pub secret_hasher: Arc<SecretHasher>,
    /// True when the fake provider is configured (and no real one): the outbox and the
    /// staging console exist.
    pub sandbox_outbox: bool,
    /// `sandbox.operator_token`: signs the console in for every project.
    pub operator_token: Option<secrecy::SecretString>,
    /// Per-replica guards for projects, end-user IPs and network clients.
    pub client_limits: Arc<ClientLimits>,
    /// `/readyz`'s last answer, reused for a second.
    pub readiness: health::Readiness,
    /// Which origins some public token allows (CORS preflights carry no credentials).
    pub sdk_origins: sdk::OriginCache,
}

/// No route matched: 405 with `Allow` when the path is a documented one and the method is
/// not, else 404 (also for a documented route this listener doesn't serve, such as
/// `/metrics` when `admin_listen` is set).
async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let allowed = openapi::allowed_methods(req.path());
    if allowed.is_empty() || allowed.iter().any(|m| m == req.method().as_str()) {
        return errors::ApiError::new(errors::ErrorKind::RouteNotFound).error_response();
    }
    let allow = allowed.join(", ");
    let e = errors::ApiError::with_message(
        errors::ErrorKind::MethodNotAllowed,
        format!("{} is not allowed here; use {allow}.", req.method()),
    );
    let mut res = actix_web::HttpResponse::from_error(e);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    res
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(json::MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            errors::ApiError::bad_request(format!("invalid query string: {e}")).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|e, _| {
            errors::ApiError::bad_request(format!("invalid path: {e}")).into()
        }))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/openapi.json", web::get().to(openapi::openapi_json))
        .route("/v1/users", web::post().to(users::create))
        .route(
            "/v1/users/phone_numbers/{phone_id}",
            web::delete().to(users::delete_phone),
        )
        // A resource of its own, so another method on it is a 405, not the user `search`.
        .service(
            web::resource("/v1/users/search")
                .route(web::post().to(users::search))
                .default_service(web::to(not_found)),
        )
        .route("/v1/users/{user_id}", web::get().to(users::get))
        .route("/v1/users/{user_id}", web::put().to(users::update))
        .route("/v1/users/{user_id}", web::delete().to(users::delete))
        .route("/v1/otps/sms/send", web::post().to(otps::sms_send))
        .route(
            "/v1/otps/sms/login_or_create",
            web::post().to(otps::sms_login_or_create),
        )
        .route(
            "/v1/otps/whatsapp/send",
            web::post().to(otps::whatsapp_send),
        )
        .route(
            "/v1/otps/whatsapp/login_or_create",
            web::post().to(otps::whatsapp_login_or_create),
        )
        .route("/v1/otps/authenticate", web::post().to(otps::authenticate))
        .route(
            "/v1/b2b/organizations",
            web::post().to(b2b::create_organization),
        )
        // Resources of their own, so another method is a 405, not an organization `search`.
        .service(
            web::resource("/v1/b2b/organizations/search")
                .route(web::post().to(b2b::search_organizations))
                .default_service(web::to(not_found)),
        )
        .service(
            web::resource("/v1/b2b/organizations/members/search")
                .route(web::post().to(b2b::search_members))
                .default_service(web::to(not_found)),
        )
        .route(
            "/v1/b2b/organizations/{organization_id}",
            web::get().to(b2b::get_organization),
        )
        .route(
            "/v1/b2b/organizations/{organization_id}",
            web::put().to(b2b::update_organization),
        )
        .route(
            "/v1/b2b/organizations/{organization_id}/members",
            web::post().to(b2b::create_member),
        )
        .route(
            "/v1/b2b/organizations/{organization_id}/member",
            web::get().to(b2b::get_member),
        )
        .route(
            "/v1/b2b/organizations/{organization_id}/members/mfa_phone_numbers/{member_id}",
            web::delete().to(b2b::delete_mfa_phone),
        )
        .route(
            "/v1/b2b/organizations/{organization_id}/members/{member_id}",
            web::put().to(b2b::update_member),
        )
        .route("/v1/b2b/otps/sms/send", web::post().to(b2b::sms_send))
        .route(
            "/v1/b2b/otps/sms/authenticate",
            web::post().to(b2b::sms_authenticate),
        )
        .route("/v1/sessions", web::get().to(sessions::list))
        .route(
            "/v1/sessions/authenticate",
            web::post().to(sessions::authenticate),
        )
        .route("/v1/sessions/revoke", web::post().to(sessions::revoke))
        .route("/v1/sessions/attest", web::post().to(sessions::attest))
        .route(
            "/v1/sessions/jwks/{project_id}",
            web::get().to(sessions::jwks),
        )
        .route("/v1/b2b/sessions", web::get().to(sessions::b2b_list))
        .route(
            "/v1/b2b/sessions/authenticate",
            web::post().to(sessions::b2b_authenticate),
        )
        .route(
            "/v1/b2b/sessions/revoke",
            web::post().to(sessions::b2b_revoke),
        )
        .route(
            "/v1/b2b/sessions/attest",
            web::post().to(sessions::b2b_attest),
        )
        .route(
            "/v1/b2b/sessions/jwks/{project_id}",
            web::get().to(sessions::b2b_jwks),
        )
        .route("/v1/sandbox/messages", web::get().to(sandbox::messages))
        .configure(console::routes)
        .service(
            web::scope("/sdk/v1")
                .configure(sdk::routes)
                .default_service(web::to(not_found))
                .wrap(actix_web::middleware::from_fn(sdk::surface)),
        )
        .route(
            "/webhooks/twilio/status",
            web::post().to(webhooks::twilio_status),
        )
        .default_service(web::to(not_found));
}
