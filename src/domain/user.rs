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

    /// `pending` as the API's create and login_or_create take it.
    pub fn from_pending(pending: bool) -> Self {
        if pending {
            UserStatus::Pending
        } else {
            UserStatus::Active
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
    /// Role ids as the caller set them.
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub emails: Vec<UserEmail>,
    pub phones: Vec<UserPhone>,
}

/// One condition of `users.search`, in Stytch's filter vocabulary (the ones that apply to a
/// user made of phone numbers).
#[derive(Debug, Clone, PartialEq)]
pub enum UserFilter {
    UserIds(Vec<String>),
    ExternalIds(Vec<String>),
    /// Exact E.164 numbers.
    PhoneNumbers(Vec<String>),
    PhoneIds(Vec<String>),
    /// A run of digits (and `+`) anywhere in a number.
    PhoneNumberFuzzy(String),
    /// Whether the user has at least one verified phone number.
    PhoneVerified(bool),
    Status(UserStatus),
    CreatedAfter(DateTime<Utc>),
    CreatedBefore(DateTime<Utc>),
    /// Strictly after the first and before the second.
    CreatedBetween(DateTime<Utc>, DateTime<Utc>),
}

/// `operator` over `operands`; no operands matches every user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserQuery {
    /// `AND` when true, `OR` otherwise.
    pub all: bool,
    pub filters: Vec<UserFilter>,
}

/// Where the next page of a search starts: after this user in `(created_at, id)` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCursor {
    pub created_at: DateTime<Utc>,
    pub user_id: String,
}

impl SearchCursor {
    /// An opaque token: URL-safe base64 of `<unix microseconds>:<user id>`.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let raw = format!("{}:{}", self.created_at.timestamp_micros(), self.user_id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(token: &str) -> Option<SearchCursor> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (micros, id) = raw.split_once(':')?;
        let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        super::ids::UserId::parse(id).ok()?;
        Some(SearchCursor {
            created_at,
            user_id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = SearchCursor {
            created_at: DateTime::from_timestamp_micros(1_764_600_000_123_456).unwrap(),
            user_id: "user-test-16d9ba61-97a1-4ba4-9720-b03761dc50c6".into(),
        };
        assert_eq!(SearchCursor::decode(&c.encode()), Some(c));
        for bad in ["", "!!", "MTIz", "eDp1c2VyLXRlc3QtMQ"] {
            assert_eq!(SearchCursor::decode(bad), None, "{bad}");
        }
    }
}
