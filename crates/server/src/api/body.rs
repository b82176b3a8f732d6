//! The JSON request body extractor: checks the media type, caps the size, and turns every failure
//! into the error envelope (actix's own `Json` answers in plain text).

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// The body size cap, as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body of type `T`. An empty body (or `null`) is `T::default()`: every DocSpace request DTO
/// has only optional fields, and the SDKs send no body when the caller passes none.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// `application/json`, `text/json` and any `application/*+json`, with any parameters.
pub fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json"
        || essence == "text/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonBody<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(8 * 1024, |l| l.0);
        let content_type = req.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?").to_owned());
        let declared_length = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if let Some(ct) = &content_type
                && !is_json_media_type(ct)
            {
                return Err(unsupported(ct));
            }
            if declared_length.is_some_and(|n| n > limit) {
                return Err(Error::PayloadTooLarge { limit });
            }
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| Error::InvalidRequest(format!("The request body could not be read: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(Error::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            let text = body.trim_ascii();
            if text.is_empty() || text == b"null" {
                return Ok(JsonBody(T::default()));
            }
            if content_type.is_none() {
                return Err(unsupported("none"));
            }
            // serde would read a struct from an array too; DocSpace's bodies are objects.
            if text[0] != b'{' {
                return Err(Error::InvalidRequest("The request body must be a JSON object".into()));
            }
            let deserializer = &mut serde_json::Deserializer::from_slice(text);
            serde_path_to_error::deserialize(deserializer).map(JsonBody).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                Error::InvalidRequest(if path == "." || inner.is_syntax() || inner.is_eof() {
                    format!("The request body is not valid JSON: {inner}")
                } else {
                    format!("Invalid value for {path}: {}", without_value(&inner))
                })
            })
        })
    }
}

/// serde's message without the value that was sent ("invalid type: integer `123456`, expected a
/// string" → "expected a string"): the value may be a password or a code, and errors never carry
/// secrets.
fn without_value(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    match text.find(", expected ") {
        Some(i) => text[i + 2..].to_owned(),
        None if text.starts_with("invalid ") => "invalid value".to_owned(),
        None => text.to_owned(),
    }
}

fn unsupported(content_type: &str) -> Error {
    Error::UnsupportedMediaType(format!(
        "Content-Type {content_type} is not supported; send application/json, text/json or application/*+json"
    ))
}

#[cfg(test)]
mod tests {
    use super::is_json_media_type;

    #[test]
    fn json_media_types() {
        for ok in ["application/json", "application/json; charset=utf-8", "TEXT/JSON", "application/vnd.x+json"] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in ["text/plain", "application/xml", "application/x-www-form-urlencoded", "json", ""] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
}
