//! `GET /metrics` in the Prometheus text format.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::AuthService;
use crate::config::SecretText;
use crate::error::Error;
use crate::store::StoreError;

/// Whether `/metrics` is served, and the bearer token scrapers must send when one is configured.
#[derive(Clone)]
pub struct MetricsAccess {
    pub enabled: bool,
    pub bearer_token: Option<SecretText>,
}

pub async fn get_metrics(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    access: web::Data<MetricsAccess>,
) -> Result<HttpResponse, Error> {
    if !access.enabled {
        return Err(Error::NotFound);
    }
    if let Some(token) = &access.bearer_token {
        let sent = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Digests of equal length: comparing the texts would end early on a length mismatch.
        if !bool::from(Sha256::digest(sent.as_bytes()).ct_eq(&Sha256::digest(token.0.as_bytes()))) {
            return Err(Error::AuthenticationFailed);
        }
    }
    let text = auth.metrics().render(auth.store().as_ref()).await.map_err(|e| match e.downcast::<StoreError>() {
        // An outage is answered as one (503), as everywhere else.
        Ok(store_error) => store_error.into(),
        Err(other) => Error::Internal(other),
    })?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
