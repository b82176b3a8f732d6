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
                return Err(unsupported(false));
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
                return Err(unsupported(true));
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

/// 415, naming the header but not echoing what was sent in it (errors repeat nothing a client sent).
fn unsupported(missing: bool) -> Error {
    let what = if missing { "A request body needs a Content-Type" } else { "This Content-Type is not supported" };
    Error::UnsupportedMediaType(format!("{what}; send application/json, text/json or application/*+json"))
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

/// Property tests: the body and its `Content-Type` are untrusted bytes.
#[cfg(test)]
mod properties {
    use actix_web::ResponseError;
    use actix_web::http::StatusCode;
    use actix_web::http::header::HeaderValue;
    use actix_web::test::TestRequest;
    use futures_util::FutureExt;
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::api::dto::properties::{any_json, auth_request, config};
    use crate::api::dto::{AuthRequestsDto, EmailValidationKeyModel, MobileRequestsDto};
    use crate::auth::{Credentials, PasswordProof};

    const JSON_TYPES: &[&str] =
        &["application/json", "application/json; charset=utf-8", "text/json", "application/problem+json"];

    /// Runs the extractor on an in-memory request; such a body is read without waiting.
    fn extract<T: DeserializeOwned + Default + 'static>(
        content_type: Option<&HeaderValue>,
        content_length: Option<&HeaderValue>,
        body: &[u8],
        limit: usize,
    ) -> Result<T, Error> {
        let mut req = TestRequest::default().app_data(BodyLimit(limit)).set_payload(body.to_vec());
        if let Some(value) = content_type {
            req = req.insert_header((CONTENT_TYPE, value.clone()));
        }
        if let Some(value) = content_length {
            req = req.insert_header((CONTENT_LENGTH, value.clone()));
        }
        let (req, mut payload) = req.to_http_parts();
        JsonBody::<T>::from_request(&req, &mut payload)
            .now_or_never()
            .expect("an in-memory body is read at once")
            .map(|b| b.0)
    }

    /// Raw bytes, or JSON (DTO-shaped or any) padded with whitespace, or the empty forms.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let padded = |json: BoxedStrategy<serde_json::Value>| {
            ("[ \t\r\n]{0,2}", json, "[ \t\r\n]{0,2}").prop_map(|(a, v, b)| format!("{a}{v}{b}").into_bytes())
        };
        prop_oneof![
            2 => vec(any::<u8>(), 0..200),
            2 => padded(auth_request().boxed()),
            1 => padded(any_json().boxed()),
            1 => proptest::sample::select(&["", " \n", "null", " null ", "[]", "{}", "{"][..]).prop_map(|s| s.as_bytes().to_vec()),
        ]
    }

    /// Absent, a JSON media type, or arbitrary header bytes (including 0x80-0xFF).
    fn content_type() -> impl Strategy<Value = Option<HeaderValue>> {
        prop_oneof![
            1 => Just(None),
            2 => proptest::sample::select(JSON_TYPES).prop_map(|t| Some(HeaderValue::from_static(t))),
            1 => vec(any::<u8>(), 0..40).prop_map(|b| HeaderValue::from_bytes(&b).ok()),
        ]
    }

    fn content_length() -> impl Strategy<Value = Option<HeaderValue>> {
        proptest::option::weighted(0.3, prop_oneof!["[0-9]{1,24}", any::<String>()])
            .prop_map(|v| v.and_then(|v| HeaderValue::from_str(&v).ok()))
    }

    /// Checks one extraction against the rules; `Ok(true)` when it produced a DTO.
    fn check_outcome<T>(
        result: Result<T, Error>,
        content_type: Option<&HeaderValue>,
        content_length: Option<&HeaderValue>,
        body: &[u8],
        limit: usize,
    ) -> Result<bool, TestCaseError> {
        let json_type = content_type.map(|v| v.to_str().is_ok_and(is_json_media_type));
        let declared = content_length.and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let too_large = body.len() > limit || declared.is_some_and(|n| n > limit);
        match result {
            Ok(_) => {
                prop_assert_ne!(json_type, Some(false), "a DTO from a non-JSON media type");
                prop_assert!(!too_large, "a DTO from a body over the limit");
                if json_type.is_none() {
                    prop_assert!(matches!(body.trim_ascii(), b"" | b"null"), "a DTO from a body without a media type");
                }
                Ok(true)
            }
            Err(e) => {
                let expected = match (json_type, too_large) {
                    (Some(false), _) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    (_, true) => StatusCode::PAYLOAD_TOO_LARGE,
                    (None, false) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    (Some(true), false) => StatusCode::BAD_REQUEST,
                };
                prop_assert_eq!(e.status_code(), expected, "{}", e);
                Ok(false)
            }
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// Any body, `Content-Type` and `Content-Length` give a DTO or a 400/413/415, never a panic: a
        /// non-JSON media type is always 415, an oversized body 413, and a DTO comes only from a JSON
        /// media type (or an empty/`null` body) within the limit.
        #[test]
        fn any_request_is_a_dto_or_a_client_error(
            body in body(),
            content_type in content_type(),
            content_length in content_length(),
            limit in prop_oneof![1 => 0usize..64, 2 => Just(8 * 1024)],
        ) {
            let (ct, cl) = (content_type.as_ref(), content_length.as_ref());
            let auth = extract::<AuthRequestsDto>(ct, cl, &body, limit);
            if let Ok(dto) = &auth {
                let _ = dto.credentials();
                let _ = dto.captcha_answer();
            }
            check_outcome(auth, ct, cl, &body, limit)?;
            check_outcome(extract::<MobileRequestsDto>(ct, cl, &body, limit), ct, cl, &body, limit)?;
            check_outcome(extract::<EmailValidationKeyModel>(ct, cl, &body, limit), ct, cl, &body, limit)?;
        }

        /// Within the limit and with a JSON media type, the extractor accepts exactly what serde_json
        /// accepts for a JSON object.
        #[test]
        fn json_objects_extract_as_serde_reads_them(body in auth_request()) {
            let bytes = body.to_string().into_bytes();
            let ct = HeaderValue::from_static("application/json");
            let extracted = extract::<AuthRequestsDto>(Some(&ct), None, &bytes, 1 << 20);
            prop_assert_eq!(extracted.is_ok(), serde_json::from_slice::<AuthRequestsDto>(&bytes).is_ok());
        }

        /// Credentials and the phone number round-trip verbatim through a JSON body, whatever they
        /// contain (quotes, escapes, any Unicode).
        #[test]
        fn string_fields_round_trip(user in ".+", hash in ".+", phone in any::<String>()) {
            let ct = HeaderValue::from_static("application/json; charset=utf-8");
            let body = serde_json::json!({ "userName": user, "passwordHash": hash, "password": "p" }).to_string();
            let dto = extract::<AuthRequestsDto>(Some(&ct), None, body.as_bytes(), 1 << 20).expect("a valid body");
            match dto.credentials().expect("password credentials") {
                Credentials::Password { login, proof: PasswordProof::ClientHash(h) } => {
                    prop_assert_eq!((login, h), (user, hash));
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
            let body = serde_json::json!({ "mobilePhone": phone }).to_string();
            let dto = extract::<MobileRequestsDto>(Some(&ct), None, body.as_bytes(), 1 << 20).expect("a valid body");
            prop_assert_eq!(dto.mobile_phone, Some(phone));
        }

        /// JSON media types are recognised in any case, with any parameters and surrounding spaces.
        #[test]
        fn json_media_types_with_any_case_and_parameters(
            base in prop_oneof![
                proptest::sample::select(&["application/json", "text/json"][..]).prop_map(str::to_owned),
                "[a-z0-9.-]{0,12}".prop_map(|sub| format!("application/{sub}+json")),
            ],
            upper in vec(any::<bool>(), 40),
            params in proptest::option::of(any::<String>()),
            pad in ("[ \t]{0,2}", "[ \t]{0,2}"),
        ) {
            let cased: String = base
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            let value = match params {
                Some(p) => format!("{}{cased}{};{p}", pad.0, pad.1),
                None => format!("{}{cased}{}", pad.0, pad.1),
            };
            prop_assert!(is_json_media_type(&value), "{:?}", value);
        }

        /// Nothing else is JSON: an accepted media type is `text/json` or `application/…json`.
        #[test]
        fn only_json_media_types_are_json(value in prop_oneof![any::<String>(), "[a-zA-Z/+; ]{0,30}json[a-z;= ]{0,10}"]) {
            if is_json_media_type(&value) {
                let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                prop_assert!(essence == "text/json" || (essence.starts_with("application/") && essence.ends_with("json")), "{:?}", value);
            }
        }
    }
}
