//! Consumer user management: create, get, delete, and detach a phone number.

use crate::domain::ids::{EmailId, ExternalId, PhoneId, UserId, UserRef};
use crate::domain::project::Project;
use crate::domain::user::{Name, SearchCursor, User, UserQuery, UserStatus};
use crate::store::limits::KnownBy;
use crate::store::{self, users as db, StoreError};

use super::send::Recipient;
use super::{OtpError, Services};

/// A validated `users.create` request.
pub struct CreateUser {
    pub email: Option<String>,
    /// A real number, or the sandbox number in a test project.
    pub phone: Option<Recipient>,
    pub name: Name,
    pub external_id: Option<ExternalId>,
    pub pending: bool,
    pub trusted_metadata: serde_json::Value,
    pub untrusted_metadata: serde_json::Value,
    pub roles: Vec<String>,
}

pub struct CreatedUser {
    pub user: User,
    pub email_id: Option<EmailId>,
    pub phone_id: Option<PhoneId>,
}

/// Lower-cases and sanity-checks an email; otpd never sends email, so a light check is enough.
pub fn parse_email(raw: &str) -> Result<String, OtpError> {
    let e = raw.trim().to_lowercase();
    // Characters, not bytes, as the OpenAPI `maxLength` counts them.
    let valid = raw.trim().chars().count() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.matches('@').count() == 1;
    if valid {
        Ok(e)
    } else {
        Err(OtpError::InvalidEmail)
    }
}

fn conflict(e: StoreError) -> OtpError {
    if e.is_conflict_on(db::PHONE_TAKEN) {
        OtpError::DuplicatePhone
    } else if e.is_conflict_on(db::EMAIL_TAKEN) {
        OtpError::DuplicateEmail
    } else if e.is_conflict_on(db::EXTERNAL_ID_TAKEN) {
        OtpError::DuplicateExternalId
    } else {
        OtpError::Store(e)
    }
}

pub async fn create(
    svc: &Services,
    project: &Project,
    req: CreateUser,
) -> Result<CreatedUser, OtpError> {
    let env = project.env();
    let user_id = UserId::generate(env);
    let mut tx = svc.pool.begin().await.map_err(StoreError::from)?;
    db::insert_user(
        &mut tx,
        db::NewUser {
            id: &user_id,
            project: &project.id,
            status: UserStatus::from_pending(req.pending),
            name: &req.name,
            external_id: req.external_id.as_ref(),
            trusted_metadata: &req.trusted_metadata,
            untrusted_metadata: &req.untrusted_metadata,
            roles: &req.roles,
        },
    )
    .await
    .map_err(conflict)?;
    let mut email_id = None;
    if let Some(email) = &req.email {
        let id = EmailId::generate(env);
        db::insert_email(&mut tx, &id, &project.id, &user_id, email)
            .await
            .map_err(conflict)?;
        email_id = Some(id);
    }
    let mut phone_id = None;
    if let Some(phone) = &req.phone {
        let id = PhoneId::generate(env);
        db::insert_phone(&mut tx, &id, &project.id, &user_id, phone.e164())
            .await
            .map_err(conflict)?;
        // users.create takes the project secret only: the backend vouches for the number, so
        // the abuse rules judge it as known (it stays unverified).
        if let Recipient::Phone(p) = phone {
            store::limits::vouch(&mut *tx, &project.id, p.as_e164(), KnownBy::Vouched).await?;
        }
        phone_id = Some(id);
    }
    let user = db::load_user(&mut tx, &project.id, &user_id)
        .await?
        .ok_or(OtpError::UserNotFound)?;
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(user_id = %user.id, "user created");
    Ok(CreatedUser {
        user,
        email_id,
        phone_id,
    })
}

pub async fn get(svc: &Services, project: &Project, user: &UserRef) -> Result<User, OtpError> {
    let id = store::users::resolve_user(&svc.pool, &project.id, user)
        .await?
        .ok_or(OtpError::UserNotFound)?;
    load(svc, project, &id).await
}

pub async fn load(svc: &Services, project: &Project, id: &UserId) -> Result<User, OtpError> {
    let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
    db::load_user(&mut conn, &project.id, id)
        .await?
        .ok_or(OtpError::UserNotFound)
}

pub async fn delete(svc: &Services, project: &Project, user: &UserRef) -> Result<UserId, OtpError> {
    let id = store::users::resolve_user(&svc.pool, &project.id, user)
        .await?
        .ok_or(OtpError::UserNotFound)?;
    if !db::delete_user(&svc.pool, &project.id, &id).await? {
        return Err(OtpError::UserNotFound);
    }
    tracing::info!(user_id = %id, "user deleted");
    Ok(id)
}

pub async fn delete_phone(
    svc: &Services,
    project: &Project,
    phone: &PhoneId,
) -> Result<User, OtpError> {
    let owner = db::delete_phone(&svc.pool, &project.id, phone)
        .await?
        .ok_or(OtpError::PhoneNotFound)?;
    load(svc, project, &owner).await
}

/// A validated `users.update`: `None` leaves a field as it is.
#[derive(Default)]
pub struct UpdateUser {
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    /// `Some("")` removes the external id.
    pub external_id: Option<String>,
    pub trusted_metadata: Option<serde_json::Value>,
    pub untrusted_metadata: Option<serde_json::Value>,
    pub roles: Option<Vec<String>>,
}

pub async fn update(
    svc: &Services,
    project: &Project,
    user: &UserRef,
    req: UpdateUser,
) -> Result<User, OtpError> {
    let id = store::users::resolve_user(&svc.pool, &project.id, user)
        .await?
        .ok_or(OtpError::UserNotFound)?;
    let written = db::update_user(
        &svc.pool,
        &project.id,
        &id,
        db::UserUpdate {
            first_name: req.first_name.as_deref(),
            middle_name: req.middle_name.as_deref(),
            last_name: req.last_name.as_deref(),
            external_id: req.external_id.as_deref(),
            trusted_metadata: req.trusted_metadata.as_ref(),
            untrusted_metadata: req.untrusted_metadata.as_ref(),
            roles: req.roles.as_deref(),
        },
    )
    .await
    .map_err(conflict)?;
    if !written {
        return Err(OtpError::UserNotFound);
    }
    tracing::info!(user_id = %id, "user updated");
    load(svc, project, &id).await
}

/// One page of matching users, the total number of matches, and where the next page starts.
pub struct SearchPage {
    pub users: Vec<User>,
    pub total: i64,
    pub next: Option<SearchCursor>,
}

pub async fn search(
    svc: &Services,
    project: &Project,
    query: &UserQuery,
    after: Option<&SearchCursor>,
    limit: u16,
) -> Result<SearchPage, OtpError> {
    let (users, total) =
        db::search_users(&svc.pool, &project.id, query, after, i64::from(limit)).await?;
    let next = (users.len() == usize::from(limit))
        .then(|| users.last())
        .flatten()
        .map(|u| SearchCursor {
            created_at: u.created_at,
            user_id: u.id.as_str().to_owned(),
        });
    Ok(SearchPage { users, total, next })
}
