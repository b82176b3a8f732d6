//! `userName` may be the user's id instead of the email (as DocSpace's `GetUserByIdOrEmail`): it
//! reaches the same account, phone and session as the email does.

use serde_json::json;

use crate::helpers::*;

const CODE: &str = "/api/2.0/authentication/code";

#[backend_test]
async fn the_user_id_sends_the_code_to_that_users_phone_and_logs_that_user_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("bob@example.com", Some("+44 7400 123456"), false).await;
    app.add_alice().await;
    let id = app.user(EMAIL).await.id;

    let by_id = json!({"userName": id, "password": PASSWORD});
    assert_eq!(app.send_sms(&by_id).await.status(), 200);
    let outbox = app.wait_for_outbox(1).await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["to"], PHONE_E164, "Alice's phone, not Bob's");

    let mut redeem = by_id.clone();
    redeem["code"] = json!(app.last_code());
    let response = app.post_raw(CODE, "application/json", redeem.to_string()).await;
    assert_eq!(response.status(), 200);
    let token = json_of(response).await["response"]["token"].as_str().expect("a session token").to_owned();
    let owners: Vec<(String,)> = app.query("SELECT user_id FROM sessions").await;
    assert_eq!(owners, [(id.clone(),)], "the session is Alice's");
    let me = app.http.get(app.url("/api/2.0/authentication")).header("Authorization", token).send().await.unwrap();
    assert_eq!(json_of(me).await["response"], true);
}

#[backend_test]
async fn a_code_sent_by_id_is_redeemed_by_email_and_the_other_way_round(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let id = app.user(EMAIL).await.id;
    for (send_as, redeem_as) in [(id.as_str(), EMAIL), (EMAIL, id.as_str())] {
        let sent = app.outbox().len();
        assert_eq!(app.send_sms(&json!({"userName": send_as, "password": PASSWORD})).await.status(), 200);
        app.wait_for_outbox(sent + 1).await;
        let redeem = json!({"userName": redeem_as, "password": PASSWORD, "code": app.last_code()});
        assert_eq!(app.post_raw(CODE, "application/json", redeem.to_string()).await.status(), 200, "{send_as}");
    }
}
