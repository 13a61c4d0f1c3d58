//! Outbound message providers: the `SmsProvider` trait, its classified errors, and the
//! router the use cases call (retries with backoff inside a deadline, failover along a
//! chain, a circuit breaker per provider). One file per provider.

pub mod breaker;
pub mod fake;
pub mod twilio;
pub mod vonage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;

use crate::domain::ids::ProjectId;
use crate::domain::{Channel, Locale, PhoneNumber};

use breaker::{Breaker, BreakerSettings, Permit};

/// One message to deliver.
#[derive(Debug)]
pub struct OutboundMessage<'a> {
    pub project: &'a ProjectId,
    pub to: &'a PhoneNumber,
    pub channel: Channel,
    /// Contains the passcode: never logged, never stored outside the fake outbox.
    pub body: &'a str,
    /// The bare passcode, for providers that fill it into a pre-approved template
    /// (Twilio WhatsApp `ContentVariables`). Never logged.
    pub code: &'a str,
    /// How long delivery is still useful (the code's lifetime).
    pub validity: Duration,
    /// The locale of the body's text (the fake outbox shows it to staging).
    pub locale: Locale,
}

/// What a provider said when it accepted a message.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub provider: &'static str,
    pub provider_message_id: Option<String>,
    pub status: String,
    /// The fake provider's delivery: the id of the outbox row that the message's record
    /// writes in the same statement as its code (`store::passcodes::record_issued`), so
    /// staging reads a message once its code can be authenticated, and a send commits once.
    pub outbox: Option<uuid::Uuid>,
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
    #[error("{provider} is misconfigured: {detail} (provider code {code:?})")]
    Misconfigured {
        provider: &'static str,
        detail: String,
        code: Option<String>,
    },
    #[error("{provider} is temporarily unavailable: {detail} (provider code {code:?})")]
    Retryable {
        provider: &'static str,
        detail: String,
        code: Option<String>,
        retry_after: Option<Duration>,
    },
    /// Every try failed, but at least one may have delivered the message anyway (it timed out,
    /// or the connection was lost after the request was written): the code must stay valid.
    #[error("{provider}: delivery unknown ({detail})")]
    Unconfirmed {
        provider: &'static str,
        detail: String,
    },
}

impl ProviderError {
    pub fn outcome(&self) -> Outcome {
        match self {
            ProviderError::Rejected { .. } => Outcome::Rejected,
            ProviderError::Misconfigured { .. } => Outcome::Misconfigured,
            ProviderError::Retryable { .. } | ProviderError::Unconfirmed { .. } => {
                Outcome::Retryable
            }
        }
    }

    /// Whether the provider may have accepted the message although this attempt failed.
    fn maybe_delivered(&self) -> bool {
        matches!(self, ProviderError::Retryable { .. })
            && matches!(self.code(), Some("timeout" | "transport"))
    }

    /// The provider's own error code (`21211`, `20429`, `http_503`, `timeout`…), if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            ProviderError::Rejected { code, .. }
            | ProviderError::Misconfigured { code, .. }
            | ProviderError::Retryable { code, .. } => code.as_deref(),
            ProviderError::Unconfirmed { .. } => None,
        }
    }
}

/// The result of one attempt, as reported to [`observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Rejected,
    Retryable,
    Misconfigured,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Rejected => "rejected",
            Outcome::Retryable => "retryable",
            Outcome::Misconfigured => "misconfigured",
        }
    }
}

/// What happened on one provider request.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub provider: &'static str,
    pub outcome: Outcome,
    /// The provider's error code as a string; `None` on success.
    pub code: Option<&'a str>,
    pub elapsed: Duration,
}

/// The ONE observation point for provider traffic. Metrics hook: at merge the lead adds
/// `metrics::provider_request(attempt.provider, attempt.outcome.as_str(), attempt.code,
/// attempt.elapsed)` here. Today it only emits a tracing event.
pub fn observe(attempt: &Attempt<'_>) {
    crate::metrics::provider_request(
        attempt.provider,
        attempt.outcome.as_str(),
        attempt.code,
        attempt.elapsed,
    );
    let elapsed_ms = u64::try_from(attempt.elapsed.as_millis()).unwrap_or(u64::MAX);
    let outcome = attempt.outcome.as_str();
    // A delivered message is logged once, as "passcode sent"; an attempt that failed is
    // worth its own line (a failover's first leg, a rejected number).
    if attempt.outcome == Outcome::Ok {
        tracing::debug!(
            provider = attempt.provider,
            outcome,
            elapsed_ms,
            "provider attempt"
        );
    } else {
        tracing::info!(
            provider = attempt.provider,
            outcome,
            code = attempt.code.unwrap_or(""),
            elapsed_ms,
            "provider attempt"
        );
    }
}

/// Circuit transitions. Metrics hook: at merge the lead adds
/// `metrics::circuit_open(provider, open)` here.
pub fn observe_circuit(provider: &'static str, open: bool) {
    crate::metrics::circuit_open(provider, open);
    if open {
        tracing::warn!(
            provider,
            circuit = "open",
            "provider circuit opened: skipping it until the cool-down ends"
        );
    } else {
        tracing::info!(provider, circuit = "closed", "provider circuit closed");
    }
}

#[async_trait]
pub trait SmsProvider: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whether this provider can deliver on `channel` at all; the router skips it otherwise.
    fn supports(&self, _channel: Channel) -> bool {
        true
    }
    async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError>;
}

/// How hard the router tries before giving up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per provider (the first one included).
    pub max_attempts: u32,
    /// Everything (all attempts, backoff and failover) fits in this.
    pub deadline: Duration,
    /// Longest a single request may take.
    pub request_timeout: Duration,
    /// First backoff; doubles per retry, full jitter.
    pub backoff_base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            deadline: Duration::from_secs(6),
            request_timeout: Duration::from_millis(2500),
            backoff_base: Duration::from_millis(100),
        }
    }
}

struct Link {
    provider: Arc<dyn SmsProvider>,
    breaker: Breaker,
}

/// What the use cases send through: the primary first, then the failover chain, each behind
/// its own circuit breaker.
#[derive(Clone)]
pub struct Router {
    chain: Arc<Vec<Link>>,
    policy: RetryPolicy,
}

impl Router {
    /// A single provider, default policy (tests and `dev`).
    pub fn new(primary: Arc<dyn SmsProvider>) -> Self {
        Self::with_chain(
            vec![primary],
            RetryPolicy::default(),
            BreakerSettings::default(),
        )
    }

    /// `chain[0]` is the primary; the rest are tried in order after it fails retryably.
    pub fn with_chain(
        chain: Vec<Arc<dyn SmsProvider>>,
        policy: RetryPolicy,
        breaker: BreakerSettings,
    ) -> Self {
        let chain = chain
            .into_iter()
            .map(|provider| Link {
                breaker: Breaker::new(provider.name(), breaker),
                provider,
            })
            .collect();
        Router {
            chain: Arc::new(chain),
            policy: RetryPolicy {
                max_attempts: policy.max_attempts.max(1),
                ..policy
            },
        }
    }

    pub fn primary_name(&self) -> &'static str {
        self.chain.first().map_or("none", |l| l.provider.name())
    }

    #[tracing::instrument(skip_all, fields(provider = self.primary_name(), channel = message.channel.as_str(), to = %message.to))]
    pub async fn send(&self, message: &OutboundMessage<'_>) -> Result<Receipt, ProviderError> {
        let deadline = Instant::now() + self.policy.deadline;
        let mut last: Option<ProviderError> = None;
        let mut maybe_delivered = false;
        let capable: Vec<&Link> = self
            .chain
            .iter()
            .filter(|l| l.provider.supports(message.channel))
            .collect();
        if capable.is_empty() {
            return Err(ProviderError::Misconfigured {
                provider: "router",
                detail: format!(
                    "no provider in provider.kind or provider.failover delivers {}",
                    message.channel.as_str()
                ),
                code: None,
            });
        }
        for (index, link) in capable.iter().enumerate() {
            let permit = match link.breaker.permit() {
                Permit::Denied => {
                    tracing::info!(
                        provider = link.provider.name(),
                        "circuit open: skipping provider"
                    );
                    continue;
                }
                p => p,
            };
            // Leave the providers after this one a fair share of what's left.
            let remaining = deadline.saturating_duration_since(Instant::now());
            let later = u32::try_from(capable.len() - index).unwrap_or(1);
            let budget_end = Instant::now() + remaining / later;
            let result = self
                .try_provider(link, permit, message, budget_end, &mut maybe_delivered)
                .await;
            match result {
                Ok(receipt) => return Ok(receipt),
                Err(e @ ProviderError::Retryable { .. }) => {
                    tracing::warn!(provider = link.provider.name(), error = %e, "provider failed retryably; failing over");
                    last = Some(e);
                }
                // A refusal of the number is authoritative; anything else after a possible
                // delivery must not withdraw the code the person may already hold.
                Err(e @ ProviderError::Misconfigured { .. }) if maybe_delivered => {
                    tracing::error!(error = %e, code = e.code().unwrap_or(""), "provider misconfigured: operator action needed");
                    return Err(unconfirmed(&e));
                }
                Err(permanent) => return Err(permanent),
            }
        }
        if maybe_delivered {
            if let Some(e) = &last {
                return Err(unconfirmed(e));
            }
        }
        Err(last.unwrap_or_else(|| ProviderError::Retryable {
            provider: "router",
            detail: "every provider's circuit is open".into(),
            code: Some("circuit_open".into()),
            retry_after: None,
        }))
    }

    async fn try_provider(
        &self,
        link: &Link,
        mut permit: Permit,
        message: &OutboundMessage<'_>,
        budget_end: Instant,
        maybe_delivered: &mut bool,
    ) -> Result<Receipt, ProviderError> {
        let name = link.provider.name();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let remaining = budget_end.saturating_duration_since(Instant::now());
            let timeout = remaining.min(self.policy.request_timeout);
            let started = Instant::now();
            let result = match tokio::time::timeout(timeout, link.provider.send(message)).await {
                Ok(r) => r,
                Err(_) => Err(ProviderError::Retryable {
                    provider: name,
                    detail: format!("no answer within {} ms", timeout.as_millis()),
                    code: Some("timeout".into()),
                    retry_after: None,
                }),
            };
            let elapsed = started.elapsed();
            if result.as_ref().is_err_and(ProviderError::maybe_delivered) {
                *maybe_delivered = true;
            }
            match &result {
                Ok(_) => observe(&Attempt {
                    provider: name,
                    outcome: Outcome::Ok,
                    code: None,
                    elapsed,
                }),
                Err(e) => observe(&Attempt {
                    provider: name,
                    outcome: e.outcome(),
                    code: e.code(),
                    elapsed,
                }),
            }
            match result {
                Ok(receipt) => {
                    link.breaker.record(permit, true);
                    return Ok(receipt);
                }
                Err(ProviderError::Retryable {
                    provider,
                    detail,
                    code,
                    retry_after,
                }) => {
                    link.breaker.record(permit, false);
                    let err = ProviderError::Retryable {
                        provider,
                        detail,
                        code,
                        retry_after,
                    };
                    if attempt >= self.policy.max_attempts {
                        return Err(err);
                    }
                    let wait = backoff(self.policy.backoff_base, attempt, retry_after);
                    // Sleeping past the budget would only end in a timeout: give up now.
                    if Instant::now() + wait + Duration::from_millis(50) >= budget_end {
                        return Err(err);
                    }
                    tokio::time::sleep(wait).await;
                    permit = match link.breaker.permit() {
                        Permit::Denied => return Err(err),
                        p => p,
                    };
                }
                Err(other) => {
                    // The provider answered: it is up, even if it refused this message.
                    link.breaker.record(permit, true);
                    return Err(other);
                }
            }
        }
    }
}

fn unconfirmed(last: &ProviderError) -> ProviderError {
    let provider = match last {
        ProviderError::Rejected { provider, .. }
        | ProviderError::Misconfigured { provider, .. }
        | ProviderError::Retryable { provider, .. }
        | ProviderError::Unconfirmed { provider, .. } => *provider,
    };
    ProviderError::Unconfirmed {
        provider,
        detail: format!("an attempt timed out or lost its connection; last error: {last}"),
    }
}

/// Full-jitter exponential backoff (`rand(0, base·2^(n-1))`), or the provider's
/// `Retry-After` when it gave one.
fn backoff(base: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after;
    }
    let cap = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
}

/// Masks digit runs long enough to be phone numbers (`+14155552671` → `+1415*****71`) in
/// provider-supplied text, which ends up in logs.
pub(crate) fn redact_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let run = i - start;
        if run == 0 {
            out.push(chars[i]);
            i += 1;
        } else if run >= 7 {
            out.extend(&chars[start..start + 4]);
            out.extend(std::iter::repeat_n('*', run - 6));
            out.extend(&chars[i - 2..i]);
        } else {
            out.extend(&chars[start..i]);
        }
    }
    out
}

/// What a provider's HTTP API answered: status, `Retry-After`, and the body text.
pub(crate) struct HttpReply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub text: String,
}

/// POSTs a form-encoded body (both providers' send APIs take one) and reads the whole reply;
/// transport failures become retryable errors. `auth` is Basic `(user, password)`.
pub(crate) async fn post_form(
    provider: &'static str,
    client: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
    body: String,
) -> Result<HttpReply, ProviderError> {
    let mut request = client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let text = response
        .text()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    Ok(HttpReply {
        status,
        retry_after,
        text,
    })
}

/// Builds a `Retryable` error from a transport failure (connect refused, reset, timeout).
pub(crate) fn transport_error(provider: &'static str, e: &reqwest::Error) -> ProviderError {
    let code = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    ProviderError::Retryable {
        provider,
        detail: format!("{code} error: {e}"),
        code: Some(code.into()),
        retry_after: None,
    }
}

/// `Retry-After` in whole seconds (HTTP-dates are treated as absent), capped at 30 s.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(30)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_has_phone_numbers_masked() {
        assert_eq!(
            redact_numbers("The 'To' number +14155552671 is not valid (21211)"),
            "The 'To' number +1415*****71 is not valid (21211)"
        );
        assert_eq!(redact_numbers("14155552671"), "1415*****71");
        assert_eq!(redact_numbers("HTTP 503"), "HTTP 503");
    }

    #[test]
    fn backoff_honours_retry_after_and_stays_under_the_exponential_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(
            backoff(base, 1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        for attempt in 1..=4u32 {
            for _ in 0..50 {
                let d = backoff(base, attempt, None);
                assert!(
                    d <= base * (1 << (attempt - 1)),
                    "{d:?} at attempt {attempt}"
                );
            }
        }
    }
}
