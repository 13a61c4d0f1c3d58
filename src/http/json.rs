//! The JSON body extractor: `application/json` only, 64 KiB at most, no control characters
//! in any string or key (see `text`), and every failure reported as a 400 naming the
//! offending field.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::errors::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How deep a request body may nest (the body object is level 1). A stored value comes back
/// inside a response a few levels deeper (`{"user": {"trusted_metadata": …}}`, search
/// results), and common JSON readers (serde_json, the Rust SDKs) stop at 128 levels: what is
/// accepted must stay readable when it is answered.
pub const MAX_DEPTH: usize = 64;

/// Levels of nesting of a value (a scalar is 0, `[]` and `{}` are 1).
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The body's first field that nests too deep, as a 400 naming it.
fn check_depth(body: &serde_json::Map<String, serde_json::Value>) -> Result<(), ApiError> {
    match body.iter().find(|(_, v)| 1 + depth(v) > MAX_DEPTH) {
        Some((key, _)) => Err(ApiError::bad_request(format!(
            "invalid value for `{key}`: JSON nested deeper than {MAX_DEPTH} levels (the request body counts as one)"
        ))),
        None => Ok(()),
    }
}

pub struct Json<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses a body, naming the path of the first field that doesn't fit.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every string and key, fields the target type ignores included: a second, untyped pass
    // (cheap next to the request's hash) so nested metadata is covered too. A body that isn't
    // JSON at all gets the typed pass's message below.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        // Every body is an object: serde's derive would also take a struct as an array.
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid request body: it must be a JSON object",
            ));
        }
        super::text::check_json(&value)?;
        if let serde_json::Value::Object(body) = &value {
            check_depth(body)?;
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_eof() && bytes.iter().all(u8::is_ascii_whitespace) {
            "request body must be a JSON object".to_owned()
        } else if inner.is_syntax()
            || inner.is_eof()
            || path == "."
            || path == "?"
            || path.is_empty()
        {
            format!("invalid request body: {inner}")
        } else {
            format!("invalid value for `{path}`: {inner}")
        };
        ApiError::bad_request(message)
    })?;
    // Bytes after the body (`{…} x`) are refused, not ignored: the untyped pass above could
    // not read such a body, so its strings were never checked for control characters.
    de.end()
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    Ok(parsed)
}

/// For a nested struct field (`#[serde(default, deserialize_with = "...")]`): a JSON object
/// or null only, never the array form serde's derive also accepts for a struct, so the
/// field means what the OpenAPI document says.
pub fn object_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::Deserialize;
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)? {
        None => Ok(None),
        Some(map) => T::deserialize(serde_json::Value::Object(map))
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// For an optional integer field (`#[serde(default, deserialize_with = "...")]`): JSON
/// Schema counts `5.0` as an integer, so a number with a zero fraction is taken as one; any
/// other fraction, or a number out of range, is refused.
pub fn whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::Deserialize;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    whole
        .and_then(|i| T::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("expected a whole number in range, got {n}"))
        })
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let json = is_json(req);
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::bad_request(
                    "Content-Type must be application/json",
                ));
            }
            let bytes = body.await.map_err(|e| {
                let too_large = matches!(
                    e.as_error::<actix_web::error::PayloadError>(),
                    Some(actix_web::error::PayloadError::Overflow)
                ) || e.to_string().contains("size limit");
                if too_large {
                    ApiError::bad_request(format!(
                        "request body exceeds {} KiB",
                        MAX_BODY_BYTES / 1024
                    ))
                } else {
                    ApiError::bad_request(format!("could not read request body: {e}"))
                }
            })?;
            parse(&bytes).map(Json)
        })
    }
}
