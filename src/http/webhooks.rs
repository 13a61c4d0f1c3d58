//! Provider webhooks. `POST /webhooks/twilio/status`: Twilio's delivery status callbacks,
//! accepted only with a valid `X-Twilio-Signature` (HMAC-SHA1 with the Auth Token over
//! `public_url` + path + query and the sorted form parameters). No Basic auth here.

use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;

use super::auth::Guarded;
use super::errors::{ApiError, ErrorBody, ErrorKind};
use super::openapi::TwilioStatusCallback;
use super::AppState;
use crate::otp::OtpError;
use crate::providers::twilio;
use crate::store::messages::{self, ReceiptOutcome};

/// What checking Twilio's signature needs; `None` parts mean every callback is refused.
pub struct TwilioWebhook {
    auth_token: Option<SecretString>,
    public_url: Option<String>,
}

impl TwilioWebhook {
    /// `provider.twilio.auth_token` and `public_url`, as the composition root hands them down.
    pub fn new(auth_token: Option<SecretString>, public_url: Option<&str>) -> Self {
        TwilioWebhook {
            auth_token,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        }
    }
}

/// A callback is a few hundred bytes of form, sent at once.
const MAX_CALLBACK_BYTES: usize = 16 * 1024;
/// How long the whole body may take to arrive: this route has no credentials, so a client
/// dripping a body byte by byte must not hold a connection (and its buffer) for ever.
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    use futures_util::StreamExt;
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::bad_request(format!("could not read request body: {e}")))?;
            if body.len() + chunk.len() > MAX_CALLBACK_BYTES {
                return Err(ApiError::bad_request(format!(
                    "request body exceeds {} KiB",
                    MAX_CALLBACK_BYTES / 1024
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(BODY_DEADLINE, read)
        .await
        .map_err(|_| {
            ApiError::bad_request(format!(
                "the request body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ))
        })?
}

fn forbidden() -> ApiError {
    ApiError::new(ErrorKind::InvalidSignature)
}

/// Twilio's delivery status callback for a message otpd sent.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/status",
    tag = "webhooks",
    operation_id = "webhooks_twilio_status",
    description = "No Basic auth: `X-Twilio-Signature` (HMAC-SHA1 with the Auth Token over `public_url` + path + query and the sorted form parameters) is required.",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's request signature")),
    request_body(content = TwilioStatusCallback, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "The receipt was recorded (or the message is unknown)"),
        (status = 400, description = "`bad_request`: not form-encoded, or `MessageSid`/`MessageStatus` missing", body = ErrorBody),
        (status = 403, description = "`invalid_signature`: missing or bad signature, or receipts are not configured", body = ErrorBody),
        (status = 500, description = "`internal_server_error`", body = ErrorBody),
        (status = 503, description = "`server_unavailable`: the database is unreachable", body = ErrorBody)
    )
)]
pub async fn twilio_status(
    _guard: Guarded,
    state: web::Data<AppState>,
    hook: web::Data<TwilioWebhook>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let (Some(token), Some(public_url)) = (&hook.auth_token, &hook.public_url) else {
        tracing::warn!(
            "twilio status callback refused: provider.twilio.auth_token or public_url is not set"
        );
        return Err(forbidden());
    };
    let Some(header) = req
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|h| h.to_str().ok())
    else {
        return Err(forbidden());
    };
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::bad_request("the callback body is not form-encoded"))?;
    // Exactly the StatusCallback URL we gave Twilio (a proxy may rewrite the path we see).
    let mut url = format!("{public_url}{}", twilio::STATUS_CALLBACK_PATH);
    if !req.query_string().is_empty() {
        url.push('?');
        url.push_str(req.query_string());
    }
    if !twilio::verify_signature(token, &url, &params, header) {
        tracing::warn!("twilio status callback with a bad signature refused");
        return Err(forbidden());
    }
    // Signed by Twilio, so this is defence in depth: PostgreSQL refuses NUL in text.
    if let Some((name, _)) = params
        .iter()
        .find(|(k, v)| super::text::has_refused(k) || super::text::has_refused(v))
    {
        return Err(ApiError::bad_request(format!(
            "invalid value for `{}`: control characters are not allowed",
            name.escape_debug()
        )));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(sid), Some(status)) = (
        get("MessageSid").or_else(|| get("SmsSid")),
        get("MessageStatus").or_else(|| get("SmsStatus")),
    ) else {
        return Err(ApiError::bad_request(
            "MessageSid and MessageStatus are required",
        ));
    };
    let error_code = get("ErrorCode").filter(|c| !c.is_empty());
    let outcome =
        messages::apply_receipt(&state.services.pool, twilio::NAME, sid, status, error_code)
            .await
            .map_err(|e| ApiError::from(OtpError::Store(e)))?;
    crate::metrics::delivery_receipt(twilio::NAME, status_label(status));
    tracing::info!(
        outcome = ?outcome,
        status,
        error_code = error_code.unwrap_or(""),
        "twilio status callback"
    );
    if outcome == ReceiptOutcome::UnknownMessage {
        tracing::info!("twilio status callback for a message not recorded yet: kept until it is");
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Twilio's message statuses as a closed label set; anything else is `other`, so a caller
/// with a valid signature still can't grow the metric's cardinality.
fn status_label(status: &str) -> &'static str {
    const KNOWN: [&str; 12] = [
        "accepted",
        "scheduled",
        "canceled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "received",
        "partially_delivered",
    ];
    KNOWN
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(status))
        .unwrap_or("other")
}
