//! Delivery receipts posted by SMS providers. Not part of the DocSpace API (so not in the OpenAPI
//! document): providers call it, not clients.

use actix_web::{HttpRequest, HttpResponse, web};
use url::Url;

use crate::auth::AuthService;
use crate::error::Error;
use crate::sms::providers::twilio;
use crate::store::Receipt;

/// Where Twilio posts status callbacks (below `public_url`).
pub const TWILIO_PATH: &str = "/sms/receipts/twilio";

/// What checking Twilio's signatures takes: the token, and the exact URL Twilio was given (not
/// the Host header, which a forger controls).
#[derive(Clone)]
pub struct TwilioReceipts {
    pub auth_token: String,
    pub callback_url: Url,
}

/// Twilio's status callback: a form post signed with `X-Twilio-Signature`. Receipts only move a
/// `sent` message to `delivered` or `undelivered`; repeats and late arrivals change nothing.
pub async fn twilio_status(
    req: HttpRequest,
    body: web::Bytes,
    auth: web::Data<AuthService>,
    config: Option<web::Data<TwilioReceipts>>,
) -> Result<HttpResponse, Error> {
    let Some(config) = config else { return Err(Error::NotFound) };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let signature = req.headers().get("X-Twilio-Signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !twilio::verify_signature(&config.auth_token, config.callback_url.as_str(), &params, signature) {
        tracing::warn!("Twilio status callback with a bad signature");
        return Err(Error::InvalidSignature);
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let (Some(sid), Some(status)) = (param("MessageSid"), param("MessageStatus")) else {
        return Err(Error::InvalidRequest("MessageSid and MessageStatus are required".into()));
    };
    let final_state = match status {
        "delivered" | "read" => Some("delivered"),
        "undelivered" | "failed" => Some("undelivered"),
        _ => None,
    };
    let error = final_state.filter(|s| *s == "undelivered").map(|_| match param("ErrorCode") {
        Some(code) => format!("{}: {status} (error {code})", twilio::NAME),
        None => format!("{}: {status}", twilio::NAME),
    });
    let receipt = Receipt { status: status.to_owned(), final_state, error };
    let matched = auth.store().record_receipt(twilio::NAME, sid, &receipt, auth.now()).await?;
    // Twilio's documented statuses only, so the label set stays bounded.
    let label = match status {
        "accepted" | "scheduled" | "queued" | "sending" | "sent" | "delivered" | "undelivered" | "failed" | "read"
        | "canceled" => status,
        _ => "other",
    };
    auth.metrics().sms_receipts.with_label_values(&[twilio::NAME, label]).inc();
    tracing::info!(provider = twilio::NAME, provider_message_id = sid, status, matched, "delivery receipt");
    // 204 even when nothing matched: Twilio would only retry a receipt we cannot use.
    Ok(HttpResponse::NoContent().finish())
}
