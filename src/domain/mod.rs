//! Pure domain types and rules, no I/O: values of these types are valid by construction.

pub mod channel;
pub mod gsm7;
pub mod ids;
pub mod limits;
pub mod locale;
pub mod organization;
pub mod origin;
pub mod passcode;
pub mod phone_number;
pub mod project;
pub mod secret;
pub mod session;
pub mod signing_key;
pub mod user;

pub use channel::{Channel, ExpiryMinutes};
pub use locale::Locale;
pub use passcode::{Passcode, PasscodeError};
pub use phone_number::{NumberType, PhoneNumber, PhoneNumberError, SANDBOX_NUMBER};
