//! A consumer user as the use cases return it: the user with its emails and phone numbers.

use chrono::{DateTime, Utc};

use super::ids::{EmailId, PhoneId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Pending,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Pending => "pending",
        }
    }

    pub fn from_db(s: &str) -> Self {
        if s == "pending" {
            UserStatus::Pending
        } else {
            UserStatus::Active
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    pub first_name: String,
    pub middle_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone)]
pub struct UserPhone {
    pub id: PhoneId,
    /// E.164 as stored; this type is never logged whole (see `PhoneNumber` for masking).
    pub phone_number: String,
    pub verified: bool,
}

#[derive(Debug, Clone)]
pub struct UserEmail {
    pub id: EmailId,
    pub email: String,
    pub verified: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub status: UserStatus,
    pub name: Name,
    pub external_id: Option<String>,
    pub trusted_metadata: serde_json::Value,
    pub untrusted_metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub emails: Vec<UserEmail>,
    pub phones: Vec<UserPhone>,
}
