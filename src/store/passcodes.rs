//! Passcode hashes with their expiry, attempt counter and single-use mark.
//!
//! The newest row for a method is its only live code: older rows are superseded by order
//! (`seq`), so a send never has to update the previous code and cannot race with it.

use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::ids::{ProjectId, UserId};
use crate::domain::user::User;

use super::messages::SentMessage;
use super::users::UserRow;
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

pub const PRIMARY_KEY: &str = "passcodes_pkey";

/// Stores a sent code (its expiry computed by PostgreSQL, so every replica agrees on time) and
/// the message's record (with the fake provider's outbox row), in one statement. A delivery
/// receipt that arrived before this row (the provider can call back before the send's answer
/// is recorded) is applied here, so it isn't lost. Its commit is the send's one WAL flush:
/// the admission before it commits asynchronously, and the WAL is flushed in order.
pub async fn record_issued(
    conn: impl PgExecutor<'_>,
    p: &NewPasscode<'_>,
    m: &SentMessage<'_>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "with code as (
             insert into passcodes (id, project_id, method_id, channel, code_hash, max_attempts,
                                    expires_at, destination)
             values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)
             returning $14::text as sent_status),
         -- the fake provider's delivery, with its code (a real provider's message has none)
         outbox as (
             insert into sandbox_outbox (id, project_id, to_number, channel, body, locale)
             select $17::uuid, $2, $11, $10, $18::text, $19::text where $17::uuid is not null)
         insert into messages (id, project_id, channel, to_number, provider, provider_message_id,
                               status, segments, encoding, error_code, status_updated_at)
         select $9, $2, $10, $11, $12, $13, coalesce(early.status, code.sent_status), $15, $16,
                early.error_code, early.received_at
         from code
         left join lateral (
             select status, error_code, received_at from delivery_receipts
             where provider = $12 and provider_message_id = $13
               -- (read through the CTE, so the planner doesn't run the rank of a constant as a
               -- statement of its own)
               and otpd_delivery_rank(status) > otpd_delivery_rank(code.sent_status)
             order by otpd_delivery_rank(status) desc, received_at
             limit 1) early on true",
        p.id,
        p.project.as_str(),
        p.method_id,
        p.channel,
        p.code_hash,
        p.max_attempts,
        p.ttl_seconds as f64,
        p.destination,
        m.id,
        m.channel,
        m.to,
        m.provider,
        m.provider_message_id,
        m.status,
        m.segments,
        m.encoding,
        m.outbox.as_ref().map(|o| o.id),
        m.outbox.as_ref().map(|o| o.body),
        m.outbox.as_ref().map(|o| o.locale),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a concealed send's decoy code: a passcode row like a real one, without a message.
pub async fn record_decoy(pool: &PgPool, p: &NewPasscode<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into passcodes (id, project_id, method_id, channel, code_hash, max_attempts,
                                expires_at, destination)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)",
        p.id,
        p.project.as_str(),
        p.method_id,
        p.channel,
        p.code_hash,
        p.max_attempts,
        p.ttl_seconds as f64,
        p.destination,
    )
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
    Ok(attempt(AttemptRow {
        wait_ms: r.wait_ms,
        found_code: r.found_code,
        used: r.used,
        expired: r.expired,
        code_id: r.code_id,
        code_hash: r.code_hash,
        superseded_hash: r.superseded_hash,
    }))
}

/// `otpd_begin_attempt`'s columns.
struct AttemptRow {
    wait_ms: i64,
    found_code: bool,
    used: bool,
    expired: bool,
    code_id: Option<Uuid>,
    code_hash: Option<String>,
    superseded_hash: Option<String>,
}

fn attempt(r: AttemptRow) -> Attempt {
    if r.wait_ms > 0 {
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
    }
}

/// The first round trip of a consumer authenticate (`otpd_begin_phone_attempt`): the phone's
/// owner and number, and unless the number is `no_code_number`, the guess charged and the
/// attempt counted as [`begin_attempt`] does. `None` when the user has no such phone (nothing
/// was charged).
pub struct PhoneAttempt {
    /// The phone's user and number; `None` for a concealed send's decoy code (the method id
    /// is no phone's, but its attempts are counted all the same).
    pub owner: Option<(UserId, String)>,
    /// `None` for `no_code_number`.
    pub attempt: Option<Attempt>,
}

pub async fn begin_phone_attempt(
    conn: impl PgExecutor<'_>,
    project: &ProjectId,
    method_id: &str,
    budget: &GuessBudget<'_>,
    no_code_number: Option<&str>,
) -> Result<Option<PhoneAttempt>, StoreError> {
    let r = sqlx::query!(
        "select user_id, phone_number, wait_ms, found_code, used, expired, code_id, code_hash,
                superseded_hash
         from otpd_begin_phone_attempt($1, $2, $3, $4, $5, $6)",
        project.as_str(),
        method_id,
        budget.guess_key,
        budget.burst,
        budget.interval_ms,
        no_code_number
    )
    .fetch_one(conn)
    .await?;
    let owner = match (r.user_id, r.phone_number) {
        (Some(user_id), Some(phone_number)) => Some((UserId::from_trusted(user_id), phone_number)),
        // A concealed send's decoy code: attempts counted, no owner.
        _ if r.wait_ms.is_some() => None,
        _ => return Ok(None),
    };
    let attempt = r.wait_ms.map(|wait_ms| {
        attempt(AttemptRow {
            wait_ms,
            found_code: r.found_code.unwrap_or(false),
            used: r.used.unwrap_or(false),
            expired: r.expired.unwrap_or(false),
            code_id: r.code_id,
            code_hash: r.code_hash,
            superseded_hash: r.superseded_hash,
        })
    });
    Ok(Some(PhoneAttempt { owner, attempt }))
}

/// How the second round trip of a consumer authenticate ended.
pub enum Finish {
    /// The code was used by this call; the user as it is now (phone verified, active).
    Used(Box<User>),
    /// A concurrent attempt used it first.
    Lost,
    /// The code was used, but the user was deleted meanwhile.
    UserGone,
}

/// A correct consumer code, in one statement (`otpd_authenticate_finish`): uses it if it is
/// still live and still the newest (true for exactly one caller), marks the phone verified
/// (and a pending user active), gives the guess back, records the success for the limits and
/// reads the user back.
pub struct Authenticated<'a> {
    pub code: Uuid,
    pub project: &'a ProjectId,
    pub method_id: &'a str,
    pub number: Option<&'a str>,
    pub country: &'a str,
    pub guess_key: &'a str,
    pub interval_ms: i64,
}

pub async fn authenticate_finish(
    conn: impl PgExecutor<'_>,
    a: &Authenticated<'_>,
) -> Result<Finish, StoreError> {
    // `used` is left out: a row without a user id is a code this call did not use.
    let row = sqlx::query_as!(
        UserRow,
        "select id, status, first_name, middle_name, last_name, external_id, trusted_metadata,
                untrusted_metadata, roles, created_at, phones, emails
         from otpd_authenticate_finish($1, $2, $3, $4, $5, $6, $7)",
        a.code,
        a.project.as_str(),
        a.method_id,
        a.number,
        a.country,
        a.guess_key,
        a.interval_ms
    )
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => Finish::UserGone,
        Some(row) => match row.into_user()? {
            Some(user) => Finish::Used(Box::new(user)),
            None => Finish::Lost,
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
