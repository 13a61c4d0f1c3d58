//! Reading the fake provider's outbox back: who may see which messages, the filters, and
//! what staging is shown of each message. `/v1/sandbox/messages` and the staging console
//! (`/sandbox/`) both call [`list`].

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::ids::ProjectId;
use crate::domain::{Channel, PhoneNumber, SANDBOX_NUMBER};
use crate::messages::{self, SegmentInfo};
use crate::store::messages::{self as store, OutboxSelection};

use super::OtpError;

/// Who is reading. The outbox holds live codes, so a project sees only its own messages.
#[derive(Debug, Clone)]
pub enum Viewer {
    Project(ProjectId),
    /// The staging operator (the console's operator token): every project.
    Operator,
}

/// The readers' filters, parsed.
#[derive(Debug, Clone)]
pub struct OutboxFilter {
    to: Option<String>,
    channel: Option<Channel>,
    project: Option<ProjectId>,
    limit: i64,
}

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

impl OutboxFilter {
    /// Every argument is optional: `to` an E.164 number (the sandbox number included),
    /// `channel` `sms` or `whatsapp`, `project` a project id, `limit` 1 to [`MAX_LIMIT`].
    pub fn parse(
        to: Option<&str>,
        channel: Option<&str>,
        project: Option<&str>,
        limit: Option<i64>,
    ) -> Result<OutboxFilter, OtpError> {
        let to = match to {
            None => None,
            Some(SANDBOX_NUMBER) => Some(SANDBOX_NUMBER.to_owned()),
            Some(raw) => Some(PhoneNumber::parse(raw)?.as_e164().to_owned()),
        };
        let channel = match channel {
            None => None,
            Some("sms") => Some(Channel::Sms),
            Some("whatsapp") => Some(Channel::WhatsApp),
            Some(_) => return Err(OtpError::InvalidQuery("channel must be sms or whatsapp")),
        };
        let project = project
            .map(ProjectId::parse)
            .transpose()
            .map_err(|_| OtpError::InvalidQuery("project_id is not a project id"))?;
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(OtpError::InvalidQuery("limit must be between 1 and 100"));
        }
        Ok(OutboxFilter {
            to,
            channel,
            project,
            limit,
        })
    }
}

/// What the provider's record says about delivery.
#[derive(Debug, Clone)]
pub struct DeliveryState {
    pub status: String,
    pub error_code: Option<String>,
    /// When a delivery receipt last moved the status (none for the fake provider's own
    /// "delivered", which comes with the send).
    pub receipt_at: Option<DateTime<Utc>>,
}

/// One message as staging sees it.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: Uuid,
    pub project_id: String,
    pub project_name: String,
    pub to: String,
    pub channel: String,
    /// The whole text, passcode included.
    pub body: String,
    /// The code as a person or an autofilling phone reads it from the text.
    pub code: Option<String>,
    /// The WebOTP / SMS Retriever line, when the message has one.
    pub autofill_line: Option<String>,
    pub locale: Option<String>,
    /// Encoding, units used and segments, as the provider would bill it.
    pub cost: SegmentInfo,
    pub delivery: Option<DeliveryState>,
    pub created_at: DateTime<Utc>,
}

/// Newest first, only what the viewer may see.
pub async fn list(
    pool: &PgPool,
    viewer: &Viewer,
    filter: &OutboxFilter,
) -> Result<Vec<OutboxEntry>, OtpError> {
    let scope = match viewer {
        Viewer::Project(id) => Some(id.as_str()),
        Viewer::Operator => None,
    };
    let rows = store::outbox_list(
        pool,
        &OutboxSelection {
            scope,
            project: filter.project.as_ref().map(ProjectId::as_str),
            to: filter.to.as_deref(),
            channel: filter.channel.map(Channel::as_str),
            limit: filter.limit,
        },
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|m| OutboxEntry {
            code: messages::first_code(&m.body).map(str::to_owned),
            autofill_line: messages::autofill::find_line(&m.body).map(str::to_owned),
            cost: messages::encoding::analyse(&m.body),
            delivery: m.status.map(|status| DeliveryState {
                status,
                error_code: m.error_code,
                receipt_at: m.status_updated_at,
            }),
            id: m.id,
            project_id: m.project_id,
            project_name: m.project_name,
            to: m.to,
            channel: m.channel,
            body: m.body,
            locale: m.locale,
            created_at: m.created_at,
        })
        .collect())
}
