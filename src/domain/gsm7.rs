//! The GSM 03.38 basic character set: one septet each. A brand name must fit it, and
//! `messages::encoding` counts a message's cost with it.

pub const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Whether `c` costs one septet: extension characters cost two, anything else forces UCS-2.
pub fn is_gsm7_basic(c: char) -> bool {
    GSM7_BASIC.contains(c)
}
