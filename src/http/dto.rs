//! Response bodies in Stytch's wire shape: every field the official SDK models require is
//! present and non-null.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::user::User;

pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Serialize, ToSchema)]
pub struct NameBody<'a> {
    pub first_name: &'a str,
    pub middle_name: &'a str,
    pub last_name: &'a str,
}

#[derive(Serialize, ToSchema)]
pub struct EmailBody<'a> {
    pub email_id: &'a str,
    pub email: &'a str,
    pub verified: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PhoneBody<'a> {
    pub phone_id: &'a str,
    pub phone_number: &'a str,
    pub verified: bool,
}

/// A consumer user, with every field Stytch's SDK model requires.
#[derive(Serialize, ToSchema)]
pub struct UserBody<'a> {
    pub user_id: &'a str,
    pub created_at: String,
    pub status: &'static str,
    pub name: NameBody<'a>,
    pub emails: Vec<EmailBody<'a>>,
    pub phone_numbers: Vec<PhoneBody<'a>>,
    #[schema(value_type = Vec<Object>)]
    pub webauthn_registrations: [Value; 0],
    #[schema(value_type = Vec<Object>)]
    pub providers: [Value; 0],
    #[schema(value_type = Vec<Object>)]
    pub totps: [Value; 0],
    #[schema(value_type = Vec<Object>)]
    pub crypto_wallets: [Value; 0],
    #[schema(value_type = Vec<Object>)]
    pub biometric_registrations: [Value; 0],
    #[schema(value_type = Option<Object>)]
    pub password: Option<Value>,
    #[schema(value_type = Object)]
    pub trusted_metadata: &'a Value,
    #[schema(value_type = Object)]
    pub untrusted_metadata: &'a Value,
    pub external_id: Option<&'a str>,
    pub is_locked: bool,
    pub lock_created_at: Option<String>,
    pub lock_expires_at: Option<String>,
    /// Role ids, as set by `users.create` / `users.update`.
    pub roles: Vec<&'a str>,
}

impl<'a> From<&'a User> for UserBody<'a> {
    fn from(u: &'a User) -> Self {
        UserBody {
            user_id: u.id.as_str(),
            created_at: rfc3339(&u.created_at),
            status: u.status.as_str(),
            name: NameBody {
                first_name: &u.name.first_name,
                middle_name: &u.name.middle_name,
                last_name: &u.name.last_name,
            },
            emails: u
                .emails
                .iter()
                .map(|e| EmailBody {
                    email_id: e.id.as_str(),
                    email: &e.email,
                    verified: e.verified,
                })
                .collect(),
            phone_numbers: u
                .phones
                .iter()
                .map(|p| PhoneBody {
                    phone_id: p.id.as_str(),
                    phone_number: &p.phone_number,
                    verified: p.verified,
                })
                .collect(),
            webauthn_registrations: [],
            providers: [],
            totps: [],
            crypto_wallets: [],
            biometric_registrations: [],
            password: None,
            trusted_metadata: &u.trusted_metadata,
            untrusted_metadata: &u.untrusted_metadata,
            external_id: u.external_id.as_deref(),
            is_locked: false,
            lock_created_at: None,
            lock_expires_at: None,
            roles: u.roles.iter().map(String::as_str).collect(),
        }
    }
}
