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

/// Organization settings in Stytch's names and values, stored as given and returned on read.
/// otpd performs no SSO, email, OAuth or connected-app flows, so only `mfa_methods` with
/// `allowed_mfa_methods` changes what it does; the rest is the caller's data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OrgSettings {
    pub sso_jit_provisioning: String,
    pub email_allowed_domains: Vec<String>,
    pub email_jit_provisioning: String,
    pub email_invites: String,
    pub auth_methods: String,
    pub allowed_auth_methods: Vec<String>,
    pub mfa_methods: String,
    pub allowed_mfa_methods: Vec<String>,
    pub oauth_tenant_jit_provisioning: String,
    pub allowed_oauth_tenants: serde_json::Map<String, serde_json::Value>,
    pub claimed_email_domains: Vec<String>,
    pub rbac_email_implicit_role_assignments: Vec<serde_json::Value>,
    pub first_party_connected_apps_allowed_type: String,
    pub allowed_first_party_connected_apps: Vec<String>,
    pub third_party_connected_apps_allowed_type: String,
    pub allowed_third_party_connected_apps: Vec<String>,
}

impl Default for OrgSettings {
    /// Stytch's documented defaults.
    fn default() -> Self {
        OrgSettings {
            sso_jit_provisioning: "ALL_ALLOWED".into(),
            email_allowed_domains: Vec::new(),
            email_jit_provisioning: "NOT_ALLOWED".into(),
            email_invites: "ALL_ALLOWED".into(),
            auth_methods: "ALL_ALLOWED".into(),
            allowed_auth_methods: Vec::new(),
            mfa_methods: "ALL_ALLOWED".into(),
            allowed_mfa_methods: Vec::new(),
            oauth_tenant_jit_provisioning: "NOT_ALLOWED".into(),
            allowed_oauth_tenants: serde_json::Map::new(),
            claimed_email_domains: Vec::new(),
            rbac_email_implicit_role_assignments: Vec::new(),
            first_party_connected_apps_allowed_type: "ALL_ALLOWED".into(),
            allowed_first_party_connected_apps: Vec::new(),
            third_party_connected_apps_allowed_type: "ALL_ALLOWED".into(),
            allowed_third_party_connected_apps: Vec::new(),
        }
    }
}

impl OrgSettings {
    /// Whether SMS passcodes may be used as a second factor in this organization.
    pub fn allows_sms_mfa(&self) -> bool {
        self.mfa_methods != "RESTRICTED" || self.allowed_mfa_methods.iter().any(|m| m == "sms_otp")
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
    pub settings: OrgSettings,
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
    /// Role ids assigned directly to the member.
    pub roles: Vec<String>,
    pub trusted_metadata: serde_json::Value,
    pub untrusted_metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which B2B search a cursor belongs to, so one search's cursor is refused by the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    Organizations,
    Members,
}

/// Where the next page of `organizations.search` or `members.search` starts: after this row
/// in `(created_at, id)` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B2bCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl B2bCursor {
    /// An opaque token: URL-safe base64 of `<kind>:<unix microseconds>:<id>`.
    pub fn encode(&self, kind: SearchKind) -> String {
        use base64::Engine as _;
        let tag = match kind {
            SearchKind::Organizations => "o",
            SearchKind::Members => "m",
        };
        let raw = format!("{tag}:{}:{}", self.created_at.timestamp_micros(), self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(kind: SearchKind, token: &str) -> Option<B2bCursor> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.splitn(3, ':');
        let (tag, micros, id) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = match kind {
            SearchKind::Organizations => tag == "o" && OrganizationId::parse(id).is_ok(),
            SearchKind::Members => tag == "m" && MemberId::parse(id).is_ok(),
        };
        if !ok {
            return None;
        }
        Some(B2bCursor {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.to_owned(),
        })
    }
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
    fn a_b2b_cursor_round_trips_and_is_refused_by_the_other_search() {
        let c = B2bCursor {
            created_at: DateTime::from_timestamp_micros(1_764_600_000_123_456).unwrap_or_default(),
            id: "organization-test-16d9ba61-97a1-4ba4-9720-b03761dc50c6".into(),
        };
        let t = c.encode(SearchKind::Organizations);
        assert_eq!(B2bCursor::decode(SearchKind::Organizations, &t), Some(c));
        assert_eq!(B2bCursor::decode(SearchKind::Members, &t), None);
        for bad in ["", "!!", "bzoxOng"] {
            assert_eq!(B2bCursor::decode(SearchKind::Organizations, bad), None);
        }
    }

    #[test]
    fn slugs_follow_stytchs_character_rule() {
        assert!(valid_slug("acme-co.eu_1~"));
        for bad in ["a", "", "has space", "slash/no", "ümlaut", &"a".repeat(129)] {
            assert!(!valid_slug(bad), "{bad:?}");
        }
    }
}
