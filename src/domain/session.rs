//! Session values: opaque tokens, durations, custom claims and authentication factors, in
//! Stytch's shapes. Pure: no I/O, no clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

/// Stytch's documented sandbox session token: `sessions.authenticate` answers 200 with a
/// sample session in test projects.
pub const SANDBOX_SESSION_TOKEN: &str = "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY";

/// Claims the JWT sets itself; Stytch ignores them in custom claims, otpd refuses them.
pub const RESERVED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// Stytch's own claims live under this prefix; a custom claim may not shadow them.
pub const STYTCH_CLAIM_PREFIX: &str = "https://stytch.com/";

/// Stytch's cap on the serialized custom claims.
pub const MAX_CUSTOM_CLAIMS_BYTES: usize = 4096;

/// The life of every session JWT, as at Stytch: short, refreshed by `sessions.authenticate`.
pub const JWT_LIFETIME_SECS: i64 = 300;

/// An opaque session token: 264 bits from the OS CSPRNG, 44 base64url characters like
/// Stytch's. Only its keyed hash is stored.
pub struct SessionToken(SecretString);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 33];
        OsRng.fill_bytes(&mut bytes);
        SessionToken(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// `session_duration_minutes`: 5 minutes to 366 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionDuration(i32);

#[derive(Debug, thiserror::Error)]
#[error("session_duration_minutes must be between 5 and 527040")]
pub struct DurationError;

impl SessionDuration {
    pub const MIN: i64 = 5;
    pub const MAX: i64 = 527_040;
    /// What B2B authenticate uses when the caller gives none.
    pub const B2B_DEFAULT: SessionDuration = SessionDuration(60);

    pub fn parse(minutes: i64) -> Result<Self, DurationError> {
        if (Self::MIN..=Self::MAX).contains(&minutes) {
            i32::try_from(minutes)
                .map(SessionDuration)
                .map_err(|_| DurationError)
        } else {
            Err(DurationError)
        }
    }

    pub fn minutes(self) -> i32 {
        self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("session_custom_claims must be a JSON object")]
    NotAnObject,
    #[error("session_custom_claims may not set the reserved claim `{0}`")]
    Reserved(String),
    #[error("session_custom_claims must be at most 4096 bytes")]
    TooLarge,
}

/// A validated change to a session's custom claims: keys with `null` delete, others set.
#[derive(Debug, Clone, Default)]
pub struct ClaimsUpdate(Map<String, Value>);

impl ClaimsUpdate {
    pub fn parse(v: Option<Value>) -> Result<Self, ClaimsError> {
        let map = match v {
            None | Some(Value::Null) => return Ok(ClaimsUpdate::default()),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(ClaimsError::NotAnObject),
        };
        if let Some(k) = map
            .keys()
            .find(|k| RESERVED_CLAIMS.contains(&k.as_str()) || k.starts_with(STYTCH_CLAIM_PREFIX))
        {
            return Err(ClaimsError::Reserved(k.chars().take(64).collect()));
        }
        if Value::Object(map.clone()).to_string().len() > MAX_CUSTOM_CLAIMS_BYTES {
            return Err(ClaimsError::TooLarge);
        }
        Ok(ClaimsUpdate(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys to set (`None` when there are none) and the keys to delete.
    pub fn split(&self) -> (Option<Value>, Vec<String>) {
        let set: Map<String, Value> = self
            .0
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let delete = self
            .0
            .iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k.clone())
            .collect();
        ((!set.is_empty()).then_some(Value::Object(set)), delete)
    }

    /// The session's claims after this update; refused when the result outgrows the cap.
    pub fn apply(&self, current: &Value) -> Result<Value, ClaimsError> {
        let mut out = current.as_object().cloned().unwrap_or_default();
        for (k, v) in &self.0 {
            if v.is_null() {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
        let out = Value::Object(out);
        if out.to_string().len() > MAX_CUSTOM_CLAIMS_BYTES {
            return Err(ClaimsError::TooLarge);
        }
        Ok(out)
    }
}

/// Stytch's `authentication_factors` entry for a passcode sent to a phone.
pub fn otp_factor(delivery_method: &str, phone_id: &str, phone_number: &str, at: &str) -> Value {
    json!({
        "type": "otp",
        "delivery_method": delivery_method,
        "last_authenticated_at": at,
        "created_at": at,
        "updated_at": at,
        "phone_number_factor": {"phone_id": phone_id, "phone_number": phone_number},
    })
}

/// Adds `factor` to `factors`, replacing an earlier entry for the same phone and method
/// (so re-authenticating refreshes its timestamp instead of growing the list).
pub fn merge_factor(factors: &Value, factor: Value) -> Value {
    let same = |f: &Value| {
        f.get("delivery_method") == factor.get("delivery_method")
            && f.pointer("/phone_number_factor/phone_id")
                == factor.pointer("/phone_number_factor/phone_id")
    };
    let mut out: Vec<Value> = factors
        .as_array()
        .map(|a| a.iter().filter(|f| !same(f)).cloned().collect())
        .unwrap_or_default();
    out.push(factor);
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn durations_outside_5_to_527040_minutes_are_refused() {
        for bad in [i64::MIN, -1, 0, 4, 527_041, i64::MAX] {
            assert!(SessionDuration::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SessionDuration::parse(5).unwrap().minutes(), 5);
        assert_eq!(SessionDuration::parse(527_040).unwrap().minutes(), 527_040);
    }

    #[test]
    fn reserved_and_stytch_claims_are_refused_and_null_deletes() {
        for k in RESERVED_CLAIMS
            .iter()
            .map(|s| s.to_string())
            .chain(["https://stytch.com/session".to_owned()])
        {
            let v = json!({ k.clone(): 1 });
            assert_eq!(
                ClaimsUpdate::parse(Some(v)).unwrap_err(),
                ClaimsError::Reserved(k)
            );
        }
        assert_eq!(
            ClaimsUpdate::parse(Some(json!([1]))).unwrap_err(),
            ClaimsError::NotAnObject
        );
        let big = json!({"k": "x".repeat(5000)});
        assert_eq!(
            ClaimsUpdate::parse(Some(big)).unwrap_err(),
            ClaimsError::TooLarge
        );
        let u = ClaimsUpdate::parse(Some(json!({"a": null, "b": 2}))).unwrap();
        assert_eq!(
            u.apply(&json!({"a": 1, "c": 3})).unwrap(),
            json!({"b": 2, "c": 3})
        );
    }

    #[test]
    fn tokens_are_44_url_safe_characters_and_distinct() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_eq!(a.expose().len(), 44);
        assert!(a
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "SessionToken(..)");
    }

    #[test]
    fn re_authenticating_a_phone_replaces_its_factor() {
        let f1 = otp_factor("sms", "p1", "+1", "t1");
        let f2 = otp_factor("sms", "p1", "+1", "t2");
        let f3 = otp_factor("whatsapp", "p1", "+1", "t3");
        let all = merge_factor(
            &merge_factor(&merge_factor(&json!([]), f1), f2.clone()),
            f3.clone(),
        );
        assert_eq!(all, json!([f2, f3]));
    }
}
