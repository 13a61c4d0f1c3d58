//! Sessions (consumer and B2B member) and the per-project JWT signing keys.
//!
//! A session is found by its id or by the keyed hash of its token, never by the token. Each
//! authenticate is one `UPDATE … WHERE live … RETURNING`: touching, extending, adding a
//! factor and merging custom claims happen together or not at all, and a revoked or expired
//! session is never touched.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::domain::ids::ProjectId;

use super::StoreError;

/// Seconds a retired signing key stays published and accepted: longer than a JWT's life
/// plus the time replicas may keep signing with a cached key after a rotation.
pub const RETIRED_KEY_GRACE_SECS: f64 = 3600.0;

pub struct KeyRow {
    pub kid: String,
    pub private_sealed: Vec<u8>,
}

pub struct PublicKeyRow {
    pub kid: String,
    pub n: String,
    pub e: String,
}

pub struct NewKey<'a> {
    pub kid: &'a str,
    pub project: &'a ProjectId,
    pub n: &'a str,
    pub e: &'a str,
    pub sealed: &'a [u8],
}

/// The key that signs new JWTs, if the project has one yet.
pub async fn current_key(pool: &PgPool, project: &ProjectId) -> Result<Option<KeyRow>, StoreError> {
    let row = sqlx::query_as!(
        KeyRow,
        "select kid, private_sealed from signing_keys
         where project_id = $1 and retired_at is null",
        project.as_str()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Inserts the project's first key unless another request did first; the unique index on
/// the current key makes concurrent first requests end with exactly one.
pub async fn insert_first_key(pool: &PgPool, k: NewKey<'_>) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "insert into signing_keys (kid, project_id, public_n, public_e, private_sealed)
         values ($1, $2, $3, $4, $5)
         on conflict (project_id) where retired_at is null do nothing",
        k.kid,
        k.project.as_str(),
        k.n,
        k.e,
        k.sealed
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Retires the current key (if any) and makes `k` current, in one transaction.
pub async fn rotate_key(pool: &PgPool, k: NewKey<'_>) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "update signing_keys set retired_at = now()
         where project_id = $1 and retired_at is null",
        k.project.as_str()
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into signing_keys (kid, project_id, public_n, public_e, private_sealed)
         values ($1, $2, $3, $4, $5)",
        k.kid,
        k.project.as_str(),
        k.n,
        k.e,
        k.sealed
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `otpd project keys revoke`: the key leaves the JWKS and stops verifying at once (its
/// retirement is set back past the grace period). `None` when the project has no such key
/// still published; `Some(true)` when it was the current key (the project then has none until
/// a new one is made).
pub async fn revoke_key(
    pool: &PgPool,
    project: &ProjectId,
    kid: &str,
) -> Result<Option<bool>, StoreError> {
    let row = sqlx::query_scalar!(
        r#"with k as (select kid, retired_at is null as current from signing_keys
                      where project_id = $1 and kid = $2
                        and (retired_at is null
                             or retired_at > now() - make_interval(secs => $3))
                      for update)
           update signing_keys s
              set retired_at = now() - make_interval(secs => $3 + 1)
             from k where s.kid = k.kid
           returning k.current as "current!""#,
        project.as_str(),
        kid,
        RETIRED_KEY_GRACE_SECS
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Keys the JWKS publishes and verification accepts: the current one and those retired
/// within the grace period, newest first.
pub async fn published_keys(
    pool: &PgPool,
    project: &ProjectId,
) -> Result<Vec<PublicKeyRow>, StoreError> {
    let rows = sqlx::query_as!(
        PublicKeyRow,
        "select kid, public_n as n, public_e as e from signing_keys
         where project_id = $1
           and (retired_at is null or retired_at > now() - make_interval(secs => $2))
         order by created_at desc",
        project.as_str(),
        RETIRED_KEY_GRACE_SECS
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: Option<String>,
    pub member_id: Option<String>,
    pub organization_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_accessed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub attributes: Value,
    pub custom_claims: Value,
    pub factors: Value,
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub project: &'a ProjectId,
    pub user_id: Option<&'a str>,
    pub member_id: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub token_hash: &'a [u8],
    pub minutes: i32,
    pub attributes: &'a Value,
    pub custom_claims: &'a Value,
    pub factors: &'a Value,
}

pub async fn insert_session(
    conn: &mut PgConnection,
    s: NewSession<'_>,
) -> Result<SessionRow, StoreError> {
    let row = sqlx::query_as!(
        SessionRow,
        "insert into sessions (id, project_id, user_id, member_id, organization_id, token_hash,
                               expires_at, attributes, custom_claims, factors)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7), $8, $9, $10)
         returning id, user_id, member_id, organization_id, started_at, last_accessed_at,
                   expires_at, attributes, custom_claims, factors",
        s.id,
        s.project.as_str(),
        s.user_id,
        s.member_id,
        s.organization_id,
        s.token_hash,
        s.minutes,
        s.attributes,
        s.custom_claims,
        s.factors
    )
    .fetch_one(conn)
    .await?;
    Ok(row)
}

/// Which session: by the keyed hash of its token, or by its id (from a verified JWT or the
/// caller). `member` picks B2B member sessions, otherwise consumer sessions.
pub struct Lookup<'a> {
    pub project: &'a ProjectId,
    pub token_hash: Option<&'a [u8]>,
    pub id: Option<&'a str>,
    pub member: bool,
}

/// What an authenticate changes besides `last_accessed_at`.
#[derive(Default)]
pub struct Touch<'a> {
    /// Extend: expire this many minutes from now.
    pub minutes: Option<i32>,
    /// Add (or refresh) a factor, replacing one for the same method and phone.
    pub factor: Option<&'a Value>,
    /// Custom claims to set, and keys to delete.
    pub set_claims: Option<&'a Value>,
    pub delete_claims: &'a [String],
    /// Only if the session belongs to this user or member.
    pub owner: Option<&'a str>,
}

/// Touches a live session in one statement; `None` when there is no such live session.
pub async fn touch(
    conn: &mut PgConnection,
    l: Lookup<'_>,
    t: Touch<'_>,
) -> Result<Option<SessionRow>, StoreError> {
    let row = sqlx::query_as!(
        SessionRow,
        r#"update sessions set
             last_accessed_at = now(),
             expires_at = case when $5::int is null then expires_at
                               else now() + make_interval(mins => $5) end,
             factors = case when $6::jsonb is null then factors
                 else coalesce((select jsonb_agg(f) from jsonb_array_elements(factors) f
                                where not (f->>'delivery_method' = $6->>'delivery_method'
                                           and f#>>'{phone_number_factor,phone_id}'
                                               = $6#>>'{phone_number_factor,phone_id}')),
                               '[]'::jsonb) || jsonb_build_array($6) end,
             custom_claims = (custom_claims || coalesce($7::jsonb, '{}'::jsonb)) - $8::text[]
           where project_id = $1
             and (($2::bytea is not null and token_hash = $2) or ($3::text is not null and id = $3))
             and (member_id is not null) = $4
             and ($9::text is null or user_id = $9 or member_id = $9)
             and revoked_at is null and expires_at > now()
           returning id, user_id, member_id, organization_id, started_at, last_accessed_at,
                     expires_at, attributes, custom_claims, factors"#,
        l.project.as_str(),
        l.token_hash,
        l.id,
        l.member,
        t.minutes,
        t.factor,
        t.set_claims,
        t.delete_claims,
        t.owner
    )
    .fetch_optional(conn)
    .await?;
    Ok(row)
}

/// Revokes one live session; false when there was none.
pub async fn revoke(pool: &PgPool, l: Lookup<'_>) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "update sessions set revoked_at = now()
         where project_id = $1
           and (($2::bytea is not null and token_hash = $2) or ($3::text is not null and id = $3))
           and (member_id is not null) = $4
           and revoked_at is null and expires_at > now()",
        l.project.as_str(),
        l.token_hash,
        l.id,
        l.member
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes every live session of a member (B2B `revoke` by `member_id`).
pub async fn revoke_member(
    pool: &PgPool,
    project: &ProjectId,
    member_id: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "update sessions set revoked_at = now()
         where project_id = $1 and member_id = $2 and revoked_at is null and expires_at > now()",
        project.as_str(),
        member_id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Live sessions of a user, or of a member, newest first.
pub async fn list(
    pool: &PgPool,
    project: &ProjectId,
    user_id: Option<&str>,
    member_id: Option<&str>,
) -> Result<Vec<SessionRow>, StoreError> {
    let rows = sqlx::query_as!(
        SessionRow,
        "select id, user_id, member_id, organization_id, started_at, last_accessed_at,
                expires_at, attributes, custom_claims, factors
         from sessions
         where project_id = $1
           and (($2::text is not null and user_id = $2) or ($3::text is not null and member_id = $3))
           and revoked_at is null and expires_at > now()
         order by started_at desc
         limit 100",
        project.as_str(),
        user_id,
        member_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The channel of the code a method last used (`sms` when none: the sandbox number), for the
/// session factor's `delivery_method`.
pub async fn last_used_channel(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &str,
) -> Result<String, StoreError> {
    let channel = sqlx::query_scalar!(
        "select channel from passcodes
         where project_id = $1 and method_id = $2 and consumed_at is not null
         order by seq desc limit 1",
        project.as_str(),
        method_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(channel.unwrap_or_else(|| "sms".to_owned()))
}

/// Whether the session is live (exists, unrevoked, unexpired), without touching it.
pub async fn is_live(pool: &PgPool, l: Lookup<'_>) -> Result<bool, StoreError> {
    let live = sqlx::query_scalar!(
        r#"select exists (
             select 1 from sessions
             where project_id = $1
               and (($2::bytea is not null and token_hash = $2) or ($3::text is not null and id = $3))
               and (member_id is not null) = $4
               and revoked_at is null and expires_at > now()) as "live!""#,
        l.project.as_str(),
        l.token_hash,
        l.id,
        l.member
    )
    .fetch_one(pool)
    .await?;
    Ok(live)
}

/// The member (or user) a live session belongs to, without touching it.
pub async fn live_owner(pool: &PgPool, l: Lookup<'_>) -> Result<Option<String>, StoreError> {
    let owner = sqlx::query_scalar!(
        r#"select coalesce(member_id, user_id) as "owner!" from sessions
           where project_id = $1
             and (($2::bytea is not null and token_hash = $2) or ($3::text is not null and id = $3))
             and (member_id is not null) = $4
             and revoked_at is null and expires_at > now()"#,
        l.project.as_str(),
        l.token_hash,
        l.id,
        l.member
    )
    .fetch_optional(pool)
    .await?;
    Ok(owner)
}
