//! B2B organizations and members, as far as SMS MFA needs them.

use chrono::{DateTime, Utc};

use super::ids::{MemberId, OrganizationId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaPolicy {
    Optional,
    RequiredForAll,
}

impl MfaPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaPolicy::Optional => "OPTIONAL",
            MfaPolicy::RequiredForAll => "REQUIRED_FOR_ALL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OPTIONAL" => Some(MfaPolicy::Optional),
            "REQUIRED_FOR_ALL" => Some(MfaPolicy::RequiredForAll),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub slug: String,
    pub external_id: Option<String>,
    pub logo_url: String,
    pub mfa_policy: MfaPolicy,
    pub trusted_metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: MemberId,
    pub organization_id: OrganizationId,
    pub email_address: String,
    pub name: String,
    pub external_id: Option<String>,
    pub status: String,
    /// E.164, or empty when the member has none yet.
    pub mfa_phone_number: String,
    pub mfa_phone_number_verified: bool,
    pub mfa_enrolled: bool,
    pub default_mfa_method: String,
    pub trusted_metadata: serde_json::Value,
    pub untrusted_metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `set_mfa_enrollment` on authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentChange {
    Enroll,
    Unenroll,
}

/// A slug: 2–128 characters of `[A-Za-z0-9-._~]` (Stytch's rule).
pub fn valid_slug(s: &str) -> bool {
    (2..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_stytchs_character_rule() {
        assert!(valid_slug("acme-co.eu_1~"));
        for bad in ["a", "", "has space", "slash/no", "ümlaut", &"a".repeat(129)] {
            assert!(!valid_slug(bad), "{bad:?}");
        }
    }
}
