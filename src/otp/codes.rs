//! The passcode life cycle shared by every flow: issue and deliver a code to a method, and
//! check a submitted code with a counted attempt.

use secrecy::SecretString;
use uuid::Uuid;

use crate::domain::project::Project;
use crate::domain::{Channel, ExpiryMinutes, Locale, Passcode, PhoneNumber};
use crate::fraud;
use crate::hashing::Slot;
use crate::limits;
use crate::messages::{Autofill, MessageRequest};
use crate::metrics;
use crate::providers::{OutboundMessage, ProviderError};
use crate::store::limits::{Admitted, NewOwner};
use crate::store::{self, passcodes};

use super::{OtpError, Services};

/// Where and how one code goes.
pub struct Delivery<'a> {
    /// What the code authenticates: a phone id (consumer) or member id (B2B).
    pub method_id: &'a str,
    pub to: &'a PhoneNumber,
    pub channel: Channel,
    pub expiry: ExpiryMinutes,
    pub locale: Locale,
    /// The caller asked for autofill metadata (`enable_autofill`).
    pub autofill: bool,
    /// The WebOTP domain for this message instead of the project's: the host of the allowed
    /// origin a browser called from (frontend surface), since WebOTP binds the code to the
    /// page's own origin.
    pub autofill_host: Option<&'a str>,
}

/// Every refusal a send can meet, decided before anything is stored or sent: country and
/// line type from the number itself, then a place in the hashing pool (shed with 503 when the
/// hash would wait too long, before anything is charged), then the shared limits in one
/// database round trip, which also says who owns the number (and with `new_owner` makes the
/// owner of a number without one). The slot is then spent by [`issue`].
pub async fn admit(
    svc: &Services,
    project: &Project,
    phone: &PhoneNumber,
    new_owner: Option<NewOwner<'_>>,
) -> Result<(Slot, Admitted), OtpError> {
    if let Err(refused) = fraud::screen(&project.settings, phone) {
        tracing::info!(to = %phone, reason = refused.reason().as_str(), "send refused");
        return Err(refused.into());
    }
    let slot = svc.hasher.admit().await?;
    let mut conn = svc.held.acquire().await?;
    let admitted = limits::admit_send(conn.start()?, project, phone, new_owner).await;
    let admitted = conn.finish(admitted)?;
    Ok((slot, admitted))
}

/// Every code of one method shares a salt derived from this (see `hashing`).
fn salt_seed(project: &Project, method_id: &str) -> String {
    format!("{}\0{method_id}", project.id)
}

/// Generates a code, hashes it, has the provider send it, then stores the hash (superseding
/// older codes for the method) with the message's record in one statement. A message the
/// provider refused leaves nothing behind; one whose fate is unknown keeps its code.
pub async fn issue(
    svc: &Services,
    project: &Project,
    slot: Slot,
    d: Delivery<'_>,
) -> Result<(), OtpError> {
    let code = Passcode::generate();
    // WhatsApp has no WebOTP or SMS Retriever to read the line, so it would only be noise.
    let autofill = (d.autofill && d.channel == Channel::Sms)
        .then(|| match d.autofill_host {
            Some(host) => Some(Autofill {
                domain: Some(host),
                app_hash: project.settings.android_app_hash.as_deref(),
            }),
            None => Autofill::from_settings(&project.settings),
        })
        .flatten();
    let rendered = svc.renderer.render(&MessageRequest {
        locale: d.locale,
        brand: project.brand(),
        code: code.expose(),
        minutes: d.expiry.minutes(),
        autofill,
    })?;
    let seed = salt_seed(project, d.method_id);
    let hash = svc
        .hasher
        .hash_in(
            slot,
            &SecretString::from(code.expose().to_owned()),
            Some(seed.as_bytes()),
        )
        .await?;

    let message = OutboundMessage {
        project: &project.id,
        to: d.to,
        channel: d.channel,
        body: &rendered.body,
        code: code.expose(),
        validity: std::time::Duration::from_secs(d.expiry.seconds().unsigned_abs()),
        locale: rendered.locale,
    };
    let country = d.to.region().unwrap_or("ZZ");
    let receipt = match svc.providers.send(&message).await {
        Ok(r) => {
            metrics::send(d.channel.as_str(), country, r.provider, "sent");
            r
        }
        Err(ProviderError::Unconfirmed { provider, detail }) => {
            // The message may be on its way: dropping the code would strand a person who got
            // it, and a 5xx would make the caller send a second one. The code is stored and
            // the send answers like a success; see docs/providers.md.
            metrics::send(d.channel.as_str(), country, provider, "unknown");
            tracing::warn!(to = %d.to, provider, detail = %redact(&detail), "delivery unknown: passcode kept");
            crate::providers::Receipt {
                provider,
                provider_message_id: None,
                status: "unknown".into(),
                outbox: None,
            }
        }
        Err(e) => {
            let (provider, outcome) = match &e {
                ProviderError::Rejected { provider, .. } => (*provider, "rejected"),
                ProviderError::Misconfigured { provider, .. }
                | ProviderError::Retryable { provider, .. }
                | ProviderError::Unconfirmed { provider, .. } => (*provider, "failed"),
            };
            metrics::send(d.channel.as_str(), country, provider, outcome);
            return Err(e.into());
        }
    };
    let code_row = passcodes::NewPasscode {
        id: store::row_id(),
        project: &project.id,
        method_id: d.method_id,
        channel: d.channel.as_str(),
        destination: d.to.as_e164(),
        code_hash: &hash,
        max_attempts: i32::try_from(svc.max_attempts).unwrap_or(5),
        ttl_seconds: d.expiry.seconds(),
    };
    let message_row = store::messages::SentMessage {
        id: store::row_id(),
        project: &project.id,
        channel: d.channel.as_str(),
        to: d.to.as_e164(),
        provider: receipt.provider,
        provider_message_id: receipt.provider_message_id.as_deref(),
        status: &receipt.status,
        segments: i32::try_from(rendered.info.segments).unwrap_or(i32::MAX),
        encoding: rendered.info.encoding.as_str(),
        outbox: receipt.outbox.map(|id| store::messages::OutboxRow {
            id,
            body: &rendered.body,
            locale: rendered.locale.as_str(),
        }),
    };
    record_issued(svc, &code_row, &message_row).await?;
    tracing::info!(to = %d.to, provider = receipt.provider, segments = rendered.info.segments, "passcode sent");
    Ok(())
}

/// A concealed send's decoy (see `send`): a random code nobody receives, hashed like a real
/// one and stored under the concealed phone id with the real expiry and attempt count, so
/// authenticating against that id behaves as against a real number's. No message is sent or
/// recorded.
pub async fn store_decoy(
    svc: &Services,
    project: &Project,
    slot: Slot,
    method_id: &str,
    req: &super::send::SendRequest,
) -> Result<(), OtpError> {
    let code = Passcode::generate();
    let seed = salt_seed(project, method_id);
    let hash = svc
        .hasher
        .hash_in(
            slot,
            &SecretString::from(code.expose().to_owned()),
            Some(seed.as_bytes()),
        )
        .await?;
    passcodes::record_decoy(
        &svc.pool,
        &passcodes::NewPasscode {
            id: store::row_id(),
            project: &project.id,
            method_id,
            channel: req.channel.as_str(),
            destination: req.recipient.e164(),
            code_hash: &hash,
            max_attempts: i32::try_from(svc.max_attempts).unwrap_or(5),
            ttl_seconds: req.expiry.seconds(),
        },
    )
    .await?;
    Ok(())
}

/// Stores a code the provider has taken, with its message record. The person may already be
/// reading it, so a failed write is tried again (twice, 50 and 250 ms later) before the send
/// fails; a retry that finds the code already stored (the earlier try committed, its answer
/// lost) is a success.
async fn record_issued(
    svc: &Services,
    code: &passcodes::NewPasscode<'_>,
    message: &store::messages::SentMessage<'_>,
) -> Result<(), OtpError> {
    let mut backoff = std::time::Duration::from_millis(50);
    let mut tries = 1;
    loop {
        let mut conn = svc.held.acquire().await?;
        let recorded = passcodes::record_issued(conn.start()?, code, message).await;
        let recorded = conn.finish(recorded);
        drop(conn);
        match recorded {
            Ok(()) => return Ok(()),
            Err(e) if tries > 1 && e.is_conflict_on(passcodes::PRIMARY_KEY) => return Ok(()),
            Err(e) if tries == 3 => {
                tracing::error!(error = %e, provider = message.provider, "a sent passcode could not be stored; the send fails");
                return Err(e.into());
            }
            Err(e) => {
                tracing::warn!(error = %e, tries, "storing a sent passcode failed; trying again");
                tokio::time::sleep(backoff).await;
                backoff *= 5;
                tries += 1;
            }
        }
    }
}

fn redact(detail: &str) -> String {
    crate::providers::redact_numbers(detail)
}

/// Charges the guess budget and counts one attempt against the method's newest code (one
/// statement), then compares the hash (see [`verify`]). Returns the code's id, which the caller
/// uses (`passcodes::consume`). The hashing slot is taken first, so a request shed for overload
/// charges no guess and counts no attempt.
pub async fn check(
    svc: &Services,
    project: &Project,
    method_id: &str,
    code: &Passcode,
) -> Result<Uuid, OtpError> {
    let slot = svc.hasher.admit().await?;
    let key = limits::guess_key(method_id);
    let budget = limits::guess_budget(&project.settings.limits, &key);
    let attempt = passcodes::begin_attempt(&svc.pool, &project.id, method_id, &budget).await?;
    verify(svc, slot, attempt, code).await
}

/// Judges a counted attempt: one argon2 computation checks the newest code and the one it
/// superseded. Returns the newest code's id when it matched.
pub async fn verify(
    svc: &Services,
    slot: Slot,
    attempt: passcodes::Attempt,
    code: &Passcode,
) -> Result<Uuid, OtpError> {
    let (id, hash, older) = match attempt {
        passcodes::Attempt::GuessBudget(wait_ms) => {
            return Err(limits::guess_refused(wait_ms).into())
        }
        passcodes::Attempt::NoCode => {
            metrics::authentication("not_found");
            return Err(OtpError::WrongCode);
        }
        passcodes::Attempt::Unusable(why) => {
            metrics::authentication(match why {
                passcodes::Unusable::Used => "not_found",
                passcodes::Unusable::Expired => "expired",
                passcodes::Unusable::Exhausted => "exhausted",
            });
            return Err(OtpError::UnableToAuth);
        }
        passcodes::Attempt::Counted {
            id,
            code_hash,
            superseded_hash,
        } => (id, code_hash, superseded_hash),
    };
    let submitted = SecretString::from(code.expose().to_owned());
    let (newest, superseded) = svc
        .hasher
        .verify_in(slot, &submitted, &hash, older.as_deref())
        .await?;
    if newest {
        return Ok(id);
    }
    // A superseded code is not "wrong": tell the caller to use the newest one.
    if superseded {
        // A superseded code is as dead as an expired one.
        metrics::authentication("expired");
        return Err(OtpError::UnableToAuth);
    }
    metrics::authentication("wrong_code");
    tracing::info!(outcome = "wrong_code", "passcode rejected");
    Err(OtpError::WrongCode)
}
