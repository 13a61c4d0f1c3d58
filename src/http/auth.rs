//! HTTP Basic `project_id:secret` on every `/v1` route, and `public_token:session` on the
//! frontend surface (`/sdk/v1`).

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use std::net::IpAddr;

use super::context::ProjectTag;
use super::errors::{ApiError, ErrorKind};
use super::AppState;
use crate::domain::limits::RefusalReason;
use crate::domain::project::Project;
use crate::otp::{projects, public_tokens, OtpError};

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
            app_state(req)
                .and_then(|state| check_client(req, state))
                .map(|_| Guarded),
        )
    }
}

/// The network client's guard; its address when admitted.
fn check_client(req: &HttpRequest, state: &AppState) -> Result<IpAddr, ApiError> {
    let client = client_ip(state, req);
    state.client_limits.check_peer(client).map_err(limited)?;
    Ok(client)
}

/// The network client's address (the TCP peer, or the right-most untrusted
/// `X-Forwarded-For` hop behind trusted proxies).
pub fn client_ip(state: &AppState, req: &HttpRequest) -> IpAddr {
    let forwarded: Vec<Option<&str>> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().ok())
        .collect();
    state.client_limits.client_ip(
        req.peer_addr()
            .map_or(std::net::Ipv4Addr::LOCALHOST.into(), |a| a.ip()),
        &forwarded,
    )
}

pub fn app_state(req: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::new(ErrorKind::InternalServerError))
}

/// What every credentialed request passes before its credentials are looked up: the
/// per-client guard and, for the routes that hash, room in the hashing pool.
async fn admit(state: &AppState, req: &HttpRequest, hashes: bool) -> Result<IpAddr, ApiError> {
    let client = check_client(req, state)?;
    if hashes {
        state
            .services
            .hasher
            .check_room()
            .await
            .map_err(|e| ApiError::from(OtpError::from(e)))?;
    }
    Ok(client)
}

fn after_credentials(
    state: &AppState,
    req: &HttpRequest,
    project: &Project,
) -> Result<(), ApiError> {
    req.extensions_mut()
        .insert(ProjectTag(project.id.to_string()));
    state
        .client_limits
        .check_project(project.id.as_str())
        .map_err(limited)
}

async fn authenticate(req: &HttpRequest, hashes: bool) -> Result<Project, ApiError> {
    let unauthorized = || ApiError::new(ErrorKind::UnauthorizedCredentials);
    let state = app_state(req)?;
    admit(state, req, hashes).await?;
    let (id, secret) = credentials(req).ok_or_else(unauthorized)?;
    let store_error = |e| ApiError::from(OtpError::Store(e));
    let mut conn = state.services.held.acquire().await.map_err(store_error)?;
    let found = projects::authenticate(
        conn.start().map_err(store_error)?,
        &state.secret_hasher,
        &id,
        &secret,
    )
    .await;
    let project = conn
        .finish(found)
        .map_err(store_error)?
        .ok_or_else(unauthorized)?;
    drop(conn);
    after_credentials(state, req, &project)?;
    Ok(project)
}

/// A frontend-surface (`/sdk/v1`) caller: Basic `public_token:password`, where the password
/// is the public token again (nobody signed in) or the `stytch_session` cookie's token.
pub struct PublicCaller {
    pub project: Project,
    /// The session token the browser holds, if any.
    pub session_token: Option<String>,
    /// The end user: a browser calls directly, so the network client is the person.
    pub client_ip: IpAddr,
}

/// [`PublicCaller`] for the routes that hash (see [`AuthenticatedToHash`]).
pub struct PublicCallerToHash(pub PublicCaller);

impl FromRequest for PublicCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { public_caller(&req, false).await })
    }
}

impl FromRequest for PublicCallerToHash {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { public_caller(&req, true).await.map(PublicCallerToHash) })
    }
}

async fn public_caller(req: &HttpRequest, hashes: bool) -> Result<PublicCaller, ApiError> {
    let unauthorized = || ApiError::new(ErrorKind::UnauthorizedCredentials);
    let state = app_state(req)?;
    let client_ip = admit(state, req, hashes).await?;
    let (token, password) = credentials(req).ok_or_else(unauthorized)?;
    let project = public_project(state, req, &token).await?;
    after_credentials(state, req, &project)?;
    let session_token = (!password.is_empty() && password != token).then_some(password);
    Ok(PublicCaller {
        project,
        session_token,
        client_ip,
    })
}

/// The project of a live public token, after checking the request's `Origin` (when it has
/// one) against the token's allowed origins; records the CORS grant for the response.
pub async fn public_project(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<Project, ApiError> {
    let (project, origins) = public_tokens::authenticate(&state.services.pool, token)
        .await
        .map_err(|e| ApiError::from(OtpError::Store(e)))?
        .ok_or_else(|| ApiError::new(ErrorKind::UnauthorizedCredentials))?;
    super::sdk::check_origin(req, &origins)?;
    Ok(project)
}
