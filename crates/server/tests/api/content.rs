//! Content negotiation and bad input (CONTRACT.md sections 1 and 2): every rejection is the error
//! envelope and changes nothing.

use serde_json::json;

use crate::helpers::*;

const SENDSMS: &str = "/api/2.0/authentication/sendsms";

#[backend_test]
async fn json_media_types_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    for content_type in ["application/json", "application/json; charset=utf-8", "text/json", "application/vnd.x+json"] {
        let response = app.post_raw(SENDSMS, content_type, login_body().to_string()).await;
        assert_eq!(response.status(), 200, "{content_type}");
    }
    assert_eq!(app.outbox().len(), 4);
}

#[backend_test]
async fn other_media_types_are_415_and_send_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
        assert_error(app.post_raw(SENDSMS, content_type, login_body().to_string()).await, 415, "UnsupportedMediaType")
            .await;
    }
    // A body with no Content-Type at all is not guessed at either.
    let response = app.http.post(app.url(SENDSMS)).body(login_body().to_string()).send().await.unwrap();
    assert_error(response, 415, "UnsupportedMediaType").await;
    assert!(app.outbox().is_empty());
    assert_eq!(app.stored_code_count().await, 0);
}

#[backend_test]
async fn accept_picks_the_response_media_type(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    for (accept, expected) in [
        ("text/json", "text/json; charset=utf-8"),
        ("text/plain", "text/plain; charset=utf-8"),
        ("application/json", "application/json"),
        ("application/xml", "application/json"),
        ("text/html;q=0.9, text/plain;q=0.5, text/json;q=0.8", "text/json; charset=utf-8"),
        ("*/*", "application/json"),
    ] {
        let response = app
            .http
            .post(app.url(SENDSMS))
            .header("Content-Type", "application/json")
            .header("Accept", accept)
            .body(login_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        assert_eq!(response.headers()["content-type"], expected, "{accept}");
        assert_eq!(json_of(response).await["status"], 0);
    }
    // Errors are labelled the same way.
    let response = app
        .http
        .post(app.url(SENDSMS))
        .header("Content-Type", "application/json")
        .header("Accept", "text/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/json; charset=utf-8");
    assert_error(response, 401, "AuthenticationFailed").await;
}

#[backend_test]
async fn an_empty_body_is_a_request_with_no_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    for content_type in ["application/json", "text/json"] {
        // Parsed fine, then refused for the missing credentials, as DocSpace's SDKs expect.
        assert_error(app.post_raw(SENDSMS, content_type, "").await, 401, "AuthenticationFailed").await;
        assert_error(app.post_raw(SENDSMS, content_type, "null").await, 401, "AuthenticationFailed").await;
    }
    let response = app.http.post(app.url(SENDSMS)).send().await.unwrap();
    assert_error(response, 401, "AuthenticationFailed").await;
}

#[backend_test]
async fn malformed_json_and_wrong_types_are_400_naming_the_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    for (body, mentions) in [
        (r#"{"userName": "alice@example.com", "password": "#.to_owned(), "not valid JSON"),
        ("[1, 2".to_owned(), "must be a JSON object"),
        ("\"alice\"".to_owned(), "must be a JSON object"),
        (json!({"userName": 5, "password": PASSWORD}).to_string(), "userName"),
        (json!({"userName": EMAIL, "password": PASSWORD, "session": "yes"}).to_string(), "session"),
        (json!({"userName": EMAIL, "password": PASSWORD, "recaptchaType": 9}).to_string(), "recaptchaType"),
        (
            json!({"userName": EMAIL, "password": PASSWORD, "confirmData": {"first": "x"}}).to_string(),
            "confirmData.first",
        ),
        (json!([login_body()]).to_string(), "must be a JSON object"),
    ] {
        let error =
            assert_error(app.post_raw(SENDSMS, "application/json", body.clone()).await, 400, "InvalidRequest").await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{body} → {message}");
    }
    assert!(app.outbox().is_empty());
    assert_eq!(app.stored_code_count().await, 0);
}

#[backend_test]
async fn rejected_values_are_not_echoed_back(backend: Backend) {
    let app = spawn_app(backend).await;
    for (field, value) in [("password", json!(987654321)), ("code", json!(123456)), ("passwordHash", json!([4242]))] {
        let body = json!({"userName": EMAIL, field: value});
        let error =
            assert_error(app.post_raw(SENDSMS, "application/json", body.to_string()).await, 400, "InvalidRequest")
                .await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(field) && message.contains("expected a string"), "{message}");
        assert!(
            !message.contains("987654321") && !message.contains("123456") && !message.contains("4242"),
            "{message}"
        );
    }
}

/// No answer repeats what the request sent, in any field, header or the address: error messages
/// name the field at fault instead (a reflected value is an injection vector and may be a secret).
#[backend_test]
async fn no_answer_repeats_a_value_the_request_sent(backend: Backend) {
    const MARKER: &str = "zq7marker";
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let with = |field: &str| {
        let mut body = login_body();
        body[field] = json!(MARKER);
        body.to_string()
    };
    let login = "/api/2.0/authentication";
    let answers = vec![
        (app.post_raw(SENDSMS, "application/json", with("provider")).await, 400, "ProviderNotSupported"),
        (app.post_raw(login, "application/json", with("provider")).await, 400, "ProviderNotSupported"),
        (
            app.post_raw(SENDSMS, &format!("application/{MARKER}"), login_body().to_string()).await,
            415,
            "UnsupportedMediaType",
        ),
        (app.post_raw(SENDSMS, "application/json", with("session")).await, 400, "InvalidRequest"),
        (app.post_raw(SENDSMS, "application/json", with("recaptchaType")).await, 400, "InvalidRequest"),
        (
            app.post_raw(SENDSMS, "application/json", format!(r#"{{"userName": {MARKER}}}"#)).await,
            400,
            "InvalidRequest",
        ),
        (
            app.post_raw(&format!("{login}/{MARKER}"), "application/json", with("code")).await,
            401,
            "AuthenticationFailed",
        ),
        (app.http.get(app.url(&format!("/api/2.0/{MARKER}"))).send().await.unwrap(), 404, "NotFound"),
    ];
    for (response, status, kind) in answers {
        let headers = format!("{:?}", response.headers());
        assert!(!headers.contains(MARKER), "{headers}");
        let body = assert_error(response, status, kind).await;
        assert!(!body.to_string().contains(MARKER), "{body}");
    }
    let provider = assert_error(app.send_sms(&json!({"provider": MARKER})).await, 400, "ProviderNotSupported").await;
    assert!(provider["error"]["message"].as_str().unwrap().contains("third-party provider"), "{provider}");
}

#[backend_test]
async fn oversized_bodies_are_413(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let mut body = login_body();
    body["serializedProfile"] = json!("x".repeat(9 * 1024));
    let error =
        assert_error(app.post_raw(SENDSMS, "application/json", body.to_string()).await, 413, "PayloadTooLarge").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("8192"));

    // Without a Content-Length (chunked), the cap still holds while reading.
    let chunks = vec![Ok::<_, std::io::Error>(body.to_string())];
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    assert_error(app.post_raw(SENDSMS, "application/json", stream).await, 413, "PayloadTooLarge").await;
    assert!(app.outbox().is_empty());
}

#[backend_test]
async fn unknown_routes_and_methods_use_the_error_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(app.http.get(app.url("/api/2.0/nothing")).send().await.unwrap(), 404, "NotFound").await;
    assert_error(app.http.get(app.url(SENDSMS)).send().await.unwrap(), 405, "MethodNotAllowed").await;
    assert_error(app.http.delete(app.url("/api/2.0/settings")).send().await.unwrap(), 405, "MethodNotAllowed").await;
}
