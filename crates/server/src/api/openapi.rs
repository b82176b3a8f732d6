//! The OpenAPI document derived from the handlers. `cargo xtask openapi check` proves it equals
//! the checked-in `openapi/docspace-auth.json`.

use utoipa::OpenApi;

use super::dto::*;
use super::envelope::{ErrorApiResponse, ErrorDetail, Link};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "docspace-auth",
        version = "1.0.0",
        description = "The Authentication group of the ONLYOFFICE DocSpace API, centred on Send SMS code. \
Wire-compatible with DocSpace's clients and SDKs. Every 200 body is the success envelope \
`{response, count, links, status, statusCode}`; every error is the error envelope \
`{error: {message, type, stack, hresult}, status, statusCode}` with a stable `type`; messages \
name the field at fault, never the value sent. Answers under `/api/2.0/authentication` are \
`Cache-Control: no-store`; a 405 lists the address's methods in `Allow`.",
        license(name = "Apache-2.0")
    ),
    paths(
        super::authentication::send_sms_code,
        super::authentication::authenticate_me,
        super::authentication::save_mobile_phone,
        super::authentication::check_confirm,
        super::authentication::authenticate_me_from_body_with_code,
        super::authentication::get_is_authentificated,
        super::authentication::logout,
        super::settings::get_portal_settings,
        super::health::get_health,
    ),
    components(schemas(
        AuthRequestsDto,
        LoginProvider,
        BoolOrString,
        ConfirmData,
        RecaptchaType,
        AuthenticationTokenDto,
        AuthenticationTokenWrapper,
        SettingsDto,
        SettingsWrapper,
        PasswordHasherDto,
        HealthDto,
        HealthWrapper,
        BooleanWrapper,
        MobileRequestsDto,
        EmailValidationKeyModel,
        ValidationResult,
        ConfirmDto,
        ConfirmWrapper,
        StringWrapper,
        Link,
        ErrorApiResponse,
        ErrorDetail,
    )),
    tags(
        (name = "Authentication", description = "Logging in with a password and an SMS code."),
        (name = "Settings", description = "Portal settings a login page needs."),
        (name = "Operations", description = "Running the service."),
    )
)]
pub struct ApiDoc;

/// The server's own document (OpenAPI 3.1, as utoipa emits it).
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
