//! The JSON body extractor: `application/json` only, 64 KiB at most, and every
//! deserialization failure reported as a 400 naming the offending field.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::errors::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
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
