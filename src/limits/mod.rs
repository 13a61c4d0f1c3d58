//! Rate limits. Per-number, per-block, per-country and per-project counts live in PostgreSQL
//! (`store::limits`) so they are exact across replicas; `client` holds the in-process
//! `governor` guards, which are per replica by design.

pub mod client;

use crate::domain::limits::{LimitSettings, RefusalReason};
use crate::domain::project::Project;
use crate::domain::PhoneNumber;
use crate::fraud;
use crate::store::limits as db;
use crate::store::passcodes as db_passcodes;
use crate::store::StoreError;
use sqlx::PgPool;

/// A limit said no, or could not be consulted. The use cases turn it into their own error.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("refused: {}", reason.as_str())]
    Refused {
        reason: RefusalReason,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::store::held::Answered for LimitError {
    fn answered(&self) -> bool {
        match self {
            LimitError::Refused { .. } => true,
            LimitError::Store(e) => e.answered(),
        }
    }
}

fn clamp_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Whole seconds for `Retry-After`, never 0 for a refusal.
pub fn retry_secs(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).div_ceil(1000).max(1)
}

/// Admits one send to `phone` or refuses it, charging every counter only when admitted.
/// One round trip, which also answers who owns the number in the project and, with
/// `new_owner` (`login_or_create`), makes the owner of a number that has none.
pub async fn admit_send(
    conn: impl sqlx::PgExecutor<'_>,
    project: &Project,
    phone: &PhoneNumber,
    new_owner: Option<db::NewOwner<'_>>,
) -> Result<db::Admitted, LimitError> {
    let l = &project.settings.limits;
    let admission = db::SendAdmission {
        project: &project.id,
        number: phone.as_e164(),
        block: fraud::block_of(phone),
        country: phone.region().unwrap_or("ZZ"),
        burst: clamp_i32(l.number_burst),
        interval_ms: i64::from(l.number_interval_seconds) * 1000,
        daily_cap: clamp_i32(l.number_daily_cap),
        block_max: clamp_i32(l.prefix_max_sends),
        block_window_s: clamp_i32(l.prefix_window_seconds),
        conv_min_sends: clamp_i32(l.conversion_min_sends),
        conv_min_pct: clamp_i32(l.conversion_min_percent),
        conv_window_s: clamp_i32(l.conversion_window_seconds),
        conv_grace_s: clamp_i32(l.conversion_grace_seconds),
        project_budget: clamp_i32(l.project_daily_budget),
        country_budget: clamp_i32(l.country_daily_budget),
        pending_floor: clamp_i32(l.pending_floor),
        pending_per_auth: clamp_i32(l.pending_per_auth),
        pending_typing_s: clamp_i32(l.pending_typing_seconds),
        pending_rate: clamp_i32(l.pending_rate_per_second),
        pending_burst: clamp_i32(l.pending_burst),
        pending_pause_s: clamp_i32(l.pending_pause_seconds),
        new_owner,
    };
    let admitted = db::admit_send(conn, &admission).await?;
    match admitted.refused {
        None => Ok(admitted.admitted),
        Some((reason, wait_ms)) => {
            let reason = RefusalReason::parse(&reason).unwrap_or(RefusalReason::RateLimit);
            tracing::info!(to = %phone, reason = reason.as_str(), "send refused");
            Err(LimitError::Refused {
                reason,
                retry_after_secs: retry_secs(wait_ms),
            })
        }
    }
}

/// The GCRA key of a method's wrong-guess budget.
pub fn guess_key(method_id: &str) -> String {
    format!("g:{method_id}")
}

/// The method's wrong-guess budget as `otpd_begin_attempt` charges it, before the code is
/// checked, so concurrent guesses can't overrun it. A refused guess costs nothing.
pub fn guess_budget<'a>(limits: &LimitSettings, key: &'a str) -> db_passcodes::GuessBudget<'a> {
    db_passcodes::GuessBudget {
        guess_key: key,
        burst: clamp_i32(limits.guess_budget_per_hour),
        interval_ms: i64::try_from(limits.guess_interval_ms()).unwrap_or(i64::MAX),
    }
}

/// The refusal of a guess over budget, `wait_ms` until the next one is allowed.
pub fn guess_refused(wait_ms: i64) -> LimitError {
    tracing::info!(reason = "guess_budget", "authenticate refused");
    LimitError::Refused {
        reason: RefusalReason::GuessBudget,
        retry_after_secs: retry_secs(wait_ms),
    }
}

/// After a correct code whose use was recorded elsewhere (B2B, with its member update): the
/// guess is given back and, for the first success of a number in the project, the number
/// becomes verified and counts toward the conversion rate and the pending-sends allowance.
/// One statement. Best effort: the user is already authenticated, so a failure is only logged.
pub async fn record_success(
    pool: &PgPool,
    project: &Project,
    method_id: &str,
    phone: Option<&PhoneNumber>,
) {
    let interval = i64::try_from(project.settings.limits.guess_interval_ms()).unwrap_or(0);
    let country = phone.and_then(PhoneNumber::region).unwrap_or("ZZ");
    if let Err(e) = db::record_success(
        pool,
        &project.id,
        phone.map(PhoneNumber::as_e164),
        country,
        &guess_key(method_id),
        interval,
    )
    .await
    {
        tracing::warn!(error = %e, "could not record a success for the limits");
    }
}

/// A project's pumping signals as the admission sees them now (`otpd project abuse show`).
#[derive(Debug, serde::Serialize)]
pub struct AbuseState {
    pub project_id: String,
    /// Why sends to new numbers are refused right now and for how long, the first rule that
    /// would refuse one (the admission's order); absent when they go through. Returning
    /// users' numbers are never paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_numbers_paused: Option<Pause>,
    pub pending_sends: PendingSends,
    pub countries: Vec<CountryBreaker>,
}

#[derive(Debug, serde::Serialize)]
pub struct Pause {
    /// `otpd_refusals_total`'s reason: `new_number_rate`, `pending_sends` or `conversion`.
    pub reason: &'static str,
    pub why: String,
    /// The longest the pause can last with no answers and no reset (the refusals'
    /// `Retry-After` is the next time worth trying, often sooner); `abuse reset` lifts it.
    pub for_seconds: u64,
    /// The countries the conversion breaker holds (`conversion` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct PendingSends {
    /// False when `pending_floor` or `conversion_grace_seconds` is 0.
    pub enabled: bool,
    pub window_seconds: u32,
    /// Sends to new numbers in the window younger than the typing time (not judged yet),
    /// and older ones; new numbers authenticated in the window.
    pub young: i64,
    pub sent: i64,
    pub answered: i64,
    /// Old sends minus answers, against `pending_floor + pending_per_auth * answered`.
    pub overdue: i64,
    pub allowance: i64,
    /// The rate gate: sends to new numbers allowed per second now (its base rate plus the
    /// answers' share), and the seconds of pause left.
    pub gate_per_second: f64,
    pub gate_paused_seconds: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct CountryBreaker {
    pub country: String,
    /// New-number sends in the conversion window older than the grace, and new numbers
    /// authenticated in the window.
    pub judged_sends: i64,
    pub authenticated: i64,
    pub breaker_open: bool,
    pub sent_today: i64,
    pub budget_spent: bool,
}

pub async fn abuse_state(pool: &PgPool, project: &Project) -> Result<AbuseState, StoreError> {
    let l = &project.settings.limits;
    let p = db::pending_state(
        pool,
        &project.id,
        clamp_i32(l.conversion_grace_seconds),
        clamp_i32(l.pending_typing_seconds),
    )
    .await?;
    let overdue = (p.old - p.answered).max(0);
    let allowance = i64::from(l.pending_floor) + i64::from(l.pending_per_auth) * p.answered;
    let enabled = l.pending_floor > 0 && l.conversion_grace_seconds > 0;
    let gate_on = enabled && l.pending_rate_per_second > 0 && l.pending_burst > 0;
    #[allow(clippy::cast_precision_loss)] // counts of sends in a two-minute window
    let gate_per_second = if gate_on {
        f64::from(l.pending_rate_per_second)
            + f64::from(l.pending_per_auth) * p.answered as f64
                / f64::from(l.conversion_grace_seconds)
    } else {
        0.0
    };
    let gate_paused_seconds = if gate_on && p.paused_ms > 0 {
        retry_secs(p.paused_ms)
    } else {
        0
    };
    let countries: Vec<CountryBreaker> = db::country_states(
        pool,
        &project.id,
        clamp_i32(l.conversion_window_seconds),
        clamp_i32(l.conversion_grace_seconds),
    )
    .await?
    .into_iter()
    .map(|c| CountryBreaker {
        breaker_open: l.conversion_min_sends > 0
            && l.conversion_window_seconds > 0
            && c.judged >= i64::from(l.conversion_min_sends)
            && c.authenticated * 100 < i64::from(l.conversion_min_percent) * c.judged,
        budget_spent: l.country_daily_budget > 0
            && c.sent_today >= i64::from(l.country_daily_budget),
        country: c.country,
        judged_sends: c.judged,
        authenticated: c.authenticated,
        sent_today: c.sent_today,
    })
    .collect();
    let open: Vec<String> = countries
        .iter()
        .filter(|c| c.breaker_open)
        .map(|c| c.country.clone())
        .collect();
    let new_numbers_paused = if !open.is_empty() {
        Some(Pause {
            reason: RefusalReason::Conversion.as_str(),
            why: format!(
                "fewer than {}% of the sends to new numbers in the last {} s were authenticated",
                l.conversion_min_percent, l.conversion_window_seconds
            ),
            for_seconds: u64::from(l.conversion_window_seconds),
            countries: open,
        })
    } else if gate_paused_seconds > 0 {
        Some(Pause {
            reason: RefusalReason::NewNumberRate.as_str(),
            why: format!(
                "sends to new numbers came faster than {} a second beyond a burst of {}",
                l.pending_rate_per_second, l.pending_burst
            ),
            for_seconds: gate_paused_seconds,
            countries: Vec::new(),
        })
    } else if enabled && overdue >= allowance {
        Some(Pause {
            reason: RefusalReason::PendingSends.as_str(),
            why: format!(
                "{overdue} sends to new numbers older than {} s are unanswered (allowed: {allowance})",
                l.pending_typing_seconds
            ),
            for_seconds: u64::from(l.conversion_grace_seconds),
            countries: Vec::new(),
        })
    } else {
        None
    };
    Ok(AbuseState {
        project_id: project.id.to_string(),
        new_numbers_paused,
        pending_sends: PendingSends {
            enabled,
            window_seconds: l.conversion_grace_seconds,
            young: p.young,
            sent: p.young + p.old,
            answered: p.answered,
            overdue,
            allowance,
            gate_per_second,
            gate_paused_seconds,
        },
        countries,
    })
}
