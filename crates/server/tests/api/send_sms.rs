//! `POST /api/2.0/authentication/sendsms`: CONTRACT.md section 4, step by step.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;

#[backend_test]
async fn sends_a_code_by_sms_and_answers_in_the_success_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;

    let response = app.send_sms(&login_body()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-ratelimit-limit"], "6");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "5");
    assert_eq!(response.headers()["x-ratelimit-reset"], "600");
    assert!(response.headers().get("set-cookie").is_none(), "sendsms issues no session");
    let text = response.text().await.unwrap();
    // Byte for byte: payload fields in order, nulls omitted, no token, expiry = now + 10 minutes.
    assert_eq!(
        text,
        format!(
            r#"{{"response":{{"expires":"2026-11-28T10:10:00.000Z","sms":true,"phoneNoise":"+1201***0123","tfa":false}},"count":1,"links":[{{"href":"{}/api/2.0/authentication/sendsms","action":"POST"}}],"status":0,"statusCode":200}}"#,
            app.base
        )
    );

    let outbox = app.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["to"], PHONE_E164);
    let code = app.last_code();
    assert_eq!(code.len(), 6);
    // No public URL configured: no origin-bound line naming a host browsers could not match.
    assert_eq!(outbox[0]["text"], format!("Code: {code}"));
    assert!(!text.contains(&code), "the answer must not carry the code");
    assert_eq!(app.stored_code_count().await, 1);
}

#[backend_test]
async fn password_hash_computed_from_the_published_settings_logs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let settings = json_of(app.http.get(app.url("/api/2.0/settings")).send().await.unwrap()).await;
    let published = &settings["response"]["passwordHash"];
    assert_eq!(published["size"], 256);
    assert_eq!(published["iterations"], 1000);
    let params = docspace_auth_server::password::ClientHashParams {
        iterations: published["iterations"].as_u64().unwrap() as u32,
        size_bits: published["size"].as_u64().unwrap() as u32,
        salt: published["salt"].as_str().unwrap().to_owned(),
    };
    let hash = docspace_auth_server::password::client_hash(PASSWORD, &params);

    // Upper-case hex and the login in another case are fine; the password field is then unused.
    let response = app
        .send_sms(&json!({"userName": "ALICE@example.com", "passwordHash": hash.to_uppercase(), "password": "ignored"}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.outbox().len(), 1);
}

#[backend_test]
async fn every_credential_failure_is_the_same_401(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let mut bodies = Vec::new();
    for body in [
        json!({"userName": EMAIL, "password": "wrong password"}),
        json!({"userName": "nobody@example.com", "password": PASSWORD}),
        json!({"userName": EMAIL, "passwordHash": "00ff"}),
        json!({"userName": EMAIL}),
        json!({"password": PASSWORD}),
        json!({"userName": "", "password": ""}),
        json!({}),
    ] {
        let error = assert_error(app.send_sms(&body).await, 401, "AuthenticationFailed").await;
        assert_eq!(error["error"]["message"], "User authentication failed");
        bodies.push(error);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "identical answers");
    // The error envelope, byte for byte.
    let text = app.send_sms(&json!({"userName": EMAIL, "password": "x"})).await.text().await.unwrap();
    assert_eq!(
        text,
        r#"{"error":{"message":"User authentication failed","type":"AuthenticationFailed","stack":null,"hresult":0},"status":1,"statusCode":401}"#
    );
    assert!(app.outbox().is_empty());
    assert_eq!(app.stored_code_count().await, 0);
}

#[backend_test]
async fn disabled_user_is_refused_after_a_correct_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, Some(PHONE), true).await;
    let error = assert_error(app.send_sms(&login_body()).await, 403, "UserDisabled").await;
    assert_eq!(error["error"]["message"], "User disabled");
    // A wrong password does not reveal that the account exists but is disabled.
    assert_error(app.send_sms(&json!({"userName": EMAIL, "password": "nope"})).await, 401, "AuthenticationFailed")
        .await;
    assert!(app.outbox().is_empty());
}

#[backend_test]
async fn sms_two_factor_off_is_403_not_500(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.two_factor.sms = false).await;
    app.add_alice().await;
    assert_error(app.send_sms(&login_body()).await, 403, "SmsTwoFactorDisabled").await;
    assert!(app.outbox().is_empty());
}

#[backend_test]
async fn user_without_a_phone_is_told_to_set_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, None, false).await;
    let error = assert_error(app.send_sms(&login_body()).await, 400, "MobilePhoneRequired").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("setphone"));
    assert_eq!(app.stored_code_count().await, 0);
}

#[backend_test]
async fn third_party_providers_are_a_clear_400(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let error = assert_error(
        app.send_sms(&json!({"provider": "google", "accessToken": "t"})).await,
        400,
        "ProviderNotSupported",
    )
    .await;
    // The message names the field, not the value sent.
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("third-party provider") && !message.contains("google"), "{message}");
}

#[backend_test]
async fn confirm_data_with_an_invalid_key_is_user_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let error = assert_error(
        app.send_sms(&json!({"confirmData": {"email": EMAIL, "first": true, "key": "forged"}})).await,
        404,
        "UserNotFound",
    )
    .await;
    assert_eq!(error["error"]["message"], "The user could not be found");
    assert_error(app.send_sms(&json!({"confirmData": {"email": "not an email"}})).await, 400, "InvalidRequest").await;
    assert!(app.outbox().is_empty());
}

#[backend_test]
async fn no_sms_provider_is_503_and_issues_no_code(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sms.providers.clear()).await;
    app.add_alice().await;
    assert_error(app.send_sms(&login_body()).await, 503, "SmsNotConfigured").await;
    assert_eq!(app.stored_code_count().await, 0);
}

#[backend_test]
async fn a_failing_provider_delays_the_sms_but_never_loses_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    // A directory where the outbox file should be: every delivery attempt fails.
    std::fs::create_dir_all(app.outbox_path()).unwrap();
    let response = app.send_sms(&login_body()).await;
    assert_eq!(response.status(), 200, "the message is queued durably, so the answer is a success");

    let rows = app.outbox_rows().await;
    assert_eq!(rows.len(), 1);
    let (state, attempts, has_text, error) = &rows[0];
    assert_eq!((state.as_str(), *attempts, *has_text), ("queued", 1, true));
    assert!(error.as_deref().unwrap().starts_with("provider unavailable: "), "{error:?}");
    assert_eq!(app.stored_code_count().await, 1, "the code stays: its SMS is on its way");

    // The provider recovers; once the retry is due the worker delivers, exactly once.
    std::fs::remove_dir(app.outbox_path()).unwrap();
    app.advance(Duration::seconds(2));
    let outbox = app.wait_for_outbox(1).await;
    assert_eq!(outbox[0]["to"], PHONE_E164);
    let rows = app.wait_for_settled_outbox().await;
    assert_eq!(app.outbox().len(), 1, "delivered once");
    assert_eq!((rows[0].0.as_str(), rows[0].1, rows[0].2), ("sent", 2, false), "sent, and its text dropped");
}

#[backend_test]
async fn an_sms_whose_code_expired_is_not_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    std::fs::create_dir_all(app.outbox_path()).unwrap();
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    std::fs::remove_dir(app.outbox_path()).unwrap();
    app.advance(Duration::seconds(601));
    let rows = app.wait_for_settled_outbox().await;
    assert_eq!((rows[0].0.as_str(), rows[0].2), ("failed", false), "{rows:?}");
    assert!(app.outbox().is_empty());
}

#[backend_test]
async fn the_seventh_live_code_for_a_phone_is_refused_until_one_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    for sent in 1..=6u32 {
        let response = app.send_sms(&login_body()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-remaining"], (6 - sent).to_string().as_str());
        app.advance(Duration::seconds(10));
    }
    // Earlier codes stay live: six are live now; the oldest expires 600 - 60 = 540 s from now.
    let response = app.send_sms(&login_body()).await;
    assert_eq!(response.headers()["retry-after"], "540");
    assert_eq!(response.headers()["x-ratelimit-limit"], "6");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(response.headers()["x-ratelimit-reset"], "540");
    assert_error(response, 429, "RateLimited").await;
    assert_eq!(app.outbox().len(), 6);
    assert_eq!(app.stored_code_count().await, 6);

    app.advance(Duration::seconds(540));
    assert_eq!(app.send_sms(&login_body()).await.status(), 200, "a slot frees when the oldest code expires");
    assert_eq!(app.outbox().len(), 7);
}

#[backend_test]
async fn the_cap_holds_under_concurrent_requests(backend: Backend) {
    // Twelve attempts at once for one account from one address would also trip brute-force
    // accounting (attempts are counted before the check): out of the way, so the cap is what shows.
    let app = spawn_app_with(backend, |s| {
        s.brute_force.max_failures = 100;
        s.brute_force.account_captcha_after = 100;
        s.brute_force.account_lock_after = 1_000;
    })
    .await;
    app.add_alice().await;
    let body = login_body();
    let requests = (0..12).map(|_| app.send_sms(&body));
    let statuses: Vec<u16> =
        futures_util::future::join_all(requests).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 6, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 6, "{statuses:?}");
    assert_eq!(app.stored_code_count().await, 6);
}

#[backend_test]
async fn culture_picks_the_language_of_the_sms(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let mut body = login_body();
    body["culture"] = json!("ru-RU");
    assert_eq!(app.send_sms(&body).await.status(), 200);
    let code = app.last_code();
    assert_eq!(app.outbox()[0]["text"], format!("Код: {code}"));
}

#[backend_test]
async fn session_code_and_recaptcha_fields_are_accepted_in_both_forms(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    for recaptcha in [json!(0), json!(3), json!("hCaptcha"), json!("iOSV2"), Value::Null] {
        let mut body = login_body();
        body["recaptchaType"] = recaptcha.clone();
        body["recaptchaResponse"] = json!("token");
        body["session"] = json!(true);
        body["code"] = json!("123456");
        body["unknownField"] = json!({"ignored": true});
        let codes_before = app.stored_code_count().await;
        let response = app.send_sms(&body).await;
        assert_eq!(response.status(), 200, "recaptchaType {recaptcha}");
        // `session` and `code` are the login step's: sendsms neither starts a session nor redeems.
        assert!(response.headers().get("set-cookie").is_none(), "sendsms issued a session");
        assert_eq!(app.stored_code_count().await, codes_before + 1, "exactly one new code per call");
        assert_eq!(app.outbox().len() as i64, codes_before + 1, "exactly one SMS per call");
    }
}

/// The webhook provider pointed at a fake gateway that answers every send with 503: messages stay
/// queued with their texts, and the fake shows what each text was.
async fn app_with_a_gateway_down(backend: Backend) -> (TestApp, wiremock::MockServer) {
    let fake = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(503))
        .mount(&fake)
        .await;
    let app = spawn_app_with(backend, |s| {
        s.sms.providers = vec!["webhook".into()];
        s.sms.webhook =
            Some(serde_json::from_value(json!({"url": format!("{}/send", fake.uri()), "timeout_ms": 2000})).unwrap());
        // Never paused: every send reaches the fake, which records its text.
        s.sms.failover.failures_to_pause = 0;
    })
    .await;
    (app, fake)
}

#[backend_test]
async fn neither_codes_nor_passwords_are_stored_in_plain_text(backend: Backend) {
    let (app, fake) = app_with_a_gateway_down(backend).await;
    app.add_alice().await;
    for _ in 0..3 {
        assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    }
    let texts: Vec<String> = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 3, "each SMS was attempted once");
    // Undelivered, so every text is still in the database: the scan below has something to miss.
    let rows = app.outbox_rows().await;
    assert_eq!(rows.iter().filter(|(state, _, has_text, _)| state == "queued" && *has_text).count(), 3, "{rows:?}");

    let bytes = app.database_bytes().await;
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    // Sanity: the scan reads stored values (the email is kept in clear to look users up).
    assert!(contains(EMAIL.as_bytes()), "sanity: the scan sees stored data");
    assert!(contains(PHONE_E164.as_bytes()), "sanity: the scan sees stored data");
    assert!(!contains(PASSWORD.as_bytes()), "password stored in plain text");
    // Nor what clients send instead of the password, which is as good as the password.
    let client_hash = docspace_auth_server::password::client_hash(PASSWORD, app.auth.hash_params());
    assert!(!contains(client_hash.as_bytes()), "passwordHash stored as sent");
    assert!(!contains(client_hash.to_uppercase().as_bytes()), "passwordHash stored as sent");
    for text in texts {
        let code = text.strip_prefix("Code: ").expect("the text is the code");
        assert!(!contains(text.as_bytes()), "SMS text {text:?} stored in plain text");
        assert!(!contains(code.as_bytes()), "code {code} stored in plain text");
    }
}

#[backend_test]
async fn a_failed_message_can_be_queued_again_while_its_code_is_valid(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.delivery.max_attempts = 1).await;
    app.add_alice().await;
    std::fs::create_dir_all(app.outbox_path()).unwrap();
    for _ in 0..2 {
        assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    }
    let store = app.auth.store();
    let failed = store.list_messages(Some("failed"), 10).await.unwrap();
    assert_eq!(failed.len(), 2, "one attempt allowed each, and it failed");

    std::fs::remove_dir(app.outbox_path()).unwrap();
    assert!(store.retry_message(&failed[0].id, app.auth.now()).await.unwrap());
    assert_eq!(app.wait_for_outbox(1).await[0]["id"], failed[0].id.as_str());
    assert!(!store.retry_message(&failed[0].id, app.auth.now()).await.unwrap(), "sent: nothing to retry");

    // Once the code is dead, its message is not queued again. The worker stops first so it cannot
    // drop the expired text itself: the refusal shown is the retry's own.
    app.auth.outbox_worker().shutdown().await;
    app.advance(Duration::seconds(600));
    assert!(!store.retry_message(&failed[1].id, app.auth.now()).await.unwrap(), "retried after its code expired");
    assert_eq!(store.list_messages(Some("failed"), 10).await.unwrap().len(), 1, "still failed");
}

#[backend_test]
async fn a_claim_expires_after_its_lease_and_stale_attempts_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    std::fs::create_dir_all(app.outbox_path()).unwrap();
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    let store = app.auth.store();
    let id = store.list_messages(None, 1).await.unwrap()[0].id.clone();

    // A process claims the message (attempt 2) and dies mid-send: nobody else may take it
    // until its lease ends; then another process can (attempt 3).
    let later = app.auth.now() + Duration::seconds(120);
    let lease_ms = 30_000;
    let claimed = store.claim_message(Some(&id), later, lease_ms).await.unwrap().expect("due");
    assert_eq!(claimed.attempts, 2);
    assert!(store.claim_message(Some(&id), later + Duration::seconds(29), lease_ms).await.unwrap().is_none());
    let reclaimed = store.claim_message(Some(&id), later + Duration::seconds(30), lease_ms).await.unwrap();
    assert_eq!(reclaimed.expect("the lease ended").attempts, 3);

    // The first claimant comes back late: its outcome is ignored; the current one's counts.
    store.message_sent(&id, 2, "development", None, later).await.unwrap();
    assert_eq!(store.list_messages(None, 1).await.unwrap()[0].state, "sending");
    store.message_attempt_failed(&id, 2, "late", None, later).await.unwrap();
    assert_eq!(store.list_messages(None, 1).await.unwrap()[0].state, "sending");
    store.message_sent(&id, 3, "development", Some("x"), later).await.unwrap();
    let row = &store.list_messages(None, 1).await.unwrap()[0];
    assert_eq!((row.state.as_str(), row.provider_message_id.as_deref()), ("sent", Some("x")));
}

#[backend_test]
async fn hourly_send_caps_per_user_and_per_address_hold(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.send_caps.per_user_per_hour = 2;
        s.send_caps.per_ip_per_hour = 3;
    })
    .await;
    app.add_alice().await;
    app.add_user("bob@example.com", Some("+44 7400 123456"), false).await;
    let bob = json!({"userName": "bob@example.com", "password": PASSWORD});

    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    app.advance(Duration::seconds(60));
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    // Alice's hour is used up (the window opened at her first SMS, 60 s ago).
    let response = app.send_sms(&login_body()).await;
    assert_eq!(response.headers()["retry-after"], "3540");
    assert_eq!(response.headers()["x-ratelimit-limit"], "2");
    assert_error(response, 429, "RateLimited").await;

    // Bob is another user, but this address has one SMS left this hour.
    assert_eq!(app.send_sms(&bob).await.status(), 200);
    assert_error(app.send_sms(&bob).await, 429, "RateLimited").await;
    assert_eq!(app.outbox().len(), 3, "refused requests send nothing");
    assert_eq!(app.stored_code_count().await, 3, "and store no code");

    app.advance(Duration::seconds(3600));
    assert_eq!(app.send_sms(&login_body()).await.status(), 200, "a new hour");
}

#[backend_test]
async fn a_replayed_phone_activation_link_cannot_pump_sms(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.send_caps.per_user_per_hour = 3).await;
    app.add_user(EMAIL, None, false).await;
    let step =
        json_of(app.post_raw("/api/2.0/authentication", "application/json", login_body().to_string()).await).await;
    let query = step["response"]["confirmUrl"].as_str().unwrap().split_once('?').unwrap().1.to_owned();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let response = app
            .http
            .post(app.url("/api/2.0/authentication/setphone"))
            .header("Content-Type", "application/json")
            .header("confirm", query.as_str())
            .body(json!({"mobilePhone": format!("+44 7400 12345{i}")}).to_string())
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(app.outbox().len(), 3);
}

#[backend_test]
async fn an_sms_whose_code_died_before_delivery_is_never_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    let delivered = app.last_code();
    // The provider goes down; a second code is queued, undelivered (a second later, so the outbox
    // rows sort by creation).
    app.advance(Duration::seconds(1));
    std::fs::remove_file(app.outbox_path()).unwrap();
    std::fs::create_dir_all(app.outbox_path()).unwrap();
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    // The first code logs in, which kills the second one.
    let body = json!({"userName": EMAIL, "password": PASSWORD, "code": delivered});
    assert_eq!(app.post_raw("/api/2.0/authentication/c", "application/json", body.to_string()).await.status(), 200);

    std::fs::remove_dir(app.outbox_path()).unwrap();
    app.advance(Duration::seconds(5));
    let rows = app.wait_for_settled_outbox().await;
    assert_eq!(rows[1].0, "failed", "{rows:?}");
    assert!(!rows[1].2, "its text is dropped");
    assert!(app.outbox().is_empty(), "a dead code's SMS is not sent");
}

#[backend_test]
async fn expired_bookkeeping_is_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    // After the success, which would clear it: this failure stays until it is purged.
    assert_eq!(app.send_sms(&json!({"userName": EMAIL, "password": "wrong"})).await.status(), 401);
    let count = |table: &'static str| {
        let app = &app;
        async move { app.query::<(i64,)>(&format!("SELECT COUNT(*) FROM {table}")).await[0].0 }
    };
    assert_eq!(count("send_counters").await, 4);
    assert_eq!(count("login_failures").await, 1);
    app.advance(Duration::hours(2));
    app.auth.outbox_worker().purge().await.unwrap();
    assert_eq!(count("send_counters").await, 0);
    assert_eq!(count("login_failures").await, 0);
}
