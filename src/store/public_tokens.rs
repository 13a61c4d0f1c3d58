//! Public tokens of the frontend surface and their allowed origins.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::ids::{ProjectId, PublicToken};

use super::projects::StoredProject;
use super::StoreError;

pub struct PublicTokenRow {
    pub token: PublicToken,
    pub origins: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// False when the token value is taken (by any project: tokens are global, as at Stytch).
pub async fn insert(
    pool: &PgPool,
    project: &ProjectId,
    token: &PublicToken,
    origins: &[String],
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "insert into public_tokens (token, project_id, origins) values ($1, $2, $3)
         on conflict (token) do nothing",
        token.as_str(),
        project.as_str(),
        origins
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn list(pool: &PgPool, project: &ProjectId) -> Result<Vec<PublicTokenRow>, StoreError> {
    let rows = sqlx::query!(
        "select token, origins, created_at, revoked_at from public_tokens
         where project_id = $1 order by created_at, token",
        project.as_str()
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PublicTokenRow {
            token: PublicToken::from_trusted(r.token),
            origins: r.origins,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// False when the project has no such live token.
pub async fn revoke(
    pool: &PgPool,
    project: &ProjectId,
    token: &PublicToken,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "update public_tokens set revoked_at = now()
         where project_id = $1 and token = $2 and revoked_at is null",
        project.as_str(),
        token.as_str()
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A live token's project and allowed origins, in one round trip.
pub async fn project_of(
    pool: &PgPool,
    token: &PublicToken,
) -> Result<Option<(StoredProject, Vec<String>)>, StoreError> {
    let row = sqlx::query!(
        "select p.id, p.name, p.settings, t.origins
         from public_tokens t join projects p on p.id = t.project_id
         where t.token = $1 and t.revoked_at is null",
        token.as_str()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        (
            StoredProject {
                id: ProjectId::from_trusted(r.id),
                name: r.name,
                settings: r.settings,
            },
            r.origins,
        )
    }))
}

/// Whether any live token of any project allows this origin: what a CORS preflight, which
/// carries no credentials, can be judged by.
pub async fn origin_allowed_anywhere(pool: &PgPool, origin: &str) -> Result<bool, StoreError> {
    let found = sqlx::query_scalar!(
        r#"select exists (select 1 from public_tokens
                          where revoked_at is null and origins @> array[$1::text]) as "found!""#,
        origin
    )
    .fetch_one(pool)
    .await?;
    Ok(found)
}

/// Remembers the session length an autofilled authenticate of `method_id`'s code should get,
/// and purges a batch of rows whose codes can no longer be live.
pub async fn remember_autofill_minutes(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &str,
    minutes: i32,
) -> Result<(), StoreError> {
    sqlx::query!(
        "with purged as (
             delete from sdk_autofill_sessions where ctid in (
                 select ctid from sdk_autofill_sessions
                 where created_at < now() - interval '10 minutes' limit 100))
         insert into sdk_autofill_sessions (project_id, method_id, minutes) values ($1, $2, $3)
         on conflict (project_id, method_id)
         do update set minutes = excluded.minutes, created_at = now()",
        project.as_str(),
        method_id,
        minutes
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The remembered length for `method_id`'s live code, taken once.
pub async fn take_autofill_minutes(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &str,
) -> Result<Option<i32>, StoreError> {
    let minutes = sqlx::query_scalar!(
        "delete from sdk_autofill_sessions
         where project_id = $1 and method_id = $2
           and created_at >= now() - interval '10 minutes'
         returning minutes",
        project.as_str(),
        method_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(minutes)
}
