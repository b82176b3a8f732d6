//! Delivering the outbox. Every SMS is first a row in the database (written with its code); an
//! attempt claims the row, sends it, and records the outcome. The request that queued a message
//! makes the first attempt itself; a background worker retries with exponential backoff and jitter,
//! and re-claims messages whose claim expired because a process died mid-send. Delivery is
//! at-least-once; the message id doubles as the idempotency key for providers that support one.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{SendError, SmsMessage, SmsSender};
use crate::clock::Clock;
use crate::crypto::{Purpose, ServerSecret};
use crate::phone::MobilePhone;
use crate::store::{ClaimedMessage, Store, StoreResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// Attempts before a message is failed for good (it also fails when its code expires).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles with each attempt (with jitter), up to `max_retry_ms`.
    pub first_retry_ms: u64,
    pub max_retry_ms: u64,
    /// How long a claimed message stays claimed; a process that dies mid-send loses it after this.
    pub lease_seconds: u32,
    /// How often an idle worker looks for due messages.
    pub poll_interval_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self { max_attempts: 8, first_retry_ms: 1_000, max_retry_ms: 60_000, lease_seconds: 30, poll_interval_ms: 500 }
    }
}

pub struct Outbox {
    store: Arc<dyn Store>,
    secret: ServerSecret,
    sender: SmsSender,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
}

/// The context a message's text is sealed to: its own id, so texts cannot be swapped between rows.
pub fn seal_text(secret: &ServerSecret, message_id: &str, text: &str) -> Vec<u8> {
    secret.seal(Purpose::SmsOutbox, message_id.as_bytes(), text.as_bytes())
}

impl Outbox {
    pub fn new(
        store: Arc<dyn Store>,
        secret: ServerSecret,
        sender: SmsSender,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Self {
        Self { store, secret, sender, clock, settings }
    }

    /// How long a claim lasts.
    pub fn lease(&self) -> Duration {
        Duration::seconds(i64::from(self.settings.lease_seconds))
    }

    /// One attempt at one due message (`only` that one, if given). False when none was due.
    pub async fn deliver_one(&self, only: Option<&str>) -> StoreResult<bool> {
        let lease_ms = self.lease().num_milliseconds();
        let Some(claimed) = self.store.claim_message(only, self.clock.now(), lease_ms).await? else {
            return Ok(false);
        };
        self.attempt(claimed).await?;
        Ok(true)
    }

    /// One delivery attempt of a message this process holds the claim on, and its outcome recorded.
    pub async fn attempt(&self, claimed: ClaimedMessage) -> StoreResult<()> {
        let Some(text) = self
            .secret
            .open(Purpose::SmsOutbox, claimed.id.as_bytes(), &claimed.sealed_text)
            .and_then(|bytes| String::from_utf8(bytes).ok())
        else {
            tracing::error!(message_id = %claimed.id, "queued SMS cannot be decrypted (was the server secret changed?)");
            let error = "the text cannot be decrypted with this server's secret";
            self.store.message_attempt_failed(&claimed.id, claimed.attempts, error, None, self.clock.now()).await?;
            return Ok(());
        };
        let message = SmsMessage {
            id: Uuid::parse_str(&claimed.id).unwrap_or_default(),
            to: MobilePhone::from_stored(claimed.phone.clone()),
            text,
            created_at: claimed.created_at,
        };
        match self.sender.send(&message).await {
            Ok(delivery) => {
                let now = self.clock.now();
                let provider_id = delivery.provider_message_id.as_deref();
                self.store.message_sent(&claimed.id, claimed.attempts, delivery.provider, provider_id, now).await?;
            }
            Err(error) => {
                let now = self.clock.now();
                let retry_at = match &error {
                    SendError::Permanent(_) => None,
                    SendError::Temporary(_) if claimed.attempts >= self.settings.max_attempts => None,
                    SendError::Temporary(_) => {
                        Some(now + self.backoff(claimed.attempts)).filter(|at| *at < claimed.expires_at)
                    }
                };
                match retry_at {
                    Some(at) => {
                        tracing::warn!(message_id = %claimed.id, attempts = claimed.attempts, retry_at = %at, %error, "SMS delivery failed; will retry")
                    }
                    None => {
                        tracing::error!(message_id = %claimed.id, attempts = claimed.attempts, %error, "SMS delivery failed for good")
                    }
                }
                self.store
                    .message_attempt_failed(&claimed.id, claimed.attempts, &error.to_string(), retry_at, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Exponential backoff with jitter: between half and all of `first * 2^(attempts-1)`, capped.
    fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(20);
        let full = self.settings.first_retry_ms.saturating_mul(1 << exponent).min(self.settings.max_retry_ms).max(1);
        let jittered = rand::rng().random_range(full / 2..=full);
        Duration::milliseconds(i64::try_from(jittered).unwrap_or(i64::MAX))
    }

    /// The worker: delivers whatever is due, then waits for the poll interval. Now and then it
    /// also drops dead texts and purges expired bookkeeping.
    pub async fn run(self: Arc<Self>) {
        const HOUSEKEEPING_EVERY: StdDuration = StdDuration::from_secs(60);
        let poll = StdDuration::from_millis(self.settings.poll_interval_ms.max(10));
        let mut last_housekeeping: Option<std::time::Instant> = None;
        loop {
            match self.deliver_one(None).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "SMS delivery worker: database error"),
            }
            if let Err(e) = self.store.drop_expired_texts(self.clock.now()).await {
                tracing::error!(error = %e, "could not drop dead outbox texts");
            }
            if last_housekeeping.is_none_or(|at| at.elapsed() >= HOUSEKEEPING_EVERY) {
                last_housekeeping = Some(std::time::Instant::now());
                if let Err(e) = self.store.purge_expired(self.clock.now()).await {
                    tracing::error!(error = %e, "could not purge expired rows");
                }
            }
            tokio::time::sleep(poll).await;
        }
    }
}
