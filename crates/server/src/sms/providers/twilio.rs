//! Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded,
//! HTTP basic auth with the account SID and auth token. Errors come as
//! `{"code": 21211, "message": ..., "status": 400}`. With a status callback URL set, Twilio posts
//! delivery receipts there (see [`verify_signature`]). Twilio has no idempotency key for sending,
//! so a retry after a crash mid-request can send twice.
//!
//! Error codes (see [`classify`]): the number itself is refused for 21211, 21214, 21217, 21407,
//! 21421, 21610 (the person sent STOP to our sender: not routed around), 21614 and 30003-30006.
//! Twilio will not send to this one number for 21408 (SMS to its region is not enabled in our Geo
//! Permissions), 21608 (a trial account sends only to verified numbers) and 21612 (no route from
//! our sender to it, e.g. an alphanumeric sender its country refuses, or a carrier Twilio cannot
//! reach): another provider may. Throttling and Twilio's own trouble (20429, 30001, 20500,
//! 20503) are worth another try; anything else (credentials, account, sender) refuses us.

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::SecretText;
use crate::sms::{Delivery, SendError, SmsMessage, SmsProvider, http};

pub const NAME: &str = "twilio";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: SecretText,
    /// Sender number in E.164 or an alphanumeric sender id; or use `messaging_service_sid`.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Where Twilio posts delivery receipts; defaults to `<public_url>/sms/receipts/twilio` when
    /// `public_url` is set (Twilio must be able to reach it), else none are asked for.
    #[serde(default)]
    pub status_callback_url: Option<Url>,
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    #[serde(default = "http::default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    Url::parse("https://api.twilio.com").expect("valid URL")
}

pub struct Twilio {
    settings: TwilioSettings,
    status_callback: Option<Url>,
    client: reqwest::Client,
}

impl Twilio {
    pub fn new(settings: &TwilioSettings, status_callback: Option<Url>) -> Self {
        Self { client: http::client(settings.timeout_ms), settings: settings.clone(), status_callback }
    }
}

#[derive(Deserialize)]
struct Answer {
    sid: Option<String>,
    status: Option<serde_json::Value>,
    /// Errors: `code`; a message that failed at once: `error_code`.
    code: Option<i64>,
    error_code: Option<i64>,
    message: Option<String>,
    error_message: Option<String>,
}

/// What a Twilio error code means for the message. The codes are Twilio's documented ones.
fn classify(code: i64, detail: String) -> SendError {
    let kind = match code {
        // Not a valid or reachable number, not a mobile, unsubscribed (STOP).
        21211 | 21214 | 21217 | 21407 | 21421 | 21610 | 21614 | 30003 | 30005 | 30006 => SendError::Recipient,
        // Region not enabled (Geo Permissions), unverified number on a trial account, no route
        // from our sender to this number.
        21408 | 21608 | 21612 => SendError::Destination,
        // Too many requests, queue overflow, Twilio's own trouble.
        20429 | 30001 | 20500 | 20503 => SendError::Unavailable,
        // Authentication, account suspended, sender not allowed, ...
        _ => SendError::Rejected,
    };
    http::coded_error(NAME, code, &detail, kind)
}

#[async_trait]
impl SmsProvider for Twilio {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let s = &self.settings;
        let url = http::endpoint(&s.base_url, &format!("2010-04-01/Accounts/{}/Messages.json", s.account_sid));
        let mut form = vec![("To", message.to.e164().to_owned()), ("Body", message.text.clone())];
        match (&s.messaging_service_sid, &s.from) {
            (Some(service), _) => form.push(("MessagingServiceSid", service.clone())),
            (None, Some(from)) => form.push(("From", from.clone())),
            (None, None) => {
                return Err(SendError::Rejected(format!("{NAME}: neither from nor messaging_service_sid set")));
            }
        }
        if let Some(callback) = &self.status_callback {
            form.push(("StatusCallback", callback.to_string()));
        }
        let request = self.client.post(url).basic_auth(&s.account_sid, Some(&s.auth_token.0)).form(&form);
        let (status, body) = http::exchange(NAME, request).await?;
        let answer = body.as_ref().ok().and_then(|v| serde_json::from_value::<Answer>(v.clone()).ok());
        if !status.is_success() {
            return Err(match answer {
                Some(Answer { code: Some(code), message, .. })
                    if status.as_u16() != 429 && !status.is_server_error() =>
                {
                    classify(code, message.unwrap_or_default())
                }
                Some(Answer { message, .. }) => http::status_error(NAME, status, message.as_deref().unwrap_or("")),
                None => http::status_error(NAME, status, ""),
            });
        }
        // A 2xx whose body we cannot read still took the message.
        let Some(answer) = answer else { return http::accepted(NAME, None) };
        // A 2xx can still carry a failed message.
        if let Some(code) = answer.error_code.or(answer.code) {
            return Err(classify(code, answer.error_message.or(answer.message).unwrap_or_default()));
        }
        if answer.status.as_ref().and_then(|v| v.as_str()).is_some_and(|s| s == "failed" || s == "undelivered") {
            return Err(SendError::Unavailable(format!("{NAME}: message failed without an error code")));
        }
        http::accepted(NAME, answer.sid)
    }
}

/// Checks `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the auth token, over the callback
/// URL Twilio was given followed by every POST parameter's name and value, sorted by name.
pub fn verify_signature(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::sms::providers::testkit::{self, TIMEOUT_MS, TOO_LATE, form, header, message, only_request};

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const MESSAGES: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

    fn twilio(server: &MockServer, callback: Option<&str>) -> Twilio {
        let settings = TwilioSettings {
            account_sid: SID.into(),
            auth_token: SecretText("token-xyz".into()),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            status_callback_url: None,
            base_url: testkit::base_url(server),
            timeout_ms: TIMEOUT_MS,
        };
        Twilio::new(&settings, callback.map(|c| Url::parse(c).unwrap()))
    }

    async fn answering(response: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(MESSAGES)).respond_with(response).mount(&server).await;
        server
    }

    fn twilio_error(status: u16, code: i64) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(serde_json::json!({
            "code": code, "message": "details", "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status
        }))
    }

    #[tokio::test]
    async fn sends_a_basic_auth_form_post_and_returns_the_message_sid() {
        let server = answering(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "sid": "SM1234", "status": "queued", "error_code": null, "error_message": null
        })))
        .await;
        let delivery = twilio(&server, Some("https://auth.example.com/sms/receipts/twilio")).send(&message()).await;
        assert_eq!(delivery, Ok(Delivery { provider: NAME, provider_message_id: Some("SM1234".into()) }));

        let request = only_request(&server).await;
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), MESSAGES);
        let expected_auth =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:token-xyz")));
        assert_eq!(header(&request, "authorization"), expected_auth);
        let form = form(&request);
        assert_eq!(form["To"], "+447400123456");
        assert_eq!(form["From"], "+15005550006");
        assert_eq!(form["Body"], message().text);
        assert_eq!(form["StatusCallback"], "https://auth.example.com/sms/receipts/twilio");
        assert_eq!(form.len(), 4);
    }

    #[tokio::test]
    async fn error_answers_are_classified() {
        let cases = [
            (twilio_error(401, 20003), "rejected"),
            (twilio_error(429, 20429), "unavailable"),
            (twilio_error(400, 21211), "recipient"),
            (twilio_error(400, 21610), "recipient"),
            (ResponseTemplate::new(503).set_body_string("<html>down</html>"), "unavailable"),
            (
                ResponseTemplate::new(500).set_body_json(serde_json::json!({"code": 20500, "message": "x"})),
                "unavailable",
            ),
            // An error inside a 2xx: the message failed at once.
            (
                ResponseTemplate::new(201).set_body_json(serde_json::json!({
                    "sid": "SM1", "status": "failed", "error_code": 21614, "error_message": "not a mobile"
                })),
                "recipient",
            ),
        ];
        for (response, kind) in cases {
            let server = answering(response).await;
            let error = twilio(&server, None).send(&message()).await.unwrap_err();
            assert_eq!(error.kind(), kind, "{error}");
            assert!(!error.to_string().contains("123456"), "no text in errors: {error}");
        }
    }

    #[tokio::test]
    async fn numbers_twilio_will_not_send_to_are_destination_errors() {
        // Region not enabled, unverified number on a trial account, no route from our sender.
        for code in [21408, 21608, 21612] {
            let server = answering(twilio_error(400, code)).await;
            let error = twilio(&server, None).send(&message()).await.unwrap_err();
            assert_eq!(error, SendError::Destination(format!("twilio: error {code}: details")));
        }
        // Also when the message failed at once inside a 2xx.
        let server = answering(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "sid": "SM1", "status": "failed", "error_code": 21408,
            "error_message": "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"
        })))
        .await;
        assert_eq!(twilio(&server, None).send(&message()).await.unwrap_err().kind(), "destination");
    }

    #[tokio::test]
    async fn a_success_status_whose_body_cannot_be_read_counts_as_sent() {
        // Sending again would send the SMS twice.
        let server = answering(ResponseTemplate::new(201).set_body_string("not json")).await;
        assert_eq!(
            twilio(&server, None).send(&message()).await,
            Ok(Delivery { provider: NAME, provider_message_id: None })
        );
    }

    #[tokio::test]
    async fn a_slow_answer_past_the_timeout_is_unavailable() {
        let server = answering(ResponseTemplate::new(201).set_delay(TOO_LATE)).await;
        let error = twilio(&server, None).send(&message()).await.unwrap_err();
        assert_eq!(error, SendError::Unavailable("twilio: timed out".into()));
    }

    #[test]
    fn signatures_are_checked_over_url_and_sorted_parameters() {
        // Twilio's documented example.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let token = "12345";
        assert!(verify_signature(token, url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify_signature("wrong", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify_signature(token, url, &params[1..], "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify_signature(token, url, &params, "not base64!"));
    }
}
