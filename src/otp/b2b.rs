//! B2B use cases: organizations, members, and SMS MFA send/authenticate.

use crate::domain::ids::{MemberId, OrganizationId};
use crate::domain::organization::{EnrollmentChange, Member, MfaPolicy, OrgSettings, Organization};
use crate::domain::project::Project;
use crate::domain::{Channel, ExpiryMinutes, Locale, Passcode, PhoneNumber};
use crate::limits;
use crate::store::organizations::{self as db, MemberKey, MemberUpdate, MemberUpdated};
use crate::store::{passcodes, StoreError};

use super::codes::{self, Delivery};
use super::sessions::{self, CheckedProof, Issued, MfaProof};
use super::{Caller, OtpError, Services};
use crate::domain::session::{ClaimsUpdate, SessionDuration};

fn conflict(e: StoreError) -> OtpError {
    if e.is_conflict_on(db::SLUG_TAKEN) {
        OtpError::DuplicateSlug
    } else if e.is_conflict_on(db::ORG_EXTERNAL_ID_TAKEN) {
        OtpError::DuplicateOrganizationExternalId
    } else if e.is_conflict_on(db::MEMBER_EXTERNAL_ID_TAKEN) {
        OtpError::DuplicateMemberExternalId
    } else if e.is_conflict_on(db::MEMBER_EMAIL_TAKEN) {
        OtpError::DuplicateMemberEmail
    } else if e.is_conflict_on(db::MEMBER_PHONE_TAKEN) {
        OtpError::DuplicateMemberPhone
    } else {
        OtpError::Store(e)
    }
}

pub struct CreateOrganization {
    pub name: String,
    pub slug: String,
    pub external_id: Option<String>,
    pub logo_url: String,
    pub mfa_policy: MfaPolicy,
    pub trusted_metadata: serde_json::Value,
    pub settings: OrgSettings,
}

pub async fn create_organization(
    svc: &Services,
    project: &Project,
    req: CreateOrganization,
) -> Result<Organization, OtpError> {
    let id = OrganizationId::generate(project.env());
    db::insert_organization(
        &svc.pool,
        db::NewOrganization {
            id: &id,
            project: &project.id,
            name: &req.name,
            slug: &req.slug,
            external_id: req.external_id.as_deref(),
            logo_url: &req.logo_url,
            mfa_policy: req.mfa_policy,
            trusted_metadata: &req.trusted_metadata,
            settings: &req.settings,
        },
    )
    .await
    .map_err(conflict)?;
    organization(svc, project, id.as_str()).await
}

/// `organizations.update`: `org` with the request already merged in is written whole.
pub async fn update_organization(
    svc: &Services,
    project: &Project,
    org: &Organization,
) -> Result<Organization, OtpError> {
    let written = db::update_organization(
        &svc.pool,
        &org.id,
        db::OrganizationUpdate {
            name: &org.name,
            slug: &org.slug,
            external_id: org.external_id.as_deref(),
            logo_url: &org.logo_url,
            mfa_policy: org.mfa_policy,
            trusted_metadata: &org.trusted_metadata,
            settings: &org.settings,
        },
    )
    .await
    .map_err(conflict)?;
    if !written {
        return Err(OtpError::OrganizationNotFound);
    }
    tracing::info!(organization = %org.id, "organization updated");
    organization(svc, project, org.id.as_str()).await
}

/// Resolves an organization id, slug or external id.
pub async fn organization(
    svc: &Services,
    project: &Project,
    key: &str,
) -> Result<Organization, OtpError> {
    db::find_organization(&svc.pool, &project.id, key)
        .await?
        .ok_or(OtpError::OrganizationNotFound)
}

/// Resolves a member id, external id or (for `get`) email inside one organization only.
pub async fn member(
    svc: &Services,
    org: &Organization,
    key: MemberKey<'_>,
) -> Result<Member, OtpError> {
    let mut conn = svc.pool.acquire().await.map_err(StoreError::from)?;
    db::find_member(&mut conn, &org.id, key)
        .await?
        .ok_or(OtpError::MemberNotFound)
}

pub struct CreateMember {
    pub email_address: String,
    pub name: String,
    pub external_id: Option<String>,
    pub mfa_phone_number: Option<PhoneNumber>,
    pub mfa_enrolled: bool,
    pub pending: bool,
    pub trusted_metadata: serde_json::Value,
    pub untrusted_metadata: serde_json::Value,
    pub roles: Vec<String>,
}

pub async fn create_member(
    svc: &Services,
    project: &Project,
    org: &Organization,
    req: CreateMember,
) -> Result<Member, OtpError> {
    let id = MemberId::generate(project.env());
    db::insert_member(
        &svc.pool,
        db::NewMember {
            id: &id,
            project: &project.id,
            organization: &org.id,
            email_address: &req.email_address,
            name: &req.name,
            external_id: req.external_id.as_deref(),
            status: if req.pending { "pending" } else { "active" },
            mfa_phone_number: req
                .mfa_phone_number
                .as_ref()
                .map_or("", PhoneNumber::as_e164),
            mfa_enrolled: req.mfa_enrolled,
            trusted_metadata: &req.trusted_metadata,
            untrusted_metadata: &req.untrusted_metadata,
            roles: &req.roles,
        },
    )
    .await
    .map_err(conflict)?;
    // members.create takes the project secret only: the backend vouches for the MFA number.
    if let Some(phone) = &req.mfa_phone_number {
        super::vouch(&svc.pool, Caller::Backend, &project.id, phone.as_e164()).await?;
    }
    member(svc, org, MemberKey::IdOrExternal(id.as_str())).await
}

pub struct UpdateMember {
    pub name: Option<String>,
    pub email_address: Option<String>,
    pub external_id: Option<String>,
    pub mfa_phone_number: Option<PhoneNumber>,
    pub mfa_enrolled: Option<bool>,
    pub default_mfa_method: Option<String>,
    pub trusted_metadata: Option<serde_json::Value>,
    pub untrusted_metadata: Option<serde_json::Value>,
    pub roles: Option<Vec<String>>,
}

fn updated(outcome: MemberUpdated) -> Result<(), OtpError> {
    match outcome {
        MemberUpdated::Done => Ok(()),
        MemberUpdated::Gone => Err(OtpError::MemberNotFound),
        MemberUpdated::VerifiedPhoneKept => Err(OtpError::MemberPhoneMismatch { verified: true }),
    }
}

pub async fn update_member(
    svc: &Services,
    project: &Project,
    org: &Organization,
    key: &str,
    req: UpdateMember,
) -> Result<Member, OtpError> {
    let m = member(svc, org, MemberKey::IdOrExternal(key)).await?;
    let outcome = db::update_member(
        &svc.pool,
        &project.id,
        &m.id,
        MemberUpdate {
            name: req.name.as_deref(),
            email_address: req.email_address.as_deref(),
            external_id: req.external_id.as_deref(),
            mfa_phone_number: req.mfa_phone_number.as_ref().map(PhoneNumber::as_e164),
            mfa_enrolled: req.mfa_enrolled,
            default_mfa_method: req.default_mfa_method.as_deref(),
            trusted_metadata: req.trusted_metadata.as_ref(),
            untrusted_metadata: req.untrusted_metadata.as_ref(),
            roles: req.roles.as_deref(),
        },
    )
    .await
    .map_err(conflict)?;
    updated(outcome)?;
    // As members.create (members.update takes the project secret only).
    if let Some(phone) = &req.mfa_phone_number {
        super::vouch(&svc.pool, Caller::Backend, &project.id, phone.as_e164()).await?;
    }
    member(svc, org, MemberKey::IdOrExternal(m.id.as_str())).await
}

pub async fn delete_mfa_phone(
    svc: &Services,
    project: &Project,
    org: &Organization,
    key: &str,
) -> Result<Member, OtpError> {
    let m = member(svc, org, MemberKey::IdOrExternal(key)).await?;
    updated(db::delete_mfa_phone(&svc.pool, &project.id, &m.id).await?)?;
    member(svc, org, MemberKey::IdOrExternal(m.id.as_str())).await
}

/// Stytch's fixed B2B code lifetime.
pub const B2B_EXPIRY: ExpiryMinutes = ExpiryMinutes::DEFAULT;

/// Sends a member an SMS passcode. Stytch's rule: once the member has an active MFA factor
/// (a verified MFA phone in otpd, which has no TOTP), `proof` (an intermediate session or a
/// member session of this member) is required so the second factor can't be triggered by a
/// member id alone; before that (enrollment) it is optional, and checked when given.
#[tracing::instrument(skip_all, fields(project = %project.id, organization = %org.id))]
#[allow(clippy::too_many_arguments)]
pub async fn send_sms(
    svc: &Services,
    project: &Project,
    org: &Organization,
    member_key: &str,
    mfa_phone_number: Option<PhoneNumber>,
    locale: Locale,
    proof: Option<MfaProof>,
    caller: Caller,
) -> Result<Member, OtpError> {
    if !org.settings.allows_sms_mfa() {
        return Err(OtpError::SmsMfaRestricted);
    }
    let m = member(svc, org, MemberKey::IdOrExternal(member_key)).await?;
    match proof {
        Some(p) => {
            sessions::check_proof(svc, project, org, &m, p).await?;
        }
        None if has_active_mfa_factor(&m) => return Err(OtpError::MfaProofRequired),
        None => {}
    }
    let phone = match (m.mfa_phone_number.as_str(), mfa_phone_number) {
        ("", None) => return Err(OtpError::MemberPhoneNotFound),
        (current, None) => PhoneNumber::parse(current)?,
        (current, Some(given)) => {
            // Stytch: an error if the member already has a number and the given one differs.
            if !current.is_empty() && current != given.as_e164() {
                return Err(OtpError::MemberPhoneMismatch {
                    verified: m.mfa_phone_number_verified,
                });
            }
            given
        }
    };
    // The backend naming the member and the number vouches for it, as consumer send(user_id)
    // does; the number stays unverified until its code is typed.
    super::vouch(&svc.pool, caller, &project.id, phone.as_e164()).await?;
    let (slot, _) = codes::admit(svc, project, &phone, None).await?;
    if m.mfa_phone_number != phone.as_e164()
        && !db::set_unverified_phone(&svc.pool, &m.id, phone.as_e164())
            .await
            .map_err(conflict)?
    {
        // A concurrent send or update linked another number in between.
        return Err(OtpError::MemberPhoneMismatch { verified: false });
    }
    codes::issue(
        svc,
        project,
        slot,
        Delivery {
            method_id: m.id.as_str(),
            to: &phone,
            channel: Channel::Sms,
            expiry: B2B_EXPIRY,
            locale,
            autofill: false,
            autofill_host: None,
        },
    )
    .await?;
    member(svc, org, MemberKey::IdOrExternal(m.id.as_str())).await
}

/// An MFA factor a send must be guarded for: otpd's only one is a verified MFA phone.
pub fn has_active_mfa_factor(m: &Member) -> bool {
    m.mfa_phone_number_verified && !m.mfa_phone_number.is_empty()
}

/// The options of `otps.sms.authenticate` besides the code and the proof.
#[derive(Default)]
pub struct SmsAuthenticateOptions {
    pub enrollment: Option<EnrollmentChange>,
    pub set_default: bool,
    pub duration: Option<SessionDuration>,
    pub claims: ClaimsUpdate,
}

/// What a successful B2B SMS authenticate answers: the member (updated), and the member
/// session it started (from an intermediate session) or extended (a presented session).
pub struct SmsAuthenticated {
    pub member: Member,
    pub session: Issued,
}

/// Authenticates a member's SMS passcode as a second factor. Exactly one `proof` is
/// required (Stytch: "SMS OTPs may not be used as a primary authentication mechanism");
/// it is checked before the code is spent. An intermediate session is consumed in the same
/// transaction as the code (single use: of concurrent uses one wins) and becomes a member
/// session; a presented member session gets the `sms` factor and is extended.
#[tracing::instrument(skip_all, fields(project = %project.id, organization = %org.id))]
pub async fn authenticate_sms(
    svc: &Services,
    project: &Project,
    org: &Organization,
    member_key: &str,
    code: &Passcode,
    proof: Option<MfaProof>,
    opts: SmsAuthenticateOptions,
) -> Result<SmsAuthenticated, OtpError> {
    let proof = proof.ok_or(OtpError::NoSessionArguments)?;
    if !org.settings.allows_sms_mfa() {
        return Err(OtpError::SmsMfaRestricted);
    }
    let m = member(svc, org, MemberKey::IdOrExternal(member_key)).await?;
    let checked = sessions::check_proof(svc, project, org, &m, proof).await?;
    let id = codes::check(svc, project, m.id.as_str(), code).await?;
    let enrolled = match (org.mfa_policy, opts.enrollment) {
        (MfaPolicy::RequiredForAll, _) => Some(true),
        (_, Some(EnrollmentChange::Enroll)) => Some(true),
        (_, Some(EnrollmentChange::Unenroll)) => Some(false),
        (_, None) => None,
    };
    let mut tx = svc.pool.begin().await.map_err(StoreError::from)?;
    if !passcodes::consume(&mut tx, id).await? {
        crate::metrics::authentication("not_found");
        return Err(OtpError::UnableToAuth);
    }
    let (presented, prior) = match checked {
        CheckedProof::Intermediate { token_hash } => {
            let prior = sessions::consume_intermediate(&mut tx, project, &token_hash, &m).await;
            match prior {
                Ok(prior) => (None, prior),
                Err(e) => {
                    // Another authenticate used it first: this one spends nothing.
                    tx.rollback().await.map_err(StoreError::from)?;
                    return Err(e);
                }
            }
        }
        CheckedProof::Session(found) => (Some(found), Vec::new()),
    };
    if !db::record_mfa_success(&mut tx, &m.id, id, enrolled, opts.set_default).await? {
        // The code went to a number the member no longer has: it is no code for this one.
        tx.rollback().await.map_err(StoreError::from)?;
        crate::metrics::authentication("not_found");
        return Err(OtpError::WrongCode);
    }
    tx.commit().await.map_err(StoreError::from)?;
    crate::metrics::authentication("success");
    tracing::info!(outcome = "success", "member passcode authenticated");
    let phone = PhoneNumber::parse(&m.mfa_phone_number).ok();
    limits::record_success(&svc.pool, project, m.id.as_str(), phone.as_ref()).await;
    let m = member(svc, org, MemberKey::IdOrExternal(m.id.as_str())).await?;
    let session = sessions::after_member_factor(
        svc,
        project,
        &m,
        org,
        presented,
        opts.duration,
        &prior,
        &sessions::member_sms_factor(&m),
        &opts.claims,
    )
    .await?;
    Ok(SmsAuthenticated { member: m, session })
}

/// A page of `organizations.search`, or of `organizations.members.search` with the
/// organizations its members belong to.
pub struct B2bPage<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub next: Option<crate::domain::organization::B2bCursor>,
    /// The organizations of the page's members (members search only).
    pub organizations: Vec<Organization>,
}

fn next_cursor(
    len: usize,
    limit: u16,
    last: Option<(chrono::DateTime<chrono::Utc>, &str)>,
) -> Option<crate::domain::organization::B2bCursor> {
    (len == usize::from(limit))
        .then_some(last)
        .flatten()
        .map(|(created_at, id)| crate::domain::organization::B2bCursor {
            created_at,
            id: id.to_owned(),
        })
}

/// `organizations.search`: every organization of the project (or only `ids`), oldest first.
pub async fn search_organizations(
    svc: &Services,
    project: &Project,
    ids: Option<&[String]>,
    after: Option<&crate::domain::organization::B2bCursor>,
    limit: u16,
) -> Result<B2bPage<Organization>, OtpError> {
    let (items, total) =
        db::search_organizations(&svc.pool, &project.id, ids, after, i64::from(limit)).await?;
    let next = next_cursor(
        items.len(),
        limit,
        items.last().map(|o| (o.created_at, o.id.as_str())),
    );
    Ok(B2bPage {
        items,
        total,
        next,
        organizations: Vec::new(),
    })
}

/// `organizations.members.search`: the members of `organizations` (Stytch requires at least
/// one), optionally only `member_ids`, oldest first.
pub async fn search_members(
    svc: &Services,
    project: &Project,
    organizations: &[String],
    member_ids: Option<&[String]>,
    after: Option<&crate::domain::organization::B2bCursor>,
    limit: u16,
) -> Result<B2bPage<Member>, OtpError> {
    let (items, total) = db::search_members(
        &svc.pool,
        &project.id,
        organizations,
        member_ids,
        after,
        i64::from(limit),
    )
    .await?;
    let next = next_cursor(
        items.len(),
        limit,
        items.last().map(|m| (m.created_at, m.id.as_str())),
    );
    let mut org_ids: Vec<String> = items
        .iter()
        .map(|m| m.organization_id.as_str().to_owned())
        .collect();
    org_ids.sort();
    org_ids.dedup();
    let organizations = if org_ids.is_empty() {
        Vec::new()
    } else {
        db::search_organizations(&svc.pool, &project.id, Some(&org_ids), None, 1000)
            .await?
            .0
    };
    Ok(B2bPage {
        items,
        total,
        next,
        organizations,
    })
}
