//! A circuit breaker per provider: after `failures_to_pause` failures in a row the provider is
//! skipped for `pause_seconds`, so messages go straight to the next provider instead of waiting
//! for a dead one to time out. Failures are the provider's own (unavailable, or refusing us); an
//! answer about one number (it is invalid, or this provider will not send there) is no failure, so
//! one unlucky number cannot pause a provider for everyone. After the pause one message is let through as a trial; its outcome
//! closes the circuit or pauses the provider again. The state is per process: each instance
//! learns of an outage from its own attempts. Time is the app's [`Clock`](crate::clock::Clock)'s, so
//! tests can move it.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailoverSettings {
    /// Failures in a row after which a provider is skipped for a while; 0 never skips one.
    pub failures_to_pause: u32,
    /// How long a failing provider is skipped before it gets a trial message.
    pub pause_seconds: u32,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self { failures_to_pause: 3, pause_seconds: 30 }
    }
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    /// Skipped until the instant; then one trial is let through.
    Open {
        until: DateTime<Utc>,
    },
    /// A trial message is out since the instant; others skip the provider until it answers (or,
    /// should the trial never report back, until another pause has passed).
    Trial {
        since: DateTime<Utc>,
    },
}

#[derive(Debug)]
pub struct CircuitBreaker {
    settings: FailoverSettings,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(settings: FailoverSettings) -> Self {
        Self { settings, state: Mutex::new(State::Closed { failures: 0 }) }
    }

    /// Whether a message may be sent through the provider now (taking the trial slot if due).
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *state = State::Trial { since: now };
                true
            }
            State::Trial { since } if now >= since + self.pause() => {
                *state = State::Trial { since: now };
                true
            }
            State::Open { .. } | State::Trial { .. } => false,
        }
    }

    /// The provider took the message (or answered sensibly about the number).
    pub fn succeeded(&self) {
        *self.state.lock().expect("breaker lock") = State::Closed { failures: 0 };
    }

    /// The provider failed; true when this pauses it.
    pub fn failed(&self, now: DateTime<Utc>) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            // A failed trial pauses again at once.
            State::Trial { .. } | State::Open { .. } => self.settings.failures_to_pause.max(1),
        };
        if self.settings.failures_to_pause > 0 && failures >= self.settings.failures_to_pause {
            *state = State::Open { until: now + self.pause() };
            true
        } else {
            *state = State::Closed { failures };
            false
        }
    }

    fn pause(&self) -> Duration {
        Duration::seconds(i64::from(self.settings.pause_seconds))
    }

    /// Whether the provider is being skipped (for the metrics gauge).
    pub fn is_paused(&self) -> bool {
        !matches!(*self.state.lock().expect("breaker lock"), State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_after_failures_in_a_row_then_lets_one_trial_through() {
        let breaker = CircuitBreaker::new(FailoverSettings { failures_to_pause: 3, pause_seconds: 10 });
        let t0 = Utc::now();
        assert!(!breaker.failed(t0));
        breaker.succeeded(); // a success in between resets the count
        assert!(!breaker.failed(t0));
        assert!(!breaker.failed(t0));
        assert!(breaker.allows(t0));
        assert!(breaker.failed(t0), "third failure in a row pauses");
        assert!(!breaker.allows(t0 + Duration::seconds(9)));
        assert!(breaker.allows(t0 + Duration::seconds(10)), "the trial");
        assert!(!breaker.allows(t0 + Duration::seconds(10)), "only one trial at a time");
        assert!(breaker.failed(t0 + Duration::seconds(10)), "a failed trial pauses again");
        assert!(!breaker.allows(t0 + Duration::seconds(19)));
        assert!(breaker.allows(t0 + Duration::seconds(20)));
        // A trial that never reports back (its task was cancelled) lapses after another pause.
        assert!(!breaker.allows(t0 + Duration::seconds(29)));
        assert!(breaker.allows(t0 + Duration::seconds(30)));
        breaker.succeeded();
        assert!(breaker.allows(t0 + Duration::seconds(30)) && !breaker.is_paused());
    }

    #[test]
    fn zero_never_pauses() {
        let breaker = CircuitBreaker::new(FailoverSettings { failures_to_pause: 0, pause_seconds: 10 });
        let now = Utc::now();
        for _ in 0..10 {
            assert!(!breaker.failed(now));
        }
        assert!(breaker.allows(now));
    }
}
