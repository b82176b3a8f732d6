//! The Authentication group: `sendsms`, logging in with the code, checking and ending sessions.

use actix_web::{HttpRequest, HttpResponse, web};

use super::body::JsonBody;
use super::dto::{
    AuthRequestsDto, AuthenticationTokenDto, AuthenticationTokenWrapper, BooleanWrapper, ConfirmDto, ConfirmWrapper,
    EmailValidationKeyModel, MobileRequestsDto, StringWrapper, ValidationResult,
};
use super::envelope;
use super::envelope::ErrorApiResponse;
use super::error::insert_rate_limit_headers;
use super::session::{CookiePolicy, removal_cookie, session_cookie, token_from_request, tokens_in_request};
use crate::auth::AuthService;
use crate::client_ip::{self, TrustedProxies};
use crate::confirm::KeyCheck;
use crate::error::Error;
use crate::guard::Caller;
use crate::login::LoginStep;

/// The client's address (trusted proxies considered) and any CAPTCHA answer it sent.
fn caller(req: &HttpRequest, proxies: &TrustedProxies, request: &AuthRequestsDto) -> Caller {
    Caller { addr: client_ip::from_request(req, proxies), captcha: request.captcha_answer() }
}

/// Send SMS code
///
/// Sends an SMS with a one-time authentication code to the user's mobile phone: the second step of
/// logging in with SMS two-factor authentication. The user is identified exactly as login does:
/// `userName` with `passwordHash` (or `password`), or a `confirmData` key from a login link.
///
/// Each call issues a **new** code; earlier codes stay valid until they expire (10 minutes by
/// default). At most 6 codes of the user may be live for one phone; one more is answered 429 with
/// `Retry-After`. `culture` picks the language of the SMS. `session` and `code` are ignored.
///
/// Every attempt counts against the account before the password is checked: 5 per minute from one
/// address, and, whatever the address, after 10 consecutive failures (passwords and codes) each
/// attempt needs a CAPTCHA or waits a doubling delay, and after 100 the account is locked. A right
/// password takes its attempt back; sending a code resets no count, only a successful login does.
///
/// Request bodies may be `application/json`, `text/json` or any `application/*+json`; an empty body
/// is accepted. Responses are labelled `application/json`, `text/json` or `text/plain` as `Accept`
/// asks.
///
/// Where this differs from DocSpace on purpose: a missing second factor is 403 (DocSpace: 500),
/// too many codes is 429 (DocSpace: 500), an invalid body is 400 in the error envelope (DocSpace:
/// 200 with status 1), a provider failure delays the SMS but never loses it: the message is queued
/// with its code in one transaction and retried (DocSpace: 200 and the message is lost), and codes
/// are stored only as keyed hashes.
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
        (status = 403, description = "The user is disabled (`UserDisabled`), SMS two-factor authentication is off (`SmsTwoFactorDisabled`), the CAPTCHA sent is wrong (`InvalidRecaptcha`), the account wants a CAPTCHA after too many consecutive failures (`CaptchaRequired`), or it is locked until an administrator unlocks it (`AccountLocked`).",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "User disabled", "type": "UserDisabled",
                "stack": null, "hresult": 0}, "status": 1, "statusCode": 403})),
        (status = 404, description = "The `confirmData` key is invalid or its user unknown.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "The user could not be found", "type": "UserNotFound",
                "stack": null, "hresult": 0}, "status": 1, "statusCode": 404})),
        (status = 409, description = "An administrator changed the user's phone while the request was under way (`PhoneChanged`); nothing was sent. Try again.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "The user's mobile phone changed meanwhile; try again",
                "type": "PhoneChanged", "stack": null, "hresult": 0}, "status": 1, "statusCode": 409})),
        (status = 413, description = "The body is larger than the cap (8 KiB by default).",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "The request body is larger than the limit of 8192 bytes",
                "type": "PayloadTooLarge", "stack": null, "hresult": 0}, "status": 1, "statusCode": 413})),
        (status = 415, description = "The body is not JSON.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "This Content-Type is not supported; send application/json, text/json or application/*+json",
                "type": "UnsupportedMediaType", "stack": null, "hresult": 0}, "status": 1, "statusCode": 415})),
        (status = 429, description = "Too many live codes for this phone, an hourly send cap reached (per user, client address, country or overall), too many attempts from this address for this account (5 within 60 s block it for 60 s; a valid CAPTCHA gets through), or, with no CAPTCHA configured, the account's wait after too many consecutive failures (doubling from 1 s up to 1 h).",
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
        (status = 503, description = "No SMS provider is configured (`SmsNotConfigured`), so no code was issued; or the CAPTCHA could not be checked (`CaptchaUnavailable`), or the server is busy (`ServerBusy`).",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "SMS sending is not configured on this server",
                "type": "SmsNotConfigured", "stack": null, "hresult": 0}, "status": 1, "statusCode": 503})),
    )
)]
pub async fn send_sms_code(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    proxies: web::Data<TrustedProxies>,
    body: JsonBody<AuthRequestsDto>,
) -> Result<HttpResponse, Error> {
    let request = body.0;
    let credentials = request.credentials()?;
    let caller = caller(&req, &proxies, &request);
    let sent = auth.send_sms_code(&credentials, request.culture.as_deref(), &caller).await?;
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

/// Log in with an SMS code
///
/// The second step of an SMS two-factor login: the same credentials as for `sendsms` plus the
/// code from the SMS in the body's `code`. The first correct live code is consumed, every other
/// live code of the user dies, the phone counts as activated and a session starts: its token is in
/// `token` and in the `asc_auth_key` cookie (HttpOnly, SameSite=Strict, Secure over https; no
/// Max-Age when `session` is true). Send it back as that cookie or as `Authorization: <token>`.
///
/// The `{code}` path segment is ignored: the body's `code` counts. Every failure (wrong, expired,
/// replayed or another user's code; wrong credentials) is the same 401. After 5 wrong codes within
/// a code's lifetime every live code dies and a new one must be requested.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication/{code}",
    operation_id = "authenticateMeFromBodyWithCode",
    tag = "Authentication",
    params(("code" = String, Path, description = "Ignored; the `code` in the body counts.")),
    request_body(
        content = Option<AuthRequestsDto>,
        content_type = "application/json",
        description = "Credentials and `code`. `text/json` and `application/*+json` are accepted too.",
        example = json!({"userName": "alice@example.com", "passwordHash": "9c8b…(64 hex digits)", "code": "123456"})
    ),
    responses(
        (status = 200, description = "Logged in: the session token, also set as the `asc_auth_key` cookie.",
            body = AuthenticationTokenWrapper,
            headers(("Set-Cookie" = String, description = "`asc_auth_key=<token>; HttpOnly; SameSite=Strict; Path=/; Max-Age=…`")),
            example = json!({"response": {"token": "q1Xw…(43 characters)", "expires": "2026-12-13T10:00:00.000Z",
                "sms": true, "phoneNoise": "+1201***0123", "tfa": false}, "count": 1,
                "links": [{"href": "http://127.0.0.1:8092/api/2.0/authentication/123456", "action": "POST"}],
                "status": 0, "statusCode": 200})),
        (status = 400, description = "Invalid body.", body = ErrorApiResponse),
        (status = 401, description = "Wrong, expired or used code, or wrong credentials: one answer for all.",
            body = ErrorApiResponse,
            example = json!({"error": {"message": "User authentication failed", "type": "AuthenticationFailed",
                "stack": null, "hresult": 0}, "status": 1, "statusCode": 401})),
        (status = 413, description = "The body is larger than the cap.", body = ErrorApiResponse),
        (status = 403, description = "The CAPTCHA sent is wrong (`InvalidRecaptcha`), the account wants one (`CaptchaRequired`), or it is locked (`AccountLocked`).", body = ErrorApiResponse),
        (status = 415, description = "The body is not JSON.", body = ErrorApiResponse),
        (status = 429, description = "Too many attempts from this address for this account, or the account's wait after too many consecutive failures.", body = ErrorApiResponse),
        (status = 500, description = "Unexpected failure.", body = ErrorApiResponse),
        (status = 503, description = "The CAPTCHA could not be checked, or the server is busy.", body = ErrorApiResponse),
    )
)]
pub async fn authenticate_me_from_body_with_code(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    policy: web::Data<CookiePolicy>,
    proxies: web::Data<TrustedProxies>,
    body: JsonBody<AuthRequestsDto>,
) -> Result<HttpResponse, Error> {
    let request = body.0;
    let credentials = request.credentials()?;
    let caller = caller(&req, &proxies, &request);
    let issued = auth.redeem_sms_code(&credentials, request.code.as_deref().unwrap_or_default(), &caller).await?;
    let mut builder = HttpResponse::Ok();
    builder.cookie(session_cookie(
        &issued.token,
        issued.expires_at,
        auth.now(),
        request.session.unwrap_or(false),
        **policy,
    ));
    let payload = AuthenticationTokenDto {
        token: Some(issued.token.expose().to_owned()),
        expires: Some(issued.expires_at),
        sms: true,
        phone_noise: Some(issued.phone_noise),
        tfa: false,
        ..Default::default()
    };
    Ok(envelope::ok_with(builder, &req, payload))
}

/// Check authentication
///
/// Whether the request carries a live session token (the `asc_auth_key` cookie or
/// `Authorization: <token>`, with or without `Bearer `).
#[utoipa::path(
    get,
    path = "/api/2.0/authentication",
    operation_id = "getIsAuthentificated",
    tag = "Authentication",
    responses(
        (status = 200, description = "`true` when the token is live.", body = BooleanWrapper,
            example = json!({"response": true, "count": 1,
                "links": [{"href": "http://127.0.0.1:8092/api/2.0/authentication", "action": "GET"}],
                "status": 0, "statusCode": 200})),
        (status = 500, description = "Unexpected failure.", body = ErrorApiResponse),
    )
)]
pub async fn get_is_authentificated(req: HttpRequest, auth: web::Data<AuthService>) -> Result<HttpResponse, Error> {
    let authenticated = match token_from_request(&req) {
        Some(token) => auth.session_user(&token).await?.is_some(),
        None => false,
    };
    Ok(envelope::ok(&req, authenticated))
}

/// Log out
///
/// Revokes the session of every token the request carries, the `asc_auth_key` cookie and
/// `Authorization` alike (up to 8), and clears the cookie. Answers 200 with a null payload whether
/// or not there was a live session.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication/logout",
    operation_id = "logout",
    tag = "Authentication",
    responses(
        (status = 200, description = "Logged out; the cookie is cleared.", body = StringWrapper,
            headers(("Set-Cookie" = String, description = "`asc_auth_key=; Max-Age=0; …`")),
            example = json!({"response": null, "count": 0,
                "links": [{"href": "http://127.0.0.1:8092/api/2.0/authentication/logout", "action": "POST"}],
                "status": 0, "statusCode": 200})),
        (status = 500, description = "Unexpected failure.", body = ErrorApiResponse),
    )
)]
pub async fn logout(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    policy: web::Data<CookiePolicy>,
) -> Result<HttpResponse, Error> {
    // Not only the token other operations would read: a session left in the cookie (or the
    // header) would outlive a logout the user asked for.
    for token in tokens_in_request(&req) {
        auth.logout(&token).await?;
    }
    let mut builder = HttpResponse::Ok();
    builder.cookie(removal_cookie(**policy));
    Ok(envelope::ok_with(builder, &req, None::<String>))
}

/// Log in
///
/// The password step of a login (or a login link's `confirmData`). Without a required second
/// factor (SMS two-factor off, or the client in a trusted IP range) the session starts at once:
/// `token`, and the `asc_auth_key` cookie. With SMS two-factor:
/// - the phone is activated, or an administrator set it: a code is sent (unless one is still
///   live) and the answer is `{sms: true, phoneNoise, expires, confirmUrl}` with a PhoneAuth link;
///   redeeming the code activates an administrator's phone;
/// - no phone, or only one the user chose and never confirmed: `{sms: true, confirmUrl}` with a
///   PhoneActivation link, whose query string authorises `setphone`; no SMS is sent.
///
/// Brute-force accounting is as for `sendsms`; a session clears the account's failures.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication",
    operation_id = "authenticateMe",
    tag = "Authentication",
    request_body(
        content = Option<AuthRequestsDto>,
        content_type = "application/json",
        description = "Authentication request parameters. `text/json` and `application/*+json` are accepted too.",
        example = json!({"userName": "alice@example.com", "passwordHash": "9c8b…(64 hex digits)", "culture": "en-US"})
    ),
    responses(
        (status = 200, description = "Logged in, or the next step of the login.", body = AuthenticationTokenWrapper,
            example = json!({"response": {"expires": "2026-11-29T10:10:00.123Z", "sms": true,
                "phoneNoise": "+1201***0123", "tfa": false,
                "confirmUrl": "http://127.0.0.1:8092/confirm/PhoneAuth?type=PhoneAuth&email=alice%40example.com&key=1795860000.Qm9…"},
                "count": 1, "links": [{"href": "http://127.0.0.1:8092/api/2.0/authentication", "action": "POST"}],
                "status": 0, "statusCode": 200})),
        (status = 400, description = "Invalid body or unsupported login provider.", body = ErrorApiResponse),
        (status = 401, description = "Unknown user, wrong password or missing credentials: one answer for all.", body = ErrorApiResponse),
        (status = 403, description = "The user is disabled, the CAPTCHA sent is wrong, the account wants a CAPTCHA (`CaptchaRequired`), or it is locked (`AccountLocked`).", body = ErrorApiResponse),
        (status = 404, description = "The `confirmData` key is invalid, expired, used, or its user unknown.", body = ErrorApiResponse),
        (status = 409, description = "An administrator changed the user's phone while the request was under way (`PhoneChanged`); nothing was sent. Try again.", body = ErrorApiResponse),
        (status = 413, description = "The body is larger than the cap.", body = ErrorApiResponse),
        (status = 415, description = "The body is not JSON.", body = ErrorApiResponse),
        (status = 429, description = "Too many live codes for this phone, too many attempts from this address for this account, or the account's wait after too many consecutive failures.", body = ErrorApiResponse),
        (status = 500, description = "Unexpected failure.", body = ErrorApiResponse),
        (status = 503, description = "No SMS provider is configured, the CAPTCHA could not be checked, or the server is busy.", body = ErrorApiResponse),
    )
)]
pub async fn authenticate_me(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    policy: web::Data<CookiePolicy>,
    proxies: web::Data<TrustedProxies>,
    body: JsonBody<AuthRequestsDto>,
) -> Result<HttpResponse, Error> {
    let request = body.0;
    let credentials = request.credentials()?;
    let caller = caller(&req, &proxies, &request);
    let step = auth.authenticate_me(&credentials, request.culture.as_deref(), &caller).await?;
    let mut builder = HttpResponse::Ok();
    let payload = match step {
        LoginStep::Session { token, expires_at } => {
            let browser_session = request.session.unwrap_or(false);
            builder.cookie(session_cookie(&token, expires_at, auth.now(), browser_session, **policy));
            AuthenticationTokenDto {
                token: Some(token.expose().to_owned()),
                expires: Some(expires_at),
                ..Default::default()
            }
        }
        LoginStep::EnterCode { phone_noise, expires_at, confirm_url } => AuthenticationTokenDto {
            expires: Some(expires_at),
            sms: true,
            phone_noise: Some(phone_noise),
            confirm_url: Some(confirm_url),
            ..Default::default()
        },
        LoginStep::SetPhone { confirm_url } => {
            AuthenticationTokenDto { sms: true, confirm_url: Some(confirm_url), ..Default::default() }
        }
    };
    Ok(envelope::ok_with(builder, &req, payload))
}

/// Set the mobile phone
///
/// Sets the phone of the user a PhoneActivation link was issued for, and sends it a code; the
/// phone counts as activated once that code logs in. Authorised by the link's query string in the
/// `confirm` header. Refused with 409: an activated phone (`PhoneAlreadyActivated`), a phone an
/// administrator set (`PhoneProvisioned`: it binds; the code goes to it), and a number another
/// user has activated (`PhoneInUse`). A number the user chose and never confirmed may be replaced.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication/setphone",
    operation_id = "saveMobilePhone",
    tag = "Authentication",
    params(("confirm" = String, Header, description = "The query string of the PhoneActivation link, e.g. `type=PhoneActivation&email=alice%40example.com&key=…`.")),
    request_body(
        content = Option<MobileRequestsDto>,
        content_type = "application/json",
        description = "The new phone. `text/json` and `application/*+json` are accepted too."
    ),
    responses(
        (status = 200, description = "The phone is set and a code sent to it.", body = AuthenticationTokenWrapper,
            example = json!({"response": {"expires": "2026-11-29T10:10:00.123Z", "sms": true,
                "phoneNoise": "+4474****3456", "tfa": false,
                "confirmUrl": "http://127.0.0.1:8092/confirm/PhoneAuth?type=PhoneAuth&email=alice%40example.com&key=1795860000.Qm9…"},
                "count": 1, "links": [{"href": "http://127.0.0.1:8092/api/2.0/authentication/setphone", "action": "POST"}],
                "status": 0, "statusCode": 200})),
        (status = 400, description = "Invalid body, or not a valid mobile number (`InvalidPhone`).", body = ErrorApiResponse,
            example = json!({"error": {"message": "the phone number is not a mobile number (fixed line); SMS codes can only go to mobile phones",
                "type": "InvalidPhone", "stack": null, "hresult": 0}, "status": 1, "statusCode": 400})),
        (status = 401, description = "The `confirm` header is missing, invalid or expired.", body = ErrorApiResponse,
            example = json!({"error": {"message": "The confirmation link is invalid or has expired",
                "type": "InvalidConfirmKey", "stack": null, "hresult": 0}, "status": 1, "statusCode": 401})),
        (status = 403, description = "The user is disabled.", body = ErrorApiResponse),
        (status = 409, description = "The user's phone is activated (`PhoneAlreadyActivated`) or was set by an administrator (`PhoneProvisioned`), or another user has activated this number (`PhoneInUse`).", body = ErrorApiResponse,
            example = json!({"error": {"message": "The mobile phone was set by an administrator; it cannot be replaced this way",
                "type": "PhoneProvisioned", "stack": null, "hresult": 0}, "status": 1, "statusCode": 409})),
        (status = 413, description = "The body is larger than the cap.", body = ErrorApiResponse),
        (status = 415, description = "The body is not JSON.", body = ErrorApiResponse),
        (status = 429, description = "Too many live codes for this phone, an hourly send cap reached (a number several accounts may have chosen has a cap of its own), or too many refused attempts from this address for this user.", body = ErrorApiResponse),
        (status = 500, description = "Unexpected failure.", body = ErrorApiResponse),
        (status = 503, description = "No SMS provider is configured.", body = ErrorApiResponse),
    )
)]
pub async fn save_mobile_phone(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    proxies: web::Data<TrustedProxies>,
    body: JsonBody<MobileRequestsDto>,
) -> Result<HttpResponse, Error> {
    let confirm = req.headers().get("confirm").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let phone = body.0.mobile_phone.unwrap_or_default();
    let caller = Caller::from_addr(client_ip::from_request(&req, &proxies));
    let set = auth.save_mobile_phone(confirm, &phone, None, &caller).await?;
    let payload = AuthenticationTokenDto {
        expires: Some(set.expires_at),
        sms: true,
        phone_noise: Some(set.phone_noise),
        confirm_url: Some(set.confirm_url),
        ..Default::default()
    };
    Ok(envelope::ok(&req, payload))
}

/// Check a confirmation link
///
/// Whether a confirmation link's key is valid for its type and email, without using it.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication/confirm",
    operation_id = "checkConfirm",
    tag = "Authentication",
    request_body(
        content = Option<EmailValidationKeyModel>,
        content_type = "application/json",
        description = "The link's `type`, `email`, `key` (and `first` for Auth links)."
    ),
    responses(
        (status = 200, description = "`result`: 0 Ok, 1 Invalid, 2 Expired.", body = ConfirmWrapper,
            example = json!({"response": {"result": 0, "email": "alice@example.com"}, "count": 1,
                "links": [{"href": "http://127.0.0.1:8092/api/2.0/authentication/confirm", "action": "POST"}],
                "status": 0, "statusCode": 200})),
        (status = 400, description = "Invalid body.", body = ErrorApiResponse),
        (status = 413, description = "The body is larger than the cap.", body = ErrorApiResponse),
        (status = 415, description = "The body is not JSON.", body = ErrorApiResponse),
        (status = 500, description = "Unexpected failure.", body = ErrorApiResponse),
    )
)]
pub async fn check_confirm(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    body: JsonBody<EmailValidationKeyModel>,
) -> Result<HttpResponse, Error> {
    let model = body.0;
    let email = model.email.unwrap_or_default();
    let check = auth
        .check_confirm(
            model.kind.as_deref().unwrap_or_default(),
            &email,
            model.key.as_deref().unwrap_or_default(),
            model.first.unwrap_or(false),
        )
        .await?;
    let result = match check {
        KeyCheck::Ok => ValidationResult::Ok,
        KeyCheck::Invalid => ValidationResult::Invalid,
        KeyCheck::Expired => ValidationResult::Expired,
    };
    Ok(envelope::ok(&req, ConfirmDto { result, email: (!email.is_empty()).then_some(email) }))
}
