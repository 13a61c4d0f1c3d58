//! Authenticating a consumer passcode: counted attempt, hash check, atomic single use.

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
    let phone = db::find_phone_by_id(&svc.pool, &project.id, method_id)
        .await?
        .ok_or_else(|| {
            metrics::authentication("not_found");
            OtpError::WrongCode
        })?;

    if phone.phone_number == SANDBOX_NUMBER && project.env() == Environment::Test {
        if !code.ct_eq(SANDBOX_CODE) {
            metrics::authentication("wrong_code");
            return Err(OtpError::WrongCode);
        }
        let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
        db::mark_phone_verified(&mut conn, &project.id, method_id).await?;
        drop(conn);
        metrics::authentication("success");
        return users::load(svc, project, &phone.user_id).await;
    }

    let id = codes::check(svc, project, method_id.as_str(), code).await?;
    let number = PhoneNumber::parse(&phone.phone_number).ok();
    let key = limits::guess_key(method_id.as_str());
    let used = passcodes::authenticated(
        &svc.pool,
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
    .await?;
    if !used {
        // A concurrent attempt used it first.
        metrics::authentication("not_found");
        return Err(OtpError::UnableToAuth);
    }
    metrics::authentication("success");
    tracing::info!(outcome = "success", "passcode authenticated");
    users::load(svc, project, &phone.user_id).await
}
