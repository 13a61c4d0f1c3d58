//! Trusted auth token profiles and the token ids already accepted (replay guard: one
//! `INSERT … ON CONFLICT DO NOTHING` per token, so of concurrent attests one wins).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::domain::ids::ProjectId;

use super::StoreError;

pub struct NewProfile<'a> {
    pub id: &'a str,
    pub project: &'a ProjectId,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub jwks_url: Option<&'a str>,
    pub public_keys: Option<&'a Value>,
    pub email_claim: &'a str,
    pub token_id_claim: &'a str,
    pub jit_provisioning: bool,
}

pub async fn insert_profile(pool: &PgPool, p: NewProfile<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into trusted_token_profiles
             (id, project_id, issuer, audience, jwks_url, public_keys, email_claim,
              token_id_claim, jit_provisioning)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        p.id,
        p.project.as_str(),
        p.issuer,
        p.audience,
        p.jwks_url,
        p.public_keys,
        p.email_claim,
        p.token_id_claim,
        p.jit_provisioning
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ProfileRow {
    pub id: String,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Option<String>,
    pub public_keys: Option<Value>,
    pub email_claim: String,
    pub token_id_claim: String,
    pub jit_provisioning: bool,
}

pub async fn find_profile(
    pool: &PgPool,
    project: &ProjectId,
    id: &str,
) -> Result<Option<ProfileRow>, StoreError> {
    let row = sqlx::query_as!(
        ProfileRow,
        "select id, issuer, audience, jwks_url, public_keys, email_claim, token_id_claim,
                jit_provisioning
         from trusted_token_profiles where project_id = $1 and id = $2",
        project.as_str(),
        id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Records a token id as used; false when it already was.
pub async fn record_use(
    pool: &PgPool,
    profile_id: &str,
    token_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "insert into trusted_token_uses (profile_id, token_id, expires_at)
         values ($1, $2, $3) on conflict do nothing",
        profile_id,
        token_id,
        expires_at
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
