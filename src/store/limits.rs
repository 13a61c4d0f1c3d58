//! Replica-exact limits: each call is one statement running one of the PL/pgSQL functions of
//! `migrations/*_limits.sql`, so a check and its charge are atomic and cost one round trip.

use sqlx::{PgExecutor, PgPool};

use super::users::PhoneOwner;
use super::StoreError;
use crate::domain::ids::{PhoneId, ProjectId, UserId};

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
    pub pending_floor: i32,
    pub pending_per_auth: i32,
    pub pending_typing_s: i32,
    pub pending_rate: i32,
    pub pending_burst: i32,
    pub pending_pause_s: i32,
    /// `login_or_create`: the user and phone to make when the number has no owner.
    pub new_owner: Option<NewOwner<'a>>,
}

/// The ids and status of a user that an admitted `login_or_create` makes for a new number.
pub struct NewOwner<'a> {
    pub user: &'a UserId,
    pub phone: &'a PhoneId,
    pub status: &'a str,
}

/// What one admission found: the refusal (reason name and milliseconds to wait), `None` when
/// admitted and charged; and, read in the same statement, who owns the number in the project
/// (`created` when this admission made the owner).
pub struct Admission {
    pub refused: Option<(String, i64)>,
    pub admitted: Admitted,
}

/// The number's owner as an admitted send found it, or made it.
pub struct Admitted {
    pub owner: Option<PhoneOwner>,
    pub created: bool,
    /// The owner is a number attached by `send(user_id)` and not verified yet: it is that
    /// user's only for that user's own flow.
    pub attached: bool,
}

/// One statement (`otpd_admit_send_for`): a number attached by send(user_id) and not verified
/// in time is detached, the send admitted or refused, and when admitted the number's owner
/// found or (with `new_owner`) made.
pub async fn admit_send(
    conn: impl PgExecutor<'_>,
    a: &SendAdmission<'_>,
) -> Result<Admission, StoreError> {
    let row = sqlx::query!(
        r#"select reason, retry_after_ms as "retry_after_ms!", phone_id, user_id,
                  created as "created!", attached as "attached!"
           from otpd_admit_send_for($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                    $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"#,
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
        a.pending_floor,
        a.pending_per_auth,
        a.pending_rate,
        a.pending_burst,
        a.pending_pause_s,
        a.pending_typing_s,
        a.new_owner.as_ref().map(|o| o.user.as_str()),
        a.new_owner.as_ref().map(|o| o.phone.as_str()),
        a.new_owner.as_ref().map(|o| o.status),
    )
    .fetch_one(conn)
    .await?;
    Ok(Admission {
        refused: row.reason.map(|r| (r, row.retry_after_ms)),
        admitted: Admitted {
            owner: super::users::owner(row.phone_id, row.user_id, a.number),
            created: row.created,
            attached: row.attached,
        },
    })
}

/// How a number became known to the abuse rules other than by authenticating
/// (`limit_verified_numbers.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownBy {
    /// The backend put it on a user or member with the project secret.
    Vouched,
    /// `otpd import stytch` wrote it on an imported user or member.
    Imported,
}

impl KnownBy {
    fn as_str(self) -> &'static str {
        match self {
            KnownBy::Vouched => "vouched",
            KnownBy::Imported => "imported",
        }
    }
}

/// Makes a number known to the abuse rules, so the admission judges it as a returning
/// user's (only the per-number limits and the project budget apply) and its first
/// authentication counts no conversion. A number already known keeps its row (a verified
/// number stays `verified`). Only the limits read this: the number is neither verified nor
/// owned by it. The one place a number is vouched for; callers hold the project secret.
pub async fn vouch(
    conn: impl PgExecutor<'_>,
    project: &ProjectId,
    number: &str,
    by: KnownBy,
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into limit_verified_numbers (project_id, number, source) values ($1, $2, $3)
         on conflict do nothing",
        project.as_str(),
        number,
        by.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
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

/// A correct code: the guess is given back (`interval_ms` > 0) and, with a number, its first
/// success in the project makes it verified and counts as a conversion and an answered
/// pending send. One statement.
pub async fn record_success(
    pool: &PgPool,
    project: &ProjectId,
    number: Option<&str>,
    country: &str,
    guess_key: &str,
    interval_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query!(
        "select otpd_record_success($1, $2, $3, $4, $5)",
        project.as_str(),
        number,
        country,
        guess_key,
        interval_ms
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

/// The new-number rules' inputs now (project-wide): sends to new numbers in the grace window,
/// split at the typing time (young ones aren't judged yet), new numbers authenticated in the
/// window, and the rate gate's pause and bucket.
pub struct PendingState {
    pub young: i64,
    pub old: i64,
    pub answered: i64,
    /// Milliseconds left of a pause of new-number sends by the rate gate (0: none).
    pub paused_ms: i64,
    /// Milliseconds the rate gate's bucket is ahead of now (how much of its burst is used).
    pub gate_ahead_ms: i64,
}

pub async fn pending_state(
    pool: &PgPool,
    project: &ProjectId,
    grace_s: i32,
    typing_s: i32,
) -> Result<PendingState, StoreError> {
    let row = sqlx::query!(
        r#"with w as (
               select coalesce(sum(hits) filter (where key = 'pn' and $3::float8 > 0
                          and window_start + interval '10 seconds' > now() - make_interval(secs => $3)), 0)::bigint as young,
                      coalesce(sum(hits) filter (where key = 'pn' and ($3::float8 <= 0
                          or window_start + interval '10 seconds' <= now() - make_interval(secs => $3))), 0)::bigint as old,
                      coalesce(sum(hits) filter (where key = 'pa'), 0)::bigint as answered
               from limit_windows
               where project_id = $1 and key in ('pn', 'pa')
                 and window_start > now() - make_interval(secs => $2)),
           g as (
               select coalesce(max(ceil(extract(epoch from (tat - now())) * 1000)) filter (where key = 'pp'), 0)::bigint as paused,
                      coalesce(max(ceil(extract(epoch from (tat - now())) * 1000)) filter (where key = 'pr'), 0)::bigint as ahead
               from limit_gcra where project_id = $1 and key in ('pp', 'pr'))
           select w.young as "young!", w.old as "old!", w.answered as "answered!",
                  greatest(g.paused, 0) as "paused!", greatest(g.ahead, 0) as "ahead!"
           from w, g"#,
        project.as_str(),
        f64::from(grace_s),
        f64::from(typing_s)
    )
    .fetch_one(pool)
    .await?;
    Ok(PendingState {
        young: row.young,
        old: row.old,
        answered: row.answered,
        paused_ms: row.paused,
        gate_ahead_ms: row.ahead,
    })
}

/// One destination country's conversion-breaker inputs and today's sends.
pub struct CountryState {
    pub country: String,
    /// Sends to new numbers in the window, older than the grace (what the breaker judges).
    pub judged: i64,
    /// New numbers authenticated in the window.
    pub authenticated: i64,
    pub sent_today: i64,
}

pub async fn country_states(
    pool: &PgPool,
    project: &ProjectId,
    window_s: i32,
    grace_s: i32,
) -> Result<Vec<CountryState>, StoreError> {
    let rows = sqlx::query!(
        r#"select split_part(key, ':', 2) as "country!",
                  coalesce(sum(hits) filter (
                      where key like 'cs:%'
                        and window_start > now() - make_interval(secs => $2)
                        and window_start <= now() - make_interval(secs => $3)), 0)::bigint as "judged!",
                  coalesce(sum(hits) filter (
                      where key like 'cv:%'
                        and window_start > now() - make_interval(secs => $2)), 0)::bigint as "authenticated!",
                  coalesce(sum(hits) filter (
                      where key like 'cd:%'
                        and window_start = date_trunc('day', now(), 'UTC')), 0)::bigint as "sent_today!"
           from limit_windows
           where project_id = $1 and (key like 'cs:%' or key like 'cv:%' or key like 'cd:%')
           group by 1 order by 1"#,
        project.as_str(),
        f64::from(window_s),
        f64::from(grace_s)
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CountryState {
            country: r.country,
            judged: r.judged,
            authenticated: r.authenticated,
            sent_today: r.sent_today,
        })
        .collect())
}

/// Forgets the pending-sends history (sends to new numbers and their answers) and the rate
/// gate's bucket and pause, which lifts a pause of new-number sends. Returns how many rows
/// were dropped. One statement.
pub async fn reset_pending(pool: &PgPool, project: &ProjectId) -> Result<u64, StoreError> {
    let dropped = sqlx::query_scalar!(
        r#"with w as (delete from limit_windows where project_id = $1 and key in ('pn', 'pa')
                      returning 1),
                g as (delete from limit_gcra where project_id = $1 and key in ('pp', 'pr')
                      returning 1)
           select ((select count(*) from w) + (select count(*) from g))::bigint as "n!""#,
        project.as_str()
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(dropped).unwrap_or(0))
}
