//! Brute-force protection shared by login, `sendsms` and the code check. Every attempt is counted
//! twice, before its credentials are checked, so that concurrent guesses cannot slip past a limit:
//! - per (account, client address): DocSpace's rule, at the limit the pair is blocked a while;
//! - per account, whatever the address (NIST SP 800-63B-4): consecutive failures of passwords and
//!   codes together. From `brute_force.account_captcha_after` on, every attempt needs a valid
//!   CAPTCHA (when one is configured) or waits a delay doubling up to an hour; at
//!   `account_lock_after` the account is locked until an administrator unlocks it.
//!
//! A right credential takes its attempt back from both counts, so they hold failures only; only a
//! session clears them. Sending a new code never does. A valid CAPTCHA lets a person through a
//! pair's block and the account's CAPTCHA rule.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::auth::{AuthService, seconds_until};
use crate::captcha::{CaptchaError, CaptchaKind};
use crate::client_ip::ClientAddr;
use crate::error::{Error, Result};
use crate::store::{AccountAdmission, AccountRule};

/// The longest wait between two attempts on an account without a CAPTCHA.
const MAX_ACCOUNT_DELAY_MS: i64 = 3_600_000;

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client (the peer, or what a trusted proxy says).
    pub addr: ClientAddr,
    pub captcha: Option<CaptchaAnswer>,
}

impl Caller {
    /// A caller with no CAPTCHA answer.
    pub fn from_addr(addr: ClientAddr) -> Self {
        Self { addr, captcha: None }
    }
}

/// A CAPTCHA response sent with the request. `Debug` leaves the token out.
#[derive(Clone)]
pub struct CaptchaAnswer {
    pub kind: CaptchaKind,
    pub response: String,
}

impl fmt::Debug for CaptchaAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptchaAnswer").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Whose failures an attempt counts against: a known user by id, so that the email and the id
/// share one count; an unknown login by its normalised spelling, so that unknown logins are
/// throttled exactly like known ones and answers tell nothing about which exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey(String);

impl AccountKey {
    pub fn of_user(user_id: &str) -> Self {
        Self(format!("user:{user_id}"))
    }

    pub fn of_login(login: &str) -> Self {
        Self(format!("login:{}", normalise_login(login)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What `admit` counted for one attempt, so that a right credential takes back exactly that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Admitted {
    /// The (account, address) pair counted it (a CAPTCHA through a block counts nothing).
    pair_counted: bool,
    /// The account counted it, and this is the wait it set, if any.
    account: Option<Option<DateTime<Utc>>>,
}

/// A login as typed, in the one spelling it is looked up and counted under.
pub fn normalise_login(login: &str) -> String {
    login.trim().to_lowercase()
}

impl AuthService {
    /// Counts this attempt for `account` (account-wide only when `named`: the credentials name
    /// an account) before the credentials are checked. Refused: a blocked pair without a valid
    /// CAPTCHA (429), an account that wants a CAPTCHA (403 `CaptchaRequired`) or a wait (429),
    /// a locked account (403 `AccountLocked`).
    pub(crate) async fn admit(&self, account: &AccountKey, named: bool, caller: &Caller) -> Result<Admitted> {
        let now = self.clock.now();
        let settings = &self.brute_force;
        let mut human = None;
        let blocked = self
            .store
            .admit_login_attempt(
                account.as_str(),
                &self.client_bucket(caller),
                now,
                i64::from(settings.window_seconds) * 1000,
                settings.max_failures,
                i64::from(settings.block_seconds) * 1000,
            )
            .await?;
        if let Some(until) = blocked
            && !self.is_human(caller, &mut human).await?
        {
            tracing::info!(client = %caller.addr, "login attempt refused: blocked after too many failures");
            return Err(Error::RateLimited { retry_after_secs: seconds_until(now, until), budget: None });
        }
        let mut admitted = Admitted { pair_counted: blocked.is_none(), account: None };
        if !named {
            return Ok(admitted);
        }
        let rule = self.account_rule();
        let mut admission = self.store.admit_account_attempt(account.as_str(), now, &rule, false).await;
        if admission.as_ref().is_ok_and(|a| *a == AccountAdmission::CaptchaNeeded) {
            admission = match self.is_human(caller, &mut human).await {
                Ok(true) => self.store.admit_account_attempt(account.as_str(), now, &rule, true).await,
                Ok(false) => Ok(AccountAdmission::CaptchaNeeded),
                Err(e) => {
                    self.refund(account, admitted, caller).await?;
                    return Err(e);
                }
            };
        }
        let refused = match admission? {
            AccountAdmission::Admitted { wait_set } => {
                admitted.account = Some(wait_set);
                return Ok(admitted);
            }
            AccountAdmission::CaptchaNeeded => Error::CaptchaRequired,
            AccountAdmission::Wait(until) => {
                Error::RateLimited { retry_after_secs: seconds_until(now, until), budget: None }
            }
            AccountAdmission::Locked => {
                // A known user's id; never an unknown login as typed (it may be a password).
                let user = account.as_str().strip_prefix("user:").unwrap_or("(unknown login)");
                tracing::warn!(user, "login attempt refused: account locked");
                Error::AccountLocked
            }
        };
        // The attempt never reached the credentials: the address's count takes it back too.
        self.refund(account, admitted, caller).await?;
        Err(refused)
    }

    /// Whether the request carries a CAPTCHA answer that verifies; false without one or without a
    /// configured CAPTCHA. A wrong answer is `InvalidRecaptcha`, an unreachable verifier
    /// `CaptchaUnavailable`: never a pass. Verified at most once per request (`verdict`), since
    /// answers are single-use.
    async fn is_human(&self, caller: &Caller, verdict: &mut Option<bool>) -> Result<bool> {
        if let Some(known) = *verdict {
            return Ok(known);
        }
        let Some(answer) = caller.captcha.as_ref().filter(|a| !a.response.is_empty()) else {
            return Ok(false);
        };
        let human = match self.captcha.verify(answer.kind, &answer.response, caller.addr.ip()).await {
            Ok(true) => true,
            Ok(false) => return Err(Error::InvalidRecaptcha),
            // Nothing can check the answer: it proves nothing.
            Err(CaptchaError::NotConfigured) => false,
            Err(CaptchaError::Unavailable(reason)) => {
                tracing::warn!(kind = %answer.kind, %reason, "CAPTCHA verification unavailable");
                return Err(Error::CaptchaUnavailable);
            }
        };
        *verdict = Some(human);
        Ok(human)
    }

    /// The key per-address limits count `caller` under (IPv6 per network).
    pub(crate) fn client_bucket(&self, caller: &Caller) -> String {
        caller.addr.bucket(self.brute_force.ipv6_prefix)
    }

    fn account_rule(&self) -> AccountRule {
        AccountRule {
            captcha_after: self.brute_force.account_captcha_after,
            lock_after: self.brute_force.account_lock_after,
            captcha: [CaptchaKind::Recaptcha, CaptchaKind::Hcaptcha].into_iter().any(|k| self.captcha.is_configured(k)),
            max_delay_ms: MAX_ACCOUNT_DELAY_MS,
        }
    }

    /// The attempt was no failure (the credentials were right but no session starts yet: a code is
    /// on its way, a phone is to be set): what `admit` counted is taken back, and the wait it set.
    /// Nothing is cleared: the failures stay, and only a session forgets them.
    pub(crate) async fn refund(&self, account: &AccountKey, admitted: Admitted, caller: &Caller) -> Result<()> {
        if admitted.pair_counted {
            self.store.refund_login_attempt(account.as_str(), &self.client_bucket(caller)).await?;
        }
        if let Some(wait_set) = admitted.account {
            self.store.refund_account_attempt(account.as_str(), self.clock.now(), wait_set).await?;
        }
        Ok(())
    }

    /// A session started: the account's failures, and those of this address, are forgotten.
    pub(crate) async fn login_succeeded(&self, account: &AccountKey, caller: &Caller) -> Result<()> {
        let account = account.as_str();
        self.store.clear_login_failures(account, &self.client_bucket(caller)).await?;
        self.store.clear_account_failures(account).await?;
        Ok(())
    }
}
