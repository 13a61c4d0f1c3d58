//! Records of sent messages and the fake provider's outbox.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::ids::ProjectId;

use super::StoreError;

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
}

pub async fn record_sent(pool: &PgPool, m: SentMessage<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into messages (id, project_id, channel, to_number, provider, provider_message_id,
                               status, segments, encoding)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        m.id,
        m.project.as_str(),
        m.channel,
        m.to,
        m.provider,
        m.provider_message_id,
        m.status,
        m.segments,
        m.encoding
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn outbox_insert(
    pool: &PgPool,
    id: Uuid,
    project: &ProjectId,
    to: &str,
    channel: &str,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into sandbox_outbox (id, project_id, to_number, channel, body) values ($1, $2, $3, $4, $5)",
        id,
        project.as_str(),
        to,
        channel,
        body
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub to: String,
    pub channel: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Newest first, optionally for one recipient.
pub async fn outbox_list(
    pool: &PgPool,
    project: &ProjectId,
    to: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let rows = sqlx::query!(
        "select id, to_number, channel, body, created_at from sandbox_outbox
         where project_id = $1 and ($2::text is null or to_number = $2)
         order by created_at desc, id desc limit $3",
        project.as_str(),
        to,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxMessage {
            id: r.id,
            to: r.to_number,
            channel: r.channel,
            body: r.body,
            created_at: r.created_at,
        })
        .collect())
}
