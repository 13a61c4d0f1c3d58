//! One-time passcodes: secure generation, parsing of user-submitted codes, constant-time comparison.

use std::fmt;

use rand::distributions::{Distribution, Uniform};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Passcodes are always exactly this many ASCII digits.
pub const PASSCODE_LEN: usize = 6;

const MAX_CODE: u32 = 999_999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasscodeError {
    #[error("passcode must be exactly 6 digits")]
    Malformed,
}

/// A six-digit one-time passcode.
///
/// Held in a [`SecretString`] so it is zeroized on drop. There is no `Display`
/// or `Serialize`, and `Debug` is redacted; reaching the digits requires
/// [`Passcode::expose`], which is easy to audit.
#[derive(Clone)]
pub struct Passcode(SecretString);

impl Passcode {
    /// Draws a code uniformly from `000000..=999999` using the OS CSPRNG.
    ///
    /// `Uniform` uses rejection sampling, so there is no modulo bias.
    /// `OsRng` panics if the operating system's RNG fails, which on supported
    /// platforms only happens before the kernel entropy pool is initialised.
    pub fn generate() -> Passcode {
        let value = Uniform::new_inclusive(0, MAX_CODE).sample(&mut OsRng);
        // Sized exactly so converting into the secret box does not reallocate
        // and leave an unzeroized copy behind.
        let mut digits = String::with_capacity(PASSCODE_LEN);
        let mut divisor = 100_000;
        while divisor > 0 {
            let digit = (value / divisor) % 10;
            digits.push(char::from_digit(digit, 10).unwrap_or('0'));
            divisor /= 10;
        }
        Passcode(SecretString::from(digits))
    }

    /// Accepts exactly six ASCII digits, with no trimming: a code with stray
    /// whitespace or non-ASCII digits is rejected rather than normalised.
    pub fn parse(input: &str) -> Result<Passcode, PasscodeError> {
        if input.len() != PASSCODE_LEN || !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PasscodeError::Malformed);
        }
        Ok(Passcode(SecretString::from(input)))
    }

    /// The digits, for hashing or placing in the outgoing SMS.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Compares against a submitted code without leaking, through timing, how
    /// many leading digits matched. A length mismatch returns early, which only
    /// reveals the (public) code length.
    pub fn ct_eq(&self, other: &str) -> bool {
        self.expose().as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl fmt::Debug for Passcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passcode(******)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    fn is_six_ascii_digits(s: &str) -> bool {
        s.len() == PASSCODE_LEN && s.bytes().all(|b| b.is_ascii_digit())
    }

    #[test]
    fn generate_yields_six_digits() {
        for _ in 0..10_000 {
            let code = Passcode::generate();
            assert!(is_six_ascii_digits(code.expose()), "{}", code.expose());
        }
    }

    #[test]
    fn generated_digits_are_roughly_uniform() {
        const DRAWS: usize = 200_000;
        let mut first = [0usize; 10];
        let mut last = [0usize; 10];
        for _ in 0..DRAWS {
            let code = Passcode::generate();
            let bytes = code.expose().as_bytes();
            first[usize::from(bytes[0] - b'0')] += 1;
            last[usize::from(bytes[PASSCODE_LEN - 1] - b'0')] += 1;
        }
        // 9 degrees of freedom: p(chi2 > 50) is about 1e-7, so this only fails
        // for a real bias such as a leading digit that is never 0.
        for counts in [first, last] {
            let expected = DRAWS as f64 / 10.0;
            let chi2: f64 = counts
                .iter()
                .map(|&c| (c as f64 - expected).powi(2) / expected)
                .sum();
            assert!(chi2 < 50.0, "chi2 = {chi2}, counts = {counts:?}");
        }
    }

    #[test]
    fn parse_accepts_six_digits() {
        for input in ["000000", "123456", "999999", "000001"] {
            assert_eq!(Passcode::parse(input).unwrap().expose(), input);
        }
    }

    #[test]
    fn parse_rejects_malformed() {
        for input in [
            "",
            "12345",
            "1234567",
            "12345a",
            " 123456",
            "123456 ",
            "123456\n",
            "12 456",
            "-12345",
            "+12345",
            "１２３４５６",
            "١٢٣٤٥٦",
            "12345\u{0}",
        ] {
            assert_eq!(
                Passcode::parse(input).map(|_| ()),
                Err(PasscodeError::Malformed),
                "{input:?}"
            );
        }
    }

    #[test]
    fn ct_eq_compares_exactly() {
        let code = Passcode::parse("012345").unwrap();
        assert!(code.ct_eq("012345"));
        assert!(!code.ct_eq("012346"));
        assert!(!code.ct_eq("12345"));
        assert!(!code.ct_eq("0123456"));
        assert!(!code.ct_eq(""));
    }

    #[test]
    fn debug_is_redacted() {
        let code = Passcode::parse("123456").unwrap();
        assert_eq!(format!("{code:?}"), "Passcode(******)");
        assert_eq!(format!("{:?}", Some(code)), "Some(Passcode(******))");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Passcode::parse(&s);
        }

        #[test]
        fn parse_accepts_iff_six_ascii_digits(s in "[0-9a ]{0,8}") {
            prop_assert_eq!(Passcode::parse(&s).is_ok(), is_six_ascii_digits(&s));
        }

        #[test]
        fn debug_never_contains_digits(s in "[0-9]{6}") {
            let code = Passcode::parse(&s).unwrap();
            let debug = format!("{code:?}");
            prop_assert!(!debug.contains(&s));
            prop_assert!(!debug.bytes().any(|b| b.is_ascii_digit()));
            prop_assert!(code.ct_eq(&s));
        }
    }
}
