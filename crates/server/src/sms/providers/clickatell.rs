//! Clickatell Platform HTTP API, the gateway DocSpace ships with: `POST /messages` with a JSON
//! body, authenticated by the integration's API key as the whole `Authorization` header. The
//! number goes as digits without `+`; the text goes as UTF-8 and Clickatell picks the SMS encoding.
//! It answers 202 with one entry per recipient in `messages`: `accepted`, `apiMessageId`, and
//! `errorCode`/`error`/`errorDescription` for a refused one; a refused request carries them at the
//! top level.
//!
//! The message id goes as `clientMessageId`, which Clickatell only echoes in status callbacks: it
//! does not de-duplicate on it, so a retry after a crash mid-request can send twice.
//!
//! Error codes (see [`error_in`]): the number itself is refused for 105, 121, 122 and 128 (invalid,
//! blocked, opted out, delisted) and 25, 26 and 27 (invalid, opted out, not on the channel).
//! Clickatell will not send to this one number for 114 (it does not route to the number's
//! network), 28 (a sandbox sends only to its own test numbers), 101 (the destination does not
//! support two-way messaging), and 110 and 111 (US numbers need a two-way integration with STOP
//! handling): another provider may. 130, 901, 18, 19 and 43 (limits,
//! Clickatell's trouble) are worth another try; anything else (key, IP, account, credit,
//! parameters, sender) refuses us.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::config::SecretText;
use crate::sms::{Delivery, SendError, SmsMessage, SmsProvider, http};

pub const NAME: &str = "clickatell";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickatellSettings {
    /// The API key of an HTTP/REST integration.
    pub api_key: SecretText,
    /// Sender: a number or sender id registered on the integration (two-way integrations); the
    /// integration's default when unset.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    #[serde(default = "http::default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    Url::parse("https://platform.clickatell.com").expect("valid URL")
}

pub struct Clickatell {
    settings: ClickatellSettings,
    client: reqwest::Client,
}

impl Clickatell {
    pub fn new(settings: &ClickatellSettings) -> Self {
        Self { client: http::client(settings.timeout_ms), settings: settings.clone() }
    }
}

/// The error an object (the answer, or one of its `messages`) carries, if any. Clickatell has two
/// code tables, the older HTTP/REST one (3 digits) and the newer One API one (1 or 2 digits, and 3
/// for channel errors). They overlap on 101 (old: invalid parameters; One API: the destination
/// does not support two-way messaging), read as the One API's: the error that one destination
/// could pause the provider for everyone with is the costlier mistake.
fn error_in(object: &Value) -> Option<SendError> {
    let code = object.get("errorCode").and_then(http::json_code)?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let detail = text("errorDescription").or_else(|| text("error")).unwrap_or_default();
    let kind: fn(String) -> SendError = match code {
        // Invalid destination, number blocked, opted out, number delisted; One API: invalid
        // recipient, opted out, recipient not available on the channel.
        105 | 121 | 122 | 128 | 25 | 26 | 27 => SendError::Recipient,
        // Cannot route message; One API: recipient not available on the sandbox, the destination
        // does not support two-way messaging, US numbers need a two-way integration with STOP.
        114 | 28 | 101 | 110 | 111 => SendError::Destination,
        // Message limit reached for now, internal errors; One API: internal errors, rate limit.
        130 | 901 | 18 | 19 | 43 => SendError::Unavailable,
        // Bad API key, IP not allowed, account or integration inactive, no credit, invalid
        // parameters or sender, ...
        _ => SendError::Rejected,
    };
    Some(http::coded_error(NAME, code, detail, kind))
}

#[async_trait]
impl SmsProvider for Clickatell {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let s = &self.settings;
        let mut body = json!({
            "content": message.text,
            "to": [message.to.digits()],
            "clientMessageId": message.id.to_string(),
        });
        if let Some(from) = &s.from {
            body["from"] = json!(from);
        }
        let request = self
            .client
            .post(http::endpoint(&s.base_url, "messages"))
            .header(reqwest::header::AUTHORIZATION, &s.api_key.0)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let (status, answer) = http::exchange(NAME, request).await?;
        if !status.is_success() {
            let answer = answer.ok();
            // Throttling and outages stay worth another try, whatever the code says.
            if status.as_u16() != 429
                && !status.is_server_error()
                && let Some(error) = answer.as_ref().and_then(error_in)
            {
                return Err(error);
            }
            let detail = answer.as_ref().and_then(|a| a.get("errorDescription")).and_then(Value::as_str);
            return Err(http::status_error(NAME, status, detail.unwrap_or_default()));
        }
        let answer = answer?;
        // A 2xx can still carry a refused request or a refused message.
        if let Some(error) = error_in(&answer) {
            return Err(error);
        }
        let Some(sent) = answer.pointer("/messages/0") else {
            return Err(SendError::Unavailable(format!("{NAME}: answer without messages")));
        };
        if sent.get("accepted").and_then(Value::as_bool) != Some(true) {
            return Err(error_in(sent).unwrap_or_else(|| {
                SendError::Rejected(format!("{NAME}: message not accepted, without an error code"))
            }));
        }
        http::accepted(NAME, sent.get("apiMessageId").and_then(http::json_text))
    }
}

#[cfg(test)]
mod tests {
    use wiremock::{MockServer, ResponseTemplate};

    use super::*;
    use crate::sms::providers::testkit::{self, TIMEOUT_MS, gateway, header, message, only_request};

    const MESSAGES: &str = "/messages";
    const KEY: &str = "key-xyz==";

    fn clickatell(server: &MockServer) -> Clickatell {
        Clickatell::new(&ClickatellSettings {
            api_key: SecretText(KEY.into()),
            from: Some("15005550006".into()),
            base_url: testkit::base_url(server),
            timeout_ms: TIMEOUT_MS,
        })
    }

    /// A 202 with the one message `accepted`, else refused with `code`.
    fn answer(accepted: bool, code: Option<i64>) -> ResponseTemplate {
        ResponseTemplate::new(202).set_body_json(json!({
            "messages": [{
                "apiMessageId": if accepted { json!("1d1aa0b4c5e84a5e8c5d4a6a5c7d1f2b") } else { Value::Null },
                "accepted": accepted,
                "to": "447400123456",
                "errorCode": code,
                "error": code.map(|_| "details"),
                "errorDescription": code.map(|_| "more details"),
            }],
            "errorCode": null, "error": null, "errorDescription": null
        }))
    }

    fn refused(status: u16, code: i64) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(json!({
            "messages": [], "errorCode": code, "error": "details", "errorDescription": "more details"
        }))
    }

    #[tokio::test]
    async fn sends_json_with_the_raw_api_key_and_returns_the_api_message_id() {
        let server = gateway(MESSAGES, answer(true, None)).await;
        let delivery = clickatell(&server).send(&message()).await;
        assert_eq!(
            delivery,
            Ok(Delivery { provider: NAME, provider_message_id: Some("1d1aa0b4c5e84a5e8c5d4a6a5c7d1f2b".into()) })
        );

        let request = only_request(&server).await;
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), MESSAGES);
        assert_eq!(request.url.query(), None);
        assert_eq!(header(&request, "authorization"), KEY);
        assert_eq!(header(&request, "accept"), "application/json");
        assert_eq!(
            testkit::json(&request),
            json!({
                "content": message().text,
                "to": ["447400123456"],
                "from": "15005550006",
                "clientMessageId": "0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b"
            })
        );
    }

    #[tokio::test]
    async fn error_answers_are_classified() {
        let cases = vec![
            (refused(401, 1), "rejected"),
            (refused(401, 7), "rejected"),
            (refused(429, 43), "unavailable"),
            (ResponseTemplate::new(429), "unavailable"),
            (refused(500, 18), "unavailable"),
            (ResponseTemplate::new(503).set_body_string("<html>down</html>"), "unavailable"),
            (refused(400, 23), "rejected"),
            (refused(400, 110), "destination"),
            // Refused messages inside a 202.
            (answer(false, Some(105)), "recipient"),
            (answer(false, Some(114)), "destination"),
            (answer(false, Some(28)), "destination"),
            (answer(false, Some(101)), "destination"),
            (answer(false, Some(26)), "recipient"),
            (answer(false, Some(301)), "rejected"),
            (answer(false, Some(106)), "rejected"),
            (answer(false, Some(901)), "unavailable"),
            (answer(false, None), "rejected"),
            // A refused request inside a 2xx.
            (refused(200, 1), "rejected"),
            (ResponseTemplate::new(202).set_body_json(json!({"messages": []})), "unavailable"),
            (ResponseTemplate::new(202).set_body_string("not json"), "unavailable"),
        ];
        testkit::assert_classified(MESSAGES, cases, clickatell, &[KEY]).await;
    }

    #[tokio::test]
    async fn numbers_clickatell_will_not_send_to_are_destination_errors() {
        let server = gateway(MESSAGES, answer(false, Some(114))).await;
        let error = clickatell(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Destination("clickatell: error 114: more details".into()));
    }

    #[tokio::test]
    async fn the_error_description_is_kept() {
        let server = gateway(MESSAGES, answer(false, Some(105))).await;
        let error = clickatell(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Recipient("clickatell: error 105: more details".into()));
    }

    #[tokio::test]
    async fn a_slow_answer_past_the_timeout_is_unavailable() {
        testkit::assert_times_out(MESSAGES, clickatell).await;
    }
}
