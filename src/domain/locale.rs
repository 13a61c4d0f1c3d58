//! Languages we have SMS templates for, and the lenient BCP 47 mapping onto them.

use std::fmt;

/// A language with a message template. Anything we cannot map falls back to
/// English, matching Stytch, so a client-supplied locale never fails a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    Es,
    Fr,
    PtBr,
}

impl Locale {
    /// Maps a BCP 47 tag by its primary language subtag, case-insensitively and
    /// with `_` accepted as a separator (POSIX-style `pt_BR`). Every `pt` variant
    /// maps to [`Locale::PtBr`], the only Portuguese template; unknown, empty or
    /// missing tags map to [`Locale::En`].
    pub fn parse_lenient(tag: Option<&str>) -> Locale {
        let Some(tag) = tag else {
            return Locale::En;
        };
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("pt") {
            Locale::PtBr
        } else if primary.eq_ignore_ascii_case("es") {
            Locale::Es
        } else if primary.eq_ignore_ascii_case("fr") {
            Locale::Fr
        } else {
            Locale::En
        }
    }

    /// The canonical lowercase tag, as used in Stytch requests and template names.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
            Locale::Fr => "fr",
            Locale::PtBr => "pt-br",
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
            (Some("de"), Locale::En),
            (Some("zh-Hant-TW"), Locale::En),
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
        for locale in [Locale::En, Locale::Es, Locale::Fr, Locale::PtBr] {
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
