//! `otpd import stytch`: one Stytch object (a user, an organization, a member) checked and
//! written with its Stytch ids, in one transaction, or reported with the reason it can't be.
//! Where the objects come from (the search APIs or a JSON-lines file) is `crate::import_source`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::domain::ids::{
    EmailId, ExternalId, MemberId, OrganizationId, PhoneId, ProjectId, UserId,
};
use crate::domain::organization::{valid_slug, MfaPolicy, OrgSettings};
use crate::domain::PhoneNumber;
use crate::store::import::{
    self as db, ImportedMember, ImportedOrganization, ImportedUser, EMAIL_TAKEN, PHONE_TAKEN,
    USER_EXTERNAL_ID_TAKEN,
};
use crate::store::organizations::{
    MEMBER_EMAIL_TAKEN, MEMBER_EXTERNAL_ID_TAKEN, MEMBER_PHONE_TAKEN, ORG_EXTERNAL_ID_TAKEN,
    SLUG_TAKEN,
};
use crate::store::StoreError;

pub use crate::store::import::RecordKind as Kind;

/// Why a record was not imported. The names are what the report prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailReason {
    /// Not an object of the expected shape (a missing id, a field of the wrong type).
    InvalidRecord,
    /// An id of the other environment (a live object into a test project, or the reverse).
    EnvironmentMismatch,
    InvalidPhoneNumber,
    InvalidExternalId,
    InvalidSlug,
    DuplicatePhoneNumber,
    DuplicateEmail,
    DuplicateExternalId,
    DuplicateSlug,
    /// The id is already used by another project (or another user/organization).
    IdTaken,
    /// A member whose organization is not (yet) in the project.
    OrganizationNotFound,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::InvalidRecord => "invalid_record",
            FailReason::EnvironmentMismatch => "environment_mismatch",
            FailReason::InvalidPhoneNumber => "invalid_phone_number",
            FailReason::InvalidExternalId => "invalid_external_id",
            FailReason::InvalidSlug => "invalid_slug",
            FailReason::DuplicatePhoneNumber => "duplicate_phone_number",
            FailReason::DuplicateEmail => "duplicate_email",
            FailReason::DuplicateExternalId => "duplicate_external_id",
            FailReason::DuplicateSlug => "duplicate_slug",
            FailReason::IdTaken => "id_taken",
            FailReason::OrganizationNotFound => "organization_not_found",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Imported,
    Unchanged,
    /// With a detail safe to print (ids, never a whole phone number).
    Failed(FailReason, String),
}

/// Writes records into one project, each in its own transaction. A dry run writes each record
/// in a savepoint of one outer transaction that is rolled back at the end, so the report says
/// exactly what a real run would do (a member sees its organization, two clashing records
/// clash) and nothing stays.
pub struct Importer {
    pool: PgPool,
    pub project: ProjectId,
    pub dry_run: bool,
    outer: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

struct Fail(FailReason, String);

impl From<FailReason> for Fail {
    fn from(r: FailReason) -> Self {
        Fail(r, String::new())
    }
}

enum Error {
    Fail(Fail),
    Store(StoreError),
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        Error::Fail(f)
    }
}

impl From<FailReason> for Error {
    fn from(r: FailReason) -> Self {
        Error::Fail(r.into())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let by = |c: &[(&str, FailReason)]| {
            c.iter()
                .find(|(name, _)| e.is_conflict_on(name))
                .map(|(_, r)| *r)
        };
        match by(&[
            (PHONE_TAKEN, FailReason::DuplicatePhoneNumber),
            (MEMBER_PHONE_TAKEN, FailReason::DuplicatePhoneNumber),
            (EMAIL_TAKEN, FailReason::DuplicateEmail),
            (MEMBER_EMAIL_TAKEN, FailReason::DuplicateEmail),
            (USER_EXTERNAL_ID_TAKEN, FailReason::DuplicateExternalId),
            (ORG_EXTERNAL_ID_TAKEN, FailReason::DuplicateExternalId),
            (MEMBER_EXTERNAL_ID_TAKEN, FailReason::DuplicateExternalId),
            (SLUG_TAKEN, FailReason::DuplicateSlug),
        ]) {
            Some(r) => Error::Fail(r.into()),
            // A primary key taken by a row this upsert can't update (another project's).
            None if matches!(e, StoreError::Conflict(_)) => Error::Fail(FailReason::IdTaken.into()),
            // Any other integrity rule (a check, a foreign key): the record, not the run.
            None => match &e {
                StoreError::Db(sqlx::Error::Database(d))
                    if d.code().is_some_and(|c| c.starts_with("23")) =>
                {
                    Error::Fail(Fail(
                        FailReason::InvalidRecord,
                        d.constraint().unwrap_or("a constraint").to_owned(),
                    ))
                }
                _ => Error::Store(e),
            },
        }
    }
}

fn fingerprint(obj: &Value) -> Vec<u8> {
    Sha256::digest(serde_json::to_vec(obj).unwrap_or_default()).to_vec()
}

fn str_field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An optional string field: absent, null and "" are all "none".
fn opt_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn object_field(obj: &Value, key: &str) -> Result<Value, Fail> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(Fail(
            FailReason::InvalidRecord,
            format!("{key} is not an object"),
        )),
    }
}

fn time_field(obj: &Value, key: &str) -> Result<Option<DateTime<Utc>>, Fail> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| Some(t.with_timezone(&Utc)))
            .ok_or_else(|| Fail(FailReason::InvalidRecord, format!("{key} is not RFC 3339"))),
    }
}

fn external_id(obj: &Value, key: &str) -> Result<Option<String>, Fail> {
    match opt_str(obj, key) {
        None => Ok(None),
        Some(s) => ExternalId::parse(s)
            .map(|e| Some(e.as_str().to_owned()))
            .map_err(|_| FailReason::InvalidExternalId.into()),
    }
}

fn phone(raw: &str, id: &str) -> Result<String, Fail> {
    PhoneNumber::parse(raw)
        .map(|p| p.as_e164().to_owned())
        .map_err(|e| Fail(FailReason::InvalidPhoneNumber, format!("{id}: {e}")))
}

fn array<'a>(obj: &'a Value, key: &str) -> Result<&'a [Value], Fail> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(Fail(
            FailReason::InvalidRecord,
            format!("{key} is not a list"),
        )),
    }
}

impl Importer {
    pub async fn new(pool: PgPool, project: ProjectId, dry_run: bool) -> Result<Self, StoreError> {
        let outer = if dry_run {
            Some(db::begin(&pool).await?)
        } else {
            None
        };
        Ok(Importer {
            pool,
            project,
            dry_run,
            outer,
        })
    }

    /// Ends a dry run's outer transaction: everything it wrote is rolled back.
    pub async fn finish(self) -> Result<(), StoreError> {
        if let Some(tx) = self.outer {
            tx.rollback().await?;
        }
        Ok(())
    }

    /// The record's id (as given, for the report) and what became of it. `Err` only when the
    /// database itself fails: the run stops there and a rerun resumes.
    pub async fn import(
        &mut self,
        kind: Kind,
        obj: &Value,
    ) -> Result<(String, Outcome), StoreError> {
        let Some((id, fp)) = identify(kind, obj) else {
            return Ok(no_id(kind));
        };
        let tx = match self.outer.as_mut() {
            Some(outer) => sqlx::Acquire::begin(&mut **outer).await?,
            None => db::begin(&self.pool).await?,
        };
        write(&self.project, tx, kind, obj, id, fp).await
    }

    /// `import` for a real run (not a dry run), callable for several records at once: each
    /// record is its own transaction on its own connection. A deadlock between two records
    /// of a batch (two records sharing numbers crosswise) is retried.
    pub async fn import_shared(
        &self,
        kind: Kind,
        obj: &Value,
    ) -> Result<(String, Outcome), StoreError> {
        let Some((id, fp)) = identify(kind, obj) else {
            return Ok(no_id(kind));
        };
        let mut attempt = 0;
        loop {
            let tx = db::begin(&self.pool).await?;
            match write(&self.project, tx, kind, obj, id.clone(), fp.clone()).await {
                Err(StoreError::Db(sqlx::Error::Database(d)))
                    if attempt < 3 && d.code().as_deref() == Some("40P01") =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

fn id_key(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "user_id",
        Kind::Organization => "organization_id",
        Kind::Member => "member_id",
    }
}

/// The record's id as given (for the report) and its fingerprint; `None` without an id.
fn identify(kind: Kind, obj: &Value) -> Option<(String, Vec<u8>)> {
    let id: String = str_field(obj, id_key(kind)).chars().take(128).collect();
    (!id.is_empty()).then(|| (id, fingerprint(obj)))
}

fn no_id(kind: Kind) -> (String, Outcome) {
    (
        "(no id)".into(),
        Outcome::Failed(FailReason::InvalidRecord, format!("no {}", id_key(kind))),
    )
}

async fn write(
    project: &ProjectId,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    kind: Kind,
    obj: &Value,
    id: String,
    fp: Vec<u8>,
) -> Result<(String, Outcome), StoreError> {
    let writer = Writer { project };
    if db::unchanged(&mut tx, project, kind, &id, &fp).await? {
        return Ok((id, Outcome::Unchanged));
    }
    let written = match kind {
        Kind::User => writer.user(&mut tx, obj).await,
        Kind::Organization => writer.organization(&mut tx, obj).await,
        Kind::Member => writer.member(&mut tx, obj).await,
    };
    match written {
        Ok(()) => {
            db::record(&mut tx, project, kind, &id, &fp, obj).await?;
            tx.commit().await?;
            Ok((id, Outcome::Imported))
        }
        Err(Error::Fail(Fail(reason, detail))) => {
            tx.rollback().await?;
            Ok((id, Outcome::Failed(reason, detail)))
        }
        Err(Error::Store(e)) => Err(e),
    }
}

struct Writer<'a> {
    project: &'a ProjectId,
}

impl Writer<'_> {
    fn same_env(&self, env: crate::domain::ids::Environment) -> Result<(), Fail> {
        if env == self.project.env() {
            Ok(())
        } else {
            Err(FailReason::EnvironmentMismatch.into())
        }
    }

    async fn user(&self, conn: &mut sqlx::PgConnection, obj: &Value) -> Result<(), Error> {
        let invalid = |what: &str| Fail(FailReason::InvalidRecord, what.to_owned());
        let id = UserId::parse(str_field(obj, "user_id")).map_err(|_| invalid("user_id"))?;
        self.same_env(id.environment())?;
        let status = match obj.get("status").and_then(Value::as_str) {
            None | Some("active") => "active",
            Some("pending") => "pending",
            Some(_) => return Err(invalid("status is not active or pending").into()),
        };
        let name = obj.get("name").cloned().unwrap_or(Value::Null);
        let created_at = time_field(obj, "created_at")?.unwrap_or_else(Utc::now);
        let mut phones = Vec::new();
        for p in array(obj, "phone_numbers")? {
            let pid = PhoneId::parse(str_field(p, "phone_id")).map_err(|_| invalid("phone_id"))?;
            self.same_env(pid.environment())?;
            let number = phone(str_field(p, "phone_number"), pid.as_str())?;
            let verified = p.get("verified").and_then(Value::as_bool).unwrap_or(false);
            phones.push((pid, number, verified));
        }
        let mut emails = Vec::new();
        for e in array(obj, "emails")? {
            let eid = EmailId::parse(str_field(e, "email_id")).map_err(|_| invalid("email_id"))?;
            self.same_env(eid.environment())?;
            let address = str_field(e, "email").trim().to_lowercase();
            if address.is_empty() || !address.contains('@') || address.len() > 254 {
                return Err(Fail(FailReason::InvalidRecord, format!("{eid}: email")).into());
            }
            let verified = e.get("verified").and_then(Value::as_bool).unwrap_or(false);
            emails.push((eid, address, verified));
        }
        let roles: Vec<String> = array(obj, "roles")?
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let external = external_id(obj, "external_id")?;
        let u = ImportedUser {
            id: &id,
            status,
            first_name: str_field(&name, "first_name"),
            middle_name: str_field(&name, "middle_name"),
            last_name: str_field(&name, "last_name"),
            external_id: external.as_deref(),
            trusted_metadata: &object_field(obj, "trusted_metadata")?,
            untrusted_metadata: &object_field(obj, "untrusted_metadata")?,
            roles: &roles,
            created_at,
        };
        if !db::upsert_user(conn, self.project, &u).await? {
            return Err(FailReason::IdTaken.into());
        }
        if !db::set_user_phones(conn, self.project, &id, &phones, created_at).await? {
            return Err(Fail(FailReason::IdTaken, "a phone_id".into()).into());
        }
        if !db::set_user_emails(conn, self.project, &id, &emails, created_at).await? {
            return Err(Fail(FailReason::IdTaken, "an email_id".into()).into());
        }
        Ok(())
    }

    async fn organization(&self, conn: &mut sqlx::PgConnection, obj: &Value) -> Result<(), Error> {
        let invalid = |what: &str| Fail(FailReason::InvalidRecord, what.to_owned());
        let id = OrganizationId::parse(str_field(obj, "organization_id"))
            .map_err(|_| invalid("organization_id"))?;
        self.same_env(id.environment())?;
        let name = str_field(obj, "organization_name");
        if name.trim().is_empty() {
            return Err(invalid("organization_name").into());
        }
        let slug = str_field(obj, "organization_slug");
        if !valid_slug(slug) {
            return Err(FailReason::InvalidSlug.into());
        }
        let mfa_policy =
            MfaPolicy::parse(str_field(obj, "mfa_policy")).unwrap_or(MfaPolicy::Optional);
        // The organization object carries the settings under the same names otpd stores.
        // A null setting means Stytch's default, as a missing one does.
        let mut present = obj.clone();
        if let Some(m) = present.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        let settings: OrgSettings = serde_json::from_value(present)
            .map_err(|e| Fail(FailReason::InvalidRecord, format!("settings: {e}")))?;
        let created_at = time_field(obj, "created_at")?.unwrap_or_else(Utc::now);
        let updated_at = time_field(obj, "updated_at")?.unwrap_or(created_at);
        let external = external_id(obj, "organization_external_id")?;
        let o = ImportedOrganization {
            id: &id,
            name,
            slug,
            external_id: external.as_deref(),
            logo_url: str_field(obj, "organization_logo_url"),
            mfa_policy,
            trusted_metadata: &object_field(obj, "trusted_metadata")?,
            settings: &settings,
            created_at,
            updated_at,
        };
        if !db::upsert_organization(conn, self.project, &o).await? {
            return Err(FailReason::IdTaken.into());
        }
        Ok(())
    }

    async fn member(&self, conn: &mut sqlx::PgConnection, obj: &Value) -> Result<(), Error> {
        let invalid = |what: &str| Fail(FailReason::InvalidRecord, what.to_owned());
        let id = MemberId::parse(str_field(obj, "member_id")).map_err(|_| invalid("member_id"))?;
        self.same_env(id.environment())?;
        let org = OrganizationId::parse(str_field(obj, "organization_id"))
            .map_err(|_| invalid("organization_id"))?;
        if !db::organization_in_project(conn, self.project, &org).await? {
            return Err(Fail(FailReason::OrganizationNotFound, org.to_string()).into());
        }
        let email = str_field(obj, "email_address").trim().to_lowercase();
        if email.is_empty() || !email.contains('@') {
            return Err(invalid("email_address").into());
        }
        let mfa_phone = match opt_str(obj, "mfa_phone_number") {
            None => String::new(),
            Some(p) => phone(p, id.as_str())?,
        };
        let verified = !mfa_phone.is_empty()
            && obj
                .get("mfa_phone_number_verified")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let default_mfa = match str_field(obj, "default_mfa_method") {
            m @ ("sms_otp" | "totp") => m,
            _ => "",
        };
        // Only roles assigned directly: the others Stytch derives (email domains, SSO groups)
        // and otpd has nothing to derive them from.
        let roles: Vec<String> = array(obj, "roles")?
            .iter()
            .filter(|r| {
                r.get("sources").and_then(Value::as_array).is_none_or(|s| {
                    s.iter()
                        .any(|s| s.get("type").and_then(Value::as_str) == Some("direct_assignment"))
                })
            })
            .filter_map(|r| r.get("role_id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let created_at = time_field(obj, "created_at")?.unwrap_or_else(Utc::now);
        let updated_at = time_field(obj, "updated_at")?.unwrap_or(created_at);
        let external = external_id(obj, "external_id")?;
        let status = match str_field(obj, "status") {
            "" => "active",
            s => s,
        };
        let m = ImportedMember {
            id: &id,
            organization: &org,
            email_address: &email,
            name: str_field(obj, "name"),
            external_id: external.as_deref(),
            status,
            mfa_phone_number: &mfa_phone,
            mfa_phone_number_verified: verified,
            mfa_enrolled: obj
                .get("mfa_enrolled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            default_mfa_method: default_mfa,
            roles: &roles,
            trusted_metadata: &object_field(obj, "trusted_metadata")?,
            untrusted_metadata: &object_field(obj, "untrusted_metadata")?,
            created_at,
            updated_at,
        };
        if !db::upsert_member(conn, self.project, &m).await? {
            return Err(FailReason::IdTaken.into());
        }
        Ok(())
    }
}

/// Counts of one run, by kind and outcome, with the failures' reasons.
#[derive(Debug, Default)]
pub struct Tally {
    pub imported: [u64; 3],
    pub unchanged: [u64; 3],
    pub failed: [u64; 3],
    pub reasons: std::collections::BTreeMap<FailReason, u64>,
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::User => 0,
        Kind::Organization => 1,
        Kind::Member => 2,
    }
}

impl Tally {
    pub fn add(&mut self, kind: Kind, outcome: &Outcome) {
        let i = slot(kind);
        match outcome {
            Outcome::Imported => self.imported[i] += 1,
            Outcome::Unchanged => self.unchanged[i] += 1,
            Outcome::Failed(r, _) => {
                self.failed[i] += 1;
                *self.reasons.entry(*r).or_default() += 1;
            }
        }
    }

    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.imported.iter().sum(),
            self.unchanged.iter().sum(),
            self.failed.iter().sum(),
        )
    }

    pub fn of(&self, kind: Kind) -> (u64, u64, u64) {
        let i = slot(kind);
        (self.imported[i], self.unchanged[i], self.failed[i])
    }
}
