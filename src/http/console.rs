//! The staging console at `/sandbox/`: a page (HTML, JS and CSS built into the binary) where
//! testers watch the fake provider's messages arrive, and the JSON it polls. It exists only
//! with the fake provider (404 otherwise, whatever the configuration says), and shows
//! messages only to a project's credentials (its own) or the operator token (all projects).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::auth::{self, Authenticated};
use super::context::RequestId;
use super::dto::rfc3339;
use super::errors::{ApiError, ErrorKind};
use super::sandbox::ensure_outbox;
use super::AppState;
use crate::otp::outbox::{self, OutboxEntry, OutboxFilter, Viewer};

/// `[sandbox]` in the configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// Signs the console in for every project (`Authorization: Bearer <token>`); unset, only
    /// project credentials do. Ignored unless the provider is `fake`.
    #[serde(skip_serializing)]
    pub operator_token: Option<SecretString>,
}

/// Shortest operator token accepted (the pepper's rule: ≥ 128 bits for any sane alphabet).
pub const MIN_OPERATOR_TOKEN_LEN: usize = 32;

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// Everything the page needs comes from this origin; nothing may frame it, and scripts and
/// styles come only from the files below (no inline code, so an injected message body can
/// never run).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/sandbox")
            .route("", web::get().to(to_index))
            .route("/", web::get().to(index))
            .route("/console.js", web::get().to(script))
            .route("/console.css", web::get().to(stylesheet))
            .route("/api/messages", web::get().to(messages))
            .default_service(web::to(super::not_found))
            .wrap(actix_web::middleware::from_fn(surface)),
    );
}

/// 404 for the whole scope without the fake provider; the page's security headers on every
/// answer.
async fn surface(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let enabled = req
        .app_data::<web::Data<AppState>>()
        .map(|s| ensure_outbox(s));
    let mut res = match enabled {
        Some(Ok(())) => next.call(req).await?.map_into_boxed_body(),
        Some(Err(e)) => req.error_response(e),
        None => req.error_response(ApiError::new(ErrorKind::InternalServerError)),
    };
    let headers = res.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        // The JSON carries live codes; the page is tiny. Neither belongs in a cache.
        ("cache-control", "no-store"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(res)
}

/// The per-client flood guard, for what answers without credentials.
fn guard(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    state
        .client_limits
        .check_peer(auth::client_ip(state, req))
        .map_err(auth::limited)
}

fn asset(
    state: &AppState,
    req: &HttpRequest,
    content_type: &'static str,
    body: &'static str,
) -> Result<HttpResponse, ApiError> {
    guard(state, req)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(body))
}

async fn to_index(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    guard(&state, &req)?;
    Ok(HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/sandbox/"))
        .finish())
}

async fn index(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    asset(&state, &req, "text/html; charset=utf-8", INDEX_HTML)
}

async fn script(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    asset(&state, &req, "text/javascript; charset=utf-8", CONSOLE_JS)
}

async fn stylesheet(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    asset(&state, &req, "text/css; charset=utf-8", CONSOLE_CSS)
}

/// `Authorization: Basic project_id:secret` (the `/v1` check, guards included) or
/// `Authorization: Bearer <operator token>`. No cookie: the page holds what was typed in
/// memory and sends it on each call.
async fn viewer(state: &AppState, req: &HttpRequest) -> Result<Viewer, ApiError> {
    let unauthorized = || ApiError::new(ErrorKind::UnauthorizedCredentials);
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = bearer else {
        let Authenticated(project) = Authenticated::extract(req).await?;
        return Ok(Viewer::Project(project.id));
    };
    guard(state, req)?;
    let expected = state.operator_token.as_ref().ok_or_else(unauthorized)?;
    if bool::from(expected.expose_secret().as_bytes().ct_eq(token.as_bytes())) {
        Ok(Viewer::Operator)
    } else {
        Err(unauthorized())
    }
}

#[derive(Deserialize)]
struct MessagesQuery {
    to: Option<String>,
    channel: Option<String>,
    project_id: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct ConsoleMessage {
    message_id: String,
    project_id: String,
    project_name: String,
    to: String,
    channel: String,
    body: String,
    code: Option<String>,
    autofill_line: Option<String>,
    locale: Option<String>,
    /// `gsm7` or `ucs2`.
    encoding: &'static str,
    segments: usize,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) the body takes, of `capacity`.
    units: usize,
    capacity: usize,
    delivery: Option<ConsoleDelivery>,
    created_at: String,
}

#[derive(Serialize)]
struct ConsoleDelivery {
    status: String,
    error_code: Option<String>,
    receipt_at: Option<String>,
}

#[derive(Serialize)]
struct ConsoleOutput<'a> {
    status_code: u16,
    request_id: &'a str,
    /// The signed-in project, or null for the operator.
    project_id: Option<String>,
    messages: Vec<ConsoleMessage>,
}

impl From<OutboxEntry> for ConsoleMessage {
    fn from(m: OutboxEntry) -> Self {
        ConsoleMessage {
            message_id: m.id.to_string(),
            project_id: m.project_id,
            project_name: m.project_name,
            to: m.to,
            channel: m.channel,
            body: m.body,
            code: m.code,
            autofill_line: m.autofill_line,
            locale: m.locale,
            encoding: m.cost.encoding.as_str(),
            segments: m.cost.segments,
            units: m.cost.units,
            capacity: m.cost.capacity(),
            delivery: m.delivery.map(|d| ConsoleDelivery {
                status: d.status,
                error_code: d.error_code,
                receipt_at: d.receipt_at.as_ref().map(rfc3339),
            }),
            created_at: rfc3339(&m.created_at),
        }
    }
}

/// `GET /sandbox/api/messages?to=&channel=&project_id=&limit=`: what the page polls.
async fn messages(
    state: web::Data<AppState>,
    req: HttpRequest,
    RequestId(request_id): RequestId,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = viewer(&state, &req).await?;
    let q = query.into_inner();
    let filter = OutboxFilter::parse(
        q.to.as_deref().filter(|s| !s.is_empty()),
        q.channel.as_deref().filter(|s| !s.is_empty()),
        q.project_id.as_deref().filter(|s| !s.is_empty()),
        q.limit,
    )?;
    let rows = outbox::list(&state.services.pool, &viewer, &filter).await?;
    Ok(HttpResponse::Ok().json(ConsoleOutput {
        status_code: 200,
        request_id: &request_id,
        project_id: match viewer {
            Viewer::Project(id) => Some(id.as_str().to_owned()),
            Viewer::Operator => None,
        },
        messages: rows.into_iter().map(ConsoleMessage::from).collect(),
    }))
}
