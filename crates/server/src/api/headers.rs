//! Security headers on every answer, errors included.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use super::session::CookiePolicy;

/// Sessions and codes pass through here: no cache, shared or private, may keep an answer.
const AUTHENTICATION_PREFIX: &str = "/api/2.0/authentication";
const SWAGGER_UI_PREFIX: &str = "/swagger-ui";

/// A year: browsers then refuse plain http to this host for that long.
const HSTS: &str = "max-age=31536000";

/// Swagger UI loads its scripts, styles and the document from this server only and may not be
/// framed. It has no inline script; its CSS embeds `data:` images; it sets element styles from
/// script (which CSP allows). The one inline `<style>`, the logo's colours, is allowed by its hash
/// (a test checks the vendored Swagger UI still has exactly that one).
const SWAGGER_UI_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` everywhere,
/// `Strict-Transport-Security` when the public URL is https, `Cache-Control: no-store` under
/// `/api/2.0/authentication` and a Content-Security-Policy on Swagger UI.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The path the router matches (percent-decoded), not the raw one, so that an encoded
    // spelling of the same address gets the same headers.
    let path = req.match_info().as_str().to_owned();
    let https = req.app_data::<web::Data<CookiePolicy>>().is_some_and(|p| p.secure);
    // Errors of handlers and extractors are answers by now; nothing inside passes up an `Err`.
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| headers.insert(name, HeaderValue::from_static(value));
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    if https {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if under(&path, AUTHENTICATION_PREFIX) {
        set(header::CACHE_CONTROL, "no-store");
    }
    if under(&path, SWAGGER_UI_PREFIX) {
        set(header::CONTENT_SECURITY_POLICY, SWAGGER_UI_CSP);
    }
    Ok(res)
}

/// `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_matches_whole_segments_only() {
        assert!(under("/api/2.0/authentication", AUTHENTICATION_PREFIX));
        assert!(under("/api/2.0/authentication/logout", AUTHENTICATION_PREFIX));
        assert!(!under("/api/2.0/authenticationx", AUTHENTICATION_PREFIX));
        assert!(!under("/api/2.0/settings", AUTHENTICATION_PREFIX));
    }
}
