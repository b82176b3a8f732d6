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

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{SendError, SmsMessage, SmsSender, Undelivered};
use crate::clock::Clock;
use crate::crypto::{Purpose, ServerSecret};
use crate::metrics::Metrics;
use crate::phone::MobilePhone;
use crate::store::{ClaimedMessage, Purge, Store, StoreResult};

/// Rows the housekeeping purge deletes per statement (per transaction on SQLite).
pub const PURGE_BATCH_SIZE: u32 = 1_000;

/// How often the housekeeping purge runs.
const PURGE_EVERY: StdDuration = StdDuration::from_secs(60);

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
    /// On shutdown, how long sends already under way get to finish.
    pub shutdown_grace_seconds: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_retry_ms: 1_000,
            max_retry_ms: 60_000,
            lease_seconds: 30,
            poll_interval_ms: 500,
            shutdown_grace_seconds: 30,
        }
    }
}

pub struct Outbox {
    store: Arc<dyn Store>,
    secret: ServerSecret,
    sender: SmsSender,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
    /// How long rows in a final state are kept (`retention_days`).
    retention: Duration,
    metrics: Arc<Metrics>,
    /// Every attempt under way (the worker's and the requests' own), so shutdown can wait for them.
    attempts: TaskTracker,
    stopping: CancellationToken,
    runtime: tokio::runtime::Handle,
}

/// The context a message's text is sealed to: its own id, so texts cannot be swapped between rows.
pub fn seal_text(secret: &ServerSecret, message_id: &str, text: &str) -> Vec<u8> {
    secret.seal(Purpose::SmsOutbox, message_id.as_bytes(), text.as_bytes())
}

impl Outbox {
    /// Must be called on the runtime that outlives the HTTP server (attempts run there).
    pub fn new(
        store: Arc<dyn Store>,
        secret: ServerSecret,
        sender: SmsSender,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
        retention_days: u32,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            secret,
            sender,
            clock,
            settings,
            retention: Duration::days(i64::from(retention_days)),
            metrics,
            attempts: TaskTracker::new(),
            stopping: CancellationToken::new(),
            runtime: tokio::runtime::Handle::current(),
        }
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

    /// Runs `attempt` as a task of its own, which shutdown waits for: a dropped request or a
    /// stopping server cannot abandon a send half-way.
    pub fn spawn_attempt(self: &Arc<Self>, claimed: ClaimedMessage) -> tokio::task::JoinHandle<StoreResult<()>> {
        let outbox = self.clone();
        // On the main runtime: an actix worker's runtime (the request's) dies with the server.
        self.attempts.spawn_on(async move { outbox.attempt(claimed).await }, &self.runtime)
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
        // Every provider's timeout together can outlast the claim; another worker would then send
        // the message again, so the attempt gives up first, a fifth of the lease before the claim
        // ends (time to record the outcome). The claim may have begun long before (a commit that
        // waited for a lock): only what is left of it counts.
        let left = claimed.claimed_until - self.clock.now() - self.lease() / 5;
        let Some(budget) = left.to_std().ok().filter(|budget| !budget.is_zero()) else {
            tracing::warn!(message_id = %claimed.id, "SMS claim ran out before its attempt; retried after the lease");
            return Ok(());
        };
        let outcome = tokio::time::timeout(budget, self.sender.send(&message)).await.unwrap_or_else(|_| {
            Err(Undelivered {
                provider: None,
                error: SendError::Unavailable("no provider answered within the message's claim".into()),
            })
        });
        match outcome {
            Ok(delivery) => {
                let now = self.clock.now();
                let provider_id = delivery.provider_message_id.as_deref();
                self.store.message_sent(&claimed.id, claimed.attempts, delivery.provider, provider_id, now).await?;
                self.metrics.sms_sent.with_label_values(&[delivery.provider]).inc();
                let latency = (now - claimed.created_at).num_milliseconds().max(0) as f64 / 1000.0;
                self.metrics.sms_delivery_seconds.with_label_values(&[delivery.provider]).observe(latency);
            }
            Err(Undelivered { provider, error }) => {
                let now = self.clock.now();
                let retry_at = match &error {
                    // No provider will take this number: trying again later would not change that.
                    SendError::Recipient(_) | SendError::Destination(_) => None,
                    _ if claimed.attempts >= self.settings.max_attempts => None,
                    _ => Some(now + self.backoff(claimed.attempts)).filter(|at| *at < claimed.expires_at),
                };
                let provider_label = provider.unwrap_or("none");
                match retry_at {
                    Some(at) => {
                        self.metrics.sms_retried.with_label_values(&[provider_label]).inc();
                        tracing::warn!(message_id = %claimed.id, attempts = claimed.attempts, retry_at = %at, %error, "SMS delivery failed; will retry")
                    }
                    None => {
                        self.metrics.sms_failed.with_label_values(&[provider_label]).inc();
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

    fn backoff(&self, attempts: u32) -> Duration {
        backoff(&self.settings, attempts)
    }

    /// The worker: delivers whatever is due, drops dead texts, then waits for the poll interval,
    /// until [`Outbox::shutdown`]. Beside it, every minute, [`Outbox::purge`] runs.
    pub async fn run(self: Arc<Self>) {
        // A task of its own: a long purge never holds back a retry.
        let housekeeping = tokio::spawn(self.clone().purge_every_minute());
        let poll = StdDuration::from_millis(self.settings.poll_interval_ms.max(10));
        while !self.stopping.is_cancelled() {
            // Each attempt is tracked, so shutdown lets it finish rather than cutting it off.
            let outbox = self.clone();
            match self.attempts.spawn(async move { outbox.deliver_one(None).await }).await {
                Ok(Ok(true)) => continue,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "SMS delivery worker: database error"),
                Err(e) => tracing::error!(error = %e, "SMS delivery attempt panicked"),
            }
            if let Err(e) = self.store.drop_expired_texts(self.clock.now()).await {
                tracing::error!(error = %e, "could not drop dead outbox texts");
            }
            tokio::select! {
                () = self.stopping.cancelled() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
        if let Err(e) = housekeeping.await {
            tracing::error!(error = %e, "housekeeping panicked");
        }
    }

    /// [`Outbox::purge`] at once and then every minute, until [`Outbox::shutdown`], which waits
    /// for a purge under way rather than cutting it off. A future dropped after sqlx's `BEGIN
    /// IMMEDIATE` ran but before its answer was read leaves the pooled connection inside that
    /// transaction (sqlx rolls back only when the answer cannot be delivered), holding SQLite's
    /// write lock: the next writer got "database is locked" in CI after a shutdown. Batches are
    /// short, so the wait is too.
    async fn purge_every_minute(self: Arc<Self>) {
        loop {
            if let Err(e) = self.purge().await {
                tracing::error!(error = %e, "could not purge expired rows");
            }
            tokio::select! {
                () = self.stopping.cancelled() => return,
                () = tokio::time::sleep(PURGE_EVERY) => {}
            }
        }
    }

    /// Deletes what can no longer matter (see [`Purge`]): rows in a final state that ended at
    /// least `retention_days` ago, and bookkeeping whose window has ended, in batches of
    /// [`PURGE_BATCH_SIZE`]. Counts them in `rows_purged_total`; returns how many went.
    pub async fn purge(&self) -> StoreResult<u64> {
        let purge = Purge { retention: self.retention, batch_size: PURGE_BATCH_SIZE };
        let purged = self.store.purge_expired(self.clock.now(), &purge).await?;
        let mut total = 0;
        for (table, rows) in &purged {
            self.metrics.rows_purged.with_label_values(&[table]).inc_by(*rows);
            total += rows;
        }
        if total > 0 {
            let tables: Vec<String> =
                purged.iter().filter(|(_, rows)| *rows > 0).map(|(table, rows)| format!("{table}={rows}")).collect();
            tracing::info!(rows = total, tables = %tables.join(" "), "purged expired rows");
        } else {
            tracing::debug!("purge: nothing expired");
        }
        Ok(total)
    }

    /// Stops claiming messages and waits (up to the grace period) for sends under way to finish
    /// and record their outcome. Whatever is left stays queued or leased for the next start.
    pub async fn shutdown(&self) {
        self.stopping.cancel();
        self.attempts.close();
        let grace = StdDuration::from_secs(u64::from(self.settings.shutdown_grace_seconds));
        if tokio::time::timeout(grace, self.attempts.wait()).await.is_err() {
            tracing::warn!(
                in_flight = self.attempts.len(),
                "SMS sends still under way at shutdown; they will be retried after their lease"
            );
        }
    }
}

/// Exponential backoff with jitter: between half and all of `first * 2^(attempts-1)`, capped.
fn backoff(settings: &DeliverySettings, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let full = settings.first_retry_ms.saturating_mul(1 << exponent).min(settings.max_retry_ms).max(1);
    let jittered = rand::rng().random_range(full / 2..=full);
    Duration::milliseconds(i64::try_from(jittered).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each retry waits between half and all of its full backoff (doubling from `first_retry_ms`,
    /// capped at `max_retry_ms`), and the jitter spreads over that whole range.
    #[test]
    fn backoff_doubles_is_capped_and_jitters_between_half_and_all_of_it() {
        let settings = DeliverySettings { first_retry_ms: 1_000, max_retry_ms: 60_000, ..Default::default() };
        let full = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000];
        for (attempts, full) in (1..).zip(full) {
            let waits: Vec<i64> = (0..200).map(|_| backoff(&settings, attempts).num_milliseconds()).collect();
            let (shortest, longest) = (*waits.iter().min().unwrap(), *waits.iter().max().unwrap());
            assert!(shortest >= full / 2 && longest <= full, "attempt {attempts}: {shortest}..{longest} ms");
            // 200 draws all in one half of the range would be a missing jitter, not bad luck.
            assert!(shortest < full * 3 / 4 && longest > full * 3 / 4, "attempt {attempts}: {shortest}..{longest} ms");
        }
        // Huge attempt counts neither overflow nor exceed the cap.
        assert!(backoff(&settings, u32::MAX).num_milliseconds() <= 60_000);
    }
}
