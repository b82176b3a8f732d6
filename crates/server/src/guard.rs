//! Brute-force protection shared by login, `sendsms` and the code check: failures are counted per
//! (login, client IP); at the limit the pair is blocked for a while, and only a valid CAPTCHA lets a
//! person through before the block ends.

use std::fmt;
use std::net::IpAddr;

use crate::auth::{AuthService, seconds_until};
use crate::captcha::{CaptchaError, CaptchaKind};
use crate::error::{Error, Result};

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client's address (the peer, or what a trusted proxy says).
    pub ip: IpAddr,
    pub captcha: Option<CaptchaAnswer>,
}

impl Caller {
    /// A caller with no CAPTCHA answer.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self { ip, captcha: None }
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

impl AuthService {
    /// Refuses a blocked (login, IP) pair unless the request carries a valid CAPTCHA.
    pub(crate) async fn check_not_blocked(&self, login: &str, caller: &Caller) -> Result<()> {
        let now = self.clock.now();
        let Some(until) = self.store.login_blocked_until(login, &caller.ip.to_string(), now).await? else {
            return Ok(());
        };
        let blocked = || Error::RateLimited { retry_after_secs: seconds_until(now, until), budget: None };
        let Some(answer) = caller.captcha.as_ref().filter(|a| !a.response.is_empty()) else {
            return Err(blocked());
        };
        match self.captcha.verify(answer.kind, &answer.response, caller.ip).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::InvalidRecaptcha),
            // Nothing can check the answer: the block stands.
            Err(CaptchaError::NotConfigured) => Err(blocked()),
            Err(CaptchaError::Unavailable(reason)) => {
                tracing::warn!(kind = %answer.kind, %reason, "CAPTCHA verification unavailable");
                Err(Error::CaptchaUnavailable)
            }
        }
    }

    /// Counts a failed attempt for (login, IP); logs when it starts a block.
    pub(crate) async fn record_login_failure(&self, login: &str, caller: &Caller) -> Result<()> {
        let settings = &self.brute_force;
        let blocked_until = self
            .store
            .record_login_failure(
                login,
                &caller.ip.to_string(),
                self.clock.now(),
                i64::from(settings.window_seconds) * 1000,
                settings.max_failures,
                i64::from(settings.block_seconds) * 1000,
            )
            .await?;
        if let Some(until) = blocked_until {
            tracing::warn!(ip = %caller.ip, %until, "too many failed logins: blocked");
        }
        Ok(())
    }

    pub(crate) async fn clear_login_failures(&self, login: &str, caller: &Caller) -> Result<()> {
        Ok(self.store.clear_login_failures(login, &caller.ip.to_string()).await?)
    }
}
