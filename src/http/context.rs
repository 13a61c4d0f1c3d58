//! Per-request context: the request id (accepted or generated, echoed as `X-Request-Id` and
//! in every body), the summary log line and HTTP metrics, and rewriting every error into Stytch's shape.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::{ready, Ready};
use tracing::Instrument;
use uuid::Uuid;

use super::errors::{render, ApiError, ErrorKind};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id, available to handlers as an extractor.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The authenticated project, recorded for the summary line.
#[derive(Debug, Clone)]
pub struct ProjectTag(pub String);

impl FromRequest for RequestId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(generate("test")));
        ready(Ok(id))
    }
}

fn generate(env: &str) -> String {
    format!("request-id-{env}-{}", Uuid::new_v4())
}

/// A caller-supplied id is kept only if it is short and plain, so it can't inject into logs.
fn accepted(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| s.to_owned())
}

/// Stytch ids say test or live; the project id in the Basic credentials tells which.
fn env_of(req: &ServiceRequest) -> &'static str {
    let live = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .is_some_and(|raw| raw.starts_with(b"project-live-"));
    if live {
        "live"
    } else {
        "test"
    }
}

/// The method as a metric label and log field: a closed set, because actix accepts any token
/// as a method and an unauthenticated client could otherwise mint series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(accepted)
        .unwrap_or_else(|| generate(env_of(&req)));
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %id, method = %method);

    // Before routing, so a control character in a path id or query never reaches a handler.
    let res = match super::text::check_uri(req.request()) {
        Err(e) => req.error_response(e),
        Ok(()) => next
            .call(req)
            .instrument(span.clone())
            .await?
            .map_into_boxed_body(),
    };
    let mut res = to_stytch_shape(res, &id);
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let project = res
        .request()
        .extensions()
        .get::<ProjectTag>()
        .map(|p| p.0.clone())
        .unwrap_or_default();
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    crate::metrics::http_request(method, &route, status, elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            request_id = %id, method = %method, route = %route, status, latency_ms,
            project = %project, "request finished"
        );
    });
    Ok(res)
}

/// Every error — ours, an extractor's, the router's — leaves with the same Stytch body.
fn to_stytch_shape<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    id: &str,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !status.is_client_error() && !status.is_server_error() {
        return res.map_into_boxed_body();
    }
    let rendered = match res.response().error() {
        Some(err) => match err.as_error::<ApiError>() {
            Some(api) => {
                let (status, error_type, _) = api.kind.table();
                render(status, error_type, api.message(), id, api.retry_after)
            }
            None => generic(status, &err.to_string(), id),
        },
        None => generic(status, "", id),
    };
    // CORS grants of the frontend surface too, so the SDK can read the error.
    let kept: Vec<(HeaderName, HeaderValue)> = [
        "retry-after",
        "allow",
        "vary",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-expose-headers",
    ]
    .into_iter()
    .filter_map(|n| {
        let name = HeaderName::from_static(n);
        res.headers().get(&name).cloned().map(|v| (name, v))
    })
    .collect();
    let mut res = res.into_response(rendered.map_into_boxed_body());
    for (name, v) in kept {
        if !res.headers().contains_key(&name) {
            res.headers_mut().insert(name, v);
        }
    }
    res
}

fn generic(status: StatusCode, detail: &str, id: &str) -> actix_web::HttpResponse {
    let kind = match status {
        StatusCode::UNAUTHORIZED => ErrorKind::UnauthorizedCredentials,
        StatusCode::NOT_FOUND => ErrorKind::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::TooManyRequests,
        StatusCode::SERVICE_UNAVAILABLE => ErrorKind::ServiceUnavailable,
        s if s.is_server_error() => ErrorKind::InternalServerError,
        _ => ErrorKind::BadRequest,
    };
    let (_, error_type, default) = kind.table();
    // Framework messages describe the request, never internal state, so they're safe to show
    // for client errors; server errors stay opaque.
    let message = if status.is_client_error() && !detail.is_empty() {
        detail
    } else {
        default
    };
    render(status, error_type, message, id, None)
}
