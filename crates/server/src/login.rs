//! The second factor: redeeming an SMS code for a session, recognising sessions, ending them.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::auth::{AuthService, Credentials};
use crate::error::{Error, Result};
use crate::otp;
use crate::phone::MobilePhone;
use crate::session::SessionToken;
use crate::store::{CodeFailure, NewSession, User};

/// A session just started.
#[derive(Debug)]
pub struct SessionIssued {
    pub token: SessionToken,
    pub expires_at: DateTime<Utc>,
    pub phone_noise: String,
}

impl AuthService {
    /// `POST /api/2.0/authentication/{code}`: the credentials again plus the SMS code. The first
    /// correct live code is consumed, every other live code dies, the phone counts as activated and
    /// a session starts, all at once. Every failure is the same `AuthenticationFailed`.
    pub async fn redeem_sms_code(&self, credentials: &Credentials, code: &str) -> Result<SessionIssued> {
        let user = self.authenticate(credentials).await.map_err(only_internal_errors)?;
        let now = self.clock.now();
        let code = code.trim();
        let live = self.store.live_codes(&user.id, now).await?;
        // Check every live code in constant time, without stopping at a match.
        let matched = live.iter().fold(None, |found, candidate| {
            let hit = otp::matches(&self.secret, &user.id, code, &candidate.code_hash);
            found.or(hit.then_some(candidate))
        });
        let Some(matched) = matched else {
            let window_ms = i64::from(self.codes.ttl_seconds) * 1000;
            let outcome = self.store.record_code_failure(&user.id, now, window_ms, self.codes.max_failures).await?;
            if outcome == CodeFailure::LimitReached {
                tracing::warn!(user_id = %user.id, "too many wrong SMS codes: every live code is dead");
            }
            return Err(Error::AuthenticationFailed);
        };

        let token = SessionToken::generate();
        let expires_at = now + Duration::seconds(i64::from(self.sessions.ttl_seconds));
        let session = NewSession {
            id: Uuid::new_v4().to_string(),
            token_hash: token.stored_hash(&self.secret),
            user_id: user.id.clone(),
            created_at: now,
            expires_at,
        };
        if !self.store.redeem_code(&matched.id, &session).await? {
            // A concurrent request redeemed this code first.
            return Err(Error::AuthenticationFailed);
        }
        tracing::info!(user_id = %user.id, session_id = %session.id, "SMS code accepted; session started");
        Ok(SessionIssued { token, expires_at, phone_noise: MobilePhone::from_stored(matched.phone.clone()).noise() })
    }

    /// The user a token belongs to, if its session is live and the user still enabled.
    pub async fn session_user(&self, token: &SessionToken) -> Result<Option<User>> {
        let Some(session) = self.store.find_session(&token.stored_hash(&self.secret), self.clock.now()).await? else {
            return Ok(None);
        };
        let user = self.store.find_user_by_login(&session.user_id).await?;
        Ok(user.filter(|u| !u.disabled))
    }

    /// Ends the token's session; false when it was not live.
    pub async fn logout(&self, token: &SessionToken) -> Result<bool> {
        Ok(self.store.revoke_session(&token.stored_hash(&self.secret), self.clock.now()).await?)
    }
}

/// Code redemption answers every credential problem with the same 401; only real faults differ.
fn only_internal_errors(error: Error) -> Error {
    match error {
        Error::Internal(_) => error,
        _ => Error::AuthenticationFailed,
    }
}
