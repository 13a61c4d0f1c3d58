//! HTTP Basic `project_id:secret` on every `/v1` route.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;

use super::context::ProjectTag;
use super::errors::{ApiError, ErrorKind};
use super::AppState;
use crate::domain::project::Project;
use crate::otp::projects;

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

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let unauthorized = || ApiError::new(ErrorKind::UnauthorizedCredentials);
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::new(ErrorKind::InternalServerError))?;
            let (id, secret) = credentials(&req).ok_or_else(unauthorized)?;
            let project =
                projects::authenticate(&state.services.pool, &state.secret_hasher, &id, &secret)
                    .await
                    .map_err(|e| ApiError::from(crate::otp::OtpError::Store(e)))?
                    .ok_or_else(unauthorized)?;
            req.extensions_mut()
                .insert(ProjectTag(project.id.to_string()));
            Ok(Authenticated(project))
        })
    }
}
