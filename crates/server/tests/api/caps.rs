//! The hourly send caps per client address, per country calling code and overall, over HTTP: 429
//! `RateLimited` with `Retry-After` and the `X-RateLimit-*` send budget, counting down with the
//! clock and lifted when the hour is over; nothing stored or sent for a refused request.

use chrono::Duration;
use serde_json::{Value, json};

use docspace_auth_server::config::Settings;

use crate::helpers::*;

const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";

fn login_of(email: &str) -> Value {
    json!({"userName": email, "password": PASSWORD})
}

/// Alice and Carol on +1 numbers, Bob on a +44 one, under one cap of 2 that `cap` sets.
async fn spawn_with_cap(backend: Backend, cap: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_app_with(backend, cap).await;
    app.add_alice().await;
    app.add_user(CAROL, Some("+1 201 555 0124"), false).await;
    app.add_user(BOB, Some("+44 7400 123456"), false).await;
    app
}

async fn assert_sent(app: &TestApp, email: &str) {
    assert_eq!(app.send_sms(&login_of(email)).await.status(), 200, "{email}");
}

/// `email` is refused by a cap of 2 for `retry_after` more seconds, and nothing is queued.
async fn assert_capped(app: &TestApp, email: &str, retry_after: u64) {
    let queued = app.outbox_rows().await.len();
    let codes = app.stored_code_count().await;
    let response = app.send_sms(&login_of(email)).await;
    assert_eq!(response.status(), 429, "{email} is refused");
    let header = |name: &str| response.headers().get(name).map_or("(none)", |v| v.to_str().unwrap());
    let retry_after = retry_after.to_string();
    assert_eq!(
        [
            header("retry-after"),
            header("x-ratelimit-limit"),
            header("x-ratelimit-remaining"),
            header("x-ratelimit-reset")
        ],
        [retry_after.as_str(), "2", "0", retry_after.as_str()],
        "{email}: Retry-After, X-RateLimit-Limit, -Remaining, -Reset"
    );
    assert_error(response, 429, "RateLimited").await;
    assert_eq!(app.outbox_rows().await.len(), queued, "no message queued for {email}");
    assert_eq!(app.stored_code_count().await, codes, "no code stored for {email}");
}

/// Two messages fill the cap; `refused` is then refused for the rest of the hour (counting down),
/// `unaffected` (not under this cap) is not; after the hour `refused` is sent again.
async fn the_cap_holds_for_an_hour(app: &TestApp, first: [&str; 2], refused: &str, unaffected: Option<&str>) {
    for email in first {
        assert_sent(app, email).await;
    }
    assert_capped(app, refused, 3600).await;
    app.advance(Duration::seconds(1000));
    assert_capped(app, refused, 2600).await;
    if let Some(email) = unaffected {
        assert_sent(app, email).await;
    }
    app.advance(Duration::seconds(2599));
    assert_capped(app, refused, 1).await;
    app.advance(Duration::seconds(1));
    assert_sent(app, refused).await;
}

#[backend_test]
async fn the_per_country_cap(backend: Backend) {
    let app = spawn_with_cap(backend, |s| s.send_caps.per_country_per_hour = 2).await;
    // Two +1 numbers fill +1's hour; +44 is another country.
    the_cap_holds_for_an_hour(&app, [EMAIL, CAROL], EMAIL, Some(BOB)).await;
}

#[backend_test]
async fn the_per_address_cap(backend: Backend) {
    let app = spawn_with_cap(backend, |s| s.send_caps.per_ip_per_hour = 2).await;
    // One client, whatever the accounts and countries.
    the_cap_holds_for_an_hour(&app, [EMAIL, BOB], CAROL, None).await;
}

#[backend_test]
async fn the_global_cap(backend: Backend) {
    let app = spawn_with_cap(backend, |s| s.send_caps.global_per_hour = 2).await;
    the_cap_holds_for_an_hour(&app, [EMAIL, BOB], CAROL, None).await;
    // Every account and country, in the new hour too.
    assert_sent(&app, EMAIL).await;
    assert_capped(&app, BOB, 3600).await;
}
