//! Outbound message providers: the `SmsProvider` trait, its classified errors, and the
//! router the use cases call. One file per provider.

pub mod fake;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::ids::ProjectId;
use crate::domain::{Channel, PhoneNumber};

/// One message to deliver.
#[derive(Debug)]
pub struct OutboundMessage<'a> {
    pub project: &'a ProjectId,
    pub to: &'a PhoneNumber,
    pub channel: Channel,
    /// Contains the passcode: never logged, never stored outside the fake outbox.
    pub body: &'a str,
    /// How long delivery is still useful (the code's lifetime).
    pub validity: Duration,
}

/// What a provider said when it accepted a message.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub provider: &'static str,
    pub provider_message_id: Option<String>,
    pub status: String,
}

/// Why a recipient was refused; permanent, and never worth another provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    InvalidNumber,
    CountryNotAllowed,
    Unsubscribed,
    PremiumNumber,
    NotCapable,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} refused the recipient ({reason:?}, provider code {code:?})")]
    Rejected {
        provider: &'static str,
        reason: Rejection,
        code: Option<String>,
    },
    /// Credentials or sender setup are wrong: an operator must act; retrying won't help.
    #[error("{provider} is misconfigured: {detail}")]
    Misconfigured {
        provider: &'static str,
        detail: String,
    },
    #[error("{provider} is temporarily unavailable: {detail}")]
    Retryable {
        provider: &'static str,
        detail: String,
        retry_after: Option<Duration>,
    },
}

#[async_trait]
pub trait SmsProvider: Send + Sync {
    fn name(&self) -> &'static str;
    async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError>;
}

/// What the use cases send through. Today one provider; retries and failover chains plug
/// in here without the callers changing.
#[derive(Clone)]
pub struct Router {
    primary: Arc<dyn SmsProvider>,
}

impl Router {
    pub fn new(primary: Arc<dyn SmsProvider>) -> Self {
        Router { primary }
    }

    pub fn primary_name(&self) -> &'static str {
        self.primary.name()
    }

    #[tracing::instrument(skip_all, fields(provider = self.primary.name(), channel = message.channel.as_str(), to = %message.to))]
    pub async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError> {
        self.primary.send(message).await
    }
}
