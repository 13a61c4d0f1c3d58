//! The Fluent templates: built-ins embedded from `locales/`, operator overrides read from
//! `messages.templates_dir`, each parsed and test-rendered once at start-up.

use std::path::Path;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::{langid, LanguageIdentifier};

use crate::domain::Locale;

/// The one message every template file must define.
pub const MESSAGE_ID: &str = "otp-body";
/// A locale's template inside a templates directory: `<dir>/<locale>/otp.ftl`.
pub const TEMPLATE_FILE: &str = "otp.ftl";

/// What a template is test-rendered with before it is accepted.
const SAMPLE_BRAND: &str = "Acme";
const SAMPLE_CODE: &str = "123456";

/// The concurrent flavour: one bundle is shared by every worker thread.
pub(super) type Bundle = FluentBundle<FluentResource>;

/// A template that cannot be used, naming where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct TemplateError {
    pub origin: String,
    pub reason: String,
}

fn built_in_source(locale: Locale) -> &'static str {
    match locale {
        Locale::En => include_str!("../../locales/en/otp.ftl"),
        Locale::Es => include_str!("../../locales/es/otp.ftl"),
        Locale::Fr => include_str!("../../locales/fr/otp.ftl"),
        Locale::PtBr => include_str!("../../locales/pt-br/otp.ftl"),
        Locale::It => include_str!("../../locales/it/otp.ftl"),
        Locale::DeDe => include_str!("../../locales/de-DE/otp.ftl"),
        Locale::ZhHans => include_str!("../../locales/zh-Hans/otp.ftl"),
        Locale::CaEs => include_str!("../../locales/ca-ES/otp.ftl"),
        Locale::Ja => include_str!("../../locales/ja/otp.ftl"),
        Locale::Ru => include_str!("../../locales/ru/otp.ftl"),
        Locale::Nl => include_str!("../../locales/nl/otp.ftl"),
        Locale::Pl => include_str!("../../locales/pl/otp.ftl"),
        Locale::Tr => include_str!("../../locales/tr/otp.ftl"),
        Locale::Fa => include_str!("../../locales/fa/otp.ftl"),
        Locale::Vi => include_str!("../../locales/vi/otp.ftl"),
        Locale::Cs => include_str!("../../locales/cs/otp.ftl"),
    }
}

/// The language whose CLDR plural rules pick `[one]` or `[other]`.
fn language(locale: Locale) -> LanguageIdentifier {
    match locale {
        Locale::En => langid!("en"),
        Locale::Es => langid!("es"),
        Locale::Fr => langid!("fr"),
        Locale::PtBr => langid!("pt-BR"),
        Locale::It => langid!("it"),
        Locale::DeDe => langid!("de-DE"),
        Locale::ZhHans => langid!("zh-Hans"),
        Locale::CaEs => langid!("ca-ES"),
        Locale::Ja => langid!("ja"),
        Locale::Ru => langid!("ru"),
        Locale::Nl => langid!("nl"),
        Locale::Pl => langid!("pl"),
        Locale::Tr => langid!("tr"),
        Locale::Fa => langid!("fa"),
        Locale::Vi => langid!("vi"),
        Locale::Cs => langid!("cs"),
    }
}

/// The locale's bundle: the operator's file when `dir/<locale>/otp.ftl` exists, else ours.
pub(super) fn load(locale: Locale, dir: Option<&Path>) -> Result<Bundle, TemplateError> {
    if let Some(path) = dir.map(|d| d.join(locale.as_str()).join(TEMPLATE_FILE)) {
        if path.exists() {
            let origin = path.display().to_string();
            let source = std::fs::read_to_string(&path).map_err(|e| TemplateError {
                origin: origin.clone(),
                reason: format!("cannot be read: {e}"),
            })?;
            return checked_bundle(locale, source, origin);
        }
    }
    checked_bundle(
        locale,
        built_in_source(locale).to_owned(),
        format!("built-in locales/{locale}/{TEMPLATE_FILE}"),
    )
}

fn checked_bundle(locale: Locale, source: String, origin: String) -> Result<Bundle, TemplateError> {
    let invalid = |reason: String| TemplateError {
        origin: origin.clone(),
        reason,
    };
    let line_of = |byte: usize| {
        source
            .get(..byte)
            .map_or(1, |s| s.matches('\n').count() + 1)
    };
    let resource = FluentResource::try_new(source.clone()).map_err(|(_, errors)| {
        let listed: Vec<String> = errors
            .iter()
            .map(|e| format!("line {}: {e}", line_of(e.pos.start)))
            .collect();
        invalid(format!("is not valid Fluent: {}", joined(&listed)))
    })?;
    let mut bundle = Bundle::new_concurrent(vec![language(locale)]);
    // Fluent wraps each placeable in U+2068/U+2069 by default; one such mark makes the
    // whole SMS UCS-2, and a right-to-left brand is not something SMS clients bidi-isolate.
    bundle.set_use_isolating(false);
    bundle
        .add_builtins()
        .map_err(|e| invalid(format!("cannot enable NUMBER(): {e}")))?;
    bundle
        .add_resource(resource)
        .map_err(|errors| invalid(joined(&errors)))?;
    for minutes in 1..=10 {
        let text = format(&bundle, SAMPLE_BRAND, SAMPLE_CODE, minutes).map_err(&invalid)?;
        if super::first_code(&text) != Some(SAMPLE_CODE) {
            return Err(invalid(format!(
                "`{MESSAGE_ID}` must contain {{ $code }} as the first run of digits \
                 (rendered {text:?})"
            )));
        }
    }
    Ok(bundle)
}

/// The message text with its variables filled in, or Fluent's complaints.
pub(super) fn format(
    bundle: &Bundle,
    brand: &str,
    code: &str,
    minutes: u8,
) -> Result<String, String> {
    let pattern = bundle
        .get_message(MESSAGE_ID)
        .and_then(|m| m.value())
        .ok_or_else(|| format!("has no `{MESSAGE_ID}` message with a value"))?;
    let mut args = FluentArgs::new();
    // A string, not a number: `012345` must keep its leading zero.
    args.set("code", FluentValue::from(code));
    args.set("brand", FluentValue::from(brand));
    args.set("minutes", FluentValue::from(minutes));
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
    if !errors.is_empty() {
        return Err(format!(
            "`{MESSAGE_ID}` does not render: {}",
            joined(&errors)
        ));
    }
    Ok(text.into_owned())
}

fn joined<E: std::fmt::Display>(errors: &[E]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
        .replace('\n', " ")
}
