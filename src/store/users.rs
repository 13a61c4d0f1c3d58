//! Consumer users, their emails and phone numbers.

use sqlx::{PgConnection, PgPool};

use crate::domain::ids::{EmailId, ExternalId, PhoneId, ProjectId, UserId, UserRef};
use crate::domain::user::{Name, User, UserEmail, UserPhone, UserStatus};

use super::StoreError;

pub const PHONE_TAKEN: &str = "phone_numbers_project_phone_key";
pub const EMAIL_TAKEN: &str = "emails_project_email_key";
pub const EXTERNAL_ID_TAKEN: &str = "users_external_id_key";

pub struct NewUser<'a> {
    pub id: &'a UserId,
    pub project: &'a ProjectId,
    pub status: UserStatus,
    pub name: &'a Name,
    pub external_id: Option<&'a ExternalId>,
    pub trusted_metadata: &'a serde_json::Value,
    pub untrusted_metadata: &'a serde_json::Value,
}

pub async fn insert_user(conn: &mut PgConnection, u: NewUser<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into users (id, project_id, status, first_name, middle_name, last_name,
                            external_id, trusted_metadata, untrusted_metadata)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        u.id.as_str(),
        u.project.as_str(),
        u.status.as_str(),
        u.name.first_name,
        u.name.middle_name,
        u.name.last_name,
        u.external_id.map(ExternalId::as_str),
        u.trusted_metadata,
        u.untrusted_metadata,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_email(
    conn: &mut PgConnection,
    id: &EmailId,
    project: &ProjectId,
    user: &UserId,
    email: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into emails (id, project_id, user_id, email) values ($1, $2, $3, $4)",
        id.as_str(),
        project.as_str(),
        user.as_str(),
        email
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_phone(
    conn: &mut PgConnection,
    id: &PhoneId,
    project: &ProjectId,
    user: &UserId,
    e164: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into phone_numbers (id, project_id, user_id, phone_number) values ($1, $2, $3, $4)",
        id.as_str(),
        project.as_str(),
        user.as_str(),
        e164
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts the phone unless the number already belongs to someone in the project; a
/// concurrent insert of the same number waits for the other transaction instead of failing.
pub async fn insert_phone_if_absent(
    conn: &mut PgConnection,
    id: &PhoneId,
    project: &ProjectId,
    user: &UserId,
    e164: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query!(
        "insert into phone_numbers (id, project_id, user_id, phone_number) values ($1, $2, $3, $4)
         on conflict on constraint phone_numbers_project_phone_key do nothing
         returning id",
        id.as_str(),
        project.as_str(),
        user.as_str(),
        e164
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// What `create_phone_user` did: made this user and phone, or found a concurrent winner's.
pub struct CreatedPhoneUser {
    pub user_id: UserId,
    pub phone_id: PhoneId,
    pub created: bool,
}

/// A user (default profile) with one phone number, in one statement
/// (`otpd_create_phone_user`); if the number was taken meanwhile, nothing is created and the
/// owner's ids come back with `created = false`.
pub async fn create_phone_user(
    pool: &PgPool,
    project: &ProjectId,
    user: &UserId,
    phone: &PhoneId,
    status: UserStatus,
    e164: &str,
) -> Result<CreatedPhoneUser, StoreError> {
    let r = sqlx::query!(
        r#"select user_id as "user_id!", phone_id as "phone_id!", created as "created!"
           from otpd_create_phone_user($1, $2, $3, $4, $5)"#,
        project.as_str(),
        user.as_str(),
        phone.as_str(),
        status.as_str(),
        e164
    )
    .fetch_one(pool)
    .await?;
    Ok(CreatedPhoneUser {
        user_id: UserId::from_trusted(r.user_id),
        phone_id: PhoneId::from_trusted(r.phone_id),
        created: r.created,
    })
}

#[derive(Debug, Clone)]
pub struct PhoneOwner {
    pub phone_id: PhoneId,
    pub user_id: UserId,
    pub phone_number: String,
}

pub async fn find_phone_by_number(
    pool: &PgPool,
    project: &ProjectId,
    e164: &str,
) -> Result<Option<PhoneOwner>, StoreError> {
    let row = sqlx::query!(
        "select id, user_id, phone_number from phone_numbers where project_id = $1 and phone_number = $2",
        project.as_str(),
        e164
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| PhoneOwner {
        phone_id: PhoneId::from_trusted(r.id),
        user_id: UserId::from_trusted(r.user_id),
        phone_number: r.phone_number,
    }))
}

pub async fn find_phone_by_id(
    pool: &PgPool,
    project: &ProjectId,
    id: &PhoneId,
) -> Result<Option<PhoneOwner>, StoreError> {
    let row = sqlx::query!(
        "select id, user_id, phone_number from phone_numbers where project_id = $1 and id = $2",
        project.as_str(),
        id.as_str()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| PhoneOwner {
        phone_id: PhoneId::from_trusted(r.id),
        user_id: UserId::from_trusted(r.user_id),
        phone_number: r.phone_number,
    }))
}

/// Resolves an id or external id to the user's id.
pub async fn resolve_user(
    pool: &PgPool,
    project: &ProjectId,
    user: &UserRef,
) -> Result<Option<UserId>, StoreError> {
    let (by_id, by_external) = match user {
        UserRef::Id(id) => (Some(id.as_str()), None),
        UserRef::External(ext) => (None, Some(ext.as_str())),
    };
    let row = sqlx::query_scalar!(
        "select id from users where project_id = $1 and (id = $2 or external_id = $3)",
        project.as_str(),
        by_id,
        by_external
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(UserId::from_trusted))
}

pub async fn load_user(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &UserId,
) -> Result<Option<User>, StoreError> {
    let Some(u) = sqlx::query!(
        "select id, status, first_name, middle_name, last_name, external_id,
                trusted_metadata, untrusted_metadata, created_at
         from users where project_id = $1 and id = $2",
        project.as_str(),
        id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let phones = sqlx::query!(
        "select id, phone_number, verified from phone_numbers where user_id = $1 order by created_at, id",
        id.as_str()
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| UserPhone {
        id: PhoneId::from_trusted(r.id),
        phone_number: r.phone_number,
        verified: r.verified,
    })
    .collect();
    let emails = sqlx::query!(
        "select id, email, verified from emails where user_id = $1 order by created_at, id",
        id.as_str()
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| UserEmail {
        id: EmailId::from_trusted(r.id),
        email: r.email,
        verified: r.verified,
    })
    .collect();
    Ok(Some(User {
        id: UserId::from_trusted(u.id),
        status: UserStatus::from_db(&u.status),
        name: Name {
            first_name: u.first_name,
            middle_name: u.middle_name,
            last_name: u.last_name,
        },
        external_id: u.external_id,
        trusted_metadata: u.trusted_metadata,
        untrusted_metadata: u.untrusted_metadata,
        created_at: u.created_at,
        emails,
        phones,
    }))
}

pub async fn delete_user(
    pool: &PgPool,
    project: &ProjectId,
    id: &UserId,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "delete from users where project_id = $1 and id = $2",
        project.as_str(),
        id.as_str()
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a phone number and its pending codes; returns the owner.
pub async fn delete_phone(
    pool: &PgPool,
    project: &ProjectId,
    id: &PhoneId,
) -> Result<Option<UserId>, StoreError> {
    let mut tx = pool.begin().await?;
    let owner = sqlx::query_scalar!(
        "delete from phone_numbers where project_id = $1 and id = $2 returning user_id",
        project.as_str(),
        id.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query!(
        "delete from passcodes where project_id = $1 and method_id = $2",
        project.as_str(),
        id.as_str()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(owner.map(UserId::from_trusted))
}

/// A successful authentication proves possession of the number and activates a pending user.
pub async fn mark_phone_verified(
    conn: &mut PgConnection,
    project: &ProjectId,
    phone: &PhoneId,
) -> Result<(), StoreError> {
    sqlx::query!(
        "with p as (
             update phone_numbers set verified = true
             where project_id = $1 and id = $2 returning user_id)
         update users set status = 'active' from p where users.id = p.user_id",
        project.as_str(),
        phone.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}
