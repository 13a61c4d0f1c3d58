//! The fake provider: delivers into a PostgreSQL outbox that staging reads through
//! `/v1/sandbox/messages`, so every replica sees every message.

use async_trait::async_trait;
use sqlx::PgPool;
use uuid::Uuid;

use super::{OutboundMessage, ProviderError, Receipt, SmsProvider};
use crate::store;

pub struct FakeProvider {
    pool: PgPool,
}

impl FakeProvider {
    pub fn new(pool: PgPool) -> Self {
        FakeProvider { pool }
    }
}

#[async_trait]
impl SmsProvider for FakeProvider {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError> {
        let id = Uuid::new_v4();
        store::messages::outbox_insert(
            &self.pool,
            id,
            message.project,
            message.to.as_e164(),
            message.channel.as_str(),
            message.body,
        )
        .await
        .map_err(|e| ProviderError::Retryable {
            provider: "fake",
            detail: format!("outbox write failed: {e}"),
            retry_after: None,
        })?;
        Ok(Receipt {
            provider: "fake",
            provider_message_id: Some(format!("fake-{id}")),
            status: "delivered".into(),
        })
    }
}
