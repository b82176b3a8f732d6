//! The authentication rules: who is logging in, and sending them an SMS code. Knows nothing of
//! HTTP; handlers translate requests into these calls.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::captcha::{CaptchaKind, CaptchaVerifier};
use crate::client_ip::IpRanges;
use crate::clock::Clock;
use crate::config::{BruteForceSettings, CodeSettings, SendCapSettings, SessionSettings};
use crate::confirm::{self, ConfirmType, KeyCheck};
use crate::crypto::ServerSecret;
use crate::error::{Error, Result, SendBudget};
use crate::guard::{AccountKey, Admitted, Caller, normalise_login};
use crate::metrics::Metrics;
use crate::otp::OneTimeCode;
use crate::password::{self, ClientHashParams};
use crate::phone::MobilePhone;
use crate::sms::outbox::{self, Outbox};
use crate::sms::{SmsSender, text};
use crate::store::{ClaimedMessage, CodeIssue, NewCode, NewMessage, PhoneSource, SendCap, Store, UsedKey, User};

/// How the caller proves who they are. `Debug` leaves out passwords and keys.
#[derive(Clone)]
pub enum Credentials {
    /// `userName` (email or id) with the password or the client-side hash of it.
    Password { login: String, proof: PasswordProof },
    /// A signed `Auth` confirm key from an emailed link.
    ConfirmKey { email: String, first: bool, key: String },
    /// Third-party login (`provider` other than empty or `email`).
    ThirdParty { provider: String },
    /// Nothing usable was sent.
    Missing,
}

impl Credentials {
    /// The account the credentials name, as typed: the login, or the login link's email.
    fn login(&self) -> Option<&str> {
        match self {
            Credentials::Password { login, .. } => Some(login.as_str()),
            Credentials::ConfirmKey { email, .. } => Some(email.as_str()),
            Credentials::ThirdParty { .. } | Credentials::Missing => None,
        }
        .filter(|login| !login.trim().is_empty())
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { login, proof } => {
                f.debug_struct("Password").field("login", login).field("proof", proof).finish()
            }
            Credentials::ConfirmKey { email, first, .. } => {
                f.debug_struct("ConfirmKey").field("email", email).field("first", first).finish_non_exhaustive()
            }
            Credentials::ThirdParty { provider } => f.debug_struct("ThirdParty").field("provider", provider).finish(),
            Credentials::Missing => f.write_str("Missing"),
        }
    }
}

#[derive(Clone)]
pub enum PasswordProof {
    Plain(String),
    ClientHash(String),
}

impl std::fmt::Debug for PasswordProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PasswordProof::Plain(_) => "Plain(..)",
            PasswordProof::ClientHash(_) => "ClientHash(..)",
        })
    }
}

/// Who the credentials identify, the account their attempt was counted against, and the
/// single-use login key (if any) to burn when a session starts for them.
#[derive(Debug, Clone)]
pub struct Identified {
    pub user: User,
    pub account: AccountKey,
    /// What the attempt counted, for `refund`.
    pub admitted: Admitted,
    pub login_key: Option<UsedKey>,
}

/// The answer to a successful `sendsms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCodeSent {
    pub phone_noise: String,
    pub expires_at: DateTime<Utc>,
    pub budget: SendBudget,
}

pub struct AuthService {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) secret: ServerSecret,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sms: SmsSender,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) hash_params: ClientHashParams,
    pub(crate) codes: CodeSettings,
    pub(crate) sessions: SessionSettings,
    pub(crate) sms_two_factor: bool,
    /// Host of the configured public URL, for the origin-bound line of the SMS.
    pub(crate) origin_host: Option<String>,
    /// Base of confirmation links.
    pub(crate) public_url: url::Url,
    /// Clients logging in from here need no second factor.
    pub(crate) two_factor_exempt: IpRanges,
    pub(crate) captcha: CaptchaVerifier,
    pub(crate) brute_force: BruteForceSettings,
    pub(crate) send_caps: SendCapSettings,
    /// Bounds concurrent PBKDF2 runs to the CPU count, so a flood of `password` logins queues
    /// (briefly) instead of piling up blocking threads.
    pub(crate) hash_slots: Arc<tokio::sync::Semaphore>,
    /// A stored hash no real user has, verified against when the user is unknown so that unknown
    /// users take as long as wrong passwords.
    pub(crate) decoy: User,
}

pub struct AuthServiceParts {
    pub store: Arc<dyn Store>,
    pub secret: ServerSecret,
    pub clock: Arc<dyn Clock>,
    pub sms: SmsSender,
    pub outbox: Arc<Outbox>,
    pub metrics: Arc<Metrics>,
    pub hash_params: ClientHashParams,
    pub codes: CodeSettings,
    pub sessions: SessionSettings,
    pub sms_two_factor: bool,
    pub origin_host: Option<String>,
    pub public_url: url::Url,
    pub two_factor_exempt: IpRanges,
    pub captcha: CaptchaVerifier,
    pub brute_force: BruteForceSettings,
    pub send_caps: SendCapSettings,
}

impl AuthService {
    pub fn new(parts: AuthServiceParts) -> Self {
        let decoy_salt = crate::crypto::random_hex(16);
        let decoy = User {
            id: String::new(),
            email: String::new(),
            password_hash: password::stored_hash(&parts.secret, &decoy_salt, &crate::crypto::random_hex(32)),
            password_salt: decoy_salt,
            mobile_phone: None,
            phone_activated: false,
            phone_source: None,
            disabled: false,
            created_at: DateTime::UNIX_EPOCH,
        };
        Self {
            store: parts.store,
            secret: parts.secret,
            clock: parts.clock,
            sms: parts.sms,
            outbox: parts.outbox,
            metrics: parts.metrics,
            hash_params: parts.hash_params,
            codes: parts.codes,
            sessions: parts.sessions,
            sms_two_factor: parts.sms_two_factor,
            origin_host: parts.origin_host,
            public_url: parts.public_url,
            two_factor_exempt: parts.two_factor_exempt,
            captcha: parts.captcha,
            brute_force: parts.brute_force,
            send_caps: parts.send_caps,
            hash_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            )),
            decoy,
        }
    }

    pub fn hash_params(&self) -> &ClientHashParams {
        &self.hash_params
    }

    /// The current time on the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The CAPTCHA a login page should show, as DocSpace publishes it: hCaptcha when configured,
    /// else reCAPTCHA; `None` when neither is.
    pub fn captcha_for_clients(&self) -> Option<(CaptchaKind, &str)> {
        [CaptchaKind::Hcaptcha, CaptchaKind::Recaptcha]
            .into_iter()
            .find_map(|kind| self.captcha.public_key(kind).map(|key| (kind, key)))
    }

    /// The outbox, to run its delivery worker.
    pub fn outbox_worker(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn sms_providers(&self) -> Vec<&'static str> {
        self.sms.describe()
    }

    pub(crate) fn secret(&self) -> &ServerSecret {
        &self.secret
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The client-side hash of a password, computed on a blocking thread (PBKDF2 is CPU work), at
    /// most one per core at a time; `Busy` when no core frees up within a few seconds.
    pub async fn client_hash(&self, password: String) -> Result<String> {
        let slot = tokio::time::timeout(HASH_QUEUE_WAIT, self.hash_slots.clone().acquire_owned())
            .await
            .map_err(|_| Error::Busy)?
            .map_err(|e| Error::Internal(e.into()))?;
        let params = self.hash_params.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            password::client_hash(&password, &params)
        })
        .await?)
    }

    /// Identifies the user exactly as login does. Every credential failure is the same
    /// `AuthenticationFailed`, whether the user is unknown or the password wrong; an invalid or used
    /// login-link key is `UserNotFound`, as in DocSpace.
    ///
    /// Brute-force accounting applies (see `guard`): the attempt is counted before the check,
    /// against the user once known (so the email and the id share one count), and a right
    /// credential takes it back only when the caller says so (`refund`, `login_succeeded`), so a
    /// right password does not wipe out the wrong codes sent with it.
    pub async fn authenticate(&self, credentials: &Credentials, caller: &Caller) -> Result<Identified> {
        let login = credentials.login();
        let found = match login {
            Some(login) => self.store.find_user_by_login(login.trim()).await?,
            None => None,
        };
        // A login link names its user by email, never by id.
        let found = match credentials {
            Credentials::ConfirmKey { email, .. } => found.filter(|user| user.email == normalise_login(email)),
            _ => found,
        };
        let account = match (&found, login) {
            (Some(user), _) => AccountKey::of_user(&user.id),
            (None, login) => AccountKey::of_login(login.unwrap_or_default()),
        };
        // Counted before the check, so concurrent guesses cannot slip past the limits.
        let admitted = self.admit(&account, login.is_some(), caller).await?;
        let (user, login_key) = match credentials {
            Credentials::Password { proof, .. } => (self.check_password(found, proof).await?, None),
            Credentials::ConfirmKey { first, key, .. } => self.check_login_key(found, *first, key).await?,
            Credentials::ThirdParty { .. } => return Err(Error::ProviderNotSupported),
            Credentials::Missing => return Err(Error::AuthenticationFailed),
        };
        if user.disabled {
            return Err(Error::UserDisabled);
        }
        Ok(Identified { user, account, admitted, login_key })
    }

    /// An `Auth` confirm key from a login link: valid for the user's email, and unused.
    async fn check_login_key(&self, found: Option<User>, first: bool, key: &str) -> Result<(User, Option<UsedKey>)> {
        let now = self.clock.now();
        let user = found.ok_or(Error::UserNotFound)?;
        if confirm::check(&self.secret, ConfirmType::Auth, &user.email, first, key, now) != KeyCheck::Ok {
            return Err(Error::UserNotFound);
        }
        let key_hash = confirm::used_key_hash(&self.secret, key);
        if self.store.is_key_used(&key_hash).await? {
            return Err(Error::UserNotFound);
        }
        Ok((user, Some(UsedKey { key_hash, expires_at: now + confirm::KEY_LIFETIME })))
    }

    /// The user `found` for the login, if the password proves it; the same work when no user was
    /// found, so that unknown users take as long as wrong passwords.
    async fn check_password(&self, found: Option<User>, proof: &PasswordProof) -> Result<User> {
        let client_hash = match proof {
            PasswordProof::ClientHash(hash) => password::normalise_client_hash(hash),
            PasswordProof::Plain(plain) => self.client_hash(plain.clone()).await?,
        };
        let candidate = found.as_ref().unwrap_or(&self.decoy);
        let matches =
            password::verify_stored(&self.secret, &candidate.password_salt, &client_hash, &candidate.password_hash);
        match found {
            Some(user) if matches => Ok(user),
            _ => Err(Error::AuthenticationFailed),
        }
    }

    /// `sendsms`: authenticate, then issue a new code and hand its SMS to the provider.
    pub async fn send_sms_code(
        &self,
        credentials: &Credentials,
        culture: Option<&str>,
        caller: &Caller,
    ) -> Result<SmsCodeSent> {
        let identified = self.authenticate(credentials, caller).await?;
        self.refund(&identified.account, identified.admitted, caller).await?;
        let user = identified.user;
        if !self.sms_two_factor {
            return Err(Error::SmsTwoFactorDisabled);
        }
        let phone = user.mobile_phone.clone().map(MobilePhone::from_stored).ok_or(Error::MobilePhoneRequired)?;
        self.issue_and_send_code(&user, &phone, culture, caller).await
    }

    /// Issues a new code for `phone` (within its cap) and queues its SMS in the same transaction,
    /// then makes the first delivery attempt; if that fails, the outbox worker retries.
    pub(crate) async fn issue_and_send_code(
        &self,
        user: &User,
        phone: &MobilePhone,
        culture: Option<&str>,
        caller: &Caller,
    ) -> Result<SmsCodeSent> {
        if !self.sms.is_configured() {
            return Err(Error::SmsNotConfigured);
        }
        let now = self.clock.now();
        let code = OneTimeCode::generate(self.codes.length);
        let message_id = Uuid::new_v4().to_string();
        let new_code = NewCode {
            id: message_id.clone(),
            user_id: user.id.clone(),
            phone: phone.e164().to_owned(),
            code_hash: code.stored_hash(&self.secret, &user.id),
            created_at: now,
            expires_at: now + Duration::seconds(i64::from(self.codes.ttl_seconds)),
        };
        let text = text::render(culture, &code, self.origin_host.as_deref());
        let sealed_text = outbox::seal_text(&self.secret, &message_id, &text);
        // Stored already claimed by this request, so the worker leaves it to the first attempt below.
        let message = NewMessage { sealed_text: sealed_text.clone(), claimed_until: now + self.outbox.lease() };
        let limit = self.codes.max_live_per_phone;
        let caps = self.send_caps(user, phone, caller);
        let (live_codes, oldest_expires_at) = match self.store.issue_code(&new_code, &message, limit, &caps).await? {
            CodeIssue::Issued { live_codes, oldest_expires_at } => (live_codes, oldest_expires_at),
            CodeIssue::CapReached { retry_at } => {
                return Err(send_refused(user, caller, "phone", limit, now, retry_at));
            }
            CodeIssue::SendCapReached { scope, limit, retry_at } => {
                return Err(send_refused(user, caller, scope, limit, now, retry_at));
            }
            CodeIssue::PhoneChanged => return Err(Error::PhoneChanged),
        };
        tracing::info!(user_id = %user.id, to = %phone.noise(), %message_id, "SMS code queued");
        // The message is durable now. The first attempt runs as its own task, so a dropped request
        // cannot abandon it half-way; a failed attempt is the worker's to retry.
        let claimed = ClaimedMessage {
            id: message_id,
            phone: phone.e164().to_owned(),
            sealed_text,
            attempts: 1,
            created_at: now,
            expires_at: new_code.expires_at,
            // From before the commit, which may have waited: the attempt gets only what is left.
            claimed_until: message.claimed_until,
        };
        self.metrics.sms_queued.inc();
        match self.outbox.spawn_attempt(claimed).await {
            Ok(Ok(())) => {}
            // The row stays claimed until its lease ends; then the worker takes it.
            Ok(Err(e)) => tracing::error!(error = %e, "could not record the first delivery attempt"),
            Err(e) => return Err(e.into()),
        }
        Ok(SmsCodeSent {
            phone_noise: phone.noise(),
            expires_at: new_code.expires_at,
            budget: SendBudget {
                limit,
                remaining: limit.saturating_sub(live_codes),
                reset_after_secs: seconds_until(now, oldest_expires_at),
            },
        })
    }

    /// The hourly send caps a message to `phone` for `user`, asked for by `caller`, counts against.
    fn send_caps(&self, user: &User, phone: &MobilePhone, caller: &Caller) -> Vec<SendCap> {
        const HOUR_MS: i64 = 3_600_000;
        let caps = &self.send_caps;
        // A number bound to this user (activated, or an administrator's) is theirs: their own caps
        // bound it. Any other number may be a stranger's, chosen by several accounts at once.
        let bound = user.mobile_phone.as_deref() == Some(phone.e164())
            && (user.phone_activated || user.phone_source == Some(PhoneSource::Admin));
        let per_phone = if bound { 0 } else { caps.per_phone_per_hour };
        [
            ("phone", phone.e164().to_owned(), per_phone),
            ("user", user.id.clone(), caps.per_user_per_hour),
            ("ip", self.client_bucket(caller), caps.per_ip_per_hour),
            ("country", phone.country_code().to_string(), caps.per_country_per_hour),
            ("global", String::new(), caps.global_per_hour),
        ]
        .into_iter()
        .filter(|(_, _, limit)| *limit > 0)
        .map(|(scope, key, limit)| SendCap { scope, key, limit, window_ms: HOUR_MS })
        .collect()
    }
}

/// The 429 for a message a cap refused; `cap` names it (`phone` for live codes per phone).
fn send_refused(
    user: &User,
    caller: &Caller,
    cap: &str,
    limit: u32,
    now: DateTime<Utc>,
    retry_at: DateTime<Utc>,
) -> Error {
    let retry_after_secs = seconds_until(now, retry_at);
    tracing::warn!(user_id = %user.id, client = %caller.addr, cap, "SMS refused: send cap reached");
    Error::RateLimited {
        retry_after_secs,
        budget: Some(SendBudget { limit, remaining: 0, reset_after_secs: retry_after_secs }),
    }
}

/// How long a password login may wait for a free core before it is answered `Busy`.
const HASH_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whole seconds from `now` until `then`, rounded up, at least 1.
pub fn seconds_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    let ms = (then - now).num_milliseconds().max(0);
    u64::try_from(ms).unwrap_or(0).div_ceil(1000).max(1)
}
