//! Logging and request metrics. Requests are logged by route pattern, never by raw path or body, so codes and
//! passwords cannot reach the log.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use tracing_subscriber::EnvFilter;

use crate::auth::AuthService;
use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` level.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) is harmless.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Middleware logging method, route pattern, status and latency of every request.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "(no route)".into());
    if let Some(auth) = res.request().app_data::<web::Data<AuthService>>() {
        let metrics = auth.metrics();
        let status = res.status().as_u16().to_string();
        // Clients choose the method, so only standard ones become labels.
        let method = match method.as_str() {
            m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
            _ => "OTHER",
        };
        metrics.http_requests.with_label_values(&[method, &route, &status]).inc();
        metrics.http_request_seconds.with_label_values(&[method, &route]).observe(started.elapsed().as_secs_f64());
    }
    tracing::info!(
        %method,
        route,
        status = res.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(res)
}
