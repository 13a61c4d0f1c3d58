//! Vonage SMS API: `POST {base_url}/sms/json`, form-encoded, credentials in the body. Vonage
//! answers HTTP 200 even when it refuses a message: `messages[0].status != "0"` is a failure.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    post_form, redact_numbers, HttpReply, OutboundMessage, ProviderError, Receipt, Rejection,
    SmsProvider,
};
use crate::domain::Channel;
use crate::messages::encoding::{analyse, Encoding};

pub const NAME: &str = "vonage";

pub struct VonageSettings {
    pub base_url: String,
    pub api_key: String,
    pub api_secret: SecretString,
    pub from: String,
}

pub struct VonageProvider {
    client: reqwest::Client,
    settings: VonageSettings,
    url: String,
}

impl VonageProvider {
    pub fn new(client: reqwest::Client, settings: VonageSettings) -> Self {
        let url = format!("{}/sms/json", settings.base_url.trim_end_matches('/'));
        VonageProvider {
            client,
            settings,
            url,
        }
    }

    /// The form fields; `to` is the E.164 number without `+` (Vonage's `\d{7,15}`).
    pub fn form(&self, message: &OutboundMessage<'_>) -> Vec<(&'static str, String)> {
        let s = &self.settings;
        let mut form = vec![
            ("api_key", s.api_key.clone()),
            ("api_secret", s.api_secret.expose_secret().to_owned()),
            ("from", s.from.clone()),
            (
                "to",
                message.to.as_e164().trim_start_matches('+').to_owned(),
            ),
            ("text", message.body.to_owned()),
        ];
        if analyse(message.body).encoding == Encoding::Ucs2 {
            form.push(("type", "unicode".into()));
        }
        // Vonage's ttl is in milliseconds.
        let ttl = u64::try_from(message.validity.as_millis()).unwrap_or(u64::MAX);
        form.push(("ttl", ttl.max(20_000).to_string()));
        form
    }
}

#[derive(Debug, Deserialize)]
struct SmsResponse {
    #[serde(default)]
    messages: Vec<SmsMessage>,
}

#[derive(Debug, Deserialize)]
struct SmsMessage {
    status: String,
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    #[serde(rename = "error-text")]
    error_text: Option<String>,
}

#[async_trait]
impl SmsProvider for VonageProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The SMS API has no WhatsApp; with Vonage first in the chain WhatsApp goes to the next.
    fn supports(&self, channel: Channel) -> bool {
        channel == Channel::Sms
    }

    async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError> {
        if message.channel == Channel::WhatsApp {
            return Err(ProviderError::Misconfigured {
                provider: NAME,
                detail: "the Vonage SMS API does not deliver WhatsApp messages".into(),
                code: None,
            });
        }
        let body = serde_urlencoded::to_string(self.form(message)).map_err(|e| {
            ProviderError::Misconfigured {
                provider: NAME,
                detail: format!("cannot encode the request: {e}"),
                code: None,
            }
        })?;
        let HttpReply {
            status: http,
            retry_after: after,
            text,
        } = post_form(NAME, &self.client, &self.url, None, body).await?;
        if matches!(http, 429 | 500 | 502 | 503 | 504) {
            return Err(ProviderError::Retryable {
                provider: NAME,
                detail: format!("HTTP {http}"),
                code: Some(format!("http_{http}")),
                retry_after: after,
            });
        }
        if http != 200 {
            return Err(ProviderError::Misconfigured {
                provider: NAME,
                detail: format!("HTTP {http}"),
                code: Some(format!("http_{http}")),
            });
        }
        let parsed: SmsResponse =
            serde_json::from_str(&text).map_err(|e| ProviderError::Misconfigured {
                provider: NAME,
                detail: format!("unreadable response: {e}"),
                code: None,
            })?;
        let Some(first) = parsed.messages.into_iter().next() else {
            return Err(ProviderError::Misconfigured {
                provider: NAME,
                detail: "response lists no messages".into(),
                code: None,
            });
        };
        if first.status == "0" {
            return Ok(Receipt {
                provider: NAME,
                provider_message_id: first.message_id,
                status: "accepted".into(),
                outbox: None,
            });
        }
        Err(classify(
            &first.status,
            first.error_text.as_deref().unwrap_or(""),
        ))
    }
}

/// Vonage's per-message `status` → our classification, the same meanings as Twilio's codes.
pub fn classify(status: &str, error_text: &str) -> ProviderError {
    let code = Some(status.to_owned());
    let error_text = &redact_numbers(error_text);
    let rejected = |reason| ProviderError::Rejected {
        provider: NAME,
        reason,
        code: code.clone(),
    };
    match status {
        // 1 throttled, 5 internal error: Vonage says try again.
        "1" | "5" => ProviderError::Retryable {
            provider: NAME,
            detail: format!("status {status}: {error_text}"),
            code,
            retry_after: None,
        },
        // 6 unroutable destination, 33 number de-activated.
        "6" | "33" => rejected(Rejection::InvalidNumber),
        // 7 number barred (opted out).
        "7" => rejected(Rejection::Unsubscribed),
        // 2/3 bad parameters, 4 credentials, 8/9 account, 15 sender, 29 trial whitelist, …
        _ => ProviderError::Misconfigured {
            provider: NAME,
            detail: format!("status {status}: {error_text}"),
            code,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_like_twilios() {
        assert!(matches!(
            classify("1", "Throttled"),
            ProviderError::Retryable { .. }
        ));
        assert!(matches!(
            classify("6", ""),
            ProviderError::Rejected {
                reason: Rejection::InvalidNumber,
                ..
            }
        ));
        assert!(matches!(
            classify("7", ""),
            ProviderError::Rejected {
                reason: Rejection::Unsubscribed,
                ..
            }
        ));
        assert!(matches!(
            classify("4", "Bad Credentials"),
            ProviderError::Misconfigured { .. }
        ));
    }
}
