//! Session JWT keys: RS256 key generation, sealing private keys at rest under a key derived
//! from the server pepper, and signing and verifying JWTs. Pure computation, no I/O.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::rngs::OsRng;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde_json::Value;

/// RSA modulus size: what Stytch publishes, and what every JWT library accepts.
pub const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("generating the RSA key failed")]
    Generate,
    #[error("a sealed signing key does not open under this pepper")]
    Unseal,
    #[error("signing the JWT failed")]
    Sign,
}

/// A freshly generated key pair: the public half as the JWKS publishes it, the private half
/// as PKCS#1 DER (zeroed on drop).
pub struct GeneratedKey {
    pub n: String,
    pub e: String,
    pub private_der: SecretBox<Vec<u8>>,
}

/// Slow (tens to hundreds of milliseconds): call it off the async threads, once per key.
pub fn generate() -> Result<GeneratedKey, KeyError> {
    let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(|_| KeyError::Generate)?;
    let der = key.to_pkcs1_der().map_err(|_| KeyError::Generate)?;
    Ok(GeneratedKey {
        n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        private_der: SecretBox::new(Box::new(der.as_bytes().to_vec())),
    })
}

struct AeadLen;

impl hkdf::KeyType for AeadLen {
    fn len(&self) -> usize {
        AES_256_GCM.key_len()
    }
}

/// AES-256-GCM under a key derived from the pepper (HKDF-SHA256 with an otpd-specific salt
/// and label), so a database dump alone never yields a signing key. The key id is the
/// associated data: a sealed key copied onto another row does not open.
pub struct KeySealer {
    key: LessSafeKey,
}

impl KeySealer {
    pub fn new(pepper: &SecretString) -> Result<Self, KeyError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"otpd signing-key sealing salt v1");
        let prk = salt.extract(pepper.expose_secret().as_bytes());
        let info: [&[u8]; 1] = [b"otpd signing-key sealing key"];
        let okm = prk.expand(&info, AeadLen).map_err(|_| KeyError::Unseal)?;
        let mut raw = [0u8; 32];
        okm.fill(&mut raw).map_err(|_| KeyError::Unseal)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| KeyError::Unseal)?;
        raw.fill(0);
        Ok(KeySealer {
            key: LessSafeKey::new(unbound),
        })
    }

    /// `nonce || ciphertext || tag`, with a fresh random nonce.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KeyError::Unseal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(KeyError::Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Unseal)?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| KeyError::Unseal)?;
        Ok(plain.to_vec())
    }
}

/// A private key ready to sign, with its `kid`.
pub struct Signer {
    pub kid: String,
    key: EncodingKey,
}

impl Signer {
    pub fn from_der(kid: String, der: &[u8]) -> Self {
        Signer {
            kid,
            key: EncodingKey::from_rsa_der(der),
        }
    }

    /// An RS256 JWT with `typ: JWT` and this key's `kid` (the Node SDK requires `typ`).
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|_| KeyError::Sign)
    }
}

/// The issuer the SDKs accept whatever base URL they were given.
pub fn issuer(project_id: &str) -> String {
    format!("stytch.com/{project_id}")
}

/// The `kid` a JWT claims, read before its signature is checked (to pick the key).
pub fn kid_of(jwt: &str) -> Option<String> {
    jsonwebtoken::decode_header(jwt).ok()?.kid
}

/// Checks the signature, algorithm, audience and issuer. Expiry is NOT checked: Stytch
/// refreshes a JWT whose `exp` passed while its session lives, so the caller checks the
/// session instead.
pub fn verify(jwt: &str, n: &str, e: &str, project_id: &str) -> Option<Value> {
    let key = DecodingKey::from_rsa_components(n, e).ok()?;
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.required_spec_claims = ["sub", "aud", "iss"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.set_audience(&[project_id]);
    v.set_issuer(&[issuer(project_id)]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v)
        .ok()
        .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sealed_key_opens_only_under_its_pepper_and_kid_and_signs_verifiable_jwts() {
        let k = generate().unwrap();
        let pepper = SecretString::from("p".repeat(40));
        let sealer = KeySealer::new(&pepper).unwrap();
        let plain = k.private_der.expose_secret();
        let sealed = sealer.seal("jwk-test-1", plain).unwrap();
        assert!(!sealed
            .windows(32)
            .any(|w| plain.windows(32).any(|p| p == w)));
        assert!(sealer.open("jwk-test-2", &sealed).is_err());
        let other = KeySealer::new(&SecretString::from("q".repeat(40))).unwrap();
        assert!(other.open("jwk-test-1", &sealed).is_err());
        let der = sealer.open("jwk-test-1", &sealed).unwrap();

        let signer = Signer::from_der("jwk-test-1".into(), &der);
        let claims = json!({"sub": "user-x", "aud": ["project-test-a"], "iss": issuer("project-test-a"),
                            "exp": 1, "iat": 0, "nbf": 0});
        let jwt = signer.sign(&claims).unwrap();
        assert_eq!(kid_of(&jwt).as_deref(), Some("jwk-test-1"));
        assert_eq!(verify(&jwt, &k.n, &k.e, "project-test-a").unwrap(), claims);
        assert!(verify(&jwt, &k.n, &k.e, "project-test-b").is_none());
        let mut tampered = jwt.clone();
        tampered.push('A');
        assert!(verify(&tampered, &k.n, &k.e, "project-test-a").is_none());
        let k2 = generate().unwrap();
        assert!(verify(&jwt, &k2.n, &k2.e, "project-test-a").is_none());
    }
}
