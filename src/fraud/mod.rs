//! Toll-fraud policy decided from the number alone, before anything is stored or sent:
//! the built-in deny list, the project's country allowlist, and refused line types.
//! Velocity and conversion signals need shared counts and live in `limits`.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::domain::limits::RefusalReason;
use crate::domain::project::ProjectSettings;
use crate::domain::{NumberType, PhoneNumber};

/// Why a number can't receive a passcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Screened {
    #[error("sending to region {0} is not enabled for this project")]
    Country(String),
    #[error("{0} numbers cannot receive passcodes")]
    NumberType(NumberType),
}

impl Screened {
    pub fn reason(&self) -> RefusalReason {
        match self {
            Screened::Country(_) => RefusalReason::Country,
            Screened::NumberType(_) => RefusalReason::NumberType,
        }
    }
}

const DENY_FILE: &str = include_str!("denied_countries.txt");

/// Regions refused whatever a project allows (see `denied_countries.txt` for sources).
static DENIED: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    DENY_FILE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
});

pub fn is_denied_region(region: &str) -> bool {
    DENIED.contains(region)
}

/// Applies the region and line-type rules. Regions come from libphonenumber's metadata, not
/// the dial prefix: `+1 876…` is Jamaica, not the US.
pub fn screen(settings: &ProjectSettings, phone: &PhoneNumber) -> Result<(), Screened> {
    let region = phone.region().unwrap_or("ZZ");
    if is_denied_region(region) || !settings.allows_region(region) {
        return Err(Screened::Country(region.to_owned()));
    }
    let kind = phone.number_type();
    let refused = match kind {
        NumberType::Mobile
        | NumberType::FixedLineOrMobile
        | NumberType::PersonalNumber
        | NumberType::Unknown => false,
        NumberType::Voip => settings.limits.block_voip,
        NumberType::FixedLine
        | NumberType::TollFree
        | NumberType::PremiumRate
        | NumberType::SharedCost
        | NumberType::Pager
        | NumberType::Uan
        | NumberType::Voicemail => true,
    };
    if refused {
        return Err(Screened::NumberType(kind));
    }
    Ok(())
}

/// The number's block for prefix velocity: everything but its last 4 digits.
pub fn block_of(phone: &PhoneNumber) -> &str {
    let e164 = phone.as_e164();
    &e164[..e164.len().saturating_sub(4)]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn settings(countries: &str) -> ProjectSettings {
        let mut s = ProjectSettings::default();
        s.set_sms_countries(countries).unwrap();
        s
    }

    #[test]
    fn the_deny_file_is_well_formed() {
        let mut seen = HashSet::new();
        for line in DENY_FILE
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let mut parts = line.split_whitespace();
            let code = parts.next().unwrap();
            assert!(
                code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{line}"
            );
            assert!(seen.insert(code), "duplicate {code}");
            let last = line.split_whitespace().last().unwrap();
            assert!(
                ["stytch", "twilio", "sanction"].contains(&last),
                "every entry names its source: {line}"
            );
        }
        // Twilio's eleven high-risk countries are all present.
        for c in [
            "BD", "IL", "NG", "PK", "PS", "LK", "AZ", "TJ", "OM", "TN", "DZ",
        ] {
            assert!(is_denied_region(c), "{c}");
        }
        assert!(!is_denied_region("US") && !is_denied_region("GB"));
    }

    /// Real numbers of many regions against an allowlist that names every region used, so
    /// only the deny list and line types decide.
    #[test]
    fn country_and_number_type_decisions_on_real_numbers() {
        let s = settings("US,CA,GB,FR,DE,BR,MX,JM,PR,NG,PK,IN,AU,ES,IL,CN,JE,GG,JP");
        let cases: &[(&str, Result<(), Screened>)] = &[
            ("+12012345678", Ok(())),   // US, fixed-or-mobile
            ("+16132345678", Ok(())),   // CA
            ("+447400123456", Ok(())),  // GB mobile
            ("+33612345678", Ok(())),   // FR mobile
            ("+4915123456789", Ok(())), // DE mobile
            ("+5511961234567", Ok(())), // BR mobile
            ("+525512345678", Ok(())),  // MX
            ("+18762101234", Ok(())),   // Jamaica (+1, not US)
            ("+17872101234", Ok(())),   // Puerto Rico
            ("+919876543210", Ok(())),  // IN mobile
            ("+61412345678", Ok(())),   // AU mobile
            ("+34612345678", Ok(())),   // ES mobile
            ("+819012345678", Ok(())),  // JP mobile
            ("+447911123456", Ok(())),  // Guernsey mobile (GG)
            ("+2348031234567", Err(Screened::Country("NG".into()))), // deny wins
            ("+923001234567", Err(Screened::Country("PK".into()))),
            ("+972502345678", Err(Screened::Country("IL".into()))),
            ("+8613812345678", Err(Screened::Country("CN".into()))),
            ("+447797123456", Err(Screened::Country("JE".into()))), // Jersey mobile
            (
                "+19002345678",
                Err(Screened::NumberType(NumberType::PremiumRate)),
            ),
            (
                "+18002345678",
                Err(Screened::NumberType(NumberType::TollFree)),
            ),
            (
                "+449090901234",
                Err(Screened::NumberType(NumberType::PremiumRate)),
            ),
            (
                "+448001234567",
                Err(Screened::NumberType(NumberType::TollFree)),
            ),
            (
                "+448431234567",
                Err(Screened::NumberType(NumberType::PremiumRate)),
            ), // 0843: premium in current metadata
            (
                "+33810123456",
                Err(Screened::NumberType(NumberType::SharedCost)),
            ),
            (
                "+442079460000",
                Err(Screened::NumberType(NumberType::FixedLine)),
            ), // London landline
            (
                "+447640123456",
                Err(Screened::NumberType(NumberType::Pager)),
            ),
            ("+445512345678", Err(Screened::NumberType(NumberType::Uan))),
            (
                "+33899123456",
                Err(Screened::NumberType(NumberType::PremiumRate)),
            ),
            (
                "+33123456789",
                Err(Screened::NumberType(NumberType::FixedLine)),
            ),
            (
                "+4930123456",
                Err(Screened::NumberType(NumberType::FixedLine)),
            ),
            ("+445612345678", Ok(())), // GB VoIP: allowed by default
        ];
        let mut wrong = Vec::new();
        for (raw, want) in cases {
            match PhoneNumber::parse(raw) {
                Ok(phone) if &screen(&s, &phone) == want => {}
                Ok(phone) => wrong.push(format!(
                    "{raw}: got {:?} ({:?} {:?})",
                    screen(&s, &phone),
                    phone.region(),
                    phone.number_type()
                )),
                Err(e) => wrong.push(format!("{raw}: {e}")),
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn the_allowlist_and_voip_setting_apply() {
        let mut s = ProjectSettings::default(); // US, CA
        let gb = PhoneNumber::parse("+447400123456").unwrap();
        assert_eq!(screen(&s, &gb), Err(Screened::Country("GB".into())));
        let jm = PhoneNumber::parse("+18762101234").unwrap();
        assert_eq!(screen(&s, &jm), Err(Screened::Country("JM".into())));
        s.set_sms_countries("GB").unwrap();
        let voip = PhoneNumber::parse("+445612345678").unwrap();
        assert_eq!(screen(&s, &voip), Ok(()));
        s.limits.block_voip = true;
        assert_eq!(
            screen(&s, &voip),
            Err(Screened::NumberType(NumberType::Voip))
        );
    }

    #[test]
    fn blocks_drop_the_last_four_digits() {
        let p = PhoneNumber::parse("+12012345678").unwrap();
        assert_eq!(block_of(&p), "+1201234");
    }
}
