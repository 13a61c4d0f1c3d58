//! The fake provider: delivers into a PostgreSQL outbox that staging reads through
//! `/v1/sandbox/messages` and the console at `/sandbox/`, so every replica sees every message.
//! The outbox row is written with the message's record, in the same statement as its code
//! ([`Receipt::outbox`]): a send to the fake provider commits once, as one to a real provider
//! does.
//!
//! Like Twilio's test credentials it honours magic recipient numbers, so staging can walk
//! every error path without a real provider (documented in `docs/providers.md`):
//!
//! | To             | Result                              | Twilio code |
//! |----------------|-------------------------------------|-------------|
//! | `+15005550001` | invalid number                      | 21211       |
//! | `+15005550002` | cannot route to this number         | 21612       |
//! | `+15005550003` | country not allowed                 | 21408       |
//! | `+15005550004` | unsubscribed (replied STOP)         | 21610       |
//! | `+15005550009` | not SMS-capable                     | 21614       |
//! | `+15005550010` | premium-rate number                 | 21268       |
//! | `+15005550011` | provider misconfigured              | 20003       |
//! | `+15005550012` | provider unavailable (retryable)    | 503         |
//!
//! Magic numbers are not written to the outbox.

use async_trait::async_trait;

use super::{OutboundMessage, ProviderError, Receipt, Rejection, SmsProvider};
use crate::store;

const NAME: &str = "fake";

pub struct FakeProvider;

/// The outcome a magic number scripts, if `to` is one.
pub fn magic(to: &str) -> Option<ProviderError> {
    let rejected = |reason, code: &str| ProviderError::Rejected {
        provider: NAME,
        reason,
        code: Some(code.into()),
    };
    Some(match to {
        "+15005550001" => rejected(Rejection::InvalidNumber, "21211"),
        "+15005550002" => rejected(Rejection::InvalidNumber, "21612"),
        "+15005550003" => rejected(Rejection::CountryNotAllowed, "21408"),
        "+15005550004" => rejected(Rejection::Unsubscribed, "21610"),
        "+15005550009" => rejected(Rejection::NotCapable, "21614"),
        "+15005550010" => rejected(Rejection::PremiumNumber, "21268"),
        "+15005550011" => ProviderError::Misconfigured {
            provider: NAME,
            detail: "magic number: authentication failed".into(),
            code: Some("20003".into()),
        },
        "+15005550012" => ProviderError::Retryable {
            provider: NAME,
            detail: "magic number: service unavailable".into(),
            code: Some("http_503".into()),
            retry_after: None,
        },
        _ => return None,
    })
}

#[async_trait]
impl SmsProvider for FakeProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError> {
        if let Some(scripted) = magic(message.to.as_e164()) {
            return Err(scripted);
        }
        let id = store::row_id();
        Ok(Receipt {
            provider: NAME,
            provider_message_id: Some(store::messages::fake_message_id(id)),
            status: "delivered".into(),
            outbox: Some(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhoneNumber;

    #[test]
    fn magic_numbers_are_valid_numbers_so_they_reach_the_provider() {
        for n in 1..=12 {
            let to = format!("+150055500{n:02}");
            if magic(&to).is_some() {
                assert!(PhoneNumber::parse(&to).is_ok(), "{to} must parse");
            }
        }
        assert!(magic("+14155552671").is_none());
    }
}
