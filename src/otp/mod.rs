//! Use cases: users, sending and authenticating passcodes, project administration.
//! They orchestrate domain types, the store, the hasher and providers; no HTTP here.

pub mod authenticate;
pub mod b2b;
pub mod codes;
pub mod import;
pub mod import_source;
pub mod outbox;
pub mod projects;
pub mod public_tokens;
pub mod send;
pub mod sessions;
pub mod timing;
pub mod trusted_tokens;
pub mod users;

use std::sync::Arc;

use sqlx::PgPool;

use crate::domain::limits::RefusalReason;
use crate::domain::{NumberType, PhoneNumberError};
use crate::fraud::Screened;
use crate::hashing::{Hasher, HashingError};
use crate::messages::{RenderError, Renderer};
use crate::providers::{ProviderError, Router};
use crate::store::StoreError;

/// Everything the use cases need, built once in `startup`.
#[derive(Clone)]
pub struct Services {
    pub pool: PgPool,
    /// The request path's connections (`store::held`): the secret check, a send's admission
    /// and record, an authenticate's attempt and finish.
    pub held: Arc<crate::store::held::Held>,
    pub hasher: Hasher,
    pub providers: Router,
    pub renderer: Arc<Renderer>,
    pub max_attempts: u32,
    /// Recent real send durations, which concealed sends imitate.
    pub send_timings: Arc<timing::SendTimings>,
    /// The key behind a concealed send's stable ids (`conceal_unknown_numbers`).
    pub concealer: Arc<send::Concealer>,
    /// Session token hashing and the JWT signing keys.
    pub sessions: Arc<sessions::SessionKeys>,
    /// Trusted auth token profiles' JWKS, fetched and cached per profile.
    pub jwks: Arc<trusted_tokens::JwksCache>,
}

/// Who calls a use case, where it changes the outcome: the backend with the project secret
/// (`/v1`) vouches for the numbers it puts on its users and members, so the abuse rules judge
/// them as known (docs/abuse.md, "Numbers a backend vouched for"); a browser with a public
/// token (`/sdk/v1`) vouches for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Backend,
    Browser,
}

/// Makes `number` known to the abuse rules when the caller is the backend. Only the limits
/// read it: the number is neither verified nor owned by it.
async fn vouch(
    conn: impl sqlx::PgExecutor<'_>,
    caller: Caller,
    project: &crate::domain::ids::ProjectId,
    number: &str,
) -> Result<(), StoreError> {
    match caller {
        Caller::Backend => {
            crate::store::limits::vouch(
                conn,
                project,
                number,
                crate::store::limits::KnownBy::Vouched,
            )
            .await
        }
        Caller::Browser => Ok(()),
    }
}

/// Domain failures of the use cases; `http::errors` is the one place they become responses.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("invalid phone number: {0}")]
    InvalidPhoneNumber(#[from] PhoneNumberError),
    #[error("sending to region {0} is not enabled for this project")]
    CountryNotAllowed(String),
    #[error("{0} numbers cannot receive passcodes")]
    NumberTypeRefused(NumberType),
    #[error("refused by a limit ({})", reason.as_str())]
    Limited {
        reason: RefusalReason,
        retry_after_secs: u64,
    },
    #[error("invalid email address")]
    InvalidEmail,
    #[error("user not found")]
    UserNotFound,
    #[error("phone number not found")]
    PhoneNotFound,
    #[error("phone number already belongs to a user")]
    DuplicatePhone,
    #[error("email already belongs to a user")]
    DuplicateEmail,
    #[error("external id already in use")]
    DuplicateExternalId,
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("member not found")]
    MemberNotFound,
    #[error("member has no MFA phone number")]
    MemberPhoneNotFound,
    #[error("mfa_phone_number differs from the member's existing number")]
    MemberPhoneMismatch { verified: bool },
    #[error("the organization's MFA methods exclude sms_otp")]
    SmsMfaRestricted,
    #[error("member email already in use in the organization")]
    DuplicateMemberEmail,
    #[error("member external id already in use in the organization")]
    DuplicateMemberExternalId,
    #[error("member phone number already in use in the organization")]
    DuplicateMemberPhone,
    #[error("organization external id already in use")]
    DuplicateOrganizationExternalId,
    #[error("organization slug already in use")]
    DuplicateSlug,
    #[error("the passcode is wrong")]
    WrongCode,
    #[error("the passcode is expired, used, superseded or out of attempts")]
    UnableToAuth,
    #[error("session not found, expired or revoked")]
    SessionNotFound,
    #[error("more than one of intermediate_session_token, session_token and session_jwt")]
    TooManySessionArguments,
    #[error("none of intermediate_session_token, session_token and session_jwt was given")]
    NoSessionArguments,
    #[error("the member has an active MFA factor: a send needs their IST or session")]
    MfaProofRequired,
    #[error("intermediate session not found, expired, used or another member's")]
    IntermediateSessionNotFound,
    #[error("the intermediate session is for another organization")]
    IntermediateSessionWrongOrganization,
    #[error("trusted auth token profile not found")]
    TrustedTokenProfileNotFound,
    #[error("trusted auth token refused: {0}")]
    TrustedTokenRefused(trusted_tokens::Refusal),
    #[error("{0}")]
    InvalidClaims(String),
    #[error("signing key: {0}")]
    SigningKey(String),
    #[error("hashing queue is full")]
    Overloaded,
    /// A malformed query argument (the outbox's filters), with what is wrong.
    #[error("{0}")]
    InvalidQuery(&'static str),
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("hashing: {0}")]
    Hashing(HashingError),
    #[error("message: {0}")]
    Message(#[from] RenderError),
}

impl From<Screened> for OtpError {
    fn from(s: Screened) -> Self {
        match s {
            Screened::Country(region) => OtpError::CountryNotAllowed(region),
            Screened::NumberType(kind) => OtpError::NumberTypeRefused(kind),
        }
    }
}

impl OtpError {
    /// The abuse-protection rule behind this error, if it is a refusal.
    pub fn refusal(&self) -> Option<RefusalReason> {
        match self {
            OtpError::CountryNotAllowed(_) => Some(RefusalReason::Country),
            OtpError::NumberTypeRefused(_) => Some(RefusalReason::NumberType),
            OtpError::Limited { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

impl From<crate::limits::LimitError> for OtpError {
    fn from(e: crate::limits::LimitError) -> Self {
        match e {
            crate::limits::LimitError::Refused {
                reason,
                retry_after_secs,
            } => OtpError::Limited {
                reason,
                retry_after_secs,
            },
            crate::limits::LimitError::Store(s) => OtpError::Store(s),
        }
    }
}

impl From<HashingError> for OtpError {
    fn from(e: HashingError) -> Self {
        match e {
            HashingError::Overloaded => OtpError::Overloaded,
            other => OtpError::Hashing(other),
        }
    }
}
