//! The second factor: redeeming an SMS code for a session, recognising sessions, ending them.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::auth::{AuthService, Credentials};
use crate::confirm::{self, ConfirmType, KeyCheck};
use crate::error::{Error, Result};
use crate::guard::{AccountKey, Caller};
use crate::otp;
use crate::phone::MobilePhone;
use crate::session::SessionToken;
use crate::store::{CodeFailure, NewSession, PhoneChange, PhoneSource, UsedKey, User};

/// A session just started.
#[derive(Debug)]
pub struct SessionIssued {
    pub token: SessionToken,
    pub expires_at: DateTime<Utc>,
    pub phone_noise: String,
}

/// What `authenticateMe` leads to.
#[derive(Debug)]
pub enum LoginStep {
    /// No second factor needed: logged in.
    Session { token: SessionToken, expires_at: DateTime<Utc> },
    /// A code is on its way (or a live one already is): enter it on the PhoneAuth page.
    EnterCode { phone_noise: String, expires_at: DateTime<Utc>, confirm_url: String },
    /// No activated phone yet: set one on the PhoneActivation page.
    SetPhone { confirm_url: String },
}

/// A phone just set with `setphone`, and the code sent to it.
#[derive(Debug)]
pub struct PhoneSet {
    pub phone_noise: String,
    pub expires_at: DateTime<Utc>,
    pub confirm_url: String,
}

impl AuthService {
    /// `POST /api/2.0/authentication`: the password step. Without a required second factor the
    /// session starts at once; with one, the answer says where the login goes on.
    pub async fn authenticate_me(
        &self,
        credentials: &Credentials,
        culture: Option<&str>,
        caller: &Caller,
    ) -> Result<LoginStep> {
        let identified = self.authenticate(credentials, caller).await?;
        let user = &identified.user;
        // An unreadable client is in no range: it never skips the second factor.
        if !self.sms_two_factor || caller.addr.is_in(&self.two_factor_exempt) {
            let (token, expires_at) = self.start_session(user, identified.login_key.as_ref()).await?;
            self.login_succeeded(&identified.account, caller).await?;
            return Ok(LoginStep::Session { token, expires_at });
        }
        self.refund(&identified.account, identified.admitted, caller).await?;
        // An activated phone, or one an administrator put on file, gets the code: whoever has the
        // password cannot swap in a number of their own. Without either, the user chooses one.
        let bound = user.phone_activated || user.phone_source == Some(PhoneSource::Admin);
        let phone = user.mobile_phone.clone().map(MobilePhone::from_stored);
        let Some(phone) = phone.filter(|_| bound) else {
            return Ok(LoginStep::SetPhone { confirm_url: self.confirm_link(ConfirmType::PhoneActivation, user) });
        };
        // A code still live for this phone is not resent: the person may already have it.
        let now = self.clock.now();
        let live = self.store.live_codes(&user.id, now).await?;
        let expires_at = match live.iter().filter(|c| c.phone == phone.e164()).map(|c| c.expires_at).max() {
            Some(expires_at) => expires_at,
            None => self.issue_and_send_code(user, &phone, culture, caller).await?.expires_at,
        };
        Ok(LoginStep::EnterCode {
            phone_noise: phone.noise(),
            expires_at,
            confirm_url: self.confirm_link(ConfirmType::PhoneAuth, user),
        })
    }

    /// `POST /api/2.0/authentication/setphone`, authorised by a PhoneActivation link's query string
    /// (the `confirm` header): stores the (not yet activated) phone and sends it a code. An
    /// activated phone, an administrator's phone, and a number another user has activated are
    /// refused (409), decided in the statement that writes the phone.
    pub async fn save_mobile_phone(
        &self,
        confirm_query: &str,
        phone: &str,
        culture: Option<&str>,
        caller: &Caller,
    ) -> Result<PhoneSet> {
        let query = confirm::parse_query(confirm_query);
        let kind = query.kind.as_deref().and_then(ConfirmType::parse);
        let (Some(ConfirmType::PhoneActivation), Some(email), Some(key)) = (kind, &query.email, &query.key) else {
            return Err(Error::InvalidConfirmKey);
        };
        let now = self.clock.now();
        if confirm::check(&self.secret, ConfirmType::PhoneActivation, email, false, key, now) != KeyCheck::Ok {
            return Err(Error::InvalidConfirmKey);
        }
        let user = self.store.find_user_by_login(email).await?.ok_or(Error::InvalidConfirmKey)?;
        if user.disabled {
            return Err(Error::UserDisabled);
        }
        let phone = MobilePhone::parse(phone).map_err(|e| Error::InvalidPhone(e.to_string()))?;
        if !self.sms.is_configured() {
            return Err(Error::SmsNotConfigured);
        }
        // Counted like a login attempt from this address, so that refusals (which say whether a
        // number belongs to some account) cannot be asked for at will; a phone set is taken back.
        let account = AccountKey::of_user(&user.id);
        let admitted = self.admit(&account, false, caller).await?;
        // One conditional statement: a phone activated or provisioned meanwhile is never overwritten.
        match self.store.set_unactivated_phone(&user.id, phone.e164()).await? {
            PhoneChange::Set => self.refund(&account, admitted, caller).await?,
            PhoneChange::NoSuchUser => return Err(Error::InvalidConfirmKey),
            PhoneChange::Activated => return Err(Error::PhoneAlreadyActivated),
            PhoneChange::Provisioned => return Err(Error::PhoneProvisioned),
            PhoneChange::InUse => return Err(Error::PhoneInUse),
        }
        let sent = self.issue_and_send_code(&user, &phone, culture, caller).await?;
        Ok(PhoneSet {
            phone_noise: sent.phone_noise,
            expires_at: sent.expires_at,
            confirm_url: self.confirm_link(ConfirmType::PhoneAuth, &user),
        })
    }

    /// `POST /api/2.0/authentication/confirm`: whether a link's key is valid, without using it.
    /// Types this server does not issue are `Invalid`.
    pub async fn check_confirm(&self, kind: &str, email: &str, key: &str, first: bool) -> Result<KeyCheck> {
        let Some(kind) = ConfirmType::parse(kind) else { return Ok(KeyCheck::Invalid) };
        let check = confirm::check(&self.secret, kind, email, first, key, self.clock.now());
        if check == KeyCheck::Ok
            && kind == ConfirmType::Auth
            && self.store.is_key_used(&confirm::used_key_hash(&self.secret, key)).await?
        {
            return Ok(KeyCheck::Invalid);
        }
        Ok(check)
    }

    /// A link that logs the user in once within the hour (`docspace-auth user login-link`).
    pub fn login_link(&self, user: &User) -> String {
        self.confirm_link(ConfirmType::Auth, user)
    }

    fn confirm_link(&self, kind: ConfirmType, user: &User) -> String {
        let key = confirm::issue(&self.secret, kind, &user.email, false, self.clock.now());
        confirm::link(&self.public_url, kind, &user.email, false, &key)
    }

    async fn start_session(&self, user: &User, login_key: Option<&UsedKey>) -> Result<(SessionToken, DateTime<Utc>)> {
        let (token, session) = self.new_session(user);
        if !self.store.start_session(&session, login_key).await? {
            // The login link was used by a concurrent request.
            return Err(Error::UserNotFound);
        }
        tracing::info!(user_id = %user.id, session_id = %session.id, "session started without a second factor");
        Ok((token, session.expires_at))
    }

    fn new_session(&self, user: &User) -> (SessionToken, NewSession) {
        let now = self.clock.now();
        let token = SessionToken::generate();
        let session = NewSession {
            id: Uuid::new_v4().to_string(),
            token_hash: token.stored_hash(&self.secret),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + Duration::seconds(i64::from(self.sessions.ttl_seconds)),
        };
        (token, session)
    }

    /// `POST /api/2.0/authentication/{code}`: the credentials again plus the SMS code. The first
    /// correct live code is consumed, every other live code dies, the phone counts as activated and
    /// a session starts, all at once. Every failure is the same `AuthenticationFailed`.
    pub async fn redeem_sms_code(
        &self,
        credentials: &Credentials,
        code: &str,
        caller: &Caller,
    ) -> Result<SessionIssued> {
        let identified = self.authenticate(credentials, caller).await.map_err(only_internal_errors)?;
        let user = &identified.user;
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
            // The attempt was counted when it was admitted; no success clears it.
            return Err(Error::AuthenticationFailed);
        };

        let (token, session) = self.new_session(user);
        if !self.store.redeem_code(&matched.id, &session, identified.login_key.as_ref()).await? {
            // A concurrent request redeemed this code (or used this login link) first.
            return Err(Error::AuthenticationFailed);
        }
        self.login_succeeded(&identified.account, caller).await?;
        tracing::info!(user_id = %user.id, session_id = %session.id, "SMS code accepted; session started");
        Ok(SessionIssued {
            token,
            expires_at: session.expires_at,
            phone_noise: MobilePhone::from_stored(matched.phone.clone()).noise(),
        })
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

/// Code redemption answers every credential problem with the same 401; real faults, blocks and
/// CAPTCHA verdicts keep their own answers.
fn only_internal_errors(error: Error) -> Error {
    match error {
        Error::Internal(_)
        | Error::RateLimited { .. }
        | Error::InvalidRecaptcha
        | Error::CaptchaRequired
        | Error::AccountLocked
        | Error::CaptchaUnavailable
        | Error::DatabaseUnavailable(_)
        | Error::Busy => error,
        _ => Error::AuthenticationFailed,
    }
}
