//! Stytch-shaped identifiers (`user-test-<uuid>`): one newtype per kind, parsed, never raw strings.

use std::fmt;

use uuid::Uuid;

/// A project is either a test or a live environment; every id it issues carries that word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    Test,
    Live,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }

    pub fn from_live(live: bool) -> Self {
        if live {
            Environment::Live
        } else {
            Environment::Test
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} (expected {kind}-test-<uuid> or {kind}-live-<uuid>)")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

fn parse_parts(kind: &'static str, s: &str) -> Result<(Environment, Uuid), IdError> {
    let err = || IdError {
        kind,
        value: s.chars().take(64).collect(),
    };
    let rest = s
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('-'))
        .ok_or_else(err)?;
    let (env, uuid) = if let Some(u) = rest.strip_prefix("test-") {
        (Environment::Test, u)
    } else if let Some(u) = rest.strip_prefix("live-") {
        (Environment::Live, u)
    } else {
        return Err(err());
    };
    // Only the hyphenated lowercase form Stytch issues; anything else is a different string.
    let parsed = Uuid::parse_str(uuid).map_err(|_| err())?;
    if parsed.hyphenated().to_string() != uuid {
        return Err(err());
    }
    Ok((env, parsed))
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(env: Environment) -> Self {
                Self::from_uuid(env, Uuid::new_v4())
            }

            /// An id with a given UUID (one derived from a key, say): the same shape as a
            /// generated one.
            pub fn from_uuid(env: Environment, uuid: Uuid) -> Self {
                $name(format!("{}-{}-{}", $prefix, env.as_str(), uuid))
            }

            pub fn parse(s: &str) -> Result<Self, IdError> {
                parse_parts($prefix, s).map(|_| $name(s.to_owned()))
            }

            /// Whether a string claims to be this kind of id (so a malformed one is an error,
            /// not an external id).
            pub fn looks_like(s: &str) -> bool {
                s.strip_prefix($prefix).is_some_and(|r| r.starts_with('-'))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn environment(&self) -> Environment {
                if self.0[$prefix.len() + 1..].starts_with("live-") {
                    Environment::Live
                } else {
                    Environment::Test
                }
            }

            /// For values read back from our own database, which only ever stores generated ids.
            pub fn from_trusted(s: String) -> Self {
                $name(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(ProjectId, "project");
typed_id!(
    /// Names one API secret so it can be revoked without knowing the secret itself.
    SecretId,
    "secret-id"
);
typed_id!(UserId, "user");
typed_id!(PhoneId, "phone-number");
typed_id!(EmailId, "email");
typed_id!(RequestId, "request-id");
typed_id!(OrganizationId, "organization");
typed_id!(MemberId, "member");
typed_id!(SessionId, "session");
typed_id!(MemberSessionId, "member-session");
typed_id!(
    /// A project's public token for the frontend surface; public, not a secret.
    PublicToken,
    "public-token"
);
typed_id!(
    /// A trusted auth token profile (`sessions.attest`), in Stytch's id shape.
    TrustedTokenProfileId,
    "trusted-auth-token-profile"
);
typed_id!(
    /// The `kid` of a project's JWT signing key.
    SigningKeyId,
    "jwk"
);

impl ProjectId {
    pub fn env(&self) -> Environment {
        self.environment()
    }
}

/// Stytch's `external_id`: a caller-chosen key, `[A-Za-z0-9._-|]`, at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("external_id must be 1 to 128 characters of A-Z a-z 0-9 . _ - |")]
pub struct ExternalIdError;

impl ExternalId {
    pub fn parse(s: &str) -> Result<Self, ExternalIdError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'|'));
        if ok {
            Ok(ExternalId(s.to_owned()))
        } else {
            Err(ExternalIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reference to a user as the API accepts it: its id, or the caller's external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(UserId),
    External(ExternalId),
}

impl UserRef {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if UserId::looks_like(s) {
            return UserId::parse(s).map(UserRef::Id);
        }
        ExternalId::parse(s)
            .map(UserRef::External)
            .map_err(|_| IdError {
                kind: UserId::PREFIX,
                value: s.chars().take(64).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_with_their_environment() {
        let id = UserId::generate(Environment::Live);
        assert!(id.as_str().starts_with("user-live-"));
        assert_eq!(UserId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.environment(), Environment::Live);
        let p = PhoneId::generate(Environment::Test);
        assert!(p.as_str().starts_with("phone-number-test-"));
        assert_eq!(p.environment(), Environment::Test);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "user",
            "user-test-",
            "user-prod-16d9ba61-97a1-4ba4-9720-b03761dc50c6",
            "user-test-16d9ba61-97a1-4ba4-9720-b03761dc50c",
            "user-test-16D9BA61-97A1-4BA4-9720-B03761DC50C6",
            "user-test-16d9ba6197a14ba49720b03761dc50c6",
            "phone-number-test-16d9ba61-97a1-4ba4-9720-b03761dc50c6",
            "user-test-16d9ba61-97a1-4ba4-9720-b03761dc50c6 ",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn a_user_reference_is_an_id_or_an_external_id() {
        let id = UserId::generate(Environment::Test);
        assert_eq!(UserRef::parse(id.as_str()), Ok(UserRef::Id(id)));
        assert!(matches!(UserRef::parse("crm|42"), Ok(UserRef::External(_))));
        assert!(UserRef::parse("user-test-nope").is_err());
        assert!(UserRef::parse("has space").is_err());
        assert!(UserRef::parse(&"x".repeat(129)).is_err());
    }
}
