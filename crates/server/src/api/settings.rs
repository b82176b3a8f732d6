//! `GET /api/2.0/settings`: what a login page needs before it can log anyone in.

use actix_web::{HttpRequest, HttpResponse, web};

use super::dto::{PasswordHasherDto, RecaptchaType, SettingsDto, SettingsWrapper};
use super::envelope;
use super::envelope::ErrorApiResponse;
use crate::auth::AuthService;
use crate::captcha::CaptchaKind;

/// Get the portal settings
///
/// A subset of DocSpace's portal settings: `passwordHash` publishes how clients compute the
/// `passwordHash` field of login requests; `recaptchaType` and `recaptchaPublicKey` (when a
/// CAPTCHA is configured) what to show a person after too many failed logins.
#[utoipa::path(
    get,
    path = "/api/2.0/settings",
    operation_id = "getPortalSettings",
    tag = "Settings",
    responses(
        (status = 200, description = "The portal settings.", body = SettingsWrapper,
            example = json!({"response": {"passwordHash": {"size": 256, "iterations": 100000,
                "salt": "4c1d5e8f0a2b3c6d7e9f0a1b2c3d4e5f"}, "culture": "en-US", "docSpace": true,
                "standalone": true}, "count": 1,
                "links": [{"href": "http://127.0.0.1:8092/api/2.0/settings", "action": "GET"}],
                "status": 0, "statusCode": 200})),
        (status = 500, description = "Unexpected failure.", body = ErrorApiResponse),
    )
)]
pub async fn get_portal_settings(req: HttpRequest, auth: web::Data<AuthService>) -> HttpResponse {
    let params = auth.hash_params();
    let captcha = auth.captcha_for_clients();
    envelope::ok(
        &req,
        SettingsDto {
            password_hash: PasswordHasherDto {
                size: params.size_bits,
                iterations: params.iterations,
                salt: params.salt.clone(),
            },
            culture: "en-US".into(),
            doc_space: true,
            standalone: true,
            recaptcha_type: captcha.map(|(kind, _)| match kind {
                CaptchaKind::Hcaptcha => RecaptchaType::HCaptcha,
                CaptchaKind::Recaptcha => RecaptchaType::Default,
            }),
            recaptcha_public_key: captcha.map(|(_, key)| key.to_owned()),
        },
    )
}
