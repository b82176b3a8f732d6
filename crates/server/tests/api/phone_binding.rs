//! Whoever holds only the password cannot move the second factor to a phone of their own: an
//! administrator's phone binds, an activated number belongs to one account, and one account
//! cannot use up another's codes (issue 9, items 1 and 4).

use serde_json::{Value, json};

use crate::helpers::*;

const LOGIN: &str = "/api/2.0/authentication";
const SETPHONE: &str = "/api/2.0/authentication/setphone";
const OTHER_PHONE: &str = "+44 7400 123456";

impl TestApp {
    async fn login_as(&self, email: &str) -> reqwest::Response {
        let body = json!({"userName": email, "password": PASSWORD});
        self.post_raw(LOGIN, "application/json", body.to_string()).await
    }

    async fn step(&self, email: &str) -> Value {
        let response = self.login_as(email).await;
        assert_eq!(response.status(), 200);
        json_of(response).await["response"].clone()
    }

    async fn setphone(&self, confirm_url: &str, phone: &str) -> reqwest::Response {
        let query = confirm_url.split_once('?').expect("a query string").1;
        self.http
            .post(self.url(SETPHONE))
            .header("Content-Type", "application/json")
            .header("confirm", query)
            .body(json!({"mobilePhone": phone}).to_string())
            .send()
            .await
            .unwrap()
    }

    async fn redeem_as(&self, email: &str, code: &str) -> reqwest::Response {
        let body = json!({"userName": email, "password": PASSWORD, "code": code});
        self.post_raw("/api/2.0/authentication/code", "application/json", body.to_string()).await
    }

    async fn phone_of(&self, email: &str) -> (Option<String>, bool) {
        let user = self.auth.store().find_user_by_login(email).await.unwrap().unwrap();
        (user.mobile_phone, user.phone_activated)
    }
}

#[backend_test]
async fn a_phone_an_admin_set_binds_and_setphone_cannot_replace_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, None, false).await;
    // A PhoneActivation link obtained with the password before the administrator set a phone.
    let activation = app.step(EMAIL).await["confirmUrl"].as_str().unwrap().to_owned();
    assert!(activation.contains("/confirm/PhoneActivation?"), "{activation}");
    app.auth.set_user_phone(EMAIL, Some(PHONE)).await.unwrap();

    // The password step now sends the code to the administrator's phone (PhoneAuth).
    let step = app.step(EMAIL).await;
    assert_eq!(step["phoneNoise"], "+1201***0123");
    assert!(step["confirmUrl"].as_str().unwrap().contains("/confirm/PhoneAuth?"), "{step}");
    assert_eq!(app.outbox().len(), 1);
    assert_eq!(app.outbox()[0]["to"], PHONE_E164);

    // The old link cannot swap in another number; nothing is sent there.
    assert_error(app.setphone(&activation, OTHER_PHONE).await, 409, "PhoneProvisioned").await;
    assert_eq!(app.phone_of(EMAIL).await, (Some(PHONE_E164.to_owned()), false));
    assert_eq!(app.outbox().len(), 1);

    // The code sent to it logs in and activates it.
    assert_eq!(app.redeem_as(EMAIL, &app.last_code()).await.status(), 200);
    assert_eq!(app.phone_of(EMAIL).await, (Some(PHONE_E164.to_owned()), true));
}

#[backend_test]
async fn an_admin_change_of_phone_kills_the_codes_sent_to_the_old_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    app.step(EMAIL).await;
    let old_code = app.last_code();
    app.auth.set_user_phone(EMAIL, Some(OTHER_PHONE)).await.unwrap();
    assert_error(app.redeem_as(EMAIL, &old_code).await, 401, "AuthenticationFailed").await;

    // The next login sends a code to the new phone, and that one works.
    assert_eq!(app.step(EMAIL).await["phoneNoise"], "+4474****3456");
    assert_eq!(app.outbox().last().unwrap()["to"], "+447400123456");
    let new_code = app.last_code();
    app.auth.set_user_phone(EMAIL, None).await.unwrap();
    assert_error(app.redeem_as(EMAIL, &new_code).await, 401, "AuthenticationFailed").await;

    // Cleared: the user chooses a phone again.
    let step = app.step(EMAIL).await;
    assert!(step["confirmUrl"].as_str().unwrap().contains("/confirm/PhoneActivation?"), "{step}");
    assert_eq!(app.outbox().len(), 2);
}

#[backend_test]
async fn a_number_the_user_chose_but_never_confirmed_may_be_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, None, false).await;
    let activation = app.step(EMAIL).await["confirmUrl"].as_str().unwrap().to_owned();
    assert_eq!(app.setphone(&activation, PHONE).await.status(), 200);
    // Still not activated, and the user's own choice: the password step asks for a phone again.
    let step = app.step(EMAIL).await;
    assert!(step["confirmUrl"].as_str().unwrap().contains("/confirm/PhoneActivation?"), "{step}");
    assert_eq!(app.setphone(&activation, OTHER_PHONE).await.status(), 200);
    assert_eq!(app.phone_of(EMAIL).await, (Some("+447400123456".to_owned()), false));
    assert_eq!(app.redeem_as(EMAIL, &app.last_code()).await.status(), 200);
    assert_error(app.setphone(&activation, PHONE).await, 409, "PhoneAlreadyActivated").await;
}

#[backend_test]
async fn a_number_another_user_activated_is_refused_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let bob = "bob@example.com";
    app.add_user(bob, Some(PHONE), false).await;
    app.step(bob).await;
    assert_eq!(app.redeem_as(bob, &app.last_code()).await.status(), 200);
    assert_eq!(app.phone_of(bob).await, (Some(PHONE_E164.to_owned()), true));

    app.add_user(EMAIL, None, false).await;
    let activation = app.step(EMAIL).await["confirmUrl"].as_str().unwrap().to_owned();
    let sent = app.outbox().len();
    assert_error(app.setphone(&activation, PHONE).await, 409, "PhoneInUse").await;
    assert_eq!(app.phone_of(EMAIL).await, (None, false));
    assert_eq!(app.outbox().len(), sent, "nothing sent to bob's phone");
    // Whether a number belongs to some account cannot be asked at will: refusals count.
    for _ in 0..4 {
        assert_error(app.setphone(&activation, PHONE).await, 409, "PhoneInUse").await;
    }
    assert_error(app.setphone(&activation, PHONE).await, 429, "RateLimited").await;

    // Administrators cannot hand it out either.
    let error = app.auth.set_user_phone(EMAIL, Some(PHONE)).await.unwrap_err().to_string();
    assert!(error.contains("another user has activated"), "{error}");
    assert_eq!(app.phone_of(EMAIL).await, (None, false));
    let new_user = docspace_auth_server::users::NewUser {
        email: "carol@example.com",
        password: PASSWORD,
        phone: Some(PHONE),
        disabled: false,
    };
    let error = app.auth.add_user(new_user).await.unwrap_err().to_string();
    assert!(error.contains("another user has activated"), "{error}");
    assert!(app.auth.store().find_user_by_login("carol@example.com").await.unwrap().is_none());
}

#[backend_test]
async fn another_account_filling_a_number_with_codes_does_not_lock_its_owner_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    // Mallory chooses Alice's (not yet activated) number and asks for codes until her cap.
    let mallory = "mallory@example.com";
    app.add_user(mallory, None, false).await;
    let activation = app.step(mallory).await["confirmUrl"].as_str().unwrap().to_owned();
    assert_eq!(app.setphone(&activation, PHONE).await.status(), 200);
    let mallory_login = json!({"userName": mallory, "password": PASSWORD});
    for _ in 0..5 {
        assert_eq!(app.send_sms(&mallory_login).await.status(), 200);
    }
    assert_error(app.send_sms(&mallory_login).await, 429, "RateLimited").await;

    // Alice's own codes to her number are counted apart.
    let response = app.send_sms(&login_body()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "5");
}

#[backend_test]
async fn a_number_several_accounts_chose_has_an_hourly_cap_its_owner_does_not_share(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.send_caps.per_phone_per_hour = 2).await;
    app.add_alice().await;
    let mut refused = None;
    for stranger in ["mallory@example.com", "trudy@example.com"] {
        app.add_user(stranger, None, false).await;
        let activation = app.step(stranger).await["confirmUrl"].as_str().unwrap().to_owned();
        let response = app.setphone(&activation, PHONE).await;
        if response.status() != 200 {
            refused = Some(response);
            continue;
        }
        assert_eq!(app.send_sms(&json!({"userName": stranger, "password": PASSWORD})).await.status(), 200);
    }
    // Mallory's two codes used up the number's hour; Trudy's choice of it sends nothing.
    let response = refused.expect("the third code to the number is refused");
    assert_eq!(response.headers()["x-ratelimit-limit"], "2");
    assert_error(response, 429, "RateLimited").await;
    assert_eq!(app.outbox().len(), 2);
    // Alice's number is bound to her: her own caps bound it, not the strangers'.
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
}
