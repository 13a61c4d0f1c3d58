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
    /// The method's wrong-guess budget is spent: milliseconds until the next guess. Nothing
    /// was counted.
    GuessBudget(i64),
    /// No code was ever sent to this method.
    NoCode,
    /// The newest code is expired, used or out of attempts; nothing was counted.
    Unusable(Unusable),
    /// The attempt was counted; the caller may now check the hash, and the one of the code
    /// this one superseded (if that is still unexpired and unused).
    Counted {
        id: Uuid,
        code_hash: String,
        superseded_hash: Option<String>,
    },
}

/// Why the newest code can't be attempted (for metrics and logs; callers answer the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Used,
    Expired,
    Exhausted,
}

/// The method's wrong-guess budget (a GCRA bucket, `guess_key`).
pub struct GuessBudget<'a> {
    pub guess_key: &'a str,
    pub burst: i32,
    pub interval_ms: i64,
}

/// Charges one guess to the method's budget, then counts an attempt against the newest code
/// and reads its hash and the superseded code's, in one statement (`otpd_begin_attempt`),
/// before any hash is checked: of N concurrent attempts at most `max_attempts` ever reach the
/// hash comparison, and none beyond the guess budget.
pub async fn begin_attempt(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &str,
    budget: &GuessBudget<'_>,
) -> Result<Attempt, StoreError> {
    let r = sqlx::query!(
        r#"select wait_ms as "wait_ms!", found_code as "found_code!", used as "used!",
                  expired as "expired!", code_id, code_hash, superseded_hash
           from otpd_begin_attempt($1, $2, $3, $4, $5)"#,
        project.as_str(),
        method_id,
        budget.guess_key,
        budget.burst,
        budget.interval_ms
    )
    .fetch_one(pool)
    .await?;
    Ok(if r.wait_ms > 0 {
        Attempt::GuessBudget(r.wait_ms)
    } else if !r.found_code {
        Attempt::NoCode
    } else {
        match (r.code_id, r.code_hash) {
            (Some(id), Some(code_hash)) => Attempt::Counted {
                id,
                code_hash,
                superseded_hash: r.superseded_hash,
            },
            _ if r.used => Attempt::Unusable(Unusable::Used),
            _ if r.expired => Attempt::Unusable(Unusable::Expired),
            _ => Attempt::Unusable(Unusable::Exhausted),
        }
    })
}

/// A correct consumer code, in one statement (`otpd_authenticated`): uses it if it is still
/// live and still the newest (true for exactly one caller), marks the phone verified (and a
/// pending user active), gives the guess back and records the success for the limits.
pub struct Authenticated<'a> {
    pub code: Uuid,
    pub project: &'a ProjectId,
    pub method_id: &'a str,
    pub number: Option<&'a str>,
    pub country: &'a str,
    pub guess_key: &'a str,
    pub interval_ms: i64,
}

pub async fn authenticated(pool: &PgPool, a: &Authenticated<'_>) -> Result<bool, StoreError> {
    let used = sqlx::query_scalar!(
        r#"select otpd_authenticated($1, $2, $3, $4, $5, $6, $7) as "used!""#,
        a.code,
        a.project.as_str(),
        a.method_id,
        a.number,
        a.country,
        a.guess_key,
        a.interval_ms
    )
    .fetch_one(pool)
    .await?;
    Ok(used)
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
