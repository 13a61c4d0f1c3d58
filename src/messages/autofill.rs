//! Autofill metadata: the last line that lets a browser (WebOTP) or Android (SMS Retriever)
//! take the code out of the SMS by itself.

use crate::domain::project::ProjectSettings;

/// Google's SMS Retriever ignores messages longer than this (one SMS of user data).
pub const SMS_RETRIEVER_MAX_BYTES: usize = 140;

/// A project's autofill settings; at least one of them is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autofill<'a> {
    /// WICG origin-bound one-time codes: the last line is `@<domain> #<code>`.
    pub domain: Option<&'a str>,
    /// Android SMS Retriever: the app's 11-character hash, after the code.
    pub app_hash: Option<&'a str>,
}

impl<'a> Autofill<'a> {
    /// `None` when the project has neither setting, so there is no line to add.
    pub fn from_settings(settings: &'a ProjectSettings) -> Option<Autofill<'a>> {
        let autofill = Autofill {
            domain: settings.autofill_domain.as_deref(),
            app_hash: settings.android_app_hash.as_deref(),
        };
        (autofill.domain.is_some() || autofill.app_hash.is_some()).then_some(autofill)
    }

    /// The line itself. WebOTP wants exactly one space between tokens and nothing before
    /// `@`; it ignores what follows `#code`, which is where the retriever's hash can sit.
    /// Without a domain the hash stands alone, as in Google's own example.
    pub(super) fn line(&self, code: &str) -> String {
        match (self.domain, self.app_hash) {
            (Some(domain), Some(hash)) => format!("@{domain} #{code} {hash}"),
            (Some(domain), None) => format!("@{domain} #{code}"),
            (None, Some(hash)) => hash.to_owned(),
            (None, None) => String::new(),
        }
    }
}

/// The autofill line of a sent body, if it has one: the last line, when it is the WebOTP
/// `@domain #code` form or a bare retriever hash (11 characters of base64) under the text.
pub fn find_line(body: &str) -> Option<&str> {
    let (_, last) = body.rsplit_once('\n')?;
    let webotp = last
        .strip_prefix('@')
        .and_then(|rest| rest.split_once(" #"));
    let hash = last.len() == 11
        && last
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    (webotp.is_some_and(|(domain, _)| !domain.is_empty()) || hash).then_some(last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_line_follows_webotp_and_the_retriever_hash_follows_the_code() {
        let both = Autofill {
            domain: Some("example.com"),
            app_hash: Some("FA+9qCX9VSu"),
        };
        assert_eq!(both.line("123456"), "@example.com #123456 FA+9qCX9VSu");
        let domain = Autofill {
            app_hash: None,
            ..both
        };
        assert_eq!(domain.line("123456"), "@example.com #123456");
        let hash = Autofill {
            domain: None,
            ..both
        };
        assert_eq!(hash.line("123456"), "FA+9qCX9VSu");
    }

    #[test]
    fn a_project_without_autofill_settings_gets_no_line() {
        let mut settings = ProjectSettings::default();
        assert_eq!(Autofill::from_settings(&settings), None);
        settings.android_app_hash = Some("FA+9qCX9VSu".into());
        assert!(Autofill::from_settings(&settings).is_some());
    }

    #[test]
    fn the_line_is_found_again_in_a_sent_body_and_only_as_its_last_line() {
        let both = Autofill {
            domain: Some("example.com"),
            app_hash: Some("FA+9qCX9VSu"),
        };
        let body = format!("123456 is your code.\n{}", both.line("123456"));
        assert_eq!(find_line(&body), Some("@example.com #123456 FA+9qCX9VSu"));
        assert_eq!(
            find_line("123456 is your code.\nFA+9qCX9VSu"),
            Some("FA+9qCX9VSu")
        );
        assert_eq!(find_line("123456 is your code."), None);
        assert_eq!(find_line("@example.com #123456"), None);
        assert_eq!(find_line("text\nsee you at 5 #1"), None);
    }
}
