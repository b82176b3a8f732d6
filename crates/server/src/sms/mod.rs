//! Getting an SMS to a phone. Providers sit behind [`SmsProvider`]; [`SmsSender`] tries them in the
//! configured order. The development provider is the embedded default.

mod development;
pub mod outbox;
pub mod text;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use development::DevelopmentOutbox;

use crate::config::Settings;
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

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later or with another provider (outage, throttling, timeout).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying cannot help (the number cannot receive SMS, credentials are wrong).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError>;
}

/// The configured providers, tried in order until one accepts the message.
#[derive(Clone, Default)]
pub struct SmsSender {
    providers: Vec<Arc<dyn SmsProvider>>,
}

impl SmsSender {
    pub fn new(providers: Vec<Arc<dyn SmsProvider>>) -> Self {
        Self { providers }
    }

    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let providers = settings
            .sms
            .providers
            .iter()
            .map(|name| -> anyhow::Result<Arc<dyn SmsProvider>> {
                match name.as_str() {
                    "development" => Ok(Arc::new(DevelopmentOutbox::new(settings.outbox_file()))),
                    other => anyhow::bail!("unknown SMS provider {other:?} in sms.providers (known: development)"),
                }
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self::new(providers))
    }

    pub fn is_configured(&self) -> bool {
        !self.providers.is_empty()
    }

    /// Names of the providers, in order, for start-up messages.
    pub fn describe(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// Hands the message to the first provider that accepts it; the last error when none does.
    pub async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let mut last = SendError::Permanent("no SMS provider is configured".into());
        for provider in &self.providers {
            match provider.send(message).await {
                Ok(delivery) => return Ok(delivery),
                Err(error) => {
                    tracing::warn!(provider = provider.name(), message_id = %message.id, %error, "SMS provider failed");
                    last = error;
                }
            }
        }
        Err(last)
    }
}
