//! B2B organizations and members.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::ids::{MemberId, OrganizationId, ProjectId};
use crate::domain::organization::{Member, MfaPolicy, Organization};

use super::StoreError;

pub const SLUG_TAKEN: &str = "organizations_slug_key";
pub const ORG_EXTERNAL_ID_TAKEN: &str = "organizations_external_id_key";
pub const MEMBER_EMAIL_TAKEN: &str = "members_email_key";
pub const MEMBER_EXTERNAL_ID_TAKEN: &str = "members_external_id_key";

pub struct NewOrganization<'a> {
    pub id: &'a OrganizationId,
    pub project: &'a ProjectId,
    pub name: &'a str,
    pub slug: &'a str,
    pub external_id: Option<&'a str>,
    pub logo_url: &'a str,
    pub mfa_policy: MfaPolicy,
    pub trusted_metadata: &'a serde_json::Value,
}

pub async fn insert_organization(pool: &PgPool, o: NewOrganization<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into organizations (id, project_id, name, slug, external_id, logo_url, mfa_policy, trusted_metadata)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        o.id.as_str(),
        o.project.as_str(),
        o.name,
        o.slug,
        o.external_id,
        o.logo_url,
        o.mfa_policy.as_str(),
        o.trusted_metadata
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Finds an organization by id, slug or external id (in that order of preference).
pub async fn find_organization(
    pool: &PgPool,
    project: &ProjectId,
    key: &str,
) -> Result<Option<Organization>, StoreError> {
    let row = sqlx::query!(
        "select id, name, slug, external_id, logo_url, mfa_policy, trusted_metadata, created_at, updated_at
         from organizations
         where project_id = $1 and (id = $2 or slug = $2 or external_id = $2)
         order by (id = $2) desc, (slug = $2) desc
         limit 1",
        project.as_str(),
        key
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Organization {
        id: OrganizationId::from_trusted(r.id),
        name: r.name,
        slug: r.slug,
        external_id: r.external_id,
        logo_url: r.logo_url,
        mfa_policy: MfaPolicy::parse(&r.mfa_policy).unwrap_or(MfaPolicy::Optional),
        trusted_metadata: r.trusted_metadata,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

pub struct NewMember<'a> {
    pub id: &'a MemberId,
    pub project: &'a ProjectId,
    pub organization: &'a OrganizationId,
    pub email_address: &'a str,
    pub name: &'a str,
    pub external_id: Option<&'a str>,
    pub status: &'a str,
    pub mfa_phone_number: &'a str,
    pub mfa_enrolled: bool,
    pub trusted_metadata: &'a serde_json::Value,
    pub untrusted_metadata: &'a serde_json::Value,
}

pub async fn insert_member(pool: &PgPool, m: NewMember<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into members (id, project_id, organization_id, email_address, name, external_id, status,
                              mfa_phone_number, mfa_enrolled, trusted_metadata, untrusted_metadata)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        m.id.as_str(),
        m.project.as_str(),
        m.organization.as_str(),
        m.email_address,
        m.name,
        m.external_id,
        m.status,
        m.mfa_phone_number,
        m.mfa_enrolled,
        m.trusted_metadata,
        m.untrusted_metadata
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How a member is looked up inside one organization.
pub enum MemberKey<'a> {
    /// A member id or the member's external id.
    IdOrExternal(&'a str),
    Email(&'a str),
}

pub async fn find_member(
    conn: &mut PgConnection,
    organization: &OrganizationId,
    key: MemberKey<'_>,
) -> Result<Option<Member>, StoreError> {
    let (by_id, by_email) = match key {
        MemberKey::IdOrExternal(k) => (Some(k), None),
        MemberKey::Email(e) => (None, Some(e)),
    };
    let row = sqlx::query!(
        "select id, organization_id, email_address, name, external_id, status, mfa_phone_number,
                mfa_phone_number_verified, mfa_enrolled, default_mfa_method, trusted_metadata,
                untrusted_metadata, created_at, updated_at
         from members
         where organization_id = $1
           and (id = $2 or external_id = $2 or email_address = $3)
         order by (id = $2) desc
         limit 1",
        organization.as_str(),
        by_id,
        by_email
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Member {
        id: MemberId::from_trusted(r.id),
        organization_id: OrganizationId::from_trusted(r.organization_id),
        email_address: r.email_address,
        name: r.name,
        external_id: r.external_id,
        status: r.status,
        mfa_phone_number: r.mfa_phone_number,
        mfa_phone_number_verified: r.mfa_phone_number_verified,
        mfa_enrolled: r.mfa_enrolled,
        default_mfa_method: r.default_mfa_method,
        trusted_metadata: r.trusted_metadata,
        untrusted_metadata: r.untrusted_metadata,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

/// Partial member update; `None` leaves a column as it is. Changing the MFA phone resets its
/// verification and withdraws codes sent to the old number, in one transaction.
#[derive(Default)]
pub struct MemberUpdate<'a> {
    pub name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub mfa_phone_number: Option<&'a str>,
    pub mfa_enrolled: Option<bool>,
    pub default_mfa_method: Option<&'a str>,
}

pub async fn update_member(
    pool: &PgPool,
    project: &ProjectId,
    member: &MemberId,
    u: MemberUpdate<'_>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let changed_phone = sqlx::query_scalar!(
        r#"with old as (select mfa_phone_number from members where id = $1 for update)
           update members m set
               name = coalesce($2, m.name),
               external_id = coalesce($3, m.external_id),
               mfa_phone_number = coalesce($4, m.mfa_phone_number),
               mfa_phone_number_verified = case when $4::text is null or $4 = old.mfa_phone_number
                                                then m.mfa_phone_number_verified else false end,
               mfa_enrolled = coalesce($5, m.mfa_enrolled),
               default_mfa_method = coalesce($6, m.default_mfa_method),
               updated_at = now()
           from old where m.id = $1
           returning ($4::text is not null and $4 <> old.mfa_phone_number) as "changed!""#,
        member.as_str(),
        u.name,
        u.external_id,
        u.mfa_phone_number,
        u.mfa_enrolled,
        u.default_mfa_method
    )
    .fetch_optional(&mut *tx)
    .await?;
    if changed_phone == Some(true) {
        sqlx::query!(
            "delete from passcodes where project_id = $1 and method_id = $2",
            project.as_str(),
            member.as_str()
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Points an unverified member at a new MFA number; refuses (false) if a verified number is
/// already there, so a send can never redirect a verified member's codes.
pub async fn set_unverified_phone(
    pool: &PgPool,
    member: &MemberId,
    e164: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query_scalar!(
        "update members set mfa_phone_number = $2, mfa_phone_number_verified = false, updated_at = now()
         where id = $1 and (mfa_phone_number = '' or not mfa_phone_number_verified or mfa_phone_number = $2)
         returning id",
        member.as_str(),
        e164
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// After a successful SMS MFA with passcode `code`: the number that code was sent to is
/// verified, and enrollment and default method change as asked. False (nothing changed) when
/// the member's number is no longer the code's destination, so a code sent to one number can
/// never mark another verified.
pub async fn record_mfa_success(
    conn: &mut PgConnection,
    member: &MemberId,
    code: Uuid,
    enrolled: Option<bool>,
    make_default: bool,
) -> Result<bool, StoreError> {
    let row = sqlx::query_scalar!(
        "update members m set mfa_phone_number_verified = true,
                              mfa_enrolled = coalesce($3, m.mfa_enrolled),
                              default_mfa_method = case when $4 then 'sms_otp' else m.default_mfa_method end,
                              updated_at = now()
         from passcodes p
         where m.id = $1 and p.id = $2
           and m.mfa_phone_number <> ''
           and m.mfa_phone_number = coalesce(p.destination, m.mfa_phone_number)
         returning m.id",
        member.as_str(),
        code,
        enrolled,
        make_default
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

pub async fn delete_mfa_phone(
    pool: &PgPool,
    project: &ProjectId,
    member: &MemberId,
) -> Result<(), StoreError> {
    update_member(
        pool,
        project,
        member,
        MemberUpdate {
            mfa_phone_number: Some(""),
            ..Default::default()
        },
    )
    .await
}
