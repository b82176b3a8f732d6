//! MessageBird (Bird) SMS REST API: `POST /messages` with a JSON body, authenticated by the header
//! `Authorization: AccessKey <access_key>`. The number goes as digits without `+`; `datacoding`
//! is `auto`, so MessageBird picks GSM or Unicode from the text (its default, `plain`, would mangle
//! Cyrillic or CJK texts). It answers 201 with the message and its recipients, and errors as
//! `{"errors": [{"code": 2, "description": ..., "parameter": ...}]}`.
//!
//! The message id goes as `reference`, which MessageBird only echoes in delivery reports: it does
//! not de-duplicate on it, so a retry after a crash mid-request can send twice.
//!
//! Error codes (see [`first_error`]): 10 about the recipient (invalid) refuses the number itself.
//! 9 about the recipient, "no (correct) recipients found", is what MessageBird answers for a number
//! it will not send to, such as any number but the account's own during the test period, or a
//! short code; another provider may send it, and one that finds the number invalid says so. 99
//! (MessageBird's trouble) is worth another try; anything else (access key, other parameters,
//! balance) refuses us. A recipient that failed at once, with no code to go by, is worth another
//! try.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::config::SecretText;
use crate::sms::{Delivery, SendError, SmsMessage, SmsProvider, http};

pub const NAME: &str = "messagebird";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBirdSettings {
    /// A live access key (a test key is accepted but sends nothing).
    pub access_key: SecretText,
    /// Sender: a number in international form, or an alphanumeric sender id (11 characters at
    /// most) where the destination country allows one.
    pub originator: String,
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    #[serde(default = "http::default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    Url::parse("https://rest.messagebird.com").expect("valid URL")
}

pub struct MessageBird {
    settings: MessageBirdSettings,
    client: reqwest::Client,
}

impl MessageBird {
    pub fn new(settings: &MessageBirdSettings) -> Self {
        Self { client: http::client(settings.timeout_ms), settings: settings.clone() }
    }
}

/// What the first of MessageBird's `errors` means for the message, if there is one. The codes are
/// MessageBird's documented ones.
fn first_error(body: &Value) -> Option<SendError> {
    let error = body.pointer("/errors/0")?;
    let code = error.get("code").and_then(http::json_code)?;
    let description = error.get("description").and_then(Value::as_str).unwrap_or_default();
    let parameter = error.get("parameter").and_then(Value::as_str).unwrap_or_default();
    let about_recipient = parameter.starts_with("recipient") || description.contains("recipient");
    let kind: fn(String) -> SendError = match code {
        // "No (correct) recipients found": none MessageBird will send to (during the test period,
        // only the account's own number).
        9 if about_recipient => SendError::Destination,
        // An invalid recipient.
        10 if about_recipient => SendError::Recipient,
        // MessageBird's own trouble.
        99 => SendError::Unavailable,
        // Wrong access key, other missing or invalid parameters (originator, ...), not enough
        // balance, unknown endpoint, ...
        _ => SendError::Rejected,
    };
    let detail = if parameter.is_empty() { description.to_owned() } else { format!("{description} ({parameter})") };
    Some(http::coded_error(NAME, code, &detail, kind))
}

#[async_trait]
impl SmsProvider for MessageBird {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let s = &self.settings;
        let body = json!({
            "recipients": [message.to.digits()],
            "originator": s.originator,
            "body": message.text,
            "reference": message.id.to_string(),
            "datacoding": "auto",
        });
        let request = self
            .client
            .post(http::endpoint(&s.base_url, "messages"))
            .header(reqwest::header::AUTHORIZATION, format!("AccessKey {}", s.access_key.0))
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let (status, answer) = http::exchange(NAME, request).await?;
        if !status.is_success() {
            let answer = answer.ok();
            // Throttling and outages stay worth another try, whatever the code says.
            if status.as_u16() != 429
                && !status.is_server_error()
                && let Some(error) = answer.as_ref().and_then(first_error)
            {
                return Err(error);
            }
            let detail = answer.as_ref().and_then(|a| a.pointer("/errors/0/description")).and_then(Value::as_str);
            return Err(http::status_error(NAME, status, detail.unwrap_or_default()));
        }
        let answer = answer?;
        // A 2xx can still carry errors or a recipient that failed at once.
        if let Some(error) = first_error(&answer) {
            return Err(error);
        }
        let failed_count = answer.pointer("/recipients/totalDeliveryFailedCount").and_then(Value::as_i64).unwrap_or(0);
        let items =
            answer.pointer("/recipients/items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let failed_item = items.iter().find(|item| item.get("status").and_then(Value::as_str) == Some("failed"));
        if failed_count > 0 || failed_item.is_some() {
            let reason =
                failed_item.and_then(|item| item.get("statusReason")).and_then(Value::as_str).unwrap_or_default();
            return Err(SendError::Unavailable(format!(
                "{NAME}: recipient failed at once{}",
                if reason.is_empty() { String::new() } else { format!(": {}", http::brief(reason)) }
            )));
        }
        http::accepted(NAME, answer.get("id").and_then(http::json_text))
    }
}

#[cfg(test)]
mod tests {
    use wiremock::{MockServer, ResponseTemplate};

    use super::*;
    use crate::sms::providers::testkit::{self, TIMEOUT_MS, gateway, header, message, only_request};

    const MESSAGES: &str = "/messages";
    const KEY: &str = "live-key-xyz";

    fn messagebird(server: &MockServer) -> MessageBird {
        MessageBird::new(&MessageBirdSettings {
            access_key: SecretText(KEY.into()),
            originator: "DocSpace".into(),
            base_url: testkit::base_url(server),
            timeout_ms: TIMEOUT_MS,
        })
    }

    fn errors(status: u16, code: i64, description: &str, parameter: Option<&str>) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .set_body_json(json!({"errors": [{"code": code, "description": description, "parameter": parameter}]}))
    }

    /// A 201 whose one recipient has `status`.
    fn created(status: &str, failed: i64) -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "id": "e8077d803532c0b5937c639b60216938",
            "href": "https://rest.messagebird.com/messages/e8077d803532c0b5937c639b60216938",
            "direction": "mt",
            "originator": "DocSpace",
            "reference": "0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b",
            "recipients": {
                "totalCount": 1,
                "totalSentCount": 1 - failed,
                "totalDeliveredCount": 0,
                "totalDeliveryFailedCount": failed,
                "items": [{"recipient": 447400123456_i64, "status": status, "statusDatetime": "2026-11-29T10:00:00+00:00"}]
            }
        }))
    }

    #[tokio::test]
    async fn sends_json_with_the_access_key_and_returns_the_message_id() {
        let server = gateway(MESSAGES, created("sent", 0)).await;
        let delivery = messagebird(&server).send(&message()).await;
        assert_eq!(
            delivery,
            Ok(Delivery { provider: NAME, provider_message_id: Some("e8077d803532c0b5937c639b60216938".into()) })
        );

        let request = only_request(&server).await;
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), MESSAGES);
        assert_eq!(request.url.query(), None);
        assert_eq!(header(&request, "authorization"), format!("AccessKey {KEY}"));
        assert_eq!(
            testkit::json(&request),
            json!({
                "recipients": ["447400123456"],
                "originator": "DocSpace",
                "body": message().text,
                "reference": "0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b",
                "datacoding": "auto"
            })
        );
    }

    #[tokio::test]
    async fn error_answers_are_classified() {
        let cases = vec![
            (errors(401, 2, "Request not allowed (incorrect access_key)", Some("access_key")), "rejected"),
            (errors(422, 9, "no (correct) recipients found", Some("recipient")), "destination"),
            (errors(422, 10, "recipient is invalid", None), "recipient"),
            (errors(422, 9, "originator is required", Some("originator")), "rejected"),
            (errors(402, 25, "Not enough balance", None), "rejected"),
            (errors(429, 21, "Too many requests", None), "unavailable"),
            (ResponseTemplate::new(429), "unavailable"),
            (errors(500, 99, "Internal error", None), "unavailable"),
            (ResponseTemplate::new(503).set_body_string("<html>down</html>"), "unavailable"),
            // Errors inside a 2xx.
            (errors(200, 25, "Not enough balance", None), "rejected"),
            (created("failed", 1), "unavailable"),
            (created("sent", 1), "unavailable"),
            (ResponseTemplate::new(201).set_body_string("not json"), "unavailable"),
        ];
        testkit::assert_classified(MESSAGES, cases, messagebird, &[KEY]).await;
    }

    #[tokio::test]
    async fn numbers_messagebird_will_not_send_to_are_destination_errors() {
        let during_test_period = "no (correct) recipients found. Note: during your test period you can only send \
                                  messages to your own number";
        let server = gateway(MESSAGES, errors(422, 9, during_test_period, Some("recipient"))).await;
        let error = messagebird(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Destination(format!("messagebird: error 9: {during_test_period} (recipient)")));
    }

    #[tokio::test]
    async fn errors_keep_the_description_and_parameter() {
        let server =
            gateway(MESSAGES, errors(401, 2, "Request not allowed (incorrect access_key)", Some("access_key"))).await;
        let error = messagebird(&server).send(&message()).await.unwrap_err();
        assert_eq!(
            error,
            SendError::Rejected("messagebird: error 2: Request not allowed (incorrect access_key) (access_key)".into())
        );
        let server = gateway(MESSAGES, errors(429, 21, "Too many requests", None)).await;
        let error = messagebird(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Unavailable("messagebird: HTTP 429: Too many requests".into()));
    }

    #[tokio::test]
    async fn a_slow_answer_past_the_timeout_is_unavailable() {
        testkit::assert_times_out(MESSAGES, messagebird).await;
    }
}
