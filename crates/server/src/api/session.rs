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
    /// `Secure` attribute: on when the public URL is https (which also turns on
    /// `Strict-Transport-Security`, see [`super::headers`]).
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

/// At most this many tokens of one request are revoked: more than any client sends, few enough
/// that one request cannot make many database writes.
const MAX_TOKENS_REVOKED: usize = 8;

/// Every token the request carries, for logout to revoke them all: each `Authorization` value and
/// each `asc_auth_key` cookie (a client can hold a session in both, or two sessions), without
/// repeats, at most [`MAX_TOKENS_REVOKED`].
pub fn tokens_in_request(req: &HttpRequest) -> Vec<SessionToken> {
    let from_headers = req.headers().get_all(AUTHORIZATION).filter_map(|v| v.to_str().ok()).map(str::to_owned);
    let cookies = req.cookies().map(|c| c.clone()).unwrap_or_default();
    let from_cookies = cookies.iter().filter(|c| c.name() == COOKIE_NAME).map(|c| c.value().to_owned());
    let mut tokens: Vec<SessionToken> = Vec::new();
    for token in from_headers.chain(from_cookies).filter_map(|v| SessionToken::from_client(&v)) {
        if !tokens.contains(&token) && tokens.len() < MAX_TOKENS_REVOKED {
            tokens.push(token);
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn every_token_of_a_request_once_and_at_most_eight() {
        let req = TestRequest::default()
            .append_header((AUTHORIZATION, "Bearer a"))
            .append_header((AUTHORIZATION, "b"))
            .append_header((AUTHORIZATION, "Basic not-ours"))
            .append_header(("Cookie", "theme=dark; asc_auth_key=c; asc_auth_key=a"));
        let tokens =
            |req: &HttpRequest| tokens_in_request(req).iter().map(|t| t.expose().to_owned()).collect::<Vec<_>>();
        assert_eq!(tokens(&req.to_http_request()), ["a", "b", "c"]);
        let mut many = TestRequest::default();
        for i in 0..20 {
            many = many.append_header((AUTHORIZATION, format!("t{i}")));
        }
        assert_eq!(tokens(&many.to_http_request()).len(), MAX_TOKENS_REVOKED);
    }
}

/// Property tests: `Authorization` and `Cookie` are untrusted header bytes.
#[cfg(test)]
mod properties {
    use actix_web::http::header::{COOKIE, HeaderValue};
    use actix_web::test::TestRequest;
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::session::properties::{bearer, token};

    fn request(authorization: Option<&HeaderValue>, cookie: Option<&HeaderValue>) -> HttpRequest {
        let mut req = TestRequest::default();
        if let Some(value) = authorization {
            req = req.insert_header((AUTHORIZATION, value.clone()));
        }
        if let Some(value) = cookie {
            req = req.insert_header((COOKIE, value.clone()));
        }
        req.to_http_request()
    }

    /// Header bytes: printable ASCII, tab, 0x80-0xFF and control bytes (values with bytes that no
    /// header may carry are dropped, i.e. the header is absent).
    fn header_bytes() -> impl Strategy<Value = Option<HeaderValue>> {
        let byte = prop_oneof![4 => 0x20u8..0x7f, 1 => 0x80u8..=0xff, 1 => any::<u8>()];
        let raw = vec(byte, 0..80);
        prop_oneof![
            raw.clone().prop_map(|b| HeaderValue::from_bytes(&b).ok()),
            (bearer(), raw.clone())
                .prop_map(|(scheme, b)| HeaderValue::from_bytes(&[scheme.as_bytes(), b" ", &b].concat()).ok()),
            raw.prop_map(|b| HeaderValue::from_bytes(&[&b"a=1; asc_auth_key="[..], &b].concat()).ok()),
            "(a=1; )?asc_auth_key=[!-:<-~]{0,60}(; b=2)?".prop_map(|c| HeaderValue::from_str(&c).ok()),
        ]
    }

    /// `%XX` sequences decoded, as cookie values are read.
    fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).filter(|h| bytes[i] == b'%' && h.iter().all(u8::is_ascii_hexdigit));
            match hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(crate::api::dto::properties::config())]

        /// Arbitrary `Authorization` and `Cookie` bytes never panic; a usable `Authorization` wins,
        /// and otherwise a token can only be one that the `Cookie` header carries.
        #[test]
        fn tokens_come_only_from_the_headers(authorization in header_bytes(), cookie in header_bytes()) {
            let found = token_from_request(&request(authorization.as_ref(), cookie.as_ref()));
            let from_authorization =
                authorization.as_ref().and_then(|v| v.to_str().ok()).and_then(SessionToken::from_client);
            match (found, from_authorization) {
                (found, Some(expected)) => prop_assert_eq!(found, Some(expected)),
                (Some(token), None) => {
                    let t = token.expose().as_bytes();
                    prop_assert!(!t.is_empty() && t.len() <= 256);
                    let contains = |bytes: &[u8]| bytes.windows(t.len()).any(|w| w == t);
                    // Cookie values are read percent-decoded.
                    let carried = cookie.as_ref().is_some_and(|c| contains(c.as_bytes()) || contains(&percent_decoded(c.as_bytes())));
                    prop_assert!(carried, "{:?} not in the cookie", token.expose());
                }
                (None, None) => {}
            }
        }

        /// A generated token round-trips through `Authorization: <token>`, `Authorization: Bearer
        /// <token>` (winning over another token's cookie) and the `asc_auth_key` cookie (also beside
        /// an unusable `Authorization`).
        #[test]
        fn tokens_round_trip_through_headers_and_cookie(
            token in token(),
            other in token(),
            bearer in bearer(),
            junk in header_bytes(),
        ) {
            let value = |s: String| HeaderValue::from_str(&s).expect("a header value");
            let expected = Some(token.as_str());
            let other_cookie = value(format!("{COOKIE_NAME}={other}"));
            for authorization in [token.clone(), format!("{bearer} {token}")] {
                let found = token_from_request(&request(Some(&value(authorization.clone())), None));
                prop_assert_eq!(found.as_ref().map(SessionToken::expose), expected);
                let found = token_from_request(&request(Some(&value(authorization)), Some(&other_cookie)));
                prop_assert_eq!(found.as_ref().map(SessionToken::expose), expected);
            }
            let cookie = value(format!("theme=dark; {COOKIE_NAME}={token}; lang=en"));
            let junk = junk.filter(|v| v.to_str().ok().and_then(SessionToken::from_client).is_none());
            let found = token_from_request(&request(junk.as_ref(), Some(&cookie)));
            prop_assert_eq!(found.as_ref().map(SessionToken::expose), expected);
        }
    }
}
