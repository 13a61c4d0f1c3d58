//! A browser origin (`scheme://host[:port]`) as a public token's allowlist holds it and as
//! browsers send it in `Origin`: parsed into one normal form so the two compare exactly.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an origin: expected http(s)://host[:port] with no path, e.g. https://app.example.com")]
pub struct OriginError(String);

/// `http` or `https`, a lower-case host (name, IPv4 or bracketed IPv6) and a port only when
/// it isn't the scheme's default: the serialization browsers use in `Origin`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    text: String,
    host_end: usize,
}

impl Origin {
    pub fn parse(raw: &str) -> Result<Self, OriginError> {
        let err = || OriginError(raw.chars().take(100).collect());
        let s = raw.trim();
        // One trailing slash is what people paste from an address bar; anything more is a path.
        let s = s.strip_suffix('/').unwrap_or(s);
        let (scheme, rest) = s.split_once("://").ok_or_else(err)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(err()),
        };
        if rest.is_empty() || rest.len() > 253 + 7 || rest.contains(['/', '?', '#', '@', '\\']) {
            return Err(err());
        }
        let (host, port) = split_host_port(rest).ok_or_else(err)?;
        let host = host.to_ascii_lowercase();
        if !valid_host(&host) {
            return Err(err());
        }
        let port = match port {
            None => None,
            Some(p) => {
                if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                let n: u32 = p.parse().map_err(|_| err())?;
                if n == 0 || n > 65535 {
                    return Err(err());
                }
                (n != default_port).then_some(n)
            }
        };
        let prefix = format!("{scheme}://{host}");
        let host_end = prefix.len();
        let text = match port {
            Some(p) => format!("{prefix}:{p}"),
            None => prefix,
        };
        Ok(Origin { text, host_end })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host alone (no scheme, no port): what a WebOTP `@host` line names.
    pub fn host(&self) -> &str {
        let start = self.text.find("://").map_or(0, |i| i + 3);
        self.text
            .get(start..self.host_end)
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
    }
}

fn split_host_port(rest: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = rest.strip_prefix('[') {
        let close = v6.find(']')?;
        let host = rest.get(..close + 2)?;
        let after = v6.get(close + 1..)?;
        return match after {
            "" => Some((host, None)),
            a => Some((host, Some(a.strip_prefix(':')?))),
        };
    }
    match rest.split_once(':') {
        Some((h, p)) => Some((h, Some(p))),
        None => Some((rest, None)),
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn origins_normalize_as_browsers_serialize_them() {
        for (raw, want) in [
            ("https://App.Example.com", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("https://app.example.com/", "https://app.example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://localhost:80", "http://localhost"),
            ("HTTP://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(
                Origin::parse(raw).map(|o| o.to_string()),
                Ok(want.into()),
                "{raw}"
            );
        }
        assert_eq!(
            Origin::parse("https://app.example.com:8443")
                .map(|o| o.host().to_owned())
                .ok(),
            Some("app.example.com".into())
        );
        assert_eq!(
            Origin::parse("http://[::1]:8080")
                .map(|o| o.host().to_owned())
                .ok(),
            Some("::1".into())
        );
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for raw in [
            "",
            "app.example.com",
            "ftp://app.example.com",
            "https://",
            "https://app.example.com/login",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "https://app.example.com:0",
            "https://app.example.com:65536",
            "https://app.example.com:",
            "https://app_example.com",
            "https://-app.example.com",
            "https://app..example.com",
            "http://[::1",
            "http://[zz]:80",
            "null",
            "*",
        ] {
            assert!(Origin::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn a_parsed_origin_parses_to_itself(s in "\\PC{0,40}") {
            if let Ok(o) = Origin::parse(&s) {
                prop_assert_eq!(Origin::parse(o.as_str()), Ok(o.clone()));
            }
        }

        #[test]
        fn host_and_port_survive_normalization(
            host in "[a-z][a-z0-9]{0,10}(\\.[a-z][a-z0-9]{0,10}){0,3}",
            port in 1u32..65536,
        ) {
            let o = Origin::parse(&format!("https://{host}:{port}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(o.host(), host.as_str());
            let want = if port == 443 { format!("https://{host}") } else { format!("https://{host}:{port}") };
            prop_assert_eq!(o.as_str(), want.as_str());
        }
    }
}
