//! A generic HTTP webhook, for any gateway without a module of its own: one request (`POST` by
//! default; `PUT` or `PATCH`) to `url` with a JSON body built from the `body` template and the
//! configured `headers` (their values are secrets: put API keys there, not in the URL). Auth is
//! whatever those headers carry.
//!
//! In the template, the placeholders `{{to}}` (E.164, `+447400123456`), `{{to_digits}}`
//! (`447400123456`), `{{text}}` and `{{id}}` (the message id) are replaced inside JSON string
//! values, whole or as part of a longer string, after the template is parsed: the JSON encoder
//! escapes them, whatever the text holds. Placeholders are replaced in one pass, so a text that
//! itself contains `{{id}}` stays as written.
//!
//! Every request carries `Idempotency-Key: <message id>`, the same on every retry of a message.
//! Whether that prevents a duplicate SMS depends on the gateway honouring the header; many ignore
//! it, and then a retry after a crash mid-request can send twice.
//!
//! The answer: 2xx is accepted, unless `error_pointer` finds an error in it (see
//! [`WebhookSettings::error_pointer`]); 408, 429 and 5xx are worth another try; 401, 403 and other
//! 4xx refuse us. `message_id_pointer` picks the gateway's message id out of the answer.
//!
//! An error found at `error_pointer` (in a 2xx, or in a 4xx other than 401, 403, 408 and 429)
//! refuses us, unless it is one of `recipient_error_values` (the number itself is refused: no
//! other provider is tried) or `destination_error_values` (this gateway will not send to the
//! number, e.g. its country is not enabled: the next provider tries, without counting against this
//! one, and the message is not retried later).

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::config::SecretText;
use crate::sms::{Delivery, SendError, SmsMessage, SmsProvider, http};

pub const NAME: &str = "webhook";

/// The placeholders a body template may use.
const PLACEHOLDERS: [&str; 4] = ["to", "to_digits", "text", "id"];

const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `http` or `https`.
    pub url: Url,
    /// `POST`, `PUT` or `PATCH`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers, e.g. `Authorization`; the values are secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretText>,
    /// The JSON body, with placeholders in string values (in TOML, an inline table).
    #[serde(default = "default_body")]
    pub body: Value,
    /// JSON pointer (RFC 6901, `/data/id`) to the gateway's message id in the answer.
    #[serde(default)]
    pub message_id_pointer: Option<String>,
    /// JSON pointer to an error in the answer. A value there other than `null`, `false`, `0`, `""`,
    /// `[]` or `{}` means the gateway refused the message even in a 2xx answer.
    #[serde(default)]
    pub error_pointer: Option<String>,
    /// Values found at `error_pointer` (numbers written as text, `"21211"`) that mean the number
    /// cannot get the SMS, so that no other provider is tried. Other errors refuse us.
    #[serde(default)]
    pub recipient_error_values: Vec<String>,
    /// Values found at `error_pointer` that mean this gateway will not send to the number (its
    /// country or region is not enabled, no route to it), so that the next provider tries without
    /// the gateway counting as failing, and the message is not retried.
    #[serde(default)]
    pub destination_error_values: Vec<String>,
    #[serde(default = "http::default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_method() -> String {
    "POST".to_owned()
}

fn default_body() -> Value {
    json!({"to": "{{to}}", "text": "{{text}}", "id": "{{id}}"})
}

pub struct Webhook {
    url: Url,
    method: Method,
    headers: HeaderMap,
    body: Value,
    message_id_pointer: Option<String>,
    error_pointer: Option<String>,
    recipient_error_values: Vec<String>,
    destination_error_values: Vec<String>,
    client: reqwest::Client,
}

impl Webhook {
    /// Checks the settings: the URL scheme, the method, the headers, the placeholders and the
    /// pointers. Errors name the setting, never a header's value.
    pub fn new(settings: &WebhookSettings) -> anyhow::Result<Self> {
        ensure!(
            matches!(settings.url.scheme(), "http" | "https"),
            "sms.webhook.url must be an http or https URL, not {:?}",
            settings.url.scheme()
        );
        let method = match settings.method.to_ascii_uppercase().as_str() {
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            other => bail!("sms.webhook.method must be POST, PUT or PATCH, not {other:?}"),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("sms.webhook.headers: {name:?} is not a valid header name"))?;
            ensure!(header != IDEMPOTENCY_KEY, "sms.webhook.headers: {name} is set by docspace-auth itself");
            let mut value = HeaderValue::from_str(&value.0)
                .ok()
                .with_context(|| format!("sms.webhook.headers: the value of {name} is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        check_placeholders(&settings.body)?;
        for (setting, pointer) in
            [("message_id_pointer", &settings.message_id_pointer), ("error_pointer", &settings.error_pointer)]
        {
            if let Some(pointer) = pointer {
                check_pointer(pointer).with_context(|| format!("sms.webhook.{setting}"))?;
            }
        }
        for (setting, values) in [
            ("recipient_error_values", &settings.recipient_error_values),
            ("destination_error_values", &settings.destination_error_values),
        ] {
            ensure!(
                values.is_empty() || settings.error_pointer.is_some(),
                "sms.webhook.{setting} needs sms.webhook.error_pointer"
            );
        }
        if let Some(both) =
            settings.destination_error_values.iter().find(|v| settings.recipient_error_values.contains(v))
        {
            bail!("sms.webhook: {both:?} is in both recipient_error_values and destination_error_values");
        }
        Ok(Self {
            url: settings.url.clone(),
            method,
            headers,
            body: settings.body.clone(),
            message_id_pointer: settings.message_id_pointer.clone(),
            error_pointer: settings.error_pointer.clone(),
            recipient_error_values: settings.recipient_error_values.clone(),
            destination_error_values: settings.destination_error_values.clone(),
            client: http::client(settings.timeout_ms),
        })
    }

    /// The error value `error_pointer` finds in an answer, if it signals one.
    fn error_in<'a>(&self, answer: &'a Value) -> Option<&'a Value> {
        answer.pointer(self.error_pointer.as_deref()?).filter(|v| signals_error(v))
    }

    /// What an error value found in an answer means for the message, if it is about the number:
    /// `SendError::Recipient` or `SendError::Destination`.
    fn number_error(&self, error: &Value) -> Option<fn(String) -> SendError> {
        let value = value_text(error);
        if self.recipient_error_values.contains(&value) {
            Some(SendError::Recipient)
        } else if self.destination_error_values.contains(&value) {
            Some(SendError::Destination)
        } else {
            None
        }
    }
}

/// A JSON pointer per RFC 6901: empty (the whole answer, not allowed here) or `/`-separated
/// tokens in which `~` is only `~0` or `~1`.
fn check_pointer(pointer: &str) -> anyhow::Result<()> {
    ensure!(pointer.starts_with('/'), "{pointer:?} is not a JSON pointer (they start with /, e.g. /data/id)");
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            ensure!(matches!(chars.next(), Some('0' | '1')), "{pointer:?}: ~ must be written ~0 (and / as ~1)");
        }
    }
    Ok(())
}

/// Every `{{name}}` in the template's strings must be a known placeholder, so a typo fails at
/// start-up instead of reaching phones.
fn check_placeholders(template: &Value) -> anyhow::Result<()> {
    match template {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                rest = &rest[start + 2..];
                let Some(end) = rest.find("}}") else { break };
                let name = rest[..end].trim();
                let looks_like_one = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                ensure!(
                    !looks_like_one || PLACEHOLDERS.contains(&name),
                    "sms.webhook.body: unknown placeholder {{{{{name}}}}} (known: {})",
                    PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")
                );
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_placeholders),
        Value::Object(fields) => fields.values().try_for_each(check_placeholders),
        _ => Ok(()),
    }
}

/// The template with its placeholders replaced inside string values.
fn render(template: &Value, lookup: &impl Fn(&str) -> Option<String>) -> Value {
    match template {
        Value::String(s) => Value::String(fill(s, lookup)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, lookup)).collect()),
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), render(v, lookup))).collect()),
        other => other.clone(),
    }
}

/// `s` with each `{{name}}` that `lookup` knows replaced, in one pass: replaced text is not
/// searched again.
fn fill(s: &str, lookup: &impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| Some((end, lookup(after[..end].trim())?))) {
            Some((end, value)) => {
                out.push_str(&value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a value at `error_pointer` reports an error: anything but `null`, `false`, `0`, `""`,
/// `[]` and `{}`.
fn signals_error(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}

/// A value as text: strings as they are, anything else as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl SmsProvider for Webhook {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let id = message.id.to_string();
        let lookup = |name: &str| match name {
            "to" => Some(message.to.e164().to_owned()),
            "to_digits" => Some(message.to.digits().to_owned()),
            "text" => Some(message.text.clone()),
            "id" => Some(id.clone()),
            _ => None,
        };
        let body = render(&self.body, &lookup);
        let request = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .header(IDEMPOTENCY_KEY, &id)
            .json(&body);
        let (status, answer) = http::exchange(NAME, request).await?;
        let error = answer.as_ref().ok().and_then(|a| self.error_in(a));
        if !status.is_success() {
            let detail = error.map(value_text).unwrap_or_default();
            // A refusal of this message (not of our credentials, nor throttling) can name the number.
            let refusal = status.is_client_error() && !matches!(status.as_u16(), 401 | 403 | 408 | 429);
            if let Some(kind) = error.filter(|_| refusal).and_then(|e| self.number_error(e)) {
                return Err(kind(format!("{NAME}: HTTP {}: {}", status.as_u16(), http::brief(&detail))));
            }
            return Err(http::status_error(NAME, status, &detail));
        }
        if self.error_pointer.is_none() && self.message_id_pointer.is_none() {
            // Nothing to read in the answer: any 2xx will do.
            return Ok(Delivery { provider: NAME, provider_message_id: None });
        }
        // With pointers set, an unreadable answer may hide a refusal: a duplicate SMS is better
        // than a lost code, so it is retried.
        let answer = answer?;
        if let Some(error) = self.error_in(&answer) {
            let detail = format!("{NAME}: error: {}", http::brief(&value_text(error)));
            return Err(self.number_error(error).unwrap_or(SendError::Rejected)(detail));
        }
        let provider_message_id = match &self.message_id_pointer {
            Some(pointer) => {
                let id = answer.pointer(pointer).and_then(http::json_text);
                if id.is_none() {
                    // Accepted all the same: sending again would send twice.
                    tracing::warn!(provider = NAME, message_id = %message.id, "no message id at message_id_pointer in the answer");
                }
                id
            }
            None => None,
        };
        Ok(Delivery { provider: NAME, provider_message_id })
    }
}

#[cfg(test)]
mod tests {
    use wiremock::{MockServer, ResponseTemplate};

    use super::*;
    use crate::sms::providers::testkit::{self, TIMEOUT_MS, gateway, header, message, only_request};

    const HOOK: &str = "/hooks/sms";
    const TOKEN: &str = "Bearer token-xyz";

    fn settings(server: &MockServer) -> WebhookSettings {
        WebhookSettings {
            url: testkit::base_url(server).join(HOOK).unwrap(),
            method: default_method(),
            headers: BTreeMap::from([("Authorization".to_owned(), SecretText(TOKEN.into()))]),
            body: default_body(),
            message_id_pointer: Some("/data/id".into()),
            error_pointer: Some("/error/code".into()),
            recipient_error_values: vec!["invalid_number".into(), "21211".into()],
            destination_error_values: vec!["region_not_enabled".into(), "21408".into()],
            timeout_ms: TIMEOUT_MS,
        }
    }

    fn webhook(server: &MockServer) -> Webhook {
        Webhook::new(&settings(server)).unwrap()
    }

    fn error(status: u16, code: Value) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(json!({"error": {"code": code, "message": "details"}}))
    }

    #[tokio::test]
    async fn sends_the_templated_body_with_the_headers_and_the_idempotency_key() {
        let server =
            gateway(HOOK, ResponseTemplate::new(200).set_body_json(json!({"data": {"id": 42}, "error": null}))).await;
        let delivery = webhook(&server).send(&message()).await;
        assert_eq!(delivery, Ok(Delivery { provider: NAME, provider_message_id: Some("42".into()) }));

        let request = only_request(&server).await;
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), HOOK);
        assert_eq!(header(&request, "authorization"), TOKEN);
        assert_eq!(header(&request, "idempotency-key"), "0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b");
        assert_eq!(
            testkit::json(&request),
            json!({"to": "+447400123456", "text": message().text, "id": "0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b"})
        );
    }

    #[tokio::test]
    async fn placeholders_are_replaced_structurally_anywhere_in_strings() {
        let server = testkit::gateway_for("PUT", HOOK, ResponseTemplate::new(201)).await;
        let mut s = settings(&server);
        s.method = "put".into();
        s.message_id_pointer = None;
        s.error_pointer = None;
        s.recipient_error_values = vec![];
        s.destination_error_values = vec![];
        s.body = json!({
            "messages": [{"destination": "tel:{{ to_digits }}", "content": "{{text}}", "ref": "sms-{{id}}"}],
            "count": 1, "flash": false, "note": "{{not a placeholder}} {{"
        });
        let mut tricky = message();
        tricky.text = "Code \"123456\"\n\\ {{id}} {{to}}".into();
        let delivery = Webhook::new(&s).unwrap().send(&tricky).await;
        assert_eq!(delivery, Ok(Delivery { provider: NAME, provider_message_id: None }));

        let request = only_request(&server).await;
        assert_eq!(request.method.as_str(), "PUT");
        assert_eq!(
            testkit::json(&request),
            json!({
                "messages": [{
                    "destination": "tel:447400123456",
                    "content": "Code \"123456\"\n\\ {{id}} {{to}}",
                    "ref": "sms-0b5d8a4e-4c1e-4f7a-9a51-6f1d9e1c2a3b"
                }],
                "count": 1, "flash": false, "note": "{{not a placeholder}} {{"
            })
        );
    }

    #[tokio::test]
    async fn a_missing_message_id_still_counts_as_sent() {
        let server = gateway(HOOK, ResponseTemplate::new(202).set_body_json(json!({"queued": true}))).await;
        let delivery = webhook(&server).send(&message()).await;
        assert_eq!(delivery, Ok(Delivery { provider: NAME, provider_message_id: None }));
    }

    #[tokio::test]
    async fn error_answers_are_classified() {
        let cases = vec![
            (ResponseTemplate::new(401), "rejected"),
            (ResponseTemplate::new(403).set_body_string("forbidden"), "rejected"),
            (ResponseTemplate::new(404), "rejected"),
            (error(400, json!("invalid_sender")), "rejected"),
            (error(422, json!("invalid_number")), "recipient"),
            (error(401, json!("invalid_number")), "rejected"),
            (ResponseTemplate::new(408), "unavailable"),
            (error(429, json!("slow_down")), "unavailable"),
            (ResponseTemplate::new(500), "unavailable"),
            (ResponseTemplate::new(503).set_body_string("<html>down</html>"), "unavailable"),
            // Errors inside a 2xx.
            (error(200, json!("no_balance")), "rejected"),
            (error(200, json!(21211)), "recipient"),
            (error(200, json!(21408)), "destination"),
            (error(200, json!(true)), "rejected"),
            // Pointers set, but the answer is not JSON.
            (ResponseTemplate::new(200).set_body_string("<html>login</html>"), "unavailable"),
        ];
        testkit::assert_classified(HOOK, cases, webhook, &["token-xyz"]).await;
    }

    #[tokio::test]
    async fn destination_error_values_are_destination_errors() {
        let server = gateway(HOOK, error(422, json!("region_not_enabled"))).await;
        let refused = webhook(&server).send(&message()).await.unwrap_err();
        assert_eq!(refused, SendError::Destination("webhook: HTTP 422: region_not_enabled".into()));
        let server = gateway(HOOK, error(200, json!("region_not_enabled"))).await;
        let refused = webhook(&server).send(&message()).await.unwrap_err();
        assert_eq!(refused, SendError::Destination("webhook: error: region_not_enabled".into()));
        // Not when the status says the gateway refuses us.
        let server = gateway(HOOK, error(403, json!("region_not_enabled"))).await;
        assert_eq!(webhook(&server).send(&message()).await.unwrap_err().kind(), "rejected");
    }

    #[tokio::test]
    async fn empty_error_values_are_no_errors() {
        for code in [json!(null), json!(false), json!(0), json!(""), json!([]), json!({})] {
            let server = gateway(
                HOOK,
                ResponseTemplate::new(200).set_body_json(json!({"data": {"id": "m1"}, "error": {"code": code}})),
            )
            .await;
            let delivery = webhook(&server).send(&message()).await;
            assert_eq!(delivery, Ok(Delivery { provider: NAME, provider_message_id: Some("m1".into()) }), "{code}");
        }
    }

    #[tokio::test]
    async fn the_error_value_is_kept() {
        let server = gateway(HOOK, error(200, json!("no_balance"))).await;
        let refused = webhook(&server).send(&message()).await.unwrap_err();
        assert_eq!(refused, SendError::Rejected("webhook: error: no_balance".into()));
        let server = gateway(HOOK, error(422, json!("invalid_number"))).await;
        let refused = webhook(&server).send(&message()).await.unwrap_err();
        assert_eq!(refused, SendError::Recipient("webhook: HTTP 422: invalid_number".into()));
    }

    #[tokio::test]
    async fn a_slow_answer_past_the_timeout_is_unavailable() {
        testkit::assert_times_out(HOOK, webhook).await;
    }

    #[test]
    fn settings_are_checked() {
        let base = || WebhookSettings {
            url: Url::parse("https://gateway.example.com/send").unwrap(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: default_body(),
            message_id_pointer: None,
            error_pointer: None,
            recipient_error_values: vec![],
            destination_error_values: vec![],
            timeout_ms: TIMEOUT_MS,
        };
        assert!(Webhook::new(&base()).is_ok());
        let refused = |change: &dyn Fn(&mut WebhookSettings)| {
            let mut s = base();
            change(&mut s);
            Webhook::new(&s).err().map(|e| format!("{e:#}")).expect("refused")
        };
        assert!(refused(&|s| s.url = Url::parse("ftp://gateway.example.com").unwrap()).contains("http or https"));
        assert!(refused(&|s| s.method = "GET".into()).contains("POST, PUT or PATCH"));
        assert!(refused(&|s| s.body = json!({"to": "{{phone}}"})).contains("unknown placeholder {{phone}}"));
        assert!(refused(&|s| s.message_id_pointer = Some("data.id".into())).contains("message_id_pointer"));
        assert!(refused(&|s| s.error_pointer = Some("/a~2".into())).contains("error_pointer"));
        assert!(refused(&|s| s.recipient_error_values = vec!["x".into()]).contains("needs sms.webhook.error_pointer"));
        assert!(
            refused(&|s| s.destination_error_values = vec!["x".into()])
                .contains("destination_error_values needs sms.webhook.error_pointer")
        );
        assert!(
            refused(&|s| {
                s.error_pointer = Some("/error".into());
                s.recipient_error_values = vec!["x".into()];
                s.destination_error_values = vec!["x".into()];
            })
            .contains("\"x\" is in both")
        );
        assert!(
            refused(&|s| {
                s.headers.insert("Idempotency-Key".into(), SecretText("x".into()));
            })
            .contains("set by docspace-auth")
        );
        assert!(
            refused(&|s| {
                s.headers.insert("Bad Name".into(), SecretText("x".into()));
            })
            .contains("not a valid header name")
        );
        let error = refused(&|s| {
            s.headers.insert("X-Key".into(), SecretText("line\nbreak-secret".into()));
        });
        assert!(error.contains("X-Key") && !error.contains("secret"), "{error}");
    }

    #[test]
    fn settings_read_from_toml_with_an_inline_body() {
        use figment::providers::{Format, Toml};
        let s: WebhookSettings = figment::Figment::from(Toml::string(
            r#"
            url = "https://gateway.example.com/send"
            headers = { "X-Api-Key" = "k" }
            body = { phone = "{{to_digits}}", message = "{{text}}", tags = ["otp"] }
            error_pointer = "/status"
            "#,
        ))
        .extract()
        .unwrap();
        assert_eq!(s.method, "POST");
        assert_eq!(s.body, json!({"phone": "{{to_digits}}", "message": "{{text}}", "tags": ["otp"]}));
        assert_eq!(s.headers["X-Api-Key"].0, "k");
        assert!(Webhook::new(&s).is_ok());
    }
}
