//! Validated E.164 phone numbers: parsing, region and line-type lookup, and PII-safe masking.

use std::fmt;
use std::str::FromStr;

use phonenumber::metadata::{Database, Metadata, DATABASE};
use phonenumber::{Mode, Type};

/// Stytch's sandbox phone number.
///
/// It is not a real number and libphonenumber rejects it, so [`PhoneNumber::parse`]
/// returns [`PhoneNumberError::Invalid`] for it. Callers that support sandbox
/// behaviour must compare the raw input against this constant *before* parsing.
pub const SANDBOX_NUMBER: &str = "+10000000000";

/// Shortest and longest digit counts (country code included) accepted as E.164.
const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

/// Digits shown at each end of a masked number.
const MASK_PREFIX_DIGITS: usize = 4;
const MASK_SUFFIX_DIGITS: usize = 2;
/// Short numbers (some small territories have 7–9 digit E.164 numbers) would
/// otherwise be almost fully visible, so at least this many digits are hidden.
const MASK_MIN_HIDDEN_DIGITS: usize = 4;

/// Non-geographic entities (+800, +882, …) are stored under this pseudo-region.
const NON_GEOGRAPHIC_REGION: &str = "001";

/// Why an input was rejected. Messages never echo the input, since it is PII.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    /// Not of the form `+` followed by 7–15 ASCII digits without a leading zero,
    /// or not in canonical form (e.g. a national trunk prefix after the country code).
    #[error("phone number must be in E.164 format, e.g. +14155552671")]
    NotE164,
    /// Shaped like E.164 but not a valid number according to libphonenumber.
    #[error("phone number is not a valid number for its region")]
    Invalid,
}

/// Line type as classified by libphonenumber's metadata.
///
/// Several regions (notably the whole +1 plan) cannot tell mobile and fixed
/// lines apart, hence [`NumberType::FixedLineOrMobile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberType {
    Mobile,
    FixedLine,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl NumberType {
    /// Stable snake_case name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::Mobile => "mobile",
            NumberType::FixedLine => "fixed_line",
            NumberType::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberType::TollFree => "toll_free",
            NumberType::PremiumRate => "premium_rate",
            NumberType::SharedCost => "shared_cost",
            NumberType::Voip => "voip",
            NumberType::PersonalNumber => "personal_number",
            NumberType::Pager => "pager",
            NumberType::Uan => "uan",
            NumberType::Voicemail => "voicemail",
            NumberType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phone number that is canonical E.164 and valid per libphonenumber.
///
/// `Debug` and `Display` both print [`PhoneNumber::masked`], so formatting one
/// into a log line cannot leak it. There is deliberately no `Serialize`: code
/// that really needs the full number (the HTTP layer, the SMS provider) calls
/// [`PhoneNumber::as_e164`], which is easy to spot in review.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    country_calling_code: u16,
    region: Option<&'static str>,
    number_type: NumberType,
}

impl PhoneNumber {
    /// Parses strict E.164 (`^\+[1-9][0-9]{6,14}$` after trimming surrounding
    /// whitespace) and requires libphonenumber to consider the number valid.
    ///
    /// [`SANDBOX_NUMBER`] is rejected as [`PhoneNumberError::Invalid`].
    pub fn parse(input: &str) -> Result<PhoneNumber, PhoneNumberError> {
        let trimmed = input.trim();
        if !is_e164_shaped(trimmed) {
            return Err(PhoneNumberError::NotE164);
        }

        let parsed = phonenumber::parse(None, trimmed).map_err(|_| PhoneNumberError::Invalid)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneNumberError::Invalid);
        }

        // libphonenumber silently strips a national trunk prefix ("+44 07…"),
        // which would let two different strings name one subscriber.
        let e164 = parsed.format().mode(Mode::E164).to_string();
        if e164 != trimmed {
            return Err(PhoneNumberError::NotE164);
        }

        let country_calling_code = parsed.code().value();
        // The crate's own region/type lookup drops the national number's
        // leading zeros (so Italian landlines get no region), hence our own.
        let national = parsed.national().to_string();
        let database: &'static Database = &DATABASE;
        let (region, number_type) = match metadata_for(database, country_calling_code, &national) {
            Some(meta) => {
                let region = Some(meta.id()).filter(|id| *id != NON_GEOGRAPHIC_REGION);
                (region, classify(meta, &national))
            }
            None => (None, NumberType::Unknown),
        };

        Ok(PhoneNumber {
            e164,
            country_calling_code,
            region,
            number_type,
        })
    }

    /// The full canonical number, e.g. `+14155552671`. Treat the result as PII.
    pub fn as_e164(&self) -> &str {
        &self.e164
    }

    /// ISO 3166-1 alpha-2 region (`"US"`, `"JM"`, `"GG"`, …) from libphonenumber's
    /// number-to-region mapping, which looks past the calling code: `+1876…` is
    /// `JM`, not `US`. `None` for non-geographic numbers such as `+800…`.
    pub fn region(&self) -> Option<&'static str> {
        self.region
    }

    /// The ITU country calling code, e.g. `1` or `44`.
    pub fn country_calling_code(&self) -> u16 {
        self.country_calling_code
    }

    /// Useful for refusing destinations that cannot receive SMS (fixed lines,
    /// premium rate) before paying a provider to try.
    pub fn number_type(&self) -> NumberType {
        self.number_type
    }

    /// Log-safe form: `+`, the first 4 digits, one `*` per hidden digit, and the
    /// last 2 digits (`+14155552671` → `+1415*****71`). For numbers shorter than
    /// 10 digits the leading part shrinks so that at least 4 digits stay hidden.
    pub fn masked(&self) -> String {
        let digits = self.e164.strip_prefix('+').unwrap_or(&self.e164);
        let len = digits.len();
        let hidden = len
            .saturating_sub(MASK_PREFIX_DIGITS + MASK_SUFFIX_DIGITS)
            .max(MASK_MIN_HIDDEN_DIGITS)
            .min(len);
        let suffix = MASK_SUFFIX_DIGITS.min(len - hidden);
        let prefix = len - hidden - suffix;

        let mut out = String::with_capacity(len + 1);
        out.push('+');
        out.push_str(digits.get(..prefix).unwrap_or_default());
        out.extend(std::iter::repeat_n('*', hidden));
        out.push_str(digits.get(len - suffix..).unwrap_or_default());
        out
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// ASCII-only on purpose: `char::is_numeric` and regex `\d` accept other
/// scripts' digits, which libphonenumber would happily normalise.
fn is_e164_shaped(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    let bytes = digits.as_bytes();
    (MIN_DIGITS..=MAX_DIGITS).contains(&bytes.len())
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes.first() != Some(&b'0')
}

/// libphonenumber's `getRegionCodeForNumber`: a calling code shared by several
/// regions is resolved by each region's leading digits, or failing that by
/// whichever region's patterns recognise the number. The main country is
/// listed first, so it wins ties.
fn metadata_for(
    database: &'static Database,
    calling_code: u16,
    national: &str,
) -> Option<&'static Metadata> {
    let regions = database.region(&calling_code)?;
    if let [only] = regions.as_slice() {
        return if *only == NON_GEOGRAPHIC_REGION {
            database
                .by_code(&calling_code)
                .and_then(|metas| metas.into_iter().next())
        } else {
            database.by_id(*only)
        };
    }

    regions
        .into_iter()
        .filter_map(|id| database.by_id(id))
        .find(|meta| match meta.leading_digits() {
            Some(pattern) => pattern.find(national).is_some_and(|m| m.start() == 0),
            None => classify(meta, national) != NumberType::Unknown,
        })
}

/// libphonenumber's `getNumberTypeHelper`; the order of checks matters because
/// the patterns overlap (a premium-rate range may also match the fixed-line one).
fn classify(meta: &Metadata, national: &str) -> NumberType {
    let descriptors = meta.descriptors();
    if !descriptors.general().is_match(national) {
        return NumberType::Unknown;
    }
    let matches = |kind: Type| {
        descriptors
            .get(kind)
            .is_some_and(|descriptor| descriptor.is_match(national))
    };

    let special = [
        (Type::PremiumRate, NumberType::PremiumRate),
        (Type::TollFree, NumberType::TollFree),
        (Type::SharedCost, NumberType::SharedCost),
        (Type::Voip, NumberType::Voip),
        (Type::PersonalNumber, NumberType::PersonalNumber),
        (Type::Pager, NumberType::Pager),
        (Type::Uan, NumberType::Uan),
        (Type::Voicemail, NumberType::Voicemail),
    ];
    if let Some((_, number_type)) = special.iter().find(|(kind, _)| matches(*kind)) {
        return *number_type;
    }

    if matches(Type::FixedLine) {
        // Regions that cannot tell the two apart publish identical patterns.
        let same_pattern = match (descriptors.fixed_line(), descriptors.mobile()) {
            (Some(fixed), Some(mobile)) => {
                fixed.national_number().as_str() == mobile.national_number().as_str()
            }
            _ => false,
        };
        return if same_pattern || matches(Type::Mobile) {
            NumberType::FixedLineOrMobile
        } else {
            NumberType::FixedLine
        };
    }
    if matches(Type::Mobile) {
        return NumberType::Mobile;
    }
    NumberType::Unknown
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_real_numbers_with_region_and_type() {
        let cases: &[(&str, &str, u16, NumberType)] = &[
            ("+14155552671", "US", 1, NumberType::FixedLineOrMobile),
            ("+12125550100", "US", 1, NumberType::FixedLineOrMobile),
            ("+16137827274", "CA", 1, NumberType::FixedLineOrMobile),
            ("+14165550123", "CA", 1, NumberType::FixedLineOrMobile),
            ("+18762091234", "JM", 1, NumberType::Mobile),
            ("+17872345678", "PR", 1, NumberType::FixedLineOrMobile),
            ("+18682345678", "TT", 1, NumberType::FixedLine),
            ("+447400123456", "GB", 44, NumberType::Mobile),
            // 7911 1xx is allocated to Guernsey, not GB, in libphonenumber.
            ("+447911123456", "GG", 44, NumberType::Mobile),
            ("+33612345678", "FR", 33, NumberType::Mobile),
            ("+5511987654321", "BR", 55, NumberType::Mobile),
            ("+919876543210", "IN", 91, NumberType::Mobile),
            ("+4915123456789", "DE", 49, NumberType::Mobile),
            ("+525512345678", "MX", 52, NumberType::FixedLineOrMobile),
            ("+819012345678", "JP", 81, NumberType::Mobile),
            ("+61406823897", "AU", 61, NumberType::Mobile),
            ("+8613812345678", "CN", 86, NumberType::Mobile),
            ("+34612345678", "ES", 34, NumberType::Mobile),
            ("+79161234567", "RU", 7, NumberType::Mobile),
            ("+77012345678", "KZ", 7, NumberType::Mobile),
            ("+2348031234567", "NG", 234, NumberType::Mobile),
            ("+27821234567", "ZA", 27, NumberType::Mobile),
            ("+393123456789", "IT", 39, NumberType::Mobile),
            // Leading-zero national numbers: the phonenumber crate's own lookup
            // returns no region and Unknown for these.
            ("+390612345678", "IT", 39, NumberType::FixedLine),
            ("+390669812345", "VA", 39, NumberType::FixedLine),
        ];
        for &(input, region, code, number_type) in cases {
            let number =
                PhoneNumber::parse(input).unwrap_or_else(|e| panic!("{input} rejected: {e:?}"));
            assert_eq!(number.as_e164(), input, "{input}");
            assert_eq!(number.region(), Some(region), "{input}");
            assert_eq!(number.country_calling_code(), code, "{input}");
            assert_eq!(number.number_type(), number_type, "{input}");
        }
    }

    #[test]
    fn classifies_special_ranges() {
        let cases: &[(&str, Option<&str>, NumberType)] = &[
            ("+449090901234", Some("GB"), NumberType::PremiumRate),
            ("+18007233456", Some("US"), NumberType::TollFree),
            ("+442079460000", Some("GB"), NumberType::FixedLine),
            ("+441212345678", Some("GB"), NumberType::FixedLine),
            ("+4930123456", Some("DE"), NumberType::FixedLine),
            ("+551133334444", Some("BR"), NumberType::FixedLine),
            ("+447640123456", Some("GB"), NumberType::Pager),
            ("+447012345678", Some("GB"), NumberType::PersonalNumber),
            ("+445512345678", Some("GB"), NumberType::Uan),
            ("+445612345678", Some("GB"), NumberType::Voip),
            ("+41860123456789", Some("CH"), NumberType::Voicemail),
            ("+67751123", Some("SB"), NumberType::Voip),
            // Leading zero again: the crate itself says Unknown here.
            ("+4702000", Some("NO"), NumberType::Uan),
            ("+80012340000", None, NumberType::TollFree),
        ];
        for &(input, region, number_type) in cases {
            let number = PhoneNumber::parse(input).unwrap();
            assert_eq!(number.region(), region, "{input}");
            assert_eq!(number.number_type(), number_type, "{input}");
        }
    }

    #[test]
    fn trims_surrounding_whitespace_only() {
        let number = PhoneNumber::parse(" \t+14155552671\n").unwrap();
        assert_eq!(number.as_e164(), "+14155552671");
    }

    #[test]
    fn rejects_bad_input() {
        use PhoneNumberError::{Invalid, NotE164};
        let long = format!("+1{}", "2".repeat(10_000));
        let cases: &[(&str, PhoneNumberError)] = &[
            ("", NotE164),
            ("   ", NotE164),
            ("+", NotE164),
            ("14155552671", NotE164),
            ("+1415555267a", NotE164),
            ("+1 415 555 2671", NotE164),
            ("+1-415-555-2671", NotE164),
            ("+1(415)5552671", NotE164),
            ("++14155552671", NotE164),
            ("+0123456789", NotE164),
            ("+123456", NotE164),
            ("+1234567890123456", NotE164),
            ("+１４１５５５５２６７１", NotE164),
            ("+١٤١٥٥٥٥٢٦٧١", NotE164),
            ("+14155552671;ext=12", NotE164),
            ("tel:+14155552671", NotE164),
            ("+14155552671\u{200b}", NotE164),
            // National trunk prefix after the calling code.
            ("+4407400123456", NotE164),
            (SANDBOX_NUMBER, Invalid),
            // 555-01xx is reserved for fiction, so not a valid NANP number.
            ("+15555550167", Invalid),
            ("+11234567890", Invalid),
            ("+442012345", Invalid),
            ("+999123456789", Invalid),
            // The pre-2019 Mexican mobile "1" is no longer valid.
            ("+5215512345678", Invalid),
            (&long, NotE164),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(expected),
                "{:?}",
                input.get(..40).unwrap_or(input)
            );
        }
    }

    #[test]
    fn sandbox_number_is_not_parseable() {
        assert_eq!(
            PhoneNumber::parse(SANDBOX_NUMBER),
            Err(PhoneNumberError::Invalid)
        );
    }

    #[test]
    fn masks_for_logs() {
        let number = PhoneNumber::parse("+14155552671").unwrap();
        assert_eq!(number.masked(), "+1415*****71");
        assert_eq!(format!("{number:?}"), "+1415*****71");
        assert_eq!(format!("{number}"), "+1415*****71");
        assert_eq!(format!("{:?}", Some(&number)), "Some(+1415*****71)");

        let uk = PhoneNumber::parse("+447400123456").unwrap();
        assert_eq!(uk.masked(), "+4474******56");
    }

    #[test]
    fn masks_short_numbers_harder() {
        let cases = [
            ("+6837012", "+6****12"),
            ("+3114020", "+3****20"),
            ("+67751123", "+67****23"),
            ("+29051234", "+29****34"),
            ("+4930123456", "+4930****56"),
        ];
        for (input, masked) in cases {
            assert_eq!(PhoneNumber::parse(input).unwrap().masked(), masked);
        }
    }

    #[test]
    fn error_messages_do_not_echo_input() {
        let err = PhoneNumber::parse("+15555550167").unwrap_err();
        assert!(!err.to_string().contains("5555550167"));
    }

    /// Every example number in the metadata, across all regions and line types.
    fn metadata_examples() -> Vec<String> {
        let kinds = [
            Type::FixedLine,
            Type::Mobile,
            Type::TollFree,
            Type::PremiumRate,
            Type::SharedCost,
            Type::Voip,
            Type::PersonalNumber,
            Type::Pager,
            Type::Uan,
            Type::Voicemail,
        ];
        DATABASE
            .iter()
            .flat_map(|meta| {
                kinds
                    .iter()
                    .filter_map(|kind| meta.descriptors().get(*kind)?.example())
                    .map(|example| format!("+{}{example}", meta.country_code()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn valid_metadata_examples_get_a_region_and_type() {
        let mut accepted = 0;
        for example in metadata_examples() {
            let Ok(number) = PhoneNumber::parse(&example) else {
                continue;
            };
            accepted += 1;
            assert_ne!(number.number_type(), NumberType::Unknown, "{example}");
            let geographic = DATABASE
                .region(&number.country_calling_code())
                .is_some_and(|ids| ids != [NON_GEOGRAPHIC_REGION]);
            assert_eq!(number.region().is_some(), geographic, "{example}");
        }
        assert!(accepted > 1000, "only {accepted} examples parsed");
    }

    /// Random digit strings are rarely valid, so start from the metadata's
    /// examples and perturb the trailing digits to reach numbers they don't cover.
    fn valid_numbers() -> impl Strategy<Value = PhoneNumber> {
        (
            proptest::sample::select(metadata_examples()),
            proptest::collection::vec(0u8..10, 0..=3),
        )
            .prop_filter_map("perturbed into an invalid number", |(example, tail)| {
                let keep = example.len().saturating_sub(tail.len()).max(2);
                let mut candidate = example[..keep].to_owned();
                candidate.extend(tail.iter().map(|d| char::from(b'0' + d)));
                PhoneNumber::parse(&candidate).ok()
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_string(s in "\\PC*") {
            let _ = PhoneNumber::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_e164_shaped(s in "\\+[0-9]{0,20}") {
            let _ = PhoneNumber::parse(&s);
        }

        #[test]
        fn parsed_numbers_round_trip_and_mask(number in valid_numbers()) {
            let e164 = number.as_e164();
            let reparsed = PhoneNumber::parse(e164).unwrap();
            prop_assert_eq!(&reparsed, &number);

            let masked = number.masked();
            let digits = &e164[1..];
            let code_len = number.country_calling_code().to_string().len();
            let national = &digits[code_len..];
            prop_assert!(!masked.contains(national));
            prop_assert!(!masked.contains(digits));
            prop_assert_eq!(masked.len(), e164.len());
            prop_assert!(masked.matches('*').count() >= MASK_MIN_HIDDEN_DIGITS);
            prop_assert_eq!(format!("{number:?}"), masked.clone());
            prop_assert_eq!(number.to_string(), masked);
        }

        #[test]
        fn agrees_with_crate_lookup_without_leading_zero(number in valid_numbers()) {
            let theirs = phonenumber::parse(None, number.as_e164()).unwrap();
            prop_assume!(theirs.national().zeros() == 0);
            let their_region = theirs
                .metadata(&DATABASE)
                .map(|m| m.id().to_owned())
                .filter(|id| id != NON_GEOGRAPHIC_REGION);
            prop_assert_eq!(number.region().map(str::to_owned), their_region);
            let their_type = theirs.number_type(&DATABASE);
            prop_assert_eq!(format!("{:?}", number.number_type()), format!("{their_type:?}"));
        }
    }
}
