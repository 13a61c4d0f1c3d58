//! Intermediate sessions: found by the keyed hash of their token, consumed at most once in
//! one `UPDATE … WHERE consumed_at IS NULL AND expires_at > now() RETURNING`.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::domain::ids::ProjectId;

use super::StoreError;

pub struct NewIntermediate<'a> {
    pub token_hash: &'a [u8],
    pub project: &'a ProjectId,
    pub organization_id: &'a str,
    pub member_id: &'a str,
    pub factors: &'a Value,
    pub minutes: i32,
}

pub async fn insert(pool: &PgPool, i: NewIntermediate<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into intermediate_sessions
             (token_hash, project_id, organization_id, member_id, factors, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(mins => $6))",
        i.token_hash,
        i.project.as_str(),
        i.organization_id,
        i.member_id,
        i.factors,
        i.minutes
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A live (unconsumed, unexpired) intermediate session.
pub struct LiveIntermediate {
    pub organization_id: String,
    pub member_id: String,
    pub factors: Value,
}

/// The live intermediate session of this token in this project, without consuming it.
pub async fn find_live(
    pool: &PgPool,
    project: &ProjectId,
    token_hash: &[u8],
) -> Result<Option<LiveIntermediate>, StoreError> {
    let row = sqlx::query_as!(
        LiveIntermediate,
        "select organization_id, member_id, factors from intermediate_sessions
         where token_hash = $1 and project_id = $2
           and consumed_at is null and expires_at > now()",
        token_hash,
        project.as_str()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Consumes the live intermediate session of this token for this member; its factors, or
/// `None` when it is gone (used, expired, another member's). Of concurrent calls, one wins.
pub async fn consume(
    conn: &mut PgConnection,
    project: &ProjectId,
    token_hash: &[u8],
    member_id: &str,
) -> Result<Option<Value>, StoreError> {
    let factors = sqlx::query_scalar!(
        "update intermediate_sessions set consumed_at = now()
         where token_hash = $1 and project_id = $2 and member_id = $3
           and consumed_at is null and expires_at > now()
         returning factors",
        token_hash,
        project.as_str(),
        member_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(factors)
}
