//! Sessions: starting, authenticating, extending, listing and revoking consumer sessions and
//! B2B member sessions, and the per-project keys that sign their JWTs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::SecretString;
use serde_json::{json, Map, Value};

use crate::domain::ids::{MemberSessionId, ProjectId, SessionId, SigningKeyId};
use crate::domain::project::Project;
use crate::domain::secret::SecretHasher;
use crate::domain::session::{
    ClaimsUpdate, SessionDuration, SessionToken, JWT_LIFETIME_SECS, STYTCH_CLAIM_PREFIX,
};
use crate::domain::signing_key::{self, KeyError, KeySealer, Signer};
use crate::metrics;
use crate::store::sessions::{self as db, Lookup, NewKey, NewSession, SessionRow, Touch};
use crate::store::StoreError;

use super::{OtpError, Services};

/// How long a replica signs with a key it read before looking again: after a rotation,
/// JWTs signed with the old key for this long still verify (it stays published an hour).
const SIGNER_TTL: Duration = Duration::from_secs(30);

/// How long a replica answers a project's JWKS from memory. The JWKS endpoints are public
/// (no credentials), so without this every request, for any project id, real or not, was a
/// database query. A key this replica makes, rotates or revokes shows at once here; one made
/// elsewhere shows within this long (docs/sessions.md).
const JWKS_TTL: Duration = Duration::from_secs(5);

/// Projects whose JWKS a replica keeps at most (unknown ids included, so a caller cycling
/// through made-up ids can't grow the cache without bound): past this, expired entries are
/// dropped, and if none had, the cache starts over.
const JWKS_CACHE_MAX: usize = 10_000;

pub const SESSION_CLAIM: &str = "https://stytch.com/session";
pub const ORGANIZATION_CLAIM: &str = "https://stytch.com/organization";

/// Session secrets and the in-process cache of signing keys, built once in `startup`.
pub struct SessionKeys {
    token_hasher: SecretHasher,
    /// Intermediate session tokens: their own derivation, so a hash never names both.
    ist_hasher: SecretHasher,
    sealer: KeySealer,
    signers: Mutex<HashMap<String, (Arc<Signer>, Instant)>>,
    /// One key generation at a time per replica: concurrent first requests wait for it
    /// instead of each spending an RSA key generation.
    generating: tokio::sync::Mutex<()>,
    /// Each project's JWKS as last read (an empty one too: a project without keys, or no
    /// project at all), with when it was read.
    jwks: Mutex<HashMap<String, (Value, Instant)>>,
}

impl SessionKeys {
    pub fn new(pepper: &SecretString) -> Result<Self, KeyError> {
        Ok(SessionKeys {
            token_hasher: SecretHasher::for_purpose(pepper, b"otpd session-token key v1"),
            ist_hasher: SecretHasher::for_purpose(
                pepper,
                b"otpd intermediate-session-token key v1",
            ),
            sealer: KeySealer::new(pepper)?,
            signers: Mutex::new(HashMap::new()),
            generating: tokio::sync::Mutex::new(()),
            jwks: Mutex::new(HashMap::new()),
        })
    }

    fn cached_jwks(&self, project: &ProjectId) -> Option<Value> {
        let map = self.jwks.lock().ok()?;
        map.get(project.as_str())
            .filter(|(_, at)| at.elapsed() < JWKS_TTL)
            .map(|(v, _)| v.clone())
    }

    fn remember_jwks(&self, project: &ProjectId, keys: Value) {
        if let Ok(mut map) = self.jwks.lock() {
            if map.len() >= JWKS_CACHE_MAX {
                map.retain(|_, (_, at)| at.elapsed() < JWKS_TTL);
                if map.len() >= JWKS_CACHE_MAX {
                    map.clear();
                }
            }
            map.insert(project.as_str().to_owned(), (keys, Instant::now()));
        }
    }

    /// After this replica changed a project's keys: its next JWKS is read afresh.
    pub fn forget_jwks(&self, project: &ProjectId) {
        if let Ok(mut map) = self.jwks.lock() {
            map.remove(project.as_str());
        }
    }

    fn cached(&self, project: &ProjectId) -> Option<Arc<Signer>> {
        let map = self.signers.lock().ok()?;
        map.get(project.as_str())
            .filter(|(_, at)| at.elapsed() < SIGNER_TTL)
            .map(|(s, _)| s.clone())
    }

    fn remember(&self, project: &ProjectId, signer: Arc<Signer>) {
        if let Ok(mut map) = self.signers.lock() {
            map.insert(project.as_str().to_owned(), (signer, Instant::now()));
        }
    }
}

fn key_error(e: KeyError) -> OtpError {
    OtpError::SigningKey(e.to_string())
}

async fn generate_sealed(
    keys: &SessionKeys,
    project: &ProjectId,
) -> Result<(SigningKeyId, signing_key::GeneratedKey, Vec<u8>), OtpError> {
    let generated = tokio::task::spawn_blocking(signing_key::generate)
        .await
        .map_err(|e| OtpError::SigningKey(e.to_string()))?
        .map_err(key_error)?;
    let kid = SigningKeyId::generate(project.environment());
    let sealed = {
        use secrecy::ExposeSecret;
        keys.sealer
            .seal(kid.as_str(), generated.private_der.expose_secret())
            .map_err(key_error)?
    };
    Ok((kid, generated, sealed))
}

/// The project's current signing key, made on first use (race-safe across replicas).
async fn signer(svc: &Services, project: &ProjectId) -> Result<Arc<Signer>, OtpError> {
    let keys = &svc.sessions;
    if let Some(s) = keys.cached(project) {
        return Ok(s);
    }
    let row = match db::current_key(&svc.pool, project).await? {
        Some(row) => row,
        None => {
            let _one = keys.generating.lock().await;
            match db::current_key(&svc.pool, project).await? {
                Some(row) => row,
                None => {
                    let (kid, generated, sealed) = generate_sealed(keys, project).await?;
                    db::insert_first_key(
                        &svc.pool,
                        NewKey {
                            kid: kid.as_str(),
                            project,
                            n: &generated.n,
                            e: &generated.e,
                            sealed: &sealed,
                        },
                    )
                    .await?;
                    keys.forget_jwks(project);
                    // Ours, or another replica's that won the race.
                    db::current_key(&svc.pool, project)
                        .await?
                        .ok_or_else(|| OtpError::SigningKey("no current key".into()))?
                }
            }
        }
    };
    let der = keys
        .sealer
        .open(&row.kid, &row.private_sealed)
        .map_err(key_error)?;
    let signer = Arc::new(Signer::from_der(row.kid, &der));
    keys.remember(project, signer.clone());
    Ok(signer)
}

/// `otpd project keys rotate`: a new current key; the old one stays published for an hour.
pub async fn rotate_key(
    pool: &sqlx::PgPool,
    keys: &SessionKeys,
    project: &ProjectId,
) -> Result<SigningKeyId, OtpError> {
    let (kid, generated, sealed) = generate_sealed(keys, project).await?;
    db::rotate_key(
        pool,
        NewKey {
            kid: kid.as_str(),
            project,
            n: &generated.n,
            e: &generated.e,
            sealed: &sealed,
        },
    )
    .await?;
    keys.forget_jwks(project);
    Ok(kid)
}

/// `otpd project keys revoke`: an emergency. The key leaves the JWKS and JWTs it signed stop
/// verifying at once; when it was the current key a new one is made and returned. Replicas
/// that cached it as their signer use it for up to 30 s more (their JWTs from then don't
/// verify; the session tokens do). `None` when the project has no such published key.
pub async fn revoke_key(
    pool: &sqlx::PgPool,
    keys: &SessionKeys,
    project: &ProjectId,
    kid: &str,
) -> Result<Option<Option<SigningKeyId>>, OtpError> {
    let Some(was_current) = db::revoke_key(pool, project, kid).await? else {
        return Ok(None);
    };
    keys.forget_jwks(project);
    if !was_current {
        return Ok(Some(None));
    }
    let (new_kid, generated, sealed) = generate_sealed(keys, project).await?;
    db::insert_first_key(
        pool,
        NewKey {
            kid: new_kid.as_str(),
            project,
            n: &generated.n,
            e: &generated.e,
            sealed: &sealed,
        },
    )
    .await?;
    Ok(Some(Some(new_kid)))
}

/// The JWKS: every published key of the project (none until its first session), from this
/// replica's memory for up to [`JWKS_TTL`].
pub async fn jwks(svc: &Services, project: &ProjectId) -> Result<Value, OtpError> {
    if let Some(keys) = svc.sessions.cached_jwks(project) {
        return Ok(keys);
    }
    let keys = db::published_keys(&svc.pool, project).await?;
    let keys: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "key_ops": ["verify"],
                "kid": k.kid, "n": k.n, "e": k.e, "x5c": [], "x5tS256": "",
            })
        })
        .collect();
    let keys = Value::Array(keys);
    svc.sessions.remember_jwks(project, keys.clone());
    Ok(keys)
}

/// Consumer sessions or B2B member sessions: they never answer for each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Consumer,
    Member,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Consumer => "consumer",
            Kind::Member => "b2b",
        }
    }
}

/// A session the caller presented: `session_token` or `session_jwt`, at most one.
pub enum Presented {
    Token(String),
    Jwt(String),
}

impl Presented {
    /// `None` when neither is given; both at once is Stytch's `too_many_session_arguments`.
    pub fn from_fields(
        token: Option<String>,
        jwt: Option<String>,
    ) -> Result<Option<Presented>, OtpError> {
        let token = token.filter(|t| !t.is_empty());
        let jwt = jwt.filter(|t| !t.is_empty());
        match (token, jwt) {
            (Some(_), Some(_)) => Err(OtpError::TooManySessionArguments),
            (Some(t), None) => Ok(Some(Presented::Token(t))),
            (None, Some(j)) => Ok(Some(Presented::Jwt(j))),
            (None, None) => Ok(None),
        }
    }
}

/// A presented session, identified but not yet touched.
pub struct Identified {
    token_hash: Option<[u8; 32]>,
    id: Option<String>,
    /// The token to hand back (only a token can be; a JWT caller gets `""`).
    token: String,
}

impl Identified {
    fn lookup<'a>(&'a self, project: &'a ProjectId, kind: Kind) -> Lookup<'a> {
        Lookup {
            project,
            token_hash: self.token_hash.as_ref().map(|h| h.as_slice()),
            id: self.id.as_deref(),
            member: kind == Kind::Member,
        }
    }
}

/// Hashes a token, or verifies a JWT against the project's published keys and takes the
/// session id from its claim. A JWT that does not verify names no session.
pub async fn identify(
    svc: &Services,
    project: &ProjectId,
    presented: Presented,
) -> Result<Identified, OtpError> {
    match presented {
        Presented::Token(t) => Ok(Identified {
            token_hash: Some(svc.sessions.token_hasher.hash(&t)),
            id: None,
            token: t,
        }),
        Presented::Jwt(jwt) => {
            let kid = signing_key::kid_of(&jwt).ok_or(OtpError::SessionNotFound)?;
            let keys = db::published_keys(&svc.pool, project).await?;
            let key = keys
                .iter()
                .find(|k| k.kid == kid)
                .ok_or(OtpError::SessionNotFound)?;
            let claims = signing_key::verify(&jwt, &key.n, &key.e, project.as_str())
                .ok_or(OtpError::SessionNotFound)?;
            let id = claims
                .pointer(&format!("/{}/id", SESSION_CLAIM.replace('/', "~1")))
                .and_then(Value::as_str)
                .ok_or(OtpError::SessionNotFound)?;
            Ok(Identified {
                token_hash: None,
                id: Some(id.to_owned()),
                token: String::new(),
            })
        }
    }
}

/// Identifies a presented session and checks it is live (before a passcode is spent on it).
pub async fn identify_live(
    svc: &Services,
    project: &ProjectId,
    kind: Kind,
    presented: Presented,
) -> Result<Identified, OtpError> {
    let found = identify(svc, project, presented).await?;
    if db::is_live(&svc.pool, found.lookup(project, kind)).await? {
        Ok(found)
    } else {
        metrics::session(kind.label(), "authenticated", "not_found");
        Err(OtpError::SessionNotFound)
    }
}

/// Who a session belongs to.
pub enum Owner<'a> {
    User {
        user_id: &'a str,
    },
    Member {
        member_id: &'a str,
        organization_id: &'a str,
        organization_slug: &'a str,
    },
}

impl Owner<'_> {
    fn kind(&self) -> Kind {
        match self {
            Owner::User { .. } => Kind::Consumer,
            Owner::Member { .. } => Kind::Member,
        }
    }

    fn id(&self) -> &str {
        match self {
            Owner::User { user_id } => user_id,
            Owner::Member { member_id, .. } => member_id,
        }
    }
}

/// A session as the API answers it: the row, its token (or `""`) and a fresh JWT.
pub struct Issued {
    pub row: SessionRow,
    pub token: String,
    pub jwt: String,
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The roles every session carries at Stytch.
pub fn roles(kind: Kind) -> [&'static str; 1] {
    match kind {
        Kind::Consumer => ["stytch_user"],
        Kind::Member => ["stytch_member"],
    }
}

async fn sign(
    svc: &Services,
    project: &ProjectId,
    row: &SessionRow,
    org_slug: Option<&str>,
) -> Result<String, OtpError> {
    let signer = signer(svc, project).await?;
    let now = Utc::now().timestamp();
    let kind = if row.member_id.is_some() {
        Kind::Member
    } else {
        Kind::Consumer
    };
    let sub = row
        .user_id
        .as_deref()
        .or(row.member_id.as_deref())
        .unwrap_or_default();
    let mut claims = Map::new();
    if let Some(custom) = row.custom_claims.as_object() {
        for (k, v) in custom {
            if !k.starts_with(STYTCH_CLAIM_PREFIX) {
                claims.insert(k.clone(), v.clone());
            }
        }
    }
    claims.insert(
        SESSION_CLAIM.into(),
        json!({
            "id": row.id,
            "started_at": ts(&row.started_at),
            "last_accessed_at": ts(&row.last_accessed_at),
            "expires_at": ts(&row.expires_at),
            "attributes": row.attributes,
            "authentication_factors": row.factors,
            "roles": roles(kind),
        }),
    );
    if let (Some(org), Some(slug)) = (row.organization_id.as_deref(), org_slug) {
        claims.insert(
            ORGANIZATION_CLAIM.into(),
            json!({"organization_id": org, "slug": slug}),
        );
    }
    claims.insert("sub".into(), json!(sub));
    claims.insert("aud".into(), json!([project.as_str()]));
    claims.insert("iss".into(), json!(signing_key::issuer(project.as_str())));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    // Never past the session's own end.
    let exp = (now + JWT_LIFETIME_SECS).min(row.expires_at.timestamp().max(now + 1));
    claims.insert("exp".into(), json!(exp));
    signer.sign(&Value::Object(claims)).map_err(key_error)
}

/// After a successful factor (a passcode): adds it to the presented session, or starts a
/// session when a duration is given (with `prior` factors already met, e.g. an intermediate
/// session's, before it); `None` when neither (the caller owns its sessions).
#[allow(clippy::too_many_arguments)]
pub async fn after_factor(
    svc: &Services,
    project: &Project,
    owner: Owner<'_>,
    presented: Option<Identified>,
    duration: Option<SessionDuration>,
    prior: &[Value],
    factor: &Value,
    claims: &ClaimsUpdate,
    attributes: &Value,
) -> Result<Option<Issued>, OtpError> {
    let kind = owner.kind();
    let org_slug = match &owner {
        Owner::Member {
            organization_slug, ..
        } => Some(*organization_slug),
        Owner::User { .. } => None,
    };
    let (set, delete) = claims.split();
    let row = match &presented {
        Some(found) => {
            let row = touch_capped(
                svc,
                found.lookup(&project.id, kind),
                Touch {
                    minutes: duration.map(SessionDuration::minutes),
                    factor: Some(factor),
                    set_claims: set.as_ref(),
                    delete_claims: &delete,
                    owner: Some(owner.id()),
                },
            )
            .await?;
            let Some(row) = row else {
                metrics::session(kind.label(), "authenticated", "not_found");
                return Err(OtpError::SessionNotFound);
            };
            metrics::session(kind.label(), "authenticated", "success");
            row
        }
        None => {
            let Some(duration) = duration else {
                return Ok(None);
            };
            let custom = claims
                .apply(&json!({}))
                .map_err(|e| OtpError::InvalidClaims(e.to_string()))?;
            let token = SessionToken::generate();
            let hash = svc.sessions.token_hasher.hash(token.expose());
            let env = project.env();
            let (id, user_id, member_id, org_id) = match &owner {
                Owner::User { user_id } => (
                    SessionId::generate(env).to_string(),
                    Some(*user_id),
                    None,
                    None,
                ),
                Owner::Member {
                    member_id,
                    organization_id,
                    ..
                } => (
                    MemberSessionId::generate(env).to_string(),
                    None,
                    Some(*member_id),
                    Some(*organization_id),
                ),
            };
            let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
            let row = db::insert_session(
                &mut conn,
                NewSession {
                    id: &id,
                    project: &project.id,
                    user_id,
                    member_id,
                    organization_id: org_id,
                    token_hash: &hash,
                    minutes: duration.minutes(),
                    attributes,
                    custom_claims: &custom,
                    factors: &Value::Array(
                        prior
                            .iter()
                            .chain(std::iter::once(factor))
                            .cloned()
                            .collect(),
                    ),
                },
            )
            .await?;
            drop(conn);
            metrics::session(kind.label(), "created", "success");
            tracing::info!(session_id = %row.id, "session started");
            let jwt = sign(svc, &project.id, &row, org_slug).await?;
            return Ok(Some(Issued {
                row,
                token: token.expose().to_owned(),
                jwt,
            }));
        }
    };
    let jwt = sign(svc, &project.id, &row, org_slug).await?;
    let token = presented.map(|p| p.token).unwrap_or_default();
    Ok(Some(Issued { row, token, jwt }))
}

/// Touches a session; when the touch sets claims, the merged claims must stay within
/// `MAX_CUSTOM_CLAIMS_BYTES` (each update alone may fit while the sum outgrows the cap), so
/// the merge runs in a transaction that is rolled back when they don't.
async fn touch_capped(
    svc: &Services,
    lookup: Lookup<'_>,
    touch: Touch<'_>,
) -> Result<Option<SessionRow>, OtpError> {
    if touch.set_claims.is_none() {
        let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
        return Ok(db::touch(&mut conn, lookup, touch).await?);
    }
    let mut tx = svc.pool.begin().await.map_err(StoreError::from)?;
    let row = db::touch(&mut tx, lookup, touch).await?;
    if let Some(r) = &row {
        if r.custom_claims.to_string().len() > crate::domain::session::MAX_CUSTOM_CLAIMS_BYTES {
            // Dropping the transaction rolls the touch back.
            return Err(OtpError::InvalidClaims(format!(
                "session_custom_claims: the session's claims with this update would exceed {} bytes",
                crate::domain::session::MAX_CUSTOM_CLAIMS_BYTES
            )));
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(row)
}

/// `sessions.authenticate`: the presented live session, touched (and extended and its
/// claims updated when asked), with a fresh JWT.
pub async fn authenticate(
    svc: &Services,
    project: &Project,
    kind: Kind,
    presented: Presented,
    duration: Option<SessionDuration>,
    claims: &ClaimsUpdate,
) -> Result<Issued, OtpError> {
    let found = match identify(svc, &project.id, presented).await {
        Ok(f) => f,
        Err(e) => {
            metrics::session(kind.label(), "authenticated", "invalid");
            return Err(e);
        }
    };
    let (set, delete) = claims.split();
    let row = touch_capped(
        svc,
        found.lookup(&project.id, kind),
        Touch {
            minutes: duration.map(SessionDuration::minutes),
            factor: None,
            set_claims: set.as_ref(),
            delete_claims: &delete,
            owner: None,
        },
    )
    .await?;
    let Some(row) = row else {
        metrics::session(kind.label(), "authenticated", "not_found");
        return Err(OtpError::SessionNotFound);
    };
    metrics::session(kind.label(), "authenticated", "success");
    let slug = match row.organization_id.as_deref() {
        Some(org) => crate::store::organizations::find_organization(&svc.pool, &project.id, org)
            .await?
            .map(|o| o.slug),
        None => None,
    };
    let jwt = sign(svc, &project.id, &row, slug.as_deref()).await?;
    Ok(Issued {
        row,
        token: found.token,
        jwt,
    })
}

/// What `revoke` names: a session id, or a presented token or JWT.
pub enum RevokeTarget {
    Id(String),
    Presented(Presented),
    /// B2B: every session of a member.
    Member(String),
}

pub async fn revoke(
    svc: &Services,
    project: &Project,
    kind: Kind,
    target: RevokeTarget,
) -> Result<(), OtpError> {
    let done = match target {
        RevokeTarget::Member(member_id) => {
            db::revoke_member(&svc.pool, &project.id, &member_id).await?;
            true
        }
        RevokeTarget::Id(id) => {
            db::revoke(
                &svc.pool,
                Lookup {
                    project: &project.id,
                    token_hash: None,
                    id: Some(&id),
                    member: kind == Kind::Member,
                },
            )
            .await?
        }
        RevokeTarget::Presented(p) => {
            let found = identify(svc, &project.id, p).await?;
            db::revoke(&svc.pool, found.lookup(&project.id, kind)).await?
        }
    };
    if done {
        metrics::session(kind.label(), "revoked", "success");
        tracing::info!("session revoked");
        Ok(())
    } else {
        metrics::session(kind.label(), "revoked", "not_found");
        Err(OtpError::SessionNotFound)
    }
}

/// Live sessions of a user or member.
pub async fn list(
    svc: &Services,
    project: &Project,
    user_id: Option<&str>,
    member_id: Option<&str>,
) -> Result<Vec<SessionRow>, OtpError> {
    Ok(db::list(&svc.pool, &project.id, user_id, member_id).await?)
}

/// The session-shaped pieces the HTTP layer renders (timestamps as RFC 3339).
pub fn timestamps(row: &SessionRow) -> (String, String, String) {
    (
        ts(&row.started_at),
        ts(&row.last_accessed_at),
        ts(&row.expires_at),
    )
}

/// The sample session the sandbox token authenticates to in test projects (fixed ids, as
/// Stytch's sandbox answers with a fixed sample).
pub fn sandbox_row() -> SessionRow {
    let now = Utc::now();
    SessionRow {
        id: "session-test-fe6c042b-6286-479f-8a4f-b046a6c46509".into(),
        user_id: Some("user-test-e3795c81-f849-4167-bfda-e4a6e9c280fd".into()),
        member_id: None,
        organization_id: None,
        started_at: now,
        last_accessed_at: now,
        expires_at: now + chrono::Duration::minutes(60),
        attributes: json!({"ip_address": "", "user_agent": ""}),
        custom_claims: json!({}),
        factors: json!([crate::domain::session::otp_factor(
            "sms",
            "phone-number-test-d5a3b680-e8a3-40c0-b815-ab79986666d0",
            crate::domain::SANDBOX_NUMBER,
            &ts(&now),
        )]),
    }
}

/// The user a presented consumer session belongs to (touching it: it was used).
pub async fn user_of(
    svc: &Services,
    project: &Project,
    presented: Presented,
) -> Result<String, OtpError> {
    let found = identify(svc, &project.id, presented).await?;
    let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
    let row = db::touch(
        &mut conn,
        found.lookup(&project.id, Kind::Consumer),
        Touch::default(),
    )
    .await?
    .ok_or(OtpError::SessionNotFound)?;
    row.user_id.ok_or(OtpError::SessionNotFound)
}

/// After a consumer passcode: the factor for the phone it went to, added to the presented
/// session or to a new one.
#[allow(clippy::too_many_arguments)]
pub async fn after_phone_factor(
    svc: &Services,
    project: &Project,
    user_id: &str,
    phone_id: &str,
    phone_number: &str,
    presented: Option<Identified>,
    duration: Option<SessionDuration>,
    claims: &ClaimsUpdate,
    attributes: &Value,
) -> Result<Option<Issued>, OtpError> {
    let channel = db::last_used_channel(&svc.pool, &project.id, phone_id).await?;
    let now = ts(&Utc::now());
    let factor = crate::domain::session::otp_factor(&channel, phone_id, phone_number, &now);
    after_factor(
        svc,
        project,
        Owner::User { user_id },
        presented,
        duration,
        &[],
        &factor,
        claims,
        attributes,
    )
    .await
}

/// After a member's factor (an SMS passcode, a trusted auth token): Stytch always starts
/// (default 60 minutes, with the `prior` factors of a consumed intermediate session) or
/// extends a member session.
#[allow(clippy::too_many_arguments)]
pub async fn after_member_factor(
    svc: &Services,
    project: &Project,
    member: &crate::domain::organization::Member,
    org: &crate::domain::organization::Organization,
    presented: Option<Identified>,
    duration: Option<SessionDuration>,
    prior: &[Value],
    factor: &Value,
    claims: &ClaimsUpdate,
) -> Result<Issued, OtpError> {
    let duration = match (&presented, duration) {
        (_, Some(d)) => Some(d),
        (None, None) => Some(SessionDuration::B2B_DEFAULT),
        (Some(_), None) => None,
    };
    after_factor(
        svc,
        project,
        Owner::Member {
            member_id: member.id.as_str(),
            organization_id: org.id.as_str(),
            organization_slug: &org.slug,
        },
        presented,
        duration,
        prior,
        factor,
        claims,
        &serde_json::json!({"ip_address": "", "user_agent": ""}),
    )
    .await?
    .ok_or(OtpError::SessionNotFound)
}

/// The factor a member's SMS passcode adds to a session.
pub fn member_sms_factor(member: &crate::domain::organization::Member) -> Value {
    let now = ts(&Utc::now());
    crate::domain::session::otp_factor("sms", "", &member.mfa_phone_number, &now)
}

/// Stytch's intermediate sessions last ten minutes.
pub const INTERMEDIATE_SESSION_MINUTES: i32 = 10;

/// What proves a B2B SMS step is the member's own second factor: an intermediate session
/// otpd issued after a primary factor, or a live member session (exactly one; the HTTP
/// adapters build it from `intermediate_session_token`, `session_token`, `session_jwt`, or
/// the `/sdk/v1` Basic-auth password).
pub enum MfaProof {
    Intermediate(String),
    Session(Presented),
}

impl MfaProof {
    /// `None` when none is given; more than one is Stytch's `too_many_session_arguments`.
    pub fn from_fields(
        intermediate_session_token: Option<String>,
        session_token: Option<String>,
        session_jwt: Option<String>,
    ) -> Result<Option<MfaProof>, OtpError> {
        let ist = intermediate_session_token.filter(|t| !t.is_empty());
        match (ist, Presented::from_fields(session_token, session_jwt)?) {
            (Some(_), Some(_)) => Err(OtpError::TooManySessionArguments),
            (Some(t), None) => Ok(Some(MfaProof::Intermediate(t))),
            (None, Some(p)) => Ok(Some(MfaProof::Session(p))),
            (None, None) => Ok(None),
        }
    }
}

/// A proof found valid for one member, not yet spent.
pub enum CheckedProof {
    Intermediate { token_hash: [u8; 32] },
    Session(Identified),
}

/// Checks that `proof` is this member's, in this organization, and live; spends nothing.
pub async fn check_proof(
    svc: &Services,
    project: &Project,
    org: &crate::domain::organization::Organization,
    member: &crate::domain::organization::Member,
    proof: MfaProof,
) -> Result<CheckedProof, OtpError> {
    match proof {
        MfaProof::Intermediate(token) => {
            let token_hash = svc.sessions.ist_hasher.hash(&token);
            let found = crate::store::intermediate::find_live(&svc.pool, &project.id, &token_hash)
                .await?
                .ok_or(OtpError::IntermediateSessionNotFound)?;
            if found.organization_id != org.id.as_str() {
                return Err(OtpError::IntermediateSessionWrongOrganization);
            }
            if found.member_id != member.id.as_str() {
                return Err(OtpError::IntermediateSessionNotFound);
            }
            Ok(CheckedProof::Intermediate { token_hash })
        }
        MfaProof::Session(presented) => {
            let found = identify(svc, &project.id, presented).await?;
            let owner = db::live_owner(&svc.pool, found.lookup(&project.id, Kind::Member)).await?;
            if owner.as_deref() != Some(member.id.as_str()) {
                metrics::session(Kind::Member.label(), "authenticated", "not_found");
                return Err(OtpError::SessionNotFound);
            }
            Ok(CheckedProof::Session(found))
        }
    }
}

/// Consumes a checked intermediate session inside the caller's transaction; its factors.
pub async fn consume_intermediate(
    conn: &mut sqlx::PgConnection,
    project: &Project,
    token_hash: &[u8; 32],
    member: &crate::domain::organization::Member,
) -> Result<Vec<Value>, OtpError> {
    let factors =
        crate::store::intermediate::consume(conn, &project.id, token_hash, member.id.as_str())
            .await?
            .ok_or(OtpError::IntermediateSessionNotFound)?;
    Ok(factors.as_array().cloned().unwrap_or_default())
}

/// Issues an intermediate session for a member after a primary factor (`factors`); the
/// opaque token, 44 base64url characters like a session token's.
pub async fn issue_intermediate(
    svc: &Services,
    project: &Project,
    org: &crate::domain::organization::Organization,
    member: &crate::domain::organization::Member,
    factors: &[Value],
) -> Result<String, OtpError> {
    let token = SessionToken::generate();
    let hash = svc.sessions.ist_hasher.hash(token.expose());
    crate::store::intermediate::insert(
        &svc.pool,
        crate::store::intermediate::NewIntermediate {
            token_hash: &hash,
            project: &project.id,
            organization_id: org.id.as_str(),
            member_id: member.id.as_str(),
            factors: &Value::Array(factors.to_vec()),
            minutes: INTERMEDIATE_SESSION_MINUTES,
        },
    )
    .await?;
    metrics::session(Kind::Member.label(), "intermediate", "success");
    Ok(token.expose().to_owned())
}
