//! Getting an SMS to a phone. Providers sit behind [`SmsProvider`]; [`SmsSender`] tries them in the
//! configured order, failing over past broken ones. The development provider is the embedded default;
//! the others are in [`providers`].

pub mod breaker;
mod development;
pub mod http;
pub mod outbox;
pub mod providers;
pub mod text;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use development::DevelopmentOutbox;

use self::breaker::{CircuitBreaker, FailoverSettings};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::phone::MobilePhone;

/// One SMS. The text carries the code, so `Debug` leaves it out.
#[derive(Clone)]
pub struct SmsMessage {
    /// Unique per message; providers that support it use it as the idempotency key.
    pub id: Uuid,
    pub to: MobilePhone,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("id", &self.id)
            .field("to", &self.to.noise())
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub provider: &'static str,
    pub provider_message_id: Option<String>,
}

/// Why a provider did not take a message; what it means for the message decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The provider cannot take it now (outage, 5xx, timeout, throttling): the next provider
    /// tries, and the message is retried later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refuses us (bad credentials, no balance, bad sender): the next provider tries;
    /// people must fix this one.
    #[error("provider refused: {0}")]
    Rejected(String),
    /// The number cannot get this SMS (invalid, not mobile, unsubscribed, barred): no provider
    /// can help, so the message fails at once.
    #[error("recipient refused: {0}")]
    Recipient(String),
}

impl SendError {
    /// The same error with the SMS text, the code in it and the number replaced: gateways may
    /// echo what they were sent, and errors go to logs, the outbox table and `outbox list`.
    fn scrubbed(self, message: &SmsMessage) -> Self {
        let scrub = |detail: String| {
            let mut detail = detail.replace(&message.text, "[text]");
            let secrets = message.text.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() >= 4);
            for run in secrets {
                detail = detail.replace(run, "[code]");
            }
            let noise = message.to.noise();
            detail.replace(message.to.e164(), &noise).replace(message.to.digits(), &noise)
        };
        match self {
            SendError::Unavailable(d) => SendError::Unavailable(scrub(d)),
            SendError::Rejected(d) => SendError::Rejected(scrub(d)),
            SendError::Recipient(d) => SendError::Recipient(scrub(d)),
        }
    }

    /// Label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Unavailable(_) => "unavailable",
            SendError::Rejected(_) => "rejected",
            SendError::Recipient(_) => "recipient",
        }
    }
}

/// No provider took the message: the last error, and which provider gave it (none when every
/// provider was paused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub provider: Option<&'static str>,
    pub error: SendError,
}

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError>;
}

struct Slot {
    provider: Arc<dyn SmsProvider>,
    breaker: CircuitBreaker,
}

/// The configured providers, tried in order until one takes the message. A provider that keeps
/// failing is skipped for a while (see [`breaker`]).
#[derive(Clone)]
pub struct SmsSender {
    slots: Arc<Vec<Slot>>,
    metrics: Arc<Metrics>,
}

impl SmsSender {
    pub fn new(providers: Vec<Arc<dyn SmsProvider>>, failover: FailoverSettings, metrics: Arc<Metrics>) -> Self {
        let slots = providers
            .into_iter()
            .map(|provider| Slot { provider, breaker: CircuitBreaker::new(failover.clone()) })
            .collect();
        Self { slots: Arc::new(slots), metrics }
    }

    pub fn from_settings(settings: &Settings, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let providers = settings
            .sms
            .providers
            .iter()
            .map(|name| providers::build(name, settings))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self::new(providers, settings.sms.failover.clone(), metrics))
    }

    pub fn is_configured(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Names of the providers, in order, for start-up messages.
    pub fn describe(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.provider.name()).collect()
    }

    /// Hands the message to the first provider that takes it, skipping paused ones. A recipient
    /// error stops there: another provider would refuse the number too.
    pub async fn send(&self, message: &SmsMessage) -> Result<Delivery, Undelivered> {
        let mut last = Undelivered {
            provider: None,
            error: SendError::Unavailable("every SMS provider is paused after repeated failures".into()),
        };
        for slot in self.slots.iter() {
            let name = slot.provider.name();
            if !slot.breaker.allows(Instant::now()) {
                continue;
            }
            match slot.provider.send(message).await {
                Ok(delivery) => {
                    slot.breaker.succeeded();
                    self.metrics.sms_provider_paused.with_label_values(&[name]).set(0);
                    return Ok(delivery);
                }
                Err(error) => {
                    let error = error.scrubbed(message);
                    self.metrics.sms_provider_errors.with_label_values(&[name, error.kind()]).inc();
                    tracing::warn!(provider = name, message_id = %message.id, %error, "SMS provider failed");
                    if let SendError::Recipient(_) = error {
                        slot.breaker.succeeded();
                        return Err(Undelivered { provider: Some(name), error });
                    }
                    if slot.breaker.failed(Instant::now()) {
                        tracing::warn!(provider = name, "SMS provider paused after repeated failures");
                    }
                    self.metrics
                        .sms_provider_paused
                        .with_label_values(&[name])
                        .set(i64::from(slot.breaker.is_paused()));
                    last = Undelivered { provider: Some(name), error };
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_carry_the_text_the_code_or_the_number() {
        let message = SmsMessage {
            id: Uuid::new_v4(),
            to: MobilePhone::parse("+44 7400 123456").unwrap(),
            text: "Code: 917253".into(),
            created_at: chrono::Utc::now(),
        };
        let echoed =
            SendError::Recipient("gateway: to=+447400123456 (447400123456) body=Code: 917253, again 917253".into())
                .scrubbed(&message);
        let text = echoed.to_string();
        assert!(!text.contains("917253") && !text.contains("7400123456"), "{text}");
        assert_eq!(text, "recipient refused: gateway: to=+4474****3456 (+4474****3456) body=[text], again [code]");
    }
}
