//! `otpd import stytch`: records written with the ids they had at Stytch, one transaction
//! per record (a record is imported whole or not at all), and the import's bookkeeping.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::ids::{EmailId, MemberId, OrganizationId, PhoneId, ProjectId, UserId};
use crate::domain::organization::{MfaPolicy, OrgSettings};

use super::limits::KnownBy;
use super::StoreError;

/// Unique constraints an imported record can run into, named for the failure report.
pub const USER_EXTERNAL_ID_TAKEN: &str = "users_external_id_key";
pub const PHONE_TAKEN: &str = "phone_numbers_project_phone_key";
pub const EMAIL_TAKEN: &str = "emails_project_email_key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    User,
    Organization,
    Member,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::User => "user",
            RecordKind::Organization => "organization",
            RecordKind::Member => "member",
        }
    }
}

/// Whether this exact source object was imported before and its row is still there.
pub async fn unchanged(
    conn: &mut PgConnection,
    project: &ProjectId,
    kind: RecordKind,
    object_id: &str,
    fingerprint: &[u8],
) -> Result<bool, StoreError> {
    let same = sqlx::query_scalar!(
        r#"select (r.fingerprint = $4 and case r.kind
                    when 'user' then exists (select 1 from users u
                                             where u.id = r.object_id and u.project_id = r.project_id)
                    when 'organization' then exists (select 1 from organizations o
                                             where o.id = r.object_id and o.project_id = r.project_id)
                    else exists (select 1 from members m
                                 where m.id = r.object_id and m.project_id = r.project_id)
                  end) as "same!"
           from import_records r
           where r.project_id = $1 and r.kind = $2 and r.object_id = $3"#,
        project.as_str(),
        kind.as_str(),
        object_id,
        fingerprint
    )
    .fetch_optional(conn)
    .await?;
    Ok(same.unwrap_or(false))
}

pub async fn record(
    conn: &mut PgConnection,
    project: &ProjectId,
    kind: RecordKind,
    object_id: &str,
    fingerprint: &[u8],
    source: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into import_records (project_id, kind, object_id, fingerprint, source)
         values ($1, $2, $3, $4, $5)
         on conflict (project_id, kind, object_id)
         do update set fingerprint = excluded.fingerprint, source = excluded.source, updated_at = now()",
        project.as_str(),
        kind.as_str(),
        object_id,
        fingerprint,
        source
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub struct ImportedUser<'a> {
    pub id: &'a UserId,
    pub status: &'a str,
    pub first_name: &'a str,
    pub middle_name: &'a str,
    pub last_name: &'a str,
    pub external_id: Option<&'a str>,
    pub trusted_metadata: &'a serde_json::Value,
    pub untrusted_metadata: &'a serde_json::Value,
    pub roles: &'a [String],
    pub created_at: DateTime<Utc>,
}

/// Inserts the user or brings an earlier import of it up to date; false when the id belongs
/// to another project.
pub async fn upsert_user(
    conn: &mut PgConnection,
    project: &ProjectId,
    u: &ImportedUser<'_>,
) -> Result<bool, StoreError> {
    let row = sqlx::query_scalar!(
        "insert into users (id, project_id, status, first_name, middle_name, last_name,
                            external_id, trusted_metadata, untrusted_metadata, roles, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         on conflict (id) do update set
             status = excluded.status, first_name = excluded.first_name,
             middle_name = excluded.middle_name, last_name = excluded.last_name,
             external_id = excluded.external_id, trusted_metadata = excluded.trusted_metadata,
             untrusted_metadata = excluded.untrusted_metadata, roles = excluded.roles,
             created_at = excluded.created_at
         where users.project_id = excluded.project_id
         returning id",
        u.id.as_str(),
        project.as_str(),
        u.status,
        u.first_name,
        u.middle_name,
        u.last_name,
        u.external_id,
        u.trusted_metadata,
        u.untrusted_metadata,
        u.roles,
        u.created_at
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The user's phone numbers become exactly these (E.164, already parsed); false when a
/// phone id belongs to another user or project.
pub async fn set_user_phones(
    conn: &mut PgConnection,
    project: &ProjectId,
    user: &UserId,
    phones: &[(PhoneId, String, bool)],
    created_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let ids: Vec<String> = phones.iter().map(|p| p.0.as_str().to_owned()).collect();
    sqlx::query!(
        "delete from phone_numbers where user_id = $1 and not (id = any($2))",
        user.as_str(),
        &ids
    )
    .execute(&mut *conn)
    .await?;
    for (id, number, verified) in phones {
        let row = sqlx::query_scalar!(
            "insert into phone_numbers (id, project_id, user_id, phone_number, verified, created_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (id) do update set phone_number = excluded.phone_number,
                                            verified = excluded.verified,
                                            attach_expires_at = null
             where phone_numbers.project_id = excluded.project_id
               and phone_numbers.user_id = excluded.user_id
             returning id",
            id.as_str(),
            project.as_str(),
            user.as_str(),
            number,
            verified,
            created_at
        )
        .fetch_optional(&mut *conn)
        .await?;
        if row.is_none() {
            return Ok(false);
        }
        // Every imported number, verified or not, is a returning user's to the abuse rules:
        // a cutover's first logins are not a burst of strangers.
        super::limits::vouch(&mut *conn, project, number, KnownBy::Imported).await?;
    }
    Ok(true)
}

/// The user's emails become exactly these (lower-cased); false when an email id belongs to
/// another user or project.
pub async fn set_user_emails(
    conn: &mut PgConnection,
    project: &ProjectId,
    user: &UserId,
    emails: &[(EmailId, String, bool)],
    created_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let ids: Vec<String> = emails.iter().map(|e| e.0.as_str().to_owned()).collect();
    sqlx::query!(
        "delete from emails where user_id = $1 and not (id = any($2))",
        user.as_str(),
        &ids
    )
    .execute(&mut *conn)
    .await?;
    for (id, email, verified) in emails {
        let row = sqlx::query_scalar!(
            "insert into emails (id, project_id, user_id, email, verified, created_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (id) do update set email = excluded.email, verified = excluded.verified
             where emails.project_id = excluded.project_id and emails.user_id = excluded.user_id
             returning id",
            id.as_str(),
            project.as_str(),
            user.as_str(),
            email,
            verified,
            created_at
        )
        .fetch_optional(&mut *conn)
        .await?;
        if row.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

pub struct ImportedOrganization<'a> {
    pub id: &'a OrganizationId,
    pub name: &'a str,
    pub slug: &'a str,
    pub external_id: Option<&'a str>,
    pub logo_url: &'a str,
    pub mfa_policy: MfaPolicy,
    pub trusted_metadata: &'a serde_json::Value,
    pub settings: &'a OrgSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// False when the id belongs to another project.
pub async fn upsert_organization(
    conn: &mut PgConnection,
    project: &ProjectId,
    o: &ImportedOrganization<'_>,
) -> Result<bool, StoreError> {
    let settings = serde_json::to_value(o.settings).unwrap_or_default();
    let row = sqlx::query_scalar!(
        "insert into organizations (id, project_id, name, slug, external_id, logo_url, mfa_policy,
                                    trusted_metadata, settings, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         on conflict (id) do update set
             name = excluded.name, slug = excluded.slug, external_id = excluded.external_id,
             logo_url = excluded.logo_url, mfa_policy = excluded.mfa_policy,
             trusted_metadata = excluded.trusted_metadata, settings = excluded.settings,
             created_at = excluded.created_at, updated_at = excluded.updated_at
         where organizations.project_id = excluded.project_id
         returning id",
        o.id.as_str(),
        project.as_str(),
        o.name,
        o.slug,
        o.external_id,
        o.logo_url,
        o.mfa_policy.as_str(),
        o.trusted_metadata,
        settings,
        o.created_at,
        o.updated_at
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

pub async fn organization_in_project(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &OrganizationId,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from organizations where id = $1 and project_id = $2) as "e!""#,
        id.as_str(),
        project.as_str()
    )
    .fetch_one(conn)
    .await?)
}

pub struct ImportedMember<'a> {
    pub id: &'a MemberId,
    pub organization: &'a OrganizationId,
    pub email_address: &'a str,
    pub name: &'a str,
    pub external_id: Option<&'a str>,
    pub status: &'a str,
    pub mfa_phone_number: &'a str,
    pub mfa_phone_number_verified: bool,
    pub mfa_enrolled: bool,
    pub default_mfa_method: &'a str,
    pub roles: &'a [String],
    pub trusted_metadata: &'a serde_json::Value,
    pub untrusted_metadata: &'a serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// False when the id belongs to another project or organization.
pub async fn upsert_member(
    conn: &mut PgConnection,
    project: &ProjectId,
    m: &ImportedMember<'_>,
) -> Result<bool, StoreError> {
    let row = sqlx::query_scalar!(
        "insert into members (id, project_id, organization_id, email_address, name, external_id,
                              status, mfa_phone_number, mfa_phone_number_verified, mfa_enrolled,
                              default_mfa_method, roles, trusted_metadata, untrusted_metadata,
                              created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         on conflict (id) do update set
             email_address = excluded.email_address, name = excluded.name,
             external_id = excluded.external_id, status = excluded.status,
             mfa_phone_number = excluded.mfa_phone_number,
             mfa_phone_number_verified = excluded.mfa_phone_number_verified,
             mfa_enrolled = excluded.mfa_enrolled, default_mfa_method = excluded.default_mfa_method,
             roles = excluded.roles, trusted_metadata = excluded.trusted_metadata,
             untrusted_metadata = excluded.untrusted_metadata,
             created_at = excluded.created_at, updated_at = excluded.updated_at
         where members.project_id = excluded.project_id
           and members.organization_id = excluded.organization_id
         returning id",
        m.id.as_str(),
        project.as_str(),
        m.organization.as_str(),
        m.email_address,
        m.name,
        m.external_id,
        m.status,
        m.mfa_phone_number,
        m.mfa_phone_number_verified,
        m.mfa_enrolled,
        m.default_mfa_method,
        m.roles,
        m.trusted_metadata,
        m.untrusted_metadata,
        m.created_at,
        m.updated_at
    )
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() && !m.mfa_phone_number.is_empty() {
        super::limits::vouch(conn, project, m.mfa_phone_number, KnownBy::Imported).await?;
    }
    Ok(row.is_some())
}

/// A transaction for one record.
pub async fn begin(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
    Ok(pool.begin().await?)
}
