//! authenticateMe, setphone, checkConfirm and login links (issue 3, CONTRACT.md section 8).

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;

const LOGIN: &str = "/api/2.0/authentication";
const SETPHONE: &str = "/api/2.0/authentication/setphone";
const CONFIRM: &str = "/api/2.0/authentication/confirm";

impl TestApp {
    async fn login(&self, body: &Value) -> reqwest::Response {
        self.post_raw(LOGIN, "application/json", body.to_string()).await
    }

    async fn set_phone(&self, confirm: Option<&str>, phone: &str) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url(SETPHONE))
            .header("Content-Type", "application/json")
            .body(json!({"mobilePhone": phone}).to_string());
        if let Some(confirm) = confirm {
            request = request.header("confirm", confirm);
        }
        request.send().await.unwrap()
    }

    async fn check_confirm(&self, body: Value) -> i64 {
        let response = self.post_raw(CONFIRM, "application/json", body.to_string()).await;
        assert_eq!(response.status(), 200);
        json_of(response).await["response"]["result"].as_i64().unwrap()
    }
}

/// The query string of a confirm URL, as clients send it in the `confirm` header.
fn query_of(url: &str) -> String {
    url.split_once('?').expect("a query string").1.to_owned()
}

fn query_value(url: &str, name: &str) -> String {
    url::form_urlencoded::parse(query_of(url).as_bytes()).find(|(k, _)| k == name).unwrap().1.into_owned()
}

#[backend_test]
async fn first_login_sets_and_activates_a_phone_then_later_logins_send_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, None, false).await;

    // Password step without a phone: a PhoneActivation link, no SMS, no session.
    let response = app.login(&login_body()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    let step = json_of(response).await["response"].clone();
    assert_eq!(step["sms"], true);
    assert!(step.get("token").is_none() && step.get("phoneNoise").is_none());
    let activation = step["confirmUrl"].as_str().unwrap().to_owned();
    assert!(
        activation.starts_with(&format!(
            "{}/confirm/PhoneActivation?type=PhoneActivation&email=",
            app.settings.public_url().as_str().trim_end_matches('/')
        )),
        "{activation}"
    );
    assert!(app.outbox().is_empty());

    // setphone with the link's query string: the phone is stored and gets a code.
    let response = app.set_phone(Some(&query_of(&activation)), "+44 7400 123456").await;
    assert_eq!(response.status(), 200);
    let set = json_of(response).await["response"].clone();
    assert_eq!(set["phoneNoise"], "+4474****3456");
    assert_eq!(set["expires"], "2026-11-28T10:10:00.000Z");
    assert!(set["confirmUrl"].as_str().unwrap().contains("/confirm/PhoneAuth?type=PhoneAuth&"));
    assert_eq!(app.outbox()[0]["to"], "+447400123456");
    let user = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap();
    assert_eq!((user.mobile_phone.as_deref(), user.phone_activated), (Some("+447400123456"), false));

    // The code logs in and activates the phone; it can no longer be replaced through setphone.
    let mut body = login_body();
    body["code"] = json!(app.last_code());
    assert_eq!(app.post_raw("/api/2.0/authentication/code", "application/json", body.to_string()).await.status(), 200);
    assert!(app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap().phone_activated);
    assert_error(app.set_phone(Some(&query_of(&activation)), "+1 201 555 0123").await, 409, "PhoneAlreadyActivated")
        .await;

    // Next login: a code goes to the activated phone, with a PhoneAuth link.
    let step = json_of(app.login(&login_body()).await).await["response"].clone();
    assert_eq!(step["phoneNoise"], "+4474****3456");
    assert!(step["confirmUrl"].as_str().unwrap().contains("/confirm/PhoneAuth?"));
    assert_eq!(app.outbox().len(), 2);
    // Asking again while that code is live sends nothing new and reports the same expiry.
    app.advance(Duration::seconds(30));
    let again = json_of(app.login(&login_body()).await).await["response"].clone();
    assert_eq!(app.outbox().len(), 2);
    assert_eq!(again["expires"], step["expires"]);
}

#[backend_test]
async fn setphone_needs_a_valid_phone_activation_link(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, None, false).await;
    let activation =
        json_of(app.login(&login_body()).await).await["response"]["confirmUrl"].as_str().unwrap().to_owned();
    let good = query_of(&activation);

    assert_error(app.set_phone(None, "+44 7400 123456").await, 401, "InvalidConfirmKey").await;
    let tampered = good.replace("PhoneActivation", "PhoneAuth");
    assert_error(app.set_phone(Some(&tampered), "+44 7400 123456").await, 401, "InvalidConfirmKey").await;
    // Bob exists and has no phone either: only the link's binding to Alice refuses him.
    app.add_user("bob@example.com", None, false).await;
    let other_user = good.replace("alice%40example.com", "bob%40example.com");
    assert_error(app.set_phone(Some(&other_user), "+44 7400 123456").await, 401, "InvalidConfirmKey").await;
    let bad_key = format!("{good}x");
    assert_error(app.set_phone(Some(&bad_key), "+44 7400 123456").await, 401, "InvalidConfirmKey").await;

    let error = assert_error(app.set_phone(Some(&good), "+44 20 7946 0000").await, 400, "InvalidPhone").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("not a mobile number"));
    assert_error(app.set_phone(Some(&good), "+1 555 555 0123").await, 400, "InvalidPhone").await;
    assert!(app.outbox().is_empty());
    assert_eq!(app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap().mobile_phone, None);

    app.advance(Duration::seconds(3601));
    assert_error(app.set_phone(Some(&good), "+44 7400 123456").await, 401, "InvalidConfirmKey").await;
}

#[backend_test]
async fn without_sms_two_factor_the_password_alone_starts_a_session(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.two_factor.sms = false).await;
    app.add_alice().await;
    let response = app.login(&login_body()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["set-cookie"].to_str().unwrap().starts_with("asc_auth_key="));
    let body = json_of(response).await;
    assert_eq!(body["response"]["sms"], false);
    let token = body["response"]["token"].as_str().unwrap();
    let check = app.http.get(app.url(LOGIN)).header("Authorization", token).send().await.unwrap();
    assert_eq!(json_of(check).await["response"], true);
    assert!(app.outbox().is_empty());
    assert_error(app.login(&json!({"userName": EMAIL, "password": "wrong"})).await, 401, "AuthenticationFailed").await;
}

#[backend_test]
async fn trusted_ip_ranges_skip_the_second_factor(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.two_factor.trusted_ip_ranges = serde_json::from_value(json!(["127.0.0.0/8"])).unwrap();
    })
    .await;
    app.add_alice().await;
    let body = json_of(app.login(&login_body()).await).await;
    assert!(body["response"]["token"].is_string(), "{body}");

    // An untrusted client claiming a trusted address through X-Forwarded-For gets no exemption.
    let app = spawn_app_with(backend, |s| {
        s.two_factor.trusted_ip_ranges = serde_json::from_value(json!(["10.0.0.0/8"])).unwrap();
    })
    .await;
    app.add_alice().await;
    let response = app
        .http
        .post(app.url(LOGIN))
        .header("Content-Type", "application/json")
        .header("X-Forwarded-For", "10.1.2.3")
        .body(login_body().to_string())
        .send()
        .await
        .unwrap();
    let body = json_of(response).await;
    assert!(body["response"].get("token").is_none(), "{body}");
    assert_eq!(body["response"]["sms"], true);
}

#[backend_test]
async fn x_forwarded_for_counts_only_from_trusted_proxies(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.trusted_proxies = serde_json::from_value(json!(["127.0.0.1/32"])).unwrap();
        s.two_factor.trusted_ip_ranges = serde_json::from_value(json!(["10.0.0.0/8"])).unwrap();
    })
    .await;
    app.add_alice().await;
    let via_proxy = |forwarded: &'static str| {
        app.http
            .post(app.url(LOGIN))
            .header("Content-Type", "application/json")
            .header("X-Forwarded-For", forwarded)
            .body(login_body().to_string())
            .send()
    };
    // The proxy (our peer, trusted) says the client is 10.1.2.3: trusted range, no second factor.
    assert!(json_of(via_proxy("10.1.2.3").await.unwrap()).await["response"]["token"].is_string());
    // A client spoofing a trusted address to the left of its real one gains nothing.
    assert!(json_of(via_proxy("10.1.2.3, 203.0.113.9").await.unwrap()).await["response"].get("token").is_none());
}

#[backend_test]
async fn check_confirm_reports_ok_invalid_and_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, None, false).await;
    let link = json_of(app.login(&login_body()).await).await["response"]["confirmUrl"].as_str().unwrap().to_owned();
    let key = query_value(&link, "key");
    let model = |kind: &str, key: &str| json!({"type": kind, "email": EMAIL, "key": key, "first": "false"});

    assert_eq!(app.check_confirm(model("PhoneActivation", &key)).await, 0);
    assert_eq!(app.check_confirm(model("PhoneAuth", &key)).await, 1, "bound to its type");
    assert_eq!(app.check_confirm(model("EmpInvite", &key)).await, 1, "types we do not issue");
    assert_eq!(app.check_confirm(model("PhoneActivation", &format!("{key}x"))).await, 1);
    assert_eq!(app.check_confirm(json!({"type": "PhoneActivation", "email": "bob@example.com", "key": key})).await, 1);
    assert_eq!(app.check_confirm(json!({})).await, 1);
    app.advance(Duration::seconds(3601));
    assert_eq!(app.check_confirm(model("PhoneActivation", &key)).await, 2);
}

#[backend_test]
async fn a_login_link_logs_in_once_through_sendsms_and_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let user = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap();
    let link = app.auth.login_link(&user);
    assert!(link.contains("/confirm/Auth?type=Auth&"), "{link}");
    let confirm = json!({"email": query_value(&link, "email"), "key": query_value(&link, "key"), "first": false});
    assert_eq!(
        app.check_confirm(json!({"type": "Auth", "email": EMAIL, "key": query_value(&link, "key"), "first": false}))
            .await,
        0
    );

    // The key identifies the user for sendsms, no password needed.
    assert_eq!(app.send_sms(&json!({"confirmData": confirm})).await.status(), 200);
    let code = app.last_code();
    let redeem = json!({"confirmData": confirm, "code": code});
    assert_eq!(app.post_raw("/api/2.0/authentication/c", "application/json", redeem.to_string()).await.status(), 200);

    // Used: refused everywhere from now on.
    assert_error(app.send_sms(&json!({"confirmData": confirm})).await, 404, "UserNotFound").await;
    assert_error(app.login(&json!({"confirmData": confirm})).await, 404, "UserNotFound").await;
    assert_eq!(
        app.check_confirm(json!({"type": "Auth", "email": EMAIL, "key": query_value(&link, "key"), "first": false}))
            .await,
        1
    );
}

#[backend_test]
async fn a_login_link_without_a_second_factor_is_single_use_and_expires(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.two_factor.sms = false).await;
    app.add_alice().await;
    let user = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap();
    let link = app.auth.login_link(&user);
    let confirm = json!({"email": EMAIL, "key": query_value(&link, "key"), "first": false});
    let first = json_of(app.login(&json!({"confirmData": confirm})).await).await;
    assert!(first["response"]["token"].is_string(), "{first}");
    assert_error(app.login(&json!({"confirmData": confirm})).await, 404, "UserNotFound").await;

    let fresh = app.auth.login_link(&user);
    app.advance(Duration::seconds(3601));
    let expired = json!({"email": EMAIL, "key": query_value(&fresh, "key"), "first": false});
    assert_error(app.login(&json!({"confirmData": expired})).await, 404, "UserNotFound").await;
}

#[backend_test]
async fn a_login_link_is_bound_to_the_email_it_was_made_for(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.two_factor.sms = false).await;
    app.add_alice().await;
    app.add_user("bob@example.com", Some("+44 7400 123456"), false).await;
    let alice = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap();
    // Alice's link, unused and fresh, presented for Bob, who exists.
    let key = query_value(&app.auth.login_link(&alice), "key");
    let for_bob = json!({"email": "bob@example.com", "key": key, "first": false});
    assert_error(app.login(&json!({"confirmData": for_bob})).await, 404, "UserNotFound").await;
    // The same key is still good for Alice: the refusal was the email's.
    let for_alice = json!({"email": EMAIL, "key": key, "first": false});
    assert!(json_of(app.login(&json!({"confirmData": for_alice})).await).await["response"]["token"].is_string());
}
