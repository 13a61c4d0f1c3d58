//! Sending a passcode (consumer `send` and `login_or_create`, SMS and WhatsApp).

use crate::domain::ids::{PhoneId, UserId, UserRef};
use crate::domain::project::Project;
use crate::domain::user::UserStatus;
use crate::domain::{Channel, ExpiryMinutes, Locale, PhoneNumber};
use crate::hashing::Slot;
use crate::store::limits::{Admitted, NewOwner};
use crate::store::{users as db, StoreError};
use secrecy::SecretString;
use std::time::Instant;

use super::codes::{self, Delivery};
use super::{Caller, OtpError, Services};

/// Who the code goes to: a real number, or Stytch's sandbox number in a test project.
#[derive(Debug)]
pub enum Recipient {
    Sandbox,
    Phone(PhoneNumber),
}

impl Recipient {
    pub fn e164(&self) -> &str {
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
    /// The WebOTP domain to use instead of the project's (see [`Delivery::autofill_host`]).
    pub autofill_host: Option<String>,
    pub target: Target,
    /// The backend's attachment (`user_id`, or a session on `/v1`) vouches for the number.
    pub caller: Caller,
}

#[derive(Debug)]
pub struct SendOutcome {
    pub user_id: UserId,
    pub phone_id: PhoneId,
    pub user_created: bool,
}

/// The span's `created_user` is recorded when login_or_create makes the number's user, so the
/// send's one log line ("passcode sent") says so.
#[tracing::instrument(
    skip_all,
    fields(project = %project.id, channel = req.channel.as_str(), created_user = tracing::field::Empty)
)]
pub async fn send(
    svc: &Services,
    project: &Project,
    req: SendRequest,
) -> Result<SendOutcome, OtpError> {
    // Admission first: a send shed for overload or refused by a limit creates nothing. For
    // login_or_create the admission also makes the user of a new number, in the same round
    // trip.
    let fresh = match req.target {
        Target::LoginOrCreate { pending } => Some((
            UserId::generate(project.env()),
            PhoneId::generate(project.env()),
            UserStatus::from_pending(pending),
        )),
        Target::Existing | Target::AttachTo(_) => None,
    };
    let new_owner = fresh.as_ref().map(|(user, phone, status)| NewOwner {
        user,
        phone,
        status: status.as_str(),
    });
    // send(user_id): the user first, so an unknown one is refused before anything is charged,
    // and the backend's attachment vouches for the number before the admission judges it.
    // Vouching touches only the limits: the attachment below stays unverified and its
    // attacher's alone for 5 minutes, and the holder's login_or_create still ends it.
    let attach_to = match &req.target {
        Target::AttachTo(user) => {
            let id = db::resolve_user(&svc.pool, &project.id, user)
                .await?
                .ok_or(OtpError::UserNotFound)?;
            if let Recipient::Phone(phone) = &req.recipient {
                super::vouch(&svc.pool, req.caller, &project.id, phone.as_e164()).await?;
            }
            Some(id)
        }
        Target::Existing | Target::LoginOrCreate { .. } => None,
    };
    let (slot, admitted) = match &req.recipient {
        Recipient::Phone(phone) => {
            let (slot, admitted) = codes::admit(svc, project, phone, new_owner).await?;
            (Some(slot), Some(admitted))
        }
        Recipient::Sandbox => (None, None),
    };
    let outcome = match resolve_owner(svc, project, &req, admitted, attach_to).await {
        Err(OtpError::PhoneNotFound)
            if matches!(req.target, Target::Existing)
                && project.settings.limits.conceal_unknown_numbers =>
        {
            return concealed(svc, project, &req, slot).await;
        }
        other => other?,
    };
    if outcome.user_created {
        tracing::Span::current().record("created_user", tracing::field::display(&outcome.user_id));
    }
    let started = Instant::now();
    let (Recipient::Phone(phone), Some(slot)) = (&req.recipient, slot) else {
        // The sandbox number sends nothing; `000000` authenticates it.
        return Ok(outcome);
    };
    codes::issue(
        svc,
        project,
        slot,
        Delivery {
            method_id: outcome.phone_id.as_str(),
            to: phone,
            channel: req.channel,
            expiry: req.expiry,
            locale: req.locale,
            autofill: req.autofill,
            autofill_host: req.autofill_host.as_deref(),
        },
    )
    .await?;
    svc.send_timings.record(req.channel, started.elapsed());
    Ok(outcome)
}

/// What `send` answers for a number without a user when the project conceals that: the
/// ids a keyed hash of the project and number gives (stable, like a real number's, and
/// shaped like generated ones), a decoy code stored under that phone id (so wrong codes
/// count attempts and turn 401 after the last one, as a real number's do), the same hashing
/// work as a real send, and then a wait until it has taken as long as a recent real send
/// (which includes the provider's round trip), so neither the body, the timing nor the
/// authenticate answers tell. The limits above were charged as for any send.
async fn concealed(
    svc: &Services,
    project: &Project,
    req: &SendRequest,
    slot: Option<Slot>,
) -> Result<SendOutcome, OtpError> {
    let started = Instant::now();
    let target = svc.send_timings.sample(req.channel);
    let env = project.env();
    let e164 = req.recipient.e164();
    let user_id = UserId::from_uuid(env, svc.concealer.id(&project.id, e164, "user"));
    let phone_id = PhoneId::from_uuid(env, svc.concealer.id(&project.id, e164, "phone"));
    if let Some(slot) = slot {
        codes::store_decoy(svc, project, slot, phone_id.as_str(), req).await?;
    }
    tokio::time::sleep(target.saturating_sub(started.elapsed())).await;
    tracing::info!("send to a number without a user concealed");
    Ok(SendOutcome {
        user_id,
        phone_id,
        user_created: false,
    })
}

/// Derives the ids a concealed send answers: HMAC-SHA256 under a key derived from the pepper
/// for this purpose only, over the project, the number and the kind of id, cut to a version 4
/// UUID. Without the pepper they can't be told from random ones or linked across projects.
pub struct Concealer(crate::domain::secret::SecretHasher);

impl Concealer {
    pub fn new(pepper: &SecretString) -> Self {
        Concealer(crate::domain::secret::SecretHasher::for_purpose(
            pepper,
            b"otpd concealed-ids key v1",
        ))
    }

    fn id(&self, project: &crate::domain::ids::ProjectId, e164: &str, kind: &str) -> uuid::Uuid {
        let mac = self.0.hash(&format!("{project}\0{e164}\0{kind}"));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&mac[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// `admitted`: the number's owner as the admission found or made it (`None` when there was
/// no admission: the sandbox number). `attach_to`: `send(user_id)`'s user, resolved.
async fn resolve_owner(
    svc: &Services,
    project: &Project,
    req: &SendRequest,
    admitted: Option<Admitted>,
    attach_to: Option<UserId>,
) -> Result<SendOutcome, OtpError> {
    let e164 = req.recipient.e164();
    let (existing, created, attached) = match admitted {
        Some(a) => (a.owner, a.created, a.attached),
        None => (
            db::find_phone_by_number(&svc.pool, &project.id, e164).await?,
            false,
            false,
        ),
    };
    match (&req.target, existing) {
        // An unverified attachment is its attacher's only (login_or_create ended it in the
        // admission already).
        (Target::Existing, Some(_)) if attached => Err(OtpError::PhoneNotFound),
        (Target::Existing, Some(p)) | (Target::LoginOrCreate { .. }, Some(p)) => Ok(SendOutcome {
            user_id: p.user_id,
            phone_id: p.phone_id,
            user_created: created,
        }),
        // Stytch's sandbox number answers `send` in a test project without a prior user:
        // it gets one, so `000000` authenticates the returned phone id.
        (Target::Existing, None) if matches!(req.recipient, Recipient::Sandbox) => {
            let mut outcome = create_for_number(svc, project, e164, false).await?;
            outcome.user_created = false;
            Ok(outcome)
        }
        (Target::Existing, None) => Err(OtpError::PhoneNotFound),
        (Target::AttachTo(_), existing) => {
            let user_id = attach_to.ok_or(OtpError::UserNotFound)?;
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
                    db::attach_phone(&mut conn, &phone_id, &project.id, &user_id, e164)
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

/// Creates the user and phone in one statement (for the sandbox number, which has no
/// admission). When a concurrent call wins the race for the number, this one creates nothing
/// and answers with the winner's user, so N concurrent calls make exactly one user and none
/// fails.
async fn create_for_number(
    svc: &Services,
    project: &Project,
    e164: &str,
    pending: bool,
) -> Result<SendOutcome, OtpError> {
    let env = project.env();
    let made = db::create_phone_user(
        &svc.pool,
        &project.id,
        &UserId::generate(env),
        &PhoneId::generate(env),
        UserStatus::from_pending(pending),
        e164,
    )
    .await?;
    Ok(SendOutcome {
        user_id: made.user_id,
        phone_id: made.phone_id,
        user_created: made.created,
    })
}
