//! GSM 03.38 vs UCS-2 detection and segment counting, which decide what a message costs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    pub encoding: Encoding,
    /// Septets (GSM-7, extension characters count twice) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

impl SegmentInfo {
    /// Octets of user data the body takes in one SMS: septets are packed 8 to 7 octets, UCS-2
    /// takes two per unit. This is the "140 bytes" of one SMS that Android's SMS Retriever
    /// speaks of (160 septets or 70 UCS-2 units).
    pub fn payload_octets(&self) -> usize {
        match self.encoding {
            Encoding::Gsm7 => (self.units * 7).div_ceil(8),
            Encoding::Ucs2 => self.units * 2,
        }
    }

    /// Units the body's segments hold in all: one segment takes 160 septets or 70 UCS-2
    /// units; a concatenated message loses 7 septets (3 units) a segment to its header.
    pub fn capacity(&self) -> usize {
        let (single, part) = match self.encoding {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        };
        if self.segments <= 1 {
            single
        } else {
            part * self.segments
        }
    }
}

const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

pub use crate::domain::gsm7::is_gsm7_basic;

pub fn analyse(body: &str) -> SegmentInfo {
    let mut septets = 0usize;
    let mut gsm = true;
    for c in body.chars() {
        if is_gsm7_basic(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    if gsm {
        let segments = if septets <= 160 {
            1
        } else {
            septets.div_ceil(153)
        };
        SegmentInfo {
            encoding: Encoding::Gsm7,
            units: septets,
            segments,
        }
    } else {
        let units = body.encode_utf16().count();
        let segments = if units <= 70 { 1 } else { units.div_ceil(67) };
        SegmentInfo {
            encoding: Encoding::Ucs2,
            units,
            segments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_gsm7_and_fits_160_per_segment() {
        let one = analyse(&"a".repeat(160));
        assert_eq!((one.encoding, one.segments), (Encoding::Gsm7, 1));
        assert_eq!(analyse(&"a".repeat(161)).segments, 2);
        assert_eq!(analyse(&"a".repeat(306)).segments, 2);
        assert_eq!(analyse(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn capacity_is_what_the_segments_hold_after_their_headers() {
        assert_eq!(analyse("hi").capacity(), 160);
        assert_eq!(analyse(&"a".repeat(161)).capacity(), 306);
        assert_eq!(analyse("ã").capacity(), 70);
        assert_eq!(analyse(&"ã".repeat(71)).capacity(), 134);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        let info = analyse(&"€".repeat(80));
        assert_eq!(
            (info.encoding, info.units, info.segments),
            (Encoding::Gsm7, 160, 1)
        );
        assert_eq!(analyse(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn anything_outside_gsm7_switches_to_ucs2() {
        let info = analyse("código ç ã");
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert_eq!(analyse(&"ã".repeat(70)).segments, 1);
        assert_eq!(analyse(&"ã".repeat(71)).segments, 2);
    }

    #[test]
    fn one_full_segment_is_140_octets_in_either_encoding() {
        assert_eq!(analyse(&"a".repeat(160)).payload_octets(), 140);
        assert_eq!(analyse(&"ã".repeat(70)).payload_octets(), 140);
        assert_eq!(analyse("é").payload_octets(), 1);
    }
}
