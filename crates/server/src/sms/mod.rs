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

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use development::DevelopmentOutbox;

use self::breaker::{CircuitBreaker, FailoverSettings};
use crate::clock::Clock;
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
///
/// Only `Unavailable` and `Rejected` say something about the provider as a whole, so only they
/// count towards its circuit breaker (see [`breaker`]); `Destination` and `Recipient` are about one
/// number, and a provider that answers them is working.
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
    /// This provider will not send to this number (its country or region is not enabled for our
    /// account, a trial account's list of allowed numbers, no route or sender for it there):
    /// another provider may, so the next one tries; retrying this one later would not help.
    #[error("destination refused: {0}")]
    Destination(String),
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
            SendError::Destination(d) => SendError::Destination(scrub(d)),
            SendError::Recipient(d) => SendError::Recipient(scrub(d)),
        }
    }

    /// Label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Unavailable(_) => "unavailable",
            SendError::Rejected(_) => "rejected",
            SendError::Destination(_) => "destination",
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
    /// The breakers' time.
    clock: Arc<dyn Clock>,
}

impl SmsSender {
    pub fn new(
        providers: Vec<Arc<dyn SmsProvider>>,
        failover: FailoverSettings,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let slots = providers
            .into_iter()
            .map(|provider| Slot { provider, breaker: CircuitBreaker::new(failover.clone()) })
            .collect();
        Self { slots: Arc::new(slots), metrics, clock }
    }

    pub fn from_settings(settings: &Settings, metrics: Arc<Metrics>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let providers = settings
            .sms
            .providers
            .iter()
            .map(|name| providers::build(name, settings))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self::new(providers, settings.sms.failover.clone(), metrics, clock))
    }

    pub fn is_configured(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Names of the providers, in order, for start-up messages.
    pub fn describe(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.provider.name()).collect()
    }

    /// Hands the message to the first provider that takes it, skipping paused ones. A recipient
    /// error stops there: another provider would refuse the number too. A destination error moves
    /// on to the next provider without counting against this one.
    ///
    /// When no provider took the message, the error says whether a later try can help: it is the
    /// last error of a provider that was unavailable or refused us; else, when a paused provider
    /// was skipped, an `Unavailable` saying so; only when every provider refused the destination is
    /// it the last of those refusals (and the outbox gives up).
    pub async fn send(&self, message: &SmsMessage) -> Result<Delivery, Undelivered> {
        let mut last_failure: Option<Undelivered> = None;
        let mut last_refusal: Option<Undelivered> = None;
        let mut skipped = false;
        for slot in self.slots.iter() {
            let name = slot.provider.name();
            if !slot.breaker.allows(self.clock.now()) {
                skipped = true;
                continue;
            }
            let error = match slot.provider.send(message).await {
                Ok(delivery) => {
                    self.answered(slot);
                    return Ok(delivery);
                }
                Err(error) => error.scrubbed(message),
            };
            self.metrics.sms_provider_errors.with_label_values(&[name, error.kind()]).inc();
            tracing::warn!(provider = name, message_id = %message.id, %error, "SMS provider failed");
            match error {
                // The provider answered sensibly about one number: it is working.
                SendError::Recipient(_) => {
                    self.answered(slot);
                    return Err(Undelivered { provider: Some(name), error });
                }
                SendError::Destination(_) => {
                    self.answered(slot);
                    last_refusal = Some(Undelivered { provider: Some(name), error });
                }
                SendError::Unavailable(_) | SendError::Rejected(_) => {
                    if slot.breaker.failed(self.clock.now()) {
                        tracing::warn!(provider = name, "SMS provider paused after repeated failures");
                    }
                    self.metrics
                        .sms_provider_paused
                        .with_label_values(&[name])
                        .set(i64::from(slot.breaker.is_paused()));
                    last_failure = Some(Undelivered { provider: Some(name), error });
                }
            }
        }
        Err(match (last_failure, last_refusal) {
            (Some(failure), _) => failure,
            (None, Some(refusal)) if !skipped => refusal,
            // A paused provider may still take the number once its pause is over.
            (None, Some(refusal)) => Undelivered {
                provider: None,
                error: SendError::Unavailable(format!(
                    "{}; the other SMS providers are paused after repeated failures",
                    refusal.error
                )),
            },
            (None, None) => Undelivered {
                provider: None,
                error: SendError::Unavailable("every SMS provider is paused after repeated failures".into()),
            },
        })
    }

    /// The provider answered (took the message or refused one number): its breaker closes.
    fn answered(&self, slot: &Slot) {
        slot.breaker.succeeded();
        self.metrics.sms_provider_paused.with_label_values(&[slot.provider.name()]).set(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A provider that answers from a script, and remembers the numbers it was asked to send to.
    struct Scripted {
        name: &'static str,
        answer: fn(&SmsMessage) -> Result<(), SendError>,
        asked: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(name: &'static str, answer: fn(&SmsMessage) -> Result<(), SendError>) -> Arc<Self> {
            Arc::new(Self { name, answer, asked: Mutex::new(Vec::new()) })
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl SmsProvider for Scripted {
        fn name(&self) -> &'static str {
            self.name
        }

        async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
            self.asked.lock().unwrap().push(message.to.e164().to_owned());
            (self.answer)(message)?;
            Ok(Delivery { provider: self.name, provider_message_id: None })
        }
    }

    /// A country the first provider's account may not send to, and a number there.
    const UNSERVED: &str = "+998 90 123 4567";
    const SERVED: &str = "+44 7400 123456";

    fn to(number: &str) -> SmsMessage {
        SmsMessage {
            id: Uuid::new_v4(),
            to: MobilePhone::parse(number).unwrap(),
            text: "Code: 917253".into(),
            created_at: chrono::Utc::now(),
        }
    }

    /// Refuses numbers in Uzbekistan (+998), as Twilio does without that region in its Geo
    /// Permissions, and takes the others.
    fn no_uzbekistan(message: &SmsMessage) -> Result<(), SendError> {
        if message.to.e164().starts_with("+998") {
            return Err(SendError::Destination("first: error 21408: region not enabled".into()));
        }
        Ok(())
    }

    fn takes_everything(_: &SmsMessage) -> Result<(), SendError> {
        Ok(())
    }

    fn sender(providers: Vec<Arc<dyn SmsProvider>>, failures_to_pause: u32) -> (SmsSender, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        let failover = FailoverSettings { failures_to_pause, pause_seconds: 3600 };
        (SmsSender::new(providers, failover, metrics.clone(), Arc::new(crate::clock::SystemClock)), metrics)
    }

    #[tokio::test]
    async fn a_destination_refusal_moves_on_to_the_next_provider_at_once() {
        let (first, second) = (Scripted::new("first", no_uzbekistan), Scripted::new("second", takes_everything));
        // A single failure would pause a provider.
        let (sender, metrics) = sender(vec![first.clone(), second.clone()], 1);

        let delivery = sender.send(&to(UNSERVED)).await.unwrap();

        assert_eq!(delivery.provider, "second");
        assert_eq!((first.asked().len(), second.asked().len()), (1, 1));
        assert_eq!(metrics.sms_provider_errors.with_label_values(&["first", "destination"]).get(), 1);
        assert_eq!(metrics.sms_provider_paused.with_label_values(&["first"]).get(), 0, "not a failure");
        assert_eq!(sender.send(&to(SERVED)).await.unwrap().provider, "first");
    }

    #[tokio::test]
    async fn destination_refusals_never_pause_a_provider() {
        let (first, second) = (Scripted::new("first", no_uzbekistan), Scripted::new("second", takes_everything));
        let (sender, metrics) = sender(vec![first.clone(), second.clone()], 2);

        // Many more refusals in a row than pause a failing provider.
        for _ in 0..10 {
            assert_eq!(sender.send(&to(UNSERVED)).await.unwrap().provider, "second");
        }
        assert_eq!(first.asked().len(), 10, "the first provider was asked every time");

        // Everyone else still gets their SMS from the first provider.
        assert_eq!(sender.send(&to(SERVED)).await.unwrap().provider, "first");
        assert_eq!(first.asked().last().map(String::as_str), Some("+447400123456"));
        assert_eq!(second.asked().len(), 10);
        assert_eq!(metrics.sms_provider_paused.with_label_values(&["first"]).get(), 0);
    }

    #[tokio::test]
    async fn when_every_provider_refuses_the_destination_the_message_fails_with_the_refusal() {
        let (first, second) = (Scripted::new("first", no_uzbekistan), Scripted::new("second", no_uzbekistan));
        let (sender, _) = sender(vec![first, second], 1);
        let refused = sender.send(&to(UNSERVED)).await.unwrap_err();
        assert_eq!(refused.provider, Some("second"));
        assert_eq!(refused.error.kind(), "destination");
        // And nobody was paused for it.
        assert_eq!(sender.send(&to(SERVED)).await.unwrap().provider, "first");
    }

    #[tokio::test]
    async fn a_provider_that_may_take_the_number_later_makes_it_worth_another_try() {
        fn down(_: &SmsMessage) -> Result<(), SendError> {
            Err(SendError::Unavailable("second: HTTP 503".into()))
        }
        // Refused by the first, the second is down: the second may take it later.
        let (sender, _) = sender(vec![Scripted::new("first", no_uzbekistan), Scripted::new("second", down)], 1);
        let undelivered = sender.send(&to(UNSERVED)).await.unwrap_err();
        assert_eq!(undelivered, Undelivered { provider: Some("second"), error: down(&to(SERVED)).unwrap_err() });

        // The second is now paused (one failure pauses here): still worth another try.
        let undelivered = sender.send(&to(UNSERVED)).await.unwrap_err();
        assert_eq!(undelivered.provider, None);
        assert_eq!(
            undelivered.error,
            SendError::Unavailable(
                "destination refused: first: error 21408: region not enabled; the other SMS providers are paused \
                 after repeated failures"
                    .into()
            )
        );
    }

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
