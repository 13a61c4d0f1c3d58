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
    let mut tx = svc.pool.begin().await.map_err(StoreError::from)?;
    if !passcodes::consume(&mut tx, id).await? {
        // A concurrent attempt used it first.
        metrics::authentication("not_found");
        return Err(OtpError::UnableToAuth);
    }
    db::mark_phone_verified(&mut tx, &project.id, method_id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    metrics::authentication("success");
    tracing::info!(outcome = "success", "passcode authenticated");
    let number = PhoneNumber::parse(&phone.phone_number).ok();
    limits::record_success(&svc.pool, project, method_id.as_str(), number.as_ref()).await;
    users::load(svc, project, &phone.user_id).await
}
