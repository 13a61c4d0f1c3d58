//! Passcode hashes with their expiry, attempt counter and single-use mark.
//!
//! The newest row for a method is its only live code: older rows are superseded by order
//! (`seq`), so a send never has to update the previous code and cannot race with it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::ids::ProjectId;

use super::StoreError;

pub struct NewPasscode<'a> {
    pub id: Uuid,
    pub project: &'a ProjectId,
    pub method_id: &'a str,
    pub channel: &'a str,
    /// The E.164 number the code is sent to: the only number it can prove.
    pub destination: &'a str,
    pub code_hash: &'a str,
    pub max_attempts: i32,
    pub ttl_seconds: i64,
}

/// Returns the code's expiry, computed by PostgreSQL so every replica agrees on time.
pub async fn insert(pool: &PgPool, p: NewPasscode<'_>) -> Result<DateTime<Utc>, StoreError> {
    let expires = sqlx::query_scalar!(
        "insert into passcodes (id, project_id, method_id, channel, code_hash, max_attempts, expires_at,
                                destination)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)
         returning expires_at",
        p.id,
        p.project.as_str(),
        p.method_id,
        p.channel,
        p.code_hash,
        p.max_attempts,
        p.ttl_seconds as f64,
        p.destination
    )
    .fetch_one(pool)
    .await?;
    Ok(expires)
}

/// Withdraws a code whose message could not be sent, so it cannot be guessed at.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<(), StoreError> {
    sqlx::query!("delete from passcodes where id = $1", id)
        .execute(pool)
        .await?;
    Ok(())
}

/// What one counted attempt found.
#[derive(Debug)]
pub enum Attempt {
    /// No code was ever sent to this method.
    NoCode,
    /// The newest code is expired, used or out of attempts; nothing was counted.
    Unusable(Unusable),
    /// The attempt was counted; the caller may now check the hash.
    Counted {
        id: Uuid,
        seq: i64,
        code_hash: String,
    },
}

/// Why the newest code can't be attempted (for metrics and logs; callers answer the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Used,
    Expired,
    Exhausted,
}

/// Counts an attempt against the newest code, in one statement, before any hash is checked:
/// of N concurrent attempts at most `max_attempts` ever reach the hash comparison.
pub async fn begin_attempt(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &str,
) -> Result<Attempt, StoreError> {
    let row = sqlx::query!(
        r#"with newest as (
               select id, consumed_at is not null as used, expires_at <= now() as expired
               from passcodes
               where project_id = $1 and method_id = $2
               order by seq desc limit 1),
           counted as (
               update passcodes p set attempts = p.attempts + 1
               from newest
               where p.id = newest.id
                 and p.consumed_at is null
                 and p.expires_at > now()
                 and p.attempts < p.max_attempts
               returning p.id, p.seq, p.code_hash)
           select counted.id as "id?", counted.seq as "seq?", counted.code_hash as "code_hash?",
                  newest.used as "used!", newest.expired as "expired!"
           from newest left join counted on true"#,
        project.as_str(),
        method_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Attempt::NoCode,
        Some(r) => match (r.id, r.seq, r.code_hash) {
            (Some(id), Some(seq), Some(code_hash)) => Attempt::Counted { id, seq, code_hash },
            _ if r.used => Attempt::Unusable(Unusable::Used),
            _ if r.expired => Attempt::Unusable(Unusable::Expired),
            _ => Attempt::Unusable(Unusable::Exhausted),
        },
    })
}

/// Marks the code used if it is still live and still the newest; true for exactly one caller.
pub async fn consume(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let row = sqlx::query_scalar!(
        "update passcodes p set consumed_at = now()
         where p.id = $1
           and p.consumed_at is null
           and p.expires_at > now()
           and not exists (select 1 from passcodes n
                           where n.project_id = p.project_id and n.method_id = p.method_id
                             and n.seq > p.seq)
         returning p.id",
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The hash of the code sent just before `seq`, if it has not expired: a match means the
/// person typed a superseded code, which is answered differently from a wrong one.
pub async fn superseded_hash(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &str,
    seq: i64,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query_scalar!(
        "select code_hash from passcodes
         where project_id = $1 and method_id = $2 and seq < $3
           and consumed_at is null and expires_at > now()
         order by seq desc limit 1",
        project.as_str(),
        method_id,
        seq
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}
