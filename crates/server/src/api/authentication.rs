//! The Authentication group: `sendsms`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::body::JsonBody;
use super::dto::{AuthRequestsDto, AuthenticationTokenDto, AuthenticationTokenWrapper};
use super::envelope;
use super::envelope::ErrorApiResponse;
use super::error::insert_rate_limit_headers;
use crate::auth::AuthService;
use crate::error::Error;

/// Send SMS code
///
/// Sends an SMS with a one-time authentication code to the user's mobile phone: the second step of
/// logging in with SMS two-factor authentication. The user is identified exactly as login does:
/// `userName` with `passwordHash` (or `password`), or a `confirmData` key from a login link.
///
/// Each call issues a **new** code; earlier codes stay valid until they expire (10 minutes by
/// default). At most 6 codes may be live for one phone; one more is answered 429 with
/// `Retry-After`. `culture` picks the language of the SMS. `session` and `code` are ignored.
///
/// Request bodies may be `application/json`, `text/json` or any `application/*+json`; an empty body
/// is accepted. Responses are labelled `application/json`, `text/json` or `text/plain` as `Accept`
/// asks.
///
/// Where this differs from DocSpace on purpose: a missing second factor is 403 (DocSpace: 500),
/// too many codes is 429 (DocSpace: 500), an invalid body is 400 in the error envelope (DocSpace:
/// 200 with status 1), an SMS that cannot be sent is 503 and its code withdrawn (DocSpace: 200 and
/// the message is lost), and codes are stored only as keyed hashes.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication/sendsms",
    operation_id = "sendSmsCode",
    tag = "Authentication",
    request_body(
        content = Option<AuthRequestsDto>,
        content_type = "application/json",
        description = "Authentication request parameters. `text/json` and `application/*+json` are accepted too; an empty body is a request with no fields.",
        example = json!({"userName": "alice@example.com", "passwordHash": "9c8b…(64 hex digits)", "culture": "en-US"})
    ),
    responses(
        (status = 200, description = "The code was sent; `expires` is when it stops working.",
            body = AuthenticationTokenWrapper,
            headers(
                ("X-RateLimit-Limit" = u32, description = "Codes that may be live for this phone at once."),
                ("X-RateLimit-Remaining" = u32, description = "Codes that may still be requested now."),
                ("X-RateLimit-Reset" = u64, description = "Seconds until the oldest live code expires and frees a slot.")
            ),
            example = json!({"response": {"expires": "2026-11-29T10:10:00.123Z", "sms": true,
                "phoneNoise": "+1201***0123", "tfa": false}, "count": 1,
                "links": [{"href": "http://127.0.0.1:8092/api/2.0/authentication/sendsms", "action": "POST"}],
                "status": 0, "statusCode": 200})),
        (status = 400, description = "Invalid body (malformed JSON, wrong field type, invalid email), no mobile phone set (`MobilePhoneRequired`), or an unsupported login provider.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "The user has no mobile phone number; set one with POST /api/2.0/authentication/setphone",
                "type": "MobilePhoneRequired", "stack": null, "hresult": 0}, "status": 1, "statusCode": 400})),
        (status = 401, description = "Unknown user, wrong password or missing credentials: one answer for all.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "User authentication failed", "type": "AuthenticationFailed",
                "stack": null, "hresult": 0}, "status": 1, "statusCode": 401})),
        (status = 403, description = "The user is disabled (`UserDisabled`) or SMS two-factor authentication is off (`SmsTwoFactorDisabled`).",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "User disabled", "type": "UserDisabled",
                "stack": null, "hresult": 0}, "status": 1, "statusCode": 403})),
        (status = 404, description = "The `confirmData` key is invalid or its user unknown.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "The user could not be found", "type": "UserNotFound",
                "stack": null, "hresult": 0}, "status": 1, "statusCode": 404})),
        (status = 413, description = "The body is larger than the cap (8 KiB by default).",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "The request body is larger than the limit of 8192 bytes",
                "type": "PayloadTooLarge", "stack": null, "hresult": 0}, "status": 1, "statusCode": 413})),
        (status = 415, description = "The body is not JSON.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "Content-Type text/plain is not supported; send application/json, text/json or application/*+json",
                "type": "UnsupportedMediaType", "stack": null, "hresult": 0}, "status": 1, "statusCode": 415})),
        (status = 429, description = "Too many live codes for this phone.",
            body = ErrorApiResponse,
            headers(
                ("Retry-After" = u64, description = "Seconds until a code may be requested again."),
                ("X-RateLimit-Limit" = u32, description = "Codes that may be live for this phone at once."),
                ("X-RateLimit-Remaining" = u32, description = "Always 0 here."),
                ("X-RateLimit-Reset" = u64, description = "Seconds until a slot frees up.")
            ),
            example = json!({"error": {"message": "Too many SMS codes requested; try again in 412 seconds",
                "type": "RateLimited", "stack": null, "hresult": 0}, "status": 1, "statusCode": 429})),
        (status = 500, description = "Unexpected failure; details are logged, never sent.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "Internal server error", "type": "InternalError",
                "stack": null, "hresult": 0}, "status": 1, "statusCode": 500})),
        (status = 503, description = "No SMS provider is configured (`SmsNotConfigured`) or the SMS could not be handed to one (`SmsSendFailed`); no code was issued.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "SMS sending is not configured on this server",
                "type": "SmsNotConfigured", "stack": null, "hresult": 0}, "status": 1, "statusCode": 503})),
    )
)]
pub async fn send_sms_code(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    body: JsonBody<AuthRequestsDto>,
) -> Result<HttpResponse, Error> {
    let request = body.0;
    let credentials = request.credentials()?;
    let sent = auth.send_sms_code(&credentials, request.culture.as_deref()).await?;
    let mut builder = HttpResponse::Ok();
    insert_rate_limit_headers(&mut builder, &sent.budget);
    let payload = AuthenticationTokenDto {
        expires: Some(sent.expires_at),
        sms: true,
        phone_noise: Some(sent.phone_noise),
        tfa: false,
        ..Default::default()
    };
    Ok(envelope::ok_with(builder, &req, payload))
}
