//! Control characters refused in every piece of user text a request carries: JSON strings
//! and keys at any depth, query parameters and path segments. Checked once, centrally (the
//! JSON extractor and the request middleware), so every route gets it.
//!
//! Refused: the C0 controls except tab, line feed and carriage return, DEL, and the C1
//! controls (`char::is_control`). NUL is what PostgreSQL refuses in `text` and `jsonb`; the
//! others never belong in a name, an id or metadata, and would let a caller smuggle terminal
//! escapes or forged lines into whatever later displays or logs the value. Tab and line
//! breaks stay legal in free text (names, metadata), where a person may mean them.

use actix_web::HttpRequest;
use serde_json::Value;

use super::errors::ApiError;

/// The rule, for the OpenAPI patterns to quote: no `char::is_control` but `\t`, `\n`, `\r`.
pub const NO_CONTROL_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

pub fn is_refused(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

pub fn has_refused(s: &str) -> bool {
    s.chars().any(is_refused)
}

fn refused(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "invalid value for `{what}`: control characters (other than tab and line breaks) are not allowed"
    ))
}

/// The path (in `serde_path_to_error`'s notation) of the first string or key in `value`
/// holding a refused character, as a 400.
pub fn check_json(value: &Value) -> Result<(), ApiError> {
    fn walk(value: &Value, path: &mut String) -> Result<(), ApiError> {
        match value {
            Value::String(s) if has_refused(s) => {
                Err(refused(if path.is_empty() { "." } else { path }))
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    if has_refused(key) {
                        let at = if len == 0 { "." } else { &path[..len] };
                        return Err(ApiError::bad_request(format!(
                            "invalid key in `{at}`: control characters (other than tab and line breaks) are not allowed"
                        )));
                    }
                    path.push_str(key);
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(value, &mut String::new())
}

/// Percent-decodes one URL component (`+` stays `+`: only the control characters matter).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters and path segments. A path segment is named by the route's placeholder
/// (`{user_id}` → `user_id`) when the path matches a route.
pub fn check_uri(req: &HttpRequest) -> Result<(), ApiError> {
    for pair in req.query_string().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // `?=x`: a value without a name is no parameter any route defines, and would be
        // silently dropped by the query extractors (an empty pair, `?a=1&`, is nothing).
        if key.is_empty() && !pair.is_empty() {
            return Err(ApiError::bad_request("a query parameter has no name"));
        }
        let key = percent_decode(key);
        if has_refused(&key) {
            return Err(ApiError::bad_request(
                "a query parameter name contains a control character",
            ));
        }
        if has_refused(&percent_decode(value)) {
            return Err(refused(&key));
        }
    }
    let path = req.path();
    if !path.contains('%') {
        return Ok(());
    }
    let pattern = req.match_pattern();
    let names: Vec<&str> = pattern
        .as_deref()
        .map_or(Vec::new(), |p| p.split('/').collect());
    for (i, segment) in path.split('/').enumerate() {
        if has_refused(&percent_decode(segment)) {
            let name = names
                .get(i)
                .and_then(|n| n.strip_prefix('{'))
                .and_then(|n| n.strip_suffix('}'))
                .unwrap_or("path");
            return Err(refused(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_refused_set_is_the_controls_but_tab_and_line_breaks() {
        for c in [
            '\0', '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}',
        ] {
            assert!(is_refused(c), "{c:?}");
        }
        for c in ['\t', '\n', '\r', ' ', 'a', 'é', '\u{a0}', '\u{200b}', '😀'] {
            assert!(!is_refused(c), "{c:?}");
        }
    }

    #[test]
    fn the_openapi_pattern_says_the_same_as_the_rule() {
        // The pattern's class, written out: every refused char is in one of its ranges.
        let ranges = [(0x00, 0x08), (0x0b, 0x0c), (0x0e, 0x1f), (0x7f, 0x9f)];
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let in_pattern = ranges
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(c)));
            assert_eq!(in_pattern, is_refused(c), "{c:?}");
        }
        assert!(NO_CONTROL_PATTERN.contains(r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F"));
    }

    #[test]
    fn json_paths_name_the_value_or_the_key() {
        let message = |v: Value| check_json(&v).unwrap_err().message().to_owned();
        assert!(message(json!({"name": "a\u{0}b"})).contains("`name`"));
        assert!(
            message(json!({"trusted_metadata": {"a": [1, {"b": "\u{1b}[31m"}]}}))
                .contains("`trusted_metadata.a[1].b`")
        );
        assert!(message(json!({"trusted_metadata": {"k\u{0}": 1}}))
            .contains("invalid key in `trusted_metadata`"));
        assert!(check_json(&json!({"name": "tab\there\r\nok", "n": 1, "x": null})).is_ok());
    }

    #[test]
    fn percent_decoding_finds_encoded_controls_only() {
        assert_eq!(percent_decode("a%00b"), "a\u{0}b");
        assert_eq!(percent_decode("%2B1%20x"), "+1 x");
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
        assert_eq!(percent_decode("%1"), "%1");
    }
}
