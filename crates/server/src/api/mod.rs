//! The HTTP edge: routes, request parsing, envelopes. Rules live in [`crate::auth`].

pub mod authentication;
pub mod body;
pub mod dto;
pub mod envelope;
pub mod error;
pub mod fields;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod receipts;
pub mod session;
pub mod settings;

use actix_web::http::Method;
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{HttpResponse, Route, web};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::Error;

/// Provider callbacks are small forms.
const RECEIPT_BODY_LIMIT: usize = 16 * 1024;

/// Where the server's OpenAPI document is served.
pub const OPENAPI_JSON_PATH: &str = "/openapi.json";

async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::NotFound)
}

/// 405 in the error envelope, with the `Allow` header RFC 9110 asks for.
fn method_not_allowed(allow: HeaderValue) -> HttpResponse {
    let mut response = Error::MethodNotAllowed.into_response();
    response.headers_mut().insert(ALLOW, allow);
    response
}

async fn swagger_ui_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("Location", "/swagger-ui/")).finish()
}

/// A resource answering `routes`, each for its method; any other method is answered 405 with an
/// `Allow` header made from the same list, so the two cannot disagree.
fn resource<const N: usize>(path: &str, routes: [(Method, Route); N]) -> actix_web::Resource {
    let allow = routes.iter().map(|(method, _)| method.as_str()).collect::<Vec<_>>().join(", ");
    let allow = HeaderValue::from_str(&allow).expect("method names are header-safe");
    let resource = routes.into_iter().fold(web::resource(path), |r, (method, route)| r.route(route.method(method)));
    resource.default_service(web::to(move || std::future::ready(method_not_allowed(allow.clone()))))
}

/// Every route of the API, Swagger UI and the document.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use Method as M;
    cfg.service(resource("/api/2.0/authentication/sendsms", [(M::POST, web::to(authentication::send_sms_code))]))
        .service(resource("/api/2.0/authentication/setphone", [(M::POST, web::to(authentication::save_mobile_phone))]))
        .service(resource("/api/2.0/authentication/confirm", [(M::POST, web::to(authentication::check_confirm))]))
        .service(resource("/api/2.0/authentication/logout", [(M::POST, web::to(authentication::logout))]))
        // After every literal segment under /authentication/: those win over `{code}`.
        .service(resource(
            "/api/2.0/authentication/{code}",
            [(M::POST, web::to(authentication::authenticate_me_from_body_with_code))],
        ))
        .service(resource(
            "/api/2.0/authentication",
            [
                (M::GET, web::to(authentication::get_is_authentificated)),
                (M::POST, web::to(authentication::authenticate_me)),
            ],
        ))
        .service(resource("/api/2.0/settings", [(M::GET, web::to(settings::get_portal_settings))]))
        .service(resource("/health", [(M::GET, web::to(health::get_health))]))
        .service(resource("/metrics", [(M::GET, web::to(metrics::get_metrics))]))
        .service(
            resource(receipts::TWILIO_PATH, [(M::POST, web::to(receipts::twilio_status))])
                .app_data(web::PayloadConfig::new(RECEIPT_BODY_LIMIT)),
        )
        .service(SwaggerUi::new("/swagger-ui/{_:.*}").url(OPENAPI_JSON_PATH, openapi::document()))
        .route("/swagger-ui", web::get().to(swagger_ui_redirect));
}

/// The answer for addresses no route matches.
pub fn default_service() -> actix_web::Route {
    web::to(not_found)
}
