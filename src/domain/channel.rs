//! Delivery channels and the requested code lifetime.

/// How a passcode reaches the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    WhatsApp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::WhatsApp => "whatsapp",
        }
    }
}

/// A code's lifetime in whole minutes, 1 to 10 (Stytch's bounds), 2 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryMinutes(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expiration_minutes must be between {min} and {max}", min = ExpiryMinutes::MIN, max = ExpiryMinutes::MAX)]
pub struct ExpiryError;

impl ExpiryMinutes {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 10;
    pub const DEFAULT: ExpiryMinutes = ExpiryMinutes(2);

    pub fn parse(minutes: Option<i64>) -> Result<Self, ExpiryError> {
        match minutes {
            None => Ok(Self::DEFAULT),
            Some(m) if (i64::from(Self::MIN)..=i64::from(Self::MAX)).contains(&m) => {
                Ok(ExpiryMinutes(m as u8))
            }
            Some(_) => Err(ExpiryError),
        }
    }

    pub fn minutes(self) -> u8 {
        self.0
    }

    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_defaults_to_two_minutes_and_is_bounded() {
        assert_eq!(ExpiryMinutes::parse(None), Ok(ExpiryMinutes::DEFAULT));
        assert_eq!(
            ExpiryMinutes::parse(Some(10)).map(ExpiryMinutes::minutes),
            Ok(10)
        );
        assert_eq!(
            ExpiryMinutes::parse(Some(1)).map(ExpiryMinutes::seconds),
            Ok(60)
        );
        for bad in [0, 11, -1, i64::MAX, i64::MIN] {
            assert!(ExpiryMinutes::parse(Some(bad)).is_err());
        }
    }
}
