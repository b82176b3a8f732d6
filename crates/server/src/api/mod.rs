//! The HTTP edge: routes, request parsing, envelopes. Rules live in [`crate::auth`].

pub mod authentication;
pub mod body;
pub mod dto;
pub mod envelope;
pub mod error;
pub mod health;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod receipts;
pub mod session;
pub mod settings;

use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::Error;

/// Provider callbacks are small forms.
const RECEIPT_BODY_LIMIT: usize = 16 * 1024;

/// Where the server's OpenAPI document is served.
pub const OPENAPI_JSON_PATH: &str = "/openapi.json";

async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::NotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, Error> {
    Err(Error::MethodNotAllowed)
}

async fn swagger_ui_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("Location", "/swagger-ui/")).finish()
}

/// A resource whose methods not routed answer 405 in the error envelope.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Every route of the API, Swagger UI and the document.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/2.0/authentication/sendsms").route(web::post().to(authentication::send_sms_code)))
        .service(resource("/api/2.0/authentication/setphone").route(web::post().to(authentication::save_mobile_phone)))
        .service(resource("/api/2.0/authentication/confirm").route(web::post().to(authentication::check_confirm)))
        .service(resource("/api/2.0/authentication/logout").route(web::post().to(authentication::logout)))
        // After every literal segment under /authentication/: those win over `{code}`.
        .service(
            resource("/api/2.0/authentication/{code}")
                .route(web::post().to(authentication::authenticate_me_from_body_with_code)),
        )
        .service(
            resource("/api/2.0/authentication")
                .route(web::get().to(authentication::get_is_authentificated))
                .route(web::post().to(authentication::authenticate_me)),
        )
        .service(resource("/api/2.0/settings").route(web::get().to(settings::get_portal_settings)))
        .service(resource("/health").route(web::get().to(health::get_health)))
        .service(resource("/metrics").route(web::get().to(metrics::get_metrics)))
        .service(
            resource(receipts::TWILIO_PATH)
                .app_data(web::PayloadConfig::new(RECEIPT_BODY_LIMIT))
                .route(web::post().to(receipts::twilio_status)),
        )
        .service(SwaggerUi::new("/swagger-ui/{_:.*}").url(OPENAPI_JSON_PATH, openapi::document()))
        .route("/swagger-ui", web::get().to(swagger_ui_redirect));
}

/// The answer for addresses no route matches.
pub fn default_service() -> actix_web::Route {
    web::to(not_found)
}
