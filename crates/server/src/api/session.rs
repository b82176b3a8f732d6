//! The session at the HTTP edge: the `asc_auth_key` cookie and reading the token back.

use actix_web::HttpRequest;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::AUTHORIZATION;
use chrono::{DateTime, Utc};

use crate::session::{COOKIE_NAME, SessionToken};

/// How session cookies are set; app data.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// `Secure` attribute: on when the public URL is https.
    pub secure: bool,
}

/// The session cookie: HttpOnly, SameSite=Strict, for the whole site. A browser-session cookie
/// (no Max-Age) when the login asked for `session: true`.
pub fn session_cookie(
    token: &SessionToken,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    browser_session: bool,
    policy: CookiePolicy,
) -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE_NAME, token.expose().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(policy.secure)
        .finish();
    if !browser_session {
        cookie.set_max_age(CookieDuration::seconds((expires_at - now).num_seconds().max(0)));
    }
    cookie
}

/// A cookie that makes the browser forget the session.
pub fn removal_cookie(policy: CookiePolicy) -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE_NAME, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(policy.secure)
        .finish();
    cookie.make_removal();
    cookie
}

/// The token the client sent: `Authorization` (with or without `Bearer `) or the cookie.
pub fn token_from_request(req: &HttpRequest) -> Option<SessionToken> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(SessionToken::from_client)
        .or_else(|| req.cookie(COOKIE_NAME).and_then(|c| SessionToken::from_client(c.value())))
}
