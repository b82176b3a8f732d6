//! What every HTTP provider shares: one client per provider with its timeout, and the mapping of
//! transport failures and HTTP statuses onto [`SendError`]. Provider modules add the parsing of
//! their own error bodies (several report errors inside a 200).

use std::time::Duration;

use reqwest::StatusCode;
use url::Url;

use super::{Delivery, SendError};

/// Default time a provider gets to answer one request.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

pub fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// A client for one provider: its timeout covers connecting, sending and reading the answer. It
/// follows no redirect: a 307 or 308 would post the credentials and the SMS again to wherever
/// `Location` points. A 3xx answer is a refusal like any other non-2xx ([`status_error`]).
pub fn client(timeout_ms: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(timeout_ms.max(1)))
        .connect_timeout(Duration::from_millis(timeout_ms.clamp(1, 5_000)))
        .user_agent(concat!("docspace-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// `base` with `path` appended (`base` may or may not end in `/`).
pub fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", url.path().trim_end_matches('/'), path.trim_start_matches('/'));
    url.set_path(&joined);
    url
}

/// The request never got an answer: timeouts, refused connections and broken answers are
/// worth another try, later or elsewhere. The URL is left out: some providers put keys in it.
pub fn transport_error(provider: &str, error: &reqwest::Error) -> SendError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_decode() || error.is_body() {
        "sent an unreadable answer"
    } else {
        "request failed"
    };
    SendError::Unavailable(format!("{provider}: {what}"))
}

/// An HTTP error status without a more specific reading of its body: throttling and server
/// errors pass, authentication and other refusals need people to act.
pub fn status_error(provider: &str, status: StatusCode, detail: &str) -> SendError {
    let detail = brief(detail);
    let message =
        format!("{provider}: HTTP {}{}", status.as_u16(), if detail.is_empty() { "" } else { ": " }) + &detail;
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => SendError::Unavailable(message),
        s if s.is_server_error() => SendError::Unavailable(message),
        _ => SendError::Rejected(message),
    }
}

/// Provider text trimmed for `last_error` and logs: one line, bounded.
pub fn brief(text: &str) -> String {
    const MAX: usize = 200;
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// Reads an answer body as JSON; an unreadable one is the provider's fault (worth a retry).
pub async fn json_body(provider: &str, response: reqwest::Response) -> Result<serde_json::Value, SendError> {
    let bytes = response.bytes().await.map_err(|e| transport_error(provider, &e))?;
    serde_json::from_slice(&bytes).map_err(|_| {
        SendError::Unavailable(format!("{provider}: answer is not JSON: {}", brief(&String::from_utf8_lossy(&bytes))))
    })
}

/// Sends a request and reads its answer: the status, and the body as JSON (or why it is not).
/// Only a request that got no answer at all is an error here.
pub async fn exchange(
    provider: &str,
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, Result<serde_json::Value, SendError>), SendError> {
    let response = request.send().await.map_err(|e| transport_error(provider, &e))?;
    let status = response.status();
    Ok((status, json_body(provider, response).await))
}

/// A provider's own error code, as the [`SendError`] variant (`SendError::Recipient`, ...) that
/// says what it means for the message; the detail is trimmed with [`brief`].
pub fn coded_error(
    provider: &str,
    code: impl std::fmt::Display,
    detail: &str,
    kind: fn(String) -> SendError,
) -> SendError {
    let detail = brief(detail);
    kind(format!("{provider}: error {code}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") }))
}

/// A 2xx answer that took the message: with the gateway's id for it, or without one when the
/// answer did not say (logged). Never an error: sending again would send the SMS twice.
pub fn accepted(provider: &'static str, provider_message_id: Option<String>) -> Result<Delivery, SendError> {
    if provider_message_id.is_none() {
        tracing::warn!(provider, "the gateway accepted a message without naming its id");
    }
    Ok(Delivery { provider, provider_message_id })
}

/// A JSON string or number as text: gateways disagree on which they send for ids.
pub fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON integer, or a string holding one (`"status": "0"`): gateways disagree on which they
/// send for codes.
pub fn json_code(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_joins_paths_whatever_the_slashes() {
        let base = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(endpoint(&base, "/a/b.json").as_str(), "http://127.0.0.1:9/prefix/a/b.json");
        let base = Url::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(endpoint(&base, "messages").as_str(), "http://127.0.0.1:9/messages");
    }

    #[tokio::test]
    async fn the_client_follows_no_redirect_and_a_3xx_is_a_refusal() {
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let elsewhere = MockServer::start().await;
        Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(200)).mount(&elsewhere).await;
        for status in [301, 302, 303, 307, 308] {
            let gateway = MockServer::start().await;
            let redirect = ResponseTemplate::new(status).insert_header("Location", format!("{}/x", elsewhere.uri()));
            Mock::given(wiremock::matchers::any()).respond_with(redirect).mount(&gateway).await;
            let answer = client(2_000).post(gateway.uri()).body("secret").send().await.unwrap();
            assert_eq!(answer.status().as_u16(), status);
            assert!(matches!(status_error("p", answer.status(), ""), SendError::Rejected(_)), "{status}");
        }
        assert!(elsewhere.received_requests().await.unwrap().is_empty(), "a redirect was followed");
    }

    #[test]
    fn statuses_map_to_what_can_be_done_about_them() {
        assert!(matches!(status_error("p", StatusCode::TOO_MANY_REQUESTS, ""), SendError::Unavailable(_)));
        assert!(matches!(status_error("p", StatusCode::BAD_GATEWAY, ""), SendError::Unavailable(_)));
        assert!(matches!(status_error("p", StatusCode::UNAUTHORIZED, ""), SendError::Rejected(_)));
        assert_eq!(
            status_error("p", StatusCode::FORBIDDEN, "no\n  way").to_string(),
            "provider refused: p: HTTP 403: no way"
        );
        assert_eq!(brief(&"x".repeat(300)).chars().count(), 201);
    }

    #[test]
    fn codes_and_ids_read_as_strings_or_numbers() {
        use serde_json::json;
        assert_eq!(json_code(&json!("29")), Some(29));
        assert_eq!(json_code(&json!(7)), Some(7));
        assert_eq!(json_code(&json!("x")), None);
        assert_eq!(json_text(&json!(123)), Some("123".into()));
        assert_eq!(json_text(&json!("0C00")), Some("0C00".into()));
        assert_eq!(json_text(&json!("")), None);
        assert_eq!(coded_error("p", 7, "", SendError::Recipient).to_string(), "recipient refused: p: error 7");
        assert_eq!(
            coded_error("p", 4, "bad\nkey", SendError::Rejected).to_string(),
            "provider refused: p: error 4: bad key"
        );
    }
}
