//! Vonage (formerly Nexmo) SMS API: `POST /sms/json`, form-encoded, authenticated by the account's
//! `api_key` and `api_secret` in the form body (never in the URL). The number goes as digits
//! without `+`; a text that is not plain ASCII goes with `type=unicode`, else Vonage sends it as
//! GSM text. Vonage answers 200 even when it refuses the message: every part in `messages` has a
//! `status` (`"0"` is accepted; anything else is an error, with `error-text`).
//!
//! The message id goes as `client-ref`, a reference Vonage only echoes in delivery receipts: it
//! does not de-duplicate on it, so a retry after a crash mid-request can send twice. A long text
//! is split into parts, each with its own status; when one part fails the whole message counts as
//! failed, although earlier parts may already be on their way.
//!
//! Statuses (see [`classify`]): 1, 5 and 10 (throttled, Vonage's trouble) are worth another try.
//! 7 and 33 (number barred, de-activated) refuse the number itself. Vonage will not send to this
//! one number for 6 (it does not know the number's prefix), 15 (our sender is not allowed in the
//! destination's country, mostly the US and Canada), 22 (no network for it) and 29 (a demo
//! account sends only to its whitelisted numbers): another provider may. Everything else
//! (parameters, credentials, account barred, no credit, ...) refuses us.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::config::SecretText;
use crate::sms::{Delivery, SendError, SmsMessage, SmsProvider, http};

pub const NAME: &str = "vonage";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VonageSettings {
    pub api_key: String,
    pub api_secret: SecretText,
    /// Sender: a number in international form without `+`, or an alphanumeric sender id where
    /// the destination country allows one.
    pub from: String,
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    #[serde(default = "http::default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    Url::parse("https://rest.nexmo.com").expect("valid URL")
}

pub struct Vonage {
    settings: VonageSettings,
    client: reqwest::Client,
}

impl Vonage {
    pub fn new(settings: &VonageSettings) -> Self {
        Self { client: http::client(settings.timeout_ms), settings: settings.clone() }
    }
}

/// What a Vonage status means for the message; the codes are Vonage's documented SMS API ones.
fn classify(code: i64, detail: &str) -> SendError {
    let kind: fn(String) -> SendError = match code {
        // Throttled, internal error, too many simultaneous connections.
        1 | 5 | 10 => SendError::Unavailable,
        // Number barred, number de-activated.
        7 | 33 => SendError::Recipient,
        // Unroutable at Vonage (an unknown number prefix), sender not allowed in the destination's
        // country, invalid network code, destination not whitelisted on a demo account.
        6 | 15 | 22 | 29 => SendError::Destination,
        // Missing or invalid parameters, bad credentials, account barred, no credit, ...
        _ => SendError::Rejected,
    };
    http::coded_error(NAME, code, detail, kind)
}

/// The best human-readable detail of an error answer.
fn error_text(body: &Value) -> String {
    let first = body.pointer("/messages/0/error-text");
    let text = first.or_else(|| body.get("error-code-label")).or_else(|| body.get("title"));
    text.and_then(Value::as_str).unwrap_or_default().to_owned()
}

#[async_trait]
impl SmsProvider for Vonage {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let s = &self.settings;
        let reference = message.id.to_string();
        let mut form = vec![
            ("api_key", s.api_key.as_str()),
            ("api_secret", s.api_secret.0.as_str()),
            ("from", s.from.as_str()),
            ("to", message.to.digits()),
            ("text", message.text.as_str()),
            ("client-ref", reference.as_str()),
        ];
        if !message.text.is_ascii() {
            form.push(("type", "unicode"));
        }
        let request = self.client.post(http::endpoint(&s.base_url, "sms/json")).form(&form);
        let (status, body) = http::exchange(NAME, request).await?;
        if !status.is_success() {
            let detail = body.as_ref().map(error_text).unwrap_or_default();
            return Err(http::status_error(NAME, status, &detail));
        }
        let body = body?;
        let parts = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if parts.is_empty() {
            return Err(SendError::Unavailable(format!("{NAME}: answer without messages")));
        }
        for part in parts {
            match part.get("status").and_then(http::json_code) {
                Some(0) => {}
                Some(code) => {
                    return Err(classify(code, part.get("error-text").and_then(Value::as_str).unwrap_or_default()));
                }
                None => return Err(SendError::Unavailable(format!("{NAME}: answer without a status"))),
            }
        }
        http::accepted(NAME, parts[0].get("message-id").and_then(http::json_text))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::{MockServer, ResponseTemplate};

    use super::*;
    use crate::sms::providers::testkit::{self, TIMEOUT_MS, form, gateway, message, only_request};

    const SMS: &str = "/sms/json";
    const SECRET: &str = "secret-xyz";

    fn vonage(server: &MockServer) -> Vonage {
        Vonage::new(&VonageSettings {
            api_key: "key-abc".into(),
            api_secret: SecretText(SECRET.into()),
            from: "DocSpace".into(),
            base_url: testkit::base_url(server),
            timeout_ms: TIMEOUT_MS,
        })
    }

    /// A 200 with one message part of `status`.
    fn part(status: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "message-count": "1",
            "messages": [{"status": status, "error-text": "details"}]
        }))
    }

    fn accepted() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "message-count": "1",
            "messages": [{
                "to": "447400123456", "message-id": "0C000000217B7F02", "status": "0",
                "remaining-balance": "15.53590000", "message-price": "0.03330000", "network": "23410"
            }]
        }))
    }

    #[tokio::test]
    async fn sends_a_form_post_with_the_credentials_in_the_body_and_returns_the_message_id() {
        let server = gateway(SMS, accepted()).await;
        let delivery = vonage(&server).send(&message()).await;
        assert_eq!(delivery, Ok(Delivery { provider: NAME, provider_message_id: Some("0C000000217B7F02".into()) }));

        let request = only_request(&server).await;
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), SMS);
        assert_eq!(request.url.query(), None, "no credentials in the URL");
        let form = form(&request);
        assert_eq!(form["api_key"], "key-abc");
        assert_eq!(form["api_secret"], SECRET);
        assert_eq!(form["from"], "DocSpace");
        assert_eq!(form["to"], "447400123456");
        assert_eq!(form["text"], message().text);
        assert_eq!(form["client-ref"], "0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b");
        assert_eq!(form["type"], "unicode");
        assert_eq!(form.len(), 7);
    }

    #[tokio::test]
    async fn an_ascii_text_goes_as_gsm_text() {
        let server = gateway(SMS, accepted()).await;
        let mut ascii = message();
        ascii.text = "Code: 123456".into();
        assert!(vonage(&server).send(&ascii).await.is_ok());
        assert!(!form(&only_request(&server).await).contains_key("type"));
    }

    #[tokio::test]
    async fn error_answers_are_classified() {
        let cases = vec![
            // Errors inside a 200.
            (part("1"), "unavailable"),
            (part("5"), "unavailable"),
            (part("2"), "rejected"),
            (part("3"), "rejected"),
            (part("4"), "rejected"),
            (part("8"), "rejected"),
            (part("9"), "rejected"),
            (part("6"), "destination"),
            (part("15"), "destination"),
            (part("22"), "destination"),
            (part("29"), "destination"),
            (part("7"), "recipient"),
            (part("33"), "recipient"),
            // A second part failing fails the message.
            (
                ResponseTemplate::new(200).set_body_json(json!({
                    "message-count": "2",
                    "messages": [{"status": "0", "message-id": "A"}, {"status": "1", "error-text": "Throttled"}]
                })),
                "unavailable",
            ),
            (ResponseTemplate::new(200).set_body_json(json!({"message-count": "0", "messages": []})), "unavailable"),
            (ResponseTemplate::new(200).set_body_string("not json"), "unavailable"),
            // HTTP errors.
            (
                ResponseTemplate::new(401)
                    .set_body_json(json!({"error-code": "401", "error-code-label": "Unauthorized"})),
                "rejected",
            ),
            (ResponseTemplate::new(429), "unavailable"),
            (ResponseTemplate::new(503).set_body_string("<html>down</html>"), "unavailable"),
        ];
        testkit::assert_classified(SMS, cases, vonage, &[SECRET]).await;
    }

    #[tokio::test]
    async fn numbers_vonage_will_not_send_to_are_destination_errors() {
        let server = gateway(
            SMS,
            ResponseTemplate::new(200).set_body_json(json!({
                "message-count": "1",
                "messages": [{"to": "447400123456", "status": "29", "error-text": "Non White-listed Destination - rejected"}]
            })),
        )
        .await;
        let error = vonage(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Destination("vonage: error 29: Non White-listed Destination - rejected".into()));
    }

    #[tokio::test]
    async fn the_error_text_is_kept_trimmed() {
        let server = gateway(SMS, part("4")).await;
        let error = vonage(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Rejected("vonage: error 4: details".into()));
    }

    #[tokio::test]
    async fn a_slow_answer_past_the_timeout_is_unavailable() {
        testkit::assert_times_out(SMS, vonage).await;
    }
}
