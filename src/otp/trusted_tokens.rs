//! Trusted auth token profiles and `sessions.attest`: a JWT another identity system signed
//! (checked against the profile's PEM keys or its JWKS URL, issuer, audience, lifetime and
//! mapped claims, accepted once) becomes a primary factor for a consumer user or a member.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use jsonwebtoken::{errors::ErrorKind as JwtError, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::ids::{ProjectId, TrustedTokenProfileId, UserId};
use crate::domain::organization::{Member, MfaPolicy, Organization};
use crate::domain::project::Project;
use crate::domain::session::{ClaimsUpdate, SessionDuration};
use crate::domain::user::User;
use crate::domain::Locale;
use crate::metrics;
use crate::store::organizations::MemberKey;
use crate::store::trusted_tokens::{self as db, NewProfile, ProfileRow};
use crate::store::StoreError;

use super::sessions::{self, Issued, MfaProof, Owner, Presented};
use super::{b2b, users, OtpError, Services};

/// How long a fetched JWKS is used before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` refetches the JWKS (a rotation), at most this often per profile.
const JWKS_REFRESH_MIN: Duration = Duration::from_secs(60);
/// A JWKS fetch gives up after this long (connect, headers and body together).
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS larger than this is refused (a key set is a few kilobytes).
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// Why a trusted auth token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JWT, not RS256, or no key of the profile verifies its signature.
    Signature,
    Issuer,
    Audience,
    /// `exp`, `nbf` or a mapped claim (`email`, the token id) is missing or out of range.
    Claims(String),
    /// Its token id was accepted before.
    Replayed,
    /// The profile's JWKS could not be fetched or read.
    Jwks,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Signature => {
                f.write_str("not an RS256 JWT signed by one of the profile's keys")
            }
            Refusal::Issuer => f.write_str("iss is not the profile's issuer"),
            Refusal::Audience => f.write_str("aud does not name the profile's audience"),
            Refusal::Claims(c) => write!(f, "claim {c} is missing or invalid"),
            Refusal::Replayed => f.write_str("this token (its token id) was already used"),
            Refusal::Jwks => f.write_str("the profile's JWKS could not be fetched"),
        }
    }
}

fn refused(r: Refusal) -> OtpError {
    OtpError::TrustedTokenRefused(r)
}

/// One RSA verification key: base64url modulus and exponent, and its `kid` when known.
#[derive(Debug, Clone)]
struct Key {
    kid: Option<String>,
    n: String,
    e: String,
}

struct Cached {
    keys: Arc<Vec<Key>>,
    fetched_at: Instant,
}

/// The fetched key sets of JWKS-URL profiles, per profile, built once in `startup`.
pub struct JwksCache {
    client: reqwest::Client,
    entries: Mutex<HashMap<String, Cached>>,
}

impl JwksCache {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(JWKS_TIMEOUT)
            .connect_timeout(JWKS_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(JwksCache {
            client,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, profile: &str) -> Option<(Arc<Vec<Key>>, Instant)> {
        let map = self.entries.lock().ok()?;
        map.get(profile).map(|c| (c.keys.clone(), c.fetched_at))
    }

    fn remember(&self, profile: &str, keys: Arc<Vec<Key>>) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert(
                profile.to_owned(),
                Cached {
                    keys,
                    fetched_at: Instant::now(),
                },
            );
        }
    }

    async fn fetch(&self, url: &str) -> Result<Vec<Key>, Refusal> {
        let mut res = self.client.get(url).send().await.map_err(|e| {
            tracing::warn!(error = %e, "trusted token JWKS fetch failed");
            Refusal::Jwks
        })?;
        if !res.status().is_success() {
            tracing::warn!(status = %res.status(), "trusted token JWKS fetch refused");
            return Err(Refusal::Jwks);
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|_| Refusal::Jwks)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                tracing::warn!("trusted token JWKS over the size cap");
                return Err(Refusal::Jwks);
            }
            body.extend_from_slice(&chunk);
        }
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<Jwk>,
        }
        #[derive(Deserialize)]
        struct Jwk {
            kty: String,
            kid: Option<String>,
            n: Option<String>,
            e: Option<String>,
        }
        let set: Jwks = serde_json::from_slice(&body).map_err(|_| Refusal::Jwks)?;
        Ok(set
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter_map(|k| {
                Some(Key {
                    kid: k.kid,
                    n: k.n?,
                    e: k.e?,
                })
            })
            .collect())
    }

    /// The keys that may have signed a token with this `kid`: cached for a few minutes,
    /// fetched again on an unknown `kid` at most once a minute.
    async fn keys(
        &self,
        profile: &str,
        url: &str,
        kid: Option<&str>,
    ) -> Result<Arc<Vec<Key>>, Refusal> {
        let knows =
            |keys: &[Key]| kid.is_none_or(|k| keys.iter().any(|x| x.kid.as_deref() == Some(k)));
        let cached = self.cached(profile);
        if let Some((keys, at)) = &cached {
            let fresh = at.elapsed() < JWKS_TTL;
            if (fresh && knows(keys)) || at.elapsed() < JWKS_REFRESH_MIN {
                return Ok(keys.clone());
            }
        }
        match self.fetch(url).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                self.remember(profile, keys.clone());
                Ok(keys)
            }
            // The issuer's endpoint is down: the keys it last published still verify (and
            // the next request tries again), rather than every attest failing meanwhile.
            Err(e) => cached.map(|(keys, _)| keys).ok_or(e),
        }
    }
}

/// Reads RSA public keys from PEM text (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`
/// blocks, several allowed) as `[{"n", "e"}]`.
pub fn parse_pem_keys(pem: &str) -> Result<Value, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let mut keys = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let Some(end_at) = block.find("-----END ") else {
            return Err("a PEM block has no END line".into());
        };
        let Some(close) = block[end_at + 9..].find("-----") else {
            return Err("a PEM END line is not closed".into());
        };
        let one = &block[..end_at + 9 + close + 5];
        let key = if one.starts_with("-----BEGIN PUBLIC KEY-----") {
            rsa::RsaPublicKey::from_public_key_pem(one).map_err(|e| format!("public key: {e}"))?
        } else if one.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            rsa::RsaPublicKey::from_pkcs1_pem(one).map_err(|e| format!("RSA public key: {e}"))?
        } else {
            return Err(
                "only RSA public keys (BEGIN PUBLIC KEY / BEGIN RSA PUBLIC KEY) are accepted"
                    .into(),
            );
        };
        keys.push(json!({
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        }));
        rest = &block[one.len()..];
    }
    if keys.is_empty() {
        return Err("no PEM public key found".into());
    }
    Ok(Value::Array(keys))
}

/// Where a profile's verification keys come from.
pub enum KeySource {
    JwksUrl(String),
    Pem(String),
}

/// `otpd project trusted-token create`.
pub struct NewProfileInput {
    pub issuer: String,
    pub audience: String,
    pub keys: KeySource,
    pub email_claim: String,
    pub token_id_claim: String,
    pub jit_provisioning: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

fn claim_name(flag: &str, v: &str) -> Result<(), ProfileError> {
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(ProfileError::Invalid(format!(
            "{flag}: 1 to 128 characters, no control characters"
        )));
    }
    Ok(())
}

pub async fn create_profile(
    pool: &sqlx::PgPool,
    project: &ProjectId,
    p: NewProfileInput,
) -> Result<TrustedTokenProfileId, ProfileError> {
    for (flag, v) in [("--issuer", &p.issuer), ("--audience", &p.audience)] {
        if v.is_empty() || v.len() > 2048 || v.chars().any(char::is_control) {
            return Err(ProfileError::Invalid(format!(
                "{flag}: 1 to 2048 characters, no control characters"
            )));
        }
    }
    claim_name("--email-claim", &p.email_claim)?;
    claim_name("--token-id-claim", &p.token_id_claim)?;
    let (jwks_url, public_keys) = match p.keys {
        KeySource::JwksUrl(u) => {
            let ok = (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 2048
                && reqwest::Url::parse(&u).is_ok();
            if !ok {
                return Err(ProfileError::Invalid("--jwks-url: an http(s) URL".into()));
            }
            (Some(u), None)
        }
        KeySource::Pem(pem) => (
            None,
            Some(
                parse_pem_keys(&pem)
                    .map_err(|e| ProfileError::Invalid(format!("--pem-file: {e}")))?,
            ),
        ),
    };
    let id = TrustedTokenProfileId::generate(project.env());
    db::insert_profile(
        pool,
        NewProfile {
            id: id.as_str(),
            project,
            issuer: &p.issuer,
            audience: &p.audience,
            jwks_url: jwks_url.as_deref(),
            public_keys: public_keys.as_ref(),
            email_claim: &p.email_claim,
            token_id_claim: &p.token_id_claim,
            jit_provisioning: p.jit_provisioning,
        },
    )
    .await?;
    Ok(id)
}

/// A token that passed every check and was recorded as used.
pub struct Verified {
    pub profile: ProfileRow,
    /// Lower-cased.
    pub email: String,
    pub token_id: String,
}

fn classify(e: &jsonwebtoken::errors::Error) -> Refusal {
    match e.kind() {
        JwtError::InvalidIssuer => Refusal::Issuer,
        JwtError::InvalidAudience => Refusal::Audience,
        JwtError::ExpiredSignature => Refusal::Claims("exp".into()),
        JwtError::ImmatureSignature => Refusal::Claims("nbf".into()),
        JwtError::MissingRequiredClaim(c) => Refusal::Claims(c.chars().take(64).collect()),
        _ => Refusal::Signature,
    }
}

fn claim_string(claims: &Value, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.is_empty() && s.len() <= 512 => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Verifies a trusted auth token against its profile and records its token id (once).
#[tracing::instrument(skip_all, fields(project = %project.id))]
pub async fn verify(
    svc: &Services,
    project: &Project,
    profile_id: &str,
    token: &str,
) -> Result<Verified, OtpError> {
    let profile = db::find_profile(&svc.pool, &project.id, profile_id)
        .await?
        .ok_or(OtpError::TrustedTokenProfileNotFound)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| refused(Refusal::Signature))?;
    if header.alg != Algorithm::RS256 {
        return Err(refused(Refusal::Signature));
    }
    let keys: Vec<Key> = match (&profile.jwks_url, &profile.public_keys) {
        (Some(url), _) => {
            let keys = svc
                .jwks
                .keys(&profile.id, url, header.kid.as_deref())
                .await
                .map_err(refused)?;
            keys.iter()
                .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
                .cloned()
                .collect()
        }
        (None, Some(pem)) => pem
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| {
                Some(Key {
                    kid: None,
                    n: k.get("n")?.as_str()?.to_owned(),
                    e: k.get("e")?.as_str()?.to_owned(),
                })
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.set_issuer(&[&profile.issuer]);
    v.set_audience(&[&profile.audience]);
    v.required_spec_claims = ["exp", "iss", "aud"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut refusal = Refusal::Signature;
    let mut claims = None;
    for k in &keys {
        let Ok(key) = DecodingKey::from_rsa_components(&k.n, &k.e) else {
            continue;
        };
        match jsonwebtoken::decode::<Value>(token, &key, &v) {
            Ok(d) => {
                claims = Some(d.claims);
                break;
            }
            Err(e) => {
                let r = classify(&e);
                if r != Refusal::Signature {
                    // The signature verified with this key; the claims are what is wrong.
                    refusal = r;
                    break;
                }
            }
        }
    }
    let Some(claims) = claims else {
        return Err(refused(refusal));
    };
    let email = claim_string(&claims, &profile.email_claim)
        .and_then(|e| users::parse_email(&e).ok())
        .ok_or_else(|| refused(Refusal::Claims(profile.email_claim.clone())))?;
    let token_id = claim_string(&claims, &profile.token_id_claim)
        .ok_or_else(|| refused(Refusal::Claims(profile.token_id_claim.clone())))?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .ok_or_else(|| refused(Refusal::Claims("exp".into())))?;
    // Kept until the token's own expiry (plus the leeway), after which `exp` refuses it.
    if !db::record_use(
        &svc.pool,
        &profile.id,
        &token_id,
        exp + chrono::Duration::seconds(LEEWAY_SECS as i64),
    )
    .await?
    {
        return Err(refused(Refusal::Replayed));
    }
    Ok(Verified {
        profile,
        email,
        token_id,
    })
}

/// The session factor a trusted auth token adds (Stytch's `trusted_auth_token` /
/// `trusted_token_exchange`).
pub fn factor(v: &Verified) -> Value {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "type": "trusted_auth_token",
        "delivery_method": "trusted_token_exchange",
        "last_authenticated_at": now,
        "created_at": now,
        "updated_at": now,
        "trusted_auth_token_factor": {"token_id": v.token_id},
    })
}

/// Consumer `sessions.attest`: the user with the token's email (created when the profile
/// allows JIT provisioning), and the session the factor started or was added to (`None`
/// without a presented session or a duration, as Stytch).
pub async fn attest_user(
    svc: &Services,
    project: &Project,
    profile_id: &str,
    token: &str,
    presented: Option<Presented>,
    duration: Option<SessionDuration>,
    claims: &ClaimsUpdate,
) -> Result<(User, Option<Issued>), OtpError> {
    // A presented session is checked before the token is spent.
    let presented = match presented {
        Some(p) => {
            Some(sessions::identify_live(svc, &project.id, sessions::Kind::Consumer, p).await?)
        }
        None => None,
    };
    let v = verify(svc, project, profile_id, token)
        .await
        .inspect_err(|_| metrics::session("consumer", "attested", "invalid"))?;
    let user_id =
        match crate::store::users::find_user_by_email(&svc.pool, &project.id, &v.email).await? {
            Some(id) => id,
            None if v.profile.jit_provisioning => jit_user(svc, project, &v.email).await?,
            None => return Err(OtpError::UserNotFound),
        };
    let issued = sessions::after_factor(
        svc,
        project,
        Owner::User {
            user_id: user_id.as_str(),
        },
        presented,
        duration,
        &[],
        &factor(&v),
        claims,
        &json!({"ip_address": "", "user_agent": ""}),
    )
    .await?;
    metrics::session("consumer", "attested", "success");
    let user = users::load(svc, project, &user_id).await?;
    Ok((user, issued))
}

async fn jit_user(svc: &Services, project: &Project, email: &str) -> Result<UserId, OtpError> {
    let created = users::create(
        svc,
        project,
        users::CreateUser {
            email: Some(email.to_owned()),
            phone: None,
            name: Default::default(),
            external_id: None,
            pending: false,
            trusted_metadata: json!({}),
            untrusted_metadata: json!({}),
            roles: Vec::new(),
        },
    )
    .await;
    match created {
        Ok(c) => Ok(c.user.id),
        // A concurrent attest created them first.
        Err(OtpError::DuplicateEmail) => {
            crate::store::users::find_user_by_email(&svc.pool, &project.id, email)
                .await?
                .ok_or(OtpError::UserNotFound)
        }
        Err(e) => Err(e),
    }
}

/// What B2B `sessions.attest` ends in.
pub enum MemberAttested {
    /// The member is in: a member session started or extended.
    Session(Box<Issued>),
    /// The organization wants MFA first: an intermediate session, and whether an SMS code
    /// was sent (Stytch's `secondary_auth_initiated: "sms_otp"`).
    MfaRequired {
        intermediate_session_token: String,
        sms_sent: bool,
    },
}

/// B2B `sessions.attest`. The token is a primary factor: when the organization requires MFA
/// (`REQUIRED_FOR_ALL`) or the member is enrolled, and no session of theirs was presented,
/// the answer is an intermediate session instead of a member session, and, as Stytch does
/// after a primary factor, an SMS code goes to an enrolled member with an MFA phone (through
/// the send use case, with the new intermediate session as its proof).
#[allow(clippy::too_many_arguments)]
pub async fn attest_member(
    svc: &Services,
    project: &Project,
    org: &Organization,
    profile_id: &str,
    token: &str,
    presented: Option<Presented>,
    duration: Option<SessionDuration>,
    claims: &ClaimsUpdate,
    locale: Locale,
) -> Result<(Member, MemberAttested), OtpError> {
    let presented = match presented {
        Some(p) => {
            Some(sessions::identify_live(svc, &project.id, sessions::Kind::Member, p).await?)
        }
        None => None,
    };
    let v = verify(svc, project, profile_id, token)
        .await
        .inspect_err(|_| metrics::session("b2b", "attested", "invalid"))?;
    let m = b2b::member(svc, org, MemberKey::Email(&v.email)).await?;
    let f = factor(&v);
    let mfa_required = org.mfa_policy == MfaPolicy::RequiredForAll || m.mfa_enrolled;
    if presented.is_some() || !mfa_required {
        let issued = sessions::after_member_factor(
            svc,
            project,
            &m,
            org,
            presented,
            duration,
            &[],
            &f,
            claims,
        )
        .await?;
        metrics::session("b2b", "attested", "success");
        return Ok((m, MemberAttested::Session(Box::new(issued))));
    }
    let ist = sessions::issue_intermediate(svc, project, org, &m, &[f]).await?;
    let mut sms_sent = false;
    if m.mfa_enrolled && !m.mfa_phone_number.is_empty() && org.settings.allows_sms_mfa() {
        match b2b::send_sms(
            svc,
            project,
            org,
            m.id.as_str(),
            None,
            locale,
            Some(MfaProof::Intermediate(ist.clone())),
            // The member's own number, vouched for (or not) when it was set: a sign-in
            // vouches for nothing.
            crate::otp::Caller::Browser,
        )
        .await
        {
            Ok(_) => sms_sent = true,
            // The IST stands: the member can ask for a code again with it.
            Err(e) => tracing::warn!(error = %e, "automatic MFA send after attest failed"),
        }
    }
    metrics::session("b2b", "attested", "success");
    let m = b2b::member(svc, org, MemberKey::IdOrExternal(m.id.as_str())).await?;
    Ok((
        m,
        MemberAttested::MfaRequired {
            intermediate_session_token: ist,
            sms_sent,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};

    #[test]
    fn pem_keys_are_read_from_spki_and_pkcs1_blocks_and_anything_else_is_refused() {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let public = key.to_public_key();
        let spki = public.to_public_key_pem(LineEnding::LF).unwrap();
        let pkcs1 = public.to_pkcs1_pem(LineEnding::LF).unwrap();
        let one = parse_pem_keys(&spki).unwrap();
        assert_eq!(one.as_array().unwrap().len(), 1);
        assert_eq!(
            parse_pem_keys(&pkcs1).unwrap(),
            one,
            "same key, either encoding"
        );
        let both = parse_pem_keys(&format!("comment\n{spki}\n{pkcs1}")).unwrap();
        assert_eq!(both.as_array().unwrap().len(), 2);
        for bad in [
            "",
            "not a pem",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nno end",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        ] {
            assert!(parse_pem_keys(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
