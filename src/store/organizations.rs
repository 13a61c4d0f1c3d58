//! B2B organizations and members.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::ids::{MemberId, OrganizationId, ProjectId};
use crate::domain::organization::{Member, MfaPolicy, OrgSettings, Organization};

use super::StoreError;

pub const SLUG_TAKEN: &str = "organizations_slug_key";
pub const ORG_EXTERNAL_ID_TAKEN: &str = "organizations_external_id_key";
pub const MEMBER_EMAIL_TAKEN: &str = "members_email_key";
pub const MEMBER_EXTERNAL_ID_TAKEN: &str = "members_external_id_key";
pub const MEMBER_PHONE_TAKEN: &str = "members_phone_key";

fn settings_json(s: &OrgSettings) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or_default()
}

/// Settings as stored; keys a newer otpd added fall back to Stytch's defaults.
fn settings_from(v: serde_json::Value) -> OrgSettings {
    serde_json::from_value(v).unwrap_or_default()
}

pub struct NewOrganization<'a> {
    pub id: &'a OrganizationId,
    pub project: &'a ProjectId,
    pub name: &'a str,
    pub slug: &'a str,
    pub external_id: Option<&'a str>,
    pub logo_url: &'a str,
    pub mfa_policy: MfaPolicy,
    pub trusted_metadata: &'a serde_json::Value,
    pub settings: &'a OrgSettings,
}

pub async fn insert_organization(pool: &PgPool, o: NewOrganization<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into organizations (id, project_id, name, slug, external_id, logo_url, mfa_policy,
                                    trusted_metadata, settings)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        o.id.as_str(),
        o.project.as_str(),
        o.name,
        o.slug,
        o.external_id,
        o.logo_url,
        o.mfa_policy.as_str(),
        o.trusted_metadata,
        settings_json(o.settings)
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A whole organization as it should be after `organizations.update`: the caller merged the
/// request into the current values.
pub struct OrganizationUpdate<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub external_id: Option<&'a str>,
    pub logo_url: &'a str,
    pub mfa_policy: MfaPolicy,
    pub trusted_metadata: &'a serde_json::Value,
    pub settings: &'a OrgSettings,
}

pub async fn update_organization(
    pool: &PgPool,
    id: &OrganizationId,
    u: OrganizationUpdate<'_>,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "update organizations set name = $2, slug = $3, external_id = $4, logo_url = $5,
                                  mfa_policy = $6, trusted_metadata = $7, settings = $8,
                                  updated_at = now()
         where id = $1",
        id.as_str(),
        u.name,
        u.slug,
        u.external_id,
        u.logo_url,
        u.mfa_policy.as_str(),
        u.trusted_metadata,
        settings_json(u.settings)
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finds an organization by id, slug or external id (in that order of preference).
pub async fn find_organization(
    pool: &PgPool,
    project: &ProjectId,
    key: &str,
) -> Result<Option<Organization>, StoreError> {
    let row = sqlx::query!(
        "select id, name, slug, external_id, logo_url, mfa_policy, trusted_metadata, settings,
                created_at, updated_at
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
        settings: settings_from(r.settings),
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
    pub roles: &'a [String],
}

pub async fn insert_member(pool: &PgPool, m: NewMember<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into members (id, project_id, organization_id, email_address, name, external_id, status,
                              mfa_phone_number, mfa_enrolled, trusted_metadata, untrusted_metadata, roles)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        m.untrusted_metadata,
        m.roles
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
                mfa_phone_number_verified, mfa_enrolled, default_mfa_method, roles, trusted_metadata,
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
        roles: r.roles,
        trusted_metadata: r.trusted_metadata,
        untrusted_metadata: r.untrusted_metadata,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

/// Partial member update; `None` leaves a column as it is. Changing the MFA phone resets its
/// verification and withdraws codes sent to the old number, in one transaction. A verified
/// number is never replaced here (Stytch: delete it first).
#[derive(Default)]
pub struct MemberUpdate<'a> {
    pub name: Option<&'a str>,
    pub email_address: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub mfa_phone_number: Option<&'a str>,
    pub mfa_enrolled: Option<bool>,
    pub default_mfa_method: Option<&'a str>,
    pub trusted_metadata: Option<&'a serde_json::Value>,
    pub untrusted_metadata: Option<&'a serde_json::Value>,
    pub roles: Option<&'a [String]>,
}

/// What became of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberUpdated {
    Done,
    Gone,
    /// The member has a verified MFA number and the update named another one.
    VerifiedPhoneKept,
}

pub async fn update_member(
    pool: &PgPool,
    project: &ProjectId,
    member: &MemberId,
    u: MemberUpdate<'_>,
) -> Result<MemberUpdated, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"with old as (select mfa_phone_number, mfa_phone_number_verified
                        from members where id = $1 for update)
           update members m set
               name = coalesce($2, m.name),
               external_id = coalesce($3, m.external_id),
               mfa_phone_number = coalesce($4, m.mfa_phone_number),
               mfa_phone_number_verified = case when $4::text is null or $4 = old.mfa_phone_number
                                                then m.mfa_phone_number_verified else false end,
               mfa_enrolled = coalesce($5, m.mfa_enrolled),
               default_mfa_method = coalesce($6, m.default_mfa_method),
               email_address = coalesce($7, m.email_address),
               trusted_metadata = coalesce($8, m.trusted_metadata),
               untrusted_metadata = coalesce($9, m.untrusted_metadata),
               roles = coalesce($10, m.roles),
               updated_at = now()
           from old where m.id = $1
             and ($4::text is null or $4 = old.mfa_phone_number or $4 = ''
                  or old.mfa_phone_number = '' or not old.mfa_phone_number_verified)
           returning ($4::text is not null and $4 <> old.mfa_phone_number) as "changed!""#,
        member.as_str(),
        u.name,
        u.external_id,
        u.mfa_phone_number,
        u.mfa_enrolled,
        u.default_mfa_method,
        u.email_address,
        u.trusted_metadata,
        u.untrusted_metadata,
        u.roles
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let exists = sqlx::query_scalar!(
            "select 1 as \"one!\" from members where id = $1",
            member.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?;
        return Ok(if exists.is_some() {
            MemberUpdated::VerifiedPhoneKept
        } else {
            MemberUpdated::Gone
        });
    };
    if row.changed {
        sqlx::query!(
            "delete from passcodes where project_id = $1 and method_id = $2",
            project.as_str(),
            member.as_str()
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(MemberUpdated::Done)
}

/// Links a member without an MFA number to one; refuses (false) when the member already has
/// another number, verified or not (Stytch: the numbers must match).
pub async fn set_unverified_phone(
    pool: &PgPool,
    member: &MemberId,
    e164: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query_scalar!(
        "update members set mfa_phone_number = $2, mfa_phone_number_verified = false, updated_at = now()
         where id = $1 and (mfa_phone_number = '' or mfa_phone_number = $2)
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
) -> Result<MemberUpdated, StoreError> {
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

/// A page of a project's organizations in `(created_at, id)` order, optionally only these
/// ids, with the total the filter matches.
pub async fn search_organizations(
    pool: &PgPool,
    project: &ProjectId,
    ids: Option<&[String]>,
    after: Option<&crate::domain::organization::B2bCursor>,
    limit: i64,
) -> Result<(Vec<Organization>, i64), StoreError> {
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from organizations
           where project_id = $1 and ($2::text[] is null or id = any($2))"#,
        project.as_str(),
        ids
    )
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query!(
        "select id, name, slug, external_id, logo_url, mfa_policy, trusted_metadata, settings,
                created_at, updated_at
         from organizations
         where project_id = $1 and ($2::text[] is null or id = any($2))
           and ($3::timestamptz is null or (created_at, id) > ($3, $4))
         order by created_at, id
         limit $5",
        project.as_str(),
        ids,
        after.map(|c| c.created_at),
        after.map(|c| c.id.as_str()),
        limit
    )
    .fetch_all(pool)
    .await?;
    let orgs = rows
        .into_iter()
        .map(|r| Organization {
            id: OrganizationId::from_trusted(r.id),
            name: r.name,
            slug: r.slug,
            external_id: r.external_id,
            logo_url: r.logo_url,
            mfa_policy: MfaPolicy::parse(&r.mfa_policy).unwrap_or(MfaPolicy::Optional),
            trusted_metadata: r.trusted_metadata,
            settings: settings_from(r.settings),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect();
    Ok((orgs, total))
}

/// A page of the members of these organizations (of this project) in `(created_at, id)`
/// order, optionally only these member ids, with the total the filter matches.
pub async fn search_members(
    pool: &PgPool,
    project: &ProjectId,
    organizations: &[String],
    member_ids: Option<&[String]>,
    after: Option<&crate::domain::organization::B2bCursor>,
    limit: i64,
) -> Result<(Vec<Member>, i64), StoreError> {
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from members
           where project_id = $1 and organization_id = any($2)
             and ($3::text[] is null or id = any($3))"#,
        project.as_str(),
        organizations,
        member_ids
    )
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query!(
        "select id, organization_id, email_address, name, external_id, status, mfa_phone_number,
                mfa_phone_number_verified, mfa_enrolled, default_mfa_method, roles, trusted_metadata,
                untrusted_metadata, created_at, updated_at
         from members
         where project_id = $1 and organization_id = any($2)
           and ($3::text[] is null or id = any($3))
           and ($4::timestamptz is null or (created_at, id) > ($4, $5))
         order by created_at, id
         limit $6",
        project.as_str(),
        organizations,
        member_ids,
        after.map(|c| c.created_at),
        after.map(|c| c.id.as_str()),
        limit
    )
    .fetch_all(pool)
    .await?;
    let members = rows
        .into_iter()
        .map(|r| Member {
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
            roles: r.roles,
            trusted_metadata: r.trusted_metadata,
            untrusted_metadata: r.untrusted_metadata,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect();
    Ok((members, total))
}
