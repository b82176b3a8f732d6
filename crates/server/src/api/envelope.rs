//! DocSpace's response envelopes. Success: `{response, count, links, status: 0, statusCode: 200}`;
//! error: `{error: {message, type, stack, hresult}, status: 1, statusCode}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A link to the request that produced the envelope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Link {
    /// Absolute URL of the request.
    pub href: String,
    /// HTTP method of the request.
    pub action: String,
}

/// The success envelope around every 200 payload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub response: T,
    pub count: u64,
    pub links: Vec<Link>,
    pub status: i32,
    pub status_code: u16,
}

/// The error envelope of every 4xx and 5xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"error": {"message": "User authentication failed", "type": "AuthenticationFailed",
    "stack": null, "hresult": 0}, "status": 1, "statusCode": 401}))]
pub struct ErrorApiResponse {
    /// What went wrong.
    pub error: ErrorDetail,
    /// Always 1 for errors.
    pub status: i32,
    /// The HTTP status code, repeated.
    pub status_code: u16,
}

/// An error: a sentence for people and a stable kind for programs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A sentence for people.
    pub message: String,
    /// A stable machine-readable kind, e.g. `AuthenticationFailed`, `RateLimited`, `InvalidRequest`
    /// (DocSpace puts a .NET exception type name here).
    #[serde(rename = "type")]
    pub kind: String,
    /// Always null: stack traces are never sent.
    pub stack: Option<String>,
    /// Always 0.
    pub hresult: i32,
}

/// `count` as DocSpace computes it: list length, 0 for null, 1 for anything else.
fn count_of(value: &serde_json::Value) -> u64 {
    match value {
        serde_json::Value::Array(items) => items.len() as u64,
        serde_json::Value::Null => 0,
        _ => 1,
    }
}

/// A 200 with `payload` in the success envelope; `builder` may already carry headers.
pub fn ok_with<T: Serialize>(mut builder: HttpResponseBuilder, req: &HttpRequest, payload: T) -> HttpResponse {
    let response = match serde_json::to_value(payload) {
        Ok(value) => value,
        Err(e) => return crate::error::Error::Internal(e.into()).into_response(),
    };
    let envelope = Envelope {
        count: count_of(&response),
        response,
        links: vec![Link { href: req.full_url().to_string(), action: req.method().to_string() }],
        status: 0,
        status_code: StatusCode::OK.as_u16(),
    };
    builder.status(StatusCode::OK).json(envelope)
}

pub fn ok<T: Serialize>(req: &HttpRequest, payload: T) -> HttpResponse {
    ok_with(HttpResponse::Ok(), req, payload)
}

impl ErrorApiResponse {
    pub fn new(status: StatusCode, kind: &str, message: String) -> Self {
        Self {
            error: ErrorDetail { message, kind: kind.to_owned(), stack: None, hresult: 0 },
            status: 1,
            status_code: status.as_u16(),
        }
    }
}

/// Names the success envelope of one payload type in the OpenAPI document (DocSpace's SDKs know
/// them as `<Payload>Wrapper`). Serialisation uses [`Envelope`]; these exist for the schema.
macro_rules! envelope_schema {
    ($name:ident, $payload:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        pub struct $name {
            /// The payload.
            pub response: $payload,
            /// 1 for one object, the length of a list, 0 for null.
            pub count: i32,
            /// The request that produced this answer.
            pub links: Vec<$crate::api::envelope::Link>,
            /// Always 0 for success.
            pub status: i32,
            /// Always 200.
            pub status_code: i32,
        }
    };
}
pub(crate) use envelope_schema;
