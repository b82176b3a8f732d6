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
    /// Counts this attempt for (login, IP) before the credentials are checked; a blocked pair is
    /// refused unless the request carries a valid CAPTCHA.
    pub(crate) async fn admit(&self, login: &str, caller: &Caller) -> Result<()> {
        let now = self.clock.now();
        let settings = &self.brute_force;
        let Some(until) = self
            .store
            .admit_login_attempt(
                login,
                &caller.ip.to_string(),
                now,
                i64::from(settings.window_seconds) * 1000,
                settings.max_failures,
                i64::from(settings.block_seconds) * 1000,
            )
            .await?
        else {
            return Ok(());
        };
        let blocked = || Error::RateLimited { retry_after_secs: seconds_until(now, until), budget: None };
        let Some(answer) = caller.captcha.as_ref().filter(|a| !a.response.is_empty()) else {
            tracing::info!(ip = %caller.ip, "login attempt refused: blocked after too many failures");
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

    /// Forgets the attempts of (login, IP) once a whole step succeeded.
    pub(crate) async fn clear_login_failures(&self, login: &str, caller: &Caller) -> Result<()> {
        Ok(self.store.clear_login_failures(login, &caller.ip.to_string()).await?)
    }
}
