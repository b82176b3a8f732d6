//! Delivery through real provider APIs, played by fake gateways on 127.0.0.1: failover, the
//! circuit breaker, recipient and destination errors, Twilio receipts and the metrics that show
//! all of it.

use base64::Engine;
use docspace_auth_server::clock::Clock;
use docspace_auth_server::sms::providers::twilio;
use docspace_auth_server::store::MessageRecord;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const TWILIO_MESSAGES: &str = "/2010-04-01/Accounts/ACtest/Messages.json";
const AUTH_TOKEN: &str = "twilio-auth-token";
const CALLBACK: &str = "https://auth.example.com/sms/receipts/twilio";

fn twilio_settings(fake: &MockServer) -> twilio::TwilioSettings {
    serde_json::from_value(json!({
        "account_sid": "ACtest",
        "auth_token": AUTH_TOKEN,
        "from": "+15005550006",
        "status_callback_url": CALLBACK,
        "base_url": fake.uri(),
        "timeout_ms": 2000,
    }))
    .unwrap()
}

fn webhook_settings(fake: &MockServer) -> docspace_auth_server::sms::providers::webhook::WebhookSettings {
    serde_json::from_value(json!({ "url": format!("{}/send", fake.uri()), "timeout_ms": 2000 })).unwrap()
}

/// Twilio (primary) and the webhook (secondary), each on its own fake.
async fn app_with_twilio_then_webhook(
    backend: Backend,
    twilio_answer: ResponseTemplate,
    configure: impl FnOnce(&mut docspace_auth_server::config::Settings),
) -> (TestApp, MockServer, MockServer) {
    let twilio_fake = MockServer::start().await;
    Mock::given(method("POST")).and(path(TWILIO_MESSAGES)).respond_with(twilio_answer).mount(&twilio_fake).await;
    let webhook_fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&webhook_fake)
        .await;
    let app = spawn_app_with(backend, |s| {
        s.sms.providers = vec!["twilio".into(), "webhook".into()];
        s.sms.twilio = Some(twilio_settings(&twilio_fake));
        s.sms.webhook = Some(webhook_settings(&webhook_fake));
        configure(s);
    })
    .await;
    app.add_alice().await;
    (app, twilio_fake, webhook_fake)
}

async fn messages(app: &TestApp) -> Vec<MessageRecord> {
    app.auth.store().list_messages(None, 100).await.unwrap()
}

async fn metrics(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

/// The value of one sample line, e.g. `docspace_auth_sms_sent_total{provider="webhook"}`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn twilio_down() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_json(json!({"code": 20503, "message": "Service unavailable", "status": 503}))
}

#[backend_test]
async fn when_the_primary_is_down_the_secondary_delivers_at_once(backend: Backend) {
    let (app, twilio_fake, webhook_fake) = app_with_twilio_then_webhook(backend, twilio_down(), |_| {}).await;

    let response = app.send_sms(&login_body()).await;
    assert_eq!(response.status(), 200);

    // Within the request's own attempt: no backoff needed.
    assert_eq!(twilio_fake.received_requests().await.unwrap().len(), 1);
    let sent = webhook_fake.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["to"], PHONE_E164);
    assert!(body["text"].as_str().unwrap().starts_with("Code: "));
    let rows = messages(&app).await;
    assert_eq!((rows[0].state.as_str(), rows[0].provider.as_deref()), ("sent", Some("webhook")));
    assert_eq!(body["id"], rows[0].id.as_str());
    assert_eq!(sent[0].headers["idempotency-key"], rows[0].id.as_str());

    let metrics = metrics(&app).await;
    assert_eq!(
        sample(&metrics, r#"docspace_auth_sms_provider_errors_total{kind="unavailable",provider="twilio"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_sent_total{provider="webhook"}"#), Some(1.0));
    assert_eq!(sample(&metrics, "docspace_auth_sms_queued_total"), Some(1.0));
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_outbox_messages{state="sent"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_delivery_seconds_count{provider="webhook"}"#), Some(1.0));
}

#[backend_test]
async fn a_provider_failing_repeatedly_is_skipped_for_a_while(backend: Backend) {
    let (app, twilio_fake, webhook_fake) = app_with_twilio_then_webhook(backend, twilio_down(), |s| {
        s.sms.failover.failures_to_pause = 2;
        s.sms.failover.pause_seconds = 3600;
    })
    .await;

    for _ in 0..4 {
        assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    }

    assert_eq!(twilio_fake.received_requests().await.unwrap().len(), 2, "paused after two failures in a row");
    assert_eq!(webhook_fake.received_requests().await.unwrap().len(), 4, "every message still delivered");
    let metrics = metrics(&app).await;
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_provider_paused{provider="twilio"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_sent_total{provider="webhook"}"#), Some(4.0));
}

#[backend_test]
async fn a_number_the_provider_refuses_fails_without_trying_elsewhere(backend: Backend) {
    let invalid_number = ResponseTemplate::new(400).set_body_json(
        json!({"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}),
    );
    let (app, _twilio_fake, webhook_fake) = app_with_twilio_then_webhook(backend, invalid_number, |_| {}).await;

    assert_eq!(app.send_sms(&login_body()).await.status(), 200);

    assert!(webhook_fake.received_requests().await.unwrap().is_empty(), "no pointless failover");
    let rows = messages(&app).await;
    assert_eq!(rows[0].state, "failed");
    assert!(rows[0].last_error.as_deref().unwrap().contains("21211"), "{:?}", rows[0].last_error);
    let metrics = metrics(&app).await;
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_failed_total{provider="twilio"}"#), Some(1.0));
}

/// Bob's number is in a country Twilio's Geo Permissions do not enable in these tests.
const BOB: &str = "bob@example.com";
const BOB_PHONE: &str = "+998 90 123 4567";

fn region_not_enabled() -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "code": 21408,
        "message": "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +998901234567.",
        "status": 400
    }))
}

#[backend_test]
async fn a_destination_the_primary_will_not_serve_goes_to_the_secondary_and_pauses_nobody(backend: Backend) {
    let accepted = ResponseTemplate::new(201).set_body_json(json!({"sid": "SM90", "status": "queued"}));
    let (app, twilio_fake, webhook_fake) = app_with_twilio_then_webhook(backend, accepted, |s| {
        s.sms.failover.failures_to_pause = 2;
        s.sms.failover.pause_seconds = 3600;
    })
    .await;
    Mock::given(method("POST"))
        .and(path(TWILIO_MESSAGES))
        .and(body_string_contains("To=%2B998"))
        .respond_with(region_not_enabled())
        .with_priority(1)
        .mount(&twilio_fake)
        .await;
    app.add_user(BOB, Some(BOB_PHONE), false).await;
    let bob = json!({"userName": BOB, "password": PASSWORD});

    // More refusals in a row than pause a failing provider.
    for _ in 0..3 {
        assert_eq!(app.send_sms(&bob).await.status(), 200);
    }
    assert_eq!(twilio_fake.received_requests().await.unwrap().len(), 3, "Twilio was asked every time");
    assert_eq!(webhook_fake.received_requests().await.unwrap().len(), 3, "each went on to the webhook at once");

    // Alice's SMS still goes through Twilio.
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    assert_eq!(twilio_fake.received_requests().await.unwrap().len(), 4);
    assert_eq!(webhook_fake.received_requests().await.unwrap().len(), 3);
    let rows = messages(&app).await;
    let sent_by = |phone: &str| {
        rows.iter().filter(|r| r.phone == phone).map(|r| (r.state.as_str(), r.provider.as_deref())).collect::<Vec<_>>()
    };
    assert_eq!(sent_by("+998901234567"), vec![("sent", Some("webhook")); 3]);
    assert_eq!(sent_by(PHONE_E164), vec![("sent", Some("twilio"))]);

    let metrics = metrics(&app).await;
    assert_eq!(
        sample(&metrics, r#"docspace_auth_sms_provider_errors_total{kind="destination",provider="twilio"}"#),
        Some(3.0)
    );
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_provider_paused{provider="twilio"}"#), Some(0.0));
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_sent_total{provider="twilio"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_sent_total{provider="webhook"}"#), Some(3.0));
}

#[backend_test]
async fn a_destination_no_provider_will_serve_fails_at_once_without_retries(backend: Backend) {
    let twilio_fake = MockServer::start().await;
    Mock::given(method("POST")).and(path(TWILIO_MESSAGES)).respond_with(region_not_enabled()).mount(&twilio_fake).await;
    let app = spawn_app_with(backend, |s| {
        s.sms.providers = vec!["twilio".into()];
        s.sms.twilio = Some(twilio_settings(&twilio_fake));
        // Were a retry scheduled, it would be due within milliseconds.
        s.delivery.first_retry_ms = 10;
        s.delivery.max_retry_ms = 20;
    })
    .await;
    app.add_user(BOB, Some(BOB_PHONE), false).await;

    assert_eq!(app.send_sms(&json!({"userName": BOB, "password": PASSWORD})).await.status(), 200);

    let rows = messages(&app).await;
    assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("failed", 1));
    let error = rows[0].last_error.as_deref().unwrap();
    assert!(error.starts_with("destination refused: twilio: error 21408: Permission"), "{error}");
    assert!(!error.contains("998901234567"), "no number in errors: {error}");
    // Long past when a retry would have been due; the worker stopped, so a wrongly due message
    // would be claimed by the check, not by the worker behind its back.
    app.auth.outbox_worker().shutdown().await;
    app.advance(chrono::Duration::seconds(1));
    app.assert_nothing_due().await;
    assert_eq!(twilio_fake.received_requests().await.unwrap().len(), 1, "never retried");
    assert_eq!(messages(&app).await[0].state, "failed");
    let metrics = metrics(&app).await;
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_failed_total{provider="twilio"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_retried_total{provider="twilio"}"#), None);
}

/// A gateway that redirects is not followed: a 307 would post the credentials and the code again
/// to another host. The redirect is a failed attempt, not a delivery.
#[backend_test]
async fn a_provider_redirect_is_not_followed_and_is_no_delivery(backend: Backend) {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TWILIO_MESSAGES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "SM66", "status": "queued"})))
        .mount(&elsewhere)
        .await;
    let redirect =
        ResponseTemplate::new(307).insert_header("Location", format!("{}{TWILIO_MESSAGES}", elsewhere.uri()));
    let twilio_fake = MockServer::start().await;
    Mock::given(method("POST")).and(path(TWILIO_MESSAGES)).respond_with(redirect).mount(&twilio_fake).await;
    let app = spawn_app_with(backend, |s| {
        s.sms.providers = vec!["twilio".into()];
        s.sms.twilio = Some(twilio_settings(&twilio_fake));
    })
    .await;
    app.add_alice().await;

    assert_eq!(app.send_sms(&login_body()).await.status(), 200);

    assert_eq!(twilio_fake.received_requests().await.unwrap().len(), 1);
    assert!(elsewhere.received_requests().await.unwrap().is_empty(), "the redirect was followed");
    let rows = messages(&app).await;
    assert_ne!(rows[0].state, "sent");
    assert_eq!(rows[0].last_error.as_deref(), Some("provider refused: twilio: HTTP 307"));
    let metrics = metrics(&app).await;
    assert_eq!(
        sample(&metrics, r#"docspace_auth_sms_provider_errors_total{kind="rejected",provider="twilio"}"#),
        Some(1.0)
    );
}

#[backend_test]
async fn an_outage_of_every_provider_delays_messages_and_metrics_show_it(backend: Backend) {
    let twilio_fake = MockServer::start().await;
    // Down for the first two requests, then back.
    Mock::given(method("POST"))
        .and(path(TWILIO_MESSAGES))
        .respond_with(twilio_down())
        .up_to_n_times(2)
        .mount(&twilio_fake)
        .await;
    Mock::given(method("POST"))
        .and(path(TWILIO_MESSAGES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "SM42", "status": "queued"})))
        .mount(&twilio_fake)
        .await;
    let app = spawn_app_with(backend, |s| {
        s.sms.providers = vec!["twilio".into()];
        s.sms.twilio = Some(twilio_settings(&twilio_fake));
        s.delivery.first_retry_ms = 10;
        s.delivery.max_retry_ms = 20;
        s.sms.failover.failures_to_pause = 0;
    })
    .await;
    app.add_alice().await;

    assert_eq!(app.send_sms(&login_body()).await.status(), 200, "acknowledged although the provider is down");
    let sent = || async {
        // Retries fall due on the service's clock.
        app.advance(chrono::Duration::milliseconds(25));
        Some(messages(&app).await).filter(|rows| rows[0].state == "sent")
    };
    let rows = wait_until(sent).await.expect("delivered once the provider was back");
    assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("sent", 3));
    assert_eq!(rows[0].provider_message_id.as_deref(), Some("SM42"));
    assert_eq!(twilio_fake.received_requests().await.unwrap().len(), 3, "sent once it could be, and only once");
    let metrics = metrics(&app).await;
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_retried_total{provider="twilio"}"#), Some(2.0));
    assert_eq!(sample(&metrics, r#"docspace_auth_sms_sent_total{provider="twilio"}"#), Some(1.0));
}

/// Signs a callback as Twilio does (HMAC-SHA1 over the URL and the sorted parameters).
fn twilio_signature(params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(AUTH_TOKEN.as_bytes()).unwrap();
    mac.update(CALLBACK.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn post_receipt(app: &TestApp, params: &[(&str, &str)], signature: &str) -> reqwest::Response {
    app.http
        .post(app.url("/sms/receipts/twilio"))
        .header("X-Twilio-Signature", signature)
        .form(params)
        .send()
        .await
        .unwrap()
}

#[backend_test]
async fn twilio_receipts_with_a_valid_signature_update_the_message(backend: Backend) {
    let accepted = ResponseTemplate::new(201).set_body_json(json!({"sid": "SM77", "status": "queued"}));
    let (app, twilio_fake, _) = app_with_twilio_then_webhook(backend, accepted, |_| {}).await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    let request = &twilio_fake.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body).into_owned().collect();
    assert!(form.contains(&("StatusCallback".into(), CALLBACK.into())), "{form:?}");

    // A forged receipt changes nothing.
    let delivered = [("MessageSid", "SM77"), ("MessageStatus", "delivered"), ("AccountSid", "ACtest")];
    let forged = post_receipt(&app, &delivered, &twilio_signature(&[("MessageSid", "SM77")])).await;
    assert_error(forged, 403, "InvalidSignature").await;
    assert_eq!(messages(&app).await[0].state, "sent");

    let response = post_receipt(&app, &delivered, &twilio_signature(&delivered)).await;
    assert_eq!(response.status(), 204);
    let row = &messages(&app).await[0];
    assert_eq!((row.state.as_str(), row.receipt_status.as_deref()), ("delivered", Some("delivered")));

    // Late or repeated receipts, final ones included, do not change a delivered message.
    let late_undelivered = [("MessageSid", "SM77"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")];
    let late_sent = [("MessageSid", "SM77"), ("MessageStatus", "sent")];
    for late in [&late_undelivered[..], &late_sent, &delivered] {
        assert_eq!(post_receipt(&app, late, &twilio_signature(late)).await.status(), 204);
        let row = &messages(&app).await[0];
        let outcome = (row.state.as_str(), row.receipt_status.as_deref(), row.last_error.as_deref());
        assert_eq!(outcome, ("delivered", Some("delivered"), None), "after {late:?}");
    }
    let metrics = metrics(&app).await;
    assert_eq!(
        sample(&metrics, r#"docspace_auth_sms_receipts_total{provider="twilio",status="delivered"}"#),
        Some(2.0)
    );
}

#[backend_test]
async fn an_undelivered_receipt_records_the_carrier_error(backend: Backend) {
    let accepted = ResponseTemplate::new(201).set_body_json(json!({"sid": "SM78", "status": "queued"}));
    let (app, _twilio_fake, _) = app_with_twilio_then_webhook(backend, accepted, |_| {}).await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    let params = [("MessageSid", "SM78"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")];
    assert_eq!(post_receipt(&app, &params, &twilio_signature(&params)).await.status(), 204);
    let row = &messages(&app).await[0];
    assert_eq!(row.state, "undelivered");
    assert_eq!(row.last_error.as_deref(), Some("twilio: undelivered (error 30003)"));
}

#[backend_test]
async fn receipts_are_not_found_without_twilio_and_metrics_can_require_a_token(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics.bearer_token = Some(docspace_auth_server::config::SecretText("s3cret".into()))
    })
    .await;
    let params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")];
    assert_error(post_receipt(&app, &params, "x").await, 404, "NotFound").await;
    // A code in the path: counted under the route's pattern, the code itself kept out of /metrics.
    let code_login = app.post_raw("/api/2.0/authentication/123456", "application/json", login_body().to_string()).await;
    assert_error(code_login, 401, "AuthenticationFailed").await;

    let anonymous = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_error(anonymous, 401, "AuthenticationFailed").await;
    let scraped = app.http.get(app.url("/metrics")).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    // Requests are counted by route pattern, never by raw path.
    assert_eq!(
        sample(&text, r#"docspace_auth_http_requests_total{method="GET",route="/metrics",status="401"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"docspace_auth_http_requests_total{method="POST",route="/sms/receipts/twilio",status="404"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"docspace_auth_http_requests_total{method="POST",route="/api/2.0/authentication/{code}",status="401"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains("123456"), "a raw path leaked into /metrics: {text}");
    assert_eq!(sample(&text, r#"docspace_auth_sms_outbox_messages{state="queued"}"#), Some(0.0));
}

/// A claim can start long before its attempt does (the first attempt's starts before the code's
/// transaction commits, which may wait for a lock). The attempt gets only what is left of the
/// claim, less a fifth of the lease to record the outcome, so it is over before another worker
/// may claim the message and send it a second time.
#[backend_test]
async fn an_attempt_gets_only_what_is_left_of_its_claim(backend: Backend) {
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/send"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    let slow =
        ResponseTemplate::new(200).set_body_json(json!({"ok": true})).set_delay(std::time::Duration::from_secs(3));
    Mock::given(method("POST")).and(path("/send")).respond_with(slow).mount(&fake).await;
    let app = spawn_app_with(backend, |s| {
        s.sms.providers = vec!["webhook".into()];
        s.sms.webhook = Some(
            serde_json::from_value(json!({ "url": format!("{}/send", fake.uri()), "timeout_ms": 10_000 })).unwrap(),
        );
        s.delivery.lease_seconds = 10;
    })
    .await;
    app.add_alice().await;
    // The first attempt fails; the retry falls due on the service's clock, which stands still.
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    let id = messages(&app).await[0].id.clone();
    assert_eq!(messages(&app).await[0].state, "queued");

    let store = app.auth.store();
    let outbox = app.auth.outbox_worker();
    // This test claims the message itself, as a second worker would.
    outbox.shutdown().await;
    app.advance(chrono::Duration::seconds(2));
    let claimed_at = app.clock.now();
    let claimed = store.claim_message(Some(&id), claimed_at, 10_000).await.unwrap().expect("due");
    assert_eq!(claimed.claimed_until, claimed_at + chrono::Duration::seconds(10));
    // 6 s of the 10 s claim went by before the attempt: 2 s are left for sending, not 8.
    app.advance(chrono::Duration::seconds(6));
    let started = std::time::Instant::now();
    outbox.attempt(claimed).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "the attempt outlasted what was left of its claim");
    let row = messages(&app).await.into_iter().find(|m| m.id == id).unwrap();
    assert_eq!((row.state.as_str(), row.attempts), ("queued", 2), "{row:?}");
    assert!(row.last_error.as_deref().unwrap().contains("claim"), "{row:?}");

    // A claim with less than a fifth of its lease left is not used to send at all.
    app.advance(chrono::Duration::seconds(60));
    let claimed = store.claim_message(Some(&id), app.clock.now(), 10_000).await.unwrap().expect("due again");
    app.advance(chrono::Duration::seconds(9));
    let requests = fake.received_requests().await.unwrap().len();
    outbox.attempt(claimed).await.unwrap();
    assert_eq!(fake.received_requests().await.unwrap().len(), requests, "nothing sent on a spent claim");
}
