//! The retention job: purges expired passcodes, old outbox rows and old message records (and
//! the other tables of `TABLES`, lapsed number attachments included) in
//! small batches on a timer. Safe with many replicas: every batch skips rows another pass has
//! locked, and a pass is only a cleanup, so running it twice or concurrently is harmless.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::metrics;
use crate::store::{retention as db, StoreError};

/// `[retention]` in the configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Seconds between passes; 0 disables the job.
    pub interval_seconds: u64,
    /// Passcodes are deleted this many hours after they expire (used ones included).
    pub code_age_hours: u32,
    /// Fake-provider outbox rows (which hold message bodies) are deleted after this many hours.
    pub outbox_age_hours: u32,
    /// Sent-message records are deleted after this many days.
    pub message_age_days: u32,
    /// Sessions are deleted this many hours after they expire or are revoked.
    pub session_age_hours: u32,
    /// Rows per DELETE statement, so no pass holds many locks or a long transaction.
    pub batch_size: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            interval_seconds: 300,
            code_age_hours: 24,
            outbox_age_hours: 72,
            message_age_days: 30,
            session_age_hours: 24,
            batch_size: 1000,
        }
    }
}

/// The `table` label values of `otpd_retention_deleted_total`.
pub const TABLES: [&str; 11] = [
    "passcodes",
    "phone_numbers",
    "sandbox_outbox",
    "messages",
    "delivery_receipts",
    "limit_gcra",
    "limit_windows",
    "sessions",
    "signing_keys",
    "intermediate_sessions",
    "trusted_token_uses",
];

/// Pause between two full batches, so a large backlog never monopolises the database.
const BATCH_PAUSE: Duration = Duration::from_millis(20);

/// Rows one pass deleted, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub passcodes: u64,
    pub sandbox_outbox: u64,
    pub messages: u64,
    pub delivery_receipts: u64,
    /// Spent rate-limit state (buckets back at full capacity, windows older than two days).
    pub limits: u64,
    /// Expired or revoked sessions, signing keys long retired, expired intermediate
    /// sessions and the used ids of expired trusted auth tokens.
    pub sessions: u64,
    /// Numbers attached by `send(user_id)` and not verified in time.
    pub attachments: u64,
}

/// A pass in which some tables could not be purged; the others were.
#[derive(Debug, thiserror::Error)]
#[error("retention could not purge {}: {first}", .failed.join(", "))]
pub struct PassError {
    /// What the pass did delete.
    pub purged: Purged,
    /// The tables that failed, in pass order.
    pub failed: Vec<&'static str>,
    #[source]
    pub first: StoreError,
}

/// One pass over every table, batch after batch until a batch comes back short. A table
/// that fails (a lock timeout, a missing index, a schema drift) is reported and skipped, so
/// it never keeps the other tables from being purged.
pub async fn run_once(pool: &PgPool, cfg: &RetentionConfig) -> Result<Purged, PassError> {
    let batch = i64::from(cfg.batch_size.max(1));
    let code_hours = i32::try_from(cfg.code_age_hours).unwrap_or(i32::MAX);
    let outbox_hours = i32::try_from(cfg.outbox_age_hours).unwrap_or(i32::MAX);
    let message_days = i32::try_from(cfg.message_age_days).unwrap_or(i32::MAX);
    let mut failed = Vec::new();
    let mut first = None;
    let mut keep = |table: &'static str, r: Result<u64, StoreError>| match r {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(table, error = %e, "retention could not purge a table; continuing");
            failed.push(table);
            first.get_or_insert(e);
            0
        }
    };
    let passcodes = keep(
        "passcodes",
        drain(batch, "passcodes", || {
            db::delete_expired_passcodes(pool, code_hours, batch)
        })
        .await,
    );
    let sandbox_outbox = keep(
        "sandbox_outbox",
        drain(batch, "sandbox_outbox", || {
            db::delete_old_outbox(pool, outbox_hours, batch)
        })
        .await,
    );
    let messages = keep(
        "messages",
        drain(batch, "messages", || {
            db::delete_old_messages(pool, message_days, batch)
        })
        .await,
    );
    let delivery_receipts = keep(
        "delivery_receipts",
        drain(batch, "delivery_receipts", || {
            db::delete_old_receipts(pool, message_days, batch)
        })
        .await,
    );
    let gcra = keep(
        "limit_gcra",
        drain(batch, "limit_gcra", || {
            db::delete_spent_buckets(pool, batch)
        })
        .await,
    );
    let windows = keep(
        "limit_windows",
        drain(batch, "limit_windows", || {
            db::delete_old_windows(pool, batch)
        })
        .await,
    );
    let session_hours = i32::try_from(cfg.session_age_hours).unwrap_or(i32::MAX);
    let sessions = keep(
        "sessions",
        drain(batch, "sessions", || {
            db::delete_old_sessions(pool, session_hours, batch)
        })
        .await,
    );
    let keys = keep(
        "signing_keys",
        drain(batch, "signing_keys", || {
            db::delete_retired_keys(pool, batch)
        })
        .await,
    );
    let intermediate = keep(
        "intermediate_sessions",
        drain(batch, "intermediate_sessions", || {
            db::delete_old_intermediate_sessions(pool, session_hours, batch)
        })
        .await,
    );
    let token_uses = keep(
        "trusted_token_uses",
        drain(batch, "trusted_token_uses", || {
            db::delete_spent_token_uses(pool, batch)
        })
        .await,
    );
    let attachments = keep(
        "phone_numbers",
        drain(batch, "phone_numbers", || {
            db::delete_expired_attachments(pool, batch)
        })
        .await,
    );
    let purged = Purged {
        passcodes,
        sandbox_outbox,
        messages,
        delivery_receipts,
        limits: gcra + windows,
        sessions: sessions + keys + intermediate + token_uses,
        attachments,
    };
    match first {
        None => Ok(purged),
        Some(first) => Err(PassError {
            purged,
            failed,
            first,
        }),
    }
}

async fn drain<F, Fut>(batch: i64, table: &str, mut delete: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = delete().await?;
        total += n;
        metrics::retention_deleted(table, n);
        if n < batch.unsigned_abs() {
            return Ok(total);
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
}

/// Starts the timer; `None` when `interval_seconds` is 0. Each wait is jittered by up to 10%
/// so replicas started together drift apart.
pub fn spawn(pool: PgPool, cfg: RetentionConfig) -> Option<JoinHandle<()>> {
    if cfg.interval_seconds == 0 {
        return None;
    }
    let interval = Duration::from_secs(cfg.interval_seconds);
    Some(tokio::spawn(async move {
        loop {
            // Checked: the settings are bounded at start-up, but a panic here would end the
            // job without a word.
            let jitter = rand::thread_rng().gen_range(0.0..0.1);
            let wait = Duration::try_from_secs_f64(interval.as_secs_f64() * (1.0 + jitter))
                .unwrap_or(interval);
            tokio::time::sleep(wait).await;
            let (p, failed) = match run_once(&pool, &cfg).await {
                Ok(p) => (p, None),
                Err(e) => (e.purged, Some(e)),
            };
            if p != Purged::default() {
                tracing::info!(
                    passcodes = p.passcodes,
                    sandbox_outbox = p.sandbox_outbox,
                    messages = p.messages,
                    delivery_receipts = p.delivery_receipts,
                    sessions = p.sessions,
                    "retention pass purged rows"
                );
            }
            if let Some(e) = failed {
                tracing::warn!(error = %e, "retention pass incomplete; retrying next interval");
            }
        }
    }))
}
