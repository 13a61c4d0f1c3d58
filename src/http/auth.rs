//! HTTP Basic `project_id:secret` on every `/v1` route.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;

use super::context::ProjectTag;
use super::errors::{ApiError, ErrorKind};
use super::AppState;
use crate::domain::limits::RefusalReason;
use crate::domain::project::Project;
use crate::otp::{projects, OtpError};

/// The calling project, authenticated.
pub struct Authenticated(pub Project);

fn credentials(req: &HttpRequest) -> Option<(String, String)> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// A per-replica guard said no: 429 with the wait in whole seconds.
pub fn limited(wait: std::time::Duration) -> ApiError {
    ApiError::from(OtpError::Limited {
        reason: RefusalReason::ClientLimit,
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    })
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, false).await.map(Authenticated) })
    }
}

/// [`Authenticated`] for the routes that hash (sends and authenticates): before the secret's
/// database lookup it checks for room in the hashing pool, so a request the pool would shed
/// is answered 503 (after the pool's pause) without a round trip. The place itself is taken
/// later, by the use case, just before it charges anything.
pub struct AuthenticatedToHash(pub Project);

impl FromRequest for AuthenticatedToHash {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, true).await.map(AuthenticatedToHash) })
    }
}

/// The per-client guard alone (`ClientLimits::check_peer`), for routes without credentials
/// that still do work (the JWKS, provider webhooks, the frontend's bootstrap and events): put
/// it first among a handler's extractors, so a flood is refused before any body is read or
/// any query runs. Authenticated routes get the same check from [`Authenticated`].
pub struct Guarded;

impl FromRequest for Guarded {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::new(ErrorKind::InternalServerError))
                .and_then(|state| check_client(req, state))
                .map(|()| Guarded),
        )
    }
}

/// The network client's guard: the TCP peer, or behind trusted proxies the forwarded client.
fn check_client(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let forwarded: Vec<Option<&str>> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().ok())
        .collect();
    let client = state.client_limits.client_ip(
        req.peer_addr()
            .map_or(std::net::Ipv4Addr::LOCALHOST.into(), |a| a.ip()),
        &forwarded,
    );
    state.client_limits.check_peer(client).map_err(limited)
}

async fn authenticate(req: &HttpRequest, hashes: bool) -> Result<Project, ApiError> {
    let unauthorized = || ApiError::new(ErrorKind::UnauthorizedCredentials);
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::new(ErrorKind::InternalServerError))?;
    check_client(req, state)?;
    if hashes {
        state
            .services
            .hasher
            .check_room()
            .await
            .map_err(|e| ApiError::from(OtpError::from(e)))?;
    }
    let (id, secret) = credentials(req).ok_or_else(unauthorized)?;
    let project = projects::authenticate(&state.services.pool, &state.secret_hasher, &id, &secret)
        .await
        .map_err(|e| ApiError::from(OtpError::Store(e)))?
        .ok_or_else(unauthorized)?;
    req.extensions_mut()
        .insert(ProjectTag(project.id.to_string()));
    state
        .client_limits
        .check_project(project.id.as_str())
        .map_err(limited)?;
    Ok(project)
}
