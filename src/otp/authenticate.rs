//! Authenticating a consumer passcode: counted attempt, hash check, atomic single use. Two
//! database round trips: the phone with the counted attempt, then the use with the user read
//! back (`passcodes::begin_phone_attempt`, `passcodes::authenticate_finish`).

use crate::domain::ids::{Environment, PhoneId};
use crate::domain::project::Project;
use crate::domain::user::User;
use crate::domain::{Passcode, PhoneNumber, SANDBOX_NUMBER};
use crate::limits;
use crate::metrics;
use crate::store::{passcodes, users as db, StoreError};

use super::{codes, users, OtpError, Services};

/// Stytch's sandbox code for the sandbox number.
const SANDBOX_CODE: &str = "000000";

#[tracing::instrument(skip_all, fields(project = %project.id, method_id = %method_id))]
pub async fn authenticate(
    svc: &Services,
    project: &Project,
    method_id: &PhoneId,
    code: &Passcode,
) -> Result<User, OtpError> {
    // The slot first, so a request shed for overload charges no guess and counts no attempt.
    let slot = svc.hasher.admit().await?;
    let key = limits::guess_key(method_id.as_str());
    let budget = limits::guess_budget(&project.settings.limits, &key);
    let sandbox = (project.env() == Environment::Test).then_some(SANDBOX_NUMBER);
    let mut conn = svc.held.acquire().await?;
    let begun = passcodes::begin_phone_attempt(
        conn.start()?,
        &project.id,
        method_id.as_str(),
        &budget,
        sandbox,
    )
    .await;
    let begun = conn.finish(begun)?;
    drop(conn);
    let begun = begun.ok_or_else(|| {
        metrics::authentication("not_found");
        OtpError::WrongCode
    })?;

    let Some((user_id, phone_number)) = begun.owner else {
        // A concealed send's phone id (`conceal_unknown_numbers`): the decoy's attempts are
        // counted and its hash checked as a real code's, and no code ever matches.
        match begun.attempt {
            Some(attempt) => {
                codes::verify(svc, slot, attempt, code).await?;
                metrics::authentication("wrong_code");
            }
            None => metrics::authentication("not_found"),
        }
        return Err(OtpError::WrongCode);
    };
    let Some(attempt) = begun.attempt else {
        // The sandbox number of a test project: its code is fixed and nothing was charged.
        drop(slot);
        if !code.ct_eq(SANDBOX_CODE) {
            metrics::authentication("wrong_code");
            return Err(OtpError::WrongCode);
        }
        let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
        db::mark_phone_verified(&mut conn, &project.id, method_id).await?;
        drop(conn);
        metrics::authentication("success");
        return users::load(svc, project, &user_id).await;
    };

    let id = codes::verify(svc, slot, attempt, code).await?;
    let number = PhoneNumber::parse(&phone_number).ok();
    let mut conn = svc.held.acquire().await?;
    let finished = passcodes::authenticate_finish(
        conn.start()?,
        &passcodes::Authenticated {
            code: id,
            project: &project.id,
            method_id: method_id.as_str(),
            number: number.as_ref().map(PhoneNumber::as_e164),
            country: number
                .as_ref()
                .and_then(PhoneNumber::region)
                .unwrap_or("ZZ"),
            guess_key: &key,
            interval_ms: i64::try_from(project.settings.limits.guess_interval_ms()).unwrap_or(0),
        },
    )
    .await;
    let finished = conn.finish(finished)?;
    drop(conn);
    match finished {
        passcodes::Finish::Used(user) => {
            metrics::authentication("success");
            tracing::info!(outcome = "success", "passcode authenticated");
            Ok(*user)
        }
        passcodes::Finish::Lost => {
            // A concurrent attempt used it first.
            metrics::authentication("not_found");
            Err(OtpError::UnableToAuth)
        }
        passcodes::Finish::UserGone => {
            metrics::authentication("not_found");
            Err(OtpError::UserNotFound)
        }
    }
}
