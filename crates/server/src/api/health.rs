//! `GET /health` for load balancers and orchestrators.

use actix_web::{HttpRequest, HttpResponse, web};

use super::dto::{HealthDto, HealthWrapper};
use super::envelope;
use super::envelope::ErrorApiResponse;
use crate::auth::AuthService;
use crate::error::Error;

/// Check health
///
/// 200 when this instance can reach its database; 503 `DatabaseUnavailable` when it cannot
/// within `database_timeout_ms`.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "getHealth",
    tag = "Operations",
    responses(
        (status = 200, description = "The instance is healthy.", body = HealthWrapper,
            example = json!({"response": {"status": "ok"}, "count": 1,
                "links": [{"href": "http://127.0.0.1:8092/health", "action": "GET"}],
                "status": 0, "statusCode": 200})),
        (status = 503, description = "The database does not answer (`DatabaseUnavailable`).", body = ErrorApiResponse),
    )
)]
pub async fn get_health(req: HttpRequest, auth: web::Data<AuthService>) -> Result<HttpResponse, Error> {
    auth.store().ping().await?;
    Ok(envelope::ok(&req, HealthDto { status: "ok".into() }))
}
