//! Passcode message text and its SMS encoding/segment count.

pub mod encoding;

use crate::domain::Locale;

pub use encoding::{Encoding, SegmentInfo};

/// A rendered message body with what it will cost to send.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: String,
    pub info: SegmentInfo,
}

/// Renders the passcode message. The code comes first so it is the first 6-digit run
/// (Android's retriever and most autofill heuristics take the first match).
pub fn render(_locale: Locale, brand: &str, code: &str, minutes: u8) -> Rendered {
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    let body = format!("{code} is your {brand} verification code. It expires in {minutes} {unit}.");
    let info = encoding::analyse(&body);
    Rendered { body, info }
}
