//! SMSC.ru HTTP API, the gateway DocSpace ships with: `POST /sys/send.php`, form-encoded in UTF-8
//! (`charset=utf-8`), authenticated by `login` and `psw` in the form body (never in the URL, where
//! SMSC's own examples put them). The number goes as digits without `+`; `fmt=3` asks for JSON
//! answers, which always come with HTTP 200: `{"id": 123, "cnt": 1}`, or
//! `{"error": ..., "error_code": N}`.
//!
//! SMSC's `id` parameter is a client-chosen number (1 to 2147483647) for looking statuses up; SMSC
//! says it need not be unique and does not de-duplicate on it. We send 31 bits of the message id,
//! so the same message always gets the same `id`. SMSC does refuse (error 9) more than two
//! identical send requests within a minute, which stops a burst of retries, not a retry after a
//! crash: that one can send twice.
//!
//! Error codes (see [`classify`]): 4 and 9 (IP blocked for a while, too many requests) are worth
//! another try; 7 (invalid number format) refuses the number itself. 8, "the message cannot be
//! delivered to this number", is SMSC's answer for a number it will not send to (for instance its
//! country or operator is not allowed in the account's settings, or SMSC has no route to it):
//! another provider may. Everything else (parameters, login, funds, a forbidden text or sender)
//! refuses us.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::config::SecretText;
use crate::sms::{Delivery, SendError, SmsMessage, SmsProvider, http};

pub const NAME: &str = "smsc";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmscSettings {
    pub login: String,
    /// The account password (or the password set for API use), sent as `psw`.
    pub password: SecretText,
    /// Sender name registered with SMSC; SMSC's default sender when unset.
    #[serde(default)]
    pub sender: Option<String>,
    /// `https://smsc.ru`; SMSC's other sites (`https://smsc.kz`, ...) and its backup
    /// `https://www2.smsc.ru` answer the same API.
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    #[serde(default = "http::default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    Url::parse("https://smsc.ru").expect("valid URL")
}

pub struct Smsc {
    settings: SmscSettings,
    client: reqwest::Client,
}

impl Smsc {
    pub fn new(settings: &SmscSettings) -> Self {
        Self { client: http::client(settings.timeout_ms), settings: settings.clone() }
    }
}

/// SMSC's `id` for a message: the low 31 bits of its uuid, never 0.
fn smsc_id(message: &SmsMessage) -> u32 {
    ((message.id.as_u128() as u32) & 0x7fff_ffff).max(1)
}

/// What an SMSC error code means for the message; the codes are SMSC's documented ones.
fn classify(code: i64, detail: &str) -> SendError {
    let kind: fn(String) -> SendError = match code {
        // IP blocked for a while after many errors; too many (or duplicate) requests.
        4 | 9 => SendError::Unavailable,
        // Invalid number format.
        7 => SendError::Recipient,
        // The message cannot be delivered to this number by SMSC.
        8 => SendError::Destination,
        // Parameter error, wrong login or password, no funds, date format, message forbidden
        // (text or sender), ...
        _ => SendError::Rejected,
    };
    http::coded_error(NAME, code, detail, kind)
}

#[async_trait]
impl SmsProvider for Smsc {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let s = &self.settings;
        let id = smsc_id(message).to_string();
        let mut form = vec![
            ("login", s.login.as_str()),
            ("psw", s.password.0.as_str()),
            ("phones", message.to.digits()),
            ("mes", message.text.as_str()),
            ("charset", "utf-8"),
            ("fmt", "3"),
            ("id", id.as_str()),
        ];
        if let Some(sender) = &s.sender {
            form.push(("sender", sender.as_str()));
        }
        let request = self.client.post(http::endpoint(&s.base_url, "sys/send.php")).form(&form);
        let (status, answer) = http::exchange(NAME, request).await?;
        if !status.is_success() {
            return Err(http::status_error(NAME, status, ""));
        }
        let answer = answer?;
        if let Some(code) = answer.get("error_code").and_then(http::json_code) {
            return Err(classify(code, answer.get("error").and_then(Value::as_str).unwrap_or_default()));
        }
        if let Some(error) = answer.get("error").and_then(Value::as_str) {
            return Err(SendError::Rejected(format!("{NAME}: {}", http::brief(error))));
        }
        http::accepted(NAME, answer.get("id").and_then(http::json_text))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::{MockServer, ResponseTemplate};

    use super::*;
    use crate::sms::providers::testkit::{self, TIMEOUT_MS, form, gateway, message, only_request};

    const SEND: &str = "/sys/send.php";
    const PASSWORD: &str = "psw-xyz";

    fn smsc(server: &MockServer) -> Smsc {
        Smsc::new(&SmscSettings {
            login: "docspace".into(),
            password: SecretText(PASSWORD.into()),
            sender: Some("DocSpace".into()),
            base_url: testkit::base_url(server),
            timeout_ms: TIMEOUT_MS,
        })
    }

    fn error(code: i64) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"error": "details", "error_code": code}))
    }

    #[tokio::test]
    async fn sends_a_utf8_form_post_with_the_credentials_in_the_body_and_returns_the_id() {
        let server = gateway(SEND, ResponseTemplate::new(200).set_body_json(json!({"id": 1_042, "cnt": 1}))).await;
        let delivery = smsc(&server).send(&message()).await;
        assert_eq!(delivery, Ok(Delivery { provider: NAME, provider_message_id: Some("1042".into()) }));

        let request = only_request(&server).await;
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), SEND);
        assert_eq!(request.url.query(), None, "no credentials in the URL");
        let form = form(&request);
        assert_eq!(form["login"], "docspace");
        assert_eq!(form["psw"], PASSWORD);
        assert_eq!(form["phones"], "447400123456");
        assert_eq!(form["mes"], message().text);
        assert_eq!(form["sender"], "DocSpace");
        assert_eq!(form["charset"], "utf-8");
        assert_eq!(form["fmt"], "3");
        // The low 31 bits of 0b5d8a4e-…-6f1d9e1c2a3b.
        assert_eq!(form["id"], (0x9e1c_2a3b_u32 & 0x7fff_ffff).to_string());
        assert_eq!(form.len(), 8);
    }

    #[tokio::test]
    async fn error_answers_are_classified() {
        let cases = vec![
            (error(1), "rejected"),
            (error(2), "rejected"),
            (error(3), "rejected"),
            (error(4), "unavailable"),
            (error(5), "rejected"),
            (error(6), "rejected"),
            (error(7), "recipient"),
            (error(8), "destination"),
            (error(9), "unavailable"),
            (ResponseTemplate::new(200).set_body_json(json!({"error": "something new"})), "rejected"),
            (ResponseTemplate::new(200).set_body_string("OK - 1 SMS, ID - 1042"), "unavailable"),
            (ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"), "unavailable"),
        ];
        testkit::assert_classified(SEND, cases, smsc, &[PASSWORD]).await;
    }

    #[tokio::test]
    async fn an_answer_without_error_or_id_counts_as_sent() {
        // Sending again would send the SMS twice.
        let server = gateway(SEND, ResponseTemplate::new(200).set_body_json(json!({"cnt": 1}))).await;
        assert_eq!(smsc(&server).send(&message()).await, Ok(Delivery { provider: NAME, provider_message_id: None }));
    }

    #[tokio::test]
    async fn numbers_smsc_will_not_send_to_are_destination_errors() {
        let answer = json!({"error": "couldn't be delivered", "error_code": 8, "id": 1_042});
        let server = gateway(SEND, ResponseTemplate::new(200).set_body_json(answer)).await;
        let error = smsc(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Destination("smsc: error 8: couldn't be delivered".into()));
    }

    #[tokio::test]
    async fn the_error_text_is_kept() {
        let server = gateway(SEND, error(2)).await;
        let error = smsc(&server).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Rejected("smsc: error 2: details".into()));
    }

    #[tokio::test]
    async fn a_slow_answer_past_the_timeout_is_unavailable() {
        testkit::assert_times_out(SEND, smsc).await;
    }
}
