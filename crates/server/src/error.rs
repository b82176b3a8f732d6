//! The one error type of the service. Rules return it; `api::error` maps it to HTTP in one place.

use crate::store::StoreError;

/// A caller's SMS send budget, reported in `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendBudget {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the next slot frees up.
    pub reset_after_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be understood: malformed JSON, a wrong type, an invalid value.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("The request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Wrong password, unknown user or missing credentials: deliberately indistinguishable.
    #[error("User authentication failed")]
    AuthenticationFailed,
    #[error("The user could not be found")]
    UserNotFound,
    #[error("User disabled")]
    UserDisabled,
    #[error("SMS two-factor authentication is not enabled on this portal")]
    SmsTwoFactorDisabled,
    #[error("The user has no mobile phone number; set one with POST /api/2.0/authentication/setphone")]
    MobilePhoneRequired,
    /// Names the field, never the value sent: messages echo nothing from the request.
    #[error(
        "Login with a third-party provider is not supported; send provider empty or `email`, with userName and password or passwordHash"
    )]
    ProviderNotSupported,
    /// Too many codes for a phone (with its send budget), or a blocked login (without).
    #[error("Too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64, budget: Option<SendBudget> },
    #[error("Invalid Recaptcha")]
    InvalidRecaptcha,
    /// Too many consecutive failures for the account: a valid CAPTCHA must come with the attempt.
    #[error("Too many failed attempts for this account; send a CAPTCHA answer (recaptchaType, recaptchaResponse)")]
    CaptchaRequired,
    /// Too many consecutive failures for the account: locked until an administrator unlocks it.
    #[error("The account is locked after too many failed attempts; an administrator must unlock it")]
    AccountLocked,
    #[error("The CAPTCHA could not be checked; try again later")]
    CaptchaUnavailable,
    #[error("SMS sending is not configured on this server")]
    SmsNotConfigured,
    #[error("The confirmation link is invalid or has expired")]
    InvalidConfirmKey,
    #[error("The mobile phone is already activated; it cannot be replaced this way")]
    PhoneAlreadyActivated,
    #[error("The mobile phone was set by an administrator; it cannot be replaced this way")]
    PhoneProvisioned,
    #[error("This mobile number is already in use by another account")]
    PhoneInUse,
    /// An administrator changed the phone while the request was under way.
    #[error("The user's mobile phone changed meanwhile; try again")]
    PhoneChanged,
    #[error("{0}")]
    InvalidPhone(String),
    #[error("The server is busy; try again in a moment")]
    Busy,
    /// The database is down or cannot be written; the request may be repeated. The cause goes to
    /// the log, never to the caller.
    #[error("The database is unavailable; try again in a moment")]
    DatabaseUnavailable(#[source] StoreError),
    /// A provider callback whose signature does not check out.
    #[error("The request signature is invalid")]
    InvalidSignature,
    #[error("No resource at this address")]
    NotFound,
    #[error("This method is not allowed here")]
    MethodNotAllowed,
    /// Details go to the log, never to the caller.
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Error::DatabaseUnavailable(e),
            other => Error::Internal(other.into()),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(e.into())
    }
}

impl Error {
    /// The stable, machine-readable kind put in the error envelope's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "InvalidRequest",
            Error::PayloadTooLarge { .. } => "PayloadTooLarge",
            Error::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Error::AuthenticationFailed => "AuthenticationFailed",
            Error::UserNotFound => "UserNotFound",
            Error::UserDisabled => "UserDisabled",
            Error::SmsTwoFactorDisabled => "SmsTwoFactorDisabled",
            Error::MobilePhoneRequired => "MobilePhoneRequired",
            Error::ProviderNotSupported => "ProviderNotSupported",
            Error::RateLimited { .. } => "RateLimited",
            Error::InvalidRecaptcha => "InvalidRecaptcha",
            Error::CaptchaRequired => "CaptchaRequired",
            Error::AccountLocked => "AccountLocked",
            Error::CaptchaUnavailable => "CaptchaUnavailable",
            Error::SmsNotConfigured => "SmsNotConfigured",
            Error::InvalidConfirmKey => "InvalidConfirmKey",
            Error::PhoneAlreadyActivated => "PhoneAlreadyActivated",
            Error::PhoneProvisioned => "PhoneProvisioned",
            Error::PhoneInUse => "PhoneInUse",
            Error::PhoneChanged => "PhoneChanged",
            Error::InvalidPhone(_) => "InvalidPhone",
            Error::Busy => "ServerBusy",
            Error::DatabaseUnavailable(_) => "DatabaseUnavailable",
            Error::InvalidSignature => "InvalidSignature",
            Error::NotFound => "NotFound",
            Error::MethodNotAllowed => "MethodNotAllowed",
            Error::Internal(_) => "InternalError",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
