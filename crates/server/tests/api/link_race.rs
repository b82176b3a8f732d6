//! A login link (an `Auth` confirm key) raced by concurrent requests on one instance: it starts
//! one session, whichever request wins; the others are refused as a used link is, none 500. (Two
//! instances: `multi_instance`.)

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

/// `confirmData` for a fresh login link to Alice.
async fn alices_link(app: &TestApp) -> Value {
    let user = app.user(EMAIL).await;
    let link = url::Url::parse(&app.auth.login_link(&user)).unwrap();
    let key = link.query_pairs().find(|(k, _)| k == "key").unwrap().1.into_owned();
    json!({"email": EMAIL, "key": key, "first": false})
}

/// Each answer's status and error type (`None` for a success).
async fn outcomes(responses: Vec<reqwest::Response>) -> Vec<(u16, Option<String>)> {
    let mut outcomes = Vec::new();
    for response in responses {
        let status = response.status().as_u16();
        let body = json_of(response).await;
        outcomes.push((status, body["error"]["type"].as_str().map(str::to_owned)));
    }
    outcomes
}

async fn sessions(app: &TestApp) -> i64 {
    app.query::<(i64,)>("SELECT COUNT(*) FROM sessions").await[0].0
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_logins_with_one_link_start_one_session(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.two_factor.sms = false;
        no_blocking(s);
    })
    .await;
    app.add_alice().await;
    // Three links, one after another: a race the key's burn must settle shows on every run, not
    // only when the sixteen requests happen to overlap.
    for round in 1..=3 {
        let body = json!({"confirmData": alices_link(&app).await}).to_string();
        let requests = (0..16).map(|_| app.post_raw("/api/2.0/authentication", "application/json", body.clone()));
        let outcomes = outcomes(join_all(requests).await).await;
        let won = outcomes.iter().filter(|o| **o == (200, None)).count();
        let used = outcomes.iter().filter(|o| **o == (404, Some("UserNotFound".into()))).count();
        assert_eq!((won, used), (1, 15), "round {round}: {outcomes:?}");
        assert_eq!(sessions(&app).await, round);
        app.advance(chrono::Duration::seconds(1)); // the next link is another key
    }
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_codes_with_one_link_start_one_session_and_use_it_up(backend: Backend) {
    let app = spawn_app_with(backend, no_blocking).await;
    app.add_alice().await;
    let confirm = alices_link(&app).await;
    // Six live codes, each sent for the link.
    let mut codes = Vec::new();
    for sent in 1..=6 {
        assert_eq!(app.send_sms(&json!({"confirmData": confirm})).await.status(), 200);
        app.wait_for_outbox(sent).await;
        codes.push(app.last_code());
    }
    let requests = codes.iter().map(|code| {
        let body = json!({"confirmData": confirm, "code": code});
        app.post_raw("/api/2.0/authentication/code", "application/json", body.to_string())
    });
    let outcomes = outcomes(join_all(requests).await).await;
    let won = outcomes.iter().filter(|o| **o == (200, None)).count();
    // Refused as a used link (404) or, past that check, as a code that no longer logs in (401).
    let refused = |o: &&(u16, Option<String>)| {
        matches!(o, (404, Some(t)) if t == "UserNotFound") || matches!(o, (401, Some(t)) if t == "AuthenticationFailed")
    };
    assert_eq!((won, outcomes.iter().filter(refused).count()), (1, 5), "{outcomes:?}");
    assert_eq!(sessions(&app).await, 1);
    // The winner used the link up: it sends no further code.
    assert_error(app.send_sms(&json!({"confirmData": confirm})).await, 404, "UserNotFound").await;
}
