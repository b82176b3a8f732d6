//! The delivery schedule on the service's clock: when retries fall due, when the outbox gives up,
//! when a message's stored text goes, and the circuit breaker's pause and trial.

use chrono::Duration;
use docspace_auth_server::clock::Clock;
use docspace_auth_server::config::Settings;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// A fake webhook gateway answering every message with `answer`.
async fn gateway(answer: ResponseTemplate) -> MockServer {
    let fake = MockServer::start().await;
    Mock::given(method("POST")).and(path("/send")).respond_with(answer).mount(&fake).await;
    fake
}

async fn requests(fake: &MockServer) -> usize {
    fake.received_requests().await.unwrap().len()
}

/// Settings sending through the webhook at `fake`, with no breaker in the way.
fn through_webhook(s: &mut Settings, fake: &MockServer) {
    s.sms.providers = vec!["webhook".into()];
    s.sms.webhook = Some(serde_json::from_value(json!({ "url": format!("{}/send", fake.uri()) })).unwrap());
    s.sms.failover.failures_to_pause = 0;
}

/// When the only message's next attempt is due, and when its last attempt ended (ms since the epoch).
async fn schedule(app: &TestApp) -> (i64, i64) {
    app.query::<(i64, i64)>("SELECT next_attempt_at, updated_at FROM sms_outbox").await[0]
}

/// Each retry falls due no earlier than half and no later than all of its backoff (doubling from
/// `first_retry_ms`, capped at `max_retry_ms`); after `max_attempts` the message fails for good and
/// the provider is never asked again, however much time goes by.
#[backend_test]
async fn retries_fall_due_within_their_backoff_and_stop_after_max_attempts(backend: Backend) {
    let fake = gateway(ResponseTemplate::new(503)).await;
    let app = spawn_app_with(backend, |s| {
        through_webhook(s, &fake);
        s.delivery.first_retry_ms = 1_000;
        s.delivery.max_retry_ms = 3_000;
        s.delivery.max_attempts = 4;
    })
    .await;
    app.add_alice().await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    // The test makes each retry itself, at the moment it falls due.
    let outbox = app.auth.outbox_worker();
    outbox.shutdown().await;

    for (attempts, full_backoff) in [(1, 1_000), (2, 2_000), (3, 3_000)] {
        let (due, failed_at) = schedule(&app).await;
        let wait = due - failed_at;
        assert!((full_backoff / 2..=full_backoff).contains(&wait), "retry {attempts}: after {wait} ms");
        app.advance(Duration::milliseconds(due - app.clock.now().timestamp_millis() - 1));
        app.assert_nothing_due().await;
        app.advance(Duration::milliseconds(1));
        assert!(outbox.deliver_one(None).await.unwrap(), "retry {attempts} was due");
        assert_eq!(app.outbox_rows().await[0].1, attempts + 1);
    }

    let rows = app.outbox_rows().await;
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("failed", 4), "{rows:?}");
    // Well within the code's life, long after another retry would have been due.
    app.advance(Duration::minutes(1));
    app.assert_nothing_due().await;
    assert_eq!(requests(&fake).await, 4, "exactly max_attempts requests");
}

/// A message sent at the first attempt keeps no text: nothing will need it again.
#[backend_test]
async fn a_message_sent_at_once_keeps_no_text(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    assert_eq!(app.outbox().len(), 1);
    assert_eq!(app.outbox_rows().await, [("sent".to_owned(), 1, false, None)]);
}

/// A message that failed for good keeps its text while its code lives (`outbox retry` may send it
/// again); once the code expires the text goes, and the row stays as it was otherwise.
#[backend_test]
async fn a_failed_message_loses_its_text_when_its_code_expires(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.delivery.max_attempts = 1).await;
    app.add_alice().await;
    // The development provider fails while its file is a directory.
    std::fs::create_dir_all(app.outbox_path()).unwrap();
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    let rows = app.outbox_rows().await;
    let (state, attempts, has_text, error) = rows[0].clone();
    assert_eq!((state.as_str(), attempts, has_text), ("failed", 1, true), "{rows:?}");

    app.advance(Duration::seconds(app.settings.codes.ttl_seconds.into()));
    let dropped = wait_until(|| async { Some(app.outbox_rows().await).filter(|rows| !rows[0].2) }).await;
    let rows = dropped.expect("the text was dropped once the code expired");
    assert_eq!(rows, [("failed".to_owned(), 1, false, error)], "only the text went");
}

/// After `failures_to_pause` failures in a row a provider is skipped (its messages go to the next
/// one) for `pause_seconds` on the service's clock; then exactly one trial goes through, and a
/// successful trial closes the circuit.
#[backend_test]
async fn a_paused_provider_gets_one_trial_after_its_pause_and_a_success_closes_it(backend: Backend) {
    let primary = gateway(ResponseTemplate::new(503)).await;
    let secondary = gateway(ResponseTemplate::new(200).set_body_json(json!({"ok": true}))).await;
    let app = spawn_app_with(backend, |s| {
        s.sms.providers = vec!["twilio".into(), "webhook".into()];
        s.sms.twilio = Some(
            serde_json::from_value(json!({
                "account_sid": "ACtest", "auth_token": "token", "from": "+15005550006", "base_url": primary.uri()
            }))
            .unwrap(),
        );
        s.sms.webhook = Some(serde_json::from_value(json!({ "url": format!("{}/send", secondary.uri()) })).unwrap());
        s.sms.failover.failures_to_pause = 2;
        s.sms.failover.pause_seconds = 30;
        s.codes.max_live_per_phone = 20;
    })
    .await;
    app.add_alice().await;
    // Sends one SMS; returns how many requests each gateway has had.
    let send = || async {
        assert_eq!(app.send_sms(&login_body()).await.status(), 200);
        (requests(&primary).await, requests(&secondary).await)
    };

    assert_eq!(send().await, (1, 1));
    assert_eq!(send().await, (2, 2), "the second failure in a row pauses the primary");
    assert_eq!(send().await, (2, 3), "paused: straight to the secondary");
    app.advance(Duration::seconds(29));
    assert_eq!(send().await, (2, 4), "still paused");
    app.advance(Duration::seconds(1));
    assert_eq!(send().await, (3, 5), "the trial, which fails: paused again");
    assert_eq!(send().await, (3, 6));

    // The primary is back.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"})))
        .with_priority(1)
        .mount(&primary)
        .await;
    app.advance(Duration::seconds(30));
    assert_eq!(send().await, (4, 6), "the trial succeeds");
    assert_eq!(send().await, (5, 6), "closed: the primary sends again");
    assert_eq!(app.outbox_rows().await.iter().filter(|r| r.0 == "sent").count(), 8, "every SMS delivered");
}
