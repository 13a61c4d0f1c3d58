//! API secrets: generation, and the keyed hash that is all the database ever holds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ids::Environment;

type HmacSha256 = Hmac<Sha256>;

/// `secret-test-<43 chars of base64url>`: 256 bits from the OS CSPRNG.
pub fn generate_secret(env: Environment) -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!(
        "secret-{}-{}",
        env.as_str(),
        URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// A secret an operator brings along (a team moving from Stytch keeps its `secret-test-…`):
/// `secret-<env>-` then 16 to 128 characters of base64url (Stytch's are 36; otpd's 43).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the given secret is not secret-test-… or secret-live-… followed by 16 to 128 characters of A-Z a-z 0-9 _ -")]
pub struct GivenSecretError;

pub fn parse_given_secret(raw: &str) -> Result<(Environment, SecretString), GivenSecretError> {
    let s = raw.trim();
    let (env, rest) = if let Some(r) = s.strip_prefix("secret-test-") {
        (Environment::Test, r)
    } else if let Some(r) = s.strip_prefix("secret-live-") {
        (Environment::Live, r)
    } else {
        return Err(GivenSecretError);
    };
    let ok = (16..=128).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if ok {
        Ok((env, SecretString::from(s.to_owned())))
    } else {
        Err(GivenSecretError)
    }
}

/// HMAC-SHA256 keyed by a key derived from the pepper: a leaked table of hashes can't be
/// checked against guesses without the pepper, and secrets are high-entropy anyway, so a
/// fast keyed hash is enough (no argon2 on every request).
pub struct SecretHasher {
    key: SecretBox<[u8; 32]>,
}

impl SecretHasher {
    pub fn new(pepper: &SecretString) -> Self {
        Self::for_purpose(pepper, b"otpd api-secret key v1")
    }

    /// A hasher whose key is derived for one purpose (API secrets, session tokens), so a
    /// hash of one kind never matches a value of another.
    pub fn for_purpose(pepper: &SecretString, purpose: &[u8]) -> Self {
        let mut key = [0u8; 32];
        if let Ok(mut mac) = HmacSha256::new_from_slice(pepper.expose_secret().as_bytes()) {
            mac.update(purpose);
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        SecretHasher {
            key: SecretBox::new(Box::new(key)),
        }
    }

    pub fn hash(&self, secret: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        if let Ok(mut mac) = HmacSha256::new_from_slice(self.key.expose_secret()) {
            mac.update(secret.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// Constant time in the secret's hash, and checks every stored hash so timing doesn't
    /// reveal which one (or whether any) matched.
    pub fn matches_any(&self, secret: &str, stored: &[Vec<u8>]) -> bool {
        let candidate = self.hash(secret);
        let mut found = subtle::Choice::from(0u8);
        for h in stored {
            found |= candidate.as_slice().ct_eq(h.as_slice());
        }
        found.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_its_own_hash_under_the_same_pepper() {
        let h = SecretHasher::new(&SecretString::from("p".repeat(40)));
        let s = generate_secret(Environment::Test);
        assert!(s.expose_secret().starts_with("secret-test-"));
        let stored = vec![h.hash("other").to_vec(), h.hash(s.expose_secret()).to_vec()];
        assert!(h.matches_any(s.expose_secret(), &stored));
        assert!(!h.matches_any("secret-test-wrong", &stored));
        let other = SecretHasher::new(&SecretString::from("q".repeat(40)));
        assert!(!other.matches_any(s.expose_secret(), &stored));
        assert!(!h.matches_any(s.expose_secret(), &[]));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_given_secret_is_taken_in_stytch_and_otpd_shapes_only() {
        let (env, s) =
            parse_given_secret("secret-live-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\n").unwrap();
        assert_eq!(env, Environment::Live);
        assert_eq!(
            s.expose_secret(),
            "secret-live-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
        );
        let own = generate_secret(Environment::Test);
        assert_eq!(
            parse_given_secret(own.expose_secret()).unwrap().0,
            Environment::Test
        );
        for bad in [
            "",
            "secret-test-",
            "secret-test-short",
            "secret-prod-AbCdEfGhIjKlMnOpQrStUvWxYz01",
            "secret-test-AbCdEfGhIjKl MnOpQrStUvWxYz01",
            "token-test-AbCdEfGhIjKlMnOpQrStUvWxYz01",
        ] {
            assert!(parse_given_secret(bad).is_err(), "{bad:?}");
        }
        assert!(parse_given_secret(&format!("secret-test-{}", "a".repeat(129))).is_err());
    }
}
