//! A project's settings: brand, country allowlist and autofill metadata, validated on input.

use serde::{Deserialize, Serialize};

use super::gsm7::is_gsm7_basic;
use super::ids::{Environment, ProjectId};
use super::limits::LimitSettings;

/// Stored as JSON with the project; absent keys take the defaults so old rows keep working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectSettings {
    /// Shown in messages; `None` means the project name.
    pub brand: Option<String>,
    /// ISO 3166-1 alpha-2 regions SMS/WhatsApp may be sent to.
    pub sms_countries: Vec<String>,
    /// WebOTP origin-bound line (`@domain #code`).
    pub autofill_domain: Option<String>,
    /// Android SMS Retriever app hash (11 characters).
    pub android_app_hash: Option<String>,
    /// Rate limits and toll-fraud thresholds.
    pub limits: LimitSettings,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            brand: None,
            sms_countries: vec!["US".into(), "CA".into()],
            autofill_domain: None,
            android_app_hash: None,
            limits: LimitSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "brand must be 1 to {max} characters of the GSM 03.38 alphabet (no [ ] {{ }} ~ ^ | \\ €), \
         on one line, without runs of 4 or more digits"
    )]
    Brand { max: usize },
    #[error("`{0}` is not an ISO 3166-1 alpha-2 country code")]
    Country(String),
    #[error("sms countries must not be empty")]
    NoCountries,
    #[error("autofill domain `{0}` is not a host name of at most {max} characters", max = MAX_AUTOFILL_DOMAIN_LEN)]
    Domain(String),
    #[error("android app hash must be exactly 11 characters of base64")]
    AppHash,
}

pub const MAX_BRAND_LEN: usize = 32;

/// Longest autofill domain: enough for real login hosts (`accounts.example-company.com.br`
/// is 30), short enough that the worst-case message still fits one SMS segment and
/// the SMS Retriever's 140 bytes (proved in `messages`).
pub const MAX_AUTOFILL_DOMAIN_LEN: usize = 40;

impl ProjectSettings {
    pub fn set_brand(&mut self, brand: &str) -> Result<(), SettingsError> {
        let brand = brand.trim();
        let mut digit_run = 0usize;
        let mut longest_run = 0usize;
        for c in brand.chars() {
            digit_run = if c.is_ascii_digit() { digit_run + 1 } else { 0 };
            longest_run = longest_run.max(digit_run);
        }
        // A digit run could be taken for the code by autofill or a hurried reader. One
        // character outside GSM-7's basic table would make the whole SMS UCS-2 (70 units a
        // segment) or cost two septets; either breaks the one-segment budget.
        if brand.is_empty()
            || brand.chars().count() > MAX_BRAND_LEN
            || brand.chars().any(char::is_control)
            || !brand.chars().all(is_gsm7_basic)
            || longest_run >= 4
        {
            return Err(SettingsError::Brand { max: MAX_BRAND_LEN });
        }
        self.brand = Some(brand.to_owned());
        Ok(())
    }

    pub fn set_sms_countries(&mut self, list: &str) -> Result<(), SettingsError> {
        let mut out = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let code = raw.to_ascii_uppercase();
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(SettingsError::Country(raw.to_owned()));
            }
            if !out.contains(&code) {
                out.push(code);
            }
        }
        if out.is_empty() {
            return Err(SettingsError::NoCountries);
        }
        self.sms_countries = out;
        Ok(())
    }

    pub fn set_autofill_domain(&mut self, domain: &str) -> Result<(), SettingsError> {
        let d = domain.trim().to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if d.len() > MAX_AUTOFILL_DOMAIN_LEN || !d.contains('.') || !d.split('.').all(label_ok) {
            return Err(SettingsError::Domain(domain.to_owned()));
        }
        self.autofill_domain = Some(d);
        Ok(())
    }

    pub fn set_android_app_hash(&mut self, hash: &str) -> Result<(), SettingsError> {
        let ok = hash.len() == 11
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'));
        if !ok {
            return Err(SettingsError::AppHash);
        }
        self.android_app_hash = Some(hash.to_owned());
        Ok(())
    }

    pub fn allows_region(&self, region: &str) -> bool {
        self.sms_countries.iter().any(|c| c == region)
    }
}

/// An authenticated caller's project, as the use cases see it.
#[derive(Debug, Clone)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub settings: ProjectSettings,
}

impl Project {
    pub fn env(&self) -> Environment {
        self.id.env()
    }

    pub fn brand(&self) -> &str {
        self.settings.brand.as_deref().unwrap_or(&self.name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn brands_with_code_like_digit_runs_or_line_breaks_are_refused() {
        let mut s = ProjectSettings::default();
        assert!(s.set_brand("Acme 2024").is_err());
        assert!(s.set_brand("Acme\nBank").is_err());
        assert!(s.set_brand("").is_err());
        assert!(s.set_brand(&"a".repeat(MAX_BRAND_LEN + 1)).is_err());
        assert!(s.set_brand("Acme 24/7").is_ok());
        assert_eq!(s.brand.as_deref(), Some("Acme 24/7"));
    }

    #[test]
    fn brands_outside_the_gsm7_basic_alphabet_are_refused() {
        let mut s = ProjectSettings::default();
        for bad in [
            "Crème Brûlée",
            "Łódź Bank",
            "Acme [beta]",
            "€uro Shop",
            "Acme 🚀",
        ] {
            assert_eq!(
                s.set_brand(bad),
                Err(SettingsError::Brand { max: MAX_BRAND_LEN }),
                "{bad}"
            );
        }
        for good in ["Café Müller & Søn", "Señor Pérez", "Ærø Øl"] {
            assert!(s.set_brand(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn country_lists_are_normalised_and_checked() {
        let mut s = ProjectSettings::default();
        s.set_sms_countries("us, ca,GB,us")
            .map_err(|e| e.to_string())
            .ok();
        assert_eq!(s.sms_countries, vec!["US", "CA", "GB"]);
        assert!(s.set_sms_countries("USA").is_err());
        assert!(s.set_sms_countries(" , ").is_err());
    }

    #[test]
    fn autofill_settings_are_validated() {
        let mut s = ProjectSettings::default();
        assert!(s.set_autofill_domain("Login.Example.com").is_ok());
        assert_eq!(s.autofill_domain.as_deref(), Some("login.example.com"));
        assert!(s.set_autofill_domain("not a domain").is_err());
        assert!(s.set_autofill_domain("https://x.com").is_err());
        let longest = format!("{}.example.com", "a".repeat(MAX_AUTOFILL_DOMAIN_LEN - 12));
        assert!(s.set_autofill_domain(&longest).is_ok());
        assert!(s.set_autofill_domain(&format!("a{longest}")).is_err());
        assert!(s.set_android_app_hash("FA+9qCX9VSu").is_ok());
        assert!(s.set_android_app_hash("short").is_err());
    }
}
