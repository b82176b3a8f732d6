//! The single place where errors become HTTP answers.

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};

use super::envelope::ErrorApiResponse;
use crate::error::{Error, SendBudget};

pub const X_RATELIMIT_LIMIT: &str = "X-RateLimit-Limit";
pub const X_RATELIMIT_REMAINING: &str = "X-RateLimit-Remaining";
pub const X_RATELIMIT_RESET: &str = "X-RateLimit-Reset";

/// `X-RateLimit-*` headers describing the caller's SMS send budget.
pub fn insert_rate_limit_headers(builder: &mut HttpResponseBuilder, budget: &SendBudget) {
    builder
        .insert_header((X_RATELIMIT_LIMIT, budget.limit.to_string()))
        .insert_header((X_RATELIMIT_REMAINING, budget.remaining.to_string()))
        .insert_header((X_RATELIMIT_RESET, budget.reset_after_secs.to_string()));
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::InvalidRequest(_)
            | Error::MobilePhoneRequired
            | Error::ProviderNotSupported
            | Error::InvalidPhone(_) => StatusCode::BAD_REQUEST,
            Error::AuthenticationFailed | Error::InvalidConfirmKey => StatusCode::UNAUTHORIZED,
            Error::PhoneAlreadyActivated | Error::PhoneProvisioned | Error::PhoneInUse | Error::PhoneChanged => {
                StatusCode::CONFLICT
            }
            Error::UserDisabled
            | Error::SmsTwoFactorDisabled
            | Error::InvalidRecaptcha
            | Error::CaptchaRequired
            | Error::AccountLocked
            | Error::InvalidSignature => StatusCode::FORBIDDEN,
            Error::UserNotFound | Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::SmsNotConfigured | Error::Busy | Error::CaptchaUnavailable | Error::DatabaseUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // Operators need the cause; callers only the kind.
        match self {
            Error::Internal(source) => tracing::error!(error = format!("{source:#}"), "internal error"),
            Error::DatabaseUnavailable(source) => tracing::error!(error = %source, "database unavailable"),
            _ => {}
        }
        let status = self.status_code();
        let mut builder = HttpResponse::build(status);
        if let Error::Busy | Error::DatabaseUnavailable(_) = self {
            builder.insert_header((RETRY_AFTER, "1"));
        }
        if let Error::RateLimited { retry_after_secs, budget } = self {
            builder.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
            if let Some(budget) = budget {
                insert_rate_limit_headers(&mut builder, budget);
            }
        }
        builder.json(ErrorApiResponse::new(status, self.kind(), self.to_string()))
    }
}

impl Error {
    pub fn into_response(self) -> HttpResponse {
        self.error_response()
    }
}
