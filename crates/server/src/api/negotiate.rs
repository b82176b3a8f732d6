//! Response media types. Bodies are always the JSON envelope; `Accept` picks which of the three
//! media types DocSpace lists (`application/json`, `text/json`, `text/plain`) labels it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, Accept, Header, HeaderValue};
use actix_web::middleware::Next;

const APPLICATION_JSON: &str = "application/json";
const TEXT_JSON: &str = "text/json; charset=utf-8";
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The media type to answer with, from the request's `Accept` (by preference); anything we cannot
/// produce falls back to `application/json`.
pub fn response_media_type(accept: Option<&Accept>) -> &'static str {
    let Some(accept) = accept else { return APPLICATION_JSON };
    for mime in accept.ranked() {
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("application", "json") | ("application", "*") | ("*", "*") => return APPLICATION_JSON,
            ("text", "json") => return TEXT_JSON,
            ("text", "plain") | ("text", "*") => return TEXT_PLAIN,
            _ => {}
        }
    }
    APPLICATION_JSON
}

/// Middleware relabelling JSON responses with the negotiated media type.
pub async fn negotiate_media_type(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let accept = Accept::parse(&req).ok();
    let media_type = response_media_type(accept.as_ref());
    let mut res = next.call(req).await?;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(APPLICATION_JSON));
    if is_json && media_type != APPLICATION_JSON {
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    }
    Ok(res)
}
