//! The one place errors become Stytch-shaped responses: a table from each error kind to its
//! HTTP status, `error_type` and default message, and the renderer every error goes through.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::ids::IdError;
use crate::domain::limits::RefusalReason;
use crate::otp::OtpError;
use crate::providers::{ProviderError, Rejection};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    InvalidPhoneNumber,
    InvalidPhoneNumberCountryCode,
    UnsubscribedPhoneNumber,
    InvalidEmail,
    InvalidExpiration,
    InvalidCode,
    InvalidMethodId,
    InvalidUserId,
    InvalidPhoneId,
    DuplicatePhoneNumber,
    DuplicateEmail,
    DuplicateUserExternalId,
    DuplicateMemberEmail,
    DuplicateMemberExternalId,
    DuplicateMemberPhoneNumber,
    OrganizationSlugAlreadyUsed,
    OrganizationExternalIdAlreadyUsed,
    OperationRestrictedByOrganizationMfaMethods,
    UnauthorizedCredentials,
    OriginNotAllowed,
    InvalidSignature,
    UnableToAuthOtpCode,
    OtpCodeNotFound,
    UserNotFound,
    PhoneNumberNotFound,
    OrganizationNotFound,
    MemberNotFound,
    MemberPhoneNumberNotFound,
    InvalidOrganizationSlug,
    SessionNotFound,
    TooManySessionArguments,
    NoSessionArguments,
    IntermediateSessionNotFound,
    InvalidIntermediateSessionTokenForOrganization,
    TrustedAuthTokenProfileNotFound,
    InvalidToken,
    JwtInvalidIssuer,
    JwtInvalidAudience,
    JwtInvalidClaims,
    InvalidSessionDuration,
    InvalidSessionCustomClaims,
    RouteNotFound,
    MethodNotAllowed,
    TooManyRequests,
    TooFewTokensAuthenticated,
    UnsupportedPhoneNumberType,
    InternalServerError,
    ServiceUnavailable,
}

impl ErrorKind {
    /// Every kind, so the documentation's error table can be checked against this one.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::BadRequest,
        ErrorKind::InvalidPhoneNumber,
        ErrorKind::InvalidPhoneNumberCountryCode,
        ErrorKind::UnsubscribedPhoneNumber,
        ErrorKind::InvalidEmail,
        ErrorKind::InvalidExpiration,
        ErrorKind::InvalidCode,
        ErrorKind::InvalidMethodId,
        ErrorKind::InvalidUserId,
        ErrorKind::InvalidPhoneId,
        ErrorKind::DuplicatePhoneNumber,
        ErrorKind::DuplicateEmail,
        ErrorKind::DuplicateUserExternalId,
        ErrorKind::DuplicateMemberEmail,
        ErrorKind::DuplicateMemberExternalId,
        ErrorKind::DuplicateMemberPhoneNumber,
        ErrorKind::OrganizationSlugAlreadyUsed,
        ErrorKind::OrganizationExternalIdAlreadyUsed,
        ErrorKind::OperationRestrictedByOrganizationMfaMethods,
        ErrorKind::UnauthorizedCredentials,
        ErrorKind::OriginNotAllowed,
        ErrorKind::InvalidSignature,
        ErrorKind::UnableToAuthOtpCode,
        ErrorKind::OtpCodeNotFound,
        ErrorKind::UserNotFound,
        ErrorKind::PhoneNumberNotFound,
        ErrorKind::OrganizationNotFound,
        ErrorKind::MemberNotFound,
        ErrorKind::MemberPhoneNumberNotFound,
        ErrorKind::InvalidOrganizationSlug,
        ErrorKind::SessionNotFound,
        ErrorKind::TooManySessionArguments,
        ErrorKind::NoSessionArguments,
        ErrorKind::IntermediateSessionNotFound,
        ErrorKind::InvalidIntermediateSessionTokenForOrganization,
        ErrorKind::TrustedAuthTokenProfileNotFound,
        ErrorKind::InvalidToken,
        ErrorKind::JwtInvalidIssuer,
        ErrorKind::JwtInvalidAudience,
        ErrorKind::JwtInvalidClaims,
        ErrorKind::InvalidSessionDuration,
        ErrorKind::InvalidSessionCustomClaims,
        ErrorKind::RouteNotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::TooManyRequests,
        ErrorKind::TooFewTokensAuthenticated,
        ErrorKind::UnsupportedPhoneNumberType,
        ErrorKind::InternalServerError,
        ErrorKind::ServiceUnavailable,
    ];

    /// `(status, error_type, default message)`.
    pub fn table(self) -> (StatusCode, &'static str, &'static str) {
        use ErrorKind::*;
        match self {
            BadRequest => (StatusCode::BAD_REQUEST, "bad_request", "The submitted request is invalid."),
            InvalidPhoneNumber => (
                StatusCode::BAD_REQUEST,
                "invalid_phone_number",
                "phone_number format is invalid. Ensure the phone number is in the E.164 format.",
            ),
            InvalidPhoneNumberCountryCode => (
                StatusCode::BAD_REQUEST,
                "invalid_phone_number_country_code",
                "The phone number's country code is invalid, unsupported, or disabled for this project.",
            ),
            UnsubscribedPhoneNumber => (
                StatusCode::BAD_REQUEST,
                "unsubscribed_phone_number",
                "Phone number is unsubscribed. The user must text START to resubscribe before messages can be sent.",
            ),
            InvalidEmail => (StatusCode::BAD_REQUEST, "invalid_email", "email format is invalid."),
            InvalidExpiration => (
                StatusCode::BAD_REQUEST,
                "invalid_expiration",
                "expiration_minutes must be between 1 and 10.",
            ),
            InvalidCode => (StatusCode::BAD_REQUEST, "invalid_code", "code format is invalid: it must be 6 digits."),
            InvalidMethodId => (StatusCode::BAD_REQUEST, "invalid_method_id", "method_id format is invalid."),
            InvalidUserId => (StatusCode::BAD_REQUEST, "invalid_user_id", "user_id format is invalid."),
            InvalidPhoneId => (StatusCode::BAD_REQUEST, "invalid_phone_id", "phone_id format is invalid."),
            DuplicatePhoneNumber => (
                StatusCode::BAD_REQUEST,
                "duplicate_phone_number",
                "A user with this phone number already exists in this project.",
            ),
            DuplicateEmail => (
                StatusCode::BAD_REQUEST,
                "duplicate_email",
                "This email address is already in use here.",
            ),
            DuplicateUserExternalId => (
                StatusCode::BAD_REQUEST,
                "duplicate_user_external_id",
                "A user with this external_id already exists in this project.",
            ),
            DuplicateMemberEmail => (
                StatusCode::BAD_REQUEST,
                "duplicate_member_email",
                "A member with this email address already exists in this organization.",
            ),
            DuplicateMemberExternalId => (
                StatusCode::BAD_REQUEST,
                "duplicate_member_external_id",
                "A member with this external_id already exists in this organization.",
            ),
            DuplicateMemberPhoneNumber => (
                StatusCode::BAD_REQUEST,
                "duplicate_member_phone_number",
                "A member with the specified phone number already exists for this organization.",
            ),
            OrganizationSlugAlreadyUsed => (
                StatusCode::BAD_REQUEST,
                "organization_slug_already_used",
                "An organization with this organization_slug already exists in this project.",
            ),
            OrganizationExternalIdAlreadyUsed => (
                StatusCode::BAD_REQUEST,
                "organization_external_id_already_used",
                "An organization with this organization_external_id already exists in this project.",
            ),
            OperationRestrictedByOrganizationMfaMethods => (
                StatusCode::FORBIDDEN,
                "operation_restricted_by_organization_mfa_methods",
                "The organization's mfa_methods are RESTRICTED and allowed_mfa_methods does not include sms_otp.",
            ),
            UnauthorizedCredentials => (StatusCode::UNAUTHORIZED, "unauthorized_credentials", "Unauthorized credentials."),
            OriginNotAllowed => (
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "This Origin is not among the public token's allowed origins (Stytch's authorized domains).",
            ),
            InvalidSignature => (
                StatusCode::FORBIDDEN,
                "invalid_signature",
                "The webhook signature is missing or invalid.",
            ),
            UnableToAuthOtpCode => (
                StatusCode::UNAUTHORIZED,
                "unable_to_auth_otp_code",
                "The passcode could not be authenticated because it was either already used, superseded, expired or out of attempts. Send another passcode to this user.",
            ),
            OtpCodeNotFound => (
                StatusCode::NOT_FOUND,
                "otp_code_not_found",
                "The passcode provided was incorrect and could not be authenticated.",
            ),
            UserNotFound => (StatusCode::NOT_FOUND, "user_not_found", "User could not be found."),
            PhoneNumberNotFound => (StatusCode::NOT_FOUND, "phone_number_not_found", "Phone number could not be found."),
            OrganizationNotFound => (
                StatusCode::NOT_FOUND,
                "organization_not_found",
                "Organization could not be found.",
            ),
            MemberNotFound => (StatusCode::NOT_FOUND, "member_not_found", "Member could not be found in this organization."),
            MemberPhoneNumberNotFound => (
                StatusCode::BAD_REQUEST,
                "member_phone_number_not_found",
                "The member has no MFA phone number: pass mfa_phone_number.",
            ),
            InvalidOrganizationSlug => (
                StatusCode::BAD_REQUEST,
                "invalid_organization_slug",
                "organization_slug must be 2 to 128 characters of A-Z a-z 0-9 - . _ ~",
            ),
            SessionNotFound => (
                StatusCode::NOT_FOUND,
                "session_not_found",
                "Session could not be found: it is unknown, expired or revoked.",
            ),
            TooManySessionArguments => (
                StatusCode::BAD_REQUEST,
                "too_many_session_arguments",
                "Pass only one of intermediate_session_token, session_token and session_jwt.",
            ),
            NoSessionArguments => (
                StatusCode::BAD_REQUEST,
                "no_session_arguments",
                "SMS OTPs are a second factor: pass exactly one of intermediate_session_token, session_token or session_jwt of this member.",
            ),
            IntermediateSessionNotFound => (
                StatusCode::NOT_FOUND,
                "intermediate_session_not_found",
                "Intermediate session could not be found for this member: it is unknown, expired or already used.",
            ),
            InvalidIntermediateSessionTokenForOrganization => (
                StatusCode::BAD_REQUEST,
                "invalid_intermediate_session_token_for_organization",
                "The intermediate_session_token was issued for another organization.",
            ),
            TrustedAuthTokenProfileNotFound => (
                StatusCode::NOT_FOUND,
                "trusted_auth_token_profile_not_found",
                "Trusted auth token profile could not be found in this project.",
            ),
            InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The trusted auth token is not a JWT signed by one of the profile's keys.",
            ),
            JwtInvalidIssuer => (
                StatusCode::UNAUTHORIZED,
                "jwt_invalid_issuer",
                "The trusted auth token's iss is not the profile's issuer.",
            ),
            JwtInvalidAudience => (
                StatusCode::UNAUTHORIZED,
                "jwt_invalid_audience",
                "The trusted auth token's aud does not name the profile's audience.",
            ),
            JwtInvalidClaims => (
                StatusCode::UNAUTHORIZED,
                "jwt_invalid_claims",
                "The trusted auth token is expired, not yet valid, or lacks a mapped claim.",
            ),
            InvalidSessionDuration => (
                StatusCode::BAD_REQUEST,
                "invalid_session_duration",
                "session_duration_minutes must be between 5 and 527040.",
            ),
            InvalidSessionCustomClaims => (
                StatusCode::BAD_REQUEST,
                "invalid_session_custom_claims",
                "session_custom_claims must be an object of at most 4096 bytes without reserved claims.",
            ),
            RouteNotFound => (StatusCode::NOT_FOUND, "route_not_found", "There is no such endpoint."),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This endpoint does not accept this HTTP method; the Allow header lists those it does.",
            ),
            TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "Too many requests have been made."),
            TooFewTokensAuthenticated => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_few_tokens_authenticated",
                "Too many requests without sufficient percentage of tokens authenticated.",
            ),
            UnsupportedPhoneNumberType => (
                StatusCode::BAD_REQUEST,
                "unsupported_phone_number_type",
                "This kind of phone number cannot receive passcodes.",
            ),
            InternalServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                "Oops, something seems to have gone wrong. Quote the request_id to your operator.",
            ),
            ServiceUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_unavailable",
                "The service is temporarily overloaded or its database is unreachable. Retry shortly.",
            ),
        }
    }
}

/// An error on its way to the client. The body's `request_id` is filled in by the request
/// middleware, which is the only code that knows it.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(kind: ErrorKind) -> Self {
        ApiError {
            kind,
            message: None,
            retry_after: None,
        }
    }

    pub fn with_message(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: Some(message.into()),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::with_message(ErrorKind::BadRequest, message)
    }

    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or(self.kind.table().2)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.table().1, self.message())
    }
}

/// The 500 and 503 every route can answer, documented once (OpenAPI only).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ServerErrors {
    #[response(
        status = 500,
        description = "`internal_server_error` (opaque; the log has the cause)"
    )]
    Internal(ErrorBody<'static>),
    #[response(
        status = 503,
        description = "`server_unavailable` (Stytch's name), with `Retry-After`"
    )]
    Unavailable(ErrorBody<'static>),
}

/// The 401 every `/v1` route answers to bad credentials (OpenAPI only).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Unauthorized {
    #[response(status = 401, description = "`unauthorized_credentials`")]
    Credentials(ErrorBody<'static>),
}

/// Every error: Stytch's error body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    pub status_code: u16,
    pub request_id: &'a str,
    /// Stytch's error name, e.g. `invalid_phone_number`, `unauthorized_credentials`.
    pub error_type: &'a str,
    pub error_message: &'a str,
    /// `https://stytch.com/docs/api/errors/<status>`.
    pub error_url: String,
}

/// Renders any error body; the middleware calls it with the request id.
pub fn render(
    status: StatusCode,
    error_type: &str,
    message: &str,
    request_id: &str,
    retry_after: Option<u64>,
) -> HttpResponse {
    let body = ErrorBody {
        status_code: status.as_u16(),
        request_id,
        error_type,
        error_message: message,
        error_url: format!("https://stytch.com/docs/api/errors/{}", status.as_u16()),
    };
    let mut res = HttpResponse::build(status);
    if let Some(secs) = retry_after {
        res.insert_header(("Retry-After", secs.to_string()));
    }
    res.json(body)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind.table().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, error_type, _) = self.kind.table();
        render(status, error_type, self.message(), "", self.retry_after)
    }
}

impl From<IdError> for ApiError {
    fn from(e: IdError) -> Self {
        let kind = match e.kind {
            "user" => ErrorKind::InvalidUserId,
            "phone-number" => ErrorKind::InvalidPhoneId,
            _ => ErrorKind::BadRequest,
        };
        ApiError::with_message(kind, e.to_string())
    }
}

fn store_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(_) => ApiError::new(ErrorKind::ServiceUnavailable),
        // Serving with guessed settings would fail open (defaults allow US,CA and reset every
        // limit), so the project is refused until an operator repairs its row.
        StoreError::Settings { .. } => ApiError::with_message(
            ErrorKind::InternalServerError,
            "This project's stored settings cannot be read by this server, so it refuses to \
             serve the project rather than guess. Quote the request_id to your operator.",
        ),
        _ => ApiError::new(ErrorKind::InternalServerError),
    }
}

impl From<OtpError> for ApiError {
    fn from(e: OtpError) -> Self {
        use ErrorKind::*;
        // Every refusal passes here exactly once on its way to the client.
        if let Some(reason) = e.refusal() {
            crate::metrics::refusal(reason.as_str());
            if reason == RefusalReason::GuessBudget {
                crate::metrics::authentication("rate_limited");
            }
        }
        match &e {
            OtpError::InvalidPhoneNumber(_) => ApiError::new(InvalidPhoneNumber),
            OtpError::CountryNotAllowed(region) => ApiError::with_message(
                InvalidPhoneNumberCountryCode,
                format!(
                    "Sending to region {region} is unsupported or not enabled for this project."
                ),
            ),
            OtpError::NumberTypeRefused(kind) => ApiError::with_message(
                UnsupportedPhoneNumberType,
                format!(
                    "The phone number is a {} number; passcodes go only to numbers that can receive SMS (mobile, and VoIP unless the project refuses it).",
                    kind.as_str().replace('_', " ")
                ),
            ),
            OtpError::Limited {
                reason,
                retry_after_secs,
            } => {
                let kind = if matches!(
                    reason,
                    RefusalReason::Conversion
                        | RefusalReason::PendingSends
                        | RefusalReason::NewNumberRate
                ) {
                    TooFewTokensAuthenticated
                } else {
                    TooManyRequests
                };
                ApiError {
                    retry_after: Some(*retry_after_secs),
                    message: Some(limit_message(*reason).to_owned()),
                    kind,
                }
            }
            OtpError::InvalidQuery(why) => ApiError::bad_request(*why),
            OtpError::InvalidEmail => ApiError::new(InvalidEmail),
            OtpError::UserNotFound => ApiError::new(UserNotFound),
            OtpError::PhoneNotFound => ApiError::new(PhoneNumberNotFound),
            OtpError::DuplicatePhone => ApiError::new(DuplicatePhoneNumber),
            OtpError::DuplicateEmail => ApiError::new(DuplicateEmail),
            OtpError::DuplicateExternalId => ApiError::new(DuplicateUserExternalId),
            OtpError::DuplicateMemberEmail => ApiError::new(DuplicateMemberEmail),
            OtpError::DuplicateMemberExternalId => ApiError::new(DuplicateMemberExternalId),
            OtpError::DuplicateMemberPhone => ApiError::new(DuplicateMemberPhoneNumber),
            OtpError::DuplicateOrganizationExternalId => {
                ApiError::new(OrganizationExternalIdAlreadyUsed)
            }
            OtpError::OrganizationNotFound => ApiError::new(OrganizationNotFound),
            OtpError::MemberNotFound => ApiError::new(MemberNotFound),
            OtpError::MemberPhoneNotFound => ApiError::new(MemberPhoneNumberNotFound),
            OtpError::MemberPhoneMismatch { verified } => ApiError::bad_request(if *verified {
                "mfa_phone_number: the member already has a verified MFA phone number; delete it (members.delete_mfa_phone_number) before setting another."
            } else {
                "mfa_phone_number does not match the member's existing MFA phone number; delete it (members.delete_mfa_phone_number) before using another."
            }),
            OtpError::SmsMfaRestricted => ApiError::new(OperationRestrictedByOrganizationMfaMethods),
            OtpError::DuplicateSlug => ApiError::new(OrganizationSlugAlreadyUsed),
            OtpError::WrongCode => ApiError::new(OtpCodeNotFound),
            OtpError::SessionNotFound => ApiError::new(SessionNotFound),
            OtpError::TooManySessionArguments => ApiError::new(TooManySessionArguments),
            OtpError::NoSessionArguments => ApiError::new(NoSessionArguments),
            OtpError::MfaProofRequired => ApiError::with_message(
                NoSessionArguments,
                "The member has an active MFA factor: pass their intermediate_session_token, session_token or session_jwt to send a passcode.",
            ),
            OtpError::IntermediateSessionNotFound => ApiError::new(IntermediateSessionNotFound),
            OtpError::IntermediateSessionWrongOrganization => {
                ApiError::new(InvalidIntermediateSessionTokenForOrganization)
            }
            OtpError::TrustedTokenProfileNotFound => ApiError::new(TrustedAuthTokenProfileNotFound),
            OtpError::TrustedTokenRefused(r) => {
                use crate::otp::trusted_tokens::Refusal;
                match r {
                    Refusal::Signature => ApiError::new(InvalidToken),
                    Refusal::Issuer => ApiError::new(JwtInvalidIssuer),
                    Refusal::Audience => ApiError::new(JwtInvalidAudience),
                    Refusal::Claims(c) => ApiError::with_message(
                        JwtInvalidClaims,
                        format!("The trusted auth token's claim `{c}` is missing, invalid, expired or not yet valid."),
                    ),
                    Refusal::Replayed => ApiError::with_message(
                        InvalidToken,
                        "This trusted auth token was already used: each token (its token id) is accepted once.",
                    ),
                    Refusal::Jwks => ApiError::with_message(
                        InvalidToken,
                        "The profile's JWKS could not be fetched, so the token cannot be verified.",
                    ),
                }
            }
            OtpError::InvalidClaims(m) => ApiError::with_message(InvalidSessionCustomClaims, m.clone()),
            OtpError::SigningKey(k) => {
                tracing::error!(error = %k, "session signing key failure");
                ApiError::new(InternalServerError)
            }
            OtpError::UnableToAuth => ApiError::new(UnableToAuthOtpCode),
            OtpError::Overloaded => {
                // Counted by otpd_hashing_shed_total; a line per shed request would itself
                // load a server that is shedding hundreds a second.
                tracing::debug!("hashing pool busy: shedding a request before any work");
                ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(ServiceUnavailable)
                }
            }
            OtpError::Provider(p) => provider_error(p),
            OtpError::Store(s) => {
                tracing::error!(error = %s, cause = ?std::error::Error::source(s), "store failure");
                store_error(s)
            }
            OtpError::Hashing(h) => {
                tracing::error!(error = %h, "hashing failure");
                ApiError::new(InternalServerError)
            }
            OtpError::Message(m) => {
                tracing::error!(error = %m, "message template failure");
                ApiError::new(InternalServerError)
            }
        }
    }
}

fn limit_message(reason: RefusalReason) -> &'static str {
    match reason {
        RefusalReason::RateLimit => "Too many passcodes were sent to this phone number recently. Retry after the Retry-After delay.",
        RefusalReason::DailyCap => "This phone number has received its daily maximum of passcodes.",
        RefusalReason::GuessBudget => "Too many wrong passcodes were entered for this phone number recently. Retry after the Retry-After delay.",
        RefusalReason::ClientLimit => "Too many requests have been made. Retry after the Retry-After delay.",
        RefusalReason::PrefixVelocity => "Too many passcodes were sent to this range of phone numbers recently.",
        RefusalReason::Conversion => "Too many requests without sufficient percentage of tokens authenticated: sends to this country are paused.",
        RefusalReason::PendingSends => "Too many passcodes sent to new phone numbers have not been authenticated yet: sends to new numbers are paused.",
        RefusalReason::NewNumberRate => "Passcodes are being sent to new phone numbers faster than people could be answering them: sends to new numbers are paused for a while.",
        RefusalReason::Budget => "The daily sending budget for this project or country is spent.",
        RefusalReason::Country | RefusalReason::NumberType => "This phone number cannot receive passcodes.",
    }
}

fn provider_error(p: &ProviderError) -> ApiError {
    use ErrorKind::*;
    match p {
        ProviderError::Rejected { reason, .. } => match reason {
            Rejection::InvalidNumber | Rejection::NotCapable => ApiError::new(InvalidPhoneNumber),
            Rejection::CountryNotAllowed => ApiError::new(InvalidPhoneNumberCountryCode),
            // The same refusal our own number-type screen gives, found by the provider.
            Rejection::PremiumNumber => ApiError::with_message(
                UnsupportedPhoneNumberType,
                "Premium-rate numbers cannot receive passcodes.",
            ),
            Rejection::Unsubscribed => ApiError::new(UnsubscribedPhoneNumber),
        },
        ProviderError::Misconfigured { .. } => {
            // Operator-facing: names the provider, its code and message; never a credential.
            tracing::error!(error = %p, code = p.code().unwrap_or(""), "provider misconfigured: operator action needed");
            ApiError::new(InternalServerError)
        }
        // The send use case answers these itself; reaching here is a provider path without
        // a passcode, where a retry is the right advice.
        ProviderError::Unconfirmed { .. } => {
            tracing::warn!(error = %p, "provider delivery unknown");
            ApiError {
                retry_after: Some(5),
                ..ApiError::new(ServiceUnavailable)
            }
        }
        ProviderError::Retryable { retry_after, .. } => {
            tracing::warn!(error = %p, "provider unavailable");
            ApiError {
                retry_after: Some(retry_after.map_or(5, |d| d.as_secs().max(1))),
                ..ApiError::new(ServiceUnavailable)
            }
        }
    }
}
