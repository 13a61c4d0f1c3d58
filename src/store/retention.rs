//! Batched deletes of aged rows. Each statement deletes at most `batch` rows and skips rows
//! another replica's pass (or a request) holds, so passes never wait on each other.

use sqlx::PgPool;

use super::StoreError;

/// Passcodes that expired more than `hours` ago (used ones included: they wait for expiry
/// too, so a purge never lets an older code become a method's newest).
pub async fn delete_expired_passcodes(
    pool: &PgPool,
    hours: i32,
    batch: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from passcodes where id in (
             select id from passcodes
             where expires_at < now() - make_interval(hours => $1)
             limit $2 for update skip locked)",
        hours,
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Fake-provider outbox rows (message bodies with codes) older than `hours`.
pub async fn delete_old_outbox(pool: &PgPool, hours: i32, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from sandbox_outbox where id in (
             select id from sandbox_outbox
             where created_at < now() - make_interval(hours => $1)
             limit $2 for update skip locked)",
        hours,
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Sent-message records older than `days`.
pub async fn delete_old_messages(pool: &PgPool, days: i32, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from messages where id in (
             select id from messages
             where created_at < now() - make_interval(days => $1)
             limit $2 for update skip locked)",
        days,
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Delivery receipts older than `days` (their messages go at the same age; a receipt that
/// never found its message goes too).
pub async fn delete_old_receipts(pool: &PgPool, days: i32, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from delivery_receipts where ctid in (
             select ctid from delivery_receipts
             where received_at < now() - make_interval(days => $1)
             limit $2 for update skip locked)",
        days,
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// GCRA buckets whose theoretical arrival time has passed (the same as no row), unless the
/// row still counts its number's sends of the current UTC day.
pub async fn delete_spent_buckets(pool: &PgPool, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from limit_gcra where ctid in (
             select ctid from limit_gcra
             where tat < now() and (day is null or day < (now() at time zone 'UTC')::date)
             limit $1 for update skip locked)",
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Counter windows older than any window a limit looks at (a day, plus a day of margin).
pub async fn delete_old_windows(pool: &PgPool, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from limit_windows where ctid in (
             select ctid from limit_windows where window_start < now() - interval '2 days'
             limit $1 for update skip locked)",
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Sessions that expired or were revoked more than `hours` ago.
pub async fn delete_old_sessions(pool: &PgPool, hours: i32, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from sessions where id in (
             select id from sessions
             where expires_at < now() - make_interval(hours => $1)
                or revoked_at < now() - make_interval(hours => $1)
             limit $2 for update skip locked)",
        hours,
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Signing keys retired long enough ago that no JWT they signed can still be presented
/// (twice the grace period the JWKS keeps them for).
pub async fn delete_retired_keys(pool: &PgPool, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from signing_keys where kid in (
             select kid from signing_keys
             where retired_at < now() - make_interval(secs => $1)
             limit $2 for update skip locked)",
        2.0 * super::sessions::RETIRED_KEY_GRACE_SECS,
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Intermediate sessions that expired more than `hours` ago (consumed ones too: they wait
/// for expiry, their row is what keeps them single-use until then).
pub async fn delete_old_intermediate_sessions(
    pool: &PgPool,
    hours: i32,
    batch: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from intermediate_sessions where token_hash in (
             select token_hash from intermediate_sessions
             where expires_at < now() - make_interval(hours => $1)
             limit $2 for update skip locked)",
        hours,
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Used trusted-token ids whose token has expired (it is refused on `exp` from then on).
pub async fn delete_spent_token_uses(pool: &PgPool, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from trusted_token_uses where ctid in (
             select ctid from trusted_token_uses
             where expires_at < now() - interval '5 minutes'
             limit $1 for update skip locked)",
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Numbers attached by `send(user_id)` and not verified within their window: no longer the
/// user's (every lookup already ignores them), removed so they hold nothing.
pub async fn delete_expired_attachments(pool: &PgPool, batch: i64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "delete from phone_numbers where id in (
             select id from phone_numbers
             where not verified and attach_expires_at <= now()
             limit $1 for update skip locked)",
        batch
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
