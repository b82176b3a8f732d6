//! Brute-force blocking per (login, client IP) and the CAPTCHA that lets a person through
//! (CONTRACT.md section 7), against a fake verify service on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::Duration;
use serde_json::json;

use crate::helpers::*;

/// A stand-in for reCAPTCHA's and hCaptcha's siteverify: `human` passes, anything else fails.
pub struct FakeVerifier {
    pub url: String,
    pub requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

pub async fn spawn_fake_verifier() -> FakeVerifier {
    let requests: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
    let seen = requests.clone();
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().route(
            "/siteverify",
            web::post().to(move |form: web::Form<HashMap<String, String>>| {
                let seen = seen.clone();
                async move {
                    let success = form.get("response").map(String::as_str) == Some("human");
                    seen.lock().unwrap().push(form.into_inner());
                    HttpResponse::Ok().json(json!({"success": success}))
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/siteverify", server.addrs()[0]);
    tokio::spawn(server.run());
    FakeVerifier { url, requests }
}

fn wrong_password() -> serde_json::Value {
    json!({"userName": EMAIL, "password": "not it"})
}

async fn block_alice(app: &TestApp) {
    for _ in 0..5 {
        assert_error(app.send_sms(&wrong_password()).await, 401, "AuthenticationFailed").await;
    }
}

#[backend_test]
async fn five_failures_block_the_login_from_that_address_for_a_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    app.add_user("bob@example.com", Some("+44 7400 123456"), false).await;
    block_alice(&app).await;

    // Even the right password is refused while blocked, and nothing is sent.
    let response = app.send_sms(&login_body()).await;
    assert_eq!(response.headers()["retry-after"], "60");
    assert!(response.headers().get("x-ratelimit-limit").is_none(), "not a send budget");
    assert_error(response, 429, "RateLimited").await;
    assert_error(
        app.post_raw("/api/2.0/authentication", "application/json", login_body().to_string()).await,
        429,
        "RateLimited",
    )
    .await;
    assert!(app.outbox().is_empty());

    // Another login from the same address is not blocked.
    assert_eq!(app.send_sms(&json!({"userName": "bob@example.com", "password": PASSWORD})).await.status(), 200);

    app.advance(Duration::seconds(60));
    assert_eq!(app.send_sms(&login_body()).await.status(), 200, "the block ends");
}

#[backend_test]
async fn failures_spread_beyond_the_window_do_not_block(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    for _ in 0..4 {
        assert_error(app.send_sms(&wrong_password()).await, 401, "AuthenticationFailed").await;
    }
    app.advance(Duration::seconds(61));
    assert_error(app.send_sms(&wrong_password()).await, 401, "AuthenticationFailed").await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
}

#[backend_test]
async fn a_valid_captcha_lets_a_person_through_a_block(backend: Backend) {
    let verifier = spawn_fake_verifier().await;
    let app = spawn_app_with(backend, |s| {
        s.captcha.recaptcha_secret = Some("recaptcha-secret".into());
        s.captcha.recaptcha_public_key = Some("site-key".into());
        s.captcha.recaptcha_verify_url = verifier.url.parse().unwrap();
    })
    .await;
    app.add_alice().await;
    block_alice(&app).await;
    assert!(verifier.requests.lock().unwrap().is_empty(), "no CAPTCHA checked before a block");

    let mut body = login_body();
    body["recaptchaType"] = json!(0);
    body["recaptchaResponse"] = json!("robot");
    let error = assert_error(app.send_sms(&body).await, 403, "InvalidRecaptcha").await;
    assert_eq!(error["error"]["message"], "Invalid Recaptcha");

    body["recaptchaResponse"] = json!("human");
    assert_eq!(app.send_sms(&body).await.status(), 200);
    let requests = verifier.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1]["secret"], "recaptcha-secret");
    assert_eq!(requests[1]["response"], "human");
    assert_eq!(requests[1]["remoteip"], "127.0.0.1");

    // Sending a code clears nothing: the block stands until a login succeeds, which clears it.
    assert_error(app.send_sms(&login_body()).await, 429, "RateLimited").await;
    let mut code_login = body.clone();
    code_login["code"] = json!(app.last_code());
    let response = app.post_raw("/api/2.0/authentication/code", "application/json", code_login.to_string()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.send_sms(&login_body()).await.status(), 200, "the login cleared the count");
}

#[backend_test]
async fn hcaptcha_answers_go_to_hcaptcha(backend: Backend) {
    let verifier = spawn_fake_verifier().await;
    let app = spawn_app_with(backend, |s| {
        s.captcha.hcaptcha_secret = Some("hcaptcha-secret".into());
        s.captcha.hcaptcha_public_key = Some("h-site-key".into());
        s.captcha.hcaptcha_verify_url = verifier.url.parse().unwrap();
    })
    .await;
    app.add_alice().await;
    let settings = json_of(app.http.get(app.url("/api/2.0/settings")).send().await.unwrap()).await;
    assert_eq!(settings["response"]["recaptchaType"], 3);
    assert_eq!(settings["response"]["recaptchaPublicKey"], "h-site-key");

    block_alice(&app).await;
    let mut body = login_body();
    body["recaptchaType"] = json!("hCaptcha");
    body["recaptchaResponse"] = json!("human");
    assert_eq!(app.send_sms(&body).await.status(), 200);
    assert_eq!(verifier.requests.lock().unwrap()[0]["secret"], "hcaptcha-secret");
}

#[backend_test]
async fn an_unreachable_verify_service_is_503_not_a_free_pass(backend: Backend) {
    // Nothing listens on port 9 (discard) here.
    answer_is_captcha_unavailable(backend, "http://127.0.0.1:9/siteverify").await;
}

/// Alice blocked on a server that checks reCAPTCHA answers at `verify_url`: an answer that cannot
/// be checked there is 503 `CaptchaUnavailable`, and no code is sent.
async fn answer_is_captcha_unavailable(backend: Backend, verify_url: &str) {
    let app = spawn_app_with(backend, |s| {
        s.captcha.recaptcha_secret = Some("secret".into());
        s.captcha.recaptcha_verify_url = verify_url.parse().unwrap();
    })
    .await;
    app.add_alice().await;
    block_alice(&app).await;
    let mut body = login_body();
    body["recaptchaResponse"] = json!("human");
    assert_error(app.send_sms(&body).await, 503, "CaptchaUnavailable").await;
    assert!(app.outbox().is_empty());
}

/// A verify service that redirects is not followed (the secret would go wherever `Location`
/// points) and is no pass.
#[backend_test]
async fn a_redirecting_verify_service_is_not_followed(backend: Backend) {
    let elsewhere = spawn_fake_verifier().await;
    let redirecting = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(307).insert_header("Location", elsewhere.url.as_str()))
        .mount(&redirecting)
        .await;
    answer_is_captcha_unavailable(backend, &format!("{}/siteverify", redirecting.uri())).await;
    assert_eq!(redirecting.received_requests().await.unwrap().len(), 1);
    assert!(elsewhere.requests.lock().unwrap().is_empty(), "the redirect was followed");
}

#[backend_test]
async fn without_a_configured_captcha_the_block_stands_and_nothing_is_published(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let settings = json_of(app.http.get(app.url("/api/2.0/settings")).send().await.unwrap()).await;
    assert!(settings["response"].get("recaptchaType").is_none());
    block_alice(&app).await;
    let mut body = login_body();
    body["recaptchaResponse"] = json!("human");
    assert_error(app.send_sms(&body).await, 429, "RateLimited").await;
}

#[backend_test]
async fn concurrent_guesses_cannot_slip_past_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let guesses: Vec<_> = (0..20).map(|i| json!({"userName": EMAIL, "passwordHash": format!("{i:064x}")})).collect();
    let answers = futures_util::future::join_all(guesses.iter().map(|g| app.send_sms(g))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
}

#[backend_test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_the_one_blocked(backend: Backend) {
    let app =
        spawn_app_with(backend, |s| s.trusted_proxies = serde_json::from_value(json!(["127.0.0.1/32"])).unwrap()).await;
    app.add_alice().await;
    let from = |client: &'static str, body: serde_json::Value| {
        app.http
            .post(app.url("/api/2.0/authentication/sendsms"))
            .header("Content-Type", "application/json")
            .header("X-Forwarded-For", client)
            .body(body.to_string())
            .send()
    };
    for _ in 0..5 {
        assert_eq!(from("203.0.113.9", wrong_password()).await.unwrap().status(), 401);
    }
    assert_error(from("203.0.113.9", login_body()).await.unwrap(), 429, "RateLimited").await;
    // Another client behind the same proxy is not blocked.
    assert_eq!(from("198.51.100.7", login_body()).await.unwrap().status(), 200);
}
