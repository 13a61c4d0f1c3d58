//! Passcode message text: localized Fluent templates, autofill metadata, and what the body
//! costs to send (encoding and SMS segments).

pub mod autofill;
pub mod encoding;
pub mod templates;

use std::fmt;
use std::path::Path;

use crate::domain::Locale;

pub use autofill::{Autofill, SMS_RETRIEVER_MAX_BYTES};
pub use encoding::{Encoding, SegmentInfo};
pub use templates::TemplateError;

/// What one message says. Holds the code, so it has no `Debug`.
pub struct MessageRequest<'a> {
    pub locale: Locale,
    pub brand: &'a str,
    pub code: &'a str,
    pub minutes: u8,
    /// Only for SMS with `enable_autofill`: WhatsApp has neither WebOTP nor the retriever.
    pub autofill: Option<Autofill<'a>>,
}

/// A rendered message body with what it will cost to send.
#[derive(Clone)]
pub struct Rendered {
    pub body: String,
    pub info: SegmentInfo,
    /// Whose text the body is: the requested locale, or English when that didn't fit.
    pub locale: Locale,
}

impl fmt::Debug for Rendered {
    /// The body carries the code: only its cost is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendered")
            .field("body", &"[redacted]")
            .field("info", &self.info)
            .field("locale", &self.locale)
            .finish()
    }
}

/// A template failed at send time; start-up checks make this a bug, not a user error.
#[derive(Debug, thiserror::Error)]
#[error("the {locale} template: {reason}")]
pub struct RenderError {
    locale: Locale,
    reason: String,
}

/// Every locale's template, parsed and checked once in `startup`, shared by all workers.
pub struct Renderer {
    /// In the order of [`Locale::ALL`].
    bundles: Vec<(Locale, templates::Bundle)>,
}

impl Renderer {
    /// The built-in templates, each replaced by `<dir>/<locale>/otp.ftl` where that exists.
    pub fn load(overrides: Option<&Path>) -> Result<Renderer, TemplateError> {
        let bundles = Locale::ALL
            .iter()
            .map(|&l| templates::load(l, overrides).map(|b| (l, b)))
            .collect::<Result<_, _>>()?;
        Ok(Renderer { bundles })
    }

    fn bundle(&self, locale: Locale) -> Result<&templates::Bundle, RenderError> {
        self.bundles
            .iter()
            .find(|(l, _)| *l == locale)
            .map(|(_, b)| b)
            .ok_or_else(|| RenderError {
                locale,
                reason: "is not loaded".into(),
            })
    }

    fn compose(&self, locale: Locale, req: &MessageRequest<'_>) -> Result<String, RenderError> {
        let text = templates::format(self.bundle(locale)?, req.brand, req.code, req.minutes)
            .map_err(|reason| RenderError { locale, reason })?;
        let mut body = text.trim_end().to_owned();
        if let Some(autofill) = &req.autofill {
            body.push('\n');
            body.push_str(&autofill.line(req.code));
        }
        Ok(body)
    }

    /// The body: the localized text, then the autofill line (if any) as the very last line.
    /// A script GSM-7 can't carry (Chinese, Japanese, Russian, Persian) costs UCS-2, 70
    /// characters a segment; when a long brand and autofill line push such a message past
    /// one segment, the English text (GSM-7, proved to fit) is sent instead.
    pub fn render(&self, req: &MessageRequest<'_>) -> Result<Rendered, RenderError> {
        let mut locale = req.locale;
        let mut body = self.compose(locale, req)?;
        let mut info = encoding::analyse(&body);
        if info.segments > 1 && req.locale != Locale::En {
            tracing::info!(
                locale = %req.locale,
                units = info.units,
                "localized message exceeds one segment; sending the English text"
            );
            locale = Locale::En;
            body = self.compose(locale, req)?;
            info = encoding::analyse(&body);
        }
        if req.autofill.is_some_and(|a| a.app_hash.is_some())
            && info.payload_octets() > SMS_RETRIEVER_MAX_BYTES
        {
            tracing::warn!(
                locale = %req.locale,
                octets = info.payload_octets(),
                "message exceeds the SMS Retriever's 140 bytes; Android will not autofill it"
            );
        }
        Ok(Rendered { body, info, locale })
    }
}

/// The first run of six or more ASCII digits: what Stytch's Android client (`\d{6}`), the
/// retriever's apps and a person skimming the SMS take for the code.
pub fn first_code(body: &str) -> Option<&str> {
    let mut start = None;
    for (i, b) in body.bytes().enumerate().chain([(body.len(), b' ')]) {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) if i - s >= 6 => return body.get(s..i),
            (false, Some(_)) => start = None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::domain::project::{MAX_AUTOFILL_DOMAIN_LEN, MAX_BRAND_LEN};
    use crate::domain::ExpiryMinutes;

    const LOCALES: [Locale; 16] = Locale::ALL;
    const HASH: &str = "FA+9qCX9VSu";

    fn built_in() -> Renderer {
        Renderer::load(None).unwrap()
    }

    fn render(locale: Locale, minutes: u8) -> String {
        built_in()
            .render(&MessageRequest {
                locale,
                brand: "Acme",
                code: "012345",
                minutes,
                autofill: None,
            })
            .unwrap()
            .body
    }

    #[test]
    fn each_locale_reads_natively_with_cldr_plurals() {
        let cases = [
            (
                Locale::En,
                "012345 is your Acme code. Valid for 1 minute.",
                "012345 is your Acme code. Valid for 10 minutes.",
            ),
            (
                Locale::Es,
                "012345 es tu clave de Acme. Vence en 1 minuto.",
                "012345 es tu clave de Acme. Vence en 10 minutos.",
            ),
            (
                Locale::Fr,
                "012345 est votre code Acme. Valable 1 minute.",
                "012345 est votre code Acme. Valable 10 minutes.",
            ),
            (
                Locale::PtBr,
                "012345 é sua senha Acme. Expira em 1 minuto.",
                "012345 é sua senha Acme. Expira em 10 minutos.",
            ),
        ];
        for (locale, one, ten) in cases {
            assert_eq!(render(locale, 1), one);
            assert_eq!(render(locale, 10), ten);
            assert_eq!(render(locale, 2), ten.replace(" 10 ", " 2 "));
        }
    }

    #[test]
    fn bodies_carry_no_unicode_isolation_marks() {
        for locale in LOCALES {
            let body = render(locale, 2);
            assert!(!body.contains(['\u{2068}', '\u{2069}']), "{body:?}");
        }
    }

    #[test]
    fn autofill_adds_exactly_one_last_line() {
        let r = built_in()
            .render(&MessageRequest {
                locale: Locale::Fr,
                brand: "Acme",
                code: "123456",
                minutes: 2,
                autofill: Some(Autofill {
                    domain: Some("example.com"),
                    app_hash: None,
                }),
            })
            .unwrap();
        assert_eq!(
            r.body,
            "123456 est votre code Acme. Valable 2 minutes.\n@example.com #123456"
        );
    }

    #[test]
    fn the_first_code_is_the_first_run_of_six_or_more_digits() {
        assert_eq!(first_code("123456 is it"), Some("123456"));
        assert_eq!(first_code("Acme 24/7: 000123."), Some("000123"));
        assert_eq!(first_code("12345 then 1234567"), Some("1234567"));
        assert_eq!(first_code("ends with 654321"), Some("654321"));
        assert_eq!(first_code("no 12345 code"), None);
    }

    /// The worst brands the settings accept: all `MAX_BRAND_LEN` long, all GSM-7 basic
    /// (extension characters and anything that would force UCS-2 are refused by `set_brand`).
    fn worst_brands() -> Vec<String> {
        vec![
            "W".repeat(MAX_BRAND_LEN),
            // Every character here is two UTF-8 bytes but one septet.
            "ÆØÅæøåÉÇÑÜ".chars().cycle().take(MAX_BRAND_LEN).collect(),
            format!("{:<1$}", "Café Müller & Søn", MAX_BRAND_LEN).replace(' ', "é"),
        ]
    }

    fn worst_autofills(domain: &str) -> [Option<Autofill<'_>>; 4] {
        [
            None,
            Some(Autofill {
                domain: Some(domain),
                app_hash: None,
            }),
            Some(Autofill {
                domain: None,
                app_hash: Some(HASH),
            }),
            Some(Autofill {
                domain: Some(domain),
                app_hash: Some(HASH),
            }),
        ]
    }

    /// Scripts GSM-7 cannot carry: these locales cost UCS-2 (70 units a segment).
    fn needs_ucs2(locale: Locale) -> bool {
        matches!(
            locale,
            Locale::ZhHans | Locale::Ja | Locale::Ru | Locale::Fa | Locale::Vi
        )
    }

    #[test]
    fn every_built_in_template_fits_one_sms_segment_in_the_worst_case() {
        let renderer = built_in();
        let domain = format!("{}.example.com", "a".repeat(MAX_AUTOFILL_DOMAIN_LEN - 12));
        assert_eq!(domain.len(), MAX_AUTOFILL_DOMAIN_LEN);
        let mut settings = crate::domain::project::ProjectSettings::default();
        settings.set_autofill_domain(&domain).unwrap();
        let mut fell_back = 0;
        for brand in worst_brands() {
            settings.set_brand(&brand).unwrap();
            assert_eq!(brand.chars().count(), MAX_BRAND_LEN);
            for locale in LOCALES {
                for autofill in worst_autofills(&domain) {
                    let minutes = ExpiryMinutes::MAX;
                    let req = MessageRequest {
                        locale,
                        brand: &brand,
                        code: "999999",
                        minutes,
                        autofill,
                    };
                    let r = renderer.render(&req).unwrap();
                    let localized = renderer.compose(locale, &req).unwrap();
                    let english = renderer.compose(Locale::En, &req).unwrap();
                    let case = format!("{locale} {autofill:?}: {:?}", r.body);
                    assert_eq!(r.info.segments, 1, "{case} ({} units)", r.info.units);
                    assert!(r.body.contains(&brand), "{case}");
                    assert!(r.body.contains(&format!("{minutes}")), "{case}");
                    assert_eq!(first_code(&r.body), Some("999999"), "{case}");
                    if let Some(a) = autofill {
                        assert!(
                            r.body.ends_with(&format!("\n{}", a.line("999999"))),
                            "{case}"
                        );
                    }
                    if needs_ucs2(locale) {
                        // Localized when it fits one UCS-2 segment, else the English text.
                        if r.body == localized {
                            assert_eq!(r.info.encoding, Encoding::Ucs2, "{case}");
                            assert!(r.info.units <= 70, "{case}");
                        } else {
                            assert_eq!(r.body, english, "{case}");
                            fell_back += 1;
                        }
                        // Without autofill even the longest brand gets the localized text.
                        if autofill.is_none() {
                            assert_eq!(r.body, localized, "{case}");
                        }
                    } else {
                        assert_eq!(r.body, localized, "{case}");
                        assert_eq!(r.info.encoding, Encoding::Gsm7, "{case}");
                    }
                    if r.info.encoding == Encoding::Gsm7
                        && autofill.is_some_and(|a| a.app_hash.is_some())
                    {
                        assert!(r.info.payload_octets() <= SMS_RETRIEVER_MAX_BYTES, "{case}");
                        if r.body.is_ascii() {
                            assert!(r.body.len() <= SMS_RETRIEVER_MAX_BYTES, "{case}");
                        }
                    }
                }
            }
        }
        assert!(fell_back > 0, "the worst cases do exceed UCS-2's 70 units");
    }

    /// GSM-7 locales always keep their text; UCS-2 ones with a short brand and a WebOTP line.
    #[test]
    fn a_typical_brand_and_autofill_get_the_localized_text_in_every_locale() {
        let renderer = built_in();
        for locale in LOCALES {
            for autofill in worst_autofills("example.com") {
                if needs_ucs2(locale) && autofill.is_some_and(|a| a.app_hash.is_some()) {
                    continue;
                }
                let req = MessageRequest {
                    locale,
                    brand: "Acme",
                    code: "123456",
                    minutes: 10,
                    autofill,
                };
                let r = renderer.render(&req).unwrap();
                assert_eq!(r.body, renderer.compose(locale, &req).unwrap(), "{locale}");
                assert_eq!(r.info.segments, 1, "{locale}: {:?}", r.body);
                let expected = if needs_ucs2(locale) {
                    Encoding::Ucs2
                } else {
                    Encoding::Gsm7
                };
                assert_eq!(r.info.encoding, expected, "{locale}: {:?}", r.body);
            }
        }
    }

    /// An independent detector (lingua, limited to the 16 languages of Stytch's enum) must
    /// recognise each template's language in every plural form it renders.
    #[test]
    fn an_independent_language_detector_recognises_every_template() {
        use lingua::{Language, LanguageDetectorBuilder};
        let expected = |l: Locale| match l {
            Locale::En => Language::English,
            Locale::Es => Language::Spanish,
            Locale::Fr => Language::French,
            Locale::PtBr => Language::Portuguese,
            Locale::It => Language::Italian,
            Locale::DeDe => Language::German,
            Locale::ZhHans => Language::Chinese,
            Locale::CaEs => Language::Catalan,
            Locale::Ja => Language::Japanese,
            Locale::Ru => Language::Russian,
            Locale::Nl => Language::Dutch,
            Locale::Pl => Language::Polish,
            Locale::Tr => Language::Turkish,
            Locale::Fa => Language::Persian,
            Locale::Vi => Language::Vietnamese,
            Locale::Cs => Language::Czech,
        };
        let languages: Vec<Language> = LOCALES.iter().map(|&l| expected(l)).collect();
        let detector = LanguageDetectorBuilder::from_languages(&languages).build();
        let renderer = built_in();
        let mut failures = Vec::new();
        for locale in LOCALES {
            for minutes in [1, 2, 5, 10] {
                let body = renderer
                    .render(&MessageRequest {
                        locale,
                        brand: "Acme",
                        code: "123456",
                        minutes,
                        autofill: None,
                    })
                    .unwrap()
                    .body;
                let detected = detector.detect_language_of(&body);
                if detected != Some(expected(locale)) {
                    failures.push(format!("{locale} {minutes}: {detected:?} for {body:?}"));
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
