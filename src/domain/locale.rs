//! Languages we have SMS templates for, and the lenient BCP 47 mapping onto them.

use std::fmt;

/// A language with a message template: the 16 values of the Stytch SDKs' `locale` enum.
/// Anything we cannot map falls back to English, matching Stytch, so a client-supplied
/// locale never fails a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    Es,
    Fr,
    PtBr,
    It,
    DeDe,
    ZhHans,
    CaEs,
    Ja,
    Ru,
    Nl,
    Pl,
    Tr,
    Fa,
    Vi,
    Cs,
}

impl Locale {
    /// Every locale, in the order of Stytch's enum.
    pub const ALL: [Locale; 16] = [
        Locale::En,
        Locale::Es,
        Locale::PtBr,
        Locale::Fr,
        Locale::It,
        Locale::DeDe,
        Locale::ZhHans,
        Locale::CaEs,
        Locale::Ja,
        Locale::Ru,
        Locale::Nl,
        Locale::Pl,
        Locale::Tr,
        Locale::Fa,
        Locale::Vi,
        Locale::Cs,
    ];

    /// Maps a BCP 47 tag by its primary language subtag, case-insensitively and
    /// with `_` accepted as a separator (POSIX-style `pt_BR`). Each language maps to its
    /// one template whatever the region or script (`pt-PT` → `pt-br`, `de-AT` → `de-DE`,
    /// `zh-Hant` → `zh-Hans`); unknown, empty or missing tags map to [`Locale::En`].
    pub fn parse_lenient(tag: Option<&str>) -> Locale {
        let Some(tag) = tag else {
            return Locale::En;
        };
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        let table = [
            ("pt", Locale::PtBr),
            ("es", Locale::Es),
            ("fr", Locale::Fr),
            ("it", Locale::It),
            ("de", Locale::DeDe),
            ("zh", Locale::ZhHans),
            ("ca", Locale::CaEs),
            ("ja", Locale::Ja),
            ("ru", Locale::Ru),
            ("nl", Locale::Nl),
            ("pl", Locale::Pl),
            ("tr", Locale::Tr),
            ("fa", Locale::Fa),
            ("vi", Locale::Vi),
            ("cs", Locale::Cs),
        ];
        table
            .iter()
            .find(|(p, _)| primary.eq_ignore_ascii_case(p))
            .map_or(Locale::En, |&(_, l)| l)
    }

    /// The tag as Stytch's SDK enums spell it; also the template directory's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
            Locale::Fr => "fr",
            Locale::PtBr => "pt-br",
            Locale::It => "it",
            Locale::DeDe => "de-DE",
            Locale::ZhHans => "zh-Hans",
            Locale::CaEs => "ca-ES",
            Locale::Ja => "ja",
            Locale::Ru => "ru",
            Locale::Nl => "nl",
            Locale::Pl => "pl",
            Locale::Tr => "tr",
            Locale::Fa => "fa",
            Locale::Vi => "vi",
            Locale::Cs => "cs",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn maps_tags() {
        let cases: &[(Option<&str>, Locale)] = &[
            (None, Locale::En),
            (Some(""), Locale::En),
            (Some("   "), Locale::En),
            (Some("en"), Locale::En),
            (Some("EN"), Locale::En),
            (Some("en-GB"), Locale::En),
            (Some("en_US"), Locale::En),
            (Some("es"), Locale::Es),
            (Some("ES"), Locale::Es),
            (Some("es-MX"), Locale::Es),
            (Some("es-419"), Locale::Es),
            (Some("es_ES"), Locale::Es),
            (Some("fr"), Locale::Fr),
            (Some("fr-CA"), Locale::Fr),
            (Some("FR_fr"), Locale::Fr),
            (Some("pt"), Locale::PtBr),
            (Some("pt-BR"), Locale::PtBr),
            (Some("pt-br"), Locale::PtBr),
            (Some("PT_BR"), Locale::PtBr),
            (Some("pt-PT"), Locale::PtBr),
            (Some(" pt-BR "), Locale::PtBr),
            (Some("de"), Locale::DeDe),
            (Some("de-AT"), Locale::DeDe),
            (Some("zh-Hant-TW"), Locale::ZhHans),
            (Some("zh_CN"), Locale::ZhHans),
            (Some("ca-ES"), Locale::CaEs),
            (Some("JA"), Locale::Ja),
            (Some("ru-RU"), Locale::Ru),
            (Some("nl-BE"), Locale::Nl),
            (Some("pl"), Locale::Pl),
            (Some("tr"), Locale::Tr),
            (Some("fa-IR"), Locale::Fa),
            (Some("vi"), Locale::Vi),
            (Some("cs-CZ"), Locale::Cs),
            (Some("it-CH"), Locale::It),
            (Some("ko"), Locale::En),
            (Some("sv"), Locale::En),
            (Some("esperanto"), Locale::En),
            (Some("french"), Locale::En),
            (Some("e"), Locale::En),
            (Some("-es"), Locale::En),
            (Some("x-private"), Locale::En),
            (Some("\u{0}"), Locale::En),
            (Some("ｅｓ"), Locale::En),
        ];
        for &(tag, expected) in cases {
            assert_eq!(Locale::parse_lenient(tag), expected, "{tag:?}");
        }
    }

    #[test]
    fn as_str_round_trips() {
        for locale in Locale::ALL {
            assert_eq!(Locale::parse_lenient(Some(locale.as_str())), locale);
            assert_eq!(locale.to_string(), locale.as_str());
        }
    }

    proptest! {
        #[test]
        fn never_panics(tag in proptest::option::of(".*")) {
            let _ = Locale::parse_lenient(tag.as_deref());
        }

        #[test]
        fn region_subtag_does_not_change_language(region in "[A-Za-z0-9]{1,8}") {
            let tag = format!("es-{region}");
            prop_assert_eq!(Locale::parse_lenient(Some(&tag)), Locale::Es);
        }
    }
}
