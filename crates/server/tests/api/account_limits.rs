//! Limits no one slips past by rotating addresses, spellings of the login or requests: the
//! account-wide count of consecutive failures, and IPv6 clients counted per network (issue 9,
//! item 3).

use chrono::Duration;
use serde_json::{Value, json};

use crate::brute_force::spawn_fake_verifier;
use crate::helpers::*;

/// Behind a trusted proxy on 127.0.0.1, so each request can come from an address of its own.
async fn spawn_behind_proxy(
    backend: Backend,
    configure: impl FnOnce(&mut docspace_auth_server::config::Settings),
) -> TestApp {
    spawn_app_with(backend, |s| {
        s.trusted_proxies = serde_json::from_value(json!(["127.0.0.1/32"])).unwrap();
        configure(s);
    })
    .await
}

impl TestApp {
    async fn from(&self, client: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .header("X-Forwarded-For", client)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn alice_failures(&self) -> u32 {
        let user = self.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap();
        self.auth.store().account_failures(&format!("user:{}", user.id)).await.unwrap()
    }
}

const SENDSMS: &str = "/api/2.0/authentication/sendsms";
const CODE: &str = "/api/2.0/authentication/code";

fn wrong_password() -> Value {
    json!({"userName": EMAIL, "password": "not it"})
}

fn with_code(code: &str) -> Value {
    json!({"userName": EMAIL, "password": PASSWORD, "code": code})
}

#[backend_test]
async fn rotating_addresses_does_not_escape_the_account_count(backend: Backend) {
    let app = spawn_behind_proxy(backend, |_| {}).await;
    app.add_alice().await;
    // Ten wrong passwords, each from an address of its own: no address is ever blocked.
    for i in 0..10 {
        assert_error(
            app.from(&format!("198.51.100.{i}"), SENDSMS, &wrong_password()).await,
            401,
            "AuthenticationFailed",
        )
        .await;
    }
    // The eleventh attempt waits, from any address, even with the right password.
    let response = app.from("203.0.113.50", SENDSMS, &login_body()).await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(response, 429, "RateLimited").await;
    assert!(app.outbox().is_empty());

    // Each failure doubles the wait.
    app.advance(Duration::seconds(1));
    assert_error(app.from("203.0.113.51", SENDSMS, &wrong_password()).await, 401, "AuthenticationFailed").await;
    let response = app.from("203.0.113.52", SENDSMS, &login_body()).await;
    assert_eq!(response.headers()["retry-after"], "2");
    assert_error(response, 429, "RateLimited").await;
    assert_eq!(app.alice_failures().await, 11);

    // The right password sends a code, but sending a code resets nothing...
    app.advance(Duration::seconds(2));
    assert_eq!(app.from("203.0.113.53", SENDSMS, &login_body()).await.status(), 200);
    assert_eq!(app.alice_failures().await, 11);
    // ...nor does it delay the code step that follows it; only a login resets the count.
    assert_eq!(app.from("203.0.113.55", CODE, &with_code(&app.last_code())).await.status(), 200);
    assert_eq!(app.alice_failures().await, 0);
    assert_error(app.from("203.0.113.56", SENDSMS, &wrong_password()).await, 401, "AuthenticationFailed").await;
}

#[backend_test]
async fn the_email_and_the_user_id_share_one_count(backend: Backend) {
    let app = spawn_behind_proxy(backend, |s| s.brute_force.account_captcha_after = 4).await;
    app.add_alice().await;
    let id = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap().id;
    for (i, login) in [EMAIL, &id, " Alice@Example.COM ", &id].into_iter().enumerate() {
        let body = json!({"userName": login, "password": "not it"});
        assert_error(app.from(&format!("198.51.100.{i}"), SENDSMS, &body).await, 401, "AuthenticationFailed").await;
    }
    assert_eq!(app.alice_failures().await, 4);
    let by_id = json!({"userName": id, "password": PASSWORD});
    assert_error(app.from("203.0.113.9", SENDSMS, &by_id).await, 429, "RateLimited").await;

    // The (login, address) count is the account's too: the id and the email, however spelt, share it.
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let id = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap().id;
    for login in [EMAIL, &id, "ALICE@example.com", &id, " alice@example.com\t"] {
        let body = json!({"userName": login, "password": "not it"});
        assert_error(app.send_sms(&body).await, 401, "AuthenticationFailed").await;
    }
    assert_error(app.send_sms(&json!({"userName": id, "password": PASSWORD})).await, 429, "RateLimited").await;
}

#[backend_test]
async fn wrong_codes_count_with_wrong_passwords(backend: Backend) {
    let app = spawn_behind_proxy(backend, |s| s.brute_force.account_captcha_after = 3).await;
    app.add_alice().await;
    assert_eq!(app.from("198.51.100.1", SENDSMS, &login_body()).await.status(), 200);
    assert_eq!(app.alice_failures().await, 0, "a right password is no failure");
    assert_error(app.from("198.51.100.2", SENDSMS, &wrong_password()).await, 401, "AuthenticationFailed").await;
    for (i, code) in ["000000", "111111"].into_iter().enumerate() {
        let client = format!("198.51.100.{}", 3 + i);
        assert_error(app.from(&client, CODE, &with_code(code)).await, 401, "AuthenticationFailed").await;
    }
    assert_eq!(app.alice_failures().await, 3);
    let response = app.from("203.0.113.9", CODE, &with_code(&app.last_code())).await;
    assert_error(response, 429, "RateLimited").await;
}

#[backend_test]
async fn with_a_captcha_configured_the_account_asks_for_one_then_locks(backend: Backend) {
    let verifier = spawn_fake_verifier().await;
    let app = spawn_behind_proxy(backend, |s| {
        s.brute_force.account_captcha_after = 3;
        s.brute_force.account_lock_after = 5;
        s.captcha.recaptcha_secret = Some("secret".into());
        s.captcha.recaptcha_verify_url = verifier.url.parse().unwrap();
    })
    .await;
    app.add_alice().await;
    for i in 0..3 {
        assert_error(
            app.from(&format!("198.51.100.{i}"), SENDSMS, &wrong_password()).await,
            401,
            "AuthenticationFailed",
        )
        .await;
    }
    // Now every attempt needs a CAPTCHA; without one nothing is counted.
    for _ in 0..3 {
        assert_error(app.from("203.0.113.1", SENDSMS, &login_body()).await, 403, "CaptchaRequired").await;
    }
    assert_eq!(app.alice_failures().await, 3);
    let captcha = |body: Value, answer: &str| {
        let mut body = body;
        body["recaptchaType"] = json!(0);
        body["recaptchaResponse"] = json!(answer);
        body
    };
    assert_error(app.from("203.0.113.2", SENDSMS, &captcha(login_body(), "robot")).await, 403, "InvalidRecaptcha")
        .await;
    assert_eq!(app.from("203.0.113.3", SENDSMS, &captcha(login_body(), "human")).await.status(), 200);
    for i in 0..2 {
        let client = format!("203.0.113.{}", 10 + i);
        let response = app.from(&client, SENDSMS, &captcha(wrong_password(), "human")).await;
        assert_error(response, 401, "AuthenticationFailed").await;
    }
    // Locked: not even the right password with a CAPTCHA gets in, from anywhere.
    let error =
        assert_error(app.from("192.0.2.1", SENDSMS, &captcha(login_body(), "human")).await, 403, "AccountLocked").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("administrator"), "{error}");
    assert_error(
        app.from("192.0.2.2", CODE, &captcha(with_code(&app.last_code()), "human")).await,
        403,
        "AccountLocked",
    )
    .await;

    let (_, failures) = app.auth.unlock_user(EMAIL).await.unwrap();
    assert_eq!(failures, 5);
    assert_eq!(app.from("192.0.2.3", SENDSMS, &login_body()).await.status(), 200);
}

#[backend_test]
async fn an_unknown_login_answers_exactly_like_a_known_one(backend: Backend) {
    let verifier = spawn_fake_verifier().await;
    let app = spawn_behind_proxy(backend, |s| {
        s.brute_force.account_captcha_after = 2;
        s.captcha.recaptcha_secret = Some("secret".into());
        s.captcha.recaptcha_verify_url = verifier.url.parse().unwrap();
    })
    .await;
    app.add_alice().await;
    for login in [EMAIL, "nobody@example.com"] {
        let body = json!({"userName": login, "password": "not it"});
        for i in 0..2 {
            assert_error(app.from(&format!("198.51.100.{i}"), SENDSMS, &body).await, 401, "AuthenticationFailed").await;
        }
        assert_error(app.from("198.51.100.9", SENDSMS, &body).await, 403, "CaptchaRequired").await;
    }
}

#[backend_test]
async fn concurrent_guesses_from_many_addresses_pass_the_account_threshold_exactly(backend: Backend) {
    let app = spawn_behind_proxy(backend, |_| {}).await;
    app.add_alice().await;
    let app = &app;
    let guesses =
        (0..30).map(|i| async move { app.from(&format!("198.51.100.{i}"), SENDSMS, &wrong_password()).await });
    let answers: Vec<_> = futures_util::future::join_all(guesses).await.iter().map(reqwest::Response::status).collect();
    assert_eq!(answers.iter().filter(|s| s.as_u16() == 401).count(), 10, "{answers:?}");
    assert_eq!(answers.iter().filter(|s| s.as_u16() == 429).count(), 20, "{answers:?}");
}

#[backend_test]
async fn ipv6_clients_count_per_network(backend: Backend) {
    let app = spawn_behind_proxy(backend, |s| s.send_caps.per_ip_per_hour = 2).await;
    app.add_alice().await;
    // Five wrong passwords from five addresses of one /64 block it as one client.
    for i in 1..=5 {
        let client = format!("2001:db8:1:2::{i:x}");
        assert_error(app.from(&client, SENDSMS, &wrong_password()).await, 401, "AuthenticationFailed").await;
    }
    assert_error(app.from("2001:db8:1:2:ffff::1", SENDSMS, &login_body()).await, 429, "RateLimited").await;
    // Another /64 is another client.
    assert_eq!(app.from("2001:db8:1:3::1", SENDSMS, &login_body()).await.status(), 200);
    // The per-address send cap counts the network too.
    assert_eq!(app.from("2001:db8:1:3::2", SENDSMS, &login_body()).await.status(), 200);
    let response = app.from("2001:db8:1:3::3", SENDSMS, &login_body()).await;
    assert!(response.headers().get("x-ratelimit-limit").is_some(), "a send cap, not a block");
    assert_error(response, 429, "RateLimited").await;
}
