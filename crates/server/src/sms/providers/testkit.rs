//! Shared pieces of the provider tests: a message, fake gateways, reading what they received, and
//! the checks every provider's errors must pass.

use std::collections::HashMap;

use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::phone::MobilePhone;
use crate::sms::{SendError, SmsMessage, SmsProvider};

/// Short, so the timeout cases stay quick; the fakes that answer "too late" wait longer.
pub const TIMEOUT_MS: u64 = 300;
pub const TOO_LATE: std::time::Duration = std::time::Duration::from_millis(1_500);

/// A message to a UK mobile, with a text that needs UTF-8 (the Cyrillic word and the dash).
pub fn message() -> SmsMessage {
    SmsMessage {
        id: uuid::Uuid::parse_str("0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b").unwrap(),
        to: MobilePhone::parse("+44 7400 123456").unwrap(),
        text: "Код: 123456 — DocSpace".into(),
        created_at: chrono::Utc::now(),
    }
}

pub fn base_url(server: &MockServer) -> Url {
    Url::parse(&server.uri()).unwrap()
}

/// The one request the fake received.
pub async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len(), 1, "exactly one request: {requests:?}");
    requests.remove(0)
}

/// A form-encoded body as a map (each key once).
pub fn form(request: &Request) -> HashMap<String, String> {
    assert_eq!(header(request, "content-type"), "application/x-www-form-urlencoded");
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

pub fn header(request: &Request, name: &str) -> String {
    request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

pub fn json(request: &Request) -> serde_json::Value {
    assert!(header(request, "content-type").starts_with("application/json"), "{:?}", request.headers);
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// A fake gateway answering every `POST` to `at` with `response`.
pub async fn gateway(at: &str, response: ResponseTemplate) -> MockServer {
    gateway_for("POST", at, response).await
}

/// A fake gateway answering every `http_method` request to `at` with `response`.
pub async fn gateway_for(http_method: &str, at: &str, response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method(http_method)).and(path(at)).respond_with(response).mount(&server).await;
    server
}

/// Checks that an error names its kind and leaks neither the SMS text, nor the number (both hold
/// `123456`), nor any of `secrets`.
pub fn assert_error(error: &SendError, kind: &str, secrets: &[&str]) {
    assert_eq!(error.kind(), kind, "{error}");
    let text = error.to_string();
    assert!(!text.contains("123456") && !text.contains("Код"), "no SMS text or number in errors: {text}");
    for secret in secrets {
        assert!(!text.contains(secret), "no secret in errors: {text}");
    }
}

/// Each answer from a fresh fake gateway at `at`, sent through the provider `make` builds for it,
/// must fail with the paired kind (`"unavailable"`, `"rejected"`, `"destination"`, `"recipient"`), see
/// [`assert_error`].
pub async fn assert_classified<P: SmsProvider>(
    at: &str,
    cases: Vec<(ResponseTemplate, &str)>,
    make: impl Fn(&MockServer) -> P,
    secrets: &[&str],
) {
    for (case, (response, kind)) in cases.into_iter().enumerate() {
        let server = gateway(at, response).await;
        match make(&server).send(&message()).await {
            Ok(delivery) => panic!("case {case}: expected a {kind} error, got {delivery:?}"),
            Err(error) => assert_error(&error, kind, secrets),
        }
    }
}

/// A gateway that answers only after the provider's timeout: the message is worth another try.
pub async fn assert_times_out<P: SmsProvider>(at: &str, make: impl Fn(&MockServer) -> P) {
    let server = gateway(at, ResponseTemplate::new(200).set_delay(TOO_LATE)).await;
    let provider = make(&server);
    let error = provider.send(&message()).await.unwrap_err();
    assert_eq!(error, SendError::Unavailable(format!("{}: timed out", provider.name())));
}
