//! Sending a passcode (consumer `send` and `login_or_create`, SMS and WhatsApp).

use secrecy::SecretString;
use uuid::Uuid;

use crate::domain::ids::{PhoneId, UserId, UserRef};
use crate::domain::project::Project;
use crate::domain::user::{Name, UserStatus};
use crate::domain::{Channel, ExpiryMinutes, Locale, Passcode, PhoneNumber};
use crate::messages::{Autofill, MessageRequest};
use crate::providers::OutboundMessage;
use crate::store::{self, passcodes, users as db, StoreError};

use super::{OtpError, Services};

/// Who the code goes to: a real number, or Stytch's sandbox number in a test project.
#[derive(Debug)]
pub enum Recipient {
    Sandbox,
    Phone(PhoneNumber),
}

impl Recipient {
    fn e164(&self) -> &str {
        match self {
            Recipient::Sandbox => crate::domain::SANDBOX_NUMBER,
            Recipient::Phone(p) => p.as_e164(),
        }
    }
}

/// How the user behind the number is found.
#[derive(Debug)]
pub enum Target {
    /// `send`: the number must belong to a user...
    Existing,
    /// ...or be attached (unverified) to this one.
    AttachTo(UserRef),
    /// `login_or_create`: make the user if the number is new.
    LoginOrCreate { pending: bool },
}

#[derive(Debug)]
pub struct SendRequest {
    pub recipient: Recipient,
    pub channel: Channel,
    pub expiry: ExpiryMinutes,
    pub locale: Locale,
    /// `enable_autofill`: add the project's autofill line (SMS only).
    pub autofill: bool,
    pub target: Target,
}

#[derive(Debug)]
pub struct SendOutcome {
    pub user_id: UserId,
    pub phone_id: PhoneId,
    pub user_created: bool,
}

#[tracing::instrument(skip_all, fields(project = %project.id, channel = req.channel.as_str()))]
pub async fn send(
    svc: &Services,
    project: &Project,
    req: SendRequest,
) -> Result<SendOutcome, OtpError> {
    if let Recipient::Phone(phone) = &req.recipient {
        let region = phone.region().unwrap_or("ZZ");
        if !project.settings.allows_region(region) {
            return Err(OtpError::CountryNotAllowed(region.to_owned()));
        }
    }
    let outcome = resolve_owner(svc, project, &req).await?;
    let Recipient::Phone(phone) = &req.recipient else {
        // The sandbox number sends nothing; `000000` authenticates it.
        return Ok(outcome);
    };

    let code = Passcode::generate();
    // WhatsApp has no WebOTP or SMS Retriever to read the line, so it would only be noise.
    let autofill = (req.autofill && req.channel == Channel::Sms)
        .then(|| Autofill::from_settings(&project.settings))
        .flatten();
    let rendered = svc.renderer.render(&MessageRequest {
        locale: req.locale,
        brand: project.brand(),
        code: code.expose(),
        minutes: req.expiry.minutes(),
        autofill,
    })?;
    let hash = svc
        .hasher
        .hash(&SecretString::from(code.expose().to_owned()))
        .await?;
    let passcode_id = Uuid::new_v4();
    passcodes::insert(
        &svc.pool,
        passcodes::NewPasscode {
            id: passcode_id,
            project: &project.id,
            method_id: outcome.phone_id.as_str(),
            channel: req.channel.as_str(),
            code_hash: &hash,
            max_attempts: i32::try_from(svc.max_attempts).unwrap_or(5),
            ttl_seconds: req.expiry.seconds(),
        },
    )
    .await?;

    let message = OutboundMessage {
        project: &project.id,
        to: phone,
        channel: req.channel,
        body: &rendered.body,
        validity: std::time::Duration::from_secs(req.expiry.seconds().unsigned_abs()),
    };
    let receipt = match svc.providers.send(&message).await {
        Ok(r) => r,
        Err(e) => {
            // The person never got this code: withdraw it so the previous one stays newest.
            if let Err(del) = passcodes::delete(&svc.pool, passcode_id).await {
                tracing::error!(error = %del, "could not withdraw an undelivered passcode");
            }
            return Err(e.into());
        }
    };
    store::messages::record_sent(
        &svc.pool,
        store::messages::SentMessage {
            id: Uuid::new_v4(),
            project: &project.id,
            channel: req.channel.as_str(),
            to: phone.as_e164(),
            provider: receipt.provider,
            provider_message_id: receipt.provider_message_id.as_deref(),
            status: &receipt.status,
            segments: i32::try_from(rendered.info.segments).unwrap_or(i32::MAX),
            encoding: rendered.info.encoding.as_str(),
        },
    )
    .await?;
    tracing::info!(to = %phone, provider = receipt.provider, segments = rendered.info.segments, "passcode sent");
    Ok(outcome)
}

async fn resolve_owner(
    svc: &Services,
    project: &Project,
    req: &SendRequest,
) -> Result<SendOutcome, OtpError> {
    let e164 = req.recipient.e164();
    let existing = db::find_phone_by_number(&svc.pool, &project.id, e164).await?;
    match (&req.target, existing) {
        (Target::Existing, Some(p)) | (Target::LoginOrCreate { .. }, Some(p)) => Ok(SendOutcome {
            user_id: p.user_id,
            phone_id: p.phone_id,
            user_created: false,
        }),
        (Target::Existing, None) => Err(OtpError::PhoneNotFound),
        (Target::AttachTo(user), existing) => {
            let user_id = db::resolve_user(&svc.pool, &project.id, user)
                .await?
                .ok_or(OtpError::UserNotFound)?;
            match existing {
                Some(p) if p.user_id == user_id => Ok(SendOutcome {
                    user_id,
                    phone_id: p.phone_id,
                    user_created: false,
                }),
                Some(_) => Err(OtpError::DuplicatePhone),
                None => {
                    let phone_id = PhoneId::generate(project.env());
                    let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
                    db::insert_phone(&mut conn, &phone_id, &project.id, &user_id, e164)
                        .await
                        .map_err(|e| {
                            if e.is_conflict_on(db::PHONE_TAKEN) {
                                OtpError::DuplicatePhone
                            } else {
                                OtpError::Store(e)
                            }
                        })?;
                    Ok(SendOutcome {
                        user_id,
                        phone_id,
                        user_created: false,
                    })
                }
            }
        }
        (Target::LoginOrCreate { pending }, None) => {
            create_for_number(svc, project, e164, *pending).await
        }
    }
}

/// Creates the user and phone in one transaction. When a concurrent call wins the race for
/// the number, this one rolls back and answers with the winner's user, so N concurrent calls
/// make exactly one user and none fails.
async fn create_for_number(
    svc: &Services,
    project: &Project,
    e164: &str,
    pending: bool,
) -> Result<SendOutcome, OtpError> {
    let env = project.env();
    let user_id = UserId::generate(env);
    let phone_id = PhoneId::generate(env);
    let mut tx = svc.pool.begin().await.map_err(StoreError::from)?;
    let empty = serde_json::json!({});
    db::insert_user(
        &mut tx,
        db::NewUser {
            id: &user_id,
            project: &project.id,
            status: if pending {
                UserStatus::Pending
            } else {
                UserStatus::Active
            },
            name: &Name::default(),
            external_id: None,
            trusted_metadata: &empty,
            untrusted_metadata: &empty,
        },
    )
    .await?;
    if db::insert_phone_if_absent(&mut tx, &phone_id, &project.id, &user_id, e164).await? {
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(user_id = %user_id, "user created by login_or_create");
        return Ok(SendOutcome {
            user_id,
            phone_id,
            user_created: true,
        });
    }
    tx.rollback().await.map_err(StoreError::from)?;
    let winner = db::find_phone_by_number(&svc.pool, &project.id, e164)
        .await?
        .ok_or(OtpError::PhoneNotFound)?;
    Ok(SendOutcome {
        user_id: winner.user_id,
        phone_id: winner.phone_id,
        user_created: false,
    })
}
