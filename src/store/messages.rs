//! Records of sent messages and the fake provider's outbox.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::ids::ProjectId;

use super::StoreError;

/// A message the provider took, as `passcodes::record_issued` records it with its code.
pub struct SentMessage<'a> {
    pub id: Uuid,
    pub project: &'a ProjectId,
    pub channel: &'a str,
    pub to: &'a str,
    pub provider: &'a str,
    pub provider_message_id: Option<&'a str>,
    pub status: &'a str,
    pub segments: i32,
    pub encoding: &'a str,
    /// Delivered by the fake provider: its outbox row.
    pub outbox: Option<OutboxRow<'a>>,
}

/// The provider message id the fake provider answers with: its outbox row's id, prefixed
/// (the console joins the two on it).
pub fn fake_message_id(outbox_id: Uuid) -> String {
    format!("fake-{outbox_id}")
}

/// The fake provider's delivery of a message (`Receipt::outbox`): its outbox row, written
/// with the message's record.
pub struct OutboxRow<'a> {
    pub id: Uuid,
    pub body: &'a str,
    pub locale: &'a str,
}

#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub project_id: String,
    pub project_name: String,
    pub to: String,
    pub channel: String,
    pub body: String,
    pub locale: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The sent-message record's status (moved forward by receipts), once it is recorded.
    pub status: Option<String>,
    pub error_code: Option<String>,
    /// When a receipt last moved the status.
    pub status_updated_at: Option<DateTime<Utc>>,
}

/// Which outbox rows to read: each `None` is no condition.
pub struct OutboxSelection<'a> {
    /// What the reader may see: one project, or every project (`None`).
    pub scope: Option<&'a str>,
    /// A project the reader asked for, inside the scope.
    pub project: Option<&'a str>,
    pub to: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub limit: i64,
}

/// Newest first, with each message's delivery state (from the sent-message record).
pub async fn outbox_list(
    pool: &PgPool,
    q: &OutboxSelection<'_>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let rows = sqlx::query!(
        r#"select o.id, o.project_id, p.name as project_name, o.to_number, o.channel, o.body,
                  o.locale, o.created_at,
                  m.status as "status?", m.error_code as "error_code?",
                  m.status_updated_at as "status_updated_at?"
           from sandbox_outbox o
           join projects p on p.id = o.project_id
           left join messages m on m.provider = 'fake' and m.provider_message_id = 'fake-' || o.id::text
           where ($1::text is null or o.project_id = $1)
             and ($2::text is null or o.project_id = $2)
             and ($3::text is null or o.to_number = $3)
             and ($4::text is null or o.channel = $4)
           order by o.created_at desc, o.id desc limit $5"#,
        q.scope,
        q.project,
        q.to,
        q.channel,
        q.limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxMessage {
            id: r.id,
            project_id: r.project_id,
            project_name: r.project_name,
            to: r.to_number,
            channel: r.channel,
            body: r.body,
            locale: r.locale,
            created_at: r.created_at,
            status: r.status,
            error_code: r.error_code,
            status_updated_at: r.status_updated_at,
        })
        .collect())
}

/// What a delivery receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The message moved forward to this status.
    Applied,
    /// The same provider + id + status was seen before.
    Duplicate,
    /// Late or out of order: the message is already at this stage or further.
    Stale,
    /// No message of ours has this provider id yet; the receipt is kept and applied when
    /// the message is recorded (or purged by retention with the other receipts).
    UnknownMessage,
}

/// Records one provider status callback, at most once per (provider, id, status), and moves
/// the message's status forward only (see `otpd_delivery_rank` in the migration).
pub async fn apply_receipt(
    pool: &PgPool,
    provider: &str,
    provider_message_id: &str,
    status: &str,
    error_code: Option<&str>,
) -> Result<ReceiptOutcome, StoreError> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        "insert into delivery_receipts (provider, provider_message_id, status, error_code)
         values ($1, $2, $3, $4) on conflict do nothing",
        provider,
        provider_message_id,
        status,
        error_code
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.commit().await?;
        return Ok(ReceiptOutcome::Duplicate);
    }
    let updated = sqlx::query!(
        "update messages set status = $3, error_code = coalesce($4, error_code),
                             status_updated_at = now()
         where provider = $1 and provider_message_id = $2
           and otpd_delivery_rank(status) < otpd_delivery_rank($3)",
        provider,
        provider_message_id,
        status,
        error_code
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let outcome = if updated > 0 {
        ReceiptOutcome::Applied
    } else {
        let known = sqlx::query_scalar!(
            r#"select exists (select 1 from messages where provider = $1 and provider_message_id = $2) as "known!""#,
            provider,
            provider_message_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if !known {
            // Not recorded yet: the receipt stays, and `passcodes::record_issued` applies it when the
            // message row arrives (Twilio won't call back again after our 204).
            tx.commit().await?;
            return apply_early_receipts(pool, provider, provider_message_id).await;
        }
        ReceiptOutcome::Stale
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Applies the furthest stored receipt to the message, if the message exists now. Run after
/// an early receipt commits: either `passcodes::record_issued`'s statement saw the receipt, or this one
/// sees the message, whichever order they committed in.
async fn apply_early_receipts(
    pool: &PgPool,
    provider: &str,
    provider_message_id: &str,
) -> Result<ReceiptOutcome, StoreError> {
    let updated = sqlx::query!(
        "update messages m set status = r.status, error_code = coalesce(r.error_code, m.error_code),
                               status_updated_at = now()
         from (select status, error_code from delivery_receipts
               where provider = $1 and provider_message_id = $2
               order by otpd_delivery_rank(status) desc, received_at
               limit 1) r
         where m.provider = $1 and m.provider_message_id = $2
           and otpd_delivery_rank(m.status) < otpd_delivery_rank(r.status)",
        provider,
        provider_message_id
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(if updated > 0 {
        ReceiptOutcome::Applied
    } else {
        ReceiptOutcome::UnknownMessage
    })
}

/// A sent message's delivery state, looked up by the provider's id.
#[derive(Debug, Clone)]
pub struct DeliveryState {
    pub provider: String,
    pub status: String,
    pub error_code: Option<String>,
}

pub async fn delivery_state(
    pool: &PgPool,
    provider: &str,
    provider_message_id: &str,
) -> Result<Option<DeliveryState>, StoreError> {
    let row = sqlx::query!(
        "select provider, status, error_code from messages
         where provider = $1 and provider_message_id = $2
         order by created_at desc limit 1",
        provider,
        provider_message_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| DeliveryState {
        provider: r.provider,
        status: r.status,
        error_code: r.error_code,
    }))
}
