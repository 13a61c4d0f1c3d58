//! Consumer users, their emails and phone numbers.

use sqlx::{PgConnection, PgPool};

use crate::domain::ids::{EmailId, ExternalId, PhoneId, ProjectId, UserId, UserRef};
use crate::domain::user::{
    Name, SearchCursor, User, UserEmail, UserFilter, UserPhone, UserQuery, UserStatus,
};

use super::StoreError;

pub const PHONE_TAKEN: &str = "phone_numbers_project_phone_key";
pub const EMAIL_TAKEN: &str = "emails_project_email_key";
pub const EXTERNAL_ID_TAKEN: &str = "users_external_id_key";

/// How long a number attached by `send(user_id)` may stay unverified (Stytch's 5 minutes).
pub const ATTACH_WINDOW_SECONDS: i64 = 300;

pub struct NewUser<'a> {
    pub id: &'a UserId,
    pub project: &'a ProjectId,
    pub status: UserStatus,
    pub name: &'a Name,
    pub external_id: Option<&'a ExternalId>,
    pub trusted_metadata: &'a serde_json::Value,
    pub untrusted_metadata: &'a serde_json::Value,
    pub roles: &'a [String],
}

pub async fn insert_user(conn: &mut PgConnection, u: NewUser<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into users (id, project_id, status, first_name, middle_name, last_name,
                            external_id, trusted_metadata, untrusted_metadata, roles)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        u.id.as_str(),
        u.project.as_str(),
        u.status.as_str(),
        u.name.first_name,
        u.name.middle_name,
        u.name.last_name,
        u.external_id.map(ExternalId::as_str),
        u.trusted_metadata,
        u.untrusted_metadata,
        u.roles,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// `users.update`: `None` leaves a column as it is; an empty external id removes it.
#[derive(Default)]
pub struct UserUpdate<'a> {
    pub first_name: Option<&'a str>,
    pub middle_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub trusted_metadata: Option<&'a serde_json::Value>,
    pub untrusted_metadata: Option<&'a serde_json::Value>,
    pub roles: Option<&'a [String]>,
}

pub async fn update_user(
    pool: &PgPool,
    project: &ProjectId,
    id: &UserId,
    u: UserUpdate<'_>,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "update users set first_name = coalesce($3, first_name),
                          middle_name = coalesce($4, middle_name),
                          last_name = coalesce($5, last_name),
                          external_id = case when $6::text is null then external_id
                                             else nullif($6, '') end,
                          trusted_metadata = coalesce($7, trusted_metadata),
                          untrusted_metadata = coalesce($8, untrusted_metadata),
                          roles = coalesce($9, roles)
         where project_id = $1 and id = $2",
        project.as_str(),
        id.as_str(),
        u.first_name,
        u.middle_name,
        u.last_name,
        u.external_id,
        u.trusted_metadata,
        u.untrusted_metadata,
        u.roles,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
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
    // An attachment by send(user_id) that lapsed unverified is no one's number: it must not
    // make the number look taken (retention removes such rows too, on its own schedule).
    sqlx::query!(
        "delete from phone_numbers
         where project_id = $1 and phone_number = $2 and not verified
           and attach_expires_at <= now()",
        project.as_str(),
        e164
    )
    .execute(&mut *conn)
    .await?;
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

/// Attaches a number to an existing user by `send(user_id)`: it stays only if verified within
/// [`ATTACH_WINDOW_SECONDS`]; after that it is invisible and the next lookup detaches it.
pub async fn attach_phone(
    conn: &mut PgConnection,
    id: &PhoneId,
    project: &ProjectId,
    user: &UserId,
    e164: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into phone_numbers (id, project_id, user_id, phone_number, attach_expires_at)
         values ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        id.as_str(),
        project.as_str(),
        user.as_str(),
        e164,
        ATTACH_WINDOW_SECONDS as f64
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

/// The number's owner in the project (`otpd_phone_owner`, which first detaches the number if
/// `send(user_id)` attached it and it was not verified in time, so login_or_create can give it
/// to whoever proves possession next).
pub async fn find_phone_by_number(
    pool: &PgPool,
    project: &ProjectId,
    e164: &str,
) -> Result<Option<PhoneOwner>, StoreError> {
    let row = sqlx::query!(
        "select phone_id, user_id from otpd_phone_owner($1, $2)",
        project.as_str(),
        e164
    )
    .fetch_one(pool)
    .await?;
    Ok(owner(row.phone_id, row.user_id, e164))
}

/// A phone owner from a lookup's nullable columns.
pub fn owner(phone_id: Option<String>, user_id: Option<String>, e164: &str) -> Option<PhoneOwner> {
    match (phone_id, user_id) {
        (Some(phone_id), Some(user_id)) => Some(PhoneOwner {
            phone_id: PhoneId::from_trusted(phone_id),
            user_id: UserId::from_trusted(user_id),
            phone_number: e164.to_owned(),
        }),
        _ => None,
    }
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
    let ids = [id.as_str().to_owned()];
    Ok(load_users(conn, project, &ids).await?.into_iter().next())
}

/// A user as `otpd_users` returns it (also the second half of `otpd_authenticate_finish`'s
/// row); the function's columns are nullable to the macros, so the checks are here.
pub struct UserRow {
    pub id: Option<String>,
    pub status: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub external_id: Option<String>,
    pub trusted_metadata: Option<serde_json::Value>,
    pub untrusted_metadata: Option<serde_json::Value>,
    pub roles: Option<Vec<String>>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub phones: Option<serde_json::Value>,
    pub emails: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct PhoneDoc {
    id: String,
    phone_number: String,
    verified: bool,
}

#[derive(serde::Deserialize)]
struct EmailDoc {
    id: String,
    email: String,
    verified: bool,
}

impl UserRow {
    /// The user, or `None` for a row without one (`otpd_authenticate_finish` when the code
    /// was not used).
    pub fn into_user(self) -> Result<Option<User>, StoreError> {
        let Some(id) = self.id else {
            return Ok(None);
        };
        let phones: Vec<PhoneDoc> = list(self.phones)?;
        let emails: Vec<EmailDoc> = list(self.emails)?;
        Ok(Some(User {
            id: UserId::from_trusted(id),
            status: UserStatus::from_db(self.status.as_deref().unwrap_or_default()),
            name: Name {
                first_name: self.first_name.unwrap_or_default(),
                middle_name: self.middle_name.unwrap_or_default(),
                last_name: self.last_name.unwrap_or_default(),
            },
            external_id: self.external_id,
            trusted_metadata: self.trusted_metadata.unwrap_or_default(),
            untrusted_metadata: self.untrusted_metadata.unwrap_or_default(),
            roles: self.roles.unwrap_or_default(),
            created_at: self.created_at.unwrap_or_default(),
            phones: phones
                .into_iter()
                .map(|p| UserPhone {
                    id: PhoneId::from_trusted(p.id),
                    phone_number: p.phone_number,
                    verified: p.verified,
                })
                .collect(),
            emails: emails
                .into_iter()
                .map(|e| UserEmail {
                    id: EmailId::from_trusted(e.id),
                    email: e.email,
                    verified: e.verified,
                })
                .collect(),
        }))
    }
}

fn list<T: serde::de::DeserializeOwned>(
    v: Option<serde_json::Value>,
) -> Result<Vec<T>, StoreError> {
    let v = v.unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
    serde_json::from_value(v).map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))
}

/// Loads users with their phones and emails in one query, in the order of `ids`; unknown ids
/// are skipped.
pub async fn load_users(
    conn: &mut PgConnection,
    project: &ProjectId,
    ids: &[String],
) -> Result<Vec<User>, StoreError> {
    let rows = sqlx::query_as!(
        UserRow,
        "select id, status, first_name, middle_name, last_name, external_id, trusted_metadata,
                untrusted_metadata, roles, created_at, phones, emails
         from otpd_users($1, $2)",
        project.as_str(),
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        users.extend(row.into_user()?);
    }
    users.sort_by_key(|u| ids.iter().position(|i| i == u.id.as_str()));
    Ok(users)
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
             update phone_numbers set verified = true, attach_expires_at = null
             where project_id = $1 and id = $2 returning user_id)
         update users set status = 'active' from p where users.id = p.user_id",
        project.as_str(),
        phone.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

fn push_filter(qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, f: &UserFilter) {
    match f {
        UserFilter::UserIds(ids) => {
            qb.push("u.id = any(").push_bind(ids.clone()).push(")");
        }
        UserFilter::ExternalIds(ids) => {
            qb.push("u.external_id = any(")
                .push_bind(ids.clone())
                .push(")");
        }
        UserFilter::PhoneNumbers(numbers) => {
            qb.push("exists (select 1 from live_phone_numbers p where p.user_id = u.id and p.phone_number = any(")
                .push_bind(numbers.clone())
                .push("))");
        }
        UserFilter::PhoneIds(ids) => {
            qb.push(
                "exists (select 1 from live_phone_numbers p where p.user_id = u.id and p.id = any(",
            )
            .push_bind(ids.clone())
            .push("))");
        }
        UserFilter::PhoneNumberFuzzy(part) => {
            // Digits and '+' only (checked by the caller), so no LIKE wildcard gets through.
            qb.push("exists (select 1 from live_phone_numbers p where p.user_id = u.id and strpos(p.phone_number, ")
                .push_bind(part.clone())
                .push(") > 0)");
        }
        UserFilter::PhoneVerified(v) => {
            qb.push(
                "exists (select 1 from phone_numbers p where p.user_id = u.id and p.verified) = ",
            )
            .push_bind(*v);
        }
        UserFilter::Status(s) => {
            qb.push("u.status = ").push_bind(s.as_str());
        }
        UserFilter::CreatedAfter(t) => {
            qb.push("u.created_at > ").push_bind(*t);
        }
        UserFilter::CreatedBefore(t) => {
            qb.push("u.created_at < ").push_bind(*t);
        }
        UserFilter::CreatedBetween(after, before) => {
            qb.push("u.created_at > ")
                .push_bind(*after)
                .push(" and u.created_at < ")
                .push_bind(*before);
        }
    }
}

fn push_where(
    qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>,
    project: &ProjectId,
    query: &UserQuery,
) {
    qb.push(" where u.project_id = ")
        .push_bind(project.as_str().to_owned());
    if query.filters.is_empty() {
        return;
    }
    qb.push(" and (");
    for (i, f) in query.filters.iter().enumerate() {
        if i > 0 {
            qb.push(if query.all { " and " } else { " or " });
        }
        qb.push("(");
        push_filter(qb, f);
        qb.push(")");
    }
    qb.push(")");
}

/// One page of `users.search` in `(created_at, id)` order, with the total number of matches.
pub async fn search_users(
    pool: &PgPool,
    project: &ProjectId,
    query: &UserQuery,
    after: Option<&SearchCursor>,
    limit: i64,
) -> Result<(Vec<User>, i64), StoreError> {
    let mut count = sqlx::QueryBuilder::new("select count(*) from users u");
    push_where(&mut count, project, query);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut page = sqlx::QueryBuilder::new("select u.id from users u");
    push_where(&mut page, project, query);
    if let Some(c) = after {
        page.push(" and (u.created_at, u.id) > (")
            .push_bind(c.created_at)
            .push(", ")
            .push_bind(c.user_id.clone())
            .push(")");
    }
    page.push(" order by u.created_at, u.id limit ")
        .push_bind(limit);
    let ids: Vec<String> = page.build_query_scalar().fetch_all(pool).await?;
    let mut conn = pool.acquire().await?;
    let users = load_users(&mut conn, project, &ids).await?;
    Ok((users, total))
}

/// The user holding this (lower-cased) email address in the project.
pub async fn find_user_by_email(
    pool: &PgPool,
    project: &ProjectId,
    email: &str,
) -> Result<Option<UserId>, StoreError> {
    let row = sqlx::query_scalar!(
        "select user_id from emails where project_id = $1 and email = $2",
        project.as_str(),
        email
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(UserId::from_trusted))
}
