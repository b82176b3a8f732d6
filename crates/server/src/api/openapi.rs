//! The OpenAPI document derived from the handlers. `cargo xtask openapi check` proves it equals
//! the checked-in `openapi/docspace-auth.json`.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

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
    modifiers(&DatabaseOutage),
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

/// Every operation that reads or writes the database may answer 503 `DatabaseUnavailable`; said
/// once here rather than on each handler.
struct DatabaseOutage;

const DATABASE_UNAVAILABLE: &str = "The database cannot be used: PostgreSQL unreachable for \
`database_timeout_ms`, or SQLite unwritable or locked by another program for 10 s \
(`DatabaseUnavailable`, `Retry-After: 1`); the request may be repeated.";

impl Modify for DatabaseOutage {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // The portal settings are read at start-up; every other route touches the database.
            if path == "/api/2.0/settings" {
                continue;
            }
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                add_database_unavailable(operation);
            }
        }
    }
}

fn add_database_unavailable(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut("503") {
        Some(RefOr::T(response)) if !response.description.contains("DatabaseUnavailable") => {
            response.description = format!("{} Or: {DATABASE_UNAVAILABLE}", response.description);
        }
        Some(_) => {}
        None => {
            let content = Content::new(Some(Ref::from_schema_name("ErrorApiResponse")));
            let response =
                ResponseBuilder::new().description(DATABASE_UNAVAILABLE).content("application/json", content).build();
            responses.insert("503".to_owned(), RefOr::T(response));
        }
    }
}
