//! Replica-exact limits: each call is one statement running one of the PL/pgSQL functions of
//! `migrations/*_limits.sql`, so a check and its charge are atomic and cost one round trip.

use sqlx::PgPool;

use super::StoreError;
use crate::domain::ids::ProjectId;

/// The inputs of one send's admission.
pub struct SendAdmission<'a> {
    pub project: &'a ProjectId,
    pub number: &'a str,
    pub block: &'a str,
    pub country: &'a str,
    pub burst: i32,
    pub interval_ms: i64,
    pub daily_cap: i32,
    pub block_max: i32,
    pub block_window_s: i32,
    pub conv_min_sends: i32,
    pub conv_min_pct: i32,
    pub conv_window_s: i32,
    pub conv_grace_s: i32,
    pub project_budget: i32,
    pub country_budget: i32,
}

/// `None` when admitted (and charged), else the refusal reason name and milliseconds to wait.
pub async fn admit_send(
    pool: &PgPool,
    a: &SendAdmission<'_>,
) -> Result<Option<(String, i64)>, StoreError> {
    let row = sqlx::query!(
        r#"select reason, retry_after_ms as "retry_after_ms!"
           from otpd_admit_send($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"#,
        a.project.as_str(),
        a.number,
        a.block,
        a.country,
        a.burst,
        a.interval_ms,
        a.daily_cap,
        a.block_max,
        a.block_window_s,
        a.conv_min_sends,
        a.conv_min_pct,
        a.conv_window_s,
        a.conv_grace_s,
        a.project_budget,
        a.country_budget,
    )
    .fetch_one(pool)
    .await?;
    Ok(row.reason.map(|r| (r, row.retry_after_ms)))
}

/// Charges one guess to a GCRA bucket; 0 when allowed, else milliseconds to wait.
pub async fn charge_gcra(
    pool: &PgPool,
    project: &ProjectId,
    key: &str,
    burst: i32,
    interval_ms: i64,
) -> Result<i64, StoreError> {
    let wait = sqlx::query_scalar!(
        r#"select otpd_gcra($1, $2, $3, $4) as "wait!""#,
        project.as_str(),
        key,
        burst,
        interval_ms
    )
    .fetch_one(pool)
    .await?;
    Ok(wait)
}

pub async fn refund_gcra(
    pool: &PgPool,
    project: &ProjectId,
    key: &str,
    interval_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query!(
        "select otpd_gcra_refund($1, $2, $3)",
        project.as_str(),
        key,
        interval_ms
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

pub async fn record_conversion(
    pool: &PgPool,
    project: &ProjectId,
    country: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "select otpd_record_conversion($1, $2)",
        project.as_str(),
        country
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

/// Forgets the conversion history of one country (or all), closing its breaker. Returns
/// how many buckets were dropped.
pub async fn reset_conversion(
    pool: &PgPool,
    project: &ProjectId,
    country: Option<&str>,
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from limit_windows
         where project_id = $1
           and (key like 'cs:%' or key like 'cv:%')
           and ($2::text is null or key in ('cs:' || $2, 'cv:' || $2))",
        project.as_str(),
        country
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
