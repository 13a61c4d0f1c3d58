//! Twilio Programmable Messaging: `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded, HTTP Basic auth. Sends only fields that exist in Twilio's OpenAPI description
//! (`CreateMessageRequest`) and classifies every answer into a `ProviderError`. Also the
//! `X-Twilio-Signature` computation the status-callback webhook checks.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha1::Sha1;

use super::{
    post_form, redact_numbers, HttpReply, OutboundMessage, ProviderError, Receipt, Rejection,
    SmsProvider,
};
use crate::domain::Channel;

pub const NAME: &str = "twilio";
pub const STATUS_CALLBACK_PATH: &str = "/webhooks/twilio/status";

/// Who we authenticate as: Twilio recommends an API key; the Account SID + Auth Token pair
/// works too.
pub enum Credentials {
    AuthToken(SecretString),
    ApiKey { sid: String, secret: SecretString },
}

/// Who the message comes from.
pub enum Sender {
    From(String),
    MessagingService(String),
}

pub struct TwilioSettings {
    pub base_url: String,
    pub account_sid: String,
    pub credentials: Credentials,
    pub sender: Sender,
    /// `whatsapp:`-less E.164 WhatsApp sender; WhatsApp sends fail as misconfigured without it
    /// (unless a Messaging Service is configured).
    pub whatsapp_from: Option<String>,
    /// Approved content template (`HX…`) for WhatsApp; `{"1": code}` fills it.
    pub whatsapp_content_sid: Option<String>,
    /// `public_url` + [`STATUS_CALLBACK_PATH`], when `public_url` is set.
    pub status_callback: Option<String>,
}

pub struct TwilioProvider {
    client: reqwest::Client,
    settings: TwilioSettings,
    url: String,
}

impl TwilioProvider {
    pub fn new(client: reqwest::Client, settings: TwilioSettings) -> Self {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            settings.base_url.trim_end_matches('/'),
            settings.account_sid
        );
        TwilioProvider {
            client,
            settings,
            url,
        }
    }

    /// The form fields, in a stable order. Every key is a `CreateMessageRequest` property.
    pub fn form(
        &self,
        message: &OutboundMessage<'_>,
    ) -> Result<Vec<(&'static str, String)>, ProviderError> {
        let s = &self.settings;
        let mut form: Vec<(&'static str, String)> = Vec::with_capacity(6);
        match message.channel {
            Channel::Sms => {
                form.push(("To", message.to.as_e164().to_owned()));
                match &s.sender {
                    Sender::From(from) => form.push(("From", from.clone())),
                    Sender::MessagingService(sid) => {
                        form.push(("MessagingServiceSid", sid.clone()));
                    }
                }
                form.push(("Body", message.body.to_owned()));
            }
            Channel::WhatsApp => {
                form.push(("To", format!("whatsapp:{}", message.to.as_e164())));
                match (&s.whatsapp_from, &s.sender) {
                    (Some(from), _) => form.push(("From", format!("whatsapp:{from}"))),
                    (None, Sender::MessagingService(sid)) => {
                        form.push(("MessagingServiceSid", sid.clone()));
                    }
                    (None, Sender::From(_)) => return Err(ProviderError::Misconfigured {
                        provider: NAME,
                        detail:
                            "WhatsApp needs provider.twilio.whatsapp_from or messaging_service_sid"
                                .into(),
                        code: None,
                    }),
                }
                match &s.whatsapp_content_sid {
                    Some(content_sid) => {
                        form.push(("ContentSid", content_sid.clone()));
                        let vars = serde_json::json!({ "1": message.code }).to_string();
                        form.push(("ContentVariables", vars));
                    }
                    None => form.push(("Body", message.body.to_owned())),
                }
            }
        }
        if let Some(cb) = &s.status_callback {
            form.push(("StatusCallback", cb.clone()));
        }
        // 1–36000 s per Twilio; a code nobody can use any more is better dropped than sent.
        let validity = message.validity.as_secs().clamp(1, 36_000);
        form.push(("ValidityPeriod", validity.to_string()));
        Ok(form)
    }
}

/// Twilio's 201 body (only what we read). `num_segments` is a string in Twilio's schema.
#[derive(Debug, Deserialize)]
struct Created {
    sid: Option<String>,
    status: Option<String>,
    error_code: Option<i64>,
    #[allow(dead_code)]
    num_segments: Option<String>,
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Deserialize)]
struct TwilioErrorBody {
    code: Option<i64>,
    message: Option<String>,
    #[allow(dead_code)]
    more_info: Option<String>,
    #[allow(dead_code)]
    status: Option<u16>,
}

#[async_trait]
impl SmsProvider for TwilioProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError> {
        let form = self.form(message)?;
        // serde_urlencoded percent-encodes `+` as `%2B` (a bare `+` would decode as a space).
        let body =
            serde_urlencoded::to_string(&form).map_err(|e| ProviderError::Misconfigured {
                provider: NAME,
                detail: format!("cannot encode the request: {e}"),
                code: None,
            })?;
        let (user, password) = match &self.settings.credentials {
            Credentials::AuthToken(token) => (self.settings.account_sid.as_str(), token),
            Credentials::ApiKey { sid, secret } => (sid.as_str(), secret),
        };
        let HttpReply {
            status,
            retry_after: after,
            text,
        } = post_form(
            NAME,
            &self.client,
            &self.url,
            Some((user, password.expose_secret())),
            body,
        )
        .await?;
        if (200..300).contains(&status) {
            let created: Created = match serde_json::from_str(&text) {
                Ok(c) => c,
                Err(e) => {
                    // Twilio took the message; we just can't read its id.
                    tracing::warn!(error = %e, "twilio accepted a message with an unreadable body");
                    return Ok(Receipt {
                        provider: NAME,
                        provider_message_id: None,
                        status: "unknown".into(),
                        outbox: None,
                    });
                }
            };
            let state = created.status.unwrap_or_else(|| "queued".into());
            if matches!(state.as_str(), "failed" | "undelivered" | "canceled") {
                return Err(classify(
                    status,
                    created.error_code,
                    None,
                    "message created already failed",
                ));
            }
            return Ok(Receipt {
                provider: NAME,
                provider_message_id: created.sid,
                status: state,
                outbox: None,
            });
        }
        let parsed: Option<TwilioErrorBody> = serde_json::from_str(&text).ok();
        let code = parsed.as_ref().and_then(|b| b.code);
        let detail = parsed
            .and_then(|b| b.message)
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(classify(status, code, after, &detail))
    }
}

/// Twilio's answer → our classification. Retry decisions are by HTTP status (429, 5xx), as
/// Twilio advises; recipient problems are by error code.
pub fn classify(
    http: u16,
    code: Option<i64>,
    retry_after: Option<Duration>,
    detail: &str,
) -> ProviderError {
    let code_str = code.map_or_else(|| format!("http_{http}"), |c| c.to_string());
    let detail = &redact_numbers(detail);
    let rejected = |reason| ProviderError::Rejected {
        provider: NAME,
        reason,
        code: Some(code_str.clone()),
    };
    match code {
        Some(21211 | 21612) => return rejected(Rejection::InvalidNumber),
        Some(21614 | 21635) => return rejected(Rejection::NotCapable),
        Some(21408) => return rejected(Rejection::CountryNotAllowed),
        Some(21610) => return rejected(Rejection::Unsubscribed),
        Some(21268) => return rejected(Rejection::PremiumNumber),
        Some(20429) => {
            return ProviderError::Retryable {
                provider: NAME,
                detail: detail.to_owned(),
                code: Some(code_str),
                retry_after,
            }
        }
        _ => {}
    }
    if matches!(http, 429 | 500 | 502 | 503 | 504) {
        return ProviderError::Retryable {
            provider: NAME,
            detail: detail.to_owned(),
            code: Some(code_str),
            retry_after,
        };
    }
    // 20003 (credentials), 21606/21212 (sender), 63016 (WhatsApp template) and anything we
    // don't know: an operator has to look. The detail is Twilio's message, never our token.
    ProviderError::Misconfigured {
        provider: NAME,
        detail: format!("HTTP {http}: {detail}"),
        code: Some(code_str),
    }
}

/// `base64(HMAC-SHA1(auth_token, url + name1 + value1 + name2 + value2 …))`, params sorted
/// by name (and value, for repeated names) — Twilio's `X-Twilio-Signature`.
pub fn signature(auth_token: &SecretString, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut data = String::from(url);
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.expose_secret().as_bytes()) else {
        // HMAC accepts keys of any length; this arm is unreachable in practice.
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Constant-time check of `header` against the signature for `url`, also trying the URL
/// with the default port added or removed (Twilio is inconsistent about it).
pub fn verify_signature(
    auth_token: &SecretString,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    use subtle::ConstantTimeEq;
    let mut ok = false;
    for candidate in url_variants(url) {
        let expected = signature(auth_token, &candidate, params);
        ok |= bool::from(expected.as_bytes().ct_eq(header.as_bytes()));
    }
    ok
}

fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        let Some(rest) = url.strip_prefix(scheme) else {
            continue;
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some(host) = authority.strip_suffix(port) {
            out.push(format!("{scheme}{host}{path}"));
        } else if !authority.contains(':') {
            out.push(format!("{scheme}{authority}{port}{path}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn signature_matches_twilios_published_vector() {
        let token = SecretString::from("12345");
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(signature(&token, url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify_signature(
            &token,
            url,
            &p,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        // Twilio sometimes signs with the default port spelled out.
        let with_port = signature(
            &token,
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &p,
        );
        assert!(verify_signature(&token, url, &p, &with_port));
        assert!(!verify_signature(
            &token,
            url,
            &p,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ"
        ));
        assert!(!verify_signature(
            &SecretString::from("1234"),
            url,
            &p,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn classification_follows_the_issue_table() {
        let reason = |code| match classify(400, Some(code), None, "x") {
            ProviderError::Rejected { reason, .. } => Some(reason),
            _ => None,
        };
        assert_eq!(reason(21211), Some(Rejection::InvalidNumber));
        assert_eq!(reason(21612), Some(Rejection::InvalidNumber));
        assert_eq!(reason(21614), Some(Rejection::NotCapable));
        assert_eq!(reason(21635), Some(Rejection::NotCapable));
        assert_eq!(reason(21408), Some(Rejection::CountryNotAllowed));
        assert_eq!(reason(21610), Some(Rejection::Unsubscribed));
        assert_eq!(reason(21268), Some(Rejection::PremiumNumber));
        assert!(matches!(
            classify(401, Some(20003), None, "x"),
            ProviderError::Misconfigured { .. }
        ));
        assert!(matches!(
            classify(400, Some(21606), None, "x"),
            ProviderError::Misconfigured { .. }
        ));
        assert!(matches!(
            classify(429, Some(20429), None, "x"),
            ProviderError::Retryable { .. }
        ));
        for http in [500, 502, 503, 504] {
            assert!(matches!(
                classify(http, None, None, "x"),
                ProviderError::Retryable { .. }
            ));
        }
        for http in [400, 401, 403, 404, 405, 422] {
            assert!(!matches!(
                classify(http, None, None, "x"),
                ProviderError::Retryable { .. }
            ));
        }
    }
}
